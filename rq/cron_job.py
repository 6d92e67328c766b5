"""``CronJob``: a function that a cron scheduler enqueues every N seconds or on a cron schedule.

Each enqueue is an ordinary ``Queue.enqueue_call``; in the same transaction the spawned
job's id is added to the cron job's history ``rq:cron_job:<name>:jobs`` (newest 1000 kept,
TTL one year, refreshed per write) and ``rq:cron_jobs`` records when the cron job last ran.
The spawned job's meta carries the schedule (``cron_string`` or ``interval``), which is what
sentry-sdk's RQ integration reads to send cron monitor check-ins.

The cron subsystem reads its clock and history cap from ``rq.cron`` (``rq.cron.now`` and
``rq.cron.DEFAULT_CRON_JOB_HISTORY_LIMIT``) when it uses them, so both can be replaced there.
Times keep the kind they are given in: aware datetimes give aware results, naive ones
(local wall-clock time) naive results.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from . import cron_job_registry, layout
from .cron_expression import ALIASES, CronExpression, next_local_run
from .defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL, DEFAULT_RESULT_TTL
from .exceptions import TimeoutFormatError
from .job_validation import check_ttl, describe_callable
from .layout import as_text, format_ts, parse_ts, utcnow
from .utils import NOT_JSON_SERIALIZABLE, safe_json_dumps
from .webhook import Webhook

if TYPE_CHECKING:
    from redis import Redis

    from .job import Job

__all__ = ["CronJob", "get_cron_job_history_key", "get_cron_job_ids", "get_cron_job_names", "record_spawned_job"]

# Job options in the order they appear in the scheduler hash; each is left out when unset.
_TTL_OPTIONS = ("job_timeout", "result_ttl", "ttl", "failure_ttl")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _default_history_limit() -> int:
    return DEFAULT_CRON_JOB_HISTORY_LIMIT


# The cron subsystem's clock and history bound. ``rq.cron`` installs functions that read its
# own ``now`` and ``DEFAULT_CRON_JOB_HISTORY_LIMIT`` at each call, so replacing those names
# (as upstream's tests do) reaches this module without it importing ``rq.cron``.
clock: Callable[[], datetime] = _utc_now
history_limit: Callable[[], int] = _default_history_limit


def _now() -> datetime:
    return clock()


def _history_limit() -> int:
    return int(history_limit())


def _like(moment: datetime, other: datetime) -> datetime:
    """``moment`` as the same kind (naive or aware) as ``other``; naive values are local time."""
    if (moment.tzinfo is None) == (other.tzinfo is None):
        return moment
    if moment.tzinfo is None:
        return moment.astimezone(timezone.utc)
    return moment.astimezone().replace(tzinfo=None)


def _next_cron_run(expression: CronExpression, after: datetime) -> datetime:
    """Next run strictly after ``after``: aware UTC for an aware ``after``, naive wall clock for a naive one."""
    if after.tzinfo is None:
        return expression.next_after(after)
    return next_local_run(expression, after)


def _load(value: Any) -> Any:
    """A JSON text field of the scheduler hash (other implementations may store plain JSON).

    The placeholder written for a value JSON cannot hold stays as it is.
    """
    if isinstance(value, str) and value != NOT_JSON_SERIALIZABLE:
        return json.loads(value)
    return value


def _webhook_list(webhooks: Optional[Sequence[Any]]) -> list[Webhook]:
    if webhooks is None:
        return []
    if isinstance(webhooks, (str, bytes, dict)) or not isinstance(webhooks, Sequence):
        raise TypeError("webhooks must be a list of Webhook objects")
    found = []
    for webhook in webhooks:
        if isinstance(webhook, dict):
            webhook = Webhook.from_dict(webhook)
        if not isinstance(webhook, Webhook):
            raise TypeError(f"webhooks must be a list of Webhook objects, got {webhook!r}")
        found.append(webhook)
    return found


def get_cron_job_history_key(name: str) -> str:
    """The zset of the ids of the jobs the cron job ``name`` spawned: ``rq:cron_job:<name>:jobs``."""
    return layout.cron_job_history_key(name)


def get_cron_job_ids(name: str, connection: "Redis", start: int = 0, end: int = -1) -> list[str]:
    """Ids of the jobs the cron job ``name`` spawned, newest first (``start``/``end`` as in ZRANGE).

    Needs only the name, so any process can read a history (see ``rq.cron_job_registry``).
    """
    ids = cast("list[bytes]", connection.zrange(get_cron_job_history_key(name), start, end, desc=True))
    return [as_text(job_id) or "" for job_id in ids]


def record_spawned_job(pipeline: Any, cron_job_name: str, job_id: str, enqueued_at: float) -> None:
    """Queue the writes that remember one spawned job: history zset (capped, with TTL) and ``rq:cron_jobs``."""
    key = get_cron_job_history_key(cron_job_name)
    pipeline.zadd(key, {job_id: enqueued_at})
    pipeline.zremrangebyrank(key, 0, -(_history_limit() + 1))
    pipeline.expire(key, DEFAULT_CRON_JOB_HISTORY_TTL)
    cron_job_registry.add(cron_job_name, pipeline, enqueue_timestamp=enqueued_at)


def get_cron_job_names(connection: "Redis") -> list[str]:
    """Names of the cron jobs that spawned a job within a year, most recent first (older ones are pruned).

    ``rq.cron_job_registry.get_names`` lists the same names, least recent first.
    """
    cron_job_registry.remove_stale_entries(connection)
    names = cast("list[bytes]", connection.zrange(cron_job_registry.get_registry_key(), 0, -1, desc=True))
    return [as_text(name) or "" for name in names]


class CronJob:
    """One function enqueued on ``queue_name`` every ``interval`` seconds or per a ``cron`` expression.

    Exactly one of ``interval`` and ``cron`` is required. An interval job is due at once
    (the scheduler's first pass enqueues it); a cron job first runs at the next time the
    expression matches, read in the local time zone. ``name`` (default: the function's
    import path) names the job's history; cron jobs that share a name share it. A cron job
    read back with ``from_dict`` (or made with only ``func_name``) has no function: it is for
    monitoring and cannot be enqueued.
    """

    next_enqueue_time: Optional[datetime]
    latest_enqueue_time: Optional[datetime]

    def __init__(
        self,
        queue_name: str,
        func: Optional[Union[Callable[..., Any], str]] = None,
        func_name: Optional[str] = None,
        args: Optional[Sequence[Any]] = None,
        kwargs: Optional[dict[str, Any]] = None,
        interval: Optional[Union[int, float]] = None,
        cron: Optional[str] = None,
        job_timeout: Optional[Union[int, str]] = None,
        result_ttl: Optional[Union[int, str]] = DEFAULT_RESULT_TTL,
        ttl: Optional[Union[int, str]] = None,
        failure_ttl: Optional[Union[int, str]] = None,
        meta: Optional[dict[str, Any]] = None,
        webhooks: Optional[Sequence[Webhook]] = None,
        name: str = "",
    ) -> None:
        if not isinstance(queue_name, str) or not queue_name:
            raise ValueError(f"queue_name must be a non-empty string, not {queue_name!r}")
        if func is not None:
            func_name = describe_callable(func)[0]
        elif not func_name:
            raise ValueError("A cron job needs a function: pass func (or func_name)")
        if (interval is None) == (cron is None):
            raise ValueError("A cron job needs exactly one of interval (seconds) and cron (an expression)")
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float))):
            raise ValueError(f"interval must be a number of seconds, not {interval!r}")
        if interval is not None and interval <= 0:
            raise ValueError(f"interval must be greater than 0, not {interval!r}")
        expression = CronExpression(cron) if cron is not None else None
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, not {type(meta).__name__}")
        options: dict[str, Any] = {}
        for option, value in zip(_TTL_OPTIONS, (job_timeout, result_ttl, ttl, failure_ttl)):
            try:
                options[option] = check_ttl(option, value, allow_forever=True)
            except TimeoutFormatError as exc:
                raise ValueError(f"{option}: {exc}") from None
        options["meta"] = meta
        options["webhooks"] = _webhook_list(webhooks) or None
        self._assign(queue_name, func, func_name, args, kwargs, interval, cron, options, name)
        self._expression = expression
        if expression is not None:
            self.next_enqueue_time = self.get_next_enqueue_time()

    def _assign(
        self,
        queue_name: str,
        func: Any,
        func_name: Optional[str],
        args: Optional[Sequence[Any]],
        kwargs: Optional[dict[str, Any]],
        interval: Optional[Union[int, float]],
        cron: Optional[str],
        options: dict[str, Any],
        name: str,
    ) -> None:
        self.func = func
        self.func_name: str = func_name or ""
        self.name: str = name or self.func_name
        # A field recorded as NOT_JSON_SERIALIZABLE (by from_dict) keeps the placeholder text.
        self.args: Any = args if isinstance(args, str) else tuple(args or ())
        self.kwargs: Any = kwargs if isinstance(kwargs, str) else dict(kwargs or {})
        self.interval = interval
        self.cron = cron
        self.queue_name = queue_name
        self.next_enqueue_time = None
        self.latest_enqueue_time = None
        self.job_options: dict[str, Any] = {key: value for key, value in options.items() if value is not None}

    def __repr__(self) -> str:
        schedule = f"interval={self.interval!r}" if self.interval is not None else f"cron={self.cron!r}"
        return f"CronJob({self.name!r}, {self.func_name!r}, queue={self.queue_name!r}, {schedule})"

    @property
    def job_history_key(self) -> str:
        """Zset of the ids of the jobs this cron job spawned: ``rq:cron_job:<name>:jobs``."""
        return layout.cron_job_history_key(self.name)

    @property
    def expression(self) -> Optional[CronExpression]:
        """The parsed cron expression (None for interval jobs)."""
        if self._expression is None and self.cron is not None:
            self._expression = CronExpression(self.cron)
        return self._expression

    # ---- timing --------------------------------------------------------------------------

    def get_next_enqueue_time(self, after: Optional[datetime] = None) -> datetime:
        """When the job is due next, counted from ``after`` (default: its last enqueue, else now)."""
        base = after if after is not None else self.latest_enqueue_time
        if self.interval is not None:
            if base is None:
                return _now()  # never enqueued: due now
            return base + timedelta(seconds=self.interval)
        expression = self.expression
        assert expression is not None
        return _next_cron_run(expression, base if base is not None else _now())

    def set_enqueue_time(self, time: datetime) -> None:
        """Record an enqueue at ``time`` and compute the next one from it."""
        self.latest_enqueue_time = time
        self.next_enqueue_time = self.get_next_enqueue_time(time)

    def should_run(self, now: Optional[datetime] = None) -> bool:
        """Whether the job is due at ``now`` (default: the current time)."""
        if self.next_enqueue_time is None:
            return True
        current = now if now is not None else _now()
        return _like(self.next_enqueue_time, current) <= current

    # ---- enqueueing ------------------------------------------------------------------------

    def enqueue(
        self, connection: "Redis", *, queue_class: Any = None, job_class: Any = None, serializer: Any = None
    ) -> "Job":
        """Enqueue one run on the job's queue and record it in the history, in one transaction.

        ValueError for a cron job without a function (one read back for monitoring).
        """
        from .queue import Queue

        if self.func is None:
            raise ValueError(
                f"Cron job {self.name!r} has no function to enqueue: it was read back for monitoring "
                "(from_dict) or made with only func_name"
            )
        extra: dict[str, Any] = {}
        if job_class is not None:
            extra["job_class"] = job_class
        if serializer is not None:
            extra["serializer"] = serializer
        queue = (queue_class or Queue)(self.queue_name, connection=connection, **extra)
        options = self.job_options
        with connection.pipeline() as pipe:
            job = queue.enqueue_call(
                self.func,
                args=self.args,
                kwargs=self.kwargs,
                timeout=options.get("job_timeout"),
                result_ttl=options.get("result_ttl"),
                ttl=options.get("ttl"),
                failure_ttl=options.get("failure_ttl"),
                meta=self._spawned_job_meta(),
                webhooks=options.get("webhooks"),
                pipeline=pipe,
            )
            enqueued_at = job.enqueued_at.timestamp() if job.enqueued_at else utcnow().timestamp()
            record_spawned_job(pipe, self.name, job.id, enqueued_at)
            pipe.execute()
        return job

    def _spawned_job_meta(self) -> Any:
        """The meta of each job this cron job enqueues: its ``meta`` plus its schedule.

        The schedule goes under the keys rq-scheduler writes and sentry-sdk's RQ integration
        reads for cron monitors (``RqIntegration(monitor_cron_jobs=True)``): ``cron_string``
        (the expression, an ``@`` alias spelled out) or ``interval`` (seconds, an int when
        whole). A key the configured meta already has keeps its configured value; the meta
        recorded in the scheduler hash stays the configured one.
        """
        configured = self.job_options.get("meta")
        if configured is not None and not isinstance(configured, dict):
            return configured  # read back by from_dict from another implementation: left alone
        meta = dict(configured or {})
        if isinstance(self.cron, str):
            text = self.cron.strip()
            meta.setdefault("cron_string", ALIASES.get(text.lower(), text) if text.startswith("@") else text)
        elif isinstance(self.interval, (int, float)) and not isinstance(self.interval, bool):
            whole = float(self.interval).is_integer()
            meta.setdefault("interval", int(self.interval) if whole else self.interval)
        return meta

    def get_job_ids(self, connection: "Redis", start: int = 0, end: int = -1) -> list[str]:
        """Ids of the jobs this cron job spawned, newest first (``start``/``end`` as in ZRANGE)."""
        return get_cron_job_ids(self.name, connection, start, end)

    # ---- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The job's entry in the scheduler hash: args, kwargs, meta and webhooks as JSON text.

        args, kwargs or meta that JSON cannot hold are recorded as ``NOT_JSON_SERIALIZABLE``.
        """
        data: dict[str, Any] = {
            "func_name": self.func_name,
            "name": self.name,
            "queue_name": self.queue_name,
            "args": self._json_field(list(self.args) if isinstance(self.args, tuple) else self.args),
            "kwargs": self._json_field(self.kwargs),
            "interval": self.interval,
            "cron": self.cron,
            "latest_enqueue_time": format_ts(self.latest_enqueue_time) or None,
            "next_enqueue_time": format_ts(self.next_enqueue_time) or None,
        }
        for option in _TTL_OPTIONS:
            if option in self.job_options:
                data[option] = self.job_options[option]
        if "meta" in self.job_options:
            data["meta"] = self._json_field(self.job_options["meta"], keep_empty=True)
        if self.job_options.get("webhooks"):
            data["webhooks"] = safe_json_dumps([webhook.to_dict() for webhook in self.job_options["webhooks"]])
        return data

    @staticmethod
    def _json_field(value: Any, keep_empty: bool = False) -> Optional[str]:
        if not value and not keep_empty:
            return None
        if value == NOT_JSON_SERIALIZABLE:
            return NOT_JSON_SERIALIZABLE  # read back that way: not JSON text
        return safe_json_dumps(value)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CronJob":
        """A cron job as read back from a scheduler hash (no function object; for monitoring).

        Nothing is validated, so entries written by other implementations always load.
        """
        job = cls.__new__(cls)
        options = {option: data.get(option) for option in _TTL_OPTIONS}
        options["meta"] = _load(data.get("meta"))
        webhooks = _load(data.get("webhooks"))
        if not isinstance(webhooks, list):
            webhooks = []  # missing, or recorded as not serializable
        options["webhooks"] = [Webhook.from_dict(item) if isinstance(item, dict) else item for item in webhooks] or None
        job._assign(
            queue_name=data.get("queue_name") or "",
            func=None,
            func_name=data.get("func_name"),
            args=_load(data.get("args")),
            kwargs=_load(data.get("kwargs")),
            interval=data.get("interval"),
            cron=data.get("cron"),
            options=options,
            name=data.get("name") or "",
        )
        job._expression = None
        job.latest_enqueue_time = parse_ts(as_text(data.get("latest_enqueue_time")))
        job.next_enqueue_time = parse_ts(as_text(data.get("next_enqueue_time")))
        return job
