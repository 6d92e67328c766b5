"""Transitions of a job between queues and registries: finish, fail, retry, stop, cancel,
requeue, delete, and recovery of abandoned jobs.

The ``write_*`` functions only queue commands on a pipeline that the caller executes, so a
worker can record a job's outcome, its own counters and the cleanup of the execution in
one transaction (one round trip).
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union, cast

from . import layout
from .defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL
from .exceptions import AbandonedJobError, InvalidJobOperation
from .layout import utcnow
from .queue_ref import QueueLike, QueueRef
from .registry import (
    CanceledJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
    registry_class,
)
from .results import Result
from .status import JobStatus
from .timeouts import usable_death_penalty

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .executions import Execution
    from .job import Job
    from .registry import BaseRegistry
    from .resilience import RetryLoop

logger = logging.getLogger("rq.job")

STOPPED_BY_USER = "Job stopped by user, work-horse terminated."
# Separates a failed job's traceback from that of its failure callback, when both failed.
FAILURE_CALLBACK_ERROR = "The failure callback raised as well:"
_REGISTRY_KINDS = ("started", "finished", "failed", "deferred", "scheduled", "canceled")


def _queue_of(job: "Job") -> QueueRef:
    return QueueRef.of_job(job)


def end_execution(job: "Job", queue: "QueueLike", execution: Optional["Execution"], pipe: "Pipeline") -> None:
    """Remove the execution and its started-registry entry."""
    if execution is not None:
        execution.delete(job=job, pipeline=pipe)
        StartedJobRegistry(queue=queue).remove_execution(execution, pipeline=pipe)


def write_success(
    job: "Job",
    queue: "QueueLike",
    pipe: "Pipeline",
    return_value: Any,
    *,
    worker_name: str = "",
    execution: Optional["Execution"] = None,
    default_result_ttl: int = DEFAULT_RESULT_TTL,
) -> Optional[int]:
    """Queue the writes that record a successful run and end with ``EXISTS <dependents key>``.

    With ``result_ttl`` 0 nothing is kept (the dependents set stays until they are released).
    Only the fields that changed are written; the position of that HSET in ``pipe`` is
    returned so the caller can check with ``restore_lost_hash`` that the hash still existed.
    """
    result_ttl = job.get_result_ttl(default_result_ttl)
    job.ended_at = job.ended_at or utcnow()
    job._status = JobStatus.FINISHED.value
    end_execution(job, queue, execution, pipe)
    status_write = None
    if result_ttl == 0:
        pipe.delete(job.key, job.dependencies_key, layout.results_key(job.id))
    else:
        status_write = len(pipe)
        pipe.hset(job.key, mapping={"status": job._status, "ended_at": layout.format_ts(job.ended_at)})
        Result.create(
            job,
            Result.Type.SUCCESSFUL,
            ttl=result_ttl,
            return_value=return_value,
            worker_name=worker_name,
            execution=execution,
            pipeline=pipe,
        )
        FinishedJobRegistry(queue=queue).add(job, ttl=result_ttl, pipeline=pipe)
        if result_ttl > 0:
            # The dependents set gets the same TTL when dependents are released (release_if_needed).
            for key in (job.key, job.dependencies_key) if job.dependency_ids else (job.key,):
                pipe.expire(key, result_ttl)
        else:
            pipe.persist(job.key)
    pipe.exists(job.dependents_key)
    return status_write


def restore_lost_hash(job: "Job", replies: list, status_write: Optional[int], ttl: Optional[int]) -> None:
    """If the outcome's HSET created the job hash (Redis lost it while the job ran), write it in full."""
    if status_write is None or status_write >= len(replies) or not replies[status_write]:
        return  # the fields existed: the hash was there
    with job.connection.pipeline() as pipe:
        pipe.hset(job.key, mapping=layout.redis_fields(job.to_dict(include_meta=False, include_result=False)))
        if ttl and ttl > 0:
            pipe.expire(job.key, ttl)
        pipe.execute()


