"""Tests of rq/scheduler.py: scheduling, locks, the scheduler loop and its failure modes."""

from __future__ import annotations

import calendar
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import SchedulerNotFound
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.results import Result
from rq.scheduler import RQScheduler, SchedulerStatus, start_worker_scheduler
from tests.redis_harness import BaseRedisServer

ROOT = Path(__file__).resolve().parent.parent
RECORD = "tests.scheduler_jobs.record"
FAIL = "tests.scheduler_jobs.fail_and_count"
# Generous bound for anything that waits on another process; tests never assert speed.
WAIT = 30.0


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def past(seconds: int) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def lock_owner(connection: redis.Redis, queue_name: str) -> Optional[str]:
    value = connection.get(RQScheduler.get_locking_key(queue_name))
    return value.decode() if value is not None else None


def schedule_together(queue: Queue, ages: tuple[int, ...]) -> list[Job]:
    """Schedule due jobs (``age`` seconds overdue) in one transaction, so a scheduler sees all or none."""
    with queue.connection.pipeline() as pipe:
        jobs = [queue.enqueue_at(past(age), RECORD, "ran", str(age), pipeline=pipe) for age in ages]
        pipe.execute()
    return jobs


def recorded(connection: redis.Redis, key: str) -> list[str]:
    return [value.decode() for value in connection.lrange(key, 0, -1)]


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """Workers run in the test process install SIGINT/SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def local_time_india() -> Iterator[None]:
    """Run with local time UTC+05:30 (a POSIX TZ string: no time zone database needed)."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


class WorkerProcesses:
    """Workers with schedulers run as `python -m tests.scheduler_jobs` in their own process groups."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[tuple[subprocess.Popen, Path]] = []

    def start(self, redis_url: str, queue: str, name: str, *options: str) -> subprocess.Popen:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.scheduler_jobs", redis_url, queue, "--name", name, *options],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((process, log_path))
        return process

    @staticmethod
    def kill_group(process: subprocess.Popen) -> None:
        """SIGKILL the worker and its scheduler child (same process group) at once."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(WAIT)

    def close(self) -> None:
        for process, log_path in self.processes:
            if process.poll() is None:
                self.kill_group(process)
            print(f"---- {log_path.name} ----\n{log_path.read_text(errors='replace')}")


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(tmp_path)
    yield processes
    processes.close()


class SchedulerThread:
    """``RQScheduler.work()`` in a thread of the test process, stopped with ``request_stop()``."""

    def __init__(self, scheduler: RQScheduler) -> None:
        self.scheduler = scheduler
        self.thread = threading.Thread(target=scheduler.work, name=f"scheduler-{scheduler.name}", daemon=True)

    def __enter__(self) -> RQScheduler:
        self.thread.start()
        return self.scheduler

    def __exit__(self, *exc_info: object) -> None:
        self.scheduler.request_stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


# ---- enqueue_at / enqueue_in ---------------------------------------------------------------


def test_enqueue_at_naive_datetime_is_local_time(connection: redis.Redis, local_time_india: None) -> None:
    queue = Queue("default", connection=connection)
    job = queue.enqueue_at(datetime(2030, 1, 1, 12, 0, 0), RECORD, "k", "v")

    registry = ScheduledJobRegistry(queue=queue)
    expected = calendar.timegm((2030, 1, 1, 12, 0, 0)) - 5 * 3600 - 30 * 60  # 12:00 at UTC+05:30
    assert connection.zscore(registry.key, job.id) == expected
    assert registry.get_scheduled_time(job) == datetime(2030, 1, 1, 6, 30, tzinfo=timezone.utc)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job in registry
    assert queue.job_ids == []


