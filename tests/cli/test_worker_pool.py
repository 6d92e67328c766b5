"""``WorkerPool`` (rq/worker_pool.py) and ``rq worker-pool``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker, Worker
from rq.worker_pool import WorkerData, WorkerPool, _connect, _connection_recipe
from tests.cli.support import run_rq, start_rq, stop_process, wait_for

ADD = "tests.cli.cli_jobs.add"


def live_workers(connection: redis.Redis) -> dict[str, int]:
    """Name -> pid of the workers registered in ``rq:workers``."""
    return {worker.name: worker.pid for worker in Worker.all(connection=connection)}


def test_pool_attributes(connection: redis.Redis) -> None:
    pool = WorkerPool(
        ["high", Queue("low", connection=connection)],
        connection=connection,
        num_workers=2,
        worker_class="rq.worker.SimpleWorker",
        serializer=JSONSerializer,
    )
    assert [WorkerPool.Status.IDLE.value, WorkerPool.Status.STARTED.value, WorkerPool.Status.STOPPED.value] == [1, 2, 3]
    assert pool.status == WorkerPool.Status.IDLE
    assert pool.num_workers == 2
    assert pool.worker_class is SimpleWorker
    assert len(pool.name) == 32
    assert [queue.name for queue in pool.queues] == ["high", "low"]
    assert all(queue.serializer is JSONSerializer for queue in pool.queues)
    assert pool.number_of_active_workers == 0
    assert pool.worker_dict == {}
    assert WorkerData._fields == ("name", "pid", "process")
    with pytest.raises(ValueError):
        WorkerPool(["default"], connection=connection, num_workers=0)


def test_children_rebuild_the_connection(connection: redis.Redis) -> None:
    client_class, pool_class, kwargs = _connection_recipe(connection)
    fresh = _connect(client_class, pool_class, kwargs)
    assert fresh.connection_pool is not connection.connection_pool
    assert fresh.ping()
    fresh.close()


def test_children_rebuild_a_sentinel_connection() -> None:
    client = Sentinel([("sentinel-a", 26379)]).master_for("cache")
    rebuilt = _connect(*_connection_recipe(client))
    assert isinstance(rebuilt.connection_pool, SentinelConnectionPool)
    assert rebuilt.connection_pool.service_name == "cache"


def test_burst_pool_in_process(connection: redis.Redis, restore_process_state: None) -> None:
    queue = Queue("pool-burst", connection=connection)
    jobs = [queue.enqueue(ADD, n, 1) for n in range(6)]
    pool = WorkerPool(["pool-burst"], connection=connection, num_workers=2)
    pool.start(burst=True, logging_level="WARNING")
    assert pool.status == WorkerPool.Status.STOPPED
    assert pool.number_of_active_workers == 0
    assert [job.return_value() for job in jobs] == [1, 2, 3, 4, 5, 6]


def test_stop_requests_reach_every_worker(connection: redis.Redis, restore_process_state: None) -> None:
    pool = WorkerPool(["pool-stop"], connection=connection, num_workers=2)
    pool.status = WorkerPool.Status.STARTED
    pool.start_workers(burst=False, logging_level="WARNING")
    try:
        assert pool.number_of_active_workers == 2
        wait_for(lambda: len(live_workers(connection)) == 2, message="two registered workers")
        pool.request_stop()
        assert pool.status == WorkerPool.Status.STOPPED
        wait_for(pool.all_workers_have_stopped, message="the workers to stop")
        assert live_workers(connection) == {}
    finally:
        for data in list(pool.worker_dict.values()):
            pool.stop_worker(data, sig=signal.SIGKILL)
            data.process.join(10)


def test_worker_pool_command_respawns_and_stops(redis_url: str, connection: redis.Redis, tmp_path: Path) -> None:
    log = tmp_path / "pool.log"
    process = start_rq("worker-pool", "-n", "3", "--url", redis_url, "pool-q", output=log)
    try:
        workers = wait_for(
            lambda: len(live_workers(connection)) == 3 and live_workers(connection), message="three workers"
        )
        victim, victim_pid = sorted(workers.items())[0]
        os.kill(victim_pid, signal.SIGKILL)

        def replaced() -> bool:
            now = live_workers(connection)
            return len(now) == 3 and victim not in now

        wait_for(replaced, message="a replacement worker")
        assert set(live_workers(connection)) - set(workers)

        queue = Queue("pool-q", connection=connection)
        job = queue.enqueue(ADD, 2, 2)

        def state() -> str:
            workers = {name: connection.hgetall(f"rq:worker:{name}") for name in live_workers(connection)}
            return (
                f"status={job.get_status()} queue={queue.get_job_ids()} "
                f"intermediate={connection.lrange(queue.intermediate_queue_key, 0, -1)} "
                f"started={queue.started_job_registry.get_job_ids()} keys={sorted(connection.keys('rq:*'))} "
                f"workers={workers}"
            )

        try:
            wait_for(lambda: job.get_status() == JobStatus.FINISHED, message="the pool to run a job")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {state()}\n{log.read_text()}") from None

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        stop_process(process)
    assert live_workers(connection) == {}
    output = log.read_text()
    assert "was killed by SIGKILL" in output
    assert "Traceback" not in output


def test_worker_pool_command_burst(redis_url: str, connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    jobs = [queue.enqueue(ADD, n, n) for n in range(4)]
    result = run_rq("worker-pool", "--burst", "-n", "2", "-q", "--url", redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [Job.fetch(job.id, connection=connection).return_value() for job in jobs] == [0, 2, 4, 6]


def test_worker_pool_command_errors(redis_url: str) -> None:
    assert run_rq("worker-pool", "-n", "0", "--url", redis_url).returncode == 2
    assert run_rq("worker-pool", "-v", "-q", "--url", redis_url).returncode == 2
    bad = run_rq("worker-pool", "--exception-handler", "no.such.handler", "--url", redis_url)
    assert bad.returncode == 2
    assert len(bad.stderr.splitlines()) == 1
