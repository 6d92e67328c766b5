"""Job registries: sorted sets of job ids per queue, scored by expiry (or due) time."""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from redis import Redis
from redis.exceptions import WatchError

from . import layout, registered_classes
from .connections import resolve_connection
from .defaults import DEFAULT_FAILURE_TTL
from .exceptions import InvalidJobOperation, NoSuchJobError
from .layout import as_text, score_of, ttl_score
from .queue_ref import QueueLike, QueueRef
from .serializers import resolve_serializer
from .status import JobStatus
from .timeouts import UnixSignalDeathPenalty

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .executions import Execution
    from .job import Job
    from .queue import Queue

__all__ = [
    "BaseRegistry",
    "CanceledJobRegistry",
    "DeferredJobRegistry",
    "FailedJobRegistry",
    "FinishedJobRegistry",
    "ReadyJobRegistry",
    "ScheduledJobRegistry",
    "StartedJobRegistry",
    "clean_registries",
    "registry_class",
]

logger = logging.getLogger("rq.registry")

# Seconds one process may take to recover an abandoned job before another may try again
# (only matters if the first one dies while doing it).
ABANDONED_CLAIM_TTL = 60

JobOrId = Union["Job", str]


def _job_id(job_or_id: JobOrId) -> str:
    return job_or_id if isinstance(job_or_id, str) else job_or_id.id


def _given_job(job: Optional[JobOrId], job_or_id: Optional[JobOrId]) -> JobOrId:
    """The job passed as ``job`` (upstream's name) or ``job_or_id`` (this package's former name)."""
    if job is None:
        job = job_or_id
    if job is None:
        raise TypeError("remove() needs a job or a job id")
    return job


def _template(kind: str) -> str:
    """The ``str.format`` template of a registry key (upstream's ``key_template``)."""
    return layout.registry_key(kind, "{0}")


