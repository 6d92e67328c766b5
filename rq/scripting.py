"""Lua scripts with a Python twin, for servers that cannot run scripts.

A ``Script`` runs its Lua on a real Redis. On a server that refuses scripts (fakeredis without
Lua: see ``rq.batch.scripts_refused``) it runs its twin instead: a
function that does the same reads under ``WATCH`` and the same writes in ``MULTI``/``EXEC``,
and answers what the script answers. The client remembers the refusal, so the next call goes
straight to the twin. The twins of the package's scripts are at the end of this module.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from redis.exceptions import ResponseError, WatchError

from .batch import runs_scripts, scripts_refused, stop_scripts

__all__ = ["Script", "in_transaction"]

Twin = Callable[[Any, list, list], Any]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Script:
    """One Lua script and its Python twin; call it with a client, keys and arguments."""

    def __init__(self, lua: str, twin: Twin) -> None:
        self.lua = lua
        self.twin = twin
        self._registered: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def registered(self, connection: Any) -> Any:
        """redis-py's script object for ``connection`` (to queue the script in a pipeline)."""
        script = self._registered.get(connection)
        if script is None:
            script = self._registered[connection] = connection.register_script(self.lua)
        return script

    def __call__(self, connection: Any, keys: list, args: list) -> Any:
        if runs_scripts(connection):
            try:
                return self.registered(connection)(keys=keys, args=args)
            except ResponseError as exc:
                if not scripts_refused(exc):
                    raise
                stop_scripts(connection, exc)
        return self.twin(connection, keys, args)


def in_transaction(connection: Any, body: Callable[[Any], Any]) -> Any:
    """``body(pipe)`` (which WATCHes, reads, then calls ``pipe.multi()``), again until no watched key changed."""
    with connection.pipeline() as pipe:
        while True:
            try:
                return body(pipe)
            except WatchError:
                pipe.reset()


# ---- the twins -------------------------------------------------------------------------------


def acquire_locks(connection: Any, keys: list, args: list) -> list[int]:
    """Take or extend each lock for owner ARGV[1] for ARGV[2] seconds; 1 per lock held, else 0."""
    owner, ttl = _text(args[0]), int(args[1])

    def one(key: Any) -> int:
        def body(pipe: Any) -> int:
            pipe.watch(key)
            current = pipe.get(key)
            if current is not None and _text(current) != owner:
                pipe.unwatch()
                return 0
            pipe.multi()
            pipe.set(key, owner, ex=ttl)
            pipe.execute()
            return 1

        return int(in_transaction(connection, body))

    return [one(key) for key in keys]


def release_locks(connection: Any, keys: list, args: list) -> int:
    """Delete each lock owned by ARGV[1]; the number deleted."""
    owner = _text(args[0])

    def one(key: Any) -> int:
        def body(pipe: Any) -> int:
            pipe.watch(key)
            current = pipe.get(key)
            if current is None or _text(current) != owner:
                pipe.unwatch()
                return 0
            pipe.multi()
            pipe.delete(key)
            pipe.execute()
            return 1

        return int(in_transaction(connection, body))

    return sum(one(key) for key in keys)


def unlist_empty_groups(connection: Any, keys: list, args: list) -> int:
    """SREM from KEYS[1] each group name ARGV[i] whose key KEYS[i + 1] no longer exists."""

    def body(pipe: Any) -> int:
        pipe.watch(*keys[1:])
        gone = [name for name, key in zip(args, keys[1:]) if not pipe.exists(key)]
        pipe.multi()
        if gone:
            pipe.srem(keys[0], *gone)
        pipe.execute()
        return 0

    return int(in_transaction(connection, body))


def return_to_queue(connection: Any, keys: list, args: list) -> int:
    """Put a taken job back at the head of its queue (KEYS and ARGV as the maintenance script)."""
    intermediate, queue_key, started, first_seen, execution, job_key = keys
    job_id, member = args[0], _text(args[1])

    def body(pipe: Any) -> int:
        pipe.watch(intermediate, started, job_key)
        listed = pipe.lpos(intermediate, job_id) is not None
        registered = bool(member) and pipe.zscore(started, member) is not None
        exists = bool(pipe.exists(job_key))
        pipe.multi()
        pipe.lrem(intermediate, 1, job_id)
        if member:
            pipe.zrem(started, member)
            pipe.delete(execution)
        if not (listed or registered):
            pipe.execute()
            return 0
        pipe.delete(first_seen)
        if exists:
            pipe.hset(job_key, mapping={"status": "queued", "worker_name": "", "started_at": ""})
            pipe.lpush(queue_key, job_id)
        pipe.execute()
        return 1

    return int(in_transaction(connection, body))


def move_scheduled(connection: Any, keys: list, args: list) -> int:
    """Move due jobs from a scheduled registry to their queue (KEYS and ARGV as the scheduler's script)."""
    lock, registry, queue_key, queues_key = keys[:4]
    owner = _text(args[0])
    jobs: list[tuple[Any, Any, str, int, list]] = []
    position = 1
    for job_key in keys[4:]:
        job_id, push, ttl, count = (
            args[position],
            _text(args[position + 1]),
            int(args[position + 2]),
            int(args[position + 3]),
        )
        fields = list(args[position + 4 : position + 4 + 2 * count])
        jobs.append((job_key, job_id, push, ttl, fields))
        position += 4 + 2 * count

    def body(pipe: Any) -> int:
        pipe.watch(lock, registry, *(job[0] for job in jobs))
        current = pipe.get(lock)
        if current is None or _text(current) != owner:
            pipe.unwatch()
            return -1
        plan: list[tuple[Any, Any, str, int, list, bool, bool]] = []
        for job_key, job_id, push, ttl, fields in jobs:
            plan.append(
                (
                    job_key,
                    job_id,
                    push,
                    ttl,
                    fields,
                    bool(pipe.hexists(job_key, "data")),
                    pipe.zscore(registry, job_id) is not None,
                )
            )
        pipe.multi()
        moved = 0
        for job_key, job_id, push, ttl, fields, has_data, scheduled in plan:
            if not has_data:
                pipe.zrem(registry, job_id)
            elif push and fields and scheduled:
                pipe.zrem(registry, job_id)
                pipe.hset(job_key, mapping=dict(zip(fields[::2], fields[1::2])))
                if ttl > 0:
                    pipe.expire(job_key, ttl)
                (pipe.lpush if push == "L" else pipe.rpush)(queue_key, job_id)
                moved += 1
        if moved:
            pipe.sadd(queues_key, queue_key)
        pipe.execute()
        return moved

    return int(in_transaction(connection, body))
