"""Atomic Redis operations behind unique enqueues and owned locks (upstream module ``rq.scripts``).

Each function runs one Lua script, so its check and its writes cannot interleave with
another client's: ``save_unique_job`` and ``schedule_unique_job`` write a job only if no
job with its id exists; ``acquire_or_refresh_lock`` and ``release_lock`` touch a lock only
when it is free or still holds the caller's token.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from . import layout
from .exceptions import DuplicateJobError

if TYPE_CHECKING:
    from redis import Redis

    from .job import Job

__all__ = [
    "ACQUIRE_OR_REFRESH_LOCK_SCRIPT",
    "RELEASE_LOCK_SCRIPT",
    "UNIQUE_ENQUEUE_SCRIPT",
    "UNIQUE_SCHEDULE_SCRIPT",
    "acquire_or_refresh_lock",
    "get_unique_enqueue_script",
    "get_unique_schedule_script",
    "release_lock",
    "save_unique_job",
    "schedule_unique_job",
]

logger = logging.getLogger("rq.scripts")

# Write a job hash unless it exists, then push its id.
# KEYS: job hash, queue list, set of queues. ARGV: job id, where to push ("L" head, "R" tail,
# "N" nowhere), TTL in seconds (<= 0: none), queue key, then the hash's field/value pairs.
UNIQUE_ENQUEUE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if #ARGV > 4 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
end
local ttl = tonumber(ARGV[3])
if ttl and ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
if ARGV[2] == 'L' then
  redis.call('LPUSH', KEYS[2], ARGV[1])
elseif ARGV[2] == 'R' then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
if ARGV[2] ~= 'N' then
  redis.call('SADD', KEYS[3], ARGV[4])
end
return 1
"""

# Write a job hash unless it exists, then add it to a scheduled registry.
# KEYS: job hash, scheduled registry, set of queues. ARGV: job id, TTL in seconds (<= 0:
# none), due time (Unix seconds), queue key, then the hash's field/value pairs.
UNIQUE_SCHEDULE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if #ARGV > 4 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""

# Take a free lock or extend one that holds our token. KEYS: lock. ARGV: token, TTL.
# Replies 1 (taken now), 2 (extended) or 0 (held by another token: untouched).
ACQUIRE_OR_REFRESH_LOCK_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 2
end
return 0
"""

# Delete a lock only while it holds our token. KEYS: lock. ARGV: token. Replies 1 or 0.
RELEASE_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_LOCK_OUTCOMES: dict[int, Literal["acquired", "refreshed", "taken"]] = {1: "acquired", 2: "refreshed"}


def get_unique_enqueue_script(connection: "Redis") -> Any:
    """The unique-enqueue script, as a callable redis-py ``Script`` bound to ``connection``."""
    return connection.register_script(UNIQUE_ENQUEUE_SCRIPT)


def get_unique_schedule_script(connection: "Redis") -> Any:
    """The unique-schedule script, as a callable redis-py ``Script`` bound to ``connection``."""
    return connection.register_script(UNIQUE_SCHEDULE_SCRIPT)


def _hash_arguments(job: "Job") -> list[Any]:
    """The job's hash as a flat field/value list (fields without a value left out)."""
    arguments: list[Any] = []
    for field, value in job.to_dict().items():
        if value is None:
            continue
        arguments.append(field)
        arguments.append(value if isinstance(value, (bytes, str)) else str(value))
    return arguments


def _ttl_argument(job: "Job") -> int:
    return job.ttl if job.ttl is not None else -1


def save_unique_job(
    connection: "Redis", queue_key: str, job: "Job", enqueue: bool = True, at_front: bool = False
) -> bool:
    """Save ``job`` and push its id on ``queue_key`` in one step, unless a job with its id exists.

    The job is written as it is (prepare it for its queue first); with ``enqueue=False``
    it is saved without being pushed (a job run synchronously). Returns True, or raises
    ``DuplicateJobError`` and writes nothing.
    """
    direction = "N" if not enqueue else ("L" if at_front else "R")
    created = get_unique_enqueue_script(connection)(
        keys=[job.key, queue_key, layout.QUEUES_KEY],
        args=[job.id, direction, _ttl_argument(job), queue_key, *_hash_arguments(job)],
    )
    if not created:
        raise DuplicateJobError(f"Job with ID '{job.id}' already exists")
    logger.debug("Uniquely enqueued job %s into %s", job.id, queue_key)
    return True


def schedule_unique_job(
    connection: "Redis", queue_key: str, registry_key: str, job: "Job", scheduled_datetime: datetime
) -> bool:
    """Save ``job`` and add it to the scheduled registry ``registry_key`` in one step, unless its id exists.

    A naive ``scheduled_datetime`` is local time, as ``ScheduledJobRegistry.schedule`` reads it.
    Returns True, or raises ``DuplicateJobError`` and writes nothing.
    """
    created = get_unique_schedule_script(connection)(
        keys=[job.key, registry_key, layout.QUEUES_KEY],
        args=[job.id, _ttl_argument(job), layout.score_of(scheduled_datetime), queue_key, *_hash_arguments(job)],
    )
    if not created:
        raise DuplicateJobError(f"Job with ID '{job.id}' already exists")
    logger.debug("Uniquely scheduled job %s in %s", job.id, registry_key)
    return True


def acquire_or_refresh_lock(
    connection: "Redis", lock_key: str, owner_token: str, ttl: int
) -> Literal["acquired", "refreshed", "taken"]:
    """Take ``lock_key`` for ``owner_token`` for ``ttl`` seconds, or extend it if that token holds it.

    Returns ``"acquired"``, ``"refreshed"``, or ``"taken"`` when another token holds it
    (the lock and its TTL are then left as they are).
    """
    reply = connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)(keys=[lock_key], args=[owner_token, ttl])
    return _LOCK_OUTCOMES.get(int(reply), "taken")


def release_lock(connection: "Redis", lock_key: str, owner_token: str) -> bool:
    """Delete ``lock_key`` if ``owner_token`` still holds it; False if it is free or held by another token."""
    return bool(connection.register_script(RELEASE_LOCK_SCRIPT)(keys=[lock_key], args=[owner_token]))
