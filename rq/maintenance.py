"""The worker's periodic maintenance pass over the queues it serves.

Under the per-queue lock ``rq:clean_registries:<q>`` (so one worker of a fleet does the
work): expire finished and failed entries, recover abandoned started jobs, prune dead
workers from the worker sets, and put back on the queue any job id a crashed worker left
in the queue's intermediate list.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import layout, scripting
from .defaults import INTERMEDIATE_STUCK_AFTER
from .intermediate_queue import FIRST_SEEN_TTL, IntermediateQueue
from .layout import as_text
from .registry import clean_registries
from .worker_registration import clean_worker_registry

if TYPE_CHECKING:
    from .queue import Queue

logger = logging.getLogger("rq.worker")

__all__ = ["clean_intermediate_queue", "rescue_intermediate", "return_to_queue", "run_maintenance"]

# Put a dequeued job back at the front of its queue if it never ran: it is still in the
# intermediate list (KEYS[1]), or its start was recorded (started registry KEYS[3] member
# ARGV[2]) by a worker that lost Redis before it could run it.
# KEYS: intermediate list, queue, started registry, first-seen mark, execution hash, job hash.
_RETURN_TO_QUEUE = """
local moved = redis.call('LREM', KEYS[1], 1, ARGV[1])
if ARGV[2] ~= '' then
  moved = moved + redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[5])
end
if moved == 0 then
  return 0
end
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('HSET', KEYS[6], 'status', 'queued', 'worker_name', '', 'started_at', '')
  redis.call('LPUSH', KEYS[2], ARGV[1])
end
return 1
"""

_RETURN = scripting.Script(_RETURN_TO_QUEUE, scripting.return_to_queue)


def run_maintenance(queues: Iterable["Queue"], exception_handlers: Iterable[Callable[..., Any]] = ()) -> list[str]:
    """Maintain each queue whose lock this call gets, then the job groups; returns the queues' names."""
    from .group import Group

    queues = list(queues)
    maintained = []
    for queue in queues:
        if not queue.acquire_maintenance_lock():
            continue
        try:
            clean_registries(queue, exception_handlers=list(exception_handlers))
            clean_worker_registry(queue)
            rescue_intermediate(queue)
            maintained.append(queue.name)
        finally:
            queue.release_maintenance_lock()
    if maintained:
        Group.clean_registries(queues[0].connection)
    return maintained


def rescue_intermediate(queue: "Queue", stuck_after: float = INTERMEDIATE_STUCK_AFTER) -> list[str]:
    """Put ids that have sat in the intermediate list for ``stuck_after`` seconds back at the queue's front.

    A worker moves an id there when it dequeues and removes it when the job starts; an id
    that stays was dequeued by a worker that died (or lost Redis) in between. Ids whose job
    is gone, or that are running (in the started registry), are dropped or left alone.
    """
    connection = queue.connection
    key = queue.intermediate_queue_key
    job_ids = [as_text(job_id) for job_id in connection.lrange(key, 0, -1)]
    if not job_ids:
        return []
    running = {
        member.split(":", 1)[0]
        for member in map(as_text, layout.zset_members(connection.zrange(queue.started_job_registry.key, 0, -1)))
    }
    rescued = []
    now = time.time()
    for job_id in job_ids:
        if job_id in running:
            continue
        origin = as_text(connection.hget(layout.job_key(job_id), "origin"))
        if origin != queue.name:
            connection.lrem(key, 1, job_id)
            continue
        seen_key = layout.intermediate_first_seen_key(queue.name, job_id)
        connection.set(seen_key, repr(now), nx=True, ex=FIRST_SEEN_TTL)
        first_seen = float(as_text(connection.get(seen_key)) or now)
        if now - first_seen < stuck_after:
            continue
        if not return_to_queue(queue, job_id):
            continue  # a worker started it meanwhile
        logger.warning(
            "Queue %s: job %s was left between dequeue and start by a lost worker; requeued it", queue.name, job_id
        )
        rescued.append(job_id)
    return rescued


def return_to_queue(queue: "Queue", job_id: str, execution_id: str = "") -> bool:
    """Put a dequeued job that never ran back at the front of ``queue`` (atomically, at most once).

    With ``execution_id``, also undo a start that was recorded for it (see ``_RETURN_TO_QUEUE``).
    """
    member = layout.composite_member(job_id, execution_id) if execution_id else ""
    keys = [
        queue.intermediate_queue_key,
        queue.key,
        layout.registry_key("started", queue.name),
        layout.intermediate_first_seen_key(queue.name, job_id),
        layout.execution_key(job_id, execution_id or "-"),
        layout.job_key(job_id),
    ]
    return bool(_RETURN(queue.connection, keys, [job_id, member]))


def clean_intermediate_queue(worker: Any, queue: "Queue") -> None:
    """Deprecated (as upstream RQ deprecates it): ``IntermediateQueue(queue.key, ...).cleanup(worker, queue)``.

    Ids whose job is gone are dropped; a job stuck in the intermediate list for over a
    minute is failed through ``worker``. This package's workers instead put stuck ids back
    on their queue in maintenance (``rescue_intermediate``).
    """
    warnings.warn(
        "clean_intermediate_queue is deprecated. Use IntermediateQueue.cleanup instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    IntermediateQueue(queue.key, connection=queue.connection).cleanup(worker, queue)
