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
