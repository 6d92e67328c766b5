"""Job registries on a real Redis: membership, listing, expiry, requeue and abandoned jobs."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from rq import Callback, Queue, Retry, SimpleWorker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus, requeue_job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
    clean_registries,
)
from rq.results import Result
from tests import jobs
from tests.helpers import WorkerProcess, wait_for

ALL_KINDS = [
    (StartedJobRegistry, "rq:wip:"),
    (FinishedJobRegistry, "rq:finished:"),
    (FailedJobRegistry, "rq:failed:"),
    (DeferredJobRegistry, "rq:deferred:"),
    (ScheduledJobRegistry, "rq:scheduled:"),
    (CanceledJobRegistry, "rq:canceled:"),
]


@pytest.mark.parametrize(("registry_class", "prefix"), ALL_KINDS)
def test_keys_and_queue_binding(connection, registry_class, prefix):
    queue = Queue("emails", connection=connection)
    registry = registry_class(queue=queue)
    assert registry.key == prefix + "emails"
    assert registry.name == "emails" and registry.connection is connection
    assert registry == registry_class("emails", connection=connection)
    assert registry.get_queue() == queue
    assert len(registry) == 0 and registry.count == 0 and registry.get_job_ids() == []


def test_queue_registry_properties(connection):
    queue = Queue("q", connection=connection)
    assert isinstance(queue.started_job_registry, StartedJobRegistry)
    assert isinstance(queue.finished_job_registry, FinishedJobRegistry)
    assert isinstance(queue.failed_job_registry, FailedJobRegistry)
    assert isinstance(queue.deferred_job_registry, DeferredJobRegistry)
    assert isinstance(queue.scheduled_job_registry, ScheduledJobRegistry)
    assert isinstance(queue.canceled_job_registry, CanceledJobRegistry)
    assert all(registry.name == "q" for registry in (queue.finished_job_registry, queue.canceled_job_registry))


def test_count_len_contains_listing_and_order(connection):
    queue = Queue(connection=connection)
    registry = queue.finished_job_registry
    created = [queue.enqueue(jobs.add, i, i) for i in range(4)]
    for ttl, job in zip((40, 10, 30, 20), created):
        registry.add(job, ttl=ttl)
    assert registry.count == len(registry) == 4
    assert created[0] in registry and created[0].id in registry
    assert "nope" not in registry
    # Ordered by expiry: 10, 20, 30, 40 seconds.
    by_expiry = [created[1].id, created[3].id, created[2].id, created[0].id]
    assert registry.get_job_ids() == by_expiry
    assert registry.get_job_ids(0, 1) == by_expiry[:2]
    assert registry.get_job_ids(1, 2) == by_expiry[1:3]
    assert registry.get_job_ids(desc=True) == list(reversed(by_expiry))
    assert registry.get_job_count(cleanup=False) == 4


def test_get_expiration_time(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    registry = queue.finished_job_registry
    assert registry.get_expiration_time(job) is None  # not there
    before = datetime.now(timezone.utc)
    registry.add(job, ttl=100)
    expires = registry.get_expiration_time(job)
    assert expires.tzinfo is not None
    assert before + timedelta(seconds=98) <= expires <= before + timedelta(seconds=101)
    registry.add(job, ttl=-1)
    assert registry.get_expiration_time(job) is None  # +inf: never


def test_remove_and_remove_with_delete_job(connection):
    queue = Queue(connection=connection)
    kept = queue.enqueue(jobs.add, 1, 2)
    deleted = queue.enqueue(jobs.add, 3, 4)
    registry = queue.failed_job_registry
    registry.add(kept, ttl=100)
    registry.add(deleted, ttl=100)

    registry.remove(kept)
    assert kept not in registry and Job.exists(kept.id, connection)
    assert kept.id in queue.job_ids  # only the registry entry went

    registry.remove(deleted.id, delete_job=True)
    assert deleted not in registry
    assert not Job.exists(deleted.id, connection)
    assert deleted.id not in queue.job_ids


def test_cleanup_drops_expired_finished_and_failed_entries(connection):
    queue = Queue(connection=connection)
    old, fresh = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    for registry in (queue.finished_job_registry, queue.failed_job_registry):
        registry.add(old, ttl=5)
        registry.add(fresh, ttl=500)
        assert registry.get_expired_job_ids(time.time() + 10) == [old.id]
        registry.cleanup(time.time() + 10)
        assert registry.get_job_ids(cleanup=False) == [fresh.id]
        connection.zadd(registry.key, {old.id: 1})  # long expired
        assert registry.count == 1 and old not in registry


def test_failed_registry_keeps_negative_scores_forever(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1, failure_ttl=-1)
    registry = queue.failed_job_registry
    registry.add(job, ttl=-1, exc_string="boom")
    assert connection.zscore(registry.key, job.id) == -1
    registry.cleanup(time.time() + 10**9)
    assert job in registry
    assert connection.ttl(job.key) == -1
    assert job.latest_result().type == Result.Type.FAILED
    assert job.latest_result().exc_string == "boom"


def test_failed_registry_add_defaults_to_one_year(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    queue.failed_job_registry.add(job, exc_string="boom")
    score = connection.zscore(queue.failed_job_registry.key, job.id)
    assert score == pytest.approx(time.time() + 31536000, abs=5)
    assert 31536000 - 5 <= connection.ttl(job.key) <= 31536000


@pytest.mark.parametrize("registry_class", [DeferredJobRegistry, ScheduledJobRegistry, CanceledJobRegistry])
def test_registries_without_time_based_cleanup(connection, registry_class):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    registry = registry_class(queue=queue)
    connection.zadd(registry.key, {job.id: 1})  # a score far in the past
    registry.cleanup(time.time() + 1000)
    assert registry.count == 1 and job in registry


def test_canceled_registry_has_no_expired_ids(connection):
    with pytest.raises(NotImplementedError):
        CanceledJobRegistry(connection=connection).get_expired_job_ids()


def test_deferred_registry_scores_by_time_added(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    queue.deferred_job_registry.add(job, ttl=5000)
    assert connection.zscore(queue.deferred_job_registry.key, job.id) == pytest.approx(time.time(), abs=2)


def test_scheduled_registry_times(connection):
    queue = Queue(connection=connection)
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    job = queue.enqueue_at(due, jobs.add, 1, 1)
    registry = queue.scheduled_job_registry
    assert registry.get_scheduled_time(job) == due
    assert connection.zscore(registry.key, job.id) == due.timestamp()
    assert registry.get_jobs_to_schedule(due.timestamp() - 1) == []
    assert registry.get_jobs_to_schedule(due.timestamp()) == [job.id]
    with pytest.raises(NoSuchJobError):
        registry.get_scheduled_time("missing")
    with pytest.warns(DeprecationWarning):
        registry.remove_jobs(due.timestamp())
    assert registry.count == 0


def test_started_registry_members_are_executions(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    registry = queue.started_job_registry
    with pytest.warns(DeprecationWarning):
        registry.add(job)  # RQ 1.x's call: kept working, as a bare job id
    assert connection.zscore(registry.key, job.id) is not None
    connection.zrem(registry.key, job.id)
    connection.zadd(registry.key, {f"{job.id}:exec1": time.time() + 100, f"{job.id}:exec2": time.time() + 200})
    assert job in registry and job.id in registry
    assert registry.get_job_ids() == [job.id]
    assert registry.get_job_and_execution_ids() == [(job.id, "exec1"), (job.id, "exec2")]
    assert registry.get_expiration_time(job) == datetime.fromtimestamp(
        connection.zscore(registry.key, f"{job.id}:exec2"), tz=timezone.utc
    )
    assert StartedJobRegistry.parse_job_id(f"{job.id}:exec1") == job.id
    registry.remove(job)
    assert job not in registry and registry.count == 0


def test_requeue_puts_job_back_with_a_clean_status(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job in queue.failed_job_registry

    requeued = queue.failed_job_registry.requeue(job.id)
    assert requeued.id == job.id
    assert job not in queue.failed_job_registry
    assert queue.job_ids == [job.id]
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED
    assert job.started_at is None and job.ended_at is None and not job.worker_name
    raw = connection.hgetall(job.key)
    assert raw[b"started_at"] == b"" and raw[b"ended_at"] == b""
    assert connection.ttl(job.key) == -1  # the failure TTL is gone with the failure


def test_requeue_variants(connection):
    queue = Queue("other", connection=connection)
    first, second, third = (queue.enqueue(jobs.fail) for _ in range(3))
    SimpleWorker([queue], connection=connection).work(burst=True)
    last = queue.enqueue(jobs.add, 1, 1)

    first.requeue()
    requeue_job(second.id, connection=connection)
    queue.failed_job_registry.requeue(third, at_front=True)
    assert queue.job_ids == [third.id, last.id, first.id, second.id]
    assert queue.failed_job_registry.count == 0
    with pytest.raises(InvalidJobOperation):
        first.requeue()  # no longer failed


def test_requeue_all_failed_jobs(connection):
    queue = Queue(connection=connection)
    failed = [queue.enqueue(jobs.fail) for _ in range(5)]
    SimpleWorker([queue], connection=connection).work(burst=True)
    registry = queue.failed_job_registry
    for job_id in registry.get_job_ids():
        registry.requeue(job_id)
    assert registry.count == 0
    assert sorted(queue.job_ids) == sorted(job.id for job in failed)


def test_requeued_job_runs_again_and_keeps_its_history(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail_until, redis_url, "calls", 2)
    worker = SimpleWorker([queue], connection=connection)
    worker.work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    job.requeue()
    worker.work(burst=True)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 2
    assert [result.type for result in job.results()] == [Result.Type.SUCCESSFUL, Result.Type.FAILED]


def test_requeue_stopped_job(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    queue.remove(job)
    job.set_status(JobStatus.STOPPED)
    queue.failed_job_registry.add(job, exc_string="stopped")
    job.requeue()
    assert job.get_status() == JobStatus.QUEUED and queue.job_ids == [job.id]


# ---- abandoned jobs -----------------------------------------------------------------


def _start_abandoned(queue: Queue, job: Job, execution_id: str = "lostexec") -> str:
    """Make ``job`` look started by a worker whose heartbeat has lapsed."""
    connection = queue.connection
    queue.remove(job)
    job.set_status(JobStatus.STARTED)
    connection.hset(job.key, "worker_name", "gone-worker")
    member = f"{job.id}:{execution_id}"
    connection.zadd(queue.started_job_registry.key, {member: int(time.time()) - 5})
    return member


def test_abandoned_job_is_failed_with_a_clear_reason(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1, on_failure=Callback(jobs.record_failure_text))
    member = _start_abandoned(queue, job)
    handled = []

    queue.started_job_registry.cleanup(exception_handlers=[lambda j, *exc: handled.append((j.id, exc[0]))])

    assert connection.zscore(queue.started_job_registry.key, member) is None
    assert job.get_status() == JobStatus.FAILED
    assert job in queue.failed_job_registry
    assert "AbandonedJobError" in job.exc_info
    result = job.latest_result()
    assert result.type == Result.Type.FAILED and result.worker_name == ""
    entries = [entry.decode() for entry in connection.lrange(f"callbacks:{job.id}", 0, -1)]
    assert len(entries) == 1 and entries[0].startswith("failure:AbandonedJobError:")
    assert handled and handled[0][0] == job.id and handled[0][1].__name__ == "AbandonedJobError"
    assert 0 < connection.ttl(job.key) <= 31536000


def test_abandoned_job_with_retries_is_retried(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 2, 3, retry=Retry(max=2))
    _start_abandoned(queue, job)
    clean_registries(queue)
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED
    assert job.retries_left == 1
    assert queue.job_ids == [job.id]
    assert job not in queue.failed_job_registry
    assert job.latest_result().type == Result.Type.RETRIED
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.return_value() == 5


def test_abandoned_job_releases_dependents_that_allow_failure(connection):
    from rq.job import Dependency

    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    tolerant = queue.enqueue(jobs.add, 2, 2, depends_on=Dependency(jobs=[parent], allow_failure=True))
    strict = queue.enqueue(jobs.add, 3, 3, depends_on=parent)
    _start_abandoned(queue, parent)
    queue.started_job_registry.cleanup()
    assert tolerant.get_status() == JobStatus.QUEUED
    assert strict.get_status() == JobStatus.DEFERRED
    assert queue.job_ids == [tolerant.id]


def test_entry_of_a_job_that_already_ended_is_only_dropped(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    SimpleWorker([queue], connection=connection).work(burst=True)
    member = f"{job.id}:stale"
    connection.zadd(queue.started_job_registry.key, {member: 1})
    queue.started_job_registry.cleanup()
    assert connection.zscore(queue.started_job_registry.key, member) is None
    assert job.get_status() == JobStatus.FINISHED
    assert job not in queue.failed_job_registry


def test_entry_of_a_deleted_job_is_dropped(connection):
    queue = Queue(connection=connection)
    connection.zadd(queue.started_job_registry.key, {"ghost:exec": 1})
    assert queue.started_job_registry.count == 0


def test_live_entries_are_left_alone(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    queue.remove(job)
    job.set_status(JobStatus.STARTED)
    connection.zadd(queue.started_job_registry.key, {f"{job.id}:live": time.time() + 60})
    queue.started_job_registry.cleanup()
    assert job in queue.started_job_registry
    assert job.get_status() == JobStatus.STARTED


def test_abandoned_cleanup_through_clean_registries_of_finished_and_failed(connection):
    queue = Queue(connection=connection)
    finished, failed = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    connection.zadd(queue.finished_job_registry.key, {finished.id: 1})
    connection.zadd(queue.failed_job_registry.key, {failed.id: 1})
    clean_registries(queue)
    assert queue.finished_job_registry.get_job_count(cleanup=False) == 0
    assert queue.failed_job_registry.get_job_count(cleanup=False) == 0


@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_job_of_a_sigkilled_worker_is_recovered(connection, redis_url, tmp_path, worker_class):
    """A worker killed with SIGKILL leaves its job started; the next maintenance pass fails it."""
    queue = Queue("doomed", connection=connection)
    pid_file = tmp_path / "job.pid"
    job = queue.enqueue(jobs.write_pid_then_sleep, str(pid_file), 60, on_failure=Callback(jobs.record_failure_text))
    follower = queue.enqueue(jobs.add, 1, 1, depends_on=job)
    worker = WorkerProcess(redis_url, ["doomed"], "--class", worker_class, log_path=tmp_path / "worker.log")
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), message="the job to start")
        assert job.get_status() == JobStatus.STARTED
        worker.signal(signal.SIGKILL)
        worker.wait()
        job_pid = int(pid_file.read_text())
        if job_pid != worker.pid:
            os.kill(job_pid, signal.SIGKILL)  # the work horse dies with its machine, too
    finally:
        worker.stop()

    registry = queue.started_job_registry
    assert job in registry and job.get_status() == JobStatus.STARTED
    # Nothing heartbeats any more: let the entry lapse instead of waiting for it.
    (member,) = connection.zrange(registry.key, 0, -1)
    connection.zadd(registry.key, {member: int(time.time()) - 1})

    rescuer = WorkerProcess(redis_url, ["doomed"], "--burst", log_path=tmp_path / "rescuer.log")
    assert rescuer.wait() == 0, rescuer.output()

    assert job.get_status() == JobStatus.FAILED
    assert job in queue.failed_job_registry and job not in registry
    assert "Moved to FailedJobRegistry, due to AbandonedJobError" in job.exc_info
    callbacks = [entry.decode() for entry in connection.lrange(f"callbacks:{job.id}", 0, -1)]
    assert len(callbacks) == 1 and callbacks[0].startswith("failure:AbandonedJobError")
    assert follower.get_status() == JobStatus.DEFERRED


def test_job_of_a_sigkilled_worker_is_retried_by_the_next_worker(connection, redis_url, tmp_path):
    queue = Queue("doomed", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 60, retry=Retry(max=1))
    worker = WorkerProcess(redis_url, ["doomed"], "--class", "rq.worker.SimpleWorker")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, message="the job to start")
        worker.signal(signal.SIGKILL)
        worker.wait()
    finally:
        worker.stop()
    # The second attempt should finish quickly: give it the quick call back.
    connection.hset(job.key, "data", Job.create(jobs.add, args=(20, 22), connection=connection).data)
    (member,) = connection.zrange(queue.started_job_registry.key, 0, -1)
    connection.zadd(queue.started_job_registry.key, {member: 1})

    rescuer = WorkerProcess(redis_url, ["doomed"], "--burst", log_path=tmp_path / "rescuer.log")
    assert rescuer.wait() == 0, rescuer.output()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 42
    assert [result.type for result in job.results()] == [Result.Type.SUCCESSFUL, Result.Type.RETRIED]
    job.refresh()
    assert job.retries_left == 0


def test_concurrent_cleanups_recover_an_abandoned_job_once(connection, redis_url):
    """Maintenance and an ``rq info`` (both clean the started registry) racing on one job."""
    import threading

    from redis import Redis

    queue = Queue(connection=connection)
    for round_number in range(15):
        job = queue.enqueue(jobs.add, 1, 1, retry=Retry(max=5), on_failure=Callback(jobs.record_failure))
        _start_abandoned(queue, job, execution_id=f"lost{round_number}")
        barrier = threading.Barrier(4)

        def clean(barrier: threading.Barrier = barrier) -> None:
            client = Redis.from_url(redis_url)
            registry = StartedJobRegistry(queue.name, connection=client)
            barrier.wait()
            registry.cleanup()
            client.close()

        threads = [threading.Thread(target=clean) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        job.refresh()
        assert job.retries_left == 4, f"round {round_number}"
        assert queue.job_ids == [job.id]
        assert [result.type for result in job.results()] == [Result.Type.RETRIED]
        assert connection.lrange(f"callbacks:{job.id}", 0, -1) == [b"failure:AbandonedJobError"]
        assert queue.started_job_registry.get_job_count(cleanup=False) == 0
        queue.empty()
