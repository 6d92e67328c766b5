"""The writes that put a job on a queue list, in upstream RQ's layout.

Contract layer: this module imports only the contract (``rq.layout``, ``rq.status``).
``Queue`` (queue layer) and the model (registries, dependencies, job transitions) both
write through these functions, so the model never needs to build a ``Queue`` to enqueue,
and what an enqueue writes is stated once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, cast

from redis.exceptions import ResponseError

from . import layout
from .layout import as_text
from .status import JobStatus

if TYPE_CHECKING:
    from .job import Job

__all__ = ["job_position", "push_job_id", "register_queue", "remove_job_id", "write_enqueue", "write_queued_job"]


def register_queue(pipe: Any, queue_name: str) -> None:
    """Add the queue to the set of queues (``rq:queues``)."""
    pipe.sadd(layout.QUEUES_KEY, layout.queue_key(queue_name))


def push_job_id(pipe: Any, queue_name: str, job_id: str, at_front: bool = False) -> None:
    """Push ``job_id`` on the queue's list: at the tail, or at the head with ``at_front``."""
    (pipe.lpush if at_front else pipe.rpush)(layout.queue_key(queue_name), job_id)


def remove_job_id(pipe: Any, queue_name: str, job_id: str) -> Any:
    """Remove one occurrence of ``job_id`` from the queue's list."""
    return pipe.lrem(layout.queue_key(queue_name), 1, job_id)


def write_queued_job(pipe: Any, job: "Job", queue_name: str, default_timeout: Optional[int]) -> None:
    """Save ``job`` as queued on ``queue_name`` (its whole hash, and its TTL); no list push."""
    job.origin = queue_name
    job.enqueued_at = layout.utcnow()
    job._status = JobStatus.QUEUED.value
    if job.timeout is None:
        job.timeout = default_timeout
    pipe.hset(job.key, mapping=layout.redis_fields(job.to_dict()))
    if job.ttl:
        pipe.expire(job.key, job.ttl)


def write_enqueue(
    pipe: Any, job: "Job", queue_name: str, default_timeout: Optional[int], at_front: bool = False
) -> None:
    """One enqueue: register the queue, save the job as queued, push its id."""
    register_queue(pipe, queue_name)
    write_queued_job(pipe, job, queue_name, default_timeout)
    push_job_id(pipe, queue_name, job.id, at_front=at_front)


def job_position(connection: Any, queue_name: str, job_id: str) -> Optional[int]:
    """Index of ``job_id`` in the queue's list, or None."""
    key = layout.queue_key(queue_name)
    try:
        # Without count, LPOS answers one index, not a list (redis-py's annotation allows both).
        position = cast(Optional[int], connection.lpos(key, job_id))
    except ResponseError:  # Redis < 6.0.6 has no LPOS
        job_ids = [as_text(member) for member in connection.lrange(key, 0, -1)]
        return job_ids.index(job_id) if job_id in job_ids else None
    return None if position is None else int(position)
