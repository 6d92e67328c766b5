"""Queue: enqueueing in upstream's layout, listing, removing, sync mode."""

from __future__ import annotations

import pytest

from rq import Connection, Queue, Retry
from rq.decorators import job as job_decorator
from rq.dependency import MissingDependencyWarning
from rq.job import Job, JobStatus
from rq.queue import EnqueueData
from tests import jobs


def test_enqueue_writes_queue_job_and_registration(connection):
    queue = Queue("default", connection=connection)
    job = queue.enqueue(jobs.say_hello, "Ann")
    assert connection.smembers("rq:queues") == {b"rq:queue:default"}
    assert connection.lrange("rq:queue:default", 0, -1) == [job.id.encode()]
    raw = connection.hgetall(job.key)
    assert raw[b"status"] == b"queued"
    assert raw[b"origin"] == b"default"
    assert raw[b"timeout"] == b"180"
    assert raw[b"enqueued_at"].endswith(b"Z")
    assert raw[b"description"] == b"tests.jobs.say_hello('Ann')"
    assert job.get_status() == JobStatus.QUEUED


def test_reserved_kwargs_configure_the_job(connection):
    queue = Queue("reserved", connection=connection)
    job = queue.enqueue(
        jobs.echo,
        1,
        x=2,
        job_timeout=30,
        result_ttl=40,
        ttl=50,
        failure_ttl=60,
        description="d",
        job_id="my-id",
        meta={"a": 1},
        retry=Retry(max=2),
    )
    assert job.id == "my-id"
    assert job.args == (1,) and job.kwargs == {"x": 2}
    assert (job.timeout, job.result_ttl, job.ttl, job.failure_ttl) == (30, 40, 50, 60)
    ttl = connection.ttl(job.key)
    assert 0 < ttl <= 50, ttl
    assert job.meta == {"a": 1} and job.retries_left == 2
    # `timeout` is not reserved by enqueue(): it reaches the function.
    assert queue.enqueue(jobs.echo, timeout=5).kwargs == {"timeout": 5}


def test_explicit_args_and_kwargs(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.echo, args=(1, 2), kwargs={"description": "reaches f"})
    assert job.args == (1, 2) and job.kwargs == {"description": "reaches f"}


def test_at_front_and_positions(connection):
    queue = Queue(connection=connection)
    first = queue.enqueue(jobs.add, 1, 1)
    front = queue.enqueue(jobs.add, 2, 2, at_front=True)
    assert queue.job_ids == [front.id, first.id]
    assert queue.get_job_position(first) == 1
    assert first.get_position() == 1


def test_count_len_listing_and_fetch(connection):
    queue = Queue(connection=connection)
    created = [queue.enqueue(jobs.add, i, i) for i in range(5)]
    assert queue.count == len(queue) == 5
    assert not queue.is_empty()
    assert queue.get_job_ids(1, 2) == [created[1].id, created[2].id]
    assert [job.id for job in queue.get_jobs(3)] == [created[3].id, created[4].id]
    assert queue.jobs == created
    assert queue.fetch_job(created[0].id) == created[0]
    assert Queue("other", connection=connection).fetch_job(created[0].id) is None


