"""The queue's own list operations: taking ids off queue lists, and the intermediate list.

A worker that dequeues with a blocking move puts the id in the queue's intermediate list
(``rq:queue:<name>:intermediate``) before it records the job's start, so the id is never
only in memory. ``pop_first`` and ``move_first`` are the list operations behind
``Queue.lpop`` and ``Queue.lmove``; ``IntermediateQueue`` is upstream RQ's view of the
intermediate list (upstream module ``rq.intermediate_queue``).

Queue layer: this module imports only the contract (``rq.layout``) and primitives.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from . import layout
from .defaults import INTERMEDIATE_STUCK_AFTER
from .exceptions import DequeueTimeout
from .layout import as_text

if TYPE_CHECKING:
    from redis import Redis

    from .queue import Queue

__all__ = ["FIRST_SEEN_TTL", "IntermediateQueue", "move_first", "pop_first"]

# How long a first-seen mark of an intermediate id is kept (as upstream does).
FIRST_SEEN_TTL = 86400


def pop_first(connection: Any, queue_keys: Any, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LPOP (or BLPOP with ``timeout`` > 0) over ``queue_keys`` in order: (queue key, job id)."""
    if timeout is not None:
        if timeout == 0:
            raise ValueError("Indefinite blocking is not supported: use a positive timeout")
        reply = connection.blpop(queue_keys, timeout)
        if reply is None:
            raise DequeueTimeout(timeout, queue_keys)
        return as_text(reply[0]), as_text(reply[1])
    for queue_key in queue_keys:
        job_id = connection.lpop(queue_key)
        if job_id is not None:
            return queue_key, as_text(job_id)
    return None


def move_first(connection: Any, queue_key: str, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LMOVE (or BLMOVE) the head of a queue into its intermediate list: (queue key, job id)."""
    intermediate = layout.intermediate_key_of(queue_key)
    if timeout is not None:
        if timeout == 0:
            raise ValueError("Indefinite blocking is not supported: use a positive timeout")
        job_id = connection.blmove(queue_key, intermediate, timeout, "LEFT", "RIGHT")
        if job_id is None:
            raise DequeueTimeout(timeout, queue_key)
    else:
        job_id = connection.lmove(queue_key, intermediate, "LEFT", "RIGHT")
        if job_id is None:
            return None
    return queue_key, as_text(job_id)


class IntermediateQueue:
    """The intermediate list of one queue, with upstream RQ 2.x's methods.

    This fork's workers look after the list in their maintenance pass
    (``rq.maintenance.rescue_intermediate``), which puts stuck ids back on their queue;
    ``cleanup`` keeps upstream's rule (fail a job stuck there) for code that calls it.
    """

    def __init__(self, queue_key: str, connection: "Redis") -> None:
        self.queue_key = queue_key
        self.key = self.get_intermediate_queue_key(queue_key)
        self.connection = connection

    @classmethod
    def get_intermediate_queue_key(cls, queue_key: str) -> str:
        """The intermediate list's key of the queue whose key is ``queue_key``."""
        return layout.intermediate_key_of(queue_key)

    def get_first_seen_key(self, job_id: str) -> str:
        """The key that marks when maintenance first saw ``job_id`` in the list."""
        return layout.first_seen_key_of(self.key, job_id)

    def set_first_seen(self, job_id: str) -> bool:
        """Mark ``job_id`` as seen now, unless it already is; True if this call marked it."""
        return bool(self.connection.set(self.get_first_seen_key(job_id), layout.float_ts(), nx=True, ex=FIRST_SEEN_TTL))

    def get_first_seen(self, job_id: str) -> Optional[datetime]:
        """When ``job_id`` was first seen in the list, or None."""
        timestamp = as_text(self.connection.get(self.get_first_seen_key(job_id)))
        if not timestamp:
            return None
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc)

    def should_be_cleaned_up(self, job_id: str) -> bool:
        """True if ``job_id`` has been in the list for longer than a minute."""
        first_seen = self.get_first_seen(job_id)
        if first_seen is None:
            return False
        return (layout.utcnow() - first_seen).total_seconds() > INTERMEDIATE_STUCK_AFTER

    def get_job_ids(self) -> list[str]:
        """The ids in the list, oldest first."""
        return [as_text(job_id) for job_id in self.connection.lrange(self.key, 0, -1)]

    def remove(self, job_id: str) -> None:
        """Remove one occurrence of ``job_id`` from the list."""
        self.connection.lrem(self.key, 1, job_id)

    def cleanup(self, worker: Any, queue: "Queue") -> None:
        """Upstream's rule: drop ids whose job is gone; fail (through ``worker``) a job stuck over a minute.

        Jobs in the started registry are running and left alone.
        """
        started = queue.started_job_registry
        for job_id in self.get_job_ids():
            if job_id in started:
                continue
            job = queue.fetch_job(job_id)
            if job is None:
                self.remove(job_id)
                continue
            if self.set_first_seen(job_id):
                continue  # first sighting: give the worker that took it time to start it
            if self.should_be_cleaned_up(job_id):
                worker.handle_job_failure(job, queue, exc_string="Job was stuck in intermediate queue.")
                self.remove(job_id)
