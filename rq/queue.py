"""``Queue``: a named list of job ids (``rq:queue:<name>``), what it holds and how it is maintained.

Putting jobs on it (``enqueue`` and friends) lives in ``rq.enqueue``.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from functools import total_ordering
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union, cast

from redis import Redis, ResponseError

from . import layout, queue_writes
from .connections import resolve_connection
from .defaults import DEFAULT_JOB_TIMEOUT
from .enqueue import EnqueueData, Enqueueing
from .exceptions import NoSuchJobError
from .intermediate_queue import move_first, pop_first
from .job import Job
from .job_validation import check_ttl
from .layout import Text, as_text
from .registered_classes import register_queue_class
from .serializers import resolve_serializer
from .timeouts import BaseDeathPenalty, UnixSignalDeathPenalty
from .utils import backend_class, get_version

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


@total_ordering
class Queue(Enqueueing):
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
        if kwargs:  # upstream RQ ignores them; a warning shows the likely typo
            warnings.warn(
                f"Queue() ignores the keyword arguments {', '.join(sorted(kwargs))}", UserWarning, stacklevel=2
            )
        if not isinstance(name, str) or not name:
            raise ValueError(f"Queue name must be a non-empty string, got {name!r}")
        self.connection: Redis = resolve_connection(connection, "Queue")
        self.name = name
        self._key = layout.queue_key(name)
        timeout = check_ttl("default_timeout", default_timeout, allow_forever=True)
        self._default_timeout = timeout or self.DEFAULT_TIMEOUT
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
        """Queues are equal by name; comparing with anything else is a TypeError, as upstream RQ."""
        if not isinstance(other, Queue):
            raise TypeError(f"Cannot compare queues to other objects ({type(other).__name__})")
        return self.name == other.name

    def __lt__(self, other: "Queue") -> bool:
        if not isinstance(other, Queue):
            raise TypeError(f"Cannot compare queues to other objects ({type(other).__name__})")
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
        return [as_text(job_id) for job_id in self.connection.lrange(self.key, offset, end)]

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
        return queue_writes.job_position(self.connection, self.name, job_id)

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
        return queue_writes.remove_job_id(pipeline if pipeline is not None else self.connection, self.name, job_id)

    def compact(self) -> None:
        """Drop ids whose job hash no longer exists, keeping the order of the rest."""
        temporary = layout.compact_temporary_key(str(uuid.uuid4()))
        try:
            self.connection.rename(self.key, temporary)
        except ResponseError:
            return  # no such queue: nothing to compact
        while True:
            job_id = as_text(cast(Text, self.connection.lpop(temporary)))  # one id: no count
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
                    pipe.delete(layout.job_key(job_id), layout.dependents_key(job_id), layout.results_key(job_id))
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

    # ---- pause (this fork's extension: upstream workers do not know the flag) -----------------

    def pause(self, duration: Optional[int] = None) -> None:
        """Stop workers of this fork from taking jobs from this queue (for ``duration`` seconds).

        Jobs can still be enqueued; other queues are served as usual. Upstream RQ workers do
        not know the flag (``rq:paused:<name>``) and keep serving the queue.
        """
        if duration is not None and duration < 1:
            raise ValueError("A pause lasts at least 1 second")
        self.connection.set(layout.paused_queue_key(self.name), 1, ex=duration)

    def unpause(self) -> None:
        self.connection.delete(layout.paused_queue_key(self.name))

    @property
    def is_paused(self) -> bool:
        return bool(self.connection.exists(layout.paused_queue_key(self.name)))

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
        queue_writes.push_job_id(pipeline if pipeline is not None else self.connection, self.name, job_id, at_front)

    def pop_job_id(self) -> Optional[str]:
        return as_text(cast(Text, self.connection.lpop(self.key)))  # one id: no count

    @classmethod
    def lpop(
        cls, queue_keys: Sequence[str], timeout: Optional[int], connection: Optional[Redis] = None
    ) -> Optional[tuple[str, str]]:
        """(queue key, job id) from the first non-empty queue; ``timeout`` > 0 blocks, None does not."""
        return pop_first(resolve_connection(connection, "Queue.lpop"), queue_keys, timeout)

    @classmethod
    def lmove(cls, connection: Redis, queue_key: str, timeout: Optional[int]) -> Optional[tuple[str, str]]:
        """Move one id into the queue's intermediate list, so it is never only in memory."""
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
        """The next job of the first non-empty queue, skipping ids whose hash is gone.

        As upstream RQ, a single queue on Redis 6.2+ is read reliably: the id moves into the
        queue's intermediate list (LMOVE) instead of leaving Redis.
        """
        connection = resolve_connection(connection or (queues[0].connection if queues else None), "dequeue_any")
        by_key = {queue.key: queue for queue in queues}
        reliable = len(by_key) == 1 and get_version(connection) >= (6, 2, 0)
        while True:
            if reliable:
                popped = cls.lmove(connection, next(iter(by_key)), timeout)
            else:
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


register_queue_class(Queue)
