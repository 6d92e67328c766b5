"""Retries on a real Redis: ``Retry(max, interval)``, retried results, and jobs returning ``Retry``."""

from __future__ import annotations

import time

import pytest

from rq import Queue, Retry, SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.results import Result
from rq.scheduler import RQScheduler
from tests import jobs


def _run(queue: Queue, worker_class: type = SimpleWorker) -> None:
    worker_class([queue], connection=queue.connection).work(burst=True)


def _make_due(queue: Queue) -> int:
    """Make every scheduled job of ``queue`` due now and let a scheduler enqueue them."""
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        queue.connection.zadd(registry.key, {job_id: int(time.time()) - 1})
    scheduler = RQScheduler([queue], connection=queue.connection)
    scheduler.acquire_locks()
    try:
        return scheduler.enqueue_scheduled_jobs()
    finally:
        scheduler.release_locks()


def test_retry_validation():
    assert Retry(max=3).intervals == [0]
    assert Retry(max=2, interval=[1, 5]).intervals == [1, 5]
    for bad in (0, -1, "3", True):
        with pytest.raises(ValueError):
            Retry(max=bad)
    with pytest.raises(ValueError):
        Retry(max=1, interval=[-1])
    assert Retry.get_interval(0, [1, 5]) == 1 and Retry.get_interval(7, [1, 5]) == 5
    assert Retry.get_interval(3, []) == 0


def test_retry_fields_are_stored(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1, retry=Retry(max=3, interval=[10, 20]))
    raw = connection.hgetall(job.key)
    assert raw[b"retries_left"] == b"3"
    assert raw[b"retry_intervals"] == b"[10, 20]"
    fetched = Job.fetch(job.id, connection=connection)
    assert fetched.retries_left == 3 and fetched.retry_intervals == [10, 20]


@pytest.mark.parametrize("worker_class", [SimpleWorker, Worker])
def test_retry_chain_ends_failed_with_one_retried_result_per_attempt(connection, redis_url, worker_class):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=3))
    _run(queue, worker_class)

    assert int(connection.get("attempts")) == 4  # the first run and three retries
    assert job.get_status() == JobStatus.FAILED
    assert job in queue.failed_job_registry
    job.refresh()
    assert job.retries_left == 0
    results = job.results()
    assert [result.type for result in results] == [Result.Type.FAILED] + [Result.Type.RETRIED] * 3
    assert all("ValueError: attempt" in result.exc_string for result in results)
    assert "attempt 4 fails" in results[0].exc_string and "attempt 1 fails" in results[-1].exc_string
    assert "attempt 4 fails" in job.exc_info


def test_retry_until_success(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 3, retry=Retry(max=5))
    _run(queue)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 3
    job.refresh()
    assert job.retries_left == 3
    assert [result.type for result in job.results()] == [
        Result.Type.SUCCESSFUL,
        Result.Type.RETRIED,
        Result.Type.RETRIED,
    ]
    assert job not in queue.failed_job_registry and job in queue.finished_job_registry


def test_retry_with_interval_goes_through_the_scheduled_registry(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=2, interval=[30, 60]))
    _run(queue)

    assert job.get_status() == JobStatus.SCHEDULED
    assert job in queue.scheduled_job_registry and queue.count == 0
    due = queue.scheduled_job_registry.get_scheduled_time(job).timestamp()
    assert due == pytest.approx(time.time() + 30, abs=3)
    job.refresh()
    assert job.retries_left == 1

    assert _make_due(queue) == 1
    assert job.get_status() == JobStatus.QUEUED
    _run(queue)
    assert job.get_status() == JobStatus.SCHEDULED
    due = queue.scheduled_job_registry.get_scheduled_time(job).timestamp()
    assert due == pytest.approx(time.time() + 60, abs=3)

    _make_due(queue)
    _run(queue)
    assert job.get_status() == JobStatus.FAILED
    assert [result.type for result in job.results()] == [Result.Type.FAILED] + [Result.Type.RETRIED] * 2
    assert int(connection.get("attempts")) == 3


def test_retry_interval_follows_upstream_indexing(connection):
    job = Job.create(jobs.add, args=(1, 1), connection=connection, retry=Retry(max=4, interval=[1, 2]))
    delays = []
    while job.retries_left:
        delays.append(job.get_retry_interval())
        job.retries_left -= 1
    assert delays == [1, 1, 1, 2]
    job = Job.create(jobs.add, args=(1, 1), connection=connection, retry=Retry(max=2, interval=[5, 10, 20]))
    assert job.get_retry_interval() == 10  # as upstream: the last values go to the last retries


