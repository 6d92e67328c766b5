"""Groups of jobs and unique jobs, on a real Redis."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from redis import Redis

from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError, NoSuchGroupError
from rq.group import Group
from rq.job import Job, JobStatus
from tests import jobs


def _datas(count: int, **options) -> list:
    return [Queue.prepare_data(jobs.add, (index, index), **options) for index in range(count)]


def test_new_group(connection):
    group = Group.create(connection)
    assert len(group.name) == 32 and group.key == f"rq:group:{group.name}"
    assert Group.get_key("g") == "rq:group:g"
    assert repr(Group(connection, name="g")) == "Group(id=g)"
    assert Group.all(connection) == []
    with pytest.raises(NoSuchGroupError):
        Group.fetch(group.name, connection)  # nothing enqueued yet


def test_enqueue_many_in_a_group(connection):
    queue = Queue(connection=connection)
    group = Group.create(connection, name="batch")
    created = group.enqueue_many(queue, _datas(3))
    assert [job.group_id for job in created] == ["batch"] * 3
    assert connection.smembers("rq:groups") == {b"batch"}
    assert connection.smembers("rq:group:batch") == {job.id.encode() for job in created}
    assert Job.fetch(created[0].id, connection=connection).group_id == "batch"
    assert connection.hget(created[0].key, "group_id") == b"batch"
    assert queue.job_ids == [job.id for job in created]
    assert Group.fetch("batch", connection) == group
    assert Group.all(connection) == [group]
    assert sorted(job.id for job in group.get_jobs()) == sorted(job.id for job in created)

    SimpleWorker([queue], connection=connection).work(burst=True)
    assert [job.return_value() for job in created] == [0, 2, 4]


def test_enqueue_many_in_a_callers_pipeline(connection):
    queue = Queue(connection=connection)
    group = Group.create(connection)
    with connection.pipeline() as pipe:
        created = group.enqueue_many(queue, _datas(2), pipeline=pipe)
        assert not connection.exists(group.key) and queue.count == 0
        pipe.execute()
    assert queue.count == 2 and len(group.get_jobs()) == 2
    assert {job.id for job in created} == set(group.get_job_ids())


def test_group_with_dependencies(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    group = Group.create(connection)
    waiting = group.enqueue_many(queue, _datas(2, depends_on=parent))
    assert all(job.get_status() == JobStatus.DEFERRED for job in waiting)
    assert len(group.get_jobs()) == 2
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert all(job.get_status() == JobStatus.FINISHED for job in waiting)


def test_deleted_and_expired_jobs_leave_the_group(connection):
    queue = Queue(connection=connection)
    group = Group.create(connection)
    first, second, third = group.enqueue_many(queue, _datas(3))
    first.delete()
    assert first.id not in group.get_job_ids()  # delete takes it out at once
    connection.delete(second.key)  # as if it expired
    assert [job.id for job in group.get_jobs()] == [third.id]
    assert group.get_job_ids() == [third.id]


def test_delete_job_from_group(connection):
    queue = Queue(connection=connection)
    group = Group.create(connection)
    first, second = group.enqueue_many(queue, _datas(2))
    group.delete_job(first.id)
    assert group.get_job_ids() == [second.id]
    assert Job.exists(first.id, connection)


def test_clean_registries_drops_vanished_jobs_and_groups(connection):
    queue = Queue(connection=connection)
    alive = Group.create(connection, name="alive")
    gone = Group.create(connection, name="gone")
    kept, expired = alive.enqueue_many(queue, _datas(2))
    (lost,) = gone.enqueue_many(queue, _datas(1))
    connection.delete(expired.key, lost.key)

    Group.clean_registries(connection)
    assert alive.get_job_ids() == [kept.id]
    assert not connection.exists(gone.key)
    assert connection.smembers("rq:groups") == {b"alive"}
    assert Group.all(connection) == [alive]
    with pytest.raises(NoSuchGroupError):
        Group.fetch("gone", connection)


def test_group_ends_when_its_jobs_expire(connection):
    queue = Queue(connection=connection)
    group = Group.create(connection)
    (job,) = group.enqueue_many(queue, _datas(1, result_ttl=0))
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert not Job.exists(job.id, connection)
    assert group.get_jobs() == []
    assert Group.all(connection) == []
    assert connection.smembers("rq:groups") == set()


def test_enqueue_many_group_id_on_queue(connection):
    queue = Queue(connection=connection)
    created = queue.enqueue_many(_datas(2), group_id="direct")
    assert Group.fetch("direct", connection).get_job_ids() == sorted(job.id for job in created)


# ---- unique jobs ---------------------------------------------------------------------------


def test_unique_job_refuses_a_duplicate_while_pending(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 2, job_id="nightly", unique=True)
    with pytest.raises(DuplicateJobError):
        queue.enqueue(jobs.add, 5, 5, job_id="nightly", unique=True)
    assert queue.job_ids == ["nightly"]
    assert Job.fetch("nightly", connection=connection).args == (1, 2)  # the first one is untouched
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.return_value() == 3


def test_unique_job_can_be_enqueued_again_once_gone(connection):
    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 1, 2, job_id="once", unique=True, result_ttl=0)
    SimpleWorker([queue], connection=connection).work(burst=True)
    again = queue.enqueue(jobs.add, 3, 4, job_id="once", unique=True)
    assert again.get_status() == JobStatus.QUEUED
    again.delete()
    assert queue.enqueue(jobs.add, 3, 4, job_id="once", unique=True).id == "once"


def test_unique_needs_an_id_and_no_dependencies(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 2, unique=True)
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 2, job_id="x", unique=True, depends_on=parent)
    with pytest.raises(ValueError):
        queue.enqueue_job(queue.create_job(jobs.add, args=(1, 2), job_id="y", depends_on=parent), unique=True)
    assert queue.job_ids == [parent.id]


def test_unique_without_unique_flag_overwrites(connection):
    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 1, 2, job_id="plain")
    queue.enqueue(jobs.add, 3, 4, job_id="plain")
    assert Job.fetch("plain", connection=connection).args == (3, 4)


def test_unique_scheduled_job(connection):
    queue = Queue(connection=connection)
    when = timedelta(minutes=5)
    first = queue.create_job(jobs.add, args=(1, 2), job_id="later")
    queue.schedule_job(first, _in(when), unique=True)
    duplicate = queue.create_job(jobs.add, args=(3, 4), job_id="later")
    with pytest.raises(DuplicateJobError):
        queue.schedule_job(duplicate, _in(when), unique=True)
    assert queue.scheduled_job_registry.get_job_ids() == ["later"]
    assert Job.fetch("later", connection=connection).args == (1, 2)
    with pytest.raises(DuplicateJobError):
        queue.enqueue(jobs.add, 5, 6, job_id="later", unique=True)


def test_unique_in_sync_mode(connection):
    queue = Queue(connection=connection, is_async=False)
    queue.enqueue(jobs.add, 1, 2, job_id="inline", unique=True)
    with pytest.raises(DuplicateJobError):
        queue.enqueue(jobs.add, 1, 2, job_id="inline", unique=True)


def test_concurrent_unique_enqueues_let_one_through(connection, redis_url):
    for round_number in range(20):
        job_id = f"contended-{round_number}"
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def enqueue(
            value: int, job_id: str = job_id, barrier: threading.Barrier = barrier, outcomes: list = outcomes
        ) -> None:
            client = Redis.from_url(redis_url)
            queue = Queue(connection=client)
            barrier.wait()
            try:
                queue.enqueue(jobs.add, value, value, job_id=job_id, unique=True)
                outcomes.append("enqueued")
            except DuplicateJobError:
                outcomes.append("duplicate")
            finally:
                client.close()

        threads = [threading.Thread(target=enqueue, args=(value,)) for value in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["duplicate"] * 3 + ["enqueued"]
        assert Queue(connection=connection).job_ids.count(job_id) == 1


def _in(delta: timedelta):
    from datetime import datetime, timezone

    return datetime.now(timezone.utc) + delta
