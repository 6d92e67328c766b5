"""Job dependencies on a real Redis: deferral, release, failure rules and the release race."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from rq import Queue, SimpleWorker
from rq.dependency import MissingDependencyWarning, release_dependents
from rq.job import Dependency, Job, JobStatus
from tests import jobs
from tests.helpers import WorkerProcess, wait_for


def _run(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_dependent_waits_in_the_deferred_registry(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 2)
    child = queue.enqueue(jobs.add, 3, 4, depends_on=parent)

    assert child.get_status() == JobStatus.DEFERRED
    assert child in queue.deferred_job_registry
    assert queue.job_ids == [parent.id]
    assert connection.smembers(parent.dependents_key) == {child.id.encode()}
    assert connection.smembers(child.dependencies_key) == {parent.id.encode()}
    assert parent.dependent_ids == [child.id]
    assert child.dependency_ids == [parent.id]
    assert child.dependency == parent
    assert child.fetch_dependencies() == [parent]
    assert child.enqueued_at is None

    _run(queue)
    assert parent.get_status() == JobStatus.FINISHED
    assert child.get_status() == JobStatus.FINISHED
    assert child.return_value() == 7
    assert child not in queue.deferred_job_registry
    assert not connection.exists(parent.dependents_key)


@pytest.mark.parametrize("as_id", [False, True])
def test_depends_on_a_list_waits_for_all(connection, as_id):
    queue = Queue(connection=connection)
    first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    parents = [first.id, second.id] if as_id else [first, second]
    child = queue.enqueue(jobs.add, 3, 3, depends_on=parents)
    assert child.dependency_ids == [first.id, second.id]
    assert sorted(dep.id for dep in child.fetch_dependencies()) == sorted([first.id, second.id])

    queue.remove(second)
    SimpleWorker([queue], connection=connection).work(burst=True)  # runs only the first
    assert first.get_status() == JobStatus.FINISHED
    assert child.get_status() == JobStatus.DEFERRED
    assert first.dependent_ids == [child.id]  # still waiting on the other parent

    queue.enqueue_job(Job.fetch(second.id, connection=connection))
    _run(queue)
    assert child.get_status() == JobStatus.FINISHED


def test_depends_on_an_id(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1, job_id="the-parent")
    child = queue.enqueue(jobs.add, 2, 2, depends_on="the-parent")
    assert child.is_deferred and child.dependency_ids == ["the-parent"]
    _run(queue)
    assert parent.is_finished and child.is_finished


def test_dependency_spec_validation(connection):
    with pytest.raises(ValueError):
        Dependency(jobs=[])
    with pytest.raises(ValueError):
        Dependency(jobs=[1])
    queue = Queue(connection=connection)
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 1, depends_on=Dependency(jobs=["not a valid id"]))
    assert connection.keys("*") == []


def test_options_of_several_dependency_objects_are_combined(connection):
    queue = Queue(connection=connection)
    first, second, third = (queue.enqueue(jobs.add, i, i) for i in range(3))
    depends_on = [Dependency(jobs=first, allow_failure=True), second, Dependency(jobs=[third], enqueue_at_front=True)]
    child = queue.enqueue(jobs.add, 1, 1, depends_on=depends_on)
    child.refresh()
    assert child.dependency_ids == [first.id, second.id, third.id]
    assert child.allow_dependency_failures is True and child.enqueue_at_front is True


def test_finished_dependency_enqueues_at_once(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    _run(queue)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    assert child.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [child.id]
    assert child not in queue.deferred_job_registry
    assert not connection.exists(parent.dependents_key)


def test_missing_dependency_counts_as_ended(connection):
    """As upstream RQ (its hash may have expired), with a warning in case the id is mistyped."""
    queue = Queue(connection=connection)
    with pytest.warns(MissingDependencyWarning, match="missing"):
        job = queue.enqueue(jobs.add, 1, 1, depends_on=["missing"])
    assert job.get_status() == JobStatus.QUEUED and queue.job_ids == [job.id]
    assert job not in queue.deferred_job_registry
    _run(queue)
    assert job.return_value() == 2


def test_failed_dependency_keeps_dependent_deferred(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.fail)
    child = queue.enqueue(jobs.add, 1, 1, depends_on=parent)
    _run(queue)
    assert parent.is_failed
    assert child.is_deferred and child in queue.deferred_job_registry
    assert queue.count == 0


def test_allow_failure_releases_on_failure(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.fail)
    child = queue.enqueue(jobs.add, 1, 1, depends_on=Dependency(jobs=[parent], allow_failure=True))
    child.refresh()
    assert child.allow_dependency_failures is True
    _run(queue)
    assert parent.is_failed and child.is_finished


def test_allow_failure_with_an_already_failed_dependency_enqueues_at_once(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.fail)
    _run(queue)
    child = queue.enqueue(jobs.add, 1, 1, depends_on=Dependency(jobs=parent, allow_failure=True))
    assert child.get_status() == JobStatus.QUEUED


def test_enqueue_at_front_when_released(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    front = queue.enqueue(jobs.add, 2, 2, depends_on=Dependency(jobs=[parent], enqueue_at_front=True))
    back = queue.enqueue(jobs.add, 3, 3, depends_on=Dependency(jobs=[parent]))
    queue.remove(parent)
    waiting = queue.enqueue(jobs.add, 4, 4)
    parent.set_status(JobStatus.FINISHED)
    released = queue.enqueue_dependents(parent)
    assert sorted(job.id for job in released) == sorted([front.id, back.id])
    assert queue.job_ids == [front.id, waiting.id, back.id]


def test_dependent_is_enqueued_on_its_own_queue(connection):
    parents, children = Queue("parents", connection=connection), Queue("children", connection=connection)
    parent = parents.enqueue(jobs.add, 1, 1)
    child = children.enqueue(jobs.add, 2, 2, depends_on=parent)
    assert child in children.deferred_job_registry
    _run(parents)
    assert children.job_ids == [child.id] and parents.count == 0
    assert child.get_status() == JobStatus.QUEUED


def test_parent_gone_counts_as_met(connection):
    queue = Queue(connection=connection)
    first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2, result_ttl=0)
    child = queue.enqueue(jobs.add, 3, 3, depends_on=[first, second])
    queue.remove(first)
    _run(queue)  # second runs; its hash is deleted at once (result_ttl=0)
    assert not Job.exists(second.id, connection)
    assert child.is_deferred
    queue.enqueue_job(Job.fetch(first.id, connection=connection))
    _run(queue)
    assert child.is_finished


def test_result_ttl_zero_parent_still_releases(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1, result_ttl=0)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    _run(queue)
    assert not Job.exists(parent.id, connection)
    assert child.is_finished
    assert not connection.exists(parent.dependents_key)


def test_canceled_dependent_is_not_enqueued(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    child.cancel()
    _run(queue)
    assert child.get_status() == JobStatus.CANCELED
    assert queue.count == 0 and child not in queue.deferred_job_registry


def test_stopped_parent_never_releases(connection):
    from rq.job_lifecycle import write_failure

    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    tolerant = queue.enqueue(jobs.add, 2, 2, depends_on=Dependency(jobs=parent, allow_failure=True))
    queue.remove(parent)
    with connection.pipeline() as pipe:
        write_failure(parent, queue, pipe, "stopped", status=JobStatus.STOPPED)
        pipe.execute()
    assert release_dependents(parent) == []
    assert tolerant.is_deferred


def test_enqueue_many_with_dependencies(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    datas = [
        Queue.prepare_data(jobs.add, (2, 2), job_id="free"),
        Queue.prepare_data(jobs.add, (3, 3), job_id="waits", depends_on=parent),
    ]
    free, waits = queue.enqueue_many(datas)
    assert free.get_status() == JobStatus.QUEUED and waits.get_status() == JobStatus.DEFERRED
    _run(queue)
    assert waits.is_finished


def test_chain_of_dependencies(connection):
    queue = Queue(connection=connection)
    previous = queue.enqueue(jobs.add, 0, 1)
    chain = [previous]
    for value in range(2, 6):
        previous = queue.enqueue(jobs.add, 0, value, depends_on=previous)
        chain.append(previous)
    assert [job.get_status() for job in chain[1:]] == [JobStatus.DEFERRED] * 4
    _run(queue)
    assert [job.return_value() for job in chain] == [1, 2, 3, 4, 5]


def test_deferred_job_ttl(connection):
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent, ttl=30)
    assert 0 < connection.ttl(child.key) <= 30
    assert 0 < connection.ttl(child.dependencies_key) <= 30


# ---- the release race -------------------------------------------------------------------


def _release_concurrently(redis_url: str, parent_ids: list[str]) -> None:
    """Release each parent's dependents from its own thread and connection, all at once."""
    barrier = threading.Barrier(len(parent_ids))
    errors: list[BaseException] = []

    def release(parent_id: str) -> None:
        client = Redis.from_url(redis_url)
        try:
            parent = Job.fetch(parent_id, connection=client)
            barrier.wait()
            release_dependents(parent)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=release, args=(parent_id,)) for parent_id in parent_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_two_parents_finishing_at_once_enqueue_the_dependent_once(connection, redis_url):
    queue = Queue(connection=connection)
    for round_number in range(60):
        first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
        shared = [queue.enqueue(jobs.add, 3, index, depends_on=[first, second]) for index in range(3)]
        connection.delete(queue.key)  # the parents "ran": only the release is left
        for parent in (first, second):
            parent.set_status(JobStatus.FINISHED)
        # Two workers that each finished one parent, plus a duplicate release of each.
        _release_concurrently(redis_url, [first.id, second.id, first.id, second.id])
        queued = queue.job_ids
        for job in shared:
            assert queued.count(job.id) == 1, f"round {round_number}: {job.id} enqueued {queued.count(job.id)} times"
            assert job.get_status() == JobStatus.QUEUED
        assert len(queued) == len(shared)
        assert queue.deferred_job_registry.count == 0
        assert not connection.exists(first.dependents_key) and not connection.exists(second.dependents_key)
        queue.empty()


