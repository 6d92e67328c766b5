"""``CronScheduler``: enqueues registered functions every N seconds or on cron schedules (``rq cron``).

A config file registers the jobs with the module-level ``register``::

    from rq import cron
    from myapp.tasks import cleanup, report

    cron.register(cleanup, "default", interval=600)
    cron.register(report, "low", cron="0 9 * * MON-FRI", kwargs={"kind": "daily"})

and ``rq cron path/to/config.py`` (or a dotted module name) runs the scheduler.

A running scheduler is listed in the zset ``rq:cron_schedulers`` (scored by its last
heartbeat; ``rq.cron_scheduler_registry``) and described by the hash
``rq:cron_scheduler:<name>`` (TTL 120 s, refreshed by every heartbeat). Each cron job's
enqueues are recorded in its history and in ``rq:cron_jobs`` (``rq.cron_job_registry``),
which tools read without a running scheduler.

Failure mode of the loop: a Redis connection or timeout error is logged once as a WARNING
(then rate-limited reminders), the loop retries with backoff, and when Redis answers again
it logs the recovery at INFO, registers again if Redis lost the registration, and enqueues
whatever became due meanwhile, once per cron job. A command Redis refuses is logged and
retried with backoff; an error that does not come from Redis ends the loop (as upstream's).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from redis.exceptions import RedisError

from . import cron_job as cron_job_module
from . import cron_job_registry, cron_scheduler_registry, layout  # noqa: F401  (rq.cron.cron_job_registry, as upstream)
from .cron_job import CronJob, _like, get_cron_job_history_key, get_cron_job_ids, get_cron_job_names
from .defaults import (
    DEFAULT_CRON_JOB_HISTORY_LIMIT,
    DEFAULT_CRON_SCHEDULER_TTL,
    DEFAULT_RESULT_TTL,
)
from .exceptions import DuplicateSchedulerError, SchedulerNotFound
from .layout import as_text, format_ts, parse_ts, utcnow
from .logutils import setup_loghandlers
from .resilience import CRON_LOOP, REDIS_ERRORS, Outage, RetryLoop
from .utils import now
from .webhook import Webhook

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

__all__ = [
    "CronJob",
    "CronScheduler",
    "create_cron",
    "get_cron_job_history_key",
    "get_cron_job_ids",
    "get_cron_job_names",
    "register",
]

logger = logging.getLogger("rq.cron")

# Longest sleep between two passes of the loop, in seconds (well under the 120 s TTL).
MAX_SLEEP_INTERVAL = 60.0

# The cron subsystem's clock (``now``, from rq.utils) and the history cap
# (DEFAULT_CRON_JOB_HISTORY_LIMIT) are read from this module when used: replacing them here
# (as upstream's tests do with mock.patch) changes them for CronJob and CronScheduler alike.


def _clock() -> datetime:
    return now()


def _history_limit() -> int:
    return DEFAULT_CRON_JOB_HISTORY_LIMIT


cron_job_module.clock = _clock
cron_job_module.history_limit = _history_limit


# Registrations made by ``register()`` that no scheduler has taken yet (upstream's name). A
# config file's registrations are taken by the scheduler loading it; ``create_cron`` takes the
# others. Always the same list object: clear it, never rebind it.
_job_data_registry: list[dict[str, Any]] = []
_registrations_lock = threading.RLock()


class CronScheduler:
    """Enqueues its cron jobs when they are due; ``start()`` runs the loop until SIGINT/SIGTERM.

    ``connection`` may be None at first (set it before ``start()``); the default ``name`` is
    ``<hostname>:<pid>:<6 hex digits>``. ``serializer``, ``queue_class`` and ``job_class``
    are used for the jobs it enqueues (defaults: those of ``rq.Queue``).
    """

    #: Seconds the hash and the registry entry outlive the last heartbeat.
    ttl: int = DEFAULT_CRON_SCHEDULER_TTL

    def __init__(
        self,
        connection: Optional["Redis"],
        logging_level: Union[int, str] = logging.INFO,
        name: str = "",
        *,
        serializer: Any = None,
        queue_class: Any = None,
        job_class: Any = None,
    ) -> None:
        self.connection = connection
        self.logging_level = logging_level
        self.hostname: str = socket.gethostname()
        self.pid: int = os.getpid()
        self.name: str = name or f"{self.hostname}:{self.pid}:{uuid.uuid4().hex[:6]}"
        self.created_at: datetime = utcnow()
        self.config_file: str = ""
        self.serializer = serializer
        self.queue_class = queue_class
        self.job_class = job_class
        self._cron_jobs: list[CronJob] = []
        self._registered = False
        self._stop_event = threading.Event()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self._cron_jobs)} cron jobs)"

    def __eq__(self, other: object) -> bool:
        """Schedulers are the same when their names are (the connection does not count)."""
        if not isinstance(other, CronScheduler):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def _redis(self) -> "Redis":
        if self.connection is None:
            raise RuntimeError(f"Cron scheduler {self.name} has no Redis connection")
        return self.connection

    @property
    def key(self) -> str:
        """The hash describing this scheduler: ``rq:cron_scheduler:<name>``."""
        return layout.cron_scheduler_key(self.name)

    @property
    def last_heartbeat(self) -> Optional[datetime]:
        """Time of the last heartbeat recorded in Redis (UTC), or None if not registered."""
        score = self._redis.zscore(cron_scheduler_registry.get_registry_key(), self.name)
        return None if score is None else datetime.fromtimestamp(score, tz=timezone.utc)

    # ---- cron jobs ------------------------------------------------------------------------

    def register(
        self,
        func: Union[Callable[..., Any], str],
        queue_name: str,
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
    ) -> CronJob:
        """Add a cron job: ``func`` enqueued on ``queue_name`` every ``interval`` seconds or per ``cron``.

        Exactly one of ``interval`` and ``cron`` must be given (ValueError otherwise).
        """
        cron_job = CronJob(
            queue_name,
            func=func,
            args=args,
            kwargs=kwargs,
            interval=interval,
            cron=cron,
            job_timeout=job_timeout,
            result_ttl=result_ttl,
            ttl=ttl,
            failure_ttl=failure_ttl,
            meta=meta,
            webhooks=webhooks,
            name=name,
        )
        self._cron_jobs.append(cron_job)
        schedule = f"every {interval} seconds" if interval is not None else f"on cron schedule {cron!r}"
        logger.info("Cron scheduler %s: registered %s on queue %s %s", self.name, cron_job.name, queue_name, schedule)
        return cron_job

    def get_jobs(self) -> list[CronJob]:
        """The registered cron jobs (or, for a fetched scheduler, those recorded in its hash)."""
        return list(self._cron_jobs)

    def enqueue_jobs(self, now: Optional[datetime] = None) -> list[CronJob]:
        """Enqueue every cron job due at ``now`` (default: the current time); returns those enqueued.

        A job that cannot be enqueued for another reason than Redis (e.g. arguments the
        serializer rejects) is logged and skipped until its next run. Redis errors propagate.
        """
        now = now if now is not None else _clock()
        enqueued = []
        for cron_job in self._cron_jobs:
            if not cron_job.should_run(now):
                continue
            try:
                job = cron_job.enqueue(
                    self._redis, queue_class=self.queue_class, job_class=self.job_class, serializer=self.serializer
                )
            except REDIS_ERRORS:
                raise
            except Exception:
                logger.exception(
                    "Cron scheduler %s: could not enqueue cron job %s; skipping this run", self.name, cron_job.name
                )
                cron_job.next_enqueue_time = cron_job.get_next_enqueue_time(now)
                continue
            cron_job.set_enqueue_time(now)
            enqueued.append(cron_job)
            logger.info(
                "Cron scheduler %s: enqueued %s on %s as job %s", self.name, cron_job.name, cron_job.queue_name, job.id
            )
        if enqueued and self._registered:
            self.save()  # publish the new enqueue times
        return enqueued

    def calculate_sleep_interval(self, now: Optional[datetime] = None) -> float:
        """Seconds until the next cron job is due, at most ``MAX_SLEEP_INTERVAL``.

        Cron jobs without a next enqueue time are not counted (every job gets one at the
        first pass of the loop, which comes before the first sleep).
        """
        now = now if now is not None else _clock()
        waits = [
            (_like(cron_job.next_enqueue_time, now) - now).total_seconds()
            for cron_job in self._cron_jobs
            if cron_job.next_enqueue_time is not None
        ]
        return max(0.0, min([MAX_SLEEP_INTERVAL, *waits]))

    def load_config_from_file(self, config_path: str) -> list[CronJob]:
        """Run a config (a dotted module name or a ``.py`` path) and register the jobs it declares.

        The config calls the module-level ``rq.cron.register(...)``. A missing file raises
        FileNotFoundError, a missing module ModuleNotFoundError; errors raised by the config
        itself (including invalid registrations) propagate and register nothing.
        """
        with _registrations_lock:
            first = len(_job_data_registry)
            try:
                _run_config(config_path)
                declared = _job_data_registry[first:]
            finally:
                del _job_data_registry[first:]
        cron_jobs = [self.register(**registration) for registration in declared]
        self.config_file = config_path
        logger.info("Cron scheduler %s: loaded %d cron jobs from %s", self.name, len(cron_jobs), config_path)
        return cron_jobs

    # ---- metadata ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, str]:
        """The fields of the hash ``rq:cron_scheduler:<name>``."""
        return {
            "hostname": self.hostname or "",
            "pid": str(self.pid or ""),
            "name": self.name,
            "created_at": format_ts(self.created_at),
            "config_file": self.config_file or "",
            "cron_jobs": json.dumps([cron_job.to_dict() for cron_job in self._cron_jobs]),
        }

    def save(self, pipeline: Optional["Pipeline"] = None) -> None:
        """Write the hash with its TTL."""
        pipe: Any = pipeline if pipeline is not None else self._redis.pipeline()
        pipe.hset(self.key, mapping=self.to_dict())
        pipe.expire(self.key, self.ttl)
        if pipeline is None:
            pipe.execute()

    def restore(self, raw_data: dict) -> None:
        """Load the fields of an HGETALL reply; cron jobs come back without function objects."""
        fields = {as_text(key): as_text(value) for key, value in raw_data.items()}
        self.name = fields.get("name") or self.name
        self.hostname = fields.get("hostname") or ""
        pid = fields.get("pid")
        self.pid = int(pid) if pid and pid.isdigit() else 0
        self.created_at = parse_ts(fields.get("created_at")) or self.created_at
        self.config_file = fields.get("config_file") or ""
        self._cron_jobs = []
        try:
            entries = json.loads(fields.get("cron_jobs") or "[]")
        except ValueError:
            logger.warning("Cron scheduler %s: unreadable cron_jobs field in %s", self.name, self.key)
            entries = []
        for entry in entries:
            try:
                self._cron_jobs.append(CronJob.from_dict(entry))
            except Exception as exc:
                logger.warning("Cron scheduler %s: skipping unreadable cron job %r (%s)", self.name, entry, exc)

    @classmethod
    def fetch(cls, name: str, connection: "Redis") -> "CronScheduler":
        """The scheduler described by ``rq:cron_scheduler:<name>``; SchedulerNotFound if there is none."""
        raw = connection.hgetall(layout.cron_scheduler_key(name))
        if not raw:
            raise SchedulerNotFound(f"No cron scheduler named {name!r}")
        scheduler = cls(connection=connection, name=name)
        scheduler.restore(raw)
        return scheduler

    @classmethod
    def all(cls, connection: "Redis", cleanup: bool = True) -> list["CronScheduler"]:
        """The registered schedulers, as instances of ``cls``; ``cleanup`` first drops stale entries."""
        if cleanup:
            cron_scheduler_registry.cleanup(connection, cls.ttl)
        names = cron_scheduler_registry.get_keys(connection)
        if not names:
            return []
        with connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(layout.cron_scheduler_key(name))
            hashes = pipe.execute()
        schedulers = []
        for name, raw in zip(names, hashes):
            if raw:  # a scheduler whose hash expired is not running
                scheduler = cls(connection=connection, name=name)
                scheduler.restore(raw)
                schedulers.append(scheduler)
        return schedulers

    def register_birth(self) -> None:
        """Claim the name in ``rq:cron_schedulers`` (ZADD NX) and write the hash.

        DuplicateSchedulerError if a scheduler of that name heartbeated within ``ttl``
        seconds; a stale entry of that name is taken over.
        """
        redis = self._redis
        if not self._registered:
            try:
                cron_scheduler_registry.register(self)
            except DuplicateSchedulerError:
                key, now = cron_scheduler_registry.get_registry_key(), time.time()
                last = redis.zscore(key, self.name)
                if last is not None and now - last <= self.ttl:
                    raise DuplicateSchedulerError(
                        f"A cron scheduler named {self.name!r} is already running "
                        f"(last heartbeat {now - last:.0f}s ago)"
                    ) from None
                redis.zadd(key, {self.name: now})
                logger.info("Cron scheduler %s: taking over the name from a scheduler that stopped", self.name)
        # From here on the name is ours: a retry after a Redis error must not see it as a duplicate.
        self._registered = True
        self.save()
        logger.info("Cron scheduler %s: registered (PID %s, %d cron jobs)", self.name, self.pid, len(self._cron_jobs))

    def register_death(self, pipeline: Optional["Pipeline"] = None) -> None:
        """Remove the registry entry and the hash."""
        pipe: Any = pipeline if pipeline is not None else self._redis.pipeline()
        cron_scheduler_registry.unregister(self, pipe)
        pipe.delete(self.key)
        if pipeline is None:
            pipe.execute()
        self._registered = False

    def heartbeat(self) -> None:
        """Refresh the registry score and the hash TTL; write the hash again if it is gone."""
        with self._redis.pipeline() as pipe:
            pipe.zadd(cron_scheduler_registry.get_registry_key(), {self.name: time.time()})
            pipe.expire(self.key, self.ttl)
            added, refreshed = pipe.execute()
        if not refreshed:
            self.save()
        if added or not refreshed:
            logger.info("Cron scheduler %s: registration was missing in Redis; registered again", self.name)

    # ---- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop: heartbeat, enqueue due jobs, sleep until the next is due (at most 60 s).

        Returns after SIGINT/SIGTERM (when run in the main thread), ``request_stop()`` or a
        KeyboardInterrupt. Redis errors never end it: a lost connection is waited out, a
        command Redis refuses is logged and retried, both with backoff. DuplicateSchedulerError
        (the name is taken) and errors that do not come from Redis end it, as upstream's do,
        after the scheduler has unregistered.
        """
        setup_loghandlers(self.logging_level, name="rq.cron")
        self._stop_event.clear()
        outage = Outage(logger, f"Cron scheduler {self.name}", "Redis connection", connection=self.connection)
        loop = RetryLoop(CRON_LOOP, outage, stop=self._stop_event)
        logger.info("Cron scheduler %s: starting with %d cron jobs", self.name, len(self._cron_jobs))
        with self._signals_stop_loop():
            try:
                while not self._stop_event.is_set():
                    try:
                        if self._registered:
                            self.heartbeat()
                        else:
                            self.register_birth()
                        loop.succeeded()
                        self.enqueue_jobs()
                    except REDIS_ERRORS as exc:
                        loop.failed(exc)
                        continue
                    except DuplicateSchedulerError:
                        raise
                    except RedisError:
                        logger.exception("Cron scheduler %s: Redis refused a command; retrying with backoff", self.name)
                        loop.wait()
                        continue
                    loop.succeeded()
                    self._stop_event.wait(self.calculate_sleep_interval())
            except KeyboardInterrupt:
                logger.info("Cron scheduler %s: interrupted; stopping", self.name)
            finally:
                self._shut_down()

    def request_stop(self, signum: Optional[int] = None, frame: Any = None) -> None:
        """Make ``start()`` return after the current pass (also the SIGINT/SIGTERM handler)."""
        if signum is not None:
            logger.info("Cron scheduler %s: received %s; stopping", self.name, signal.Signals(signum).name)
        self._stop_event.set()

    def _shut_down(self) -> None:
        if self._registered:
            try:
                self.register_death()
            except REDIS_ERRORS as exc:
                logger.warning(
                    "Cron scheduler %s: could not unregister (%s); its entry expires within %ds",
                    self.name,
                    exc,
                    self.ttl,
                )
        logger.info("Cron scheduler %s: stopped", self.name)

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Make SIGINT/SIGTERM call ``request_stop`` (main thread only); returns the handlers replaced."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self.request_stop)
        return previous

    @contextmanager
    def _signals_stop_loop(self) -> Iterator[None]:
        """SIGINT/SIGTERM call ``request_stop`` while the loop runs, then the previous handlers are back."""
        previous = self._install_signal_handlers() or {}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def register(
    func: Union[Callable[..., Any], str],
    queue_name: str,
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
) -> dict[str, Any]:
    """Declare a cron job in a config file; the scheduler loading the file registers it.

    Takes the arguments of ``CronScheduler.register`` and checks them at once (ValueError).
    """
    registration: dict[str, Any] = {
        "func": func,
        "queue_name": queue_name,
        "args": args,
        "kwargs": kwargs,
        "interval": interval,
        "cron": cron,
        "job_timeout": job_timeout,
        "result_ttl": result_ttl,
        "ttl": ttl,
        "failure_ttl": failure_ttl,
        "meta": meta,
        "webhooks": webhooks,
        "name": name,
    }
    CronJob(**registration)  # validation only
    with _registrations_lock:
        _job_data_registry.append(registration)
    return registration


