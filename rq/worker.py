"""Workers: take jobs from queues and run them, riding through Redis outages.

``Worker`` forks a work horse per job; the other variants (``SimpleWorker``,
``SpawnWorker``, ...) are in ``rq.worker_classes`` and exported here. A worker's record in
Redis lives in ``rq.worker_record``, dequeueing in ``rq.dequeue``, running a job in
``rq.job_runner``, the fork model in ``rq.work_horse``, and the command listener's fault
policy in ``rq.command_channel``. This module holds the main loop, signals and the
command channel wiring.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from redis import Redis

from . import layout
from .command import InvalidCommand, command_name, parse_payload
from .command_channel import (
    LISTENER_SLEEP_TIME,
    CommandChannel,
    CommandChannelHandler,
    CommandPubSub,
    stop_listener,
)
from .connections import resolve_connection
from .defaults import (
    DEFAULT_JOB_MONITORING_INTERVAL,
    DEFAULT_LOGGING_DATE_FORMAT,
    DEFAULT_LOGGING_FORMAT,
    DEFAULT_MAINTENANCE_TASK_INTERVAL,
    DEFAULT_RESULT_TTL,
    DEFAULT_WORKER_TTL,
)
from .dequeue import Dequeuer, DequeueStrategy
from .exceptions import StopRequested
from .job import Job
from .job_runner import JobRunner
from .job_validation import check_ttl
from .layout import utcnow
from .logutils import setup_loghandlers
from .maintenance import return_to_queue, run_maintenance
from .queue import Queue
from .resilience import REDIS_ERRORS, Backoff, Outage
from .serializers import resolve_serializer
from .timeouts import get_default_death_penalty_class
from .utils import backend_class, get_version, import_attribute
from .work_horse import SHUTDOWN_SIGNAL, WorkHorse, signal_name
from .worker_record import WorkerRecord

if TYPE_CHECKING:
    from redis.client import PubSub, PubSubWorkerThread

    from .executions import Execution

try:
    from setproctitle import setproctitle as _setproctitle  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - optional
    _setproctitle = None

__all__ = [
    "BaseWorker",
    "DEFAULT_RESULT_TTL",
    "DequeueStrategy",
    "HerokuWorker",
    "RandomWorker",
    "RoundRobinWorker",
    "SHUTDOWN_SIGNAL",
    "SimpleWorker",
    "SpawnWorker",
    "Worker",
    "WorkerStatus",
    "logger",
    "signal_name",
]

logger = logging.getLogger("rq.worker")
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)

# Socket timeout given to a worker connection that has none, so no call hangs forever.
DEFAULT_SOCKET_TIMEOUT = 30.0
# Seconds between suspension polls.
SUSPENSION_POLL_INTERVAL = 1.0
# A second shutdown signal within this many seconds of the first is ignored (key bounce).
COLD_SHUTDOWN_MIN_DELAY = 1.0


class WorkerStatus(str, Enum):
    STARTED = "started"
    SUSPENDED = "suspended"
    BUSY = "busy"
    IDLE = "idle"


def _ts(unix_time: Optional[float]) -> str:
    return layout.format_ts(datetime.fromtimestamp(unix_time, tz=timezone.utc)) if unix_time else ""


def _as_queues(
    queues: Any,
    connection: Optional[Redis],
    queue_class: type[Queue],
    job_class: Any,
    serializer: Any,
    death_penalty_class: Any,
) -> list[Queue]:
    items = [queues] if isinstance(queues, (str, Queue)) else list(queues or [])
    result = []
    for item in items:
        if isinstance(item, Queue):
            result.append(item)
        elif isinstance(item, str):
            result.append(
                queue_class(
                    item,
                    connection=connection,
                    job_class=job_class,
                    serializer=serializer,
                    death_penalty_class=death_penalty_class,
                )
            )
        else:
            raise TypeError(f"{item!r} is not a queue name or Queue")
    return result


class BaseWorker(WorkerRecord, JobRunner, Dequeuer):
    """What every worker does: register, listen for commands, dequeue, run jobs, maintain."""

    death_penalty_class = get_default_death_penalty_class()
    queue_class: type[Queue] = Queue
    job_class: type[Job] = Job
    log_result_lifespan = True
    log_job_description = True
    exponential_backoff_factor = 2.0
    max_connection_wait_time = 60.0
    # Seconds between two passes of the scheduler run by work(with_scheduler=True).
    scheduler_interval: float = 1

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
        self.serializer = resolve_serializer(serializer)
        queue_items = [queues] if isinstance(queues, (str, Queue)) else list(queues or [])
        if connection is None:
            connection = next((q.connection for q in queue_items if isinstance(q, Queue)), None)
        self.connection: Redis = resolve_connection(connection, "Worker")
        self.queues = _as_queues(
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
        self.undelivered: Optional[tuple[Job, Optional[Execution]]] = None
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
        self._shutdown_requested_at: Optional[float] = None
        self._last_maintenance: Optional[float] = None
        self._last_heartbeat_at = 0.0
        self._dequeue_strategy = DequeueStrategy.DEFAULT
        self._supports_blmove: Optional[bool] = None
        self.connection_outage = Outage(logger, f"Worker {self.name}", "Redis connection")
        self._backoff = Backoff()
        self.command_channel = CommandChannel(self, handler=self.command_channel_handler)
        if prepare_for_work:
            timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout")
            if timeout is None:
                self.connection.connection_pool.connection_kwargs["socket_timeout"] = DEFAULT_SOCKET_TIMEOUT
        else:
            self.hostname = self.pid = None  # filled in from Redis by refresh()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, queues={self.queue_names()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseWorker) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

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
        return (
            self._last_maintenance is None or (time.monotonic() - self._last_maintenance) >= self.maintenance_interval
        )

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
        self._dequeue_strategy = DequeueStrategy(dequeue_strategy)
        try:
            self.bootstrap(logging_level, date_format, log_format)
        except StopRequested:
            self.teardown()
            return False
        if with_scheduler:
            self._start_scheduler(burst)
        completed = 0
        backoff = self._backoff
        try:
            while not self._stop_requested:
                try:
                    if self.should_run_maintenance_tasks:
                        self.run_maintenance_tasks()
                    found = self.dequeue_job_and_maintain_ttl(None if burst else self.dequeue_timeout, max_idle_time)
                    if found is None:
                        if burst:
                            logger.info("Worker %s: done, quitting", self.name)
                        elif max_idle_time is not None:
                            logger.info("Worker %s: idle for %d seconds, quitting", self.name, max_idle_time)
                        break
                    job, queue = found
                    self.execute_job(job, queue)
                    completed += 1
                    if max_jobs is not None and completed >= max_jobs:
                        logger.info("Worker %s: finished executing %d jobs, quitting", self.name, completed)
                        break
                except StopRequested:
                    break
                except REDIS_ERRORS as exc:
                    self.connection_outage.failed(exc)
                    backoff.sleep(self._stop_event)
                except SystemExit:
                    raise
                except Exception as exc:
                    logger.error("Worker %s: found an unhandled exception, quitting...", self.name, exc_info=True)
                    self.fatal_error = exc
                    break
        finally:
            self.teardown()
        return bool(completed)

    def _redis_ok(self) -> None:
        """After a successful round trip: end an outage, and re-register if Redis lost us."""
        self._backoff.reset()
        if self.connection_outage.recovered() is not None:
            self.heartbeat()  # rewrites the record in full if it is missing
            self.command_channel.wake()
        if self._pending_start is not None:
            self.recover_pending_start()
        if self.undelivered is not None:
            job, execution = self.undelivered
            self.undelivered = None
            queue = next((q for q in self.queues if q.name == job.origin), None)
            if queue is not None and return_to_queue(queue, job.id, execution.id if execution else ""):
                logger.info(
                    "Worker %s: put job %s back on %s (it could not start during the outage)",
                    self.name,
                    job.id,
                    queue.name,
                )

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
            from .health import serve_endpoints

            self._http_endpoints = serve_endpoints(
                self, health_port, health_host, metrics_port=metrics_port, metrics_host=metrics_host
            )
        logger.info("Worker %s: started with PID %d, version %s", self.name, os.getpid(), self.version)
        backoff = Backoff()
        while True:
            try:
                self.register_birth()
                break
            except REDIS_ERRORS as exc:
                self.connection_outage.failed(exc)
                if self._stop_requested:
                    raise StopRequested() from exc
                self.last_loop_at = time.monotonic()  # alive, waiting for Redis
                backoff.sleep(self._stop_event)
        self.connection_outage.recovered()
        self._last_heartbeat_at = time.monotonic()
        try:
            self.subscribe()
        except REDIS_ERRORS as exc:
            logger.warning("Worker %s: could not subscribe to commands yet (%s); will retry", self.name, exc)
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
        except REDIS_ERRORS as exc:
            logger.warning("Worker %s: could not register death (%s); the record will expire", self.name, exc)
        while self._http_endpoints:
            self._http_endpoints.pop().close()

    @property
    def is_horse(self) -> bool:
        return False

    def check_for_suspension(self, burst: bool) -> bool:
        """Wait while workers are suspended; True means a burst worker should stop."""
        from .suspension import is_suspended

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
        """Clean registries, prune dead workers and rescue stuck ids, on the queues this worker serves."""
        self._last_maintenance = time.monotonic()
        self.clean_registries()
        if self.scheduler is not None:
            self.scheduler.maintain()

    def clean_registries(self) -> None:
        maintained = run_maintenance(self.queues, exception_handlers=self._exc_handlers)
        if maintained:
            logger.debug("Worker %s: maintained %s", self.name, ", ".join(maintained))

    def _heartbeat_if_due(self) -> None:
        if time.monotonic() - self._last_heartbeat_at >= min(self.dequeue_timeout, 60):
            self.heartbeat()
            self._last_heartbeat_at = time.monotonic()

    # ---- signals and shutdown ---------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread (e.g. a worker run in a thread)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self._handles_signals = True

    def request_stop(self, signum: Any = None, frame: Any = None) -> None:
        """First SIGINT/SIGTERM: warm shutdown (finish the current job, then stop)."""
        logger.info("Worker %s: warm shut down requested", self.name)
        self._stop_requested = True
        self._stop_event.set()
        self._shutdown_requested_at = time.monotonic()
        if self._handles_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.request_force_stop)
            signal.signal(signal.SIGTERM, self.request_force_stop)
        self.handle_warm_shutdown_request()

    def handle_warm_shutdown_request(self) -> None:
        if self._state == WorkerStatus.BUSY:
            try:
                self.connection.hset(self.key, "shutdown_requested_date", layout.format_ts(utcnow()))
            except REDIS_ERRORS:
                pass
            logger.info(
                "Worker %s: stopping after the current job is done (press Ctrl+C again for a cold shutdown)", self.name
            )

    def request_force_stop(self, signum: Any = None, frame: Any = None) -> None:
        """Second signal: cold shutdown (kill the running job, record it failed, exit)."""
        if self._shutdown_requested_at and time.monotonic() - self._shutdown_requested_at < COLD_SHUTDOWN_MIN_DELAY:
            logger.debug("Worker %s: ignoring a second signal so soon after the first", self.name)
            return
        logger.warning("Worker %s: cold shut down", self.name)
        self.handle_cold_shutdown()
        raise SystemExit()

    def handle_cold_shutdown(self) -> None:
        """Hook for the cold shutdown; subclasses stop their running job here."""

    def _record_cold_shutdown(self, job: Optional[Job], queue: Optional[Queue]) -> None:
        if job is None or queue is None:
            return
        try:
            self.handle_job_failure(
                job, queue, exc_string="Worker was shut down (cold shutdown) while the job was running"
            )
        except Exception:
            logger.exception("Worker %s: could not record job %s as failed", self.name, job.id)

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
        else:
            logger.warning("Worker %s: unknown command %r ignored", self.name, payload.get("command"))

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
        from .scheduler import start_worker_scheduler

        self.scheduler = start_worker_scheduler(self, burst=burst)

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None


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


# The variants live in their own module (upstream 2.x's rq/worker/worker_classes.py); they
# subclass the classes above, hence the import at the end.
from .worker_classes import HerokuWorker, RandomWorker, RoundRobinWorker, SimpleWorker, SpawnWorker  # noqa: E402

# Upstream 2.x's package layout: ``from rq.worker.base import ...`` and
# ``from rq.worker.worker_classes import ...`` keep working.
sys.modules.setdefault(f"{__name__}.base", sys.modules[__name__])
sys.modules.setdefault(f"{__name__}.worker_classes", sys.modules[f"{__package__}.worker_classes"])

if sys.platform == "win32":  # pragma: no cover - the fork model needs POSIX
    Worker = SimpleWorker  # type: ignore[misc, assignment]
