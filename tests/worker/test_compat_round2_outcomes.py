"""Outcome recording as code written for upstream RQ's worker expects it: returned retries,
results set on ``job._result``, results kept nowhere (ttl 0), RQ 1.x hash fields, error logs."""

from __future__ import annotations

import logging
import zlib
from datetime import timedelta
from typing import Any

import pytest
import redis

from rq import Queue, Retry, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.layout import utcnow
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.status import JobStatus
from rq.webhook import Webhook
from rq.worker import Worker
from tests.jobs import return_retry, say_hello


def _started(worker: Any, job: Job) -> Execution:
    """Record the job's run as the worker does before performing it."""
    job.started_at = utcnow()
    job.ended_at = job.started_at + timedelta(seconds=0.5)
    return worker.prepare_execution(job)


def test_used_up_returned_retries_fire_the_failed_webhooks(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(Webhook, "send", lambda hook, job, exc_string=None: calls.append((hook.job_status, exc_string)))
    queue = Queue("rw", connection=connection)
    hooks = [Webhook("http://example.com/done", "finished"), Webhook("http://example.com/fail", "failed")]
    job = queue.enqueue(return_retry, 1, webhooks=hooks)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert calls == [("failed", "")]


def test_success_reads_a_return_value_set_on_result(connection: redis.Redis) -> None:
    queue = Queue("sr", connection=connection)
    job = queue.enqueue(say_hello)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    execution = _started(worker, job)
    job._result = "Success"
    worker.handle_job_success(job, queue, StartedJobRegistry("sr", connection=connection))
    assert b"result" not in connection.hgetall(job.key)
    latest = Job.fetch(job.id, connection=connection).latest_result()
    assert latest is not None and latest.return_value == "Success" and latest.execution_id == execution.id
    worker.register_death()


def test_a_result_with_ttl_zero_is_not_kept(connection: redis.Redis) -> None:
    job = Queue("tz", connection=connection).enqueue(say_hello)
    Result.create(job, Result.Type.SUCCESSFUL, ttl=0, return_value=1)
    assert job.return_value() is None and Result.count(job) == 0


@pytest.mark.parametrize(("interval", "status"), [(0, JobStatus.QUEUED), (10, JobStatus.SCHEDULED)])
def test_handle_retry_result_puts_the_job_back(connection: redis.Redis, interval: int, status: JobStatus) -> None:
    queue = Queue("hr", connection=connection)
    job = queue.enqueue(say_hello)
    started = utcnow()
    with connection.pipeline() as pipe:
        job._handle_retry_result(queue, pipe, Retry(max=2, interval=interval), "exec-1", started, started)
        pipe.execute()
    job.refresh()
    assert job.number_of_retries == 1 and job.get_status() == status
    latest = job.latest_result()
    assert latest is not None and latest.type == Result.Type.RETRIED and latest.execution_id == "exec-1"
    assert isinstance(latest.return_value, Retry)


def test_handle_job_retry_with_retries_used_up_records_max_retries_exceeded(connection: redis.Redis) -> None:
    queue = Queue("mx", connection=connection)
    job = queue.enqueue(say_hello, failure_ttl=5)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    job.number_of_retries = 1
    execution = _started(worker, job)
    worker.handle_job_retry(job, queue, Retry(max=1), StartedJobRegistry("mx", connection=connection), execution)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    latest = job.latest_result()
    assert latest is not None and latest.type == Result.Type.MAX_RETRIES_EXCEEDED
    assert job.id in queue.failed_job_registry
    worker.register_death()


def test_without_result_streams_outcomes_are_also_kept_in_the_job_hash(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Worker, "supports_redis_streams", property(lambda self: False))
    queue = Queue("legacy", connection=connection)
    worker = Worker([queue], connection=connection)
    registry = StartedJobRegistry("legacy", connection=connection)
    done = queue.enqueue(say_hello)
    _started(worker, done)
    done._result = "Success"
    worker.handle_job_success(done, queue, registry)
    assert b"result" in connection.hgetall(done.key)
    failed = queue.enqueue(say_hello)
    _started(worker, failed)
    worker.handle_job_failure(failed, queue, registry, exc_string="Error")
    Result.delete_all(failed)
    assert Job.fetch(failed.id, connection=connection).exc_info == "Error"


def test_a_job_that_cannot_be_decoded_is_logged_with_its_traceback(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue("bad", connection=connection)
    job = queue.enqueue(say_hello)
    connection.hset(job.key, "data", zlib.compress(job.data.replace(b"say_hello", b"")))
    worker = SimpleWorker([queue], connection=connection)
    with caplog.at_level(logging.ERROR, logger="rq.worker"):
        taken = worker.dequeue_job_and_maintain_ttl(None)
        assert taken is not None
        worker.perform_job(*taken)
    record = next(r for r in caplog.records if "exception raised while executing" in r.getMessage())
    assert record.args is not None and "<DeserializationError>" in str(record.args[1])
    assert "Traceback" in str(record.args[2])


def test_a_scheduled_returned_retry_keeps_its_place_at_the_front(connection: redis.Redis) -> None:
    queue = Queue("front", connection=connection)
    job = queue.enqueue(say_hello)
    now = utcnow()
    with connection.pipeline() as pipe:
        job._handle_retry_result(queue, pipe, Retry(max=2, interval=10, enqueue_at_front=True), "e", now, now)
        pipe.execute()
    assert Job.fetch(job.id, connection=connection).enqueue_at_front_on_retry


def test_outcome_methods_take_the_execution_as_rq_3_passes_it(connection: redis.Redis) -> None:
    queue = Queue("x3", connection=connection)
    worker = Worker([queue], connection=connection)
    worker.register_birth()
    job = queue.enqueue(say_hello)
    execution = _started(worker, job)
    worker.execution = None
    worker.maintain_heartbeats(job, execution)
    assert worker.execution is execution
    assert worker.perform_job(job, queue, execution)
    latest = job.latest_result()
    assert latest is not None and latest.execution_id == execution.id
    failed = queue.enqueue(say_hello)
    execution = _started(worker, failed)
    worker.execution = None
    worker.handle_job_failure(failed, queue, exc_string="Error", execution=execution)
    latest = failed.latest_result()
    assert latest is not None and latest.type == Result.Type.FAILED and latest.execution_id == execution.id
    assert worker.get_heartbeat_ttl(job, working_time=1.0) > 0
    worker.register_death()