def write_failure(
    job: "Job",
    queue: "QueueLike",
    pipe: "Pipeline",
    exc_string: str,
    *,
    worker_name: str = "",
    execution: Optional["Execution"] = None,
    status: JobStatus = JobStatus.FAILED,
) -> None:
    """Queue the writes that record a final failure (or a stop) and end with ``EXISTS <dependents key>``."""
    job.ended_at = job.ended_at or utcnow()
    job._status = status.value
    end_execution(job, queue, execution, pipe)
    FailedJobRegistry(queue=queue).add(
        job, exc_string=exc_string, pipeline=pipe, worker_name=worker_name, execution=execution
    )
    pipe.exists(job.dependents_key)


def plan_retry(job: "Job") -> int:
    """Use up one retry of the job (in memory); returns the delay before it runs again.

    Called once per failure, outside the write, so re-running a write through an outage
    does not use up more retries.
    """
    delay = job.get_retry_interval()
    job.retries_left = (job.retries_left or 1) - 1
    job.ended_at = job.ended_at or utcnow()
    return delay


def write_retry(
    job: "Job",
    queue: "QueueLike",
    pipe: "Pipeline",
    delay: int,
    exc_string: str = "",
    *,
    worker_name: str = "",
    execution: Optional["Execution"] = None,
) -> None:
    """Queue the writes that put a failed job back, now or after ``delay`` seconds (see ``plan_retry``)."""
    end_execution(job, queue, execution, pipe)
    Result.create(
        job,
        Result.Type.RETRIED,
        ttl=job.failure_ttl,
        exc_string=exc_string or None,
        worker_name=worker_name,
        execution=execution,
        pipeline=pipe,
    )
    at_front = job.should_enqueue_at_front()
    if delay > 0:
        job._status = JobStatus.SCHEDULED.value
        pipe.hset(job.key, mapping=layout.redis_fields(job.to_dict(include_meta=False, include_result=False)))
        ScheduledJobRegistry(queue=queue).schedule(job, utcnow() + timedelta(seconds=delay), pipeline=pipe)
    else:
        queue._write_enqueue(job, pipe, at_front=at_front)


def plan_returned_retry(job: "Job", retry: Any) -> Optional[int]:
    """The job returned a ``Retry``: count it (in memory, once) and return the delay before the
    next run, or None when ``retry.max`` is used up and the job fails."""
    from .retry import Retry

    done = job.number_of_retries or 0
    job.ended_at = job.ended_at or utcnow()
    if done >= retry.max:
        return None
    job.number_of_retries = done + 1
    return Retry.get_interval(done, retry.intervals)


def write_returned_retry(
    job: "Job",
    queue: "QueueLike",
    pipe: "Pipeline",
    retry: Any,
    delay: Optional[int],
    *,
    worker_name: str = "",
    execution: Optional["Execution"] = None,
) -> None:
    """Queue the writes for a returned ``Retry`` (see ``plan_returned_retry``): run it again after
    ``delay`` with a type-4 result, or (``delay`` None) fail it with a type-5 result."""
    end_execution(job, queue, execution, pipe)
    if delay is None:
        job._status = JobStatus.FAILED.value
        ttl = job.failure_ttl if job.failure_ttl is not None else DEFAULT_FAILURE_TTL
        pipe.zadd(FailedJobRegistry(queue=queue).key, {job.id: layout.score_of() + ttl if ttl >= 0 else ttl})
        pipe.hset(job.key, mapping=layout.redis_fields(job.to_dict(include_meta=False, include_result=False)))
        if ttl > 0:
            pipe.expire(job.key, ttl)
        Result.create_max_retries_exceeded(
            job, job.failure_ttl, return_value=retry, worker_name=worker_name, execution=execution, pipeline=pipe
        )
        pipe.exists(job.dependents_key)
        return
    Result.create_retried(
        job, job.failure_ttl, return_value=retry, worker_name=worker_name, execution=execution, pipeline=pipe
    )
    _put_back(job, queue, pipe, delay, retry)
    pipe.persist(job.key)
    pipe.exists(job.dependents_key)


