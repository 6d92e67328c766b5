"""The worker's main loop, signals and wiring: ``BaseWorker`` and ``Worker`` (upstream's ``rq.worker.base``).

``Worker`` forks a work horse per job; the other variants are in
``rq.worker.worker_classes``. The parts the worker is made of are the sibling modules
(``dequeuer``, ``job_runner``, ``horse``, ``registration``, ``command_channel``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
import warnings
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from redis import Redis

from .. import layout
from ..command import InvalidCommand, command_name, parse_payload
from ..connections import resolve_connection
from ..defaults import (
    DEFAULT_JOB_MONITORING_INTERVAL,
    DEFAULT_LOGGING_DATE_FORMAT,
    DEFAULT_LOGGING_FORMAT,
    DEFAULT_MAINTENANCE_TASK_INTERVAL,
    DEFAULT_RESULT_TTL,
    DEFAULT_WORKER_TTL,
)
from ..exceptions import StopRequested
from ..job import Job
from ..job_validation import check_ttl
from ..layout import utcnow
from ..logutils import setup_loghandlers
from ..maintenance import run_maintenance
from ..queue import Queue
from ..resilience import (
    OUTCOME_WRITES,
    WORKER_MAIN_LOOP,
    WORKER_REGISTRATION,
    Outage,
    RetryLoop,
    RetryPolicy,
    is_outage,
)
from ..serializers import resolve_serializer
from ..settings import settings
from ..timeouts import get_default_death_penalty_class
from ..utils import backend_class, get_version, import_attribute
from .command_channel import (
    LISTENER_SLEEP_TIME,
    CommandChannel,
    CommandChannelHandler,
    CommandPubSub,
    stop_listener,
)
from .compat import CompatMixin, as_queues, identify_client, serializer_arg
from .dequeuer import DEQUEUE_POLL_INITIAL, DEQUEUE_POLL_MAX, Dequeuer, DequeueStrategy, Taken
from .horse import WorkHorse
from .job_runner import JobRunner
from .shutdown import ShutdownMixin

if TYPE_CHECKING:
    from redis.client import PubSub, PubSubWorkerThread


try:
    from setproctitle import setproctitle as _setproctitle  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - optional
    _setproctitle = None

__all__ = ["BaseWorker", "Worker", "WorkerStatus", "logger"]

logger = logging.getLogger("rq.worker")
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)

# Timings of the worker (see rq.settings for their meaning).
DEFAULT_SOCKET_TIMEOUT = settings.socket_timeout
SUSPENSION_POLL_INTERVAL = settings.suspension_poll_interval


class WorkerStatus(str, Enum):
    STARTED = "started"
    SUSPENDED = "suspended"
    BUSY = "busy"
    IDLE = "idle"


def _ts(unix_time: Optional[float]) -> str:
    return layout.format_ts(datetime.fromtimestamp(unix_time, tz=timezone.utc)) if unix_time else ""


class BaseWorker(ShutdownMixin, CompatMixin, JobRunner):
    """What every worker does: register, listen for commands, dequeue, run jobs, maintain."""

    death_penalty_class = get_default_death_penalty_class()
    queue_class: type[Queue] = Queue
    job_class: type[Job] = Job
    log_result_lifespan = True
    log_job_description = True
    # The main loop's backoff while Redis is away (upstream's attributes): each wait is this
    # factor times the last one, up to max_connection_wait_time seconds.
    exponential_backoff_factor: float = settings.backoff_factor
    max_connection_wait_time: float = settings.backoff_max
    # Seconds between two passes of the scheduler run by work(with_scheduler=True).
    scheduler_interval: float = settings.scheduler_interval

    if TYPE_CHECKING:  # each worker class defines how it runs a job (rq.work_horse, rq.worker_classes)

        def execute_job(self, job: Job, queue: Queue) -> None: ...

    def __init__(
        self,
        queues: Any,
        name: Optional[str] = None,
        default_result_ttl: int = DEFAULT_RESULT_TTL,
        connection: Optional[Redis] = None,
        exception_handlers: Any = None,
        maintenance_interval: int = DEFAULT_MAINTENANCE_TASK_INTERVAL,
        default_worker_ttl: Optional[int] = None,
        worker_ttl: Optional[int] = None,
        job_class: Any = None,
        queue_class: Any = None,
        log_job_description: bool = True,
        job_monitoring_interval: int = DEFAULT_JOB_MONITORING_INTERVAL,
        disable_default_exception_handler: bool = False,
        prepare_for_work: bool = True,
        serializer: Any = None,
        work_horse_killed_handler: Optional[Callable[..., Any]] = None,
        command_channel_handler: Union[CommandChannelHandler, str, None] = None,
        redeliver_abandoned: Optional[int] = None,
        health_port: Optional[int] = None,
        health_host: str = "127.0.0.1",
        metrics_port: Optional[int] = None,
        metrics_host: str = "127.0.0.1",
        **kwargs: Any,
    ) -> None:
        if "exc_handler" in kwargs:
            warnings.warn("exc_handler is ignored, use exception_handlers", DeprecationWarning, stacklevel=2)
            kwargs.pop("exc_handler")
        if kwargs:
            raise TypeError(f"Worker() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        if default_worker_ttl is not None:
            warnings.warn("default_worker_ttl is deprecated, use worker_ttl", DeprecationWarning, stacklevel=2)
        self.job_class = backend_class(self, "job_class", override=job_class)
        self.queue_class = backend_class(self, "queue_class", override=queue_class)
        self._serializer_arg = serializer_arg(serializer)
        self.serializer = resolve_serializer(serializer)
        queue_items = [queues] if isinstance(queues, (str, Queue)) else list(queues or [])
        if connection is None:
            connection = next((q.connection for q in queue_items if isinstance(q, Queue)), None)
        self.connection: Redis = resolve_connection(connection, "Worker")
        self.queues = as_queues(
            queue_items, self.connection, self.queue_class, self.job_class, self.serializer, self.death_penalty_class
        )
        self.name: str = name or uuid.uuid4().hex
        self.version_info = None
        self.default_result_ttl = check_ttl("default_result_ttl", default_result_ttl, allow_forever=True)
        self.worker_ttl = worker_ttl or default_worker_ttl or DEFAULT_WORKER_TTL
        self.job_monitoring_interval = job_monitoring_interval
        self.maintenance_interval = maintenance_interval
        self.log_job_description = log_job_description
        self.disable_default_exception_handler = disable_default_exception_handler
        self.work_horse_killed_handler = work_horse_killed_handler
        if isinstance(command_channel_handler, str):
            command_channel_handler = cast(CommandChannelHandler, import_attribute(command_channel_handler))
        self.command_channel_handler = command_channel_handler
        # Jobs this worker starts without a redelivery budget of their own get this one.
        self.redeliver_abandoned = redeliver_abandoned
        self._exc_handlers: list[Callable[..., Any]] = []
        for handler in [exception_handlers] if callable(exception_handlers) else list(exception_handlers or []):
            self.push_exc_handler(handler)
        self._init_record()
        self.execution = None
        # The error that ended work() (logged, not raised, as upstream does); the CLI exits 1 on it.
        self.fatal_error: Optional[Exception] = None
        self.scheduler: Any = None
        self.pubsub: Optional["PubSub"] = None
        self.pubsub_thread: Optional["PubSubWorkerThread"] = None
        self._listener_stop: Optional[threading.Event] = None
        self._subscribe_lock = threading.Lock()
        self._listeners: list[Callable[..., Any]] = []
        # Health checks (/livez, /readyz) and Prometheus metrics served while work() runs.
        self._http_options = (health_port, health_host, metrics_port, metrics_host)
        self._http_endpoints: list[Any] = []
        # Monotonic time of the last sign of life of the main loop (for liveness checks).
        self.last_loop_at = time.monotonic()
        self._stop_requested = False
        self._handles_signals = False
        self._stop_event = threading.Event()
        # Set by a cold shutdown: outcome writes stop waiting for Redis (warm stops let them finish).
        self._cold_stop_event = threading.Event()
        # When this worker last cleaned its queues' registries (None: not yet), as upstream RQ records it.
        self.last_cleaned_at: Optional[datetime] = None
        self._last_heartbeat_at = 0.0
        # The dequeuer part; it owns the one record of a job taken but not started (``taken``).
        self.dequeuer = Dequeuer(self)
        self.taken = self.dequeuer.taken
        # One Outage for the worker's connection, shared by every retry loop that uses it.
        self.connection_outage = Outage(logger, f"Worker {self.name}", "Redis connection", connection=self.connection)
        self.redis_loop = RetryLoop(
            self.main_loop_policy(), self.connection_outage, stop=self._stop_event, on_recover=self._redis_back
        )
        self.outcome_writes = RetryLoop(OUTCOME_WRITES, self.connection_outage, stop=self._cold_stop_event)
        self.command_channel = CommandChannel(self, handler=self.command_channel_handler)
        if prepare_for_work:
            timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout")
            if timeout is None:
                self.connection.connection_pool.connection_kwargs["socket_timeout"] = DEFAULT_SOCKET_TIMEOUT
            self.ip_address = identify_client(self.connection, self.name)
        else:
            self.hostname = self.pid = None  # filled in from Redis by refresh()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, queues={self.queue_names()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseWorker) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def main_loop_policy(self) -> RetryPolicy:
        """The main loop's retry policy, paced by ``exponential_backoff_factor`` and ``max_connection_wait_time``."""
        return WORKER_MAIN_LOOP._replace(
            factor=float(self.exponential_backoff_factor), maximum=float(self.max_connection_wait_time)
        )

    # ---- properties --------------------------------------------------------------------------

    @property
    def pubsub_channel_name(self) -> str:
        return layout.pubsub_channel(self.name)

    @property
    def dequeue_timeout(self) -> int:
        return max(1, self.worker_ttl - 15)

    @property
    def connection_timeout(self) -> int:
        return self.dequeue_timeout + 10

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """True at the first pass, then once ``maintenance_interval`` seconds passed since the last cleaning."""
        cleaned = self.last_cleaned_at
        if cleaned is None:
            return True
        current = utcnow() if cleaned.tzinfo is not None else utcnow().replace(tzinfo=None)
        return (current - cleaned).total_seconds() > self.maintenance_interval

    def validate_queues(self) -> None:
        for queue in self.queues:
            if not isinstance(queue, Queue):
                raise TypeError(f"{queue!r} is not a Queue")

    def get_redis_server_version(self) -> tuple:
        return get_version(self.connection)

    def telemetry_fields(self) -> dict[str, str]:
        fields = self.command_channel.fields() if hasattr(self, "command_channel") else {}
        return {**fields, **self.connection_fields()}

    def connection_fields(self) -> dict[str, str]:
        """How this worker's Redis connection and command channel fare (this fork's extra fields).

        ``connection_state`` is ``ok``, ``reconnecting since <ts>`` or ``command channel
        reconnecting since <ts>``; ``outage_count``, ``last_error`` and ``last_recovery``
        (a text timestamp) describe past outages of the main connection.
        """
        outage = getattr(self, "connection_outage", None)
        if outage is None:
            return {}
        channel = self.command_channel.outage
        if outage.active:
            state = f"reconnecting since {_ts(outage.since)}"
        elif channel.active:
            state = f"command channel reconnecting since {_ts(channel.since)}"
        else:
            state = "ok"
        return {
            "connection_state": state,
            "outage_count": str(outage.count),
            "last_error": outage.last_error or "",
            "last_recovery": _ts(outage.last_recovery),
        }

    def add_listener(self, listener: Callable[..., Any]) -> None:
        """Call ``listener(event, worker, **details)`` on job events, in this (the worker's) process.

        Events: ``job_started`` (job), ``job_finished``, ``job_failed``, ``job_retried`` and
        ``job_stopped`` (job, queue, duration in seconds). Used by the metrics; errors in a
        listener are logged and ignored.
        """
        self._listeners.append(listener)

    def emit(self, event: str, **details: Any) -> None:
        for listener in self._listeners:
            try:
                listener(event, self, **details)
            except Exception:
                logger.warning("Worker %s: a listener failed on %s", self.name, event, exc_info=True)

    def procline(self, message: str) -> None:
        if _setproctitle is not None:
            _setproctitle(f"rq:worker:{self.name}: {message}")

    # ---- the main loop ---------------------------------------------------------------------------

    def work(
        self,
        burst: bool = False,
        logging_level: Optional[str] = None,
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
        max_jobs: Optional[int] = None,
        max_idle_time: Optional[int] = None,
        with_scheduler: bool = False,
        dequeue_strategy: Union[DequeueStrategy, str] = DequeueStrategy.DEFAULT,
    ) -> bool:
        """Take and run jobs until stopped (or, in burst mode, until the queues are empty).

        Returns whether any job was run. Redis errors never end the loop: it logs them once
        per outage, waits with backoff and goes on when Redis is back.
        """
        self.dequeuer.strategy = DequeueStrategy(dequeue_strategy)
        try:
            self.bootstrap(logging_level, date_format, log_format)
        except StopRequested:
            self.teardown()
            return False
        if with_scheduler:
            try:
                self._start_scheduler(burst)
            except BaseException:
                self.teardown()
                raise
        completed = 0

        def one_job() -> bool:
            nonlocal completed
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            found = self.dequeue_job_and_maintain_ttl(None if burst else self.dequeue_timeout, max_idle_time)
            if found is None:
                if burst:
                    logger.info("Worker %s: done, quitting", self.name)
                elif max_idle_time is not None:
                    logger.info("Worker %s: idle for %d seconds, quitting", self.name, max_idle_time)
                return False
            job, queue = found
            self.execute_job(job, queue)
            completed += 1
            if max_jobs is not None and completed >= max_jobs:
                logger.info("Worker %s: finished executing %d jobs, quitting", self.name, completed)
                return False
            return True

        self.redis_loop.policy = self.main_loop_policy()  # the backoff attributes may have changed since __init__
        self.redis_loop.backoff = self.redis_loop.policy.backoff()
        try:
            self.redis_loop.run(one_job)
        except StopRequested:
            pass
        except SystemExit:
            raise
        except Exception as exc:
            logger.error("Worker %s: found an unhandled exception, quitting...", self.name, exc_info=True)
            self.fatal_error = exc
        finally:
            self.teardown()
        return bool(completed)

    def _redis_back(self) -> None:
        """The main loop's on-recover hook: re-register if Redis lost us, and check the command channel."""
        self.heartbeat()  # rewrites the record in full if it is missing
        self.command_channel.wake()

    def _redis_ok(self) -> None:
        """After a successful round trip: end an outage, and put back a job taken but not started."""
        self.redis_loop.succeeded()
        if self.taken.unsettled:
            self.dequeuer.recover_taken()

    def _redis_ok_keeping(self, found: object) -> None:
        """``_redis_ok`` right after a take: if it fails, the job just taken is recorded for recovery.

        Its start is in Redis but no runner has it yet; without the record a Redis error in the
        recovery hook would leave it started for good.
        """
        try:
            self._redis_ok()
        except BaseException:
            if isinstance(found, Taken) and found.execution is not None:
                self.taken.start_failed(found.queue, found.job.id, found.execution.id)
            raise

    def bootstrap(
        self,
        logging_level: Optional[str] = None,
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """Set up logging and signals, register in Redis (waiting for it if needed), subscribe."""
        setup_loghandlers(logging_level, date_format, log_format, name="rq.worker")
        setup_loghandlers(logging_level, date_format, log_format, name="rq.job")
        self._install_signal_handlers()
        self.validate_queues()
        health_port, health_host, metrics_port, metrics_host = self._http_options
        if health_port is not None or metrics_port is not None:
            from ..health import serve_endpoints

            self._http_endpoints = serve_endpoints(
                self, health_port, health_host, metrics_port=metrics_port, metrics_host=metrics_host
            )
        logger.info("Worker %s: started with PID %d, version %s", self.name, os.getpid(), self.version)

        def alive_waiting(exc: BaseException) -> None:
            self.last_loop_at = time.monotonic()  # alive, waiting for Redis

        def listen_then_register() -> None:
            # Subscribed first: a worker seen in rq:workers always hears its command channel.
            if self.pubsub_thread is None:
                self.subscribe()
            try:
                self.command_channel.ensure_subscribed()
                self.register_birth()
            except BaseException as exc:
                if not is_outage(exc):
                    self.unsubscribe()  # e.g. the name is taken: nobody listens for a worker that is not there
                raise

        registration = RetryLoop(WORKER_REGISTRATION, self.connection_outage, stop=self._stop_event)
        registration.call(listen_then_register, on_error=alive_waiting)
        self._last_heartbeat_at = time.monotonic()
        self.command_channel.start_watchdog()
        logger.info("*** Listening on %s...", ", ".join(self.queue_names()))

    def teardown(self) -> None:
        if self.is_horse:
            return
        self.stop_scheduler()
        self.command_channel.stop_watchdog()
        self.unsubscribe()
        try:
            self.register_death()
        except Exception as exc:
            if not is_outage(exc):
                raise
            logger.warning("Worker %s: could not register death (%s); the record will expire", self.name, exc)
        while self._http_endpoints:
            self._http_endpoints.pop().close()

    @property
    def is_horse(self) -> bool:
        return False

    def check_for_suspension(self, burst: bool) -> bool:
        """Wait while workers are suspended; True means a burst worker should stop."""
        from ..suspension import is_suspended

        if not is_suspended(self.connection):
            return False
        if burst:
            logger.info("Worker %s: suspended in burst mode, exiting", self.name)
            return True
        logger.warning("Worker %s: suspended, run `rq resume` to resume", self.name)
        self.set_state(WorkerStatus.SUSPENDED)
        while not self._stop_requested and is_suspended(self.connection):
            self.last_loop_at = time.monotonic()
            self._heartbeat_if_due()
            self._stop_event.wait(SUSPENSION_POLL_INTERVAL)
        if not self._stop_requested:
            logger.info("Worker %s: resuming", self.name)
            self.set_state(WorkerStatus.IDLE)
        return False

    def run_maintenance_tasks(self) -> None:
        """Clean registries, prune dead workers and rescue stuck ids, on the queues this worker serves.

        From the second pass on, also restart the scheduler if its process died (the first
        pass follows ``work()``, which has just started it).
        """
        first_pass = self.last_cleaned_at is None
        if not first_pass and self.scheduler is not None:
            self.scheduler.maintain()
        self.clean_registries()

    def clean_registries(self) -> None:
        """Run the maintenance of every queue's registries, and note when (``last_cleaned_at``)."""
        maintained = run_maintenance(self.queues, exception_handlers=self._exc_handlers)
        self.last_cleaned_at = utcnow()
        if maintained:
            logger.debug("Worker %s: maintained %s", self.name, ", ".join(maintained))

    def _heartbeat_if_due(self) -> None:
        if time.monotonic() - self._last_heartbeat_at >= min(self.dequeue_timeout, 60):
            self.heartbeat()
            self._last_heartbeat_at = time.monotonic()

    # ---- dequeueing (the loop around the dequeuer part) ----------------------------------------

    def reorder_queues(self, reference_queue: Queue) -> None:
        """Apply the dequeue strategy after a job was taken from ``reference_queue``."""
        self.queues = self.dequeuer.reorder(self.queues, reference_queue)

    def _took(self, taken: Taken) -> tuple[Job, Queue]:
        if taken.execution is not None:
            self.execution = taken.execution
            self._state, self._current_job_id = "busy", taken.job.id
        if self.log_job_description:
            logger.info("Worker %s: %s: %s (%s)", self.name, taken.queue.name, taken.job.description, taken.job.id)
        else:
            logger.info("Worker %s: %s: %s", self.name, taken.queue.name, taken.job.id)
        return taken.job, taken.queue

    def dequeue_job_and_maintain_ttl(
        self, timeout: Optional[int], max_idle_time: Optional[int] = None
    ) -> Optional[tuple[Job, Queue]]:
        """The next job, heartbeating while idle; None when ``timeout`` is None (burst) and queues are empty.

        Every dequeued id goes through the queue's intermediate list, so it is never only in
        this process's memory; maintenance returns ids that a lost worker left there.
        """
        if self._state not in ("idle", "suspended"):
            self.set_state("idle")
        self.procline(f"Listening on {','.join(self.queue_names())}")
        idle_since = time.monotonic()
        poll = DEQUEUE_POLL_INITIAL
        dequeuer = self.dequeuer
        while not self._stop_requested:
            self.last_loop_at = time.monotonic()
            self._heartbeat_if_due()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            found = dequeuer.pop_ready(self.queues)
            self._redis_ok_keeping(found)
            if found == "suspended":
                if timeout is None:
                    logger.info("Worker %s: suspended in burst mode, exiting", self.name)
                    return None
                self.check_for_suspension(burst=False)
                continue
            if found is not None:
                job, queue = self._took(found)
                self.reorder_queues(queue)
                return job, queue
            if timeout is None:
                return None
            idle = time.monotonic() - idle_since
            if max_idle_time is not None and idle >= max_idle_time:
                return None
            if dequeuer.can_block(self.queues):
                claimed = dequeuer.claim_blocking(self.queues[0], dequeuer.block_slice())
                if claimed is not None:
                    return self._took(claimed)
            else:
                self._stop_event.wait(poll)
                poll = min(poll * 2, DEQUEUE_POLL_MAX)
        raise StopRequested()

    # ---- the command channel ------------------------------------------------------------------------

    def subscribe(self) -> None:
        """Listen for commands on ``rq:pubsub:<name>`` in a thread that survives Redis faults."""
        channel = self.command_channel
        stop = threading.Event()

        def handle_redis_exception(exc: BaseException, pubsub: "PubSub", thread: "PubSubWorkerThread") -> None:
            channel.handle_exception(exc, pubsub, thread, stop)

        with self._subscribe_lock:
            logger.debug("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
            pubsub = CommandPubSub(self.connection.connection_pool, ignore_subscribe_messages=True, channel=channel)
            try:
                pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            except BaseException:
                pubsub.close()
                raise
            self.pubsub, self._listener_stop = pubsub, stop
            self.pubsub_thread = self.pubsub.run_in_thread(
                sleep_time=LISTENER_SLEEP_TIME, daemon=True, exception_handler=handle_redis_exception
            )
            self.pubsub_thread.name = f"rq-command-listener-{self.name}"

    def unsubscribe(self) -> None:
        """Stop listening; bounded even when the connection is dead."""
        with self._subscribe_lock:
            stop_listener(self.pubsub, self.pubsub_thread, self._listener_stop)
            self.pubsub = self.pubsub_thread = self._listener_stop = None

    def resubscribe(self) -> None:
        self.unsubscribe()
        self.subscribe()

    def handle_payload(self, message: dict) -> None:
        """Run a command received on the channel; malformed payloads are logged and ignored."""
        try:
            payload = parse_payload(message.get("data"))
        except InvalidCommand as exc:
            self.command_channel.bad_message(exc)
            return
        name = command_name(payload)
        logger.info("Worker %s: received command %s", self.name, payload.get("command"))
        if name == "shutdown":
            self.handle_shutdown_command()
        elif name == "kill-horse":
            self.handle_kill_horse_command()
        elif name == "stop-job":
            self.handle_stop_job_command(payload["job_id"])
        elif name == "stop-execution":
            self.handle_stop_execution_command(payload["job_id"], payload["execution_id"])
        else:
            logger.warning("Worker %s: unknown command %r ignored", self.name, payload.get("command"))

    def handle_stop_execution_command(self, job_id: str, execution_id: str) -> None:
        """Stop the job only if this worker runs that very execution of it (RQ 3.0's command)."""
        if self.execution is None or self.execution.id != execution_id:
            logger.info(
                "Worker %s: not running execution %s of job %s; ignoring stop-execution",
                self.name,
                execution_id,
                job_id,
            )
            return
        self.handle_stop_job_command(job_id)

    def handle_shutdown_command(self) -> None:
        """Warm shutdown, as if the worker received SIGINT."""
        if self._handles_signals:
            os.kill(os.getpid(), signal.SIGINT)  # the main thread's handler does the rest
        else:
            self.request_stop()

    def handle_kill_horse_command(self) -> None:
        logger.info("Worker %s: no work horse to kill", self.name)

    def handle_stop_job_command(self, job_id: str) -> None:
        logger.info("Worker %s: cannot stop job %s in this worker class", self.name, job_id)

    # ---- scheduler ---------------------------------------------------------------------------------

    def _start_scheduler(self, burst: bool) -> None:
        from ..scheduler import new_worker_scheduler, run_worker_scheduler

        self.scheduler = new_worker_scheduler(self)  # kept even if starting it fails, as upstream RQ keeps it
        run_worker_scheduler(self, self.scheduler, burst=burst)

    def stop_scheduler(self) -> None:
        """Stop the scheduler this worker runs; ``self.scheduler`` stays for inspection, as upstream RQ keeps it."""
        if self.scheduler is not None:
            self.scheduler.stop()


class Worker(WorkHorse, BaseWorker):
    """Runs each job in a forked work horse, so a crash or leak in a job cannot take the worker down."""

    def handle_kill_horse_command(self) -> None:
        self.kill_horse_by_command()

    def handle_stop_job_command(self, job_id: str) -> None:
        self.stop_job_by_command(job_id)

    def handle_cold_shutdown(self) -> None:
        if self.horse_pid:
            job = self.get_current_job()
            self.kill_horse()
            self.wait_for_horse()
            self._horse_pid = 0
            self._record_cold_shutdown(job, self._queue_of(job))

    def _queue_of(self, job: Optional[Job]) -> Optional[Queue]:
        return next((q for q in self.queues if job is not None and q.name == job.origin), None)