def test_retry_enqueue_at_front(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=1, enqueue_at_front=True))
    other = queue.enqueue(jobs.add, 1, 1)
    worker = SimpleWorker([queue], connection=connection)
    worker.work(burst=True, max_jobs=1)
    assert queue.job_ids == [job.id, other.id]


def test_retry_without_front_goes_to_the_back(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=1))
    other = queue.enqueue(jobs.add, 1, 1)
    SimpleWorker([queue], connection=connection).work(burst=True, max_jobs=1)
    assert queue.job_ids == [other.id, job.id]


def test_failure_ttl_applies_to_retried_results(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=1), failure_ttl=120)
    _run(queue)
    assert 0 < connection.ttl(Result.get_key(job.id)) <= 120
    assert 0 < connection.ttl(job.key) <= 120


def test_retried_job_does_not_release_dependents_until_it_ends(connection, redis_url):
    from rq.job import Dependency

    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=1, interval=30))
    child = queue.enqueue(jobs.add, 1, 1, depends_on=Dependency(jobs=job, allow_failure=True))
    _run(queue)
    assert job.get_status() == JobStatus.SCHEDULED
    assert child.get_status() == JobStatus.DEFERRED
    _make_due(queue)
    _run(queue)
    assert job.get_status() == JobStatus.FAILED
    assert child.get_status() == JobStatus.FINISHED


def test_sync_mode_retries_inline(connection, redis_url):
    queue = Queue(connection=connection, is_async=False)
    job = queue.enqueue(jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=2))
    # Synchronous mode runs one attempt; a retry is put on the queue for a worker.
    assert job.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [job.id]
    assert job.latest_result().type == Result.Type.RETRIED


# ---- jobs that return a Retry ---------------------------------------------------------


def test_returned_retry_reruns_then_exceeds(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.return_retry, 2)
    _run(queue)
    assert job.get_status() == JobStatus.FAILED
    assert job in queue.failed_job_registry
    job.refresh()
    assert job.number_of_retries == 2
    types = [result.type for result in job.results()]
    assert types == [Result.Type.MAX_RETRIES_EXCEEDED, Result.Type.RETRIED, Result.Type.RETRIED]
    assert isinstance(job.results()[-1].return_value, Retry)


def test_returned_retry_with_interval_is_scheduled(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.return_retry, 1, 45)
    _run(queue)
    assert job.get_status() == JobStatus.SCHEDULED
    due = queue.scheduled_job_registry.get_scheduled_time(job).timestamp()
    assert due == pytest.approx(time.time() + 45, abs=3)
    assert connection.ttl(job.key) == -1


# ---- Repeat (the counterpart for successful jobs) ------------------------------------------


def test_repeat_runs_a_successful_job_again(connection, redis_url):
    from rq import Repeat

    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.incr, redis_url, "runs", repeat=Repeat(times=2))
    _run(queue)
    assert int(connection.get("runs")) == 3
    assert job.get_status() == JobStatus.FINISHED
    assert [result.return_value for result in job.results()] == [3, 2, 1]
    job.refresh()
    assert job.repeats_left == 0


def test_repeat_with_intervals_is_scheduled(connection, redis_url):
    from rq import Repeat

    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.incr, redis_url, "runs", repeat=Repeat(times=2, interval=[30, 90]))
    _run(queue)
    assert job.get_status() == JobStatus.SCHEDULED
    due = queue.scheduled_job_registry.get_scheduled_time(job).timestamp()
    assert due == pytest.approx(time.time() + 30, abs=3)
    _make_due(queue)
    _run(queue)
    due = queue.scheduled_job_registry.get_scheduled_time(job).timestamp()
    assert due == pytest.approx(time.time() + 90, abs=3)
    _make_due(queue)
    _run(queue)
    assert job.get_status() == JobStatus.FINISHED and int(connection.get("runs")) == 3


def test_repeat_stops_at_a_failure(connection):
    from rq import Repeat

    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail, repeat=Repeat(times=3))
    _run(queue)
    assert job.get_status() == JobStatus.FAILED
    assert len(job.results()) == 1


def test_repeat_validation():
    from rq import Repeat

    for bad in (0, -2, "2"):
        with pytest.raises(ValueError):
            Repeat(times=bad)
    with pytest.raises(ValueError):
        Repeat(times=1, interval=[5, -1])
    assert Repeat(times=2, interval=5).intervals == [5]


def test_work_horse_that_dies_is_retried(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.kill_own_process, retry=Retry(max=1))
    _run(queue, Worker)
    assert job.get_status() == JobStatus.FAILED
    assert [result.type for result in job.results()] == [Result.Type.FAILED, Result.Type.RETRIED]
    assert "Work-horse terminated unexpectedly" in job.exc_info