def _put_back(job: "Job", queue: "QueueLike", pipe: "Pipeline", delay: int, retry: Any) -> None:
    """Queue the writes that run the job again: scheduled after ``delay`` seconds, or enqueued now.

    A ``Retry(enqueue_at_front=True)`` puts it at the front, now or when the scheduler enqueues it
    (the flag is kept in the job hash, as RQ 3.x keeps it).
    """
    job.enqueue_at_front_on_retry = bool(job.enqueue_at_front_on_retry or retry.enqueue_at_front) or None
    at_front = bool(job.enqueue_at_front_on_retry)
    if delay > 0:
        job._status = JobStatus.SCHEDULED.value
        pipe.hset(job.key, mapping=layout.redis_fields(job.to_dict(include_meta=False, include_result=False)))
        ScheduledJobRegistry(queue=queue).schedule(job, utcnow() + timedelta(seconds=delay), pipeline=pipe)
    else:
        queue._write_enqueue(job, pipe, at_front=at_front)


def release_if_needed(job: "Job", dependents_exist: Any, retry: Optional["RetryLoop"] = None) -> None:
    """Release dependents after an outcome was recorded, if the job has any.

    The outcome is already stored, so a Redis fault here must not lose the release: it is
    tried again on ``retry`` (the worker's outcome-write loop, so one outage of its
    connection is logged once) until Redis answers (a release is safe to repeat).
    """
    if not dependents_exist:
        return
    from .resilience import DEPENDENTS_RELEASE, Outage, RetryLoop

    if retry is None:
        retry = RetryLoop(DEPENDENTS_RELEASE, Outage(logger, f"Job {job.id}", "the release of its dependents"))
    retry.call(lambda: _release(job))


def _release(job: "Job") -> None:
    from .dependency import release_dependents

    release_dependents(job)
    ttl = job.get_result_ttl(DEFAULT_RESULT_TTL) if job._status == JobStatus.FINISHED.value else job.failure_ttl
    if ttl and ttl > 0:
        job.connection.expire(job.dependents_key, ttl)  # what is left waits for other dependencies


def run_failure_callback(
    job: "Job", death_penalty_class: type, exc_info: tuple, exc_string: Optional[str] = None
) -> Optional[str]:
    """Run the failure callback; if it raises or times out, log it and return the text to record.

    That text is the job's own traceback (``exc_string``, else formatted from ``exc_info``)
    followed by the callback's, so the reason the job failed is never lost.
    """
    return _failure_callback_outcome(job, death_penalty_class, exc_info, exc_string)[0]


def _failure_callback_outcome(
    job: "Job", death_penalty_class: type, exc_info: tuple, exc_string: Optional[str]
) -> tuple[Optional[str], Optional[Exception]]:
    """``run_failure_callback``'s text to record, and the callback's own error (None if it ran well)."""
    try:
        job.execute_failure_callback(death_penalty_class, *exc_info)
    except Exception as error:
        logger.exception("Job %s: error while executing failure callback", job.id)
        own = exc_string if exc_string is not None else "".join(traceback.format_exception(*exc_info))
        return f"{own.rstrip()}\n\n{FAILURE_CALLBACK_ERROR}\n{traceback.format_exc()}", error
    return None, None


def record_failure(
    job: "Job",
    queue: "QueueLike",
    exc_string: str,
    exc_info: Optional[tuple],
    *,
    worker_name: str = "",
    death_penalty_class: type,
    execution: Optional["Execution"] = None,
    exception_handlers: Iterable[Callable[..., Any]] = (),
    raise_callback_error: bool = False,
) -> None:
    """Failure path outside a worker (sync mode, abandoned jobs): callback, handlers, retry or fail.

    With ``raise_callback_error`` (synchronous mode, as upstream RQ), an error of the failure
    callback is raised to the caller once the failure is recorded.
    """
    exc_info = exc_info or sys.exc_info()
    callback_error: Optional[Exception] = None
    if exc_info[0]:
        combined, callback_error = _failure_callback_outcome(job, death_penalty_class, exc_info, exc_string)
        exc_string = combined or exc_string
    for handler in exception_handlers:
        try:
            if handler(job, *exc_info) is False:
                break
        except Exception:
            logger.exception("Job %s: exception handler %r failed", job.id, handler)
    with job.connection.pipeline() as pipe:
        if job.should_retry:
            write_retry(job, queue, pipe, plan_retry(job), exc_string, worker_name=worker_name, execution=execution)
            pipe.execute()
            return
        write_failure(job, queue, pipe, exc_string, worker_name=worker_name, execution=execution)
        dependents_exist = pipe.execute()[-1]
    release_if_needed(job, dependents_exist)
    job.send_webhooks("failed", exc_string=exc_string)
    if raise_callback_error and callback_error is not None:
        raise callback_error


