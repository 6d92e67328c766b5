"""Suspension: while ``rq:suspended`` exists, workers take no new jobs."""

from __future__ import annotations

from typing import Any, Optional

from redis import Redis

from .layout import SUSPENDED_KEY

__all__ = ["is_suspended", "resume", "suspend"]


def is_suspended(connection: Redis, worker: Any = None) -> bool:
    return bool(connection.exists(SUSPENDED_KEY))


def suspend(connection: Redis, ttl: Optional[int] = None) -> None:
    """Suspend every worker on this Redis, for ``ttl`` seconds or until ``resume``."""
    if ttl is not None and ttl < 1:
        raise ValueError("Suspension duration must be at least 1 second")
    connection.set(SUSPENDED_KEY, 1, ex=ttl)


def resume(connection: Redis) -> int:
    return connection.delete(SUSPENDED_KEY)
