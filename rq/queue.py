"""``Queue``: a named list of job ids (``rq:queue:<name>``) and the ways to put jobs on it."""

from __future__ import annotations

import logging
import traceback
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from functools import total_ordering
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

from redis import Redis, ResponseError, WatchError

from . import layout
from .batch import AtomicBatch
from .connections import resolve_connection
from .defaults import DEFAULT_JOB_TIMEOUT
from .exceptions import DuplicateJobError, NoSuchJobError
from .job import Job, JobStatus
from .layout import as_text, utcnow
from .serializers import resolve_serializer
from .timeouts import BaseDeathPenalty, UnixSignalDeathPenalty
from .utils import backend_class, get_version, parse_timeout

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .registry import (
        CanceledJobRegistry,
        DeferredJobRegistry,
        FailedJobRegistry,
        FinishedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

__all__ = ["EnqueueData", "Queue"]

logger = logging.getLogger("rq.queue")

_RESERVED_KWARGS = (
    "job_timeout",
    "description",
    "result_ttl",
    "ttl",
    "failure_ttl",
    "depends_on",
    "job_id",
    "at_front",
    "meta",
    "retry",
    "repeat",
    "on_success",
    "on_failure",
    "on_stopped",
    "pipeline",
    "unique",
    "webhooks",
)


class EnqueueData(NamedTuple):
    """One item of ``Queue.enqueue_many``; build it with ``Queue.prepare_data``."""

    func: Any
    args: Any
    kwargs: Any
    timeout: Any
    result_ttl: Any
    ttl: Any
    failure_ttl: Any
    description: Any
    depends_on: Any
    job_id: Any
    at_front: Any
    meta: Any
    retry: Any
    on_success: Any
    on_failure: Any
    on_stopped: Any
    repeat: Any = None
    webhooks: Any = None


@total_ordering
class Queue:
    """A queue of jobs; workers take job ids from the left, ``enqueue`` pushes on the right."""

    job_class: type[Job] = Job
    death_penalty_class: type[BaseDeathPenalty] = UnixSignalDeathPenalty
    DEFAULT_TIMEOUT = DEFAULT_JOB_TIMEOUT
    redis_queue_namespace_prefix = layout.QUEUE_PREFIX
    redis_queues_keys = layout.QUEUES_KEY

    def __init__(
        self,
        name: str = "default",
        connection: Optional[Redis] = None,
        default_timeout: Any = None,
        is_async: bool = True,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Optional[type[BaseDeathPenalty]] = None,
        **kwargs: Any,
    ) -> None:
        if connection is not None and not hasattr(connection, "pipeline"):
            # RQ 1.x order: Queue(name, default_timeout, connection)
            connection, default_timeout = (
                (default_timeout if hasattr(default_timeout, "pipeline") else None),
                connection,
            )
        if "async" in kwargs:
            warnings.warn("Queue(async=...) is deprecated, use is_async=", DeprecationWarning, stacklevel=2)
            is_async = kwargs.pop("async")
        if kwargs:
            raise TypeError(f"Queue() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Queue name must be a non-empty string, got {name!r}")
        self.connection: Redis = resolve_connection(connection, "Queue")
        self.name = name
        self._key = layout.queue_key(name)
        self._default_timeout = parse_timeout(default_timeout) or self.DEFAULT_TIMEOUT
        self._is_async = is_async
        self.job_class = backend_class(self, "job_class", override=job_class)
        self.serializer = resolve_serializer(serializer)
        self.death_penalty_class = death_penalty_class or type(self).death_penalty_class
        self.redis_server_version: Optional[tuple] = None

    # ---- identity ------------------------------------------------------------

    @property
    def key(self) -> str:
        return self._key

    @property
    def is_async(self) -> bool:
        return self._is_async

    @property
    def intermediate_queue_key(self) -> str:
        return layout.intermediate_queue_key(self.name)

    @property
    def registry_cleaning_key(self) -> str:
        return layout.clean_registries_key(self.name)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Iterator["Queue"]:
        yield self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Queue) and self.name == other.name

    def __lt__(self, other: "Queue") -> bool:
        return self.name < other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @classmethod
    def all(
        cls,
        connection: Optional[Redis] = None,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Optional[type[BaseDeathPenalty]] = None,
    ) -> list["Queue"]:
        """Every queue registered in ``rq:queues``, sorted by name."""
        connection = resolve_connection(connection, "Queue.all")
        keys = connection.smembers(layout.QUEUES_KEY)
        return sorted(
            cls.from_queue_key(
                as_text(key),
                connection=connection,
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            for key in keys
        )

    @classmethod
    def from_queue_key(
        cls,
        queue_key: str,
        connection: Optional[Redis] = None,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Optional[type[BaseDeathPenalty]] = None,
    ) -> "Queue":
        queue_key = as_text(queue_key) or ""
        if not queue_key.startswith(layout.QUEUE_PREFIX):
            raise ValueError(f"Not a valid RQ queue key: {queue_key}")
        return cls(
            queue_key[len(layout.QUEUE_PREFIX) :],
            connection=connection,
            job_class=job_class,
            serializer=serializer,
            death_penalty_class=death_penalty_class,
        )

    def get_redis_server_version(self) -> tuple:
        if self.redis_server_version is None:
            self.redis_server_version = get_version(self.connection)
        return self.redis_server_version

    # ---- contents ------------------------------------------------------------

    @property
    def count(self) -> int:
        return self.connection.llen(self.key)

    def is_empty(self) -> bool:
        return self.count == 0

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        end = -1 if length == -1 else offset + length - 1
        return [as_text(job_id) for job_id in self.connection.lrange(self.key, offset, end)]  # type: ignore[misc]

    def get_jobs(self, offset: int = 0, length: int = -1) -> list[Job]:
        jobs = self.job_class.fetch_many(self.get_job_ids(offset, length), self.connection, serializer=self.serializer)
        return [job for job in jobs if job is not None]

    @property
    def job_ids(self) -> list[str]:
        return self.get_job_ids()

    @property
    def jobs(self) -> list[Job]:
        return self.get_jobs()

    def fetch_job(self, job_id: str) -> Optional[Job]:
        """The job if it exists and belongs here; a dangling id is removed from the queue."""
        try:
            job = self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
        except NoSuchJobError:
            self.remove(job_id)
            return None
        return job if job.origin == self.name else None

    def get_job_position(self, job_or_id: Union[Job, str]) -> Optional[int]:
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        try:
            position = self.connection.lpos(self.key, job_id)
        except ResponseError:  # Redis < 6.0.6 has no LPOS
            job_ids = self.get_job_ids()
            return job_ids.index(job_id) if job_id in job_ids else None
        return None if position is None else int(position)

    # ---- registries ----------------------------------------------------------

    def _registry(self, kind: str) -> Any:
        from .registry import registry_class

        return registry_class(kind)(queue=self)

    started_job_registry = property(lambda self: self._registry("started"), doc="Running jobs.")
    finished_job_registry = property(lambda self: self._registry("finished"), doc="Successful jobs.")
    failed_job_registry = property(lambda self: self._registry("failed"), doc="Failed jobs.")
    deferred_job_registry = property(lambda self: self._registry("deferred"), doc="Jobs waiting on dependencies.")
    scheduled_job_registry = property(lambda self: self._registry("scheduled"), doc="Jobs due later.")
    canceled_job_registry = property(lambda self: self._registry("canceled"), doc="Canceled jobs.")

    if TYPE_CHECKING:
        started_job_registry: StartedJobRegistry  # type: ignore[no-redef]
        finished_job_registry: FinishedJobRegistry  # type: ignore[no-redef]
        failed_job_registry: FailedJobRegistry  # type: ignore[no-redef]
        deferred_job_registry: DeferredJobRegistry  # type: ignore[no-redef]
        scheduled_job_registry: ScheduledJobRegistry  # type: ignore[no-redef]
        canceled_job_registry: CanceledJobRegistry  # type: ignore[no-redef]

    # ---- maintenance -----------------------------------------------------------

    def remove(self, job_or_id: Union[Job, str], pipeline: Optional["Pipeline"] = None) -> Any:
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        return (pipeline if pipeline is not None else self.connection).lrem(self.key, 1, job_id)

    def compact(self) -> None:
        """Drop ids whose job hash no longer exists, keeping the order of the rest."""
        temporary = f"{layout.QUEUE_PREFIX}_compact:{uuid.uuid4()}"
        try:
            self.connection.rename(self.key, temporary)
        except ResponseError:
            return  # no such queue: nothing to compact
        while True:
            job_id = as_text(self.connection.lpop(temporary))
            if job_id is None:
                break
            if self.job_class.exists(job_id, self.connection):
                self.connection.rpush(self.key, job_id)

    def empty(self) -> int:
        """Remove every queued job (their hashes, dependents sets and results too); returns how many."""
        removed = 0
        while True:
            with self.connection.pipeline() as pipe:
                pipe.lrange(self.key, 0, 999)
                pipe.ltrim(self.key, 1000, -1)  # LPOP with a count needs Redis 6.2
                job_ids = [as_text(job_id) for job_id in pipe.execute()[0]]
            if not job_ids:
                return removed
            with self.connection.pipeline() as pipe:
                for job_id in job_ids:
                    pipe.delete(layout.job_key(job_id), layout.dependents_key(job_id), layout.results_key(job_id))  # type: ignore[arg-type]
                pipe.execute()
            removed += len(job_ids)

    def delete(self, delete_jobs: bool = True) -> None:
        """Delete the queue (and, by default, its jobs) and unregister it."""
        if delete_jobs:
            self.empty()
        with self.connection.pipeline() as pipe:
            pipe.srem(layout.QUEUES_KEY, self.key)
            pipe.delete(self.key)
            pipe.execute()

    def acquire_maintenance_lock(self) -> bool:
        from .defaults import MAINTENANCE_LOCK_TTL

        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK_TTL))

    def release_maintenance_lock(self) -> None:
        self.connection.delete(self.registry_cleaning_key)

    @property
    def scheduler_pid(self) -> Optional[int]:
        owner = as_text(self.connection.get(layout.scheduler_lock_key(self.name)))
        if owner is None:
            return None
        if owner.isdigit():  # RQ 1.x stores the pid itself
            return int(owner)
        pid = self.connection.hget(layout.scheduler_key(owner), "pid")
        return int(pid) if pid else None

    # ---- list operations ---------------------------------------------------

    def push_job_id(self, job_id: str, pipeline: Optional["Pipeline"] = None, at_front: bool = False) -> None:
        conn: Any = pipeline if pipeline is not None else self.connection
        (conn.lpush if at_front else conn.rpush)(self.key, job_id)

    def pop_job_id(self) -> Optional[str]:
        return as_text(self.connection.lpop(self.key))

    @classmethod
    def lpop(
        cls, queue_keys: Sequence[str], timeout: Optional[int], connection: Optional[Redis] = None
    ) -> Optional[tuple[str, str]]:
        """(queue key, job id) from the first non-empty queue; ``timeout`` > 0 blocks, None does not."""
        from .dequeue import pop_first

        return pop_first(resolve_connection(connection, "Queue.lpop"), queue_keys, timeout)

    @classmethod
    def lmove(cls, connection: Redis, queue_key: str, timeout: Optional[int]) -> Optional[tuple[str, str]]:
        """Move one id into the queue's intermediate list, so it is never only in memory."""
        from .dequeue import move_first

        return move_first(connection, queue_key, timeout)

    @classmethod
    def dequeue_any(
        cls,
        queues: Sequence["Queue"],
        timeout: Optional[int],
        connection: Optional[Redis] = None,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> Optional[tuple[Job, "Queue"]]:
        """The next job of the first non-empty queue, skipping ids whose hash is gone."""
        connection = resolve_connection(connection or (queues[0].connection if queues else None), "dequeue_any")
        by_key = {queue.key: queue for queue in queues}
        while True:
            popped = cls.lpop(list(by_key), timeout, connection=connection)
            if popped is None:
                return None
            queue = by_key[popped[0]]
            job_cls = job_class or queue.job_class
            try:
                job = job_cls.fetch(popped[1], connection=connection, serializer=serializer or queue.serializer)
            except NoSuchJobError:
                continue
            return job, queue

    # ---- enqueueing ----------------------------------------------------------

    @classmethod
    def parse_args(cls, f: Any, *args: Any, **kwargs: Any) -> tuple:
        """Split ``enqueue``'s arguments into the reserved options and the call's own arguments."""
        options = {name: kwargs.pop(name, None) for name in _RESERVED_KWARGS}
        options["at_front"] = bool(options["at_front"])
        options["unique"] = bool(options["unique"])
        if "args" in kwargs or "kwargs" in kwargs:
            assert args == (), "Extra positional arguments cannot be used when using explicit args and kwargs"
            args = kwargs.pop("args", None) or ()
            kwargs = kwargs.pop("kwargs", None) or {}
        return f, args, kwargs, options

    @staticmethod
    def prepare_data(
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        at_front: bool = False,
        meta: Any = None,
        retry: Any = None,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        repeat: Any = None,
        webhooks: Any = None,
    ) -> EnqueueData:
        return EnqueueData(
            func,
            args,
            kwargs,
            timeout,
            result_ttl,
            ttl,
            failure_ttl,
            description,
            depends_on,
            job_id,
            at_front,
            meta,
            retry,
            on_success,
            on_failure,
            on_stopped,
            repeat,
            webhooks,
        )

    def create_job(
        self,
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        meta: Any = None,
        status: JobStatus = JobStatus.QUEUED,
        retry: Any = None,
        repeat: Any = None,
        *,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        webhooks: Any = None,
        group_id: Optional[str] = None,
    ) -> Job:
        """Build a job for this queue without enqueueing it."""
        return self.job_class.create(
            func,
            args=args,
            kwargs=kwargs,
            connection=self.connection,
            result_ttl=result_ttl,
            ttl=ttl,
            status=status,
            description=description,
            depends_on=depends_on,
            timeout=self._default_timeout if timeout is None else timeout,
            retry=retry,
            id=job_id,
            origin=self.name,
            meta=meta,
            failure_ttl=failure_ttl,
            serializer=self.serializer,
            group_id=group_id,
            on_success=on_success,
            on_failure=on_failure,
            on_stopped=on_stopped,
            webhooks=webhooks,
            repeat=repeat,
        )

    def enqueue_call(
        self,
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        at_front: bool = False,
        meta: Any = None,
        retry: Any = None,
        repeat: Any = None,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        pipeline: Optional["Pipeline"] = None,
        unique: bool = False,
        webhooks: Any = None,
    ) -> Job:
        """Create a job for ``func(*args, **kwargs)`` and enqueue it (or defer it on dependencies)."""
        if unique and job_id is None:
            raise ValueError("unique=True needs an explicit job_id")
        if unique and depends_on is not None:
            raise ValueError("unique=True cannot be combined with depends_on")
        job = self.create_job(
            func,
            args=args,
            kwargs=kwargs,
            timeout=timeout,
            result_ttl=result_ttl,
            ttl=ttl,
            failure_ttl=failure_ttl,
            description=description,
            depends_on=depends_on,
            job_id=job_id,
            meta=meta,
            retry=retry,
            repeat=repeat,
            on_success=on_success,
            on_failure=on_failure,
            on_stopped=on_stopped,
            webhooks=webhooks,
        )
        return self.enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=unique)

    def enqueue(self, f: Any, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``f(*args, **kwargs)``; reserved keywords (job_timeout, result_ttl, ...) configure the job."""
        f, args, kwargs, options = self.parse_args(f, *args, **kwargs)
        return self.enqueue_call(
            func=f,
            args=args,
            kwargs=kwargs,
            timeout=options["job_timeout"],
            result_ttl=options["result_ttl"],
            ttl=options["ttl"],
            failure_ttl=options["failure_ttl"],
            description=options["description"],
            depends_on=options["depends_on"],
            job_id=options["job_id"],
            at_front=options["at_front"],
            meta=options["meta"],
            retry=options["retry"],
            repeat=options["repeat"],
            on_success=options["on_success"],
            on_failure=options["on_failure"],
            on_stopped=options["on_stopped"],
            pipeline=options["pipeline"],
            unique=options["unique"],
            webhooks=options["webhooks"],
        )

    def enqueue_job(
        self, job: Job, pipeline: Optional["Pipeline"] = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        """Enqueue an existing job: defer it if its dependencies are unmet, run it inline if not async."""
        from .dependency import defer_if_unmet

        if unique and (job._id is None or job.dependency_ids):
            raise ValueError("unique=True needs an explicit job_id and cannot be combined with depends_on")
        job.origin = self.name
        if job.dependency_ids and defer_if_unmet(self, job, pipeline=pipeline):
            return job
        if unique and self._is_async:
            self._write_unique(job, lambda pipe: self._write_enqueue(job, pipe, at_front=at_front))
            return job
        if unique:
            self._write_unique(job, lambda pipe: job.save(pipeline=pipe))
        if not self._is_async:
            return self.run_sync(job)
        return self._enqueue_job(job, pipeline=pipeline, at_front=at_front)

    def _enqueue_job(
        self, job: Job, pipeline: Optional["Pipeline"] = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        """Put ``job`` on this queue without looking at its dependencies (as upstream's private helper)."""
        own = pipeline is None
        pipe: Any = AtomicBatch(self.connection) if own else pipeline
        self._write_enqueue(job, pipe, at_front=at_front)
        if own:
            pipe.execute(replies=False)
        return job

    def _write_enqueue(self, job: Job, pipe: "Pipeline", at_front: bool = False, push: bool = True) -> None:
        """Queue the writes of one enqueue on ``pipe``: register queue, save job, push its id.

        With ``push=False`` the caller registers the queue and pushes the id itself (batches).
        """
        job.origin = self.name
        job.enqueued_at = utcnow()
        job._status = JobStatus.QUEUED.value
        if job.timeout is None:
            job.timeout = self._default_timeout
        fields = job.to_dict()
        if push:
            pipe.sadd(layout.QUEUES_KEY, self.key)
        pipe.hset(job.key, mapping=fields)
        if job.ttl:
            pipe.expire(job.key, job.ttl)
        if push:
            self.push_job_id(job.id, pipeline=pipe, at_front=at_front)

    def _write_unique(self, job: Job, write: Callable[[Any], Any]) -> None:
        """Run ``write(pipe)`` in one transaction, only if no job with this id exists yet."""
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(job.key)
                    if pipe.exists(job.key):
                        raise DuplicateJobError(f"Job {job.id} already exists")
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return
                except WatchError:
                    continue

    def enqueue_many(
        self, job_datas: Iterable[EnqueueData], pipeline: Optional["Pipeline"] = None, group_id: Optional[str] = None
    ) -> list[Job]:
        """Enqueue many jobs in one pipeline; a job may depend on another job of the same batch."""
        job_datas = list(job_datas)
        jobs = [
            self.create_job(
                data.func,
                args=data.args,
                kwargs=data.kwargs,
                timeout=data.timeout,
                result_ttl=data.result_ttl,
                ttl=data.ttl,
                failure_ttl=data.failure_ttl,
                description=data.description,
                depends_on=data.depends_on,
                job_id=data.job_id,
                meta=data.meta,
                retry=data.retry,
                repeat=data.repeat,
                on_success=data.on_success,
                on_failure=data.on_failure,
                on_stopped=data.on_stopped,
                webhooks=data.webhooks,
                group_id=group_id,
            )
            for data in job_datas
        ]
        fronts = [bool(data.at_front) for data in job_datas]
        if not self._is_async:
            return [self.enqueue_job(job) for job in jobs]
        from .dependency import defer_if_unmet

        own = pipeline is None
        pipe: Any = AtomicBatch(self.connection) if own else pipeline
        batch_ids = [job.id for job in jobs]
        pipe.sadd(layout.QUEUES_KEY, self.key)
        to_push = []
        for job, at_front in zip(jobs, fronts):
            job.origin = self.name
            if not (job.dependency_ids and defer_if_unmet(self, job, pipeline=pipe, pending=batch_ids)):
                self._write_enqueue(job, pipe, push=False)
                if at_front:
                    pipe.lpush(self.key, job.id)
                else:
                    to_push.append(job.id)
        if to_push:  # one push keeps their order, after the at_front ones went to the head
            pipe.rpush(self.key, *to_push)
        if group_id is not None:
            pipe.sadd(layout.group_key(group_id), *[job.id for job in jobs])
            pipe.sadd(layout.GROUPS_KEY, group_id)
        if own:
            pipe.execute(replies=False)
        return jobs

    def enqueue_at(self, datetime_: datetime, f: Any, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``f(*args, **kwargs)`` for ``datetime_`` (naive = local time)."""
        f, args, kwargs, options = self.parse_args(f, *args, **kwargs)
        job = self.create_job(
            f,
            args=args,
            kwargs=kwargs,
            timeout=options["job_timeout"],
            result_ttl=options["result_ttl"],
            ttl=options["ttl"],
            failure_ttl=options["failure_ttl"],
            description=options["description"],
            depends_on=options["depends_on"],
            job_id=options["job_id"],
            meta=options["meta"],
            status=JobStatus.SCHEDULED,
            retry=options["retry"],
            repeat=options["repeat"],
            on_success=options["on_success"],
            on_failure=options["on_failure"],
            on_stopped=options["on_stopped"],
            webhooks=options["webhooks"],
        )
        if options["at_front"]:
            job.enqueue_at_front = True
        return self.schedule_job(job, datetime_, pipeline=options["pipeline"])

    def enqueue_in(self, time_delta: timedelta, f: Any, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``f(*args, **kwargs)`` to run ``time_delta`` from now."""
        return self.enqueue_at(datetime.now(timezone.utc) + time_delta, f, *args, **kwargs)

    def schedule_job(
        self, job: Job, datetime_: datetime, pipeline: Optional["Pipeline"] = None, unique: bool = False
    ) -> Job:
        """Save ``job`` as scheduled and add it to the scheduled registry, in one transaction."""
        if unique:
            if job._id is None:
                raise ValueError("unique=True needs an explicit job_id")
            self._write_unique(job, lambda pipe: self.schedule_job(job, datetime_, pipeline=pipe))
            return job
        from .registry import ScheduledJobRegistry

        own = pipeline is None
        pipe: Any = self.connection.pipeline() if own else pipeline
        job.origin = self.name
        job._status = JobStatus.SCHEDULED.value
        if job.timeout is None:
            job.timeout = self._default_timeout
        pipe.sadd(layout.QUEUES_KEY, self.key)
        job.save(pipeline=pipe)
        if job.ttl:
            pipe.expire(job.key, job.ttl)
        ScheduledJobRegistry(queue=self).schedule(job, datetime_, pipeline=pipe)
        if own:
            pipe.execute()
        return job

    def enqueue_dependents(
        self,
        job: Job,
        pipeline: Optional["Pipeline"] = None,
        exclude_job_id: Optional[str] = None,
        refresh_job_status: bool = True,
    ) -> list[Job]:
        """Enqueue the dependents of ``job`` whose dependencies are now all met."""
        from .dependency import release_dependents

        return release_dependents(job, pipeline=pipeline, exclude_job_id=exclude_job_id)

    def setup_dependencies(self, job: Job, pipeline: Optional["Pipeline"] = None) -> Job:
        from .dependency import defer_if_unmet

        defer_if_unmet(self, job, pipeline=pipeline)
        return job

    # ---- synchronous mode ----------------------------------------------------

    def run_job(self, job: Job) -> Job:
        return self.run_sync(job)

    def run_sync(self, job: Job) -> Job:
        """Run the job in this process (``is_async=False``) and record its outcome like a worker would."""
        from .job_lifecycle import record_failure, record_success

        with self.connection.pipeline() as pipe:
            job._status = JobStatus.STARTED.value
            job.started_at = utcnow()
            job.origin = self.name
            job.save(pipeline=pipe)
            pipe.execute()
        try:
            return_value = job.perform()
        except Exception:
            exc_string = traceback.format_exc()
            job.ended_at = utcnow()
            record_failure(
                job,
                self,
                exc_string=exc_string,
                exc_info=None,
                worker_name="",
                death_penalty_class=self.death_penalty_class,
            )
            logger.info("Job %s failed in synchronous mode", job.id)
        else:
            job.ended_at = utcnow()
            record_success(job, self, return_value, worker_name="", death_penalty_class=self.death_penalty_class)
        return job
