"""The dequeuer's take, for servers that cannot run its script: WATCH, read, then MULTI/EXEC.

``take_in_transaction`` receives the keys and arguments of the take script (see
``rq.worker.dequeuer``) and answers what the script would: the same checks, the same writes,
the same reply. The reads happen under ``WATCH``, so a concurrent change to a queue or to the
worker's hash makes the transaction fail and the take start over, and no job is taken twice.
Only for test servers such as fakeredis without Lua: a real Redis runs the script.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from redis.exceptions import WatchError

__all__ = ["take_in_transaction"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _flat(mapping: dict) -> list:
    """A hash as HGETALL's wire reply (field, value, field, value ...), as the script returns it."""
    return [item for pair in mapping.items() for item in pair]


def _field(fields: dict, name: str) -> Any:
    return fields.get(name.encode(), fields.get(name))


class _Args:
    """The take script's ARGV, named."""

    def __init__(self, args: list) -> None:
        values = [_text(arg) for arg in args]
        (self.prefix, self.suspended_key, self.mode, self.claimed, self.worker_key, self.worker_name,
         self.exec_prefix, self.execs_prefix, self.exec_id, self.now_text, self.now_float) = values[:11]  # fmt: skip
        self.now = int(values[11])
        self.per_interval = values[12] == "1"
        self.interval, self.default_timeout = float(values[13]), float(values[14])
        self.redeliveries, self.max_timeout = values[15], float(values[16])
        self.unlimited, self.grace = int(values[17]), int(values[18])

    def ttl(self, fields: dict) -> int:
        """The execution's time to live, by the same rule as the script."""
        try:
            timeout = float(_text(_field(fields, "timeout") or ""))
        except ValueError:
            timeout = math.nan
        if math.isnan(timeout) or timeout < -1 or timeout > self.max_timeout:
            timeout = self.default_timeout
        timeout = math.floor(timeout)
        if not self.per_interval:
            return self.unlimited if timeout == -1 else timeout + self.grace
        if timeout > 0:
            return math.floor(min(timeout, self.interval)) + self.grace
        return int(self.interval) + self.grace


def take_in_transaction(connection: Any, keys: list, args: list) -> Any:
    """Run one take as the script would; retried from the start when a watched key changes."""
    a = _Args(args)
    queues = len(keys) // 2
    with connection.pipeline() as pipe:
        while True:
            try:
                return _take(pipe, [_text(k) for k in keys], queues, a)
            except WatchError:
                continue


def _take(pipe: Any, keys: list[str], queues: int, a: _Args) -> Any:
    pipe.watch(a.worker_key, *keys[:queues], *(f"{key}:intermediate" for key in keys[:queues]))
    again = _already_taken(pipe, keys, queues, a)
    if again is not None:
        pipe.unwatch()
        return again
    if a.suspended_key and pipe.exists(a.suspended_key):
        pipe.unwatch()
        return "suspended"
    for q in range(queues):
        queue_key = keys[q]
        job_id = _next_id(pipe, queue_key, a)
        if job_id is None:
            if a.mode == "claim":
                break
            continue
        job_key = a.prefix + job_id
        pipe.watch(job_key)
        fields = pipe.hgetall(job_key)
        pipe.multi()
        if a.mode == "claim":
            pipe.lrem(f"{queue_key}:intermediate", 1, a.claimed)
        else:
            pipe.lpop(queue_key)
        if not _field(fields, "data"):
            pipe.execute()
            return [queue_key, job_id, _flat(fields), 0]
        ttl = a.ttl(fields)
        _write_start(pipe, keys[queues + q], job_key, job_id, fields, ttl, a)
        replies = pipe.execute(raise_on_error=False)
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if errors:
            pipe.rpush(f"{queue_key}:intermediate", job_id)
            return [queue_key, job_id, _flat(fields), -1, str(errors[0])]
        return [queue_key, job_id, _flat(fields), ttl]
    pipe.unwatch()
    return None


def _already_taken(pipe: Any, keys: list[str], queues: int, a: _Args) -> Optional[list]:
    """The job this worker's previous take (whose reply was lost) already started, if any."""
    current = pipe.hget(a.worker_key, "current_job")
    if not current:
        return None
    current = _text(current)
    expires = pipe.zscore(a.execs_prefix + current, a.exec_id)
    if expires is None:
        return None
    for q in range(queues):
        if pipe.zscore(keys[queues + q], f"{current}:{a.exec_id}") is not None:
            flat = _flat(pipe.hgetall(a.prefix + current))
            return [keys[q], current, flat, int(expires) - a.now - 60]
    return None


def _next_id(pipe: Any, queue_key: str, a: _Args) -> Optional[str]:
    """The id this take would remove from the queue (or the claimed one, if still listed)."""
    if a.mode == "claim":
        found = pipe.lpos(f"{queue_key}:intermediate", a.claimed)
        return a.claimed if found is not None else None
    head = pipe.lindex(queue_key, 0)
    return None if head is None else _text(head)


def _write_start(pipe: Any, started_key: str, job_key: str, job_id: str, fields: dict, ttl: int, a: _Args) -> None:
    """Queue the writes that record the start of ``job_id`` (the script's protected block)."""
    exec_key = f"{a.exec_prefix}{job_id}:{a.exec_id}"
    execs_key = a.execs_prefix + job_id
    pipe.hset(
        exec_key,
        mapping={
            "id": a.exec_id,
            "created_at": a.now_float,
            "last_heartbeat": a.now_float,
            "worker_name": a.worker_name,
        },
    )
    pipe.expire(exec_key, ttl)
    pipe.zadd(execs_key, {a.exec_id: a.now + ttl + 60})
    pipe.expire(execs_key, ttl + 60)
    pipe.zadd(started_key, {f"{job_id}:{a.exec_id}": a.now + ttl})
    worker = {"state": "busy", "current_job": job_id, "current_job_working_time": 0, "last_heartbeat": a.now_text}
    pipe.hset(a.worker_key, mapping=worker)
    pipe.expire(a.worker_key, ttl)
    started = {"status": "started", "started_at": a.now_text, "worker_name": a.worker_name}
    pipe.hset(job_key, mapping={**started, "last_heartbeat": a.now_text, "ended_at": ""})
    if a.redeliveries and not _field(fields, "max_redeliveries"):
        pipe.hset(job_key, "max_redeliveries", a.redeliveries)
    if _field(fields, "ttl") not in (None, b"", ""):
        pipe.persist(job_key)
