"""Worker commands over Pub/Sub: shutdown, kill-horse, stop-job, and bad payloads."""

from __future__ import annotations

import time

import pytest

from rq import Callback, Queue, SpawnWorker, Worker
from rq.command import (
    InvalidCommand,
    parse_payload,
    send_kill_horse_command,
    send_shutdown_command,
    send_stop_job_command,
)
from rq.exceptions import InvalidJobOperation
from rq.job import JobStatus
from rq.results import Result
from tests import jobs
from tests.helpers import WorkerProcess, wait_for


@pytest.fixture(autouse=True)
def _fast_checks(monkeypatch):
    monkeypatch.setenv("RQ_COMMAND_CHANNEL_CHECK_INTERVAL", "0.5")


def _subscribed(connection, name):
    reply = connection.pubsub_numsub(f"rq:pubsub:{name}")
    return reply and int(reply[0][1]) == 1


def test_parse_payload():
    assert parse_payload(b'{"command": "shutdown"}') == {"command": "shutdown"}
    for bad in (b"not json", b"[1]", b'{"command": 5}', b'{"command": "stop-job"}', 42, None):
        with pytest.raises(InvalidCommand):
            parse_payload(bad)


def test_shutdown_command_stops_an_idle_worker(connection, redis_url, tmp_path):
    worker = WorkerProcess(redis_url, ["q"], "--name", "idle", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: _subscribed(connection, "idle"), message="subscription")
        assert send_shutdown_command(connection, "idle") == 1
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert "received command shutdown" in worker.output()


def test_kill_horse_command_fails_the_job_and_the_worker_goes_on(connection, redis_url, tmp_path):
    queue = Queue("kh", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 60)
    worker = WorkerProcess(redis_url, ["kh"], "--name", "kh", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED and _subscribed(connection, "kh"), message="start")
        send_kill_horse_command(connection, "kh")
        wait_for(lambda: job.get_status() == JobStatus.FAILED, message="job failure")
        assert "Work-horse terminated unexpectedly" in job.exc_info
        after = queue.enqueue(jobs.add, 1, 1)
        wait_for(lambda: after.get_status() == JobStatus.FINISHED, message="next job")
        send_shutdown_command(connection, "kh")
        assert worker.wait() == 0
    finally:
        worker.stop()


def test_stop_job_command_records_a_stopped_job(connection, redis_url, tmp_path):
    queue = Queue("sj", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 60, on_stopped=Callback(jobs.record_stopped))
    worker = WorkerProcess(redis_url, ["sj"], "--name", "sj", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED and _subscribed(connection, "sj"), message="start")
        send_stop_job_command(connection, job.id)
        wait_for(lambda: job.get_status() == JobStatus.STOPPED, message="stopped status")
        assert connection.lrange(f"callbacks:{job.id}", 0, -1) == [b"stopped"]
        assert job.id in queue.failed_job_registry
        result = job.latest_result()
        assert result.type == Result.Type.FAILED
        assert "Job stopped by user, work-horse terminated." in result.exc_string
        assert queue.started_job_registry.get_job_count(cleanup=False) == 0
        after = queue.enqueue(jobs.add, 1, 1)
        wait_for(lambda: after.get_status() == JobStatus.FINISHED, message="next job")
        send_shutdown_command(connection, "sj")
        assert worker.wait() == 0
    finally:
        worker.stop()


def test_stop_job_for_a_job_that_is_not_running(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 1)
    with pytest.raises(InvalidJobOperation):
        send_stop_job_command(connection, job.id)


def test_garbage_payloads_are_logged_and_the_next_command_works(connection, redis_url, tmp_path):
    worker = WorkerProcess(
        redis_url, ["q"], "--name", "garbage", "--class", "rq.worker.SimpleWorker", log_path=tmp_path / "w.log"
    )
    try:
        wait_for(lambda: _subscribed(connection, "garbage"), message="subscription")
        for payload in ("not json", "[1, 2]", '{"command": 5}', '{"command": "stop-job"}'):
            connection.publish("rq:pubsub:garbage", payload)
        connection.publish("rq:pubsub:garbage", '{"command": "no-such-command"}')
        wait_for(lambda: connection.hget("rq:worker:garbage", "pubsub_bad_messages") == b"4", message="counter")
        send_shutdown_command(connection, "garbage")
        assert worker.wait() == 0
    finally:
        worker.stop()
    output = worker.output()
    assert output.count("ignoring a malformed command") == 4
    assert "unknown command 'no-such-command' ignored" in output
    assert "Traceback" not in output


class SlowForkWorker(Worker):
    """Takes a job, then waits before forking its horse: a window a command can fall into."""

    def fork_work_horse(self, job, queue):
        time.sleep(2)
        super().fork_work_horse(job, queue)


class SlowSpawnWorker(SpawnWorker):
    """The same window before a spawned horse."""

    def fork_work_horse(self, job, queue):
        time.sleep(2)
        super().fork_work_horse(job, queue)


def _stop_job(connection, job):
    send_stop_job_command(connection, job.id)


def _kill_horse(connection, job):
    send_kill_horse_command(connection, "early")


@pytest.mark.parametrize("worker_class", ["SlowForkWorker", "SlowSpawnWorker"])
@pytest.mark.parametrize(
    "send, status, logged",
    [
        (_stop_job, JobStatus.STOPPED, "will be stopped as soon as its horse starts"),
        (_kill_horse, JobStatus.FAILED, "will be killed as soon as it starts"),
    ],
    ids=["stop-job", "kill-horse"],
)
def test_command_that_arrives_before_the_horse_exists_is_applied(
    connection, redis_url, tmp_path, worker_class, send, status, logged
):
    """A job shows `started` as soon as it is taken; a command sent then reaches its horse."""
    queue = Queue("early", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 60)
    worker = WorkerProcess(
        redis_url,
        ["early"],
        "--burst",
        "--name",
        "early",
        "--class",
        f"tests.test_commands.{worker_class}",
        log_path=tmp_path / "w.log",
    )
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED and _subscribed(connection, "early"), message="start")
        send(connection, job)
        assert worker.wait() == 0, worker.output()
    finally:
        worker.stop()
    assert job.get_status() == status, worker.output()
    assert logged in worker.output()
    if status == JobStatus.FAILED:
        assert "Work-horse terminated unexpectedly" in job.exc_info