def record_success(
    job: "Job",
    queue: "QueueLike",
    return_value: Any,
    *,
    worker_name: str = "",
    death_penalty_class: type,
    execution: Optional["Execution"] = None,
) -> None:
    """Success path outside a worker (sync mode): success callback, then the finished state.

    As upstream RQ, a success callback that raises makes the job fail.
    """
    try:
        job.execute_success_callback(death_penalty_class, return_value)
    except Exception:
        logger.exception("Job %s: error while executing success callback", job.id)
        record_failure(
            job,
            queue,
            traceback.format_exc(),
            sys.exc_info(),
            worker_name=worker_name,
            death_penalty_class=death_penalty_class,
            execution=execution,
        )
        return
    with job.connection.pipeline() as pipe:
        status_write = write_success(job, queue, pipe, return_value, worker_name=worker_name, execution=execution)
        replies = pipe.execute()
    restore_lost_hash(job, replies, status_write, job.get_result_ttl(DEFAULT_RESULT_TTL))
    dependents_exist = replies[-1]
    job._cached_return_value = return_value
    release_if_needed(job, dependents_exist)
    job.send_webhooks("finished")


def handle_abandoned_job(
    registry: StartedJobRegistry, job: "Job", execution_id: str, exception_handlers: Iterable[Callable[..., Any]]
) -> None:
    """A started job whose worker stopped heartbeating: fail it (or retry it) with AbandonedJobError."""
    ended = (JobStatus.FINISHED.value, JobStatus.FAILED.value, JobStatus.STOPPED.value, JobStatus.CANCELED.value)
    if job._status in ended:
        return  # already ended; only the stale registry entry is left
    from .executions import Execution

    queue = QueueRef(registry.name, registry.connection, registry.job_class, registry.serializer)
    if redeliver_abandoned(job, queue, execution_id):
        return
    stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    message = f"Moved to FailedJobRegistry, due to AbandonedJobError, at {stamp}"
    try:
        raise AbandonedJobError(message)
    except AbandonedJobError:
        exc_info = sys.exc_info()
    execution = Execution(execution_id, job.id, job.connection) if execution_id else None
    job.worker_name = ""
    logger.warning("Job %s (%s) was abandoned by its worker; recovering it", job.id, job.description)
    record_failure(
        job,
        queue,
        message,
        exc_info,
        worker_name="",
        death_penalty_class=usable_death_penalty(registry.death_penalty_class),
        execution=execution,
        exception_handlers=exception_handlers,
    )


def redeliver_abandoned(job: "Job", queue: "QueueLike", execution_id: str) -> bool:
    """Put an abandoned job back at the front of its queue if its redelivery budget allows.

    Opt-in (``max_redeliveries``, set per job at enqueue or by a worker started with
    ``redeliver_abandoned``); the count is kept in the job hash. Returns True if redelivered.
    """
    if not job.max_redeliveries or job.redeliveries >= job.max_redeliveries:
        return False
    from .executions import Execution

    job.redeliveries += 1
    job.worker_name = None
    job.started_at = None
    with job.connection.pipeline() as pipe:
        end_execution(job, queue, Execution(execution_id, job.id, job.connection) if execution_id else None, pipe)
        queue._write_enqueue(job, pipe, at_front=True)
        pipe.execute()
    logger.warning(
        "Job %s (%s) was abandoned by its worker; redelivered to %s (%d of %d)",
        job.id,
        job.description,
        queue.name,
        job.redeliveries,
        job.max_redeliveries,
    )
    return True


def requeue_from_registry(registry: "BaseRegistry", job_or_id: Union["Job", str], at_front: bool = False) -> "Job":
    """Take a job out of ``registry`` and enqueue it again with a clean state (``BaseRegistry.requeue``)."""
    return registry.requeue(job_or_id, at_front=at_front)


