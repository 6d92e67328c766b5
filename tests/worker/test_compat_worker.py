"""Upstream RQ's worker API kept for code written against it: maintenance timing, shutdown
signals, find_by_key, the serializer name, client naming, cleanup_execution and dependents."""

from __future__ import annotations

import json
import logging
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.logutils import ColorizingStreamHandler
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.status import JobStatus
from rq.worker.compat import identify_client, serializer_arg
from tests.jobs import say_hello


def test_maintenance_is_due_at_start_then_after_the_interval(connection: redis.Redis) -> None:
    worker = SimpleWorker([Queue("m", connection=connection)], connection=connection, maintenance_interval=10)
    assert worker.last_cleaned_at is None and worker.should_run_maintenance_tasks
    worker.clean_registries()
    assert worker.last_cleaned_at is not None and not worker.should_run_maintenance_tasks
    worker.last_cleaned_at = datetime.now(timezone.utc) - timedelta(seconds=11)
    assert worker.should_run_maintenance_tasks
    worker.last_cleaned_at = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as RQ 1.x sets it
    assert not worker.should_run_maintenance_tasks


def test_a_second_signal_within_a_second_is_ignored(connection: redis.Redis) -> None:
    worker = SimpleWorker([Queue("s", connection=connection)], connection=connection)
    worker._shutdown_requested_date = datetime.now(timezone.utc)
    worker.request_force_stop(2, None)  # ignored: no SystemExit
    worker._shutdown_requested_date = datetime.now(timezone.utc) - timedelta(seconds=2)
    with pytest.raises(SystemExit):
        worker.request_force_stop(2, None)


def test_find_by_key_takes_an_optional_connection(connection: redis.Redis) -> None:
    worker = SimpleWorker([Queue("f", connection=connection)], name="finder", connection=connection)
    worker.register_birth()
    found = SimpleWorker.find_by_key(worker.key, connection=connection)
    assert found is not None and found._job_id is None and found.name == "finder"
    with pytest.raises(ValueError):
        SimpleWorker.find_by_key("not-a-worker-key", connection=connection)
    worker.register_death()


def test_serializer_arg_is_an_importable_name() -> None:
    assert serializer_arg(None) is None
    assert serializer_arg("json") == "json"
    assert serializer_arg(json) == "json"
    assert serializer_arg(JSONSerializer) == "rq.serializers.JSONSerializer"


def test_client_naming_warns_when_redis_refuses_client_list(connection: redis.Redis) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        address = identify_client(connection, "named-client")
    assert address != "unknown"

    class NoClientList(redis.Redis):
        def client_list(self, *args: Any, **kwargs: Any) -> Any:
            raise redis.exceptions.ResponseError("unknown command 'CLIENT'")

    refusing = NoClientList(connection_pool=connection.connection_pool)
    with pytest.warns(Warning, match="CLIENT LIST command not supported"):
        assert identify_client(refusing, "named-client") == "unknown"


def test_client_naming_is_silent_while_redis_is_unreachable() -> None:
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert identify_client(unreachable, "w") == "unknown"


def test_cleanup_execution_ends_the_current_execution(connection: redis.Redis) -> None:
    queue = Queue("c", connection=connection)
    job = queue.enqueue(say_hello)
    worker = SimpleWorker([queue], connection=connection)
    worker.prepare_job_execution(job)
    execution = worker.execution
    assert execution is not None and connection.exists(execution.key)
    with connection.pipeline() as pipe:
        worker.cleanup_execution(job, pipe)
        pipe.execute()
    assert worker.execution is None and worker.get_current_job_id() is None
    assert not connection.exists(execution.key)
    assert StartedJobRegistry("c", connection=connection).get_job_ids() == []


def test_perform_job_called_directly_measures_working_time(connection: redis.Redis) -> None:
    queue = Queue("p", connection=connection)
    job = queue.enqueue(say_hello)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    assert worker.perform_job(job, queue)
    assert worker.total_working_time > 0
    worker.register_death()


def test_dependents_of_a_job_canceled_while_it_ran_stay_deferred(connection: redis.Redis) -> None:
    queue = Queue("d", connection=connection)
    parent = queue.enqueue(say_hello)
    child = queue.enqueue(say_hello, depends_on=parent)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    worker.prepare_job_execution(parent)
    connection.hset(parent.key, "status", JobStatus.CANCELED.value)  # canceled while it runs
    worker.perform_job(parent, queue)
    assert Job.fetch(child.id, connection=connection).get_status() == JobStatus.DEFERRED
    worker.register_death()


def test_an_overridden_enqueue_dependents_is_called(connection: redis.Redis) -> None:
    calls: list[str] = []

    class TracingQueue(Queue):
        def enqueue_dependents(self, job: Job, *args: Any, **kwargs: Any) -> list[Job]:
            calls.append(job.id)
            return super().enqueue_dependents(job, *args, **kwargs)

    queue = TracingQueue("o", connection=connection)
    parent = queue.enqueue(say_hello)
    child = queue.enqueue(say_hello, depends_on=parent)
    worker = SimpleWorker([queue], connection=connection, queue_class=TracingQueue)
    worker.work(burst=True)
    assert calls and calls[0] == parent.id
    assert Job.fetch(child.id, connection=connection).get_status() == JobStatus.FINISHED


def test_colorizing_handler_accepts_exclude() -> None:
    handler = ColorizingStreamHandler(exclude=["%(asctime)s"])
    assert handler.exclude == ["%(asctime)s"]
    positional = ColorizingStreamHandler(["%(asctime)s"])
    assert positional.exclude == ["%(asctime)s"] and not positional.is_tty
    record = logging.LogRecord("rq.worker", logging.WARNING, __file__, 1, "careful", None, None)
    assert handler.format(record) == "careful"
