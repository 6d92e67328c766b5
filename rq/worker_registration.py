"""Membership of workers in ``rq:workers`` and ``rq:workers:<queue>`` (sets of worker keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from . import layout
from .layout import as_text
from .utils import missing_keys, split_list

if TYPE_CHECKING:
    from .queue import Queue

__all__ = [
    "MAX_KEYS",
    "REDIS_WORKER_KEYS",
    "WORKERS_BY_QUEUE_KEY",
    "clean_worker_registry",
    "get_keys",
    "register",
    "unregister",
]

# The set of every worker key, and the %-template of the set of one queue's workers.
REDIS_WORKER_KEYS = layout.WORKERS_KEY
WORKERS_BY_QUEUE_KEY = layout.workers_by_queue_key("%s")
# Most keys removed by one SREM (a longer command could pass the server's argument limits).
MAX_KEYS = 1000


def register(worker: Any, pipeline: Any = None) -> None:
    conn = pipeline if pipeline is not None else worker.connection
    conn.sadd(layout.WORKERS_KEY, worker.key)
    for name in worker.queue_names():
        conn.sadd(layout.workers_by_queue_key(name), worker.key)


def unregister(worker: Any, pipeline: Any = None) -> None:
    conn = pipeline if pipeline is not None else worker.connection
    conn.srem(layout.WORKERS_KEY, worker.key)
    for name in worker.queue_names():
        conn.srem(layout.workers_by_queue_key(name), worker.key)


def get_keys(queue: Optional["Queue"] = None, connection: Optional[Redis] = None) -> set[str]:
    """Worker keys of every worker, or of the workers listening on ``queue``."""
    if queue is None and connection is None:
        raise ValueError("get_keys() needs a queue or a connection")
    if queue is not None:
        members = queue.connection.smembers(layout.workers_by_queue_key(queue.name))
    else:
        members = connection.smembers(layout.WORKERS_KEY)  # type: ignore[union-attr]
    return {as_text(member) for member in members}


def clean_worker_registry(queue: "Queue") -> None:
    """Drop keys of workers whose hash has expired from ``rq:workers`` and ``rq:workers:<queue>``."""
    dead = missing_keys(queue.connection, sorted(get_keys(queue)))
    if not dead:
        return
    with queue.connection.pipeline() as pipe:
        for chunk in split_list(dead, MAX_KEYS):
            pipe.srem(layout.workers_by_queue_key(queue.name), *chunk)
            pipe.srem(layout.WORKERS_KEY, *chunk)
            pipe.execute()