def cancel_job(
    job: "Job",
    pipeline: Optional["Pipeline"] = None,
    enqueue_dependents: bool = False,
    remove_from_dependencies: bool = False,
) -> None:
    """Mark the job canceled, take it off its queue and registries, add it to the canceled registry."""
    if job.get_status() == JobStatus.CANCELED:
        raise InvalidJobOperation(f"Cannot cancel already canceled job: {job.id}")
    queue = _queue_of(job)
    own = pipeline is None
    pipe: Any = job.connection.pipeline() if own else pipeline
    if enqueue_dependents and not own:  # as upstream RQ: into the caller's pipeline, which the caller executes
        from .dependency import release_dependents

        release_dependents(job, pipeline=pipe, exclude_job_id=job.id)
    job.set_status(JobStatus.CANCELED, pipeline=pipe)
    queue.remove(job, pipeline=pipe)
    _remove_from_registries(job, queue, pipe, keep=("canceled",))
    CanceledJobRegistry(queue=queue).add(job, pipeline=pipe)
    if remove_from_dependencies:
        for dependency_id in job.dependency_ids:
            pipe.srem(layout.dependents_key(dependency_id), job.id)
    if own:
        pipe.execute()
        if enqueue_dependents:
            from .dependency import release_dependents

            release_dependents(job, exclude_job_id=job.id)


def _remove_from_registries(job: "Job", queue: "QueueLike", pipe: Any, keep: tuple = ()) -> None:
    for kind in _REGISTRY_KINDS:
        if kind in keep:
            continue
        registry = registry_class(kind)(queue=queue)
        if isinstance(registry, StartedJobRegistry):
            registry.remove_executions(job, pipeline=pipe)
        else:
            pipe.zrem(registry.key, job.id)


def delete_job(
    job: "Job", pipeline: Optional["Pipeline"] = None, remove_from_queue: bool = True, delete_dependents: bool = False
) -> None:
    """Delete the job and every trace of it: queue and registry entries, executions, results."""
    from .executions import ExecutionRegistry

    own = pipeline is None
    pipe: Any = job.connection.pipeline() if own else pipeline
    if job.origin:
        queue = _queue_of(job)
        if remove_from_queue:
            queue.remove(job, pipeline=pipe)
        _remove_from_registries(job, queue, pipe)
    ExecutionRegistry(job.id, job.connection).delete(pipeline=pipe)
    if job.group_id:
        pipe.srem(layout.group_key(job.group_id), job.id)
    if delete_dependents:
        delete_dependents_of(job, pipe)
    pipe.delete(job.key, job.dependents_key, job.dependencies_key, layout.results_key(job.id))
    if own:
        pipe.execute()


def delete_dependents_of(job: "Job", pipe: Any) -> None:
    """Queue the deletion of every dependent of ``job`` (not their own dependents) on ``pipe``."""
    for dependent in job.connection.smembers(job.dependents_key):
        dependent_id = layout.as_text(dependent)
        if dependent_id == job.id:
            continue
        try:
            dependent_job = type(job).fetch(dependent_id, connection=job.connection, serializer=job.serializer)
        except Exception:
            pipe.delete(layout.job_key(dependent_id))
            continue
        delete_job(dependent_job, pipeline=pipe)


def delete_dependents(job: "Job", pipeline: Optional["Pipeline"] = None) -> None:
    """Delete every dependent of ``job`` (executed at once unless a ``pipeline`` is given)."""
    own = pipeline is None
    pipe: Any = job.connection.pipeline() if own else pipeline
    delete_dependents_of(job, pipe)
    pipe.delete(job.dependents_key)
    if own:
        pipe.execute()


