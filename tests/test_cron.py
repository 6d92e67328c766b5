"""Tests of rq/cron.py and rq/cron_job.py: cron jobs, the cron scheduler, its Redis layout and `rq cron`."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from rq import Queue, Webhook, cron
from rq.cli import main
from rq.cron import MAX_SLEEP_INTERVAL, CronJob, CronScheduler, create_cron, get_cron_job_names
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL, DEFAULT_CRON_SCHEDULER_TTL
from rq.exceptions import DuplicateSchedulerError, SchedulerNotFound
from rq.job import Job
from rq.job_validation import UnimportableFunctionWarning
from rq.layout import parse_ts
from rq.utils import NOT_JSON_SERIALIZABLE
from tests.cli.support import cli_runner, rq_env
from tests.jobs import add, say_hello
from tests.redis_harness import BaseRedisServer

ROOT = Path(__file__).resolve().parent.parent
CONFIG_MODULE = "tests.cron_config"
CONFIG_FILE = "tests/cron_config.py"
SCHEDULERS = "rq:cron_schedulers"
# Generous bound for anything that waits on another thread or process; tests never assert speed.
WAIT = 30.0
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Config loading may extend sys.path and sys.modules; start() sets the rq.cron level."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    level = logging.getLogger("rq.cron").level
    yield
    for name in set(sys.modules) - modules:
        if name != "tests.cron_config":
            del sys.modules[name]
    logging.getLogger("rq.cron").setLevel(level)


class SchedulerThread:
    """Runs ``scheduler.start()`` in a thread (no signal handlers there); stops it on exit."""

    def __init__(self, scheduler: CronScheduler) -> None:
        self.scheduler = scheduler
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True, name="test-cron")

    def _run(self) -> None:
        try:
            self.scheduler.start()
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> "SchedulerThread":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.scheduler.request_stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the cron scheduler did not stop"


# ---- CronJob -----------------------------------------------------------------------------------------


def test_cron_job_attributes() -> None:
    hook = Webhook("https://example.com/hook", "finished")
    cron_job = CronJob(
        "default",
        func=add,
        args=[1, 2],
        interval=30,
        job_timeout="1m",
        ttl=100,
        failure_ttl=200,
        meta={"owner": "ops"},
        webhooks=[hook],
    )
    assert cron_job.func is add
    assert cron_job.func_name == "tests.jobs.add"
    assert cron_job.name == "tests.jobs.add"  # the default name
    assert cron_job.job_history_key == "rq:cron_job:tests.jobs.add:jobs"
    assert cron_job.args == (1, 2)
    assert cron_job.kwargs == {}
    assert (cron_job.interval, cron_job.cron, cron_job.queue_name) == (30, None, "default")
    assert cron_job.job_options == {
        "job_timeout": 60,
        "result_ttl": 500,
        "ttl": 100,
        "failure_ttl": 200,
        "meta": {"owner": "ops"},
        "webhooks": [hook],
    }
    assert cron_job.latest_enqueue_time is None
    assert cron_job.next_enqueue_time is None  # an interval job is due at once
    assert cron_job.should_run()

    by_name = CronJob("low", func_name="tests.jobs.say_hello", cron="@daily", result_ttl=None, name="greeting")
    assert by_name.func is None
    assert by_name.name == "greeting"
    assert by_name.job_options == {}
    assert by_name.next_enqueue_time is not None and by_name.next_enqueue_time.tzinfo is not None
    assert not by_name.should_run()
    assert CronJob("q", func="tests.jobs.add", interval=1).func_name == "tests.jobs.add"
    assert "interval=1" in repr(CronJob("q", func=add, interval=1))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": 10, "cron": "* * * * *"}, ValueError, "exactly one of interval"),
        ({}, ValueError, "exactly one of interval"),
        ({"interval": 0}, ValueError, "greater than 0"),
        ({"interval": -5}, ValueError, "greater than 0"),
        ({"interval": "10"}, ValueError, "number of seconds"),
        ({"interval": True}, ValueError, "number of seconds"),
        ({"cron": "61 * * * *"}, ValueError, "out of range"),
        ({"cron": "every minute"}, ValueError, "expected 5 fields"),
        ({"interval": 1, "job_timeout": "soon"}, ValueError, "job_timeout"),
        ({"interval": 1, "ttl": 0}, ValueError, "ttl=0 is not valid"),
        ({"interval": 1, "meta": ["x"]}, TypeError, "meta must be a dict"),
        ({"interval": 1, "webhooks": ["https://example.com"]}, TypeError, "Webhook"),
        ({"interval": 1, "webhooks": Webhook("https://example.com", "failed")}, TypeError, "list of Webhook"),
    ],
)
def test_cron_job_validation(kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CronJob("default", func=add, **kwargs)


def test_cron_job_needs_a_function_and_a_queue() -> None:
    with pytest.raises(ValueError, match="needs a function"):
        CronJob("default", interval=1)
    with pytest.raises(ValueError, match="queue_name"):
        CronJob("", func=add, interval=1)


def test_cron_job_of_a_lambda_is_accepted_with_a_warning() -> None:
    """As upstream RQ; the warning, pointed at the caller, says a worker in another process cannot import it."""
    with pytest.warns(UnimportableFunctionWarning, match="lambdas") as record:
        cron_job = CronJob("default", func=lambda: None, interval=1)
    assert [warning.filename for warning in record] == [__file__]
    assert cron_job.func_name.endswith("<lambda>")


def test_interval_timing() -> None:
    cron_job = CronJob("default", func=add, interval=60)
    assert cron_job.should_run(T0)
    cron_job.set_enqueue_time(T0)
    assert cron_job.latest_enqueue_time == T0
    assert cron_job.next_enqueue_time == T0 + timedelta(seconds=60)
    assert not cron_job.should_run(T0 + timedelta(seconds=59.9))
    assert cron_job.should_run(T0 + timedelta(seconds=60))
    assert cron_job.get_next_enqueue_time(T0 + timedelta(seconds=5)) == T0 + timedelta(seconds=65)


def test_cron_timing_is_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "CET-1")  # UTC+1, no daylight saving time
    time.tzset()
    try:
        cron_job = CronJob("default", func=add, cron="0 9 * * *")
        cron_job.set_enqueue_time(T0)  # 13:00 local
        assert cron_job.next_enqueue_time == datetime(2024, 1, 2, 8, 0, tzinfo=timezone.utc)
        assert not cron_job.should_run(datetime(2024, 1, 2, 7, 59, 59, tzinfo=timezone.utc))
        assert cron_job.should_run(datetime(2024, 1, 2, 8, 0, tzinfo=timezone.utc))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_cron_job_dict_round_trip() -> None:
    cron_job = CronJob(
        "low",
        func=say_hello,
        kwargs={"name": "cron"},
        cron="*/5 * * * *",
        job_timeout=30,
        meta={"a": [1, 2]},
        webhooks=[Webhook("https://example.com/h", "failed", method="POST")],
        name="greeting",
    )
    cron_job.set_enqueue_time(T0)
    data = cron_job.to_dict()
    assert data == {
        "func_name": "tests.jobs.say_hello",
        "name": "greeting",
        "queue_name": "low",
        "args": None,
        "kwargs": '{"name": "cron"}',
        "interval": None,
        "cron": "*/5 * * * *",
        "latest_enqueue_time": "2024-01-01T12:00:00.000000Z",
        "next_enqueue_time": "2024-01-01T12:05:00.000000Z",
        "job_timeout": 30,
        "result_ttl": 500,
        "meta": '{"a": [1, 2]}',
        "webhooks": '[{"url": "https://example.com/h", "job_status": "failed", "method": "POST", '
        '"headers": null, "timeout": 10}]',
    }
    restored = CronJob.from_dict(json.loads(json.dumps(data)))
    assert restored.func is None
    assert restored.to_dict() == data
    assert (restored.args, restored.kwargs) == ((), {"name": "cron"})
    assert restored.job_options["webhooks"][0].method == "POST"


def test_from_dict_accepts_what_it_cannot_schedule() -> None:
    """Entries written by other implementations load even with expressions we do not support."""
    restored = CronJob.from_dict({"func_name": "a.b", "queue_name": "q", "cron": "0 0 L * *", "args": "[1]"})
    assert (restored.cron, restored.args, restored.name, restored.next_enqueue_time) == ("0 0 L * *", (1,), "a.b", None)
    assert restored.job_options == {}


def test_unjsonable_arguments_are_recorded_as_a_placeholder() -> None:
    cron_job = CronJob("q", func=add, args=(T0, 1), kwargs={"at": {1}}, interval=1, meta={"when": T0})
    data = cron_job.to_dict()
    assert (data["args"], data["kwargs"], data["meta"]) == (NOT_JSON_SERIALIZABLE,) * 3
    restored = CronJob.from_dict(data)
    assert (restored.args, restored.kwargs) == (NOT_JSON_SERIALIZABLE, NOT_JSON_SERIALIZABLE)
    assert restored.job_options["meta"] == NOT_JSON_SERIALIZABLE
    assert restored.to_dict() == data


def test_enqueue_records_the_job_in_its_history(connection: redis.Redis) -> None:
    cron_job = CronJob("cron-q", func=add, args=(2, 3), interval=10, job_timeout=40, ttl=600, meta={"k": "v"})
    job = cron_job.enqueue(connection)
    assert Queue("cron-q", connection=connection).job_ids == [job.id]
    fetched = Job.fetch(job.id, connection=connection)
    assert (fetched.func_name, fetched.args, fetched.timeout, fetched.ttl) == ("tests.jobs.add", (2, 3), 40, 600)
    assert fetched.result_ttl == 500
    assert fetched.meta == {"k": "v", "interval": 10}  # the schedule, for Sentry's cron monitors
    history = connection.zrange(cron_job.job_history_key, 0, -1, withscores=True)
    assert history == [(job.id.encode(), pytest.approx(job.enqueued_at.timestamp()))]
    assert 0 < connection.ttl(cron_job.job_history_key) <= DEFAULT_CRON_JOB_HISTORY_TTL
    assert connection.zscore("rq:cron_jobs", "tests.jobs.add") == pytest.approx(job.enqueued_at.timestamp())

    second = cron_job.enqueue(connection)
    assert cron_job.get_job_ids(connection) == [second.id, job.id]  # newest first
    assert cron_job.get_job_ids(connection, 1, 1) == [job.id]
    assert CronJob("other", func=add, interval=1, name="unused").get_job_ids(connection) == []


@pytest.mark.parametrize(
    ("schedule", "meta", "expected"),
    [
        pytest.param({"cron": "*/5 * * * *"}, None, {"cron_string": "*/5 * * * *"}, id="cron-string"),
        pytest.param({"cron": " @Hourly "}, None, {"cron_string": "0 * * * *"}, id="alias-spelled-out"),
        pytest.param({"interval": 600}, {"owner": "ops"}, {"owner": "ops", "interval": 600}, id="interval"),
        pytest.param({"interval": 120.0}, None, {"interval": 120}, id="whole-float-interval"),
        pytest.param({"interval": 1.5}, None, {"interval": 1.5}, id="fractional-interval"),
        pytest.param({"interval": 60}, {"interval": "hourly"}, {"interval": "hourly"}, id="configured-key-wins"),
    ],
)
def test_spawned_jobs_carry_their_schedule_in_meta(
    connection: redis.Redis, schedule: dict, meta: Optional[dict], expected: dict
) -> None:
    """``meta["cron_string"]`` / ``meta["interval"]``, as sentry-sdk's RqIntegration(monitor_cron_jobs=True) reads."""
    cron_job = CronJob("cron-q", func=add, args=(1, 2), meta=meta, **schedule)
    job = cron_job.enqueue(connection)
    assert Job.fetch(job.id, connection=connection).meta == expected
    assert cron_job.job_options.get("meta") == meta  # the configured meta is not changed
    assert json.loads(cron_job.to_dict().get("meta", "null")) == meta  # nor what the scheduler hash records


