"""Job results on a real Redis: one stream entry per outcome, their types, TTLs and trimming."""

from __future__ import annotations

import threading
import time

import pytest

from rq import Queue, Retry, SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.results import Result
from tests import jobs


def _run(queue: Queue, worker_class: type = SimpleWorker) -> None:
    worker_class([queue], connection=queue.connection).work(burst=True)


@pytest.mark.parametrize("worker_class", [SimpleWorker, Worker])
def test_successful_result_fields(connection, worker_class):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 2, 3)
    worker = worker_class([queue], connection=connection)
    worker.work(burst=True)
    (result,) = job.results()
    assert result == job.latest_result() and bool(result)
    assert result.type == Result.Type.SUCCESSFUL
    assert result.return_value == 5 and result.exc_string is None
    assert result.worker_name == worker.name
    assert result.execution_id and result.execution_started_at <= result.execution_ended_at
    assert abs(result.created_at.timestamp() - time.time()) < 30
    assert result.id == connection.xrevrange(Result.get_key(job.id), count=1)[0][0].decode()
    assert job.return_value() == 5
    assert Result.count(job) == 1


def test_failed_result_fields(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail, "broken")
    _run(queue)
    result = job.latest_result()
    assert result.type == Result.Type.FAILED
    assert result.return_value is None
    assert "ValueError: broken" in result.exc_string
    assert job.exc_info == result.exc_string
    assert job.return_value() is None


def test_several_results_newest_first(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "calls", 3)
    for _ in range(3):
        _run(queue)
        if job.is_failed:
            job.requeue()
    types = [result.type for result in job.results()]
    assert types == [Result.Type.SUCCESSFUL, Result.Type.FAILED, Result.Type.FAILED]
    ids = [result.id for result in job.results()]
    assert ids == sorted(ids, key=lambda entry: tuple(map(int, entry.split("-"))), reverse=True)
    assert job.latest_result().return_value == 3
    assert job.return_value(refresh=True) == 3


def test_retried_results(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "calls", 3, retry=Retry(max=3))
    _run(queue)
    assert [result.type for result in job.results()] == [
        Result.Type.SUCCESSFUL,
        Result.Type.RETRIED,
        Result.Type.RETRIED,
    ]
    retried = job.results()[1]
    assert "attempt 2 fails" in retried.exc_string
    # The newest result is a success, so the job reports no failure.
    assert job.exc_info is None


def test_stopped_result_type_is_read(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    Result.create(job, Result.Type.STOPPED, ttl=None, exc_string="stopped by hand")
    latest = job.latest_result()
    assert latest.type == Result.Type.STOPPED
    assert job.exc_info == "stopped by hand"
    assert connection.xrevrange(Result.get_key(job.id))[0][1][b"type"] == b"3"


def test_result_written_by_rq_1x_is_read(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 1)
    connection.xadd(Result.get_key(job.id), {"type": "1", "return_value": "gARLAy4="})
    result = job.latest_result()
    assert result.type == Result.Type.SUCCESSFUL and result.worker_name == ""
    assert result.return_value == 3 and result.execution_id is None


def test_unserializable_return_value(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.unserializable_result)
    _run(queue)
    assert job.is_finished
    assert job.latest_result().return_value == "Unserializable return value"


def test_results_stream_is_trimmed_like_upstream(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 1)
    for value in range(250):
        Result.create(job, Result.Type.SUCCESSFUL, ttl=None, return_value=value)
    # Same XADD ... MAXLEN ~ 10 as upstream on a twin stream: the same entries survive.
    for value in range(250):
        connection.xadd("twin", {"v": value}, maxlen=10, approximate=True)
    assert Result.count(job) == connection.xlen("twin")
    assert 10 <= Result.count(job) < 250
    assert job.latest_result().return_value == 249
    assert [result.return_value for result in job.results()][:10] == list(range(249, 239, -1))


def test_result_ttl_is_honoured(connection):
    queue = Queue(connection=connection)
    short = queue.enqueue(jobs.add, 1, 1, result_ttl=50)
    forever = queue.enqueue(jobs.add, 2, 2, result_ttl=-1)
    nothing = queue.enqueue(jobs.add, 3, 3, result_ttl=0)
    default = queue.enqueue(jobs.add, 4, 4)
    _run(queue)
    assert 0 < connection.ttl(Result.get_key(short.id)) <= 50
    assert 0 < connection.ttl(short.key) <= 50
    assert connection.ttl(Result.get_key(forever.id)) == -1 and connection.ttl(forever.key) == -1
    assert not connection.exists(Result.get_key(nothing.id)) and not Job.exists(nothing.id, connection)
    assert nothing.id not in queue.finished_job_registry
    assert 450 < connection.ttl(Result.get_key(default.id)) <= 500


def test_worker_default_result_ttl(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    SimpleWorker([queue], connection=connection, default_result_ttl=30).work(burst=True)
    assert 0 < connection.ttl(Result.get_key(job.id)) <= 30


def test_failure_ttl_is_honoured(connection):
    queue = Queue(connection=connection)
    short = queue.enqueue(jobs.fail, failure_ttl=40)
    default = queue.enqueue(jobs.fail)
    _run(queue)
    assert 0 < connection.ttl(Result.get_key(short.id)) <= 40
    assert 0 < connection.ttl(short.key) <= 40
    score = connection.zscore(queue.failed_job_registry.key, short.id)
    assert score == pytest.approx(time.time() + 40, abs=3)
    # As upstream: with no failure_ttl of its own the stream has no TTL, the job a year.
    assert connection.ttl(Result.get_key(default.id)) == -1
    assert connection.ttl(default.key) > 31536000 - 60


def test_latest_result_waits_for_a_result(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 20, 22)
    assert job.latest_result() is None
    # What a worker writes when the job ends, half a second from now.
    timer = threading.Timer(0.5, lambda: Result.create(job, Result.Type.SUCCESSFUL, ttl=60, return_value=42))
    timer.start()
    try:
        result = job.latest_result(timeout=10)
    finally:
        timer.join()
    assert result is not None and result.return_value == 42


def test_latest_result_timeout_without_result(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 1)
    started = time.monotonic()
    assert job.latest_result(timeout=1) is None
    assert time.monotonic() - started >= 0.9


def test_delete_all(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    _run(queue)
    Result.delete_all(job)
    assert job.results() == [] and Result.fetch(job) is None


def test_legacy_result_field_is_a_fallback(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 1)
    connection.hset(job.key, "result", Job.create(jobs.add, connection=connection).serializer.dumps(99))
    job.refresh()
    assert job.return_value() == 99
    with pytest.warns(DeprecationWarning):
        assert job.result == 99


def test_finished_job_keeps_status_while_results_accumulate(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    _run(queue)
    queue.enqueue_job(Job.fetch(job.id, connection=connection))
    _run(queue)
    assert job.get_status() == JobStatus.FINISHED
    assert [result.type for result in job.results()] == [Result.Type.SUCCESSFUL] * 2