class BaseRegistry:
    """A registry of one queue; ``queue=`` copies the queue's name, connection and serializer.

    A subclass names its kind (``started``, ``finished``, ...); one that sets only
    ``key_template`` (as upstream RQ's registries do) gets ``key_template.format(name)``.
    """

    kind = ""
    key_template = layout.PREFIX + "registry:{0}"
    _connection: Optional[Redis] = None

    def __init__(
        self,
        name: str = "default",
        connection: Optional[Redis] = None,
        job_class: Optional[type["Job"]] = None,
        queue: Optional["QueueLike"] = None,
        serializer: Any = None,
        death_penalty_class: Optional[type] = None,
    ) -> None:
        if queue is not None:
            self.name = queue.name
            self.connection = queue.connection
            self.serializer = queue.serializer
            job_class = job_class or queue.job_class
            death_penalty_class = death_penalty_class or queue.death_penalty_class
        else:
            self.name = name
            self.connection = connection  # resolved on first use if None
            self.serializer = resolve_serializer(serializer)
        self.job_class = job_class or registered_classes.job_class()
        self.death_penalty_class = death_penalty_class or UnixSignalDeathPenalty
        self.key = self._key_of(self.name)

    @property
    def connection(self) -> Redis:
        """The Redis client; without one given, the implicit connection at first use (TypeError if none)."""
        if self._connection is None:
            self._connection = resolve_connection(None, type(self).__name__)
        return self._connection

    @connection.setter
    def connection(self, value: Optional[Redis]) -> None:
        self._connection = value

    @classmethod
    def _key_of(cls, name: str) -> str:
        if cls.kind and cls.key_template == _template(cls.kind):
            return layout.registry_key(cls.kind, name)
        return cls.key_template.format(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseRegistry) and (self.key, self.connection) == (other.key, other.connection)

    def __hash__(self) -> int:
        return hash(self.key)

    def __len__(self) -> int:
        return self.count

    def __contains__(self, item: JobOrId) -> bool:
        return self.connection.zscore(self.key, _job_id(item)) is not None

    @property
    def count(self) -> int:
        """Number of entries, after dropping expired ones."""
        return self.get_job_count(cleanup=True)

    def get_job_count(self, cleanup: bool = True) -> int:
        """Number of entries; ``cleanup`` first drops expired ones."""
        if cleanup:
            self.cleanup()
        return self.connection.zcard(self.key)

    def add(self, job: "Job", ttl: int = 0, pipeline: Optional["Pipeline"] = None, xx: bool = False) -> int:
        """Add ``job`` to expire ``ttl`` seconds from now (``-1``: never)."""
        conn: Any = pipeline if pipeline is not None else self.connection
        score = ttl_score(ttl) if ttl >= 0 or ttl == -1 else ttl
        return conn.zadd(self.key, {job.id: score}, xx=xx)

    def remove(
        self,
        job: Optional[JobOrId] = None,
        pipeline: Optional["Pipeline"] = None,
        delete_job: bool = False,
        *,
        job_or_id: Optional[JobOrId] = None,
    ) -> Any:
        """Drop the entry of ``job`` (a job or an id); with ``delete_job`` also delete the job itself."""
        job_or_id = _given_job(job, job_or_id)
        conn: Any = pipeline if pipeline is not None else self.connection
        job_id = _job_id(job_or_id)
        if delete_job:
            instance = job_or_id if not isinstance(job_or_id, str) else self._fetch(job_id)
            if instance is not None:
                instance.delete(pipeline=pipeline, remove_from_queue=True)
        return conn.zrem(self.key, job_id)

    def _fetch(self, job_id: str) -> Optional["Job"]:
        try:
            return self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
        except NoSuchJobError:
            return None

    def get_expired_job_ids(self, timestamp: Optional[float] = None) -> list[str]:
        """Ids whose score is at or before ``timestamp`` (default now)."""
        members = layout.zset_members(self.connection.zrangebyscore(self.key, 0, score_of(timestamp)))
        return [as_text(member) for member in members]

    def get_job_ids(self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True) -> list[str]:
        """Ids ranked ``start``..``end`` (inclusive) by score, after an optional cleanup."""
        if cleanup:
            self.cleanup()
        members = layout.zset_members(self.connection.zrange(self.key, start, end, desc=desc))
        return [as_text(member) for member in members]

    def get_queue(self) -> "Queue":
        """The queue this registry belongs to (for callers: the model itself never builds a Queue)."""
        queue_class = registered_classes.queue_class()
        return queue_class(self.name, connection=self.connection, job_class=self.job_class, serializer=self.serializer)

    def get_expiration_time(self, job: JobOrId) -> Optional[datetime]:
        """When the entry expires (UTC); None if it never does or is not here."""
        score = self.connection.zscore(self.key, _job_id(job))
        if score is None or not layout.is_finite_score(score):
            return None
        return datetime.fromtimestamp(score, tz=timezone.utc)

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Nothing to clean in a plain registry (as upstream RQ); each kind of registry says what expires.

        ``exception_handlers`` is accepted from every registry, as upstream RQ does; only the
        started registry (whose expired entries are abandoned jobs) calls them.
        """
        return None

    def _drop_expired(self, timestamp: Optional[float] = None) -> None:
        """Drop entries that expired at or before ``timestamp`` (default now)."""
        self.connection.zremrangebyscore(self.key, 0, score_of(timestamp))

    @staticmethod
    def parse_job_id(entry: Union[str, bytes]) -> str:
        """The job id of a member (``<job id>`` or ``<job id>:<execution id>``)."""
        return layout.split_composite_member(entry)[0]

    def requeue(self, job_or_id: JobOrId, at_front: bool = False) -> "Job":
        """Move a job from this registry back to its queue, with a clean status."""
        job = (
            job_or_id
            if not isinstance(job_or_id, str)
            else self.job_class.fetch(job_or_id, connection=self.connection, serializer=self.serializer)
        )
        if job not in self:
            raise InvalidJobOperation(f"Job {job.id} is not in {self.key}")
        with self.connection.pipeline() as pipe:
            self.remove(job, pipeline=pipe)
            job.started_at = None
            job.ended_at = None
            job.worker_name = None
            job.exc_info = ""
            # The failure TTL must not outlive the failure: a requeued job (and its dependents
            # set) waits on the queue as long as it takes, unless it has a ttl of its own.
            for key in (job.key, job.dependents_key, job.dependencies_key):
                pipe.persist(key)
            QueueRef.of_job(job)._write_enqueue(job, pipe, at_front=at_front)
            pipe.execute()
        return job


class StartedJobRegistry(BaseRegistry):
    """Running jobs (``rq:wip:<q>``): members ``<job id>:<execution id>``, scored by heartbeat expiry.

    An entry whose score passes means its worker stopped heartbeating: ``cleanup`` treats
    the job as abandoned (failure callback, exception handlers, retry or failed registry).
    """

    kind = "started"
    key_template = _template("started")

    def add(self, job: JobOrId, ttl: int = 0, pipeline: Optional["Pipeline"] = None, xx: bool = False) -> int:
        """Record ``job`` as running without an execution, as RQ 1.x did (a bare job id member).

        Workers record executions (``add_execution``); a bare entry is read, renewed,
        removed and recovered like theirs, with an empty execution id.
        """
        warnings.warn(
            "StartedJobRegistry.add() records a job without an execution; RQ 2.x workers use add_execution()",
            DeprecationWarning,
            stacklevel=2,
        )
        conn: Any = pipeline if pipeline is not None else self.connection
        score = ttl_score(ttl) if ttl >= 0 or ttl == -1 else ttl
        return conn.zadd(self.key, {_job_id(job): score}, xx=xx)

    def add_execution(self, execution: "Execution", pipeline: "Pipeline", ttl: int = 0, xx: bool = False) -> Any:
        """Add a running execution, expiring ``ttl`` seconds from now (``-1``: never)."""
        return pipeline.zadd(self.key, {execution.composite_key: ttl_score(ttl)}, xx=xx)

    def remove_execution(
        self,
        execution: "Execution",
        job: Optional["Job"] = None,
        pipeline: Optional["Pipeline"] = None,
        delete_job: bool = False,
    ) -> Any:
        """Drop one execution's entry (and, with ``delete_job``, the job)."""
        conn: Any = pipeline if pipeline is not None else self.connection
        if delete_job and job is not None:
            job.delete(pipeline=pipeline)
        return conn.zrem(self.key, execution.composite_key)

    def _members_of(self, job_id: str) -> list[str]:
        members = [as_text(m) for m, _ in self.connection.zscan_iter(self.key, match=f"{job_id}:*")]
        if self.connection.zscore(self.key, job_id) is not None:
            members.append(job_id)  # bare id written by RQ 1.x
        return members

    def remove_executions(self, job: JobOrId, pipeline: Optional["Pipeline"] = None) -> None:
        """Drop every entry of the job, whatever its execution."""
        conn: Any = pipeline if pipeline is not None else self.connection
        members = self._members_of(_job_id(job))
        if members:
            conn.zrem(self.key, *members)

    def remove(
        self,
        job: Optional[JobOrId] = None,
        pipeline: Optional["Pipeline"] = None,
        delete_job: bool = False,
        *,
        job_or_id: Optional[JobOrId] = None,
    ) -> Any:
        """Drop every execution entry of the job (and, with ``delete_job``, the job)."""
        job_or_id = _given_job(job, job_or_id)
        if delete_job:
            instance = job_or_id if not isinstance(job_or_id, str) else self._fetch(job_or_id)
            if instance is not None:
                instance.delete(pipeline=pipeline)
        self.remove_executions(job_or_id, pipeline=pipeline)

    def __contains__(self, item: JobOrId) -> bool:
        return bool(self._members_of(_job_id(item)))

    def get_job_and_execution_ids(
        self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True
    ) -> list[tuple[str, str]]:
        """``(job id, execution id)`` pairs ranked ``start``..``end`` by heartbeat expiry."""
        if cleanup:
            self.cleanup()
        members = layout.zset_members(self.connection.zrange(self.key, start, end, desc=desc))
        return [layout.split_composite_member(member) for member in members]

    def get_job_ids(self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True) -> list[str]:
        """Ids of the running jobs (each once, however many executions it has)."""
        seen: dict[str, None] = {}
        for job_id, _ in self.get_job_and_execution_ids(start, end, desc, cleanup):
            seen.setdefault(job_id, None)
        return list(seen)

    def get_expired_job_ids(self, timestamp: Optional[float] = None) -> list[str]:
        """Ids of jobs whose heartbeat lapsed at or before ``timestamp``."""
        return [self.parse_job_id(member) for member in super().get_expired_job_ids(timestamp)]

    def get_expiration_time(self, job: JobOrId) -> Optional[datetime]:
        """When the job's latest execution entry expires (UTC), or None."""
        members = self._members_of(_job_id(job))
        scores = [self.connection.zscore(self.key, member) for member in members]
        finite = [score for score in scores if score is not None and layout.is_finite_score(score)]
        return datetime.fromtimestamp(max(finite), tz=timezone.utc) if finite else None

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Fail (or retry) the jobs of expired entries: their worker is gone."""
        now = score_of(timestamp)
        for member in layout.zset_members(self.connection.zrangebyscore(self.key, 0, now)):
            self._recover(as_text(member) or "", now, exception_handlers or [])

    def _recover(self, member: str, now: int, exception_handlers: list[Callable]) -> None:
        """Recover the job of one expired entry, unless another process is doing it or did it.

        Maintenance and anyone counting this registry may clean it at the same moment: the
        claim makes one of them handle the entry, and the score is read again under the
        claim, so an entry recovered (or renewed by a worker that came back) is left alone.
        """
        claim = layout.abandoned_claim_key(member)
        if not self.connection.set(claim, 1, nx=True, ex=ABANDONED_CLAIM_TTL):
            return
        try:
            score = self.connection.zscore(self.key, member)
            if score is None or score > now:
                return
            job_id, execution_id = layout.split_composite_member(member)
            job = self._fetch(job_id)
            if job is not None:
                try:
                    # The job's class brings its transitions (rq.job_lifecycle), which sit above registries.
                    job._handle_abandoned(self, execution_id, exception_handlers)
                except Exception:
                    logger.exception("Could not move abandoned job %s to the failed registry", job_id)
                    return  # the entry stays: a later cleanup tries again
            self.connection.zrem(self.key, member)
        finally:
            self.connection.delete(claim)


class FinishedJobRegistry(BaseRegistry):
    """Successful jobs, kept for their ``result_ttl``."""

    kind = "finished"
    key_template = _template("finished")

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Drop the entries whose ``result_ttl`` passed at or before ``timestamp`` (default now)."""
        self._drop_expired(timestamp)


