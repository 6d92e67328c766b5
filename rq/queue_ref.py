"""The model's view of a queue: ``QueueLike`` (what the model needs of one) and ``QueueRef``.

Model layer, below every other model module. A job's transitions (requeue, cancel,
delete, an abandoned job's recovery, releasing dependents) need a queue's name and
settings and one write, the enqueue. Where a worker or a ``Queue`` method passes its
``Queue``, they use it (a subclass's overrides apply); where there is none, the model
builds a ``QueueRef``, which writes through the contract (``rq.queue_writes``) instead
of building a ``Queue`` of the layer above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Protocol, Union

from . import layout, queue_writes
from .defaults import DEFAULT_JOB_TIMEOUT
from .timeouts import UnixSignalDeathPenalty

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

    from .job import Job

__all__ = ["QueueLike", "QueueRef"]


class QueueLike(Protocol):
    """What the model uses of a queue; ``rq.queue.Queue`` and ``QueueRef`` both have it."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def connection(self) -> "Redis": ...

    @property
    def serializer(self) -> Any: ...

    @property
    def job_class(self) -> type["Job"]: ...

    @property
    def death_penalty_class(self) -> Any: ...

    def _write_enqueue(self, job: "Job", pipe: "Pipeline", at_front: bool = False, push: bool = True) -> None: ...

    def remove(self, job_or_id: Union["Job", str], pipeline: Optional["Pipeline"] = None) -> Any: ...


class QueueRef:
    """A queue by name, with the settings a ``Queue(name, ...)`` built with defaults would have."""

    def __init__(
        self,
        name: str,
        connection: "Redis",
        job_class: type["Job"],
        serializer: Any = None,
        death_penalty_class: Any = None,
        default_timeout: int = DEFAULT_JOB_TIMEOUT,
    ) -> None:
        self.name = name
        self.connection = connection
        self.job_class = job_class
        self.serializer = serializer
        self.death_penalty_class = death_penalty_class or UnixSignalDeathPenalty
        self.default_timeout = default_timeout

    @classmethod
    def of_job(cls, job: "Job") -> "QueueRef":
        """The queue ``job`` belongs to (its ``origin``)."""
        return cls(job.origin, job.connection, type(job), job.serializer)

    @property
    def key(self) -> str:
        return layout.queue_key(self.name)

    def __repr__(self) -> str:
        return f"QueueRef({self.name!r})"

    def _write_enqueue(self, job: "Job", pipe: "Pipeline", at_front: bool = False, push: bool = True) -> None:
        """The writes of one enqueue on ``pipe`` (as ``Queue._write_enqueue``)."""
        if push:
            queue_writes.write_enqueue(pipe, job, self.name, self.default_timeout, at_front=at_front)
        else:
            queue_writes.write_queued_job(pipe, job, self.name, self.default_timeout)

    def remove(self, job_or_id: Union["Job", str], pipeline: Optional["Pipeline"] = None) -> Any:
        job_id = job_or_id if isinstance(job_or_id, str) else job_or_id.id
        return queue_writes.remove_job_id(pipeline if pipeline is not None else self.connection, self.name, job_id)