def test_release_retries_when_a_dependency_changes_underneath(connection, redis_url):
    """A dependency finishing while a release is deciding makes that release look again."""
    queue = Queue(connection=connection)
    for _ in range(30):
        first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
        child = queue.enqueue(jobs.add, 3, 3, depends_on=[first, second])
        connection.delete(queue.key)
        first.set_status(JobStatus.FINISHED)
        finisher = threading.Thread(
            target=lambda key=second.key: Redis.from_url(redis_url).hset(key, "status", "finished")
        )
        finisher.start()
        release_dependents(first)
        finisher.join()
        release_dependents(second)  # the second parent's own release, after it finished
        assert queue.job_ids == [child.id]
        queue.empty()


def test_two_workers_finishing_parents_together(connection, redis_url, tmp_path):
    """Parents on two queues served by two worker processes end at the same instant."""
    left, right, shared = (Queue(name, connection=connection) for name in ("left", "right", "shared"))
    workers = [
        WorkerProcess(redis_url, [name], "--class", "rq.worker.SimpleWorker", log_path=tmp_path / f"{name}.log")
        for name in ("left", "right")
    ]
    try:
        wait_for(lambda: len(connection.smembers("rq:workers")) == 2, message="both workers")
        rounds = 8
        dependents = []
        for _ in range(rounds):
            finish_at = time.time() + 0.6
            first = left.enqueue(jobs.sleep_until, finish_at)
            second = right.enqueue(jobs.sleep_until, finish_at)
            dependents.append(shared.enqueue(jobs.add, 1, 1, depends_on=[first, second]))
            wait_for(lambda job=dependents[-1]: job.get_status() == JobStatus.QUEUED, message="the release")
        queued = shared.job_ids
        assert sorted(queued) == sorted(job.id for job in dependents)
        assert len(set(queued)) == len(queued) == rounds
    finally:
        for worker in workers:
            worker.stop()


def test_release_goes_on_through_a_redis_fault(connection, monkeypatch, caplog):
    """The outcome is stored before the release: a fault in between must not strand dependents."""
    import logging

    import redis

    import rq.dependency
    from rq.job_lifecycle import release_if_needed

    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    child = queue.enqueue(jobs.add, 2, 2, depends_on=parent)
    connection.delete(queue.key)
    parent.set_status(JobStatus.FINISHED)
    real_release = rq.dependency.release_dependents
    calls = []

    def flaky_release(job, *args, **kwargs):
        calls.append(job.id)
        if len(calls) == 1:
            raise redis.ConnectionError("Connection reset by peer")
        return real_release(job, *args, **kwargs)

    monkeypatch.setattr(rq.dependency, "release_dependents", flaky_release)
    with caplog.at_level(logging.INFO, logger="rq.job"):
        release_if_needed(parent, True)
    assert calls == [parent.id, parent.id]
    assert child.get_status() == JobStatus.QUEUED and queue.job_ids == [child.id]
    assert "the release of its dependents lost" in caplog.text
    assert "recovered" in caplog.text