class FailedJobRegistry(BaseRegistry):
    """Failed (and stopped) jobs, kept for their ``failure_ttl`` (default one year)."""

    kind = "failed"
    key_template = _template("failed")

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Drop the entries whose ``failure_ttl`` passed at or before ``timestamp`` (default now)."""
        self._drop_expired(timestamp)

    def add(  # type: ignore[override]
        self,
        job: "Job",
        ttl: Optional[int] = None,
        exc_string: str = "",
        pipeline: Optional["Pipeline"] = None,
        _save_exc_to_job: bool = False,
        worker_name: str = "",
        execution: Optional["Execution"] = None,
    ) -> None:
        """Record ``job`` as failed with ``exc_string``; a negative ttl is stored as is (kept forever)."""
        from .results import Result

        if ttl is None:
            ttl = job.failure_ttl if job.failure_ttl is not None else DEFAULT_FAILURE_TTL
        own_pipeline = pipeline is None
        pipe: Any = self.connection.pipeline() if own_pipeline else pipeline
        pipe.zadd(self.key, {job.id: score_of() + ttl if ttl >= 0 else ttl})
        if _save_exc_to_job:
            job.exc_info = exc_string
        job.save(pipeline=pipe, include_meta=False, include_result=False)
        if ttl > 0:
            for key in (job.key, job.dependents_key, job.dependencies_key):
                pipe.expire(key, ttl)
        Result.create_failure(
            job, job.failure_ttl, exc_string=exc_string, worker_name=worker_name, execution=execution, pipeline=pipe
        )
        if own_pipeline:
            pipe.execute()


class DeferredJobRegistry(BaseRegistry):
    """Jobs waiting for their dependencies; entries do not expire."""

    kind = "deferred"
    key_template = _template("deferred")

    def add(
        self, job: "Job", ttl: Optional[int] = None, pipeline: Optional["Pipeline"] = None, xx: bool = False
    ) -> int:
        """Add ``job`` scored by the current time; ``ttl`` is ignored (as in RQ 2.x)."""
        conn: Any = pipeline if pipeline is not None else self.connection
        return conn.zadd(self.key, {job.id: score_of()}, xx=xx)

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Nothing to do: these entries do not expire."""
        return None


