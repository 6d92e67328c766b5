"""Jobs and queues behave as upstream RQ where code written for it relies on the behaviour."""

from __future__ import annotations

import warnings
import zlib
from datetime import datetime, timedelta, timezone

import pytest
import redis

import rq
from rq import Callback, Queue, SimpleWorker
from rq.dependency import MissingDependencyWarning
from rq.exceptions import InvalidJobOperation
from rq.job import UNEVALUATED, Job, JobStatus
from rq.job_validation import UnimportableFunctionWarning
from rq.registry import ScheduledJobRegistry
from rq.webhook import Webhook
from tests import jobs


def test_version_is_plain_numbers() -> None:
    assert tuple(map(int, rq.VERSION.split("."))) >= (2, 0, 0)
    assert rq.__version__ == rq.VERSION
    assert rq.version.BUILD.startswith(rq.VERSION)


def test_nested_function_is_accepted_with_a_warning(connection: redis.Redis) -> None:
    def nested(a: int) -> int:
        return a * 2

    with pytest.warns(UnimportableFunctionWarning, match="nested"):
        job = Queue(connection=connection).enqueue(nested, 3)
    assert job.func_name.endswith("<locals>.nested")
    assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.QUEUED


def test_sync_queue_runs_a_lambda_in_place_without_warning(connection: redis.Redis) -> None:
    queue = Queue(connection=connection, is_async=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnimportableFunctionWarning)
        job = queue.enqueue(lambda a, b: a + b, 2, 3)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 5


def test_callback_attributes_are_cached(connection: redis.Redis) -> None:
    job = Job.create(jobs.say_hello, connection=connection, on_success=Callback(jobs.record_success))
    assert job._success_callback is UNEVALUATED
    assert job.success_callback is jobs.record_success
    assert job._success_callback is jobs.record_success
    assert job.stopped_callback is None and job._stopped_callback is None
    assert job.failure_callback_timeout == 60


def test_meta_is_the_callers_object(connection: redis.Redis) -> None:
    meta = {"a": 1}
    job = Queue(connection=connection).enqueue(jobs.say_hello, meta=meta)
    assert job.meta is meta


def test_data_is_the_serialized_call_and_the_hash_stores_it_compressed(connection: redis.Redis) -> None:
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    assert zlib.decompress(connection.hget(job.key, "data")) == job.data
    connection.hset(job.key, "data", job.data)  # uncompressed data is read too
    assert Job.fetch(job.id, connection=connection).args == (1, 2)


def test_func_name_can_be_set_on_an_empty_job(connection: redis.Redis) -> None:
    job = Job("empty", connection=connection)
    with pytest.raises(ValueError):
        job.save()
    job.func_name = "tests.jobs.say_hello"
    job.save()
    assert Job.fetch("empty", connection=connection).func is jobs.say_hello


def test_get_status_without_a_status_field_raises(connection: redis.Redis) -> None:
    job = Queue(connection=connection).enqueue(jobs.say_hello)
    connection.hdel(job.key, "status")
    with pytest.raises(InvalidJobOperation):
        job.get_status()


def test_register_dependency_without_dependencies(connection: redis.Redis) -> None:
    job = Job.create(jobs.say_hello, connection=connection, origin="default")
    job.register_dependency()
    assert not connection.exists(job.dependencies_key)
    assert job.dependencies_are_met()


def test_enqueue_at_takes_datetime_and_the_older_datetime_(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    first = queue.enqueue_at(datetime=when, f=jobs.say_hello)
    second = queue.enqueue_at(when, jobs.say_hello)
    third = queue.schedule_job(Job.create(jobs.say_hello, connection=connection), datetime_=when)
    registry = ScheduledJobRegistry(queue=queue)
    assert set(registry.get_job_ids()) == {first.id, second.id, third.id}


def test_failing_success_callback_fails_the_job(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.say_hello, on_success=Callback(jobs.failing_callback))
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status() == JobStatus.FAILED

    sync = Queue("sync", connection=connection, is_async=False)
    job = sync.enqueue(jobs.say_hello, on_success=Callback(jobs.failing_callback))
    assert job.get_status() == JobStatus.FAILED


def test_success_callback_sees_the_finished_status(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.say_hello, on_success=Callback(jobs.record_success))
    job.execute_success_callback(SimpleWorker.death_penalty_class, "Hi")
    assert job.get_status(refresh=False) == JobStatus.FINISHED


def test_missing_dependency_counts_as_ended_with_a_warning(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    with pytest.warns(MissingDependencyWarning, match="gone"):
        job = queue.enqueue(jobs.say_hello, depends_on="gone")
    assert job.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [job.id]


def test_cancel_with_callers_pipeline_releases_dependents_on_execute(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    parent = queue.enqueue(jobs.say_hello)
    child = queue.enqueue(jobs.say_hello, depends_on=parent)
    with connection.pipeline() as pipe:
        pipe.watch("other")
        parent.cancel(pipeline=pipe, enqueue_dependents=True)
        assert child.get_status() == JobStatus.DEFERRED
        pipe.execute()
    assert child.get_status() == JobStatus.QUEUED
    assert parent.get_status() == JobStatus.CANCELED


def test_queues_compare_only_with_queues(connection: redis.Redis) -> None:
    assert Queue("a", connection=connection) == Queue("a", connection=connection)
    with pytest.raises(TypeError):
        Queue("a", connection=connection) == "a"  # noqa: B015


def test_unreadable_meta_is_written_back_unchanged(connection: redis.Redis) -> None:
    job = Queue(connection=connection).enqueue(jobs.say_hello)
    raw = b"cnot_an_importable_module\nOwner\n."
    connection.hset(job.key, "meta", raw)
    job.refresh()
    assert job.meta == {"unserialized": raw}
    job.save()
    job.save_meta()
    assert connection.hget(job.key, "meta") == raw


def test_enqueue_many_refuses_duplicate_ids_and_orders_as_upstream(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    with pytest.raises(ValueError, match="same"):
        queue.enqueue_many([Queue.prepare_data(jobs.say_hello, job_id="same")] * 2)
    assert not connection.exists(Job.key_for("same"))
    parent = queue.enqueue(jobs.say_hello)
    made = queue.enqueue_many(
        [
            Queue.prepare_data(jobs.say_hello, job_id="dependent", depends_on=parent),
            Queue.prepare_data(jobs.say_hello, job_id="independent"),
        ]
    )
    assert [job.id for job in made] == ["independent", "dependent"]


def test_webhook_validation_and_payload() -> None:
    for url in ("", "example.com", "ftp://x", "http://", None):
        with pytest.raises(ValueError):
            Webhook(url, "finished")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Webhook("http://x", "finished", method="get")
    with pytest.raises(TypeError):
        Webhook("http://x", "finished", headers=[("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Webhook("http://x", "finished", timeout=1.5)  # type: ignore[arg-type]
    hook = Webhook("http://x", "failed", method="POST")
    assert Webhook.from_dict(hook.to_dict()) == hook
