"""``Job``: a function call stored in Redis as the hash ``rq:job:<id>``.

This module owns the job's fields, how they are encoded in the hash (through the codecs
of ``rq.layout``), and the queries and edits that concern one job. The transitions a
worker applies (finish, fail, retry) live in ``rq.job_lifecycle``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
import warnings
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from redis import Redis

from . import layout, queue_writes
from .callbacks import Callback, JobCallbacks, as_callback
from .connections import resolve_connection
from .dependency import Dependency
from .exceptions import (
    InvalidJobOperation,
    NoSuchJobError,
)
from .job_call import UNEVALUATED, JobCallData
from .job_hash import decode_job, encode_job, encode_meta, load_meta
from .job_lifecycle import JobOperations
from .job_validation import check_ttl, parse_job_id, validate_job_id
from .layout import as_text, format_ts, utcnow
from .registered_classes import register_job_class
from .repeat import Repeat
from .resilience import is_outage
from .retry import Retry
from .serializers import resolve_serializer
from .status import JobStatus
from .webhook import Webhook

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .batch import AtomicBatch
    from .registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
    from .results import Result

__all__ = [
    "Callback",
    "Dependency",
    "Job",
    "JobStatus",
    "Retry",
    "UNEVALUATED",
    "cancel_job",
    "get_current_job",
    "parse_job_id",
    "requeue_job",
    "validate_job_id",
]

logger = logging.getLogger("rq.job")

_current_jobs: ContextVar[tuple] = ContextVar("rq_current_jobs", default=())


def get_current_job(connection: Optional[Redis] = None, job_class: Any = None) -> Optional["Job"]:
    """The job being performed in this process (or asyncio context), else None."""
    if connection is not None or job_class is not None:
        warnings.warn("get_current_job() takes no arguments any more", DeprecationWarning, stacklevel=2)
    jobs = _current_jobs.get()
    return jobs[-1] if jobs else None


class Job(JobCallData, JobCallbacks, JobOperations):
    """A job: the call to make, its settings, and its state as stored in Redis."""

    redis_job_namespace_prefix = layout.JOB_PREFIX

    def __init__(self, id: Optional[str] = None, connection: Optional[Redis] = None, serializer: Any = None):
        self.connection: Redis = resolve_connection(connection, "Job")
        self._id = id
        self.serializer = resolve_serializer(serializer)
        self.created_at: datetime = utcnow()
        self._data: Any = UNEVALUATED
        self._func_name: Any = UNEVALUATED
        self._instance: Any = UNEVALUATED
        self._args: Any = UNEVALUATED
        self._kwargs: Any = UNEVALUATED
        self._status: Optional[str] = None
        self.description: Optional[str] = None
        self.origin: str = ""
        self.enqueued_at: Optional[datetime] = None
        self.started_at: Optional[datetime] = None
        self.ended_at: Optional[datetime] = None
        self.last_heartbeat: Optional[datetime] = None
        self.timeout: Optional[int] = None
        self.result_ttl: Optional[int] = None
        self.failure_ttl: Optional[int] = None
        self.ttl: Optional[int] = None
        self.meta: dict = {}
        self._unreadable_meta: Optional[bytes] = None  # see rq.job_hash.encode_meta
        self.worker_name: Optional[str] = None
        self.group_id: Optional[str] = None
        self.retries_left: Optional[int] = None
        self.retry_intervals: Optional[list[int]] = None
        self.number_of_retries: Optional[int] = None
        self.enqueue_at_front_on_retry: Optional[bool] = None
        self.repeats_left: Optional[int] = None
        self.repeat_intervals: Optional[list[int]] = None
        self.webhooks: list = []
        # This fork's extension: how often a job abandoned by a dead worker is put back on its
        # queue instead of failing (see rq.job_lifecycle.handle_abandoned_job).
        self.max_redeliveries: Optional[int] = None
        self.redeliveries = 0
        self._dependency_ids: list[str] = []
        self.allow_dependency_failures: Optional[bool] = None
        self.enqueue_at_front: Optional[bool] = None
        self._success_callback_name: Optional[str] = None
        self._success_callback_timeout: Optional[int] = None
        self._failure_callback_name: Optional[str] = None
        self._failure_callback_timeout: Optional[int] = None
        self._stopped_callback_name: Optional[str] = None
        self._stopped_callback_timeout: Optional[int] = None
        self._result: Any = None
        self._exc_info: Optional[str] = None
        self._cached_return_value: Any = None
        self.redis_server_version: Optional[tuple] = None
        # The execution of this job currently running in this process, if any.
        self.execution: Any = None

    # ---- construction ------------------------------------------------------

    @classmethod
    def create(
        cls,
        func: Union[str, Callable[..., Any]],
        args: Union[list, tuple, None] = None,
        kwargs: Optional[dict] = None,
        connection: Optional[Redis] = None,
        result_ttl: Any = None,
        ttl: Any = None,
        status: Optional[JobStatus] = None,
        description: Optional[str] = None,
        depends_on: Any = None,
        timeout: Any = None,
        retry: Optional[Retry] = None,
        id: Optional[str] = None,
        origin: str = "",
        meta: Optional[dict] = None,
        failure_ttl: Any = None,
        serializer: Any = None,
        group_id: Optional[str] = None,
        *,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        webhooks: Any = None,
        repeat: Any = None,
        redeliver_abandoned: Optional[int] = None,
    ) -> "Job":
        """Build a job (not saved). Every argument is checked here, before anything reaches Redis."""
        args = () if args is None else args
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"{args!r} is not a valid args list")
        if not isinstance(kwargs, dict):
            raise TypeError(f"{kwargs!r} is not a valid kwargs dict")
        if id is not None:
            validate_job_id(id)
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, not {type(meta).__name__}")

        job = cls(id, connection=connection, serializer=serializer)
        job._set_callable(func)
        job._args, job._kwargs = args, kwargs
        job.origin = origin
        job.description = description or job.get_call_string()
        job.timeout = check_ttl("job_timeout", timeout, allow_forever=True)
        job.result_ttl = check_ttl("result_ttl", result_ttl, allow_forever=True)
        job.failure_ttl = check_ttl("failure_ttl", failure_ttl, allow_forever=True)
        job.ttl = check_ttl("ttl", ttl, allow_forever=False)
        job._status = str(status.value if isinstance(status, JobStatus) else status or JobStatus.CREATED.value)
        job.meta = meta if meta is not None else {}
        job.group_id = group_id
        if retry is not None:
            if not isinstance(retry, Retry):
                raise TypeError(f"retry must be a Retry instance, not {type(retry).__name__}")
            job.retries_left = retry.max
            job.retry_intervals = retry.intervals
            if retry.enqueue_at_front:
                job.enqueue_at_front_on_retry = True
        if repeat is not None:
            if not isinstance(repeat, Repeat):
                raise TypeError(f"repeat must be a Repeat instance, not {type(repeat).__name__}")
            job.repeats_left = repeat.times
            job.repeat_intervals = repeat.intervals
        for kind, value in (("success", on_success), ("failure", on_failure), ("stopped", on_stopped)):
            callback = as_callback(value, kind)
            if callback is not None:
                setattr(job, f"_{kind}_callback_name", callback.name)
                setattr(job, f"_{kind}_callback_timeout", callback.timeout)
        if redeliver_abandoned is not None:
            if (
                not isinstance(redeliver_abandoned, int)
                or isinstance(redeliver_abandoned, bool)
                or redeliver_abandoned < 0
            ):
                raise ValueError(f"redeliver_abandoned must be a non-negative integer, got {redeliver_abandoned!r}")
            job.max_redeliveries = redeliver_abandoned
        if webhooks is not None:
            if not isinstance(webhooks, (list, tuple)) or not all(isinstance(hook, Webhook) for hook in webhooks):
                raise TypeError(f"webhooks must be a list of Webhook objects, got {webhooks!r}")
            job.webhooks = list(webhooks)
        if depends_on is not None:
            job._set_dependencies(depends_on)
        # As upstream RQ, the call is serialized lazily (Queue.create_job checks it at once).
        return job

    def _set_dependencies(self, depends_on: Any) -> None:
        from .dependency import parse_depends_on

        self._dependency_ids, spec = parse_depends_on(depends_on)
        if spec is not None:
            self.allow_dependency_failures = spec.allow_failure
            self.enqueue_at_front = spec.enqueue_at_front

    # ---- identity ------------------------------------------------------------

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = str(uuid.uuid4())
        return self._id

    @id.setter
    def id(self, value: str) -> None:
        validate_job_id(value)
        self._id = value

    def get_id(self) -> str:
        return self.id

    def set_id(self, value: str) -> None:
        self.id = value

    @property
    def key(self) -> str:
        return layout.job_key(self.id)

    @classmethod
    def key_for(cls, job_id: str) -> str:
        return layout.job_key(job_id)

    @classmethod
    def dependents_key_for(cls, job_id: str) -> str:
        return layout.dependents_key(job_id)

    @property
    def dependents_key(self) -> str:
        return layout.dependents_key(self.id)

    @property
    def dependencies_key(self) -> str:
        return layout.dependencies_key(self.id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._id!r}, enqueued_at={self.enqueued_at!r})"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self.id}: {self.description}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ---- encoding (see rq.job_hash) -------------------------------------------------

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        """The job hash fields, encoded as upstream RQ 2.x writes them."""
        return encode_job(self, include_meta=include_meta, include_result=include_result)

    def restore(self, raw: dict) -> None:
        """Load this job's fields from an HGETALL reply."""
        decode_job(self, raw)

    # ---- persistence ---------------------------------------------------------

    @classmethod
    def fetch(cls, id: str, connection: Optional[Redis] = None, serializer: Any = None) -> "Job":
        """Load a job by id (``<id>:<execution id>`` accepted); missing → NoSuchJobError."""
        job = cls(parse_job_id(id), connection=connection, serializer=serializer)
        job.refresh()
        return job

    @classmethod
    def fetch_many(cls, job_ids: Iterable[str], connection: Redis, serializer: Any = None) -> list[Optional["Job"]]:
        """Load several jobs in one round trip; missing ids give None."""
        ids = [parse_job_id(job_id) for job_id in job_ids]
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(layout.job_key(job_id))
            replies = pipe.execute()
        jobs: list[Optional[Job]] = []
        for job_id, raw in zip(ids, replies):
            jobs.append(cls.from_hash(job_id, raw, connection, serializer) if raw else None)
        return jobs

    @classmethod
    def from_hash(cls, job_id: str, raw: dict, connection: Redis, serializer: Any = None) -> Optional["Job"]:
        """A job from an HGETALL reply already read; None if the hash is missing or unusable."""
        job = cls(job_id, connection=connection, serializer=serializer)
        try:
            job.restore(raw)
        except NoSuchJobError:
            return None
        return job

    @classmethod
    def exists(cls, job_id: str, connection: Optional[Redis] = None) -> bool:
        return bool(resolve_connection(connection, "Job.exists").exists(layout.job_key(job_id)))

    def refresh(self) -> None:
        raw = self.connection.hgetall(self.key)
        if not raw:
            raise NoSuchJobError(f"No such job: {self.key}")
        self.restore(raw)

    def save(
        self, pipeline: Optional["Pipeline"] = None, include_meta: bool = True, include_result: bool = True
    ) -> None:
        """Write every field (merging into the hash, as upstream does)."""
        fields = self.to_dict(include_meta=include_meta, include_result=include_result)
        (pipeline if pipeline is not None else self.connection).hset(self.key, mapping=layout.redis_fields(fields))

    def get_status(self, refresh: bool = True) -> Union[JobStatus, str]:
        if refresh:
            value = as_text(self.connection.hget(self.key, "status"))
            if value is None:
                raise InvalidJobOperation(f"Failed to retrieve status for job {self.id}: no status field")
            self._status = value
        try:
            return JobStatus(self._status)
        except ValueError:
            return self._status  # type: ignore[return-value]

    def set_status(self, status: Union[JobStatus, str], pipeline: Optional["Pipeline"] = None) -> None:
        self._status = str(status.value if isinstance(status, JobStatus) else status)
        (pipeline if pipeline is not None else self.connection).hset(self.key, "status", self._status)

    def _has_status(self, status: JobStatus) -> bool:
        return self.get_status() == status

    is_queued = property(lambda self: self._has_status(JobStatus.QUEUED))
    is_finished = property(lambda self: self._has_status(JobStatus.FINISHED))
    is_failed = property(lambda self: self._has_status(JobStatus.FAILED))
    is_started = property(lambda self: self._has_status(JobStatus.STARTED))
    is_deferred = property(lambda self: self._has_status(JobStatus.DEFERRED))
    is_scheduled = property(lambda self: self._has_status(JobStatus.SCHEDULED))
    is_stopped = property(lambda self: self._has_status(JobStatus.STOPPED))
    is_canceled = property(lambda self: self._has_status(JobStatus.CANCELED))

    def get_meta(self, refresh: bool = True) -> dict:
        if refresh:
            self.meta = load_meta(self, self.connection.hget(self.key, "meta"))
        return self.meta

    def save_meta(self) -> None:
        self.connection.hset(self.key, "meta", encode_meta(self))

    def get_ttl(self, default_ttl: Optional[int] = None) -> Optional[int]:
        return default_ttl if self.ttl is None else self.ttl

    def get_result_ttl(self, default_ttl: int) -> int:
        return default_ttl if self.result_ttl is None else self.result_ttl

    def cleanup(
        self, ttl: Optional[int] = None, pipeline: Optional["Pipeline"] = None, remove_from_queue: bool = True
    ) -> None:
        """Apply a lifetime to the job's keys: 0 deletes, >0 expires, <0 persists."""
        conn = pipeline if pipeline is not None else self.connection
        if ttl == 0:
            self.delete(pipeline=pipeline, remove_from_queue=remove_from_queue)
        elif not ttl:
            return
        elif ttl > 0:
            for key in (self.key, self.dependents_key, self.dependencies_key):
                conn.expire(key, ttl)
        else:
            conn.persist(self.key)

    # ---- position, registries --------------------------------------------------

    def get_position(self) -> Optional[int]:
        return queue_writes.job_position(self.connection, self.origin, self.id) if self.origin else None

    def _registry(self, kind: str) -> Any:
        from .registry import registry_class

        return registry_class(kind)(
            self.origin, connection=self.connection, job_class=type(self), serializer=self.serializer
        )

    @property
    def started_job_registry(self) -> "StartedJobRegistry":
        return self._registry("started")

    @property
    def finished_job_registry(self) -> "FinishedJobRegistry":
        return self._registry("finished")

    @property
    def failed_job_registry(self) -> "FailedJobRegistry":
        return self._registry("failed")

    @property
    def execution_registry(self) -> Any:
        from .executions import ExecutionRegistry

        return ExecutionRegistry(self.id, connection=self.connection)

    def get_executions(self) -> list:
        return self.execution_registry.get_executions()

    # ---- results ------------------------------------------------------------

    def results(self) -> list["Result"]:
        from .results import Result

        return Result.all(self, serializer=self.serializer)

    def latest_result(self, timeout: int = 0) -> Optional["Result"]:
        from .results import Result

        return Result.fetch_latest(self, serializer=self.serializer, timeout=timeout)

    def return_value(self, refresh: bool = False) -> Any:
        """The return value of the latest successful run, or None."""
        from .results import Result

        if refresh or self._cached_return_value is None:
            latest = self.latest_result()
            if latest is not None:
                self._cached_return_value = latest.return_value if latest.type == Result.Type.SUCCESSFUL else None
            elif self._result is not None:  # an RQ 1.x job's ``result`` field
                self._cached_return_value = self._result
        return self._cached_return_value

    @property
    def result(self) -> Any:
        warnings.warn("job.result is deprecated, use job.return_value()", DeprecationWarning, stacklevel=2)
        return self.return_value(refresh=True)

    @property
    def exc_info(self) -> Optional[str]:
        """Traceback text of the latest failure."""
        from .results import Result

        latest = self.latest_result()
        if latest is not None and latest.type in (Result.Type.FAILED, Result.Type.STOPPED):
            return latest.exc_string
        return self._exc_info

    @exc_info.setter
    def exc_info(self, value: Optional[str]) -> None:
        self._exc_info = value

    # ---- running -------------------------------------------------------------

    def perform(self) -> Any:
        """Call the function with this job as the current job; coroutines run in a fresh event loop."""
        self._persist_while_running()
        token = _current_jobs.set(_current_jobs.get() + (self,))
        try:
            result = self.func(*self.args, **self.kwargs)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            self._cached_return_value = result  # what ``return_value()`` gives until a Result is stored
            return result
        finally:
            _current_jobs.reset(token)

    def _persist_while_running(self) -> None:
        """As upstream RQ: a job's ``ttl`` never ends it while it runs.

        Best effort: a worker's start of the job has already done it in Redis, so an outage
        here must not fail a job that has not run yet.
        """
        try:
            self.connection.persist(self.key)
        except Exception as exc:
            if not is_outage(exc):
                raise
            logger.debug("Job %s: could not clear its expiry before running (%s)", self.id, exc)

    def heartbeat(self, timestamp: datetime, ttl: int, pipeline: Optional["Pipeline"] = None, xx: bool = False) -> None:
        self.last_heartbeat = timestamp
        (pipeline if pipeline is not None else self.connection).hset(self.key, "last_heartbeat", format_ts(timestamp))

    # ---- dependencies --------------------------------------------------------

    @property
    def dependency_ids(self) -> list[str]:
        return list(self._dependency_ids)

    @property
    def _dependency_id(self) -> Optional[str]:
        """The first dependency's id (kept, as upstream RQ does, for third-party code)."""
        return self._dependency_ids[0] if self._dependency_ids else None

    @property
    def dependency(self) -> Optional["Job"]:
        if not self._dependency_ids:
            return None
        return type(self).fetch(self._dependency_ids[0], connection=self.connection, serializer=self.serializer)

    @property
    def dependent_ids(self) -> list[str]:
        return sorted(as_text(member) for member in self.connection.smembers(self.dependents_key))

    def fetch_dependencies(self, watch: bool = False, pipeline: Optional["Pipeline"] = None) -> list["Job"]:
        """The dependency jobs that still exist (WATCHing their keys on ``pipeline`` if asked)."""
        conn = pipeline if pipeline is not None else self.connection
        if watch and self._dependency_ids:
            conn.watch(*[layout.job_key(dep) for dep in self._dependency_ids])
        jobs = type(self).fetch_many(self._dependency_ids, connection=self.connection, serializer=self.serializer)
        return [job for job in jobs if job is not None]

    def register_dependency(self, pipeline: Optional["Pipeline"] = None) -> None:
        from .registry import DeferredJobRegistry

        conn = pipeline if pipeline is not None else self.connection
        DeferredJobRegistry(self.origin, connection=self.connection, job_class=type(self)).add(self, pipeline=pipeline)
        for dependency_id in self._dependency_ids:
            conn.sadd(layout.dependents_key(dependency_id), self.id)
        if self._dependency_ids:  # SADD needs at least one member
            conn.sadd(self.dependencies_key, *self._dependency_ids)

    def dependencies_are_met(
        self,
        parent_job: Optional["Job"] = None,
        pipeline: Optional["Pipeline"] = None,
        exclude_job_id: Optional[str] = None,
        refresh_job_status: bool = True,
    ) -> bool:
        """True when every dependency is finished (or failed/stopped, if failures are allowed)."""
        from .dependency import dependencies_are_met

        return dependencies_are_met(self, parent_job, pipeline, exclude_job_id, refresh_job_status)

    # ---- retries -------------------------------------------------------------

    @property
    def should_retry(self) -> bool:
        return bool(self.retries_left and self.retries_left > 0)

    def get_retry_interval(self) -> int:
        """Delay before the next retry, following upstream's choice of interval."""
        if not self.retry_intervals:
            return 0
        index = max(len(self.retry_intervals) - (self.retries_left or 0), 0)
        return self.retry_intervals[min(index, len(self.retry_intervals) - 1)]

    def should_enqueue_at_front(self) -> bool:
        """At the front for a retry of a job that ran (``Retry(enqueue_at_front=True)``), else as enqueued."""
        if self.enqueue_at_front_on_retry and (self.ended_at is not None or self.started_at is not None):
            return True
        return bool(self.enqueue_at_front)

    # ---- starting (cancel, delete, requeue, retry: rq.job_lifecycle.JobOperations) -----------

    def prepare_for_execution(self, worker_name: str, pipeline: Union["Pipeline", "AtomicBatch"]) -> None:
        """Mark the job started by ``worker_name`` (status, timestamps) on ``pipeline``."""
        now = utcnow()
        self.worker_name = worker_name
        self.last_heartbeat = now
        self.started_at = now
        self.ended_at = None  # a retried or requeued job must not keep its previous end
        self._status = JobStatus.STARTED.value
        pipeline.hset(
            self.key,
            mapping={
                "last_heartbeat": format_ts(now),
                "status": self._status,
                "started_at": format_ts(now),
                "worker_name": worker_name,
            },
        )
        pipeline.persist(self.key)

    @property
    def supports_redis_streams(self) -> bool:
        """Always True (RQ 1.x name): results are kept in Redis streams, which this package requires."""
        return True

    def get_redis_server_version(self) -> tuple:
        from .utils import get_version

        if self.redis_server_version is None:
            self.redis_server_version = get_version(self.connection)
        return self.redis_server_version


register_job_class(Job)


def cancel_job(
    job_id: str, connection: Optional[Redis] = None, serializer: Any = None, enqueue_dependents: bool = False
) -> None:
    Job.fetch(job_id, connection=resolve_connection(connection, "cancel_job"), serializer=serializer).cancel(
        enqueue_dependents=enqueue_dependents
    )


def requeue_job(job_id: str, connection: Redis, serializer: Any = None) -> "Job":
    return Job.fetch(job_id, connection=connection, serializer=serializer).requeue()
