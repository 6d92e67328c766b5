"""Job callbacks on a real Redis: how they are given, called, timed out, and what their errors do."""

from __future__ import annotations

import pytest

from rq import Callback, Queue, Retry, SimpleWorker, Worker
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.results import Result
from tests import jobs
from tests.helpers import WorkerProcess, wait_for

WORKER_CLASSES = [SimpleWorker, Worker]


def _calls(connection, job: Job) -> list[str]:
    return [entry.decode() for entry in connection.lrange(f"callbacks:{job.id}", 0, -1)]


def _run(queue: Queue, worker_class: type = SimpleWorker) -> None:
    worker_class([queue], connection=queue.connection).work(burst=True)


def test_callback_object():
    callback = Callback(jobs.record_success, timeout="2m")
    assert callback.name == "tests.jobs.record_success" and callback.timeout == 120
    assert Callback("tests.jobs.record_success").timeout == 60
    with pytest.raises(ValueError):
        Callback(jobs.Calculator(1))
    with pytest.raises(ValueError):
        Callback(3)  # type: ignore[arg-type]


def test_callbacks_are_stored_by_name_and_timeout(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(
        jobs.add,
        1,
        2,
        on_success=Callback(jobs.record_success, timeout=5),
        on_failure=Callback("tests.jobs.record_failure"),
        on_stopped=Callback(jobs.record_stopped, timeout=7),
    )
    raw = connection.hgetall(job.key)
    assert raw[b"success_callback_name"] == b"tests.jobs.record_success"
    assert raw[b"success_callback_timeout"] == b"5"
    assert raw[b"failure_callback_name"] == b"tests.jobs.record_failure"
    assert raw[b"failure_callback_timeout"] == b"60"
    assert raw[b"stopped_callback_timeout"] == b"7"
    fetched = Job.fetch(job.id, connection=connection)
    assert fetched.success_callback is jobs.record_success
    assert fetched.failure_callback is jobs.record_failure
    assert fetched.stopped_callback is jobs.record_stopped
    assert (fetched.success_callback_timeout, fetched.stopped_callback_timeout) == (5, 7)


def test_job_without_callbacks_writes_empty_names(connection):
    job = Queue(connection=connection).enqueue(jobs.add, 1, 2)
    raw = connection.hgetall(job.key)
    assert raw[b"success_callback_name"] == b"" and b"success_callback_timeout" not in raw
    assert Job.fetch(job.id, connection=connection).success_callback is None


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_success_and_failure_callbacks_get_their_arguments(connection, worker_class):
    queue = Queue(connection=connection)
    ok = queue.enqueue(jobs.add, 2, 3, on_success=Callback(jobs.record_success_in_meta))
    bad = queue.enqueue(jobs.fail, "nope", on_failure=Callback("tests.jobs.record_failure_text"))
    _run(queue, worker_class)
    # The success callback runs before the outcome is written: the job is still started then.
    assert _calls(connection, ok) == ["success:5:started"]
    assert _calls(connection, bad) == ["failure:ValueError:nope"]
    assert ok.get_status() == JobStatus.FINISHED and bad.get_status() == JobStatus.FAILED


def test_bare_function_and_dotted_path_still_work(connection):
    queue = Queue(connection=connection)
    with pytest.warns(DeprecationWarning):
        by_function = queue.enqueue(jobs.add, 1, 1, on_success=jobs.record_success)
    with pytest.warns(DeprecationWarning):
        by_path = queue.enqueue(jobs.fail, on_failure="tests.jobs.record_failure")
    _run(queue)
    assert _calls(connection, by_function) == ["success:2"]
    assert _calls(connection, by_path) == ["failure:ValueError"]


def test_failure_callback_runs_on_every_attempt(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(
        jobs.fail_until, redis_url, "attempts", 99, retry=Retry(max=2), on_failure=Callback(jobs.record_failure)
    )
    _run(queue)
    assert _calls(connection, job) == ["failure:ValueError"] * 3


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_raising_success_callback_fails_the_job(connection, worker_class):
    """As upstream RQ: the job fails with the callback's error, its failure callback runs, dependents wait."""
    queue = Queue(connection=connection)
    job = queue.enqueue(
        jobs.add, 20, 22, on_success=Callback(jobs.failing_callback), on_failure=Callback(jobs.record_failure)
    )
    child = queue.enqueue(jobs.add, 1, 1, depends_on=job)
    after = queue.enqueue(jobs.add, 2, 2)
    _run(queue, worker_class)
    assert job.get_status() == JobStatus.FAILED
    assert job.latest_result().type == Result.Type.FAILED
    assert job in queue.failed_job_registry and job not in queue.finished_job_registry
    assert "RuntimeError: callback failed" in job.exc_info
    assert _calls(connection, job) == ["failure:RuntimeError"]
    assert child.get_status() == JobStatus.DEFERRED and child in queue.deferred_job_registry
    assert after.return_value() == 4


def test_success_callback_that_times_out_fails_the_job(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 2, on_success=Callback(jobs.slow_callback, timeout=1))
    _run(queue)
    assert job.get_status() == JobStatus.FAILED and job in queue.failed_job_registry
    assert "JobTimeoutException" in job.exc_info
    assert _calls(connection, job) == []


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_raising_failure_callback_keeps_the_jobs_own_error(connection, worker_class):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail, "the real reason", on_failure=Callback(jobs.failing_callback))
    _run(queue, worker_class)
    assert job.get_status() == JobStatus.FAILED
    assert job in queue.failed_job_registry
    assert "ValueError: the real reason" in job.exc_info
    assert "The failure callback raised as well" in job.exc_info
    assert "RuntimeError: callback failed" in job.exc_info
    assert job.exc_info.index("the real reason") < job.exc_info.index("callback failed")


def test_failure_callback_that_times_out_keeps_the_failure(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail, "slow hook", on_failure=Callback(jobs.slow_callback, timeout=1))
    _run(queue)
    assert job.get_status() == JobStatus.FAILED
    assert "ValueError: slow hook" in job.exc_info
    assert "JobTimeoutException" in job.exc_info
    assert _calls(connection, job) == []


def test_raising_failure_callback_does_not_stop_a_retry(connection, redis_url):
    queue = Queue(connection=connection)
    job = queue.enqueue(
        jobs.fail_until, redis_url, "attempts", 2, retry=Retry(max=1), on_failure=Callback(jobs.failing_callback)
    )
    _run(queue)
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == 2


def test_sync_mode_runs_callbacks_in_the_caller(connection):
    queue = Queue(connection=connection, is_async=False)
    ok = queue.enqueue(jobs.add, 1, 2, on_success=Callback(jobs.record_success))
    bad = queue.enqueue(jobs.fail, on_failure=Callback(jobs.record_failure))
    assert _calls(connection, ok) == ["success:3"]
    assert _calls(connection, bad) == ["failure:ValueError"]


def test_sync_mode_raising_success_callback_fails_the_job(connection):
    queue = Queue(connection=connection, is_async=False)
    failed = queue.enqueue(jobs.add, 2, 2, on_success=Callback(jobs.failing_callback))
    assert failed.get_status() == JobStatus.FAILED and failed in queue.failed_job_registry
    assert "RuntimeError: callback failed" in failed.exc_info


def test_sync_mode_raising_failure_callback_is_raised_after_the_failure_is_recorded(connection):
    """As upstream RQ, the caller sees the callback's error; the job's own failure is recorded first."""
    queue = Queue(connection=connection, is_async=False)
    with pytest.raises(RuntimeError, match="callback failed"):
        queue.enqueue(jobs.fail, "own", on_failure=Callback(jobs.failing_callback), job_id="hurt")
    hurt = Job.fetch("hurt", connection=connection)
    assert hurt.get_status() == JobStatus.FAILED and hurt in queue.failed_job_registry
    assert "ValueError: own" in hurt.exc_info and "callback failed" in hurt.exc_info
    assert hurt.latest_result().type == Result.Type.FAILED


def test_raising_stopped_callback_still_records_the_stop(connection, redis_url, tmp_path):
    queue = Queue("stops", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 60, on_stopped=Callback("tests.jobs.failing_callback"))
    worker = WorkerProcess(redis_url, ["stops"], "--name", "stopper", log_path=tmp_path / "w.log")
    try:
        wait_for(
            lambda: job.get_status() == JobStatus.STARTED and connection.pubsub_numsub("rq:pubsub:stopper")[0][1],
            message="the job to start",
        )
        send_stop_job_command(connection, job.id)
        wait_for(lambda: job.get_status() == JobStatus.STOPPED, message="the stop")
        assert job in queue.failed_job_registry
        wait_for(lambda: "callback failed" in worker.output(), message="the callback error in the log")
    finally:
        worker.stop()


def test_returned_retry_calls_no_callback(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(
        jobs.return_retry,
        1,
        on_success=Callback(jobs.record_success),
        on_failure=Callback(jobs.record_failure),
    )
    _run(queue)
    assert job.get_status() == JobStatus.FAILED  # ran twice, then exceeded max=1
    assert _calls(connection, job) == []
