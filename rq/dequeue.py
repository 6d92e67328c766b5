"""Taking jobs off queues: the worker's dequeue loop and its strategies.

Every dequeued id first moves into its queue's intermediate list (``<queue key>:intermediate``)
in the same atomic step that takes it off the queue, so it is never only in a worker's memory:
if the worker dies before the job starts, maintenance puts the id back on the queue. One
queue on Redis >= 6.2 is watched with a blocking move; several queues are polled.
"""

from __future__ import annotations

import logging
import random
import time
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional, Union

from . import layout
from .exceptions import StopRequested
from .layout import as_text
from .resilience import _env_float

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue

logger = logging.getLogger("rq.worker")

# Longest single blocking dequeue; the loop checks for stop requests between slices.
DEQUEUE_BLOCK_SLICE = 1
# Polling delays when a blocking move cannot be used (several queues, Redis < 6.2).
DEQUEUE_POLL_INITIAL = 0.01
DEQUEUE_POLL_MAX = _env_float("RQ_DEQUEUE_POLL_MAX", 0.25)

# Pop the first available job id into its queue's intermediate list and read the job, in one
# round trip. Returns "suspended" while rq:suspended exists.
_DEQUEUE_SCRIPT = """
if ARGV[2] ~= '' and redis.call('EXISTS', ARGV[2]) == 1 then
  return 'suspended'
end
for _, key in ipairs(KEYS) do
  local job_id = redis.call('LPOP', key)
  if job_id then
    redis.call('RPUSH', key .. ':intermediate', job_id)
    return {key, job_id, redis.call('HGETALL', ARGV[1] .. job_id)}
  end
end
return false
"""


class DequeueStrategy(str, Enum):
    DEFAULT = "default"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"