def test_fetch_job_drops_dangling_ids(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    connection.delete(job.key)
    assert queue.fetch_job(job.id) is None
    assert queue.count == 0


def test_remove_empty_and_delete(connection):
    queue = Queue(connection=connection)
    kept, removed = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    queue.remove(removed)
    assert queue.job_ids == [kept.id]
    assert queue.empty() == 1
    assert not Job.exists(kept.id, connection)
    queue.enqueue(jobs.add, 3, 3)
    queue.delete(delete_jobs=True)
    assert connection.keys("*") == [removed.key.encode()]  # remove() takes the id off the queue only


def test_all_and_from_queue_key(connection):
    Queue("b", connection=connection).enqueue(jobs.add, 1, 1)
    Queue("a", connection=connection).enqueue(jobs.add, 1, 1)
    assert [q.name for q in Queue.all(connection=connection)] == ["a", "b"]
    assert Queue.from_queue_key("rq:queue:x", connection=connection).name == "x"
    with pytest.raises(ValueError):
        Queue.from_queue_key("nope:x", connection=connection)


def test_enqueue_many_is_one_batch(connection):
    queue = Queue(connection=connection)
    datas = [Queue.prepare_data(jobs.add, args=(i, i), job_id=f"job-{i}", at_front=(i == 2)) for i in range(3)]
    created = queue.enqueue_many(datas)
    assert [job.id for job in created] == ["job-0", "job-1", "job-2"]
    assert queue.job_ids == ["job-2", "job-0", "job-1"]
    assert isinstance(datas[0], EnqueueData)


def test_sync_mode_runs_inline_and_stores_outcome(connection):
    queue = Queue(connection=connection, is_async=False)
    job = queue.enqueue(jobs.add, 2, 3)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 5
    assert job.id in queue.finished_job_registry
    failed = queue.enqueue(jobs.fail)
    assert failed.get_status() == JobStatus.FAILED
    assert "ValueError: boom" in failed.exc_info
    assert failed.id in queue.failed_job_registry


def test_connection_is_required_and_1x_context_still_works(connection):
    with pytest.raises(TypeError, match="connection"):
        Queue("default")
    with pytest.warns(DeprecationWarning), Connection(connection):
        queue = Queue("legacy")
        job = queue.enqueue(jobs.add, 1, 2)
    assert job.connection is connection


def test_1x_positional_order_is_understood(connection):
    queue = Queue("q", 30, connection)
    assert queue.connection is connection and queue._default_timeout == 30


def test_job_decorator_delay(connection):
    decorated = job_decorator("decorated", connection=connection, timeout=45)(jobs.add)
    job = decorated.delay(3, 4)
    assert job.origin == "decorated" and job.timeout == 45 and job.args == (3, 4)
    assert Queue("decorated", connection=connection).job_ids == [job.id]


def test_missing_dependency_is_enqueued_with_a_warning(connection):
    """As upstream RQ, a dependency that does not exist counts as ended: the job is queued at once."""
    queue = Queue(connection=connection)
    with pytest.warns(MissingDependencyWarning, match="missing-job"):
        job = queue.enqueue(jobs.add, 1, 2, depends_on="missing-job")
    assert queue.job_ids == [job.id] and job.get_status() == JobStatus.QUEUED
    assert Job.fetch(job.id, connection=connection).dependency_ids == ["missing-job"]
    assert not connection.exists("rq:job:missing-job")


def test_unique_jobs(connection):
    from rq.exceptions import DuplicateJobError

    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 1, 2, job_id="once", unique=True)
    with pytest.raises(DuplicateJobError):
        queue.enqueue(jobs.add, 1, 2, job_id="once", unique=True)
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 2, unique=True)
    assert queue.count == 1


def test_queue_name_must_be_text(connection):
    with pytest.raises(ValueError):
        Queue("", connection=connection)


def test_enqueue_many_with_a_dependency_inside_the_batch(connection):
    queue = Queue(connection=connection)
    parent = Queue.prepare_data(jobs.add, args=(1, 1), job_id="parent")
    child = Queue.prepare_data(jobs.add, args=(2, 2), job_id="child", depends_on="parent")
    queue.enqueue_many(iter([parent, child]))
    assert queue.job_ids == ["parent"]
    assert Job.fetch("child", connection=connection).get_status() == JobStatus.DEFERRED
    assert "child" in queue.deferred_job_registry


def test_1x_positional_timeout_inside_a_connection_block(connection):
    with pytest.warns(DeprecationWarning), Connection(connection):
        queue = Queue("legacy", 60)
    assert queue.connection is connection and queue._default_timeout == 60


def test_empty_and_compact_on_missing_queue(connection):
    queue = Queue("nothing", connection=connection)
    assert queue.empty() == 0
    queue.compact()
