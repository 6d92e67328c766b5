"""Canceling and deleting jobs, emptying queues, positions and ``ttl`` expiry, on a real Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from rq import Queue, SimpleWorker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus, cancel_job
from rq.results import Result
from tests import jobs


def _run(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_cancel_queued_job(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    other = queue.enqueue(jobs.add, 2, 2)
    job.cancel()
    assert job.get_status() == JobStatus.CANCELED
    assert job in queue.canceled_job_registry
    assert queue.job_ids == [other.id]
    assert Job.exists(job.id, connection)
    with pytest.raises(InvalidJobOperation):
        job.cancel()
    _run(queue)
    assert job.get_status() == JobStatus.CANCELED and other.is_finished


def test_cancel_job_function(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    cancel_job(job.id, connection=connection)
    assert job.is_canceled and queue.count == 0
    assert queue.canceled_job_registry.get_job_ids() == [job.id]


@pytest.mark.parametrize("where", ["deferred", "scheduled", "failed", "finished"])
def test_cancel_takes_the_job_out_of_its_registry(connection, where):
    queue = Queue(connection=connection)
    if where == "deferred":
        parent = queue.enqueue(jobs.add, 1, 1)
        job = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    elif where == "scheduled":
        job = queue.enqueue_in(timedelta(hours=1), jobs.add, 2, 2)
    else:
        job = queue.enqueue(jobs.fail if where == "failed" else jobs.add, 2, 2)
        _run(queue)
    registry = getattr(queue, f"{where}_job_registry")
    assert job in registry
    job.cancel()
    assert job not in registry
    assert job in queue.canceled_job_registry
    assert job.get_status() == JobStatus.CANCELED


def test_canceled_registry_requeue(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    job.cancel()
    queue.canceled_job_registry.requeue(job)
    assert job.get_status() == JobStatus.QUEUED and queue.job_ids == [job.id]
    assert job not in queue.canceled_job_registry


def test_dependents_of_a_canceled_job_stay_deferred(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    parent.cancel()
    assert child.get_status() == JobStatus.DEFERRED
    assert child in queue.deferred_job_registry
    assert queue.count == 0


def test_cancel_with_enqueue_dependents(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    parent.cancel(enqueue_dependents=True)
    assert parent.is_canceled
    assert child.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [child.id]
    assert child not in queue.deferred_job_registry


def test_cancel_with_enqueue_dependents_only_releases_what_is_ready(connection):
    queue = Queue(connection=connection)
    canceled, finished = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    ready = queue.enqueue(jobs.add, 3, 3, depends_on=[canceled, finished])
    waiting = queue.enqueue(jobs.add, 4, 4, depends_on=[canceled, queue.enqueue(jobs.add, 5, 5)])
    queue.remove(canceled)
    queue.remove(finished)
    finished.set_status(JobStatus.FINISHED)
    canceled.cancel(enqueue_dependents=True)
    assert ready.get_status() == JobStatus.QUEUED
    # As upstream: a canceled dependency never counts as finished for later releases.
    _run(queue)
    assert ready.is_finished and waiting.is_deferred


def test_cancel_job_function_with_enqueue_dependents(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    cancel_job(parent.id, connection=connection, enqueue_dependents=True)
    assert child.get_status() == JobStatus.QUEUED


def test_cancel_remove_from_dependencies(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    child.cancel(remove_from_dependencies=True)
    assert parent.dependent_ids == []


def test_cancel_in_a_callers_pipeline(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    with connection.pipeline() as pipe:
        job.cancel(pipeline=pipe)
        assert queue.job_ids == [job.id]  # nothing written before the caller executes
        pipe.execute()
    assert job.is_canceled and queue.count == 0


def test_delete_removes_every_trace(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    _run(queue)
    assert connection.exists(Result.get_key(job.id))
    assert job in queue.finished_job_registry
    job.delete()
    assert not Job.exists(job.id, connection)
    assert job not in queue.finished_job_registry
    assert not connection.exists(Result.get_key(job.id))
    assert not connection.exists(f"rq:executions:{job.id}")
    assert job.results() == [] and job.latest_result() is None
    with pytest.raises(NoSuchJobError):
        Job.fetch(job.id, connection=connection)


def test_delete_queued_and_failed_jobs(connection):
    queue = Queue(connection=connection)
    finished = queue.enqueue(jobs.add, 1, 1)
    failed = queue.enqueue(jobs.fail)
    _run(queue)
    queued = queue.enqueue(jobs.add, 1, 1)
    for job in (finished, failed, queued):
        job.delete()
    assert queue.count == 0 and queue.failed_job_registry.count == 0 and queue.finished_job_registry.count == 0
    assert connection.keys("rq:job:*") == [] and connection.keys("rq:results:*") == []


def test_delete_keeps_queue_entry_when_asked(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    job.delete(remove_from_queue=False)
    assert queue.job_ids == [job.id]
    assert queue.get_jobs() == []


def test_delete_dependents(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    first = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    second = queue.enqueue(jobs.add, 3, 3, depends_on=parent)
    parent.delete(delete_dependents=True)
    for job in (parent, first, second):
        assert not Job.exists(job.id, connection)
    assert queue.deferred_job_registry.count == 0
    assert not connection.exists(parent.dependents_key)
    assert not connection.exists(first.dependencies_key)


def test_delete_without_dependents_leaves_them(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    parent.delete()
    assert Job.exists(child.id, connection) and child.is_deferred
    assert not connection.exists(parent.dependents_key)


def test_registry_remove_with_delete_job_drops_results(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail)
    _run(queue)
    queue.failed_job_registry.remove(job, delete_job=True)
    assert not Job.exists(job.id, connection)
    assert not connection.exists(Result.get_key(job.id))


def test_empty_removes_jobs_and_their_results(connection):
    queue = Queue(connection=connection)
    done = queue.enqueue(jobs.add, 1, 1)
    _run(queue)
    requeued = queue.enqueue_job(Job.fetch(done.id, connection=connection))
    waiting = [queue.enqueue(jobs.add, i, i) for i in range(3)]
    assert queue.empty() == 4
    assert queue.count == 0
    for job in [requeued, *waiting]:
        assert not Job.exists(job.id, connection)
        assert not connection.exists(Result.get_key(job.id))


def test_get_position(connection):
    queue = Queue(connection=connection)
    first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    front = queue.enqueue(jobs.add, 3, 3, at_front=True)
    assert [job.get_position() for job in (front, first, second)] == [0, 1, 2]
    assert queue.get_job_position(second.id) == 2
    _run(queue)
    assert first.get_position() is None


def test_ttl_expires_a_job_that_waits_too_long(connection):
    queue = Queue(connection=connection)
    short = queue.enqueue(jobs.add, 1, 1, ttl=1)
    lasting = queue.enqueue(jobs.add, 2, 2, ttl=60)
    assert 0 < connection.ttl(short.key) <= 1
    time.sleep(1.6)
    assert not Job.exists(short.id, connection)
    assert queue.fetch_job(short.id) is None
    assert queue.job_ids == [lasting.id]  # fetch_job dropped the dangling id
    _run(queue)
    assert lasting.is_finished and connection.ttl(lasting.key) > 60  # ttl no longer applies


def test_delete_dependents_alone(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    parent.delete_dependents()
    assert Job.exists(parent.id, connection) and queue.job_ids == [parent.id]
    assert not Job.exists(child.id, connection)
    assert not connection.exists(parent.dependents_key)
    _run(queue)
    assert parent.is_finished
