"""``rq.cron_job_registry``: the names of the cron jobs that ran lately, in ``rq:cron_jobs``."""

from __future__ import annotations

import time

import redis

from rq import cron_job_registry
from rq.cron import CronJob, get_cron_job_ids, get_cron_job_names
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_TTL
from tests.jobs import add

KEY = "rq:cron_jobs"


def test_the_key_is_upstreams() -> None:
    assert cron_job_registry.get_registry_key() == KEY


def test_add_records_and_refreshes_a_name(connection: redis.Redis) -> None:
    before = time.time()
    cron_job_registry.add("nightly", connection)
    score = connection.zscore(KEY, "nightly")
    assert score is not None and before <= score <= time.time()

    cron_job_registry.add("nightly", connection, enqueue_timestamp=before + 5.5)
    assert connection.zrange(KEY, 0, -1, withscores=True) == [(b"nightly", before + 5.5)]

    with connection.pipeline() as pipe:
        cron_job_registry.add("hourly", pipe, enqueue_timestamp=before + 1)
        assert connection.zscore(KEY, "hourly") is None  # only queued so far
        pipe.execute()
    assert connection.zscore(KEY, "hourly") == before + 1


def test_get_names_oldest_first_and_prunes_stale_entries(connection: redis.Redis) -> None:
    now = time.time()
    connection.zadd(KEY, {"recent": now, "older": now - 60, "expired": now - DEFAULT_CRON_JOB_HISTORY_TTL - 10})
    assert cron_job_registry.get_names(connection, cleanup=False) == ["expired", "older", "recent"]
    assert cron_job_registry.get_names(connection) == ["older", "recent"]
    assert connection.zscore(KEY, "expired") is None


def test_remove_stale_entries_counts_what_it_removed(connection: redis.Redis) -> None:
    now = time.time()
    connection.zadd(KEY, {"a": now - 100, "b": now - 10, "c": now})
    assert cron_job_registry.remove_stale_entries(connection) == 0
    assert cron_job_registry.remove_stale_entries(connection, threshold=50) == 1
    assert cron_job_registry.get_names(connection, cleanup=False) == ["b", "c"]
    assert cron_job_registry.remove_stale_entries(connection, threshold=0) == 2
    assert cron_job_registry.get_names(connection) == []


def test_histories_can_be_read_without_a_scheduler(connection: redis.Redis) -> None:
    """A monitor needs only Redis: names from the registry, then each name's history."""
    first = CronJob("cron-registry", func=add, args=(1, 2), interval=60, name="adder")
    second = CronJob("cron-registry", func=add, args=(3, 4), interval=60)
    spawned = [first.enqueue(connection), second.enqueue(connection), first.enqueue(connection)]

    names = cron_job_registry.get_names(connection)
    assert names == ["tests.jobs.add", "adder"]  # least recently enqueued first
    assert get_cron_job_names(connection) == ["adder", "tests.jobs.add"]  # the same, most recent first
    assert connection.zscore(KEY, "adder") == spawned[2].enqueued_at.timestamp()
    assert get_cron_job_ids("adder", connection) == [spawned[2].id, spawned[0].id]
    assert get_cron_job_ids("tests.jobs.add", connection) == [spawned[1].id]