def test_history_keeps_the_newest_entries(connection: redis.Redis) -> None:
    cron_job = CronJob("cron-q", func=add, args=(1, 1), interval=10, name="capped")
    old = {f"old-{n}": n for n in range(1, DEFAULT_CRON_JOB_HISTORY_LIMIT + 1)}
    connection.zadd(cron_job.job_history_key, old)
    job = cron_job.enqueue(connection)
    assert connection.zcard(cron_job.job_history_key) == DEFAULT_CRON_JOB_HISTORY_LIMIT
    assert connection.zscore(cron_job.job_history_key, "old-1") is None
    assert cron_job.get_job_ids(connection, 0, 1) == [job.id, f"old-{DEFAULT_CRON_JOB_HISTORY_LIMIT}"]


def test_cron_job_names_are_pruned_after_a_year(connection: redis.Redis) -> None:
    now = time.time()
    connection.zadd("rq:cron_jobs", {"recent": now - 10, "older": now - 3600, "ancient": now - 400 * 86400})
    assert get_cron_job_names(connection) == ["recent", "older"]
    assert connection.zscore("rq:cron_jobs", "ancient") is None


# ---- CronScheduler: jobs and timing --------------------------------------------------------------


def test_scheduler_defaults(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection)
    hostname, pid, suffix = scheduler.name.rsplit(":", 2)
    assert (hostname, pid) == (socket.gethostname(), str(os.getpid()))
    assert re.fullmatch(r"[0-9a-f]{6}", suffix)
    assert CronScheduler(connection).name != scheduler.name
    assert (scheduler.hostname, scheduler.pid, scheduler.config_file) == (socket.gethostname(), os.getpid(), "")
    assert scheduler.created_at.tzinfo is not None
    assert scheduler.key == f"rq:cron_scheduler:{scheduler.name}"
    assert scheduler.last_heartbeat is None
    assert scheduler.get_jobs() == []
    assert CronScheduler(connection, name="fixed").name == "fixed"


