"""The cron scheduler registry: the ``CronScheduler`` processes that are running.

``rq:cron_schedulers`` is a sorted set of scheduler names, each scored by the Unix time of
the scheduler's latest heartbeat (its registration, at first). A running scheduler
heartbeats well within ``DEFAULT_CRON_SCHEDULER_TTL`` (120 s); an entry older than that
belongs to a scheduler that stopped without unregistering, and ``cleanup`` removes it.
Each scheduler also describes itself in the hash ``rq:cron_scheduler:<name>`` (see
``rq.cron.CronScheduler``); ``CronScheduler.all`` reads both.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional, cast

from . import layout
from .defaults import DEFAULT_CRON_SCHEDULER_TTL
from .exceptions import DuplicateSchedulerError, SchedulerNotFound
from .layout import as_text

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

    from .cron import CronScheduler

__all__ = ["cleanup", "get_keys", "get_registry_key", "register", "unregister"]


def get_registry_key() -> str:
    """The key of the registry: ``rq:cron_schedulers``."""
    return layout.CRON_SCHEDULERS_KEY


def _target(cron_scheduler: "CronScheduler", pipeline: Optional["Pipeline"]) -> Any:
    if pipeline is not None:
        return pipeline
    if cron_scheduler.connection is None:
        raise RuntimeError(f"Cron scheduler {cron_scheduler.name} has no Redis connection")
    return cron_scheduler.connection


def register(cron_scheduler: "CronScheduler", pipeline: Optional["Pipeline"] = None) -> None:
    """Add the scheduler's name, scored now; DuplicateSchedulerError if the name is listed already.

    With a pipeline the write is only queued, so the duplicate check cannot happen here.
    """
    reply = _target(cron_scheduler, pipeline).zadd(get_registry_key(), {cron_scheduler.name: time.time()}, nx=True)
    if isinstance(reply, int) and reply == 0:
        raise DuplicateSchedulerError(f"A cron scheduler named {cron_scheduler.name!r} is already registered")


def unregister(cron_scheduler: "CronScheduler", pipeline: Optional["Pipeline"] = None) -> None:
    """Remove the scheduler's name; SchedulerNotFound if it was not listed (not checked with a pipeline)."""
    reply = _target(cron_scheduler, pipeline).zrem(get_registry_key(), cron_scheduler.name)
    if isinstance(reply, int) and reply == 0:
        raise SchedulerNotFound(f"No cron scheduler named {cron_scheduler.name!r} is registered")


def get_keys(connection: "Redis") -> list[str]:
    """The registered scheduler names, the least recently seen first."""
    names = cast("list[Any]", connection.zrange(get_registry_key(), 0, -1))
    return [as_text(name) or "" for name in names]


def cleanup(connection: "Redis", threshold: int = DEFAULT_CRON_SCHEDULER_TTL) -> int:
    """Remove the schedulers not seen for more than ``threshold`` seconds; how many went."""
    cutoff = time.time() - threshold
    return int(cast(int, connection.zremrangebyscore(get_registry_key(), "-inf", cutoff)))