def pop_first(connection: Any, queue_keys: Any, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LPOP (or BLPOP with ``timeout`` > 0) over ``queue_keys`` in order: (queue key, job id)."""
    from .exceptions import DequeueTimeout

    if timeout is not None:
        if timeout == 0:
            raise ValueError("Indefinite blocking is not supported: use a positive timeout")
        reply = connection.blpop(queue_keys, timeout)
        if reply is None:
            raise DequeueTimeout(timeout, queue_keys)
        return as_text(reply[0]), as_text(reply[1])  # type: ignore[return-value]
    for queue_key in queue_keys:
        job_id = connection.lpop(queue_key)
        if job_id is not None:
            return queue_key, as_text(job_id)  # type: ignore[return-value]
    return None


def move_first(connection: Any, queue_key: str, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LMOVE (or BLMOVE) the head of a queue into its intermediate list: (queue key, job id)."""
    from .exceptions import DequeueTimeout

    intermediate = queue_key + ":intermediate"
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
    return queue_key, as_text(job_id)  # type: ignore[return-value]


class Dequeuer:
    """Dequeueing part of the worker classes (an override point: ``dequeue_job_and_maintain_ttl``)."""

    name: str
    key: str
    connection: Any
    queues: list["Queue"]
    log_job_description: bool
    _stop_requested: bool
    _stop_event: Any
    _state: str
    _dequeue_strategy: "DequeueStrategy"
    _dequeue_script: Any
    _supports_blmove: Optional[bool]

    def reorder_queues(self, reference_queue: Queue) -> None:
        """Apply the dequeue strategy after a job was taken from ``reference_queue``."""
        if self._dequeue_strategy == DequeueStrategy.ROUND_ROBIN:
            index = self.queues.index(reference_queue)
            self.queues = self.queues[index + 1 :] + self.queues[: index + 1]
        elif self._dequeue_strategy == DequeueStrategy.RANDOM:
            random.shuffle(self.queues)

    def _pop_ready(self) -> Union[None, str, tuple[Job, Queue]]:
        """One non-blocking pass over the queues (in order); 'suspended' while suspended."""
        if self._dequeue_script is None:
            self._dequeue_script = self.connection.register_script(_DEQUEUE_SCRIPT)
        while True:
            reply = self._dequeue_script(
                keys=[q.key for q in self.queues], args=[layout.JOB_PREFIX, layout.SUSPENDED_KEY]
            )
            if not reply:
                return None
            if isinstance(reply, (bytes, str)):
                return "suspended"
            queue_key, job_id, flat = as_text(reply[0]), as_text(reply[1]), reply[2]
            queue = next(q for q in self.queues if q.key == queue_key)
            raw = dict(zip(flat[::2], flat[1::2]))
            found = self._job_from_hash(queue, job_id, raw)  # type: ignore[arg-type]
            if found is not None:
                return found

    def _job_from_hash(self, queue: Queue, job_id: str, raw: dict) -> Optional[tuple[Job, Queue]]:
        if not raw:
            # The hash expired (job ttl) or was deleted: nothing to run.
            self.connection.lrem(queue.intermediate_queue_key, 1, job_id)
            logger.debug("Worker %s: skipping job %s, its hash is gone", self.key, job_id)
            return None
        job = queue.job_class(job_id, connection=self.connection, serializer=queue.serializer)
        try:
            job.restore(raw)
        except Exception as exc:
            from .job_lifecycle import fail_unreadable_job

            reason = f"Job {job_id} could not be read from Redis: {type(exc).__name__}: {exc}"
            logger.warning("Worker %s: %s; moved it to the failed registry", self.key, reason)
            fail_unreadable_job(queue, job_id, reason)
            return None
        return job, queue

    def _blocking_move(self, queue: Queue, timeout: int) -> Optional[tuple[Job, Queue]]:
        job_id = as_text(self.connection.blmove(queue.key, queue.intermediate_queue_key, timeout, "LEFT", "RIGHT"))
        if job_id is None:
            return None
        return self._job_from_hash(queue, job_id, self.connection.hgetall(layout.job_key(job_id)))

    def _block_slice(self) -> float:
        """How long one blocking dequeue may wait: well under the socket timeout, at most a second."""
        socket_timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is None:
            return DEQUEUE_BLOCK_SLICE
        return max(0.1, min(DEQUEUE_BLOCK_SLICE, float(socket_timeout) / 2))

    def _can_block(self) -> bool:
        if len(self.queues) != 1:
            return False
        if self._supports_blmove is None:
            self._supports_blmove = self.get_redis_server_version() >= (6, 2, 0)
        return self._supports_blmove

    def dequeue_job_and_maintain_ttl(
        self, timeout: Optional[int], max_idle_time: Optional[int] = None
    ) -> Optional[tuple[Job, Queue]]:
        """The next job, heartbeating while idle; None when ``timeout`` is None (burst) and queues are empty.

        Every dequeued id goes through the queue's intermediate list, so it is never only in
        this process's memory; maintenance returns ids that a lost worker left there.
        """
        if self._state not in ("idle", "suspended"):
            self.set_state("idle")  # type: ignore[attr-defined]
        self.procline(f"Listening on {','.join(self.queue_names())}")
        idle_since = time.monotonic()
        poll = DEQUEUE_POLL_INITIAL
        while not self._stop_requested:
            self._heartbeat_if_due()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            found = self._pop_ready()
            self._redis_ok()
            if found == "suspended":
                if timeout is None:
                    logger.info("Worker %s: suspended in burst mode, exiting", self.key)
                    return None
                self.check_for_suspension(burst=False)
                continue
            if found is not None:
                job, queue = found  # type: ignore[misc]
                self._log_dequeued(job, queue)
                self.reorder_queues(queue)
                return job, queue
            if timeout is None:
                return None
            idle = time.monotonic() - idle_since
            if max_idle_time is not None and idle >= max_idle_time:
                return None
            if self._can_block():
                found = self._blocking_move(self.queues[0], self._block_slice())
                if found is not None:
                    self._log_dequeued(*found)
                    return found
            else:
                self._stop_event.wait(poll)
                poll = min(poll * 2, DEQUEUE_POLL_MAX)
        raise StopRequested()

    def _log_dequeued(self, job: Job, queue: Queue) -> None:
        if self.log_job_description:
            logger.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description, job.id)
        else:
            logger.info("Worker %s: %s: %s", self.name, queue.name, job.id)