def test_register_validates_and_returns_the_cron_job(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection)
    first = scheduler.register(add, "default", args=(1, 2), interval=30)
    second = scheduler.register(say_hello, "low", cron="0 * * * *", name="hourly-hello")
    assert isinstance(first, CronJob)
    assert scheduler.get_jobs() == [first, second]
    with pytest.raises(ValueError, match="exactly one"):
        scheduler.register(add, "default", interval=1, cron="* * * * *")
    with pytest.raises(ValueError, match="exactly one"):
        scheduler.register(add, "default")
    assert len(scheduler.get_jobs()) == 2


def test_enqueue_jobs_follows_the_schedules(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection)
    every_minute = scheduler.register(add, "fast", args=(1, 1), interval=60)
    hourly = scheduler.register(say_hello, "slow", cron="0 * * * *")
    hourly.set_enqueue_time(T0)  # as if it last ran at 12:00

    assert scheduler.enqueue_jobs(T0) == [every_minute]  # interval jobs run on the first pass
    assert scheduler.enqueue_jobs(T0 + timedelta(seconds=30)) == []
    assert scheduler.enqueue_jobs(T0 + timedelta(seconds=60)) == [every_minute]
    assert scheduler.enqueue_jobs(T0 + timedelta(hours=1)) == [every_minute, hourly]
    assert hourly.latest_enqueue_time == T0 + timedelta(hours=1)
    assert hourly.next_enqueue_time == T0 + timedelta(hours=2)
    assert len(Queue("fast", connection=connection)) == 3
    assert len(Queue("slow", connection=connection)) == 1
    assert len(every_minute.get_job_ids(connection)) == 3


