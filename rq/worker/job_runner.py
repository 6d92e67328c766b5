"""Running one job inside a worker: start it, perform it, record its outcome.

``JobRunner`` is the part of the worker classes that does this (the forking ``Worker``
runs ``perform_job`` in its work horse, ``SimpleWorker`` in its own process). Each step
writes to Redis in one transaction; the outcome write is retried through Redis outages
so that a job that finished while Redis was away is recorded once Redis is back.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from .. import layout
from ..batch import AtomicBatch
from ..connections import _stack as _connection_stack
from ..exceptions import DeserializationError, ShutDownImminentException
from ..executions import Execution
from ..job_lifecycle import (
    STOPPED_BY_USER,
    end_execution,
    plan_retry,
    plan_returned_retry,
    release_if_needed,
    restore_lost_hash,
    run_failure_callback,
    write_failure,
    write_retry,
    write_returned_retry,
    write_success,
)
from ..layout import as_text, format_ts, utcnow
from ..queue import Queue as _BaseQueue
from ..resilience import REDIS_ERRORS, Outage, RetryLoop
from ..results import ResultTooLarge
from ..settings import settings
from ..status import JobStatus
from ..timeouts import JobTimeoutException, usable_death_penalty
from .registration import HEARTBEATS_WHILE_RUNNING, HeartbeatTTL

if TYPE_CHECKING:
    from datetime import datetime

    from redis.client import Pipeline

    from ..job import Job
    from ..queue import Queue
    from ..registry import StartedJobRegistry
    from .dequeuer import TakenJobs

logger = logging.getLogger("rq.worker")

# Failures in a row of one outcome write while Redis answers PING, before the write is
# taken as refused rather than as caught in an outage (see JobRunner.write_with_retry).
OUTCOME_WRITE_REFUSALS = settings.outcome_write_refusals
# How redis-py words a connection that the server closed in the middle of a request.
_PEER_CLOSED = ("Broken pipe", "Connection reset by peer", "Connection closed by server")


# The release of dependents as defined by this package (an override of it is called too).
_BASE_ENQUEUE_DEPENDENTS = _BaseQueue.enqueue_dependents


class OutcomeWriteRefused(Exception):
    """Redis is reachable but keeps dropping the connection of one outcome write."""


def _dependents_exist(results: list) -> Any:
    """The outcome batch's last reply, ``EXISTS <dependents key>``; unknown, so True, when the
    write was found already recorded and skipped (a release is safe to repeat)."""
    return results[-1] if results else True


class JobRunner:
    """Job execution steps of a worker; each is an override point, as in upstream RQ."""

    # Set by the worker.
    name: str
    connection: Any
    death_penalty_class: Any
    job_monitoring_interval: int
    default_result_ttl: int
    disable_default_exception_handler: bool
    log_job_description: bool
    log_result_lifespan = True
    # The heartbeat TTL rule of the worker class (also applied by the dequeue when it records a start).
    heartbeat_ttl_rule: HeartbeatTTL = HEARTBEATS_WHILE_RUNNING
    queue_class: Any
    _exc_handlers: list
    execution: Optional[Execution]
    connection_outage: Outage
    outcome_writes: RetryLoop
    redeliver_abandoned: Optional[int]
    # The one record of a job taken but not started (rq.worker.dequeuer.TakenJobs).
    taken: "TakenJobs"
    # The worker's record (rq.worker_record.WorkerRecord).
    _state: str
    _current_job_id: Optional[str]
    last_heartbeat: Optional[datetime]
    successful_job_count: int
    failed_job_count: int
    total_working_time: float

    if TYPE_CHECKING:  # defined by the other parts of the worker classes

        @property
        def key(self) -> str: ...

        def emit(self, event: str, **details: Any) -> None: ...

        def procline(self, message: str) -> None: ...

    # ---- exception handlers -------------------------------------------------------------

    def push_exc_handler(self, handler_func: Callable[..., Any]) -> None:
        """Add a handler called as ``handler(job, exc_type, exc_value, traceback)`` on failures."""
        self._exc_handlers.append(handler_func)

    def pop_exc_handler(self) -> Callable[..., Any]:
        return self._exc_handlers.pop()

    def handle_exception(self, job: "Job", *exc_info: Any) -> None:
        """Log the failure and run the handler chain; a handler returning False stops it."""
        exc_string = "".join(traceback.format_exception(*exc_info))
        extra: dict[str, Any] = {"job_id": job.id, "worker_name": self.name, "queue": job.origin}
        try:  # a job whose data cannot be decoded is logged too, as upstream RQ's worker does
            func_name = job.func_name
            extra.update(func=func_name, arguments=job.args, kwargs=job.kwargs)
        except DeserializationError:
            func_name = "<DeserializationError>"
        logger.error(
            "[Job %s]: exception raised while executing (%s)\n%s",
            job.id,
            func_name,
            exc_string,
            extra=extra,
        )
        for handler in self._exc_handlers:
            try:
                fall_through = handler(job, *exc_info)
            except Exception:
                logger.exception("Worker %s: exception handler %r raised", self.name, handler)
                continue
            if fall_through is not None and not fall_through:
                break

    # ---- starting ---------------------------------------------------------------------------

    def get_heartbeat_ttl(self, job: "Job", working_time: Optional[float] = None) -> int:
        """How long the started-registry entry lives without a heartbeat (the worker class's ``heartbeat_ttl_rule``).

        ``working_time``: seconds the job has run (RQ 3.x passes it); by default, since ``job.started_at``.
        """
        if working_time is not None:
            elapsed = working_time
        else:
            elapsed = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
        return self.heartbeat_ttl_rule.ttl(
            job.timeout, self.queue_class.DEFAULT_TIMEOUT, self.job_monitoring_interval, elapsed
        )

    def start_job(self, job: "Job") -> None:
        """Record the job's start (``prepare_job_execution``), then tell the listeners."""
        self.prepare_job_execution(job, remove_from_intermediate_queue=True)
        self.emit("job_started", job=job)

    def prepare_execution(self, job: "Job", pipeline: Union["Pipeline", AtomicBatch, None] = None) -> Execution:
        """Create the execution record (and its started-registry entry) on ``pipeline``."""
        own = pipeline is None
        pipe: Any = self.connection.pipeline() if own else pipeline
        ttl = self.get_heartbeat_ttl(job)
        self.execution = Execution.create(job, ttl, pipeline=pipe, worker_name=self.name)
        self._started_registry(job).add_execution(self.execution, pipeline=pipe, ttl=ttl)
        if own:
            pipe.execute()
        return self.execution

    def _started_registry(self, job: "Job") -> "StartedJobRegistry":
        from ..registry import StartedJobRegistry

        return StartedJobRegistry(
            job.origin, connection=self.connection, job_class=type(job), serializer=job.serializer
        )

    def prepare_job_execution(self, job: "Job", remove_from_intermediate_queue: bool = False) -> None:
        """Mark the job started, by this worker, in one transaction with its execution.

        Nothing to write when the dequeue recorded the start already, in the same script
        that took the job (the usual path). If Redis fails here the job has not run: the
        worker puts it back on its queue as soon as Redis is back (``TakenJobs``).
        """
        if self.taken.start_recorded(job.id):
            return
        try:
            self._write_start(job, remove_from_intermediate_queue)
        except REDIS_ERRORS:
            from ..queue import Queue

            queue = Queue(job.origin, connection=self.connection)
            self.taken.start_failed(queue, job.id, self.execution.id if self.execution is not None else "")
            raise

    def _prepared_execution(self, job: "Job") -> Optional[Execution]:
        """The execution that ``prepare_execution()`` already wrote for ``job`` (upstream's two-step start)."""
        execution = self.execution
        if execution is None or execution.job_id != job.id:
            return None
        return execution if self.connection.exists(execution.key) else None

    def _write_start(self, job: "Job", remove_from_intermediate_queue: bool) -> None:
        prepared = self._prepared_execution(job)
        with AtomicBatch(self.connection) as pipe:
            job.started_at = utcnow()
            if prepared is None:
                self.prepare_execution(job, pipeline=pipe)
            else:  # refresh it rather than start a second execution of the same run
                prepared.heartbeat(self._started_registry(job), self.get_heartbeat_ttl(job), cast(Any, pipe))
            self._state, self._current_job_id = "busy", job.id
            worker_fields = {
                "state": "busy",
                "current_job": job.id,
                "current_job_working_time": 0,
                "last_heartbeat": format_ts(utcnow()),
            }
            pipe.hset(self.key, mapping=layout.redis_fields(worker_fields))
            pipe.expire(self.key, self.get_heartbeat_ttl(job))
            job.prepare_for_execution(self.name, pipe)
            if self.redeliver_abandoned is not None and job.max_redeliveries is None:
                job.max_redeliveries = self.redeliver_abandoned
                pipe.hset(job.key, "max_redeliveries", job.max_redeliveries)
            if remove_from_intermediate_queue:
                pipe.lrem(layout.intermediate_queue_key(job.origin), 1, job.id)
                pipe.delete(layout.intermediate_first_seen_key(job.origin, job.id))
            pipe.execute()

    # ---- performing --------------------------------------------------------------------------

    def perform_job(self, job: "Job", queue: "Queue", execution: Optional[Execution] = None) -> bool:
        """Run the job under its time limit and record the outcome; True if it succeeded.

        ``execution``: the run's record, when the caller made it (RQ 3.x passes it).
        """
        if execution is not None:
            self.execution = execution
        self.procline(f"Processing {job.description or job.id} from {queue.name} since {utcnow():%H:%M:%S}")
        _connection_stack.append(self.connection)  # RQ 1.x jobs may call get_current_connection()
        try:
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            penalty = usable_death_penalty(self.death_penalty_class)
            job.started_at = job.started_at or utcnow()  # called directly (not after start_job), as upstream allows
            with penalty(timeout, JobTimeoutException, job_id=job.id):
                return_value = job.perform()
            job.ended_at = utcnow()
            job._cached_return_value = return_value
            job.execute_success_callback(penalty, return_value)
        except (Exception, ShutDownImminentException):
            job.ended_at = job.ended_at or utcnow()
            exc_info = sys.exc_info()
            exc_string = "".join(traceback.format_exception(*exc_info))
            penalty = usable_death_penalty(self.death_penalty_class)
            exc_string = run_failure_callback(job, penalty, exc_info) or exc_string
            job._status = JobStatus.FAILED.value  # handlers (and Sentry's RQ integration) see a failed job
            self.handle_exception(job, *exc_info)
            self.handle_job_failure(job, queue=queue, exc_string=exc_string)
            return False
        finally:
            _connection_stack.pop()
        self.handle_job_success(job, queue, self._started_registry(job))
        return True

    def _log_success(self, job: "Job", queue: "Queue") -> None:
        duration = (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else 0.0
        if self.log_job_description:
            logger.info("Successfully completed %s job in %ss on worker %s", job.description, duration, self.name)
        else:
            logger.info("Successfully completed job %s in %ss on worker %s", job.id, duration, self.name)
        if self.log_result_lifespan:
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl == 0:
                logger.info("Worker %s: result of job %s discarded immediately", self.name, job.id)
            elif result_ttl > 0:
                logger.info("Worker %s: job %s result is kept for %s seconds", self.name, job.id, result_ttl)
            else:
                logger.info(
                    "Worker %s: job %s result will never expire, clean up result key manually", self.name, job.id
                )

    # ---- recording outcomes --------------------------------------------------------------------

    def write_with_retry(self, build: Callable[[Any], None], what: str, job: Optional["Job"] = None) -> list:
        """Run ``build(pipe)`` and execute it; on Redis errors wait with backoff and try again.

        With ``job``, nothing is written, and an empty list returned, if the current
        execution's result is already stored: a write repeated after its reply was lost (by
        this loop, or by a client that retries commands itself) is not applied twice.

        A write that Redis refuses is not an outage: a protocol error (the request's header
        announced more than proto-max-bulk-len), or a connection that Redis keeps closing
        during the request while it answers a PING on another, ``OUTCOME_WRITE_REFUSALS``
        times in a row, raises ``OutcomeWriteRefused``.
        """
        loop = self.outcome_writes
        refusals = 0
        execution = self.execution
        guard = (layout.results_key(job.id), execution.id) if job is not None and execution is not None else None

        def write() -> list:
            try:
                batch = AtomicBatch(self.connection)
                build(batch)
                results = batch.execute(unless_recorded=guard)
            except ResponseError as exc:
                if not str(exc).startswith("Protocol error"):
                    raise
                loop.succeeded()  # Redis answered
                raise OutcomeWriteRefused(f"Redis refused the request to {what}: {exc}") from exc
            if results is None:
                logger.info("Worker %s: did not %s again: it was recorded before a reply was lost", self.name, what)
                results = []
            return results

        def failed(exc: BaseException) -> None:
            nonlocal refusals
            refusals = refusals + 1 if self._refused_while_redis_answers(exc) else 0
            if refusals >= OUTCOME_WRITE_REFUSALS:
                loop.succeeded()  # Redis answers
                raise OutcomeWriteRefused(
                    f"Redis answers but closed the connection {refusals} times in a row when asked to {what} "
                    f"(last error: {type(exc).__name__}: {exc})"
                ) from exc
            if not loop.outage.active:
                logger.warning("Worker %s: will %s once Redis is back", self.name, what)

        return loop.call(write, on_error=failed)

    def _refused_while_redis_answers(self, exc: BaseException) -> bool:
        """True if Redis closed the connection during the request (``exc``) and answers a PING."""
        if not isinstance(exc, RedisConnectionError) or not any(text in str(exc) for text in _PEER_CLOSED):
            return False
        try:
            return bool(self.connection.ping())
        except Exception:
            return False

    @staticmethod
    def _working_time(job: "Job") -> float:
        return (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else 0.0

    def _write_worker_stats(self, pipe: Any, job: "Job", succeeded: bool) -> None:
        """Counters, state and heartbeat of this worker, in the outcome's transaction.

        The counters are written as values, not increments: this process records every
        outcome of its jobs, and a write repeated after an outage then counts nothing twice.
        """
        self.last_heartbeat = utcnow()
        pipe.hdel(self.key, "current_job")
        # No EXPIRE: the start gave the record at least 61 s more than the next idle heartbeat needs.
        pipe.hset(
            self.key,
            mapping={
                "state": "idle",
                "current_job_working_time": 0,
                "last_heartbeat": format_ts(self.last_heartbeat),
                "successful_job_count": self.successful_job_count + (1 if succeeded else 0),
                "failed_job_count": self.failed_job_count + (0 if succeeded else 1),
                "total_working_time": repr(self.total_working_time + self._working_time(job)),
            },
        )

    def _count_job(self, job: "Job", succeeded: bool) -> None:
        """Mirror the counters just written in this process's attributes."""
        if succeeded:
            self.successful_job_count += 1
        else:
            self.failed_job_count += 1
        self.total_working_time += self._working_time(job)
        self._current_job_id = None
        self._state = "idle"

    def handle_job_success(
        self,
        job: "Job",
        queue: "Queue",
        started_job_registry: Optional["StartedJobRegistry"] = None,
        execution: Optional[Execution] = None,
    ) -> None:
        """Record the result, move the job to finished, release dependents, schedule a repeat."""
        from ..retry import Retry

        if execution is not None:
            self.execution = execution
        if job._cached_return_value is None and job._result is not None:
            job._cached_return_value = job._result  # set by code written for upstream RQ's worker
        if isinstance(job._cached_return_value, Retry):
            self._handle_returned_retry(job, queue, job._cached_return_value)
            return
        repeat = bool(job.repeats_left and job.repeats_left > 0)
        status_write: list[Optional[int]] = [None]

        def build(pipe: Any) -> None:
            pipe.hget(job.key, "status")  # the status before this write: was the job canceled while it ran?
            self._write_worker_stats(pipe, job, succeeded=True)
            status_write[0] = write_success(
                job,
                queue,
                pipe,
                job._cached_return_value,
                worker_name=self.name,
                execution=self.execution,
                default_result_ttl=self.default_result_ttl,
            )
            if not self._results_in_streams(job):
                self._write_legacy_field(pipe, job, "result", job._cached_return_value)
            if repeat:
                from ..repeat import Repeat

                Repeat.schedule(job, queue, pipeline=pipe)
                pipe.exists(job.dependents_key)

        try:
            results = self.write_with_retry(build, f"record the result of job {job.id}", job)
        except (ResultTooLarge, OutcomeWriteRefused) as exc:
            logger.warning("Worker %s: job %s: %s; recording it as failed", self.name, job.id, exc)
            self.handle_job_failure(job, queue, exc_string=f"{type(exc).__name__}: {exc}")
            return
        if not repeat:
            restore_lost_hash(job, results, status_write[0], job.get_result_ttl(self.default_result_ttl))
        self._count_job(job, succeeded=True)
        self.execution = None
        self.emit("job_finished", job=job, queue=queue, duration=self._working_time(job))
        self._log_success(job, queue)
        if results and as_text(results[0]) == JobStatus.CANCELED.value:
            # As upstream RQ: the dependents of a job canceled while it ran are not enqueued.
            logger.info("Worker %s: job %s was canceled while it ran; its dependents stay deferred", self.name, job.id)
        else:
            self._release_dependents(job, queue, results)
        job.send_webhooks("finished")

    def _results_in_streams(self, job: "Job") -> bool:
        """False only where code written for RQ 1.x turned ``supports_redis_streams`` off (its tests do)."""
        return bool(getattr(self, "supports_redis_streams", True)) and bool(job.supports_redis_streams)

    @staticmethod
    def _write_legacy_field(pipe: Any, job: "Job", field: str, value: Any) -> None:
        """Also keep the outcome in the job hash, where RQ 1.x without result streams read it."""
        if field == "exc_info":
            pipe.hset(job.key, field, layout.encode_legacy_exc_info(value))
            return
        try:
            pipe.hset(job.key, field, job.serializer.dumps(value))
        except Exception:  # as upstream RQ: a value the serializer refuses must not stop the write
            pipe.hset(job.key, field, "Unserializable return value")

    def _release_dependents(self, job: "Job", queue: "Queue", results: list) -> None:
        """Enqueue the dependents whose dependencies are now met, if the outcome write saw any.

        A queue class that overrides ``enqueue_dependents`` has it called, as upstream RQ's
        worker calls it; the release that follows is safe to repeat and sets the TTL of what is left.
        """
        exist = _dependents_exist(results)
        if not exist:
            return
        if getattr(type(queue), "enqueue_dependents", None) is not _BASE_ENQUEUE_DEPENDENTS:
            self.outcome_writes.call(lambda: queue.enqueue_dependents(job))
        release_if_needed(job, exist, self.outcome_writes)

    def _handle_returned_retry(self, job: "Job", queue: "Queue", retry: Any) -> None:
        delay = plan_returned_retry(job, retry)

        def build(pipe: Any) -> None:
            self._write_worker_stats(pipe, job, succeeded=False)
            write_returned_retry(job, queue, pipe, retry, delay, worker_name=self.name, execution=self.execution)

        results = self.write_with_retry(build, f"record the retry of job {job.id}", job)
        self._count_job(job, succeeded=False)
        self.execution = None
        event = "job_retried" if delay is not None else "job_failed"
        self.emit(event, job=job, queue=queue, duration=self._working_time(job))
        if delay is not None:
            logger.info(
                "Worker %s: job %s asked to be retried (%d of %d)", self.name, job.id, job.number_of_retries, retry.max
            )
        else:
            logger.info("Worker %s: job %s exceeded its %d retries", self.name, job.id, retry.max)
            # A terminal failure: the failed webhooks fire (no exception, so no traceback), as upstream RQ's do.
            job.send_webhooks("failed", exc_string="")
            self._release_dependents(job, queue, results)

    def handle_job_failure(
        self,
        job: "Job",
        queue: "Queue",
        started_job_registry: Optional["StartedJobRegistry"] = None,
        exc_string: str = "",
        status: JobStatus = JobStatus.FAILED,
        execution: Optional[Execution] = None,
    ) -> None:
        """Retry the job if its policy allows, else record it failed (or stopped); release dependents."""
        if execution is not None:
            self.execution = execution
        retry = status == JobStatus.FAILED and job.should_retry
        job.ended_at = job.ended_at or utcnow()
        delay = plan_retry(job) if retry else 0

        def build(pipe: Any) -> None:
            self._write_worker_stats(pipe, job, succeeded=False)
            if retry:
                write_retry(job, queue, pipe, delay, exc_string, worker_name=self.name, execution=self.execution)
            elif self.disable_default_exception_handler and status == JobStatus.FAILED:
                end_execution(job, queue, self.execution, pipe)
                job.set_status(status, pipeline=pipe)
            else:
                write_failure(
                    job, queue, pipe, exc_string, worker_name=self.name, execution=self.execution, status=status
                )
                if not self._results_in_streams(job):
                    self._write_legacy_field(pipe, job, "exc_info", exc_string)

        results = self.write_with_retry(build, f"record the failure of job {job.id}", job)
        self._count_job(job, succeeded=False)
        self.execution = None
        event = "job_retried" if retry else ("job_stopped" if status == JobStatus.STOPPED else "job_failed")
        self.emit(event, job=job, queue=queue, duration=self._working_time(job))
        if retry:
            logger.info("Worker %s: job %s failed; retrying (%s retries left)", self.name, job.id, job.retries_left)
            return
        if not (self.disable_default_exception_handler and status == JobStatus.FAILED):
            self._release_dependents(job, queue, results)
        if status == JobStatus.FAILED:
            job.send_webhooks("failed", exc_string=exc_string)

    def handle_job_retry(
        self,
        job: "Job",
        queue: "Queue",
        retry: Any = None,
        started_job_registry: Optional["StartedJobRegistry"] = None,
        execution: Any = None,
    ) -> None:
        """Record a run that returned ``retry`` (upstream RQ's entry point): run it again, or fail it
        with a max-retries-exceeded result once ``retry.max`` is used up. Without ``retry``, as a failure."""
        if retry is None:
            self.handle_job_failure(job, queue, started_job_registry)
            return
        if execution is not None:
            self.execution = execution
        self._handle_returned_retry(job, queue, retry)

    def handle_stopped_job(self, job: "Job", queue: "Queue") -> None:
        """A job stopped by the stop-job command: status stopped, stopped callback, failed registry."""
        try:
            job.execute_stopped_callback(usable_death_penalty(self.death_penalty_class))
        except Exception:
            logger.exception("Worker %s: error in the stopped callback of job %s", self.name, job.id)
        self.handle_job_failure(job, queue, exc_string=STOPPED_BY_USER, status=JobStatus.STOPPED)
        logger.info("Worker %s: job %s stopped by user", self.name, job.id)
