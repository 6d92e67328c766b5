"""Each script's Python twin writes what the script writes and answers what it answers.

Both run against the same real Redis, in two databases prepared alike: the script in
database 0, the twin in database 1. Then every key of the two databases is compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from rq import scripting
from rq.batch import AtomicBatch, stop_scripts
from rq.group import _UNLIST_EMPTY_GROUPS
from rq.maintenance import _RETURN_TO_QUEUE
from rq.scheduler import _ACQUIRE_SCRIPT, _MOVE_SCRIPT, _RELEASE_SCRIPT
from rq.worker.dequeuer import _TAKE_SCRIPT
from rq.worker.take_fallback import take_in_transaction


@pytest.fixture
def pair(redis_url: str) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """Two clients of one server: database 0 for the script, 1 for the twin, both empty."""
    base, db = redis_url.rsplit("/", 1)
    left, right = redis.Redis.from_url(redis_url), redis.Redis.from_url(f"{base}/{int(db or 0) + 1}")
    right.flushdb()
    yield left, right
    right.flushdb()
    left.close()
    right.close()


def dump(client: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and value (TTLs rounded to whole ten seconds)."""
    out: dict[bytes, Any] = {}
    for key in client.keys("*"):
        kind = client.type(key).decode()
        value: Any = {
            "string": client.get,
            "hash": client.hgetall,
            "list": lambda k: client.lrange(k, 0, -1),
            "set": client.smembers,
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            "stream": lambda k: [fields for _, fields in client.xrange(k)],
        }[kind](key)
        ttl = client.ttl(key)
        out[key] = (kind, value, ttl if ttl < 0 else ttl // 10)
    return out


def plain(reply: Any) -> Any:
    """A reply with bytes as text (a script answers keys as bytes, a twin as given)."""
    if isinstance(reply, (list, tuple)):
        return [plain(item) for item in reply]
    return reply.decode() if isinstance(reply, bytes) else reply


def same(
    pair: tuple[redis.Redis, redis.Redis], setup: Callable[[redis.Redis], None], lua: str, twin: scripting.Twin,
    keys: list, args: list,
) -> Any:  # fmt: skip
    """Prepare both databases, run script and twin, check replies and data agree; the reply."""
    left, right = pair
    setup(left)
    setup(right)
    reply = left.register_script(lua)(keys=keys, args=args)
    assert plain(twin(right, keys, args)) == plain(reply)
    assert dump(right) == dump(left)
    return reply


def test_locks(pair: tuple[redis.Redis, redis.Redis]) -> None:
    def setup(c: redis.Redis) -> None:
        c.set("lock:mine", "me", ex=100)
        c.set("lock:theirs", "them", ex=100)

    keys = ["lock:mine", "lock:theirs", "lock:free"]
    assert same(pair, setup, _ACQUIRE_SCRIPT, scripting.acquire_locks, keys, ["me", 60]) == [1, 0, 1]
    assert same(pair, setup, _RELEASE_SCRIPT, scripting.release_locks, keys, ["me"]) == 2  # mine, and free since taken


def test_unlist_empty_groups(pair: tuple[redis.Redis, redis.Redis]) -> None:
    def setup(c: redis.Redis) -> None:
        c.sadd("groups", "a", "b")
        c.sadd("group:b", "job")

    assert (
        same(
            pair,
            setup,
            _UNLIST_EMPTY_GROUPS,
            scripting.unlist_empty_groups,
            ["groups", "group:a", "group:b"],
            ["a", "b"],
        )
        == 0
    )


@pytest.mark.parametrize("member", ["job:exec", ""])
@pytest.mark.parametrize("listed", [True, False])
def test_return_to_queue(pair: tuple[redis.Redis, redis.Redis], member: str, listed: bool) -> None:
    keys = ["q:intermediate", "q", "started", "first_seen", "exec", "job"]

    def setup(c: redis.Redis) -> None:
        if listed:
            c.rpush("q:intermediate", "other", "job")
        c.zadd("started", {"job:exec": 5})
        c.set("first_seen", 1)
        c.hset("exec", "id", "exec")
        c.hset("job", mapping={"status": "started", "worker_name": "w", "data": "x"})

    same(pair, setup, _RETURN_TO_QUEUE, scripting.return_to_queue, keys, ["job", member])


def test_move_scheduled(pair: tuple[redis.Redis, redis.Redis]) -> None:
    def setup(c: redis.Redis) -> None:
        c.set("lock", "me")
        c.zadd("scheduled", {"a": 1, "b": 2, "gone": 3, "c": 4})
        c.hset("job:a", mapping={"data": "x", "status": "scheduled"})
        c.hset("job:b", mapping={"data": "y", "status": "scheduled"})
        c.hset("job:c", mapping={"data": "z", "status": "scheduled"})

    keys = ["lock", "scheduled", "queue", "queues", "job:a", "job:b", "job:gone", "job:c"]
    args = ["me", "a", "R", 100, 1, "status", "queued", "b", "L", 0, 1, "status", "queued"]
    args += ["gone", "R", 0, 1, "status", "queued", "c", "", 0, 0]
    assert same(pair, setup, _MOVE_SCRIPT, scripting.move_scheduled, keys, args) == 2
    assert same(pair, lambda c: c.set("lock", "them"), _MOVE_SCRIPT, scripting.move_scheduled, keys, args) == -1


def _take_args(mode: str = "pop", claimed: str = "", exec_id: str = "e1") -> list:
    return ["rq:job:", "", mode, claimed, "rq:worker:w", "w", "rq:execution:", "rq:executions:", exec_id,
            "2026-01-01T00:00:00.000000Z", "1767225600.0", 1767225600, "1", 60, 180, 3, 10**8, -1, 60]  # fmt: skip


@pytest.mark.parametrize("mode", ["pop", "claim"])
def test_take(pair: tuple[redis.Redis, redis.Redis], mode: str) -> None:
    keys = ["rq:queue:a", "rq:queue:b", "rq:wip:a", "rq:wip:b"]

    def setup(c: redis.Redis) -> None:
        c.rpush("rq:queue:b", "j1", "j2")
        c.rpush("rq:queue:b:intermediate", "j2")
        c.hset("rq:job:j1", mapping={"data": "x", "timeout": "30", "ttl": "500"})
        c.expire("rq:job:j1", 500)
        c.hset("rq:job:j2", mapping={"data": "y", "timeout": "nonsense"})
        c.hset("rq:worker:w", "birth", "now")

    claimed = "j2" if mode == "claim" else ""
    queue_keys = keys if mode == "pop" else ["rq:queue:b", "rq:wip:b"]
    reply = same(pair, setup, _TAKE_SCRIPT, take_in_transaction, queue_keys, _take_args(mode, claimed))
    assert reply[1] == (b"j2" if claimed else b"j1")


def test_take_again_after_a_lost_reply_and_an_empty_queue(pair: tuple[redis.Redis, redis.Redis]) -> None:
    keys = ["rq:queue:a", "rq:wip:a"]

    def setup(c: redis.Redis) -> None:
        c.rpush("rq:queue:a", "j1")
        c.hset("rq:job:j1", mapping={"data": "x"})
        c.register_script(_TAKE_SCRIPT)(keys=keys, args=_take_args())

    assert same(pair, setup, _TAKE_SCRIPT, take_in_transaction, keys, _take_args())[1] == b"j1"
    assert same(pair, lambda c: None, _TAKE_SCRIPT, take_in_transaction, keys, _take_args(exec_id="e2")) is None


def test_batch_without_scripts_writes_the_same(pair: tuple[redis.Redis, redis.Redis]) -> None:
    left, right = pair
    stop_scripts(right, Exception("refused for the test"))
    for client in pair:
        batch = AtomicBatch(client)
        batch.hset("h", mapping={"a": 1, "b": "2"})
        batch.rpush("l", *range(10))
        batch.zadd("z", {"m": 1.5})
        batch.xadd("rq:results:j", {"execution_id": "e1"})
        assert batch.execute() is not None
        batch.sadd("s", "x")
        assert batch.execute(unless_recorded=("rq:results:j", "e1")) is None
    assert dump(right).keys() == dump(left).keys()
    assert {k: v for k, v in dump(right).items() if not k.startswith(b"rq:results")} == {
        k: v for k, v in dump(left).items() if not k.startswith(b"rq:results")
    }
