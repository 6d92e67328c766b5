"""The cron job registry: which cron jobs have run lately, readable without a running scheduler.

``rq:cron_jobs`` is a sorted set of cron job names, each scored by the Unix time of its
latest enqueue. Every enqueue by a cron job refreshes its entry, in the same transaction
that adds the spawned job to the cron job's history ``rq:cron_job:<name>:jobs`` (read it
with ``rq.cron.get_cron_job_ids``). Monitoring tools list the names here and read each
history, whether or not a ``CronScheduler`` is running. An entry older than the history's
TTL (one year) points at a history that has expired: readers prune such entries.

Cron jobs may share a name (they then share a history); the name is listed once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from . import layout
from .defaults import DEFAULT_CRON_JOB_HISTORY_TTL
from .layout import as_text

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

__all__ = ["add", "get_names", "get_registry_key", "remove_stale_entries"]


def get_registry_key() -> str:
    """The key of the registry: ``rq:cron_jobs``."""
    return layout.CRON_JOBS_KEY


def add(name: str, connection: Union["Redis", "Pipeline"], enqueue_timestamp: Optional[float] = None) -> None:
    """Record that the cron job ``name`` enqueued a job at ``enqueue_timestamp`` (default: now).

    A name already listed gets the new time. With a pipeline, the write is queued on it.
    """
    score = enqueue_timestamp or time.time()
    connection.zadd(get_registry_key(), {name: score})


def get_names(connection: "Redis", cleanup: bool = True) -> list[str]:
    """The names in the registry, the least recently enqueued first.

    With ``cleanup`` (the default), stale entries are removed first (``remove_stale_entries``).
    """
    if cleanup:
        remove_stale_entries(connection)
    names = cast("list[Any]", connection.zrange(get_registry_key(), 0, -1))
    return [as_text(name) or "" for name in names]


def remove_stale_entries(connection: "Redis", threshold: int = DEFAULT_CRON_JOB_HISTORY_TTL) -> int:
    """Remove the names whose latest enqueue is more than ``threshold`` seconds old; how many went."""
    cutoff = time.time() - threshold
    return int(cast(int, connection.zremrangebyscore(get_registry_key(), "-inf", cutoff)))