class ScheduledJobRegistry(BaseRegistry):
    """Jobs due at a time (``enqueue_at``/``enqueue_in``, delayed retries), scored by due time."""

    kind = "scheduled"
    key_template = _template("scheduled")

    def schedule(self, job: "Job", scheduled_datetime: datetime, pipeline: Optional["Pipeline"] = None) -> int:
        """Due at ``scheduled_datetime``; naive values are local time, aware ones are converted."""
        conn: Any = pipeline if pipeline is not None else self.connection
        return conn.zadd(self.key, {job.id: score_of(scheduled_datetime)})

    def get_jobs_to_schedule(self, timestamp: Optional[float] = None, chunk_size: int = 1000) -> list[str]:
        """Ids due at or before ``timestamp`` (default now), at most ``chunk_size``."""
        members = layout.zset_members(
            self.connection.zrangebyscore(self.key, 0, score_of(timestamp), start=0, num=chunk_size)
        )
        return [as_text(member) for member in members]

    def get_jobs_to_enqueue(self, timestamp: Optional[float] = None) -> list[str]:
        """Ids due at or before ``timestamp`` (default now)."""
        return self.get_expired_job_ids(timestamp)

    def get_scheduled_time(self, job_or_id: JobOrId) -> datetime:
        """When the job is due (UTC); ``NoSuchJobError`` if it is not scheduled here."""
        job_id = _job_id(job_or_id)
        score = self.connection.zscore(self.key, job_id)
        if score is None:
            raise NoSuchJobError(f"Job {job_id} is not in {self.key}")
        return datetime.fromtimestamp(score, tz=timezone.utc)

    def remove_jobs(self, timestamp: Optional[float] = None, pipeline: Optional["Pipeline"] = None) -> None:
        """Drop entries due at or before ``timestamp`` (deprecated, as in RQ 2.x)."""
        warnings.warn("ScheduledJobRegistry.remove_jobs() is deprecated", DeprecationWarning, stacklevel=2)
        conn: Any = pipeline if pipeline is not None else self.connection
        conn.zremrangebyscore(self.key, 0, score_of(timestamp))

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Nothing to do: these entries do not expire."""
        return None


# The status of a dependent released by its dependencies but not yet on its queue (RQ 3.0).
READY_TO_ENQUEUE = "ready_to_enqueue"


class ReadyJobRegistry(BaseRegistry):
    """Dependents whose dependencies are met, on their way to the queue (``rq:ready:<q>``, RQ 3.0).

    An id stays here only if the process releasing it stopped between the release and
    the enqueue; ``cleanup`` (maintenance) puts such jobs on their queue.
    """

    key_template = layout.PREFIX + "ready:{0}"

    def add(
        self, job: "Job", ttl: Optional[int] = None, pipeline: Optional["Pipeline"] = None, xx: bool = False
    ) -> int:
        """Add ``job`` scored by the current time; ``ttl`` is ignored."""
        conn: Any = pipeline if pipeline is not None else self.connection
        return conn.zadd(self.key, {job.id: score_of()}, xx=xx)

    def register_jobs(self, jobs: Iterable["Job"], pipeline: "Pipeline") -> None:
        """Queue on ``pipeline`` the moves of ``jobs`` from the deferred registry to this one."""
        deferred = DeferredJobRegistry(
            self.name, connection=self.connection, job_class=self.job_class, serializer=self.serializer
        )
        for job in jobs:
            deferred.remove(job, pipeline=pipeline)
            job.set_status(READY_TO_ENQUEUE, pipeline=pipeline)
            self.add(job, pipeline=pipeline)

    def enqueue_jobs(self, job_ids: list[str]) -> list["Job"]:
        """Put the jobs of ``job_ids`` on their queue, each once; returns those enqueued.

        Each job moves in its own transaction, watched so that a job another process moved
        or changed meanwhile is left for a later pass. Entries of jobs that are gone or no
        longer waiting are dropped.
        """
        enqueued: list[Job] = []
        for job_id in job_ids:
            job = self._fetch(job_id)
            if job is None or as_text(self.connection.hget(job.key, "status")) != READY_TO_ENQUEUE:
                self.connection.zrem(self.key, job_id)
                continue
            try:
                if self._enqueue_one(job):
                    enqueued.append(job)
            except WatchError:
                logger.info("Ready job %s changed while it was being enqueued; left for a later pass", job_id)
            except Exception:
                logger.exception("Could not enqueue ready job %s; left in %s", job_id, self.key)
        return enqueued

    def _enqueue_one(self, job: "Job") -> bool:
        with self.connection.pipeline() as pipe:
            pipe.watch(self.key, job.key)
            if pipe.zscore(self.key, job.id) is None:
                return False
            still_ready = as_text(pipe.hget(job.key, "status")) == READY_TO_ENQUEUE
            pipe.multi()
            pipe.zrem(self.key, job.id)
            if still_ready:
                QueueRef.of_job(job)._write_enqueue(job, pipe, at_front=job.should_enqueue_at_front())
            pipe.execute()
            return still_ready

    def cleanup(  # type: ignore[override]  # returns the jobs it enqueued, as upstream RQ 3.0 does
        self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None
    ) -> list:
        """Enqueue every job left here (see ``enqueue_jobs``); returns those enqueued."""
        members = layout.zset_members(self.connection.zrange(self.key, 0, -1))
        return self.enqueue_jobs([self.parse_job_id(member) for member in members])


class CanceledJobRegistry(BaseRegistry):
    """Canceled jobs; kept until deleted."""

    kind = "canceled"
    key_template = _template("canceled")

    def get_expired_job_ids(self, timestamp: Optional[float] = None) -> list[str]:
        """Not supported: canceled jobs do not expire."""
        raise NotImplementedError("Canceled jobs do not expire")

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list[Callable]] = None) -> None:
        """Nothing to do: these entries do not expire."""
        return None


_REGISTRIES: dict[str, type[BaseRegistry]] = {
    cls.kind: cls
    for cls in (
        StartedJobRegistry,
        FinishedJobRegistry,
        FailedJobRegistry,
        DeferredJobRegistry,
        ScheduledJobRegistry,
        CanceledJobRegistry,
    )
}

# Which registry holds a job in each status (for cancel/delete).
STATUS_REGISTRY = {
    JobStatus.STARTED.value: "started",
    JobStatus.FINISHED.value: "finished",
    JobStatus.FAILED.value: "failed",
    JobStatus.STOPPED.value: "failed",
    JobStatus.DEFERRED.value: "deferred",
    JobStatus.SCHEDULED.value: "scheduled",
    JobStatus.CANCELED.value: "canceled",
}


def registry_class(kind: str) -> type[BaseRegistry]:
    """The registry class of ``kind`` (``started``, ``finished``, ...)."""
    return _REGISTRIES[kind]


def registries_for(queue: "QueueLike", kinds: Iterable[str]) -> list[BaseRegistry]:
    """One registry of each of ``kinds`` for ``queue``."""
    return [registry_class(kind)(queue=queue) for kind in kinds]


def clean_registries(queue: "QueueLike", exception_handlers: Optional[list[Callable]] = None) -> None:
    """Drop expired entries of the finished and failed registries and recover abandoned started jobs."""
    FinishedJobRegistry(queue=queue).cleanup()
    StartedJobRegistry(queue=queue).cleanup(exception_handlers=exception_handlers)
    FailedJobRegistry(queue=queue).cleanup()
