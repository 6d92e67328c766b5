"""The scheduler as upstream RQ exposes it: a set of queue names, lock_acquisition_time,
registries rebuilt lazily, register_death's result, and the worker keeping its scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import redis

from rq import Queue, SimpleWorker
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry
from rq.scheduler import RQScheduler, SchedulerStatus
from tests.jobs import say_hello


def test_queue_names_are_a_set_and_locks_follow_it(connection: redis.Redis) -> None:
    scheduler = RQScheduler([Queue("one", connection=connection), "two"], connection=connection)
    assert scheduler._queue_names == {"one", "two"}
    assert scheduler.status == SchedulerStatus.STOPPED
    assert scheduler.should_reacquire_locks
    assert scheduler.acquire_locks() == {"one", "two"}
    assert scheduler.lock_acquisition_time is not None and not scheduler.should_reacquire_locks
    scheduler._queue_names.add("three")
    assert not scheduler.should_reacquire_locks  # a queue is not locked, but the last try is recent
    scheduler.lock_acquisition_time = datetime.now() - timedelta(seconds=scheduler.reacquire_period + 1)
    assert scheduler.should_reacquire_locks
    assert scheduler.acquire_locks() == {"one", "two", "three"}
    scheduler.stop()
    assert not connection.keys("rq:scheduler-lock:*")


def test_registries_keep_the_given_order_and_are_rebuilt_after_a_lost_lock(connection: redis.Redis) -> None:
    scheduler = RQScheduler(["b", "a"], connection=connection)
    scheduler.prepare_registries(["b", "a"])
    assert [registry.name for registry in scheduler._scheduled_job_registries] == ["b", "a"]
    scheduler.acquire_locks()
    connection.set(scheduler.get_locking_key("a"), "another-scheduler")
    scheduler.heartbeat()
    assert scheduler._acquired_locks == {"b"} and scheduler._scheduled_job_registries == []
    queue = Queue("b", connection=connection)
    job = queue.enqueue_at(datetime(2020, 1, 1, tzinfo=timezone.utc), say_hello)
    assert scheduler.enqueue_scheduled_jobs() == 1
    assert [registry.name for registry in scheduler._scheduled_job_registries] == ["b"]
    assert job.id in queue.get_job_ids()
    scheduler.stop()


def test_register_death_says_whether_the_hash_existed(connection: redis.Redis) -> None:
    scheduler = RQScheduler(["x"], connection=connection)
    scheduler.register_birth()
    assert scheduler.register_death() is True
    assert scheduler.register_death() is False


def test_work_sleeps_between_passes_and_stops_on_request(connection: redis.Redis, monkeypatch) -> None:
    scheduler = RQScheduler(["loop"], connection=connection)
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        scheduler.request_stop()

    monkeypatch.setattr("rq.scheduler.time.sleep", fake_sleep)
    scheduler.work()
    assert sleeps and sleeps[0] <= 0.1
    assert scheduler.status == SchedulerStatus.STOPPED
    assert not connection.exists(scheduler.key)


def test_burst_worker_keeps_its_stopped_scheduler(connection: redis.Redis) -> None:
    queue = Queue("burst", connection=connection)
    job = queue.enqueue_at(datetime(2020, 1, 1, tzinfo=timezone.utc), say_hello)
    worker = SimpleWorker([queue], connection=connection)
    worker.work(burst=True, with_scheduler=True)
    assert worker.scheduler is not None and worker.scheduler.status == SchedulerStatus.STOPPED
    assert connection.get(RQScheduler.get_locking_key("burst")) is None
    assert not connection.exists(worker.scheduler.key)
    assert job.id in FinishedJobRegistry("burst", connection=connection).get_job_ids()
    assert ScheduledJobRegistry("burst", connection=connection).count == 0


def test_worker_restarts_its_scheduler_only_after_the_first_maintenance(connection: redis.Redis) -> None:
    queue = Queue("maint", connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    worker.scheduler = RQScheduler([queue], connection=connection)
    calls: list[bool] = []
    worker.scheduler.acquire_locks = lambda auto_start=False: calls.append(auto_start) or set()  # type: ignore[method-assign]
    worker.run_maintenance_tasks()
    assert calls == []  # the first pass follows work(), which has just started the scheduler
    worker.run_maintenance_tasks()
    assert calls == [True]
