"""The worker's main loop through Redis outages: start while down, restarts, data loss."""

from __future__ import annotations

import signal

from redis import Redis

from rq import Queue
from rq.job import Job, JobStatus
from tests import jobs
from tests.faults.accounting import assert_queue_drained, stop_workers
from tests.helpers import WorkerProcess, wait_for


def _statuses(connection: Redis, job_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in Job.fetch_many(job_ids, connection):
        status = "missing" if job is None else job.get_status(refresh=False).value
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_worker_started_while_redis_is_down_waits_then_drains(restartable_redis, tmp_path):
    server = restartable_redis
    server.stop()
    worker = WorkerProcess(
        server.url,
        ["patient"],
        "--name",
        "patient",
        "--class",
        "rq.worker.SimpleWorker",
        log_path=tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: "Redis connection lost" in worker.output(), message="the outage warning")
        assert worker.process.poll() is None
        server.start()
        connection = server.client()
        queue = Queue("patient", connection=connection)
        created = [queue.enqueue(jobs.add, i, i) for i in range(5)]
        wait_for(lambda: all(job.get_status() == JobStatus.FINISHED for job in created), message="jobs to finish")
        assert connection.sismember("rq:workers", "rq:worker:patient")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    output = worker.output()
    assert "recovered after" in output
    assert output.count("Redis connection lost") == 1  # one warning per outage, not one per retry
    assert "ERROR" not in output


def test_restart_that_lost_data_registers_the_worker_again_in_full(restartable_redis, tmp_path):
    server = restartable_redis
    connection = server.client()
    worker = WorkerProcess(
        server.url,
        ["q1", "q2"],
        "--name",
        "phoenix",
        "--class",
        "rq.worker.SimpleWorker",
        log_path=tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: connection.exists("rq:worker:phoenix"), message="registration")
        before = connection.hgetall("rq:worker:phoenix")
        server.restart(downtime=2)
        connection = server.client()
        wait_for(lambda: connection.exists("rq:worker:phoenix"), timeout=30, message="registration after restart")
        after = connection.hgetall("rq:worker:phoenix")
        for field in (b"birth", b"queues", b"pid", b"hostname", b"version", b"state", b"last_heartbeat"):
            assert after.get(field), field
        assert after[b"birth"] == before[b"birth"] and after[b"queues"] == b"q1,q2"
        assert connection.sismember("rq:workers", "rq:worker:phoenix")
        assert connection.sismember("rq:workers:q1", "rq:worker:phoenix")
        assert connection.sismember("rq:workers:q2", "rq:worker:phoenix")
        assert 0 < connection.ttl("rq:worker:phoenix") <= 480
        job = Queue("q2", connection=connection).enqueue(jobs.add, 2, 2)
        wait_for(lambda: job.get_status() == JobStatus.FINISHED, message="a job after the restart")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()


def test_restart_during_a_burst_loses_no_job(persistent_redis, tmp_path):
    server = persistent_redis
    connection = server.client()
    queue = Queue("burst", connection=connection)
    total = 150
    job_ids = [queue.enqueue(jobs.sleep_for, 0.02).id for _ in range(total)]
    workers = [
        WorkerProcess(server.url, ["burst"], "--name", f"w{i}", log_path=tmp_path / f"worker{i}.log") for i in range(2)
    ]
    try:
        wait_for(lambda: queue.finished_job_registry.get_job_count(cleanup=False) >= 20, message="some progress")
        server.restart(downtime=3)
        connection = server.client()
        queue = Queue("burst", connection=connection)

        def drained() -> bool:
            counts = _statuses(connection, job_ids)
            return counts.get("finished", 0) + counts.get("failed", 0) == total

        wait_for(drained, timeout=90, interval=0.5, message="every job to end")
        counts = _statuses(connection, job_ids)
        assert counts.get("missing", 0) == 0
        assert_queue_drained(connection, queue)
        stop_workers(workers)
    finally:
        for worker in workers:
            worker.stop()
    for worker in workers:
        assert "Traceback" not in worker.output()
