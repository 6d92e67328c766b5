"""AtomicBatch: many writes as one script call, binary safe, replies in order."""

from __future__ import annotations

import os

import pytest

from rq.batch import AtomicBatch


def test_commands_run_in_order_and_return_their_replies(connection):
    blob = os.urandom(4096) + b"; 12:\r\n"  # bytes that look like the framing
    batch = AtomicBatch(connection)
    batch.hset("h", mapping={"data": blob, "text": "héllo", "n": 3})
    batch.zadd("z", {"member": 1.5})
    batch.rpush("l", "a", "b")
    batch.exists("h")
    batch.hincrbyfloat("h", "f", 0.25)
    assert len(batch) == 5
    replies = batch.execute()
    assert replies[:4] == [3, 1, 2, 1]
    assert float(replies[4]) == 0.25
    assert connection.hget("h", "data") == blob
    assert connection.hget("h", "text").decode() == "héllo"
    assert connection.zscore("z", "member") == 1.5
    assert connection.lrange("l", 0, -1) == [b"a", b"b"]
    assert batch.execute() == []


def test_an_empty_batch_does_nothing(connection):
    assert AtomicBatch(connection).execute() == []


def test_unsupported_values_are_refused_before_sending(connection):
    batch = AtomicBatch(connection)
    batch.execute_command("SET", "k", object())
    with pytest.raises(TypeError):
        batch.execute()
    assert not connection.exists("k")


def test_the_script_is_reloaded_after_a_restart(restartable_redis):
    client = restartable_redis.client()
    batch = AtomicBatch(client)
    batch.set("a", 1)
    batch.execute()
    restartable_redis.restart()  # the script cache is empty now; the same client must load it again
    batch = AtomicBatch(client)
    batch.set("b", 2)
    assert batch.execute() == [b"OK"]


def test_variadic_writes_too_long_for_one_lua_call_run_in_slices(connection):
    batch = AtomicBatch(connection)
    batch.sadd("s", *range(20_000))
    batch.rpush("l", *range(9_000))
    batch.lpush("front", *range(8_000))
    batch.hset("h", mapping={str(i): i for i in range(5_000)})
    batch.zadd("z", {str(i): i for i in range(4_000)})
    batch.execute_command("MSET", *["k", "v"] * 1_500)  # long, but one call can take it
    assert batch.execute() == [20_000, 9_000, 8_000, 5_000, 4_000, b"OK"]
    assert connection.lrange("l", 0, 1) == [b"0", b"1"] and connection.lindex("l", -1) == b"8999"
    assert connection.lrange("front", 0, 1) == [b"7999", b"7998"]  # as one LPUSH would leave it
    assert connection.hlen("h") == 5_000 and connection.zcard("z") == 4_000


def test_a_command_too_long_to_split_is_refused_before_anything_is_sent(connection):
    batch = AtomicBatch(connection)
    batch.set("first", 1)
    batch.execute_command("MSET", *["k", "v"] * 4_000)
    with pytest.raises(ValueError, match="MSET with 8000 arguments is too long"):
        batch.execute()
    assert connection.dbsize() == 0
    assert batch.execute() == []


def test_enqueue_many_of_a_large_batch_enqueues_every_job(connection):
    from rq import Queue
    from tests import jobs

    queue = Queue("large-batch", connection=connection)
    enqueued = queue.enqueue_many([Queue.prepare_data(jobs.add, (i, 1)) for i in range(10_000)])
    assert queue.count == 10_000
    assert queue.get_job_ids(0, 1) == [enqueued[0].id] and queue.get_job_ids(9_999, 1) == [enqueued[-1].id]
