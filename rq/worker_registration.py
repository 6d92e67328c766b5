"""Membership of workers in ``rq:workers`` and ``rq:workers:<queue>`` (sets of worker keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from . import layout
from .layout import as_text

if TYPE_CHECKING:
    from .queue import Queue

__all__ = ["clean_worker_registry", "get_keys", "register", "unregister"]


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
    keys = sorted(get_keys(queue))
    if not keys:
        return
    with queue.connection.pipeline() as pipe:
        for key in keys:
            pipe.exists(key)
        alive = pipe.execute()
        dead = [key for key, exists in zip(keys, alive) if not exists]
        if dead:
            pipe.srem(layout.WORKERS_KEY, *dead)
            pipe.srem(layout.workers_by_queue_key(queue.name), *dead)
            pipe.execute()
