"""``WorkerPool`` children never outlive their pool (rq/worker_pool.py), and upstream's pool API.

The pool runs in a subprocess here so that it can be killed or left to exit on its own;
its children (and their work horses) must then be gone within a bounded wait, and a job
one of them was running must be recorded as an abandoned job (``AbandonedJobError``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
import redis

from rq import Queue, Retry, Worker
from rq.connections import get_connection_kwargs, parse_connection
from rq.job import Job, JobStatus
from rq.worker_pool import WorkerData, WorkerPool, run_worker
from tests.helpers import ROOT, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")

# Generous: the machine is shared with other test runs. The pool's children react within seconds.
GONE_TIMEOUT = 60.0

POOL_SCRIPT = """
import sys, time
import redis
from rq.worker_pool import WorkerPool

url, queue, how, go, workers = sys.argv[1:6]
pool = WorkerPool([queue], connection=redis.Redis.from_url(url), num_workers=int(workers))
if how == "start":
    pool.start()
else:  # start the workers, then let this process end without stopping them
    pool.start_workers(burst=False)
    while not open(go).read():
        time.sleep(0.05)
    print("leaving", flush=True)
"""


def gone(pid: int) -> bool:
    """Whether the process has exited (a zombie waiting for its new parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def workers_on(connection: redis.Redis, queue: str) -> dict[str, int]:
    return {w.name: w.pid for w in Worker.all(connection=connection) if queue in w.queue_names()}


class PoolProcess:
    """``WorkerPool`` in a subprocess; remembers every pid it had, to check and clean up."""

    def __init__(self, url: str, queue: str, how: str, tmp_path: Path, workers: int = 2) -> None:
        self.log = tmp_path / "pool.log"
        self.go = tmp_path / "go"
        self.go.write_text("")
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", POOL_SCRIPT, url, queue, how, str(self.go), str(workers)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            )
        self.pids: set[int] = set()

    def output(self) -> str:
        return self.log.read_text()

    def cleanup(self) -> None:
        for pid in {self.process.pid, *self.pids}:
            if not gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait(timeout=30)


@pytest.fixture
def pool_process(redis_url: str, tmp_path: Path) -> Iterator[object]:
    started: list[PoolProcess] = []

    def start(queue: str, how: str, workers: int = 2) -> PoolProcess:
        pool = PoolProcess(redis_url, queue, how, tmp_path, workers)
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.cleanup()


def start_long_job(connection: redis.Redis, queue_name: str, tmp_path: Path, retry: Optional[Retry] = None) -> tuple:
    """Enqueue a job that writes its pid and sleeps; returns (job, horse pid) once it runs."""
    pidfile = tmp_path / "horse.pid"
    job = Queue(queue_name, connection=connection).enqueue(
        "tests.jobs.write_pid_then_sleep", str(pidfile), 600, retry=retry
    )
    wait_for(lambda: job.get_status() == JobStatus.STARTED and pidfile.exists(), GONE_TIMEOUT, message="the job")
    horse = int(wait_for(lambda: pidfile.read_text(), GONE_TIMEOUT, message="the horse pid"))  # type: ignore[arg-type]
    return job, horse


def assert_recorded_as_abandoned(job: Job, queue_name: str) -> None:
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert "AbandonedJobError" in (job.exc_info or "")
    queue = Queue(queue_name, connection=job.connection)
    assert job.id in queue.failed_job_registry
    assert job.id not in queue.started_job_registry


def test_children_exit_when_the_pool_process_is_killed(connection: redis.Redis, pool_process, tmp_path: Path) -> None:
    pool = pool_process("orphans", "start")
    workers = wait_for(lambda: len(workers_on(connection, "orphans")) == 2 and workers_on(connection, "orphans"))
    pool.pids.update(workers.values())  # type: ignore[union-attr]
    job, horse = start_long_job(connection, "orphans", tmp_path)
    pool.pids.add(horse)

    pool.process.send_signal(signal.SIGKILL)
    pool.process.wait(timeout=30)

    wait_for(lambda: all(gone(pid) for pid in pool.pids), GONE_TIMEOUT, message="every child and the horse to exit")
    assert_recorded_as_abandoned(job, "orphans")
    wait_for(lambda: not workers_on(connection, "orphans"), GONE_TIMEOUT, message="the workers to unregister")


def test_a_killed_pools_job_with_retries_left_is_retried(connection: redis.Redis, pool_process, tmp_path: Path) -> None:
    pool = pool_process("orphans-retry", "start", workers=1)  # no sibling to take the retried job
    workers = wait_for(lambda: workers_on(connection, "orphans-retry"))
    pool.pids.update(workers.values())  # type: ignore[union-attr]
    job, horse = start_long_job(connection, "orphans-retry", tmp_path, retry=Retry(max=1))
    pool.pids.add(horse)

    pool.process.send_signal(signal.SIGKILL)
    pool.process.wait(timeout=30)

    wait_for(lambda: all(gone(pid) for pid in pool.pids), GONE_TIMEOUT, message="every child and the horse to exit")
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED
    assert job.retries_left == 0
    assert job.id in Queue("orphans-retry", connection=connection).get_job_ids()


def test_children_exit_when_the_pool_process_exits(connection: redis.Redis, pool_process, tmp_path: Path) -> None:
    pool = pool_process("left-behind", "exit")
    workers = wait_for(
        lambda: len(workers_on(connection, "left-behind")) == 2 and workers_on(connection, "left-behind")
    )
    pool.pids.update(workers.values())  # type: ignore[union-attr]
    job, horse = start_long_job(connection, "left-behind", tmp_path)
    pool.pids.add(horse)

    pool.go.write_text("go")  # the pool process returns from its script without stopping the pool
    assert pool.process.wait(timeout=GONE_TIMEOUT) == 0, pool.output()

    wait_for(lambda: all(gone(pid) for pid in pool.pids), GONE_TIMEOUT, message="every child and the horse to exit")
    assert_recorded_as_abandoned(job, "left-behind")
    assert not workers_on(connection, "left-behind")


def test_stopping_the_pool_lets_the_running_job_finish(connection: redis.Redis, pool_process) -> None:
    pool = pool_process("stopped", "start")
    workers = wait_for(lambda: len(workers_on(connection, "stopped")) == 2 and workers_on(connection, "stopped"))
    pool.pids.update(workers.values())  # type: ignore[union-attr]
    job = Queue("stopped", connection=connection).enqueue("tests.jobs.sleep_for", 2)
    wait_for(lambda: job.get_status() == JobStatus.STARTED, GONE_TIMEOUT, message="the job to start")

    pool.process.send_signal(signal.SIGTERM)
    assert pool.process.wait(timeout=GONE_TIMEOUT) == 0, pool.output()

    assert all(gone(pid) for pid in pool.pids)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == 2
    assert not workers_on(connection, "stopped")


# ---- upstream's API, in this process ---------------------------------------------------------------


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """A worker run in this process installs its signal handlers: put ours back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_get_worker_process_is_not_started(connection: redis.Redis) -> None:
    pool = WorkerPool(["default"], connection=connection)
    process = pool.get_worker_process("w1", burst=True)
    assert process.pid is None
    assert not process.is_alive()
    assert "w1" in (process.name or "")
    assert pool.worker_dict == {}


def test_handle_dead_worker_records_the_job_of_a_killed_worker(connection: redis.Redis, tmp_path: Path) -> None:
    pool = WorkerPool(["killed-child"], connection=connection, num_workers=1)
    data = pool.start_worker(burst=False)
    try:
        wait_for(lambda: workers_on(connection, "killed-child"), GONE_TIMEOUT, message="the worker")
        job, horse = start_long_job(connection, "killed-child", tmp_path)
        os.kill(data.pid, signal.SIGKILL)
        data.process.join(GONE_TIMEOUT)
        assert not data.process.is_alive()

        pool.handle_dead_worker(data)

        assert pool.worker_dict == {}
        assert_recorded_as_abandoned(job, "killed-child")
        assert not workers_on(connection, "killed-child")
        wait_for(lambda: gone(horse), GONE_TIMEOUT, message="the horse to die with its worker")
    finally:
        if data.process.is_alive():
            data.process.kill()
            data.process.join(10)


def test_reap_workers_hands_exited_workers_to_handle_dead_worker(connection: redis.Redis) -> None:
    pool = WorkerPool(["reaped"], connection=connection, num_workers=1)
    data = pool.start_worker(burst=True)  # nothing to do: the worker exits at once
    data.process.join(GONE_TIMEOUT)
    handled: list[WorkerData] = []
    pool.handle_dead_worker = handled.append  # type: ignore[method-assign]
    assert pool.reap_workers() == [data]
    assert handled == [data]


def test_check_workers_respawns_before_the_pool_is_started(connection: redis.Redis) -> None:
    pool = WorkerPool(["respawned"], connection=connection, num_workers=2)
    pool.start_workers(burst=False)
    try:
        wait_for(lambda: len(workers_on(connection, "respawned")) == 2, GONE_TIMEOUT, message="two workers")
        first = next(iter(pool.worker_dict.values()))
        pool.stop_worker(first)
        first.process.join(GONE_TIMEOUT)
        pool.check_workers(respawn=False)
        assert len(pool.worker_dict) == 1
        pool.check_workers(respawn=True)
        assert len(pool.worker_dict) == 2
    finally:
        pool.stop_workers()
        wait_for(pool.all_workers_have_stopped, GONE_TIMEOUT, message="the workers to stop")


def test_exception_handlers_are_kept_as_given(connection: redis.Redis) -> None:
    assert WorkerPool(["default"], connection=connection).exception_handlers is None
    handlers = [print]
    assert WorkerPool(["default"], connection=connection, exception_handlers=handlers).exception_handlers == handlers


def test_run_worker_takes_parse_connections_tuple(connection: redis.Redis, own_signal_handlers: None) -> None:
    queue = Queue("run-worker", connection=connection)
    job = queue.enqueue("tests.jobs.say_hello")
    client_class, connection_class, kwargs = parse_connection(connection)
    run_worker("run-worker-test", ["run-worker"], client_class, connection_class, kwargs)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert len(queue) == 0


def test_connection_kwargs_rebuild_a_client(connection: redis.Redis) -> None:
    rebuilt = redis.Redis(**get_connection_kwargs(connection))
    try:
        assert rebuilt.ping()
    finally:
        rebuilt.close()