def test_a_job_that_cannot_be_enqueued_is_skipped_until_its_next_run(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = CronScheduler(connection)
    broken = scheduler.register(add, "default", args=(threading.Lock(), 1), interval=60)  # cannot be pickled
    working = scheduler.register(say_hello, "default", interval=60)
    with caplog.at_level(logging.ERROR, logger="rq.cron"):
        assert scheduler.enqueue_jobs(T0) == [working]
    assert "could not enqueue cron job tests.jobs.add" in caplog.text
    assert broken.latest_enqueue_time is None
    assert broken.next_enqueue_time == T0 + timedelta(seconds=60)
    assert not broken.should_run(T0 + timedelta(seconds=1))


def test_sleep_interval(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection)
    assert scheduler.calculate_sleep_interval(T0) == MAX_SLEEP_INTERVAL == 60
    fast = scheduler.register(add, "default", interval=10)
    # Never ran: no next time yet, so not counted (as upstream); the loop enqueues it before it sleeps.
    assert scheduler.calculate_sleep_interval(T0) == MAX_SLEEP_INTERVAL
    fast.set_enqueue_time(T0)
    assert scheduler.calculate_sleep_interval(T0 + timedelta(seconds=4)) == 6
    assert scheduler.calculate_sleep_interval(T0 + timedelta(seconds=30)) == 0  # overdue
    fast.set_enqueue_time(T0 - timedelta(seconds=10) + timedelta(seconds=3600))
    assert scheduler.calculate_sleep_interval(T0) == MAX_SLEEP_INTERVAL


# ---- CronScheduler: Redis layout ----------------------------------------------------------------


def test_birth_writes_the_hash_and_the_registry_entry(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection, name="layout")
    scheduler.register(add, "default", args=(1, 2), kwargs={"b": 3}, interval=30, meta={"m": 1})
    scheduler.register(say_hello, "low", cron="*/5 * * * *", job_timeout=10, ttl=20, failure_ttl=30, name="five")
    before = time.time()
    scheduler.register_birth()

    fields = {key.decode(): value.decode() for key, value in connection.hgetall("rq:cron_scheduler:layout").items()}
    assert set(fields) == {"hostname", "pid", "name", "created_at", "config_file", "cron_jobs"}
    assert (fields["name"], fields["hostname"], fields["pid"]) == ("layout", socket.gethostname(), str(os.getpid()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields["created_at"])
    assert fields["config_file"] == ""
    jobs = json.loads(fields["cron_jobs"])
    assert jobs[0] == {
        "func_name": "tests.jobs.add",
        "name": "tests.jobs.add",
        "queue_name": "default",
        "args": "[1, 2]",
        "kwargs": '{"b": 3}',
        "interval": 30,
        "cron": None,
        "latest_enqueue_time": None,
        "next_enqueue_time": None,
        "result_ttl": 500,
        "meta": '{"m": 1}',
    }
    assert list(jobs[1]) == [
        "func_name", "name", "queue_name", "args", "kwargs", "interval", "cron",
        "latest_enqueue_time", "next_enqueue_time", "job_timeout", "result_ttl", "ttl", "failure_ttl",
    ]  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d[05]:00\.000000Z", jobs[1]["next_enqueue_time"])
    assert 0 < connection.ttl(scheduler.key) <= DEFAULT_CRON_SCHEDULER_TTL == 120
    score = connection.zscore(SCHEDULERS, "layout")
    assert before <= score <= time.time()
    assert scheduler.last_heartbeat == datetime.fromtimestamp(score, tz=timezone.utc)

    scheduler.enqueue_jobs()  # publishes the enqueue times
    jobs = json.loads(connection.hget(scheduler.key, "cron_jobs"))
    assert parse_ts(jobs[0]["latest_enqueue_time"]) == scheduler.get_jobs()[0].latest_enqueue_time

    scheduler.register_death()
    assert not connection.exists(scheduler.key)
    assert connection.zscore(SCHEDULERS, "layout") is None
    assert scheduler.last_heartbeat is None


def test_a_running_name_cannot_be_registered_twice(connection: redis.Redis) -> None:
    CronScheduler(connection, name="twin").register_birth()
    with pytest.raises(DuplicateSchedulerError, match="'twin' is already running"):
        CronScheduler(connection, name="twin").register_birth()


def test_a_stale_name_is_taken_over(connection: redis.Redis) -> None:
    connection.zadd(SCHEDULERS, {"reborn": time.time() - DEFAULT_CRON_SCHEDULER_TTL - 5})
    scheduler = CronScheduler(connection, name="reborn")
    scheduler.register_birth()
    assert connection.zscore(SCHEDULERS, "reborn") > time.time() - 5
    assert connection.exists(scheduler.key)


def test_heartbeat_refreshes_and_recreates_the_registration(connection: redis.Redis) -> None:
    scheduler = CronScheduler(connection, name="beating")
    scheduler.register(add, "default", interval=5)
    scheduler.register_birth()
    connection.expire(scheduler.key, 5)
    connection.zadd(SCHEDULERS, {"beating": 1})
    scheduler.heartbeat()
    assert connection.ttl(scheduler.key) > 5
    assert connection.zscore(SCHEDULERS, "beating") > time.time() - 5

    connection.delete(scheduler.key, SCHEDULERS)  # as after a restart that lost the data
    scheduler.heartbeat()
    assert connection.hget(scheduler.key, "name") == b"beating"
    assert json.loads(connection.hget(scheduler.key, "cron_jobs"))[0]["interval"] == 5
    assert 0 < connection.ttl(scheduler.key) <= DEFAULT_CRON_SCHEDULER_TTL
    assert connection.zscore(SCHEDULERS, "beating") is not None


def test_fetch_and_all(connection: redis.Redis) -> None:
    assert CronScheduler.all(connection) == []
    with pytest.raises(SchedulerNotFound):
        CronScheduler.fetch("missing", connection)

    running = CronScheduler(connection, name="alive")
    running.register(add, "default", args=(1, 2), interval=30, job_timeout=15)
    running.config_file = "conf/cron.py"
    running.register_birth()
    fetched = CronScheduler.fetch("alive", connection)
    assert (fetched.name, fetched.hostname, fetched.pid) == ("alive", running.hostname, running.pid)
    assert (fetched.created_at, fetched.config_file) == (running.created_at, "conf/cron.py")
    [cron_job] = fetched.get_jobs()
    assert (cron_job.func, cron_job.func_name, cron_job.args, cron_job.interval) == (None, "tests.jobs.add", (1, 2), 30)
    assert cron_job.job_options == {"job_timeout": 15, "result_ttl": 500}

    now = time.time()
    connection.zadd(SCHEDULERS, {"stale": now - DEFAULT_CRON_SCHEDULER_TTL - 1, "no-hash": now})
    connection.hset("rq:cron_scheduler:stale", "name", "stale")
    assert [s.name for s in CronScheduler.all(connection, cleanup=False)] == ["stale", "alive"]
    assert connection.zscore(SCHEDULERS, "stale") is not None
    assert [s.name for s in CronScheduler.all(connection)] == ["alive"]  # "no-hash" has no hash
    assert connection.zscore(SCHEDULERS, "stale") is None
    assert connection.zscore(SCHEDULERS, "no-hash") is not None


class ProjectScheduler(CronScheduler):
    """Like django-rq's subclass: starts without a connection and takes one at the first register()."""

    def __init__(self, connection: Optional[redis.Redis] = None, logging_level: int = logging.INFO, name: str = ""):
        super().__init__(connection=connection, logging_level=logging_level, name=name)
        self.extra = "project"

    def register(self, func: Any, queue_name: str, *args: Any, **kwargs: Any) -> CronJob:  # type: ignore[override]
        if self.connection is None:
            self.connection = self.pending_connection
        return super().register(func, queue_name, *args, **kwargs)


def test_subclasses_come_back_from_all_and_can_start_without_a_connection(connection: redis.Redis) -> None:
    scheduler = ProjectScheduler()
    with pytest.raises(RuntimeError, match="no Redis connection"):
        scheduler.register_birth()
    scheduler.pending_connection = connection  # type: ignore[attr-defined]
    scheduler.register(add, "default", interval=10)
    assert scheduler.connection is connection
    scheduler.register_birth()
    [found] = ProjectScheduler.all(connection)
    assert type(found) is ProjectScheduler and found.extra == "project"
    assert found.name == scheduler.name
    assert type(ProjectScheduler.fetch(scheduler.name, connection)) is ProjectScheduler


# ---- config files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [CONFIG_MODULE, CONFIG_FILE, str(ROOT / CONFIG_FILE)])
def test_load_config(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    monkeypatch.chdir(ROOT)
    scheduler = CronScheduler(connection)
    loaded = scheduler.load_config_from_file(config)
    assert [(j.name, j.func_name, j.queue_name) for j in loaded] == [
        ("tests.jobs.add", "tests.jobs.add", "cron-default"),
        ("hello-every-five", "tests.jobs.say_hello", "cron-low"),
    ]
    assert scheduler.get_jobs() == loaded
    assert scheduler.config_file == config
    assert loaded[1].job_options["job_timeout"] == 30
    again = scheduler.load_config_from_file(config)  # the config runs again, even if imported before
    assert len(again) == 2 and len(scheduler.get_jobs()) == 4


def test_config_file_next_to_its_own_modules(connection: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "cron_sibling_tasks.py").write_text("def tick():\n    return 'tick'\n")
    (tmp_path / "crontab_local.py").write_text(
        "from rq import cron\n"
        "import cron_sibling_tasks\n\n"
        "def tock():\n    return 'tock'\n\n"
        "cron.register(cron_sibling_tasks.tick, 'default', interval=5)\n"
        "cron.register(tock, 'default', cron='@hourly')\n"
    )
    scheduler = CronScheduler(connection)
    loaded = scheduler.load_config_from_file(str(tmp_path / "crontab_local.py"))
    assert [cron_job.func_name for cron_job in loaded] == ["cron_sibling_tasks.tick", "crontab_local.tock"]
    job = loaded[1].enqueue(connection)
    assert job.func() == "tock"


def test_config_errors(connection: redis.Redis, tmp_path: Path) -> None:
    scheduler = CronScheduler(connection)
    with pytest.raises(FileNotFoundError, match="Cron config file 'missing_cron.py' not found"):
        scheduler.load_config_from_file("missing_cron.py")
    with pytest.raises(FileNotFoundError, match="not found"):
        scheduler.load_config_from_file(str(tmp_path / "nowhere" / "cron.py"))
    with pytest.raises(ModuleNotFoundError, match="Cron config module 'no_such_package.cron' not found"):
        scheduler.load_config_from_file("no_such_package.cron")
    bad = tmp_path / "bad_cron_config.py"
    bad.write_text(
        "from rq import cron\nfrom tests.jobs import add\n"
        "cron.register(add, 'default', interval=5)\n"
        "cron.register(add, 'default', interval=5, cron='* * * * *')\n"
    )
    with pytest.raises(ValueError, match="exactly one"):
        scheduler.load_config_from_file(str(bad))
    assert scheduler.get_jobs() == []
    assert create_cron(connection).get_jobs() == []  # nothing left over from the failed config


def test_module_level_register_and_create_cron(connection: redis.Redis) -> None:
    declared = cron.register(add, "default", args=(1, 2), interval=15, name="declared")
    assert declared["func"] is add and declared["interval"] == 15 and declared["name"] == "declared"
    with pytest.raises(ValueError, match="exactly one"):
        cron.register(add, "default")
    scheduler = create_cron(connection)
    assert isinstance(scheduler, CronScheduler)
    assert [cron_job.name for cron_job in scheduler.get_jobs()] == ["declared"]
    assert create_cron(connection).get_jobs() == []


# ---- the loop ------------------------------------------------------------------------------------------


def test_start_enqueues_until_stopped(connection: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rq.cron")
    scheduler = CronScheduler(connection, name="looping")
    scheduler.register(add, "cron-loop", args=(1, 2), interval=1)
    queue = Queue("cron-loop", connection=connection)
    with SchedulerThread(scheduler) as runner:
        wait_for(lambda: len(queue) >= 2, "two runs of the interval job")
        assert [s.name for s in CronScheduler.all(connection)] == ["looping"]
    assert not runner.errors
    assert CronScheduler.all(connection) == []
    assert not connection.exists(scheduler.key)
    assert "Cron scheduler looping: enqueued tests.jobs.add on cron-loop as job" in caplog.text


def test_start_refuses_a_name_that_is_running(connection: redis.Redis) -> None:
    CronScheduler(connection, name="taken").register_birth()
    scheduler = CronScheduler(connection, name="taken")
    with pytest.raises(DuplicateSchedulerError):
        scheduler.start()
    assert connection.exists("rq:cron_scheduler:taken")  # the other one's registration is left alone


def test_signal_stops_start_in_the_main_thread(connection: redis.Redis) -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    scheduler = CronScheduler(connection, name="signalled")
    scheduler.register(add, "default", args=(1, 2), interval=60)

    def stop_when_registered() -> None:
        # Only once start() runs (its handler is installed): a SIGTERM before would end pytest.
        wait_for(lambda: connection.zscore(SCHEDULERS, "signalled"), "the scheduler to register")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_registered, daemon=True).start()
    scheduler.start()
    assert connection.zscore(SCHEDULERS, "signalled") is None
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


@pytest.mark.faults
def test_redis_restart_is_survived(restartable_redis: BaseRedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rq.cron")
    connection = restartable_redis.client()
    # No client-side retries: the outage must reach the scheduler loop.
    scheduler = CronScheduler(restartable_redis.client(retry=RedisRetry(NoBackoff(), 0)), name="survivor")
    scheduler.register(add, "cron-outage", args=(1, 2), interval=1)
    queue = Queue("cron-outage", connection=connection)
    with SchedulerThread(scheduler) as runner:
        wait_for(lambda: len(queue) >= 1, "a first run")
        restartable_redis.restart(downtime=2)  # comes back empty
        wait_for(lambda: len(queue) >= 2, "runs after the restart")
        wait_for(lambda: connection.exists("rq:cron_scheduler:survivor"), "the hash written again")
        assert connection.zscore(SCHEDULERS, "survivor") is not None
    assert not runner.errors
    records = [record for record in caplog.records if record.name == "rq.cron"]
    assert any(r.levelno == logging.WARNING and "lost" in r.getMessage() for r in records)
    assert any(r.levelno == logging.INFO and "recovered" in r.getMessage() for r in records)
    assert not [r for r in records if r.levelno >= logging.ERROR]
    connection.close()


# ---- rq cron ------------------------------------------------------------------------------------------


def start_rq_cron(*args: str, output: Path) -> subprocess.Popen:
    with open(output, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "rq", "cron", *args], cwd=ROOT, env=rq_env(), stdout=log, stderr=subprocess.STDOUT
        )


@pytest.mark.parametrize(("config", "stop"), [(CONFIG_FILE, signal.SIGINT), (CONFIG_MODULE, signal.SIGTERM)])
def test_rq_cron_runs_until_signalled(
    redis_url: str, connection: redis.Redis, tmp_path: Path, config: str, stop: signal.Signals
) -> None:
    output = tmp_path / "cron.out"
    process = start_rq_cron(config, "--url", redis_url, "-l", "debug", output=output)
    try:
        queue = Queue("cron-default", connection=connection)
        wait_for(lambda: len(queue) >= 2 or process.poll() is not None, "two runs of the interval job")
        assert process.poll() is None, output.read_text()
        [scheduler] = CronScheduler.all(connection)
        assert scheduler.pid == process.pid
        assert scheduler.config_file == config
        assert [cron_job.name for cron_job in scheduler.get_jobs()] == ["tests.jobs.add", "hello-every-five"]
        process.send_signal(stop)
        assert process.wait(timeout=WAIT) == 0, output.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert CronScheduler.all(connection) == []
    log = output.read_text()
    assert f"received {stop.name}; stopping" in log
    assert "Traceback" not in log
    assert Job.fetch(queue.job_ids[0], connection=connection).args == (1, 2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("missing_cron.py", "Error: Cron config file 'missing_cron.py' not found\n"),
        ("missing.cron_module", "Error: Cron config module 'missing.cron_module' not found\n"),
    ],
)
def test_rq_cron_reports_a_missing_config_in_one_line(redis_url: str, config: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rq", "cron", config, "--url", redis_url],
        cwd=ROOT,
        env=rq_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr, result.stdout) == (1, message, "")


def test_rq_cron_reports_config_errors(redis_url: str, tmp_path: Path) -> None:
    runner = cli_runner()
    broken = tmp_path / "broken_cron.py"
    broken.write_text("import no_module_of_that_name\n")
    result = runner.invoke(main, ["cron", str(broken), "--url", redis_url])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Could not load cron config {str(broken)!r}: No module named 'no_module_of_that_name'\n"
    )
    invalid = tmp_path / "invalid_cron.py"
    invalid.write_text("from rq import cron\nfrom tests.jobs import add\ncron.register(add, 'q', cron='99 * * * *')\n")
    result = runner.invoke(main, ["cron", str(invalid), "--url", redis_url])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Invalid cron config {str(invalid)!r}: Invalid cron expression")


def test_rq_cron_options(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[CronScheduler] = []
    monkeypatch.setattr(CronScheduler, "start", lambda self: started.append(self))
    runner = cli_runner()
    result = runner.invoke(
        main, ["cron", CONFIG_MODULE, "--url", redis_url, "--logging-level", "warning", "-S", "json"]
    )
    assert result.exit_code == 0, result.output
    [scheduler] = started
    assert scheduler.logging_level == "WARNING"
    assert scheduler.serializer is not None and scheduler.serializer.__name__ == "JSONSerializer"
    assert len(scheduler.get_jobs()) == 2
    result = runner.invoke(main, ["cron", CONFIG_MODULE, "--url", redis_url, "-l", "LOUD"])
    assert result.exit_code == 2
    assert "'LOUD' is not one of" in result.stderr
    assert "Usage: main cron [OPTIONS] CONFIG_PATH" in runner.invoke(main, ["cron", "--help"]).output


# ---- upstream 2.12's names in rq.cron ---------------------------------------------------------------


def test_job_data_registry_holds_registrations_until_a_scheduler_takes_them(connection: redis.Redis) -> None:
    registry = cron._job_data_registry
    assert registry == []
    declared = cron.register(add, "default", interval=5)
    assert registry == [declared]  # the very list upstream's tests import and clear
    scheduler = CronScheduler(connection)
    scheduler.load_config_from_file(CONFIG_MODULE)
    assert len(scheduler.get_jobs()) == 2 and registry == [declared]  # the config's own were taken
    assert len(create_cron(connection).get_jobs()) == 1
    assert registry == [] and cron._job_data_registry is registry


def test_history_names_by_cron_job_name(connection: redis.Redis) -> None:
    assert cron.get_cron_job_history_key("greeter") == "rq:cron_job:greeter:jobs"
    cron_job = CronJob("cron-q", func=add, args=(1, 1), interval=10, name="greeter")
    first, second = cron_job.enqueue(connection), cron_job.enqueue(connection)
    assert cron.get_cron_job_ids("greeter", connection) == [second.id, first.id]
    assert cron.get_cron_job_ids("greeter", connection, start=1) == [first.id]
    assert cron.cron_job_registry.get_names(connection) == ["greeter"]
    assert cron.cron_scheduler_registry.get_registry_key() == SCHEDULERS


def test_the_history_cap_is_read_from_rq_cron(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron, "DEFAULT_CRON_JOB_HISTORY_LIMIT", 2)
    cron_job = CronJob("cron-q", func=add, args=(1, 1), interval=10, name="short")
    jobs = [cron_job.enqueue(connection) for _ in range(3)]
    assert cron_job.get_job_ids(connection) == [jobs[2].id, jobs[1].id]


def test_the_clock_is_rq_cron_now_and_times_keep_their_kind(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naive times give naive results (wall clock), as with upstream; ``rq.cron.now`` can be replaced."""
    clock = {"now": datetime(2023, 10, 27, 8, 59)}
    monkeypatch.setattr(cron, "now", lambda: clock["now"])
    scheduler = CronScheduler(connection)
    daily = scheduler.register(add, "cron-q", args=(1, 1), cron="0 9 * * *")
    every = scheduler.register(add, "cron-q", args=(2, 2), interval=90)
    assert daily.next_enqueue_time == datetime(2023, 10, 27, 9, 0)
    assert scheduler.enqueue_jobs() == [every]
    assert every.next_enqueue_time == datetime(2023, 10, 27, 9, 0, 30)
    assert scheduler.calculate_sleep_interval() == 60

    clock["now"] = datetime(2023, 10, 27, 9, 0)
    assert scheduler.enqueue_jobs() == [daily]
    assert daily.latest_enqueue_time == datetime(2023, 10, 27, 9, 0)
    assert daily.next_enqueue_time == datetime(2023, 10, 28, 9, 0)
    assert scheduler.calculate_sleep_interval() == 30
    # An aware time against a naive one is compared as local time.
    assert daily.should_run(datetime(2023, 10, 28, 9, 0).astimezone(timezone.utc))


def test_a_cron_job_read_back_cannot_be_enqueued(connection: redis.Redis) -> None:
    restored = CronJob.from_dict(CronJob("cron-q", func=add, args=(1, 2), interval=5).to_dict())
    assert restored.func is None and restored.args == (1, 2)
    with pytest.raises(ValueError, match="no function"):
        restored.enqueue(connection)
    with pytest.raises(ValueError, match="no function"):
        CronJob("cron-q", func_name="tests.jobs.add", interval=5).enqueue(connection)
    assert Queue("cron-q", connection=connection).count == 0


def test_schedulers_are_equal_by_name(connection: redis.Redis) -> None:
    first, same = CronScheduler(connection, name="one"), CronScheduler(None, name="one")
    assert first == same and hash(first) == hash(same) and len({first, same}) == 1
    assert first != CronScheduler(connection, name="two")
    assert first != "one"


def test_start_unregisters_then_raises_an_error_that_is_not_from_redis(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = CronScheduler(connection, name="broken")

    def broken(now: Optional[datetime] = None) -> list:
        raise RuntimeError("a bug")

    monkeypatch.setattr(scheduler, "enqueue_jobs", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        scheduler.start()
    assert connection.zscore(SCHEDULERS, "broken") is None
    assert not connection.exists(scheduler.key)


def test_start_retries_a_command_redis_refuses(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler = CronScheduler(connection, name="refused")
    calls: list[int] = []

    def refused_once(now: Optional[datetime] = None) -> list:
        calls.append(1)
        if len(calls) == 1:
            raise redis.exceptions.ResponseError("OOM command not allowed when used memory > 'maxmemory'")
        scheduler.request_stop()
        return []

    monkeypatch.setattr(scheduler, "enqueue_jobs", refused_once)
    scheduler.start()
    assert len(calls) == 2
    assert connection.zscore(SCHEDULERS, "refused") is None


def test_start_returns_on_keyboard_interrupt(connection: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler = CronScheduler(connection, name="interrupted")

    def interrupted(now: Optional[datetime] = None) -> list:
        raise KeyboardInterrupt

    monkeypatch.setattr(scheduler, "enqueue_jobs", interrupted)
    scheduler.start()
    assert connection.zscore(SCHEDULERS, "interrupted") is None
