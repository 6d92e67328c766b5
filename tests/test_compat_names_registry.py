"""Registries, executions, results and maintenance as upstream RQ's users call them, on a real Redis."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rq import Queue, SimpleWorker
from rq.connections import Connection
from rq.executions import Execution, ExecutionRegistry, cleanup_execution, prepare_execution
from rq.job import Job
from rq.maintenance import clean_intermediate_queue
from rq.registry import (
    BaseRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ReadyJobRegistry,
    StartedJobRegistry,
)
from rq.results import Result, get_key
from rq.utils import current_timestamp
from tests import jobs


class AuditRegistry(FinishedJobRegistry):
    key_template = "audit:{0}"


def test_registries_from_a_bare_name(connection):
    registry = BaseRegistry(connection=connection)
    assert registry.key == "rq:registry:default" and registry.name == "default"
    assert AuditRegistry("emails", connection=connection).key == "audit:emails"
    assert StartedJobRegistry("emails", connection=connection).key == "rq:wip:emails"
    connection.zadd(registry.key, {"old": 1, "new": current_timestamp() + 10})
    registry.cleanup()
    assert registry.get_job_ids() == ["old", "new"]  # a plain registry has nothing that expires


def test_connection_is_resolved_at_first_use(connection):
    registry = FailedJobRegistry("late")
    with pytest.raises(TypeError, match="connection"):
        registry.get_job_count()
    with pytest.warns(DeprecationWarning), Connection(connection):
        assert FailedJobRegistry("late").get_job_count() == 0


def test_remove_takes_the_job_by_either_name(connection):
    queue = Queue(connection=connection)
    registry = FinishedJobRegistry(queue=queue)
    first, second = queue.enqueue(jobs.add, 1, 1), queue.enqueue(jobs.add, 2, 2)
    registry.add(first, -1)
    registry.add(second, -1)
    registry.remove(job=first)
    registry.remove(job_or_id=second.id)
    assert registry.get_job_ids() == []
    with pytest.raises(TypeError):
        registry.remove()


def test_every_cleanup_takes_exception_handlers(connection):
    queue = Queue(connection=connection)
    for registry_class in (FinishedJobRegistry, FailedJobRegistry, StartedJobRegistry, BaseRegistry):
        registry_class(queue=queue).cleanup(exception_handlers=[])
    connection.zadd(FinishedJobRegistry(queue=queue).key, {"expired": 1})
    FinishedJobRegistry(queue=queue).cleanup(exception_handlers=[])
    assert not connection.exists(FinishedJobRegistry(queue=queue).key)


def test_started_registry_accepts_rq1_add(connection):
    queue = Queue(connection=connection)
    registry = StartedJobRegistry(queue=queue)
    job = queue.enqueue(jobs.add, 1, 1)
    with pytest.warns(DeprecationWarning):
        registry.add(job, 1000)
    assert connection.zscore(registry.key, job.id) is not None  # a bare id, as RQ 1.x wrote it
    assert job in registry and registry.get_job_ids() == [job.id]
    with pytest.warns(DeprecationWarning):
        registry.add(job, -1)
    assert connection.zscore(registry.key, job.id) == float("inf")
    registry.remove(job.id, delete_job=True)
    assert job not in registry and not connection.exists(job.key)


def test_execution_lifecycle(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    with connection.pipeline() as pipe:
        execution = Execution.create(job, 100, pipeline=pipe, worker_name="w")
        pipe.execute()
    started = StartedJobRegistry(queue=queue)
    assert started.get_job_and_execution_ids() == [(job.id, execution.id)]
    assert Execution.fetch(execution.id, job.id, connection).worker_name == "w"
    registry = ExecutionRegistry(job.id, connection)
    assert len(registry) == 1 and registry.get_execution_ids() == [execution.id]
    registry.cleanup(current_timestamp() + 100)
    assert len(registry) == 1
    registry.cleanup(current_timestamp() + 200)
    assert len(registry) == 0
    with connection.pipeline() as pipe:
        execution.delete(job=job, pipeline=pipe)
        pipe.execute()
    assert job not in started
    with pytest.raises(ValueError):
        Execution.fetch(execution.id, job.id, connection)


def test_execution_job_is_fetched_once(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    execution = Execution("x", job.id, connection)
    assert execution.job is execution.job and execution.job.id == job.id


def test_execution_registry_delete_ends_every_execution(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    with connection.pipeline() as pipe:
        executions = [Execution.create(job, 100, pipeline=pipe) for _ in range(2)]
        pipe.execute()
    with connection.pipeline() as pipe:
        ExecutionRegistry(job.id, connection).delete(job=job, pipeline=pipe)
        pipe.execute()
    assert job not in StartedJobRegistry(queue=queue)
    assert not any(connection.exists(execution.key) for execution in executions)
    assert not connection.exists(ExecutionRegistry(job.id, connection).key)


def test_prepare_and_cleanup_execution(connection):
    queue = Queue(connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    job = queue.enqueue(jobs.add, 1, 1)
    execution = prepare_execution(worker, job)
    assert worker.execution is execution and execution.worker_name == worker.name
    assert connection.ttl(execution.key) > 0
    assert (job.id, execution.id) in StartedJobRegistry(queue=queue).get_job_and_execution_ids()
    with connection.pipeline() as pipe:
        cleanup_execution(worker, job, pipe)
        pipe.execute()
    assert worker.execution is None and job not in StartedJobRegistry(queue=queue)


def test_results_with_upstream_arguments(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    assert get_key(job.id) == Result.get_key(job.id) == f"rq:results:{job.id}"
    started = datetime.now(timezone.utc).replace(microsecond=0)
    result = Result.create(
        job,
        Result.Type.SUCCESSFUL,
        10,
        2,
        None,
        "w",
        None,
        "exec-1",
        started,
        started + timedelta(seconds=1),
    )
    assert result.id
    latest = Result.fetch_latest(job)
    assert latest is not None and latest.return_value == 2 and latest.execution_id == "exec-1"
    assert latest.execution_ended_at == started + timedelta(seconds=1)
    Result.create_retried(job, 10, None, "w", "exec-2", started, started)
    assert Result.fetch_latest(job).type == Result.Type.RETRIED  # type: ignore[union-attr]


def test_clean_intermediate_queue_is_deprecated(connection):
    queue = Queue("foo", connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    with pytest.deprecated_call():
        clean_intermediate_queue(worker, queue)


def test_ready_registry_enqueues_each_job_once(connection):
    queue = Queue(connection=connection)
    registry = ReadyJobRegistry(queue=queue)
    assert registry.key == "rq:ready:default"
    job = Job.create(jobs.add, args=(1, 1), connection=connection, origin=queue.name)
    job.save()
    stale = queue.enqueue(jobs.add, 2, 2)
    with connection.pipeline() as pipe:
        registry.register_jobs([job], pipeline=pipe)
        pipe.execute()
    registry.add(stale)
    assert [enqueued.id for enqueued in registry.cleanup()] == [job.id]
    assert queue.get_job_ids() == [stale.id, job.id]
    assert registry.get_job_ids() == [] and registry.enqueue_jobs([job.id]) == []