def create_cron(connection: "Redis") -> CronScheduler:
    """A scheduler with the jobs declared so far with ``register()`` outside any config file."""
    scheduler = CronScheduler(connection)
    with _registrations_lock:
        declared = list(_job_data_registry)
        _job_data_registry.clear()
    for registration in declared:
        scheduler.register(**registration)
    return scheduler


# ---- loading config files ----------------------------------------------------------------------


def _looks_like_path(config_path: str) -> bool:
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    return config_path.endswith(".py") or any(sep in config_path for sep in separators)


def _run_config(config_path: str) -> None:
    """Execute a config given as a ``.py`` path or a dotted module name (again if already imported)."""
    if _looks_like_path(config_path):
        _run_config_file(config_path)
        return
    try:
        spec = importlib.util.find_spec(config_path)
    except (ImportError, ValueError):
        spec = None  # a parent package is missing, or the name is not a module name
    if spec is None:
        raise ModuleNotFoundError(f"Cron config module {config_path!r} not found", name=config_path)
    module = sys.modules.get(config_path)
    if module is not None:
        importlib.reload(module)
    else:
        importlib.import_module(config_path)


def _run_config_file(config_path: str) -> None:
    path = os.path.abspath(config_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Cron config file {config_path!r} not found")
    # Under the working directory the module gets its dotted name (``conf/cron.py`` ->
    # ``conf.cron``), so functions defined in it keep an importable name; else its stem.
    relative = os.path.relpath(path)
    if relative.startswith(os.pardir) or os.path.isabs(relative):
        module_name = os.path.splitext(os.path.basename(path))[0]
    else:
        module_name = os.path.splitext(relative)[0].replace(os.sep, ".")
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.append(directory)  # so the config can import modules next to it
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load cron config file {config_path!r}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is not None:
            sys.modules[module_name] = previous
        else:
            sys.modules.pop(module_name, None)
        raise
