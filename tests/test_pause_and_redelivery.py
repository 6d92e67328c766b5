"""This fork's extensions: per-queue pause, redelivery of abandoned jobs, connection telemetry."""

from __future__ import annotations

import signal

import pytest

from rq import Queue, SimpleWorker, Worker
from rq.cli import main
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from tests import jobs
from tests.cli.support import cli_runner
from tests.helpers import ThreadWorker, WorkerProcess, wait_for


def test_a_paused_queue_is_skipped_while_others_are_served(connection):
    paused, open_ = Queue("paused", connection=connection), Queue("open", connection=connection)
    waiting = paused.enqueue(jobs.add, 1, 1)
    served = open_.enqueue(jobs.add, 2, 2)
    paused.pause()
    assert paused.is_paused and not open_.is_paused
    SimpleWorker([paused, open_], connection=connection).work(burst=True)
    assert served.get_status() == JobStatus.FINISHED
    assert waiting.get_status() == JobStatus.QUEUED
    assert paused.enqueue(jobs.add, 3, 3).get_status() == JobStatus.QUEUED  # enqueueing still works
    paused.unpause()
    SimpleWorker([paused, open_], connection=connection).work(burst=True)
    assert waiting.get_status() == JobStatus.FINISHED and paused.count == 0


def test_a_pause_can_expire(connection):
    queue = Queue("briefly", connection=connection)
    queue.pause(duration=5)
    assert 0 < connection.ttl("rq:paused:briefly") <= 5
    with pytest.raises(ValueError):
        queue.pause(duration=0)


def test_pause_commands_and_rq_info(connection, redis_url):
    Queue("q1", connection=connection).enqueue(jobs.add, 1, 1)
    runner = cli_runner()
    result = runner.invoke(main, ["pause", "--url", redis_url, "q1"])
    assert result.exit_code == 0, result.output
    assert Queue("q1", connection=connection).is_paused
    info = runner.invoke(main, ["info", "--url", redis_url, "-Q"])
    assert "(paused)" in info.stdout
    assert runner.invoke(main, ["unpause", "--url", redis_url, "q1"]).exit_code == 0
    assert not Queue("q1", connection=connection).is_paused
    assert runner.invoke(main, ["pause", "--url", redis_url, "--duration", "0", "q1"]).exit_code == 1


def test_a_worker_notices_a_pause_while_it_runs(connection):
    queue = Queue("live", connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    with ThreadWorker(worker):
        queue.pause()
        wait_for(lambda: "live" in worker.dequeuer.paused, message="the worker to see the pause")
        job = queue.enqueue(jobs.add, 1, 1)
        queue.unpause()
        wait_for(lambda: job.get_status() == JobStatus.FINISHED, message="the job to run after unpause")


def _expire_started_entries(connection, queue_name: str) -> None:
    """Make the started-registry entries look as old as those of a worker that died long ago."""
    key = f"rq:wip:{queue_name}"
    for member in connection.zrange(key, 0, -1):
        connection.zadd(key, {member: 1})


def test_an_abandoned_job_is_redelivered_and_finishes_on_another_worker(connection, redis_url, tmp_path):
    queue = Queue("redeliver", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 2, redeliver_abandoned=1)
    dead = WorkerProcess(redis_url, ["redeliver"], "--name", "dead", log_path=tmp_path / "dead.log")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, message="the first run to start")
        dead.process.kill()  # SIGKILL: no cleanup; the horse dies with it
        dead.process.wait(timeout=10)
    finally:
        dead.stop()
    _expire_started_entries(connection, "redeliver")
    StartedJobRegistry(queue=queue).cleanup()
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED and job.redeliveries == 1
    assert queue.job_ids == [job.id]
    Worker([queue], connection=connection).work(burst=True)
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == 2


def test_redelivery_has_a_maximum_then_upstream_behaviour(connection):
    queue = Queue("budget", connection=connection)
    job = queue.enqueue(jobs.add, 1, 1, redeliver_abandoned=1)
    registry = StartedJobRegistry(queue=queue)
    for expected in (JobStatus.QUEUED, JobStatus.FAILED):
        # Play a worker that takes the job and dies: the start is recorded, then nothing.
        worker = SimpleWorker([queue], connection=connection)
        worker.register_birth()
        found = worker.dequeue_job_and_maintain_ttl(None)
        assert found is not None and found[0].id == job.id
        _expire_started_entries(connection, "budget")
        registry.cleanup()
        assert job.get_status() == expected
    assert "AbandonedJobError" in job.exc_info


def test_a_worker_gives_its_redelivery_budget_to_the_jobs_it_starts(connection):
    queue = Queue("default-budget", connection=connection)
    own = queue.enqueue(jobs.add, 1, 1, redeliver_abandoned=3)
    plain = queue.enqueue(jobs.add, 2, 2)
    SimpleWorker([queue], connection=connection, redeliver_abandoned=2).work(burst=True)
    assert Job.fetch(own.id, connection=connection).max_redeliveries == 3
    assert Job.fetch(plain.id, connection=connection).max_redeliveries == 2
    default = queue.enqueue(jobs.add, 3, 3)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert Job.fetch(default.id, connection=connection).max_redeliveries is None  # upstream behaviour
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 1, redeliver_abandoned=-1)


def test_connection_telemetry_in_the_worker_hash(restartable_redis, tmp_path):
    server = restartable_redis
    worker = WorkerProcess(
        server.url, ["q"], "--name", "telemetry", "--class", "rq.worker.SimpleWorker", log_path=tmp_path / "w.log"
    )
    try:
        connection = server.client()
        wait_for(lambda: connection.hget("rq:worker:telemetry", "connection_state") == b"ok", message="telemetry")
        assert connection.hget("rq:worker:telemetry", "outage_count") == b"0"
        server.restart(downtime=2)
        connection = server.client()

        def recovered() -> bool:
            record = connection.hgetall("rq:worker:telemetry")
            return int(record.get(b"outage_count") or 0) >= 1 and record.get(b"connection_state") == b"ok"

        wait_for(recovered, timeout=30, message="the outage to be counted and the state to be ok again")
        record = connection.hgetall("rq:worker:telemetry")
        assert record[b"last_error"] and record[b"last_recovery"].endswith(b"Z")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()


def test_rq_info_shows_a_reconnecting_worker(connection, redis_url):
    worker = SimpleWorker(["q"], name="shaky", connection=connection)
    worker.register_birth()
    connection.hset(worker.key, "connection_state", "reconnecting since 2026-01-01T00:00:00.000000Z")
    info = cli_runner().invoke(main, ["info", "--url", redis_url, "-W"])
    assert "redis: reconnecting since 2026-01-01T00:00:00.000000Z" in info.stdout