def fail_unreadable_job(queue: "QueueLike", job_id: str, reason: str, execution_id: str = "") -> None:
    """Record as failed a dequeued job whose hash cannot be read (corrupt fields, no ``data``).

    Only the fields a reader needs are written, so it shows up in the failed registry with
    ``reason`` as its exc_info instead of silently disappearing.
    """
    key = layout.job_key(job_id)
    with queue.connection.pipeline() as pipe:
        pipe.hset(key, mapping={"status": JobStatus.FAILED.value, "ended_at": layout.format_ts(utcnow())})
        pipe.expire(key, DEFAULT_FAILURE_TTL)
        pipe.zadd(FailedJobRegistry(queue=queue).key, {job_id: layout.score_of() + DEFAULT_FAILURE_TTL})
        pipe.xadd(
            layout.results_key(job_id),
            {"type": str(Result.Type.FAILED.value), "worker_name": "", "exc_string": layout.encode_exc_string(reason)},
            maxlen=10,
            approximate=True,
        )
        pipe.lrem(layout.intermediate_queue_key(queue.name), 1, job_id)
        if execution_id:  # its start was already recorded
            pipe.zrem(StartedJobRegistry(queue=queue).key, layout.composite_member(job_id, execution_id))
            pipe.delete(layout.execution_key(job_id, execution_id))
            pipe.zrem(layout.executions_key(job_id), execution_id)
        pipe.execute()


class JobOperations:
    """Cancel, delete, requeue and retry: the transitions above, as methods of ``Job`` (``self`` is a ``Job``)."""

    id: str
    webhooks: list
    failed_job_registry: Any

    def delete(
        self, pipeline: Optional["Pipeline"] = None, remove_from_queue: bool = True, delete_dependents: bool = False
    ) -> None:
        """Remove the job, its registry and queue entries, executions, results and dependency sets."""
        job = cast("Job", self)
        delete_job(job, pipeline=pipeline, remove_from_queue=remove_from_queue, delete_dependents=delete_dependents)

    def delete_dependents(self, pipeline: Optional["Pipeline"] = None) -> None:
        delete_dependents(cast("Job", self), pipeline=pipeline)

    def cancel(
        self,
        pipeline: Optional["Pipeline"] = None,
        enqueue_dependents: bool = False,
        remove_from_dependencies: bool = False,
    ) -> None:
        """Move the job to the canceled registry; its dependents stay deferred unless asked."""
        cancel_job(
            cast("Job", self),
            pipeline=pipeline,
            enqueue_dependents=enqueue_dependents,
            remove_from_dependencies=remove_from_dependencies,
        )

    def requeue(self, at_front: bool = False) -> "Job":
        """Put a failed (or stopped) job back on its queue."""
        return self.failed_job_registry.requeue(self, at_front=at_front)

    def retry(self, queue: "QueueLike", pipeline: "Pipeline") -> None:
        """Use up one retry and queue the writes that run the job again (now or after its interval)."""
        job = cast("Job", self)
        write_retry(job, queue, pipeline, plan_retry(job))

    def _handle_retry_result(
        self,
        queue: "QueueLike",
        pipeline: "Pipeline",
        retry: Any,
        execution_id: str,
        execution_started_at: Any,
        execution_ended_at: Any,
        worker_name: str = "",
    ) -> None:
        """Queue the writes for a run that returned ``retry``: a type-4 result, one more retry counted,
        and the job back on its queue (now, or scheduled after the retry's interval), as upstream RQ does."""
        from .retry import Retry

        job = cast("Job", self)
        Result.create_retried(
            job,
            job.failure_ttl,
            return_value=retry,
            worker_name=worker_name,
            execution_id=execution_id,
            execution_started_at=execution_started_at,
            execution_ended_at=execution_ended_at,
            pipeline=pipeline,
        )
        done = job.number_of_retries or 0
        job.number_of_retries = done + 1
        _put_back(job, queue, pipeline, Retry.get_interval(done, retry.intervals), retry)

    def _handle_abandoned(
        self, registry: StartedJobRegistry, execution_id: str, exception_handlers: Iterable[Callable[..., Any]]
    ) -> None:
        """``handle_abandoned_job`` for this job: how ``StartedJobRegistry.cleanup`` recovers it."""
        handle_abandoned_job(registry, cast("Job", self), execution_id, exception_handlers)

    def send_webhooks(self, status: str, *, exc_string: Optional[str] = None) -> None:
        """Call the job's webhooks registered for ``status`` ('finished' or 'failed'); errors are logged."""
        for hook in self.webhooks:
            if getattr(hook, "job_status", None) == status:
                hook.send(self, exc_string=exc_string)
