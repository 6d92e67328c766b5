"""``rq.cron_scheduler_registry``: the running cron schedulers, in ``rq:cron_schedulers``."""

from __future__ import annotations

import time

import pytest
import redis

from rq import cron_scheduler_registry as registry
from rq.cron import CronScheduler
from rq.exceptions import DuplicateSchedulerError, SchedulerNotFound

KEY = "rq:cron_schedulers"


def test_the_key_is_upstreams() -> None:
    assert registry.get_registry_key() == KEY


def test_register_and_unregister(connection: redis.Redis) -> None:
    first = CronScheduler(connection, name="first")
    second = CronScheduler(connection, name="second")
    before = time.time()
    registry.register(first)
    score = connection.zscore(KEY, "first")
    assert score is not None and before <= score <= time.time()
    with connection.pipeline() as pipe:
        registry.register(second, pipe)
        pipe.execute()
    assert registry.get_keys(connection) == ["first", "second"]

    with pytest.raises(DuplicateSchedulerError):
        registry.register(first)
    assert registry.get_keys(connection) == ["first", "second"]

    registry.unregister(first)
    with connection.pipeline() as pipe:
        registry.unregister(second, pipe)
        pipe.execute()
    assert registry.get_keys(connection) == []
    with pytest.raises(SchedulerNotFound):
        registry.unregister(first)


def test_cleanup_removes_schedulers_that_stopped_heartbeating(connection: redis.Redis) -> None:
    now = time.time()
    connection.zadd(KEY, {"stale": now - 150, "quiet": now - 60, "fresh": now})
    assert registry.cleanup(connection) == 1  # older than the 120 s TTL
    assert registry.get_keys(connection) == ["quiet", "fresh"]
    assert registry.cleanup(connection, threshold=30) == 1
    assert registry.get_keys(connection) == ["fresh"]


def test_the_scheduler_uses_the_registry(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection, name="lifecycle")
    scheduler.register_birth()
    assert registry.get_keys(connection) == ["lifecycle"]
    assert CronScheduler.all(connection) == [scheduler]  # equal by name
    scheduler.register_death()
    assert registry.get_keys(connection) == []
    assert not connection.exists(scheduler.key)