def test_enqueue_at_aware_datetime(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    when = datetime(2030, 6, 1, 12, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    job = queue.enqueue_at(when, RECORD, "k", "v")

    registry = queue.scheduled_job_registry
    assert connection.zscore(registry.key, job.id) == calendar.timegm((2030, 6, 1, 10, 0, 30))
    assert registry.get_scheduled_time(job.id) == when
    assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.SCHEDULED


def test_enqueue_in(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    before = int(time.time())
    job = queue.enqueue_in(timedelta(minutes=10), RECORD, "k", "v")
    after = int(time.time())

    score = connection.zscore(queue.scheduled_job_registry.key, job.id)
    assert before + 600 <= score <= after + 600
    assert job.get_status() == JobStatus.SCHEDULED


# ---- moving due jobs -------------------------------------------------------------------------


def test_due_jobs_are_enqueued_in_due_order(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    registry = queue.scheduled_job_registry
    ages = [30, 10, 50, 20, 40]
    jobs = {age: queue.enqueue_at(past(age), RECORD, "k", str(age)) for age in ages}
    later = queue.enqueue_in(timedelta(hours=1), RECORD, "k", "later")
    connection.zadd(registry.key, {"no-such-job": int(time.time()) - 60})

    scheduler = RQScheduler([queue], connection=connection)
    assert scheduler.acquire_locks() == {"default"}
    assert scheduler.enqueue_scheduled_jobs() == len(ages)

    assert queue.job_ids == [jobs[age].id for age in sorted(ages, reverse=True)]
    assert registry.get_job_ids() == [later.id]  # the dangling id is gone too
    for job in jobs.values():
        job.refresh()
        assert job.get_status() == JobStatus.QUEUED
        assert job.enqueued_at is not None
        assert job.origin == "default"
    assert connection.sismember("rq:queues", queue.key)
    assert scheduler.enqueue_scheduled_jobs() == 0


def test_enqueue_applies_job_ttl_and_front_flags(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    with_ttl = queue.enqueue_at(past(40), RECORD, "k", "ttl", ttl=1000)
    connection.expire(with_ttl.key, 50)
    retried = queue.enqueue_at(past(30), RECORD, "k", "retried", retry=Retry(max=2, enqueue_at_front=True))
    connection.hset(retried.key, "started_at", "2024-01-01T00:00:00.000000Z")  # it ran before
    never_ran = queue.enqueue_at(past(20), RECORD, "k", "never ran", retry=Retry(max=2, enqueue_at_front=True))
    front = queue.enqueue_at(past(10), RECORD, "k", "front", at_front=True)

    scheduler = RQScheduler("default", connection=connection)
    scheduler.acquire_locks()
    assert scheduler.enqueue_scheduled_jobs() == 4

    assert queue.job_ids == [front.id, retried.id, with_ttl.id, never_ran.id]
    assert connection.ttl(with_ttl.key) > 900


def test_no_lock_no_move(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    job = queue.enqueue_at(past(5), RECORD, "k", "v")
    connection.set(RQScheduler.get_locking_key("default"), "someone-else", ex=60)

    scheduler = RQScheduler("default", connection=connection)
    assert scheduler.acquire_locks() == set()
    assert scheduler.enqueue_scheduled_jobs() == 0
    assert job in queue.scheduled_job_registry
    assert queue.job_ids == []


def test_a_lock_taken_meanwhile_stops_the_move(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    job = queue.enqueue_at(past(5), RECORD, "k", "v")
    scheduler = RQScheduler("default", connection=connection)
    scheduler.acquire_locks()
    connection.set(RQScheduler.get_locking_key("default"), "someone-else", ex=60)  # ours expired, taken

    assert scheduler.enqueue_scheduled_jobs() == 0
    assert scheduler.acquired_locks == set()
    assert job in queue.scheduled_job_registry
    assert queue.job_ids == []


def test_a_stale_batch_moves_nothing(connection: redis.Redis) -> None:
    """Ids read before another mover (or a cancel) acted are skipped one by one."""
    queue = Queue("default", connection=connection)
    moved = queue.enqueue_at(past(10), RECORD, "k", "moved")
    canceled = queue.enqueue_at(past(5), RECORD, "k", "canceled")
    scheduler = RQScheduler("default", connection=connection)
    scheduler.acquire_locks()
    registry = queue.scheduled_job_registry
    stale_ids = registry.get_jobs_to_schedule()
    assert stale_ids == [moved.id, canceled.id]

    canceled.cancel()
    assert scheduler.enqueue_scheduled_jobs() == 1
    assert scheduler._move_jobs(registry, stale_ids) == 0

    assert queue.job_ids == [moved.id]
    assert canceled.get_status() == JobStatus.CANCELED


@pytest.mark.parametrize("same_name", [False, True], ids=["separate-schedulers", "one-name-twice"])
def test_concurrent_schedulers_enqueue_each_job_once(connection: redis.Redis, redis_url: str, same_name: bool) -> None:
    """Four schedulers race over 200 due jobs while locks change hands; every job is pushed once.

    With one name shared by all (a restarted scheduler whose old process still runs), the
    lock does not separate them at all, and the per-job check alone must hold.
    """
    queue = Queue("default", connection=connection)
    clients = [redis.Redis.from_url(redis_url) for _ in range(4)]
    schedulers = [
        RQScheduler("default", connection=client, name="shared" if same_name else None, reacquire_period=0)
        for client in clients
    ]
    stop = threading.Event()
    calm = threading.Event()
    errors: list[BaseException] = []

    def race(scheduler: RQScheduler) -> None:
        rng = random.Random()
        try:
            while not stop.is_set():
                scheduler.acquire_locks()
                scheduler.enqueue_scheduled_jobs()
                if rng.random() < 0.3:
                    scheduler.release_locks()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def chaos() -> None:
        rng = random.Random()
        while not calm.is_set():  # while jobs are being scheduled, locks "expire" at random moments
            connection.delete(RQScheduler.get_locking_key("default"))
            time.sleep(rng.uniform(0.001, 0.01))

    threads = [threading.Thread(target=race, args=(scheduler,)) for scheduler in schedulers]
    threads.append(threading.Thread(target=chaos))
    for thread in threads:
        thread.start()
    try:
        expected = set()
        for batch in range(10):
            with connection.pipeline() as pipe:
                jobs = [queue.enqueue_at(past(batch + 1), RECORD, "k", str(n), pipeline=pipe) for n in range(20)]
                pipe.execute()
            expected.update(job.id for job in jobs)
        calm.set()
        wait_for(lambda: connection.zcard(queue.scheduled_job_registry.key) == 0, "the registry to empty")
    finally:
        calm.set()
        stop.set()
        for thread in threads:
            thread.join(WAIT)
        for client in clients:
            client.close()
    assert not errors
    pushed = queue.job_ids
    assert len(pushed) == 200
    assert set(pushed) == expected


# ---- locks and metadata -------------------------------------------------------------------


def test_defaults_match_upstream(connection: redis.Redis) -> None:
    scheduler = RQScheduler(["a", "b"], connection=connection)
    assert scheduler.interval == 1
    assert scheduler.lock_ttl == 61
    assert scheduler.reacquire_period == 120
    assert scheduler.status == SchedulerStatus.STOPPED == "stopped"
    assert RQScheduler.Status is SchedulerStatus
    assert len(scheduler.name) == 32
    assert scheduler.key == f"rq:scheduler:{scheduler.name}"
    assert RQScheduler.get_locking_key("a") == "rq:scheduler-lock:a"


def test_lock_acquire_refresh_and_owners(connection: redis.Redis) -> None:
    first = RQScheduler(["q1", "q2"], connection=connection)
    assert first.acquire_locks() == {"q1", "q2"}
    assert lock_owner(connection, "q1") == first.name
    assert 55 < connection.ttl(RQScheduler.get_locking_key("q1")) <= 61

    connection.expire(RQScheduler.get_locking_key("q1"), 5)
    first.acquire_locks()
    assert connection.ttl(RQScheduler.get_locking_key("q1")) > 55  # refreshed, still ours
    connection.expire(RQScheduler.get_locking_key("q2"), 5)
    first.heartbeat()
    assert connection.ttl(RQScheduler.get_locking_key("q2")) > 55

    second = RQScheduler(["q1", "q3"], connection=connection)
    assert second.acquire_locks() == {"q3"}
    assert lock_owner(connection, "q1") == first.name

    connection.set(RQScheduler.get_locking_key("q4"), "12345", ex=60)  # an RQ 1.x scheduler's PID
    third = RQScheduler("q4", connection=connection)
    assert third.acquire_locks() == set()
    assert lock_owner(connection, "q4") == "12345"
    assert Queue("q4", connection=connection).scheduler_pid == 12345


def test_heartbeat_drops_locks_taken_by_others_and_release_keeps_them(connection: redis.Redis) -> None:
    scheduler = RQScheduler(["q1", "q2"], connection=connection)
    other = RQScheduler("q3", connection=connection)
    scheduler.acquire_locks()
    other.acquire_locks()
    connection.set(RQScheduler.get_locking_key("q2"), "someone-else", ex=60)

    scheduler.heartbeat()
    assert scheduler.acquired_locks == {"q1"}

    scheduler.release_locks()
    assert lock_owner(connection, "q1") is None
    assert lock_owner(connection, "q2") == "someone-else"
    assert lock_owner(connection, "q3") == other.name


def test_should_reacquire_locks(connection: redis.Redis) -> None:
    connection.set(RQScheduler.get_locking_key("q2"), "someone-else", ex=60)
    patient = RQScheduler(["q1", "q2"], connection=connection)
    assert patient.should_reacquire_locks  # never tried
    patient.acquire_locks()
    assert not patient.should_reacquire_locks  # tried less than 120 s ago

    eager = RQScheduler(["q1", "q2"], connection=connection, reacquire_period=0)
    eager.acquire_locks()
    assert eager.should_reacquire_locks

    single = RQScheduler("q3", connection=connection, reacquire_period=0)
    single.acquire_locks()
    assert not single.should_reacquire_locks  # holds every lock it wants


def test_metadata_birth_heartbeat_fetch_death(connection: redis.Redis) -> None:
    scheduler = RQScheduler(["q1", "q2"], connection=connection)
    scheduler.register_birth()
    fields = {key.decode(): value.decode() for key, value in connection.hgetall(scheduler.key).items()}
    assert set(fields) == {"name", "hostname", "pid", "queues", "created_at", "last_heartbeat"}
    assert fields["queues"] == "q1,q2"
    assert fields["pid"] == str(os.getpid())
    assert fields["created_at"].endswith("Z")
    assert 55 < connection.ttl(scheduler.key) <= 61

    scheduler.acquire_locks()
    assert Queue("q1", connection=connection).scheduler_pid == os.getpid()
    first_beat = scheduler.last_heartbeat
    scheduler.heartbeat()
    fetched = RQScheduler.fetch(scheduler.name, connection)
    assert fetched.queue_names == ["q1", "q2"]
    assert fetched.pid == os.getpid()
    assert fetched.last_heartbeat is not None and first_beat is not None
    assert fetched.last_heartbeat >= first_beat

    scheduler.stop()
    assert scheduler.status == SchedulerStatus.STOPPED
    assert not connection.exists(scheduler.key)
    assert lock_owner(connection, "q1") is None
    with pytest.raises(SchedulerNotFound):
        RQScheduler.fetch(scheduler.name, connection)


# ---- with workers ---------------------------------------------------------------------------------


def test_burst_worker_with_scheduler_runs_due_jobs_in_order(
    connection: redis.Redis, keep_signal_handlers: None
) -> None:
    queue = Queue("default", connection=connection)
    for age in (20, 40, 30):
        queue.enqueue_at(past(age), RECORD, "ran", str(age))
    later = queue.enqueue_in(timedelta(hours=1), RECORD, "ran", "later")

    worker = SimpleWorker([queue], connection=connection)
    assert worker.work(burst=True, with_scheduler=True)

    assert recorded(connection, "ran") == ["40", "30", "20"]
    assert later in queue.scheduled_job_registry
    assert lock_owner(connection, "default") is None
    assert connection.keys("rq:scheduler:*") == []


def test_worker_with_scheduler_runs_scheduled_jobs_and_retries(
    connection: redis.Redis, redis_url: str, worker_processes: WorkerProcesses
) -> None:
    queue = Queue("default", connection=connection)
    process = worker_processes.start(redis_url, "default", "w-e2e")
    wait_for(lambda: lock_owner(connection, "default") == "w-e2e-scheduler", "the worker's scheduler lock")
    scheduler_pid = wait_for(lambda: queue.scheduler_pid, "the scheduler process to register")
    assert scheduler_pid != process.pid  # a child process of its own

    due = int(time.time()) + 2
    for offset, value in ((2, "c"), (0, "a"), (1, "b")):
        queue.enqueue_at(datetime.fromtimestamp(due + offset, tz=timezone.utc), RECORD, "ran", value)
    failing = queue.enqueue(FAIL, "runs", retry=Retry(max=2, interval=1))

    wait_for(lambda: len(recorded(connection, "ran")) == 3, "the scheduled jobs to run")
    assert recorded(connection, "ran") == ["a", "b", "c"]
    wait_for(lambda: failing.get_status() == JobStatus.FAILED, "the retried job to fail for good")
    assert int(connection.get("runs")) == 3

    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT) == 0
    assert lock_owner(connection, "default") is None
    assert connection.keys("rq:scheduler:*") == []


def test_retry_with_interval_goes_through_the_scheduled_registry(
    connection: redis.Redis, keep_signal_handlers: None
) -> None:
    queue = Queue("default", connection=connection)
    job = queue.enqueue(FAIL, "runs", retry=Retry(max=2, interval=1))
    registry = queue.scheduled_job_registry

    for retries_left in (1, 0):
        before = int(time.time())
        SimpleWorker([queue], connection=connection).work(burst=True, with_scheduler=True)
        job.refresh()
        assert job.get_status() == JobStatus.SCHEDULED
        assert job.retries_left == retries_left
        score = connection.zscore(registry.key, job.id)
        assert before + 1 <= score <= int(time.time()) + 1
        wait_for(lambda score=score: time.time() >= score, "the retry to be due")

    SimpleWorker([queue], connection=connection).work(burst=True, with_scheduler=True)
    assert job.get_status() == JobStatus.FAILED
    assert job in FailedJobRegistry(queue=queue)
    assert int(connection.get("runs")) == 3
    types = Counter(result.type for result in job.results())
    assert types == {Result.Type.RETRIED: 2, Result.Type.FAILED: 1}


def test_maintain_restarts_a_dead_scheduler_process(connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    worker = Worker([queue], connection=connection, name="w-maintain")
    scheduler = start_worker_scheduler(worker, burst=False)
    try:
        assert scheduler.acquired_locks == {"default"}
        first_pid = wait_for(
            lambda: queue.scheduler_pid if queue.scheduler_pid != os.getpid() else None,
            "the scheduler process to register",
        )
        os.kill(first_pid, signal.SIGKILL)
        assert lock_owner(connection, "default") == "w-maintain-scheduler"  # until it expires

        wait_for(lambda: not scheduler._process_alive(), "the scheduler process to die")
        scheduler.maintain()
        second_pid = wait_for(
            lambda: queue.scheduler_pid if queue.scheduler_pid not in (first_pid, os.getpid()) else None,
            "a new scheduler process",
        )
        job = queue.enqueue_at(past(1), RECORD, "ran", "after restart")
        wait_for(lambda: queue.job_ids == [job.id], "the new process to move a due job")
    finally:
        scheduler.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(second_pid, 0)
    assert lock_owner(connection, "default") is None
    assert not connection.exists(scheduler.key)
    scheduler.stop()  # a second stop does nothing
    scheduler.maintain()  # nor does maintenance of a stopped scheduler
    assert scheduler.acquired_locks == set()


@pytest.mark.slow
def test_killed_worker_hands_scheduling_over_after_lock_expiry(
    connection: redis.Redis, redis_url: str, worker_processes: WorkerProcesses
) -> None:
    queue = Queue("default", connection=connection)
    # Lock TTL = interval 1 s + grace 2 s; the production default is 61 s.
    holder = worker_processes.start(redis_url, "default", "w-holder", "--lock-grace", "2")
    wait_for(lambda: lock_owner(connection, "default") == "w-holder-scheduler", "the first worker's lock")

    standby = RQScheduler("default", connection=connection, interval=0.2, lock_grace=1, reacquire_period=0.5)
    with SchedulerThread(standby):
        time.sleep(3.5)  # several standby attempts, and longer than the lock TTL
        assert lock_owner(connection, "default") == "w-holder-scheduler"
        assert standby.acquired_locks == set()

        WorkerProcesses.kill_group(holder)  # worker and scheduler process die at once: no release
        jobs = schedule_together(queue, (3, 1, 2))
        wait_for(lambda: len(queue.job_ids) == 3, "the standby scheduler to take over")
        assert queue.job_ids == [jobs[0].id, jobs[2].id, jobs[1].id]
        assert lock_owner(connection, "default") == standby.name
    assert lock_owner(connection, "default") is None


# ---- failure modes -----------------------------------------------------------------------------


def test_scheduler_survives_killed_connections(connection: redis.Redis, redis_url: str) -> None:
    queue = Queue("default", connection=connection)
    client = redis.Redis.from_url(redis_url)
    scheduler = RQScheduler("default", connection=client, interval=0.1)
    with SchedulerThread(scheduler):
        wait_for(lambda: lock_owner(connection, "default") == scheduler.name, "the lock")
        for _ in range(3):
            connection.client_kill_filter(_type="normal", skipme=True)
            time.sleep(0.1)
        job = queue.enqueue_at(past(1), RECORD, "ran", "v")
        wait_for(lambda: queue.job_ids == [job.id], "the job to be moved")
    client.close()


@pytest.mark.faults
def test_redis_restart_loses_no_scheduling(
    restartable_redis: BaseRedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rq.scheduler")
    connection = restartable_redis.client()
    queue = Queue("default", connection=connection)
    # No client-side retries: the outage must reach the scheduler loop, not be hidden by redis-py.
    scheduler_client = restartable_redis.client(retry=RedisRetry(NoBackoff(), 0))
    scheduler = RQScheduler("default", connection=scheduler_client, interval=0.2)
    with SchedulerThread(scheduler):
        wait_for(lambda: lock_owner(connection, "default") == scheduler.name, "the lock")

        restartable_redis.restart(downtime=2)  # comes back empty: no lock, no metadata
        jobs = schedule_together(queue, (2, 4, 3))

        wait_for(lambda: len(queue.job_ids) == 3, "the jobs scheduled after the restart to move")
        assert queue.job_ids == [jobs[1].id, jobs[2].id, jobs[0].id]
        assert lock_owner(connection, "default") == scheduler.name
        assert connection.exists(scheduler.key)

    records = [record for record in caplog.records if record.name == "rq.scheduler"]
    assert any(r.levelno == logging.WARNING and "lost" in r.getMessage() for r in records)
    assert any(r.levelno == logging.INFO and "recovered" in r.getMessage() for r in records)
    assert not [r for r in records if r.levelno >= logging.ERROR]
    assert lock_owner(connection, "default") is None
