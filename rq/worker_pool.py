"""``WorkerPool``: run several workers from one process and keep that many running.

Each worker is a forked child process with its own Redis connection, built from the
parent's connection settings. A child that dies is replaced within a second (except in
burst mode, where the pool ends once every worker has drained the queues and quit).
SIGINT or SIGTERM asks every child for a warm shutdown (finish the current job, then
stop); a second signal, or a shutdown that takes longer than ``SHUTDOWN_TIMEOUT``, asks
them again, which makes them stop at once and record their running jobs as failed.

No child outlives its pool. Each child watches the pool process through a pipe whose
write end only the pool holds (the "lifeline"), and through its parent pid. When the pool
process is gone (killed, even with SIGKILL) or exits without having stopped its workers,
an idle child stops at once; a busy one kills its running job and records it the way an
abandoned job is recorded (``AbandonedJobError``: failure callback, exception handlers,
then a retry or the failed registry), unregisters, and exits, all within a few seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util  # noqa: F401  (its exit handler must be registered before ours)
import os
import signal
import threading
import time
import uuid
from enum import Enum
from multiprocessing.process import BaseProcess
from typing import Any, Callable, NamedTuple, Optional, Union

from redis import Redis

from .defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from .job import Job
from .logutils import setup_loghandlers
from .queue import Queue
from .resilience import REDIS_ERRORS
from .serializers import DefaultSerializer, resolve_serializer
from .settings import settings
from .utils import backend_class, parse_names
from .worker import BaseWorker, Worker
from .worker.horse import signal_name
from .worker_pool_child import _connect as _connect  # noqa: F401  (importable from here, as before)
from .worker_pool_child import _connection_recipe, _Lifeline, _pool_child, recover_abandoned_job, run_worker

__all__ = ["WorkerData", "WorkerPool", "run_worker"]

logger = logging.getLogger("rq.worker_pool")

# Seconds between checks of the children; a dead child is replaced at the next check.
CHECK_INTERVAL = 1.0
# Seconds the pool waits for a warm shutdown before asking its workers again (cold shutdown).
SHUTDOWN_TIMEOUT = settings.pool_shutdown_timeout
# Seconds a cold shutdown may take before the remaining workers are killed with SIGKILL.
KILL_TIMEOUT = settings.pool_kill_timeout
# Polling interval while waiting for children to exit.
STOP_POLL_INTERVAL = 0.1

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class WorkerData(NamedTuple):
    """A running child of the pool."""

    name: str
    pid: int
    process: BaseProcess


# ---- the pool ----------------------------------------------------------------------------------


class WorkerPool:
    """Runs ``num_workers`` workers on ``queues`` as child processes and replaces any that die."""

    class Status(Enum):
        IDLE = 1
        STARTED = 2
        STOPPED = 3

    def __init__(
        self,
        queues: Any,
        connection: Redis,
        num_workers: int = 1,
        worker_class: Union[type[BaseWorker], str] = Worker,
        serializer: Any = DefaultSerializer,
        job_class: Union[type[Job], str] = Job,
        queue_class: Union[type[Queue], str] = Queue,
        exception_handlers: Optional[list[Callable[..., Any]]] = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Extra keyword arguments ``log_format`` and ``date_format`` set the children's log lines;
        any others are passed to the worker class (e.g. ``worker_ttl``).
        """
        if num_workers < 1:
            raise ValueError("A worker pool needs at least one worker")
        self.num_workers = num_workers
        self.connection = connection
        self.name: str = uuid.uuid4().hex
        self.status = self.Status.IDLE
        self.worker_dict: dict[str, WorkerData] = {}
        self._queue_names = parse_names([queues] if isinstance(queues, (str, Queue)) else queues)
        self.worker_class: type[BaseWorker] = backend_class(self, "_default_worker_class", override=worker_class)
        self.job_class: type[Job] = backend_class(self, "_default_job_class", override=job_class)
        self.queue_class: type[Queue] = backend_class(self, "_default_queue_class", override=queue_class)
        self.serializer = resolve_serializer(serializer)
        self.exception_handlers = exception_handlers
        self.log_format: str = kwargs.pop("log_format", DEFAULT_LOGGING_FORMAT)
        self.date_format: str = kwargs.pop("date_format", DEFAULT_LOGGING_DATE_FORMAT)
        self.worker_kwargs = kwargs
        self._recipe = _connection_recipe(connection)
        self._context = multiprocessing.get_context("fork")
        self._burst = False
        self._logging_level = "INFO"
        self._spawned = 0
        self._wake = threading.Event()
        self._stop_requested_at: Optional[float] = None
        self._cold_requested_at: Optional[float] = None
        self._lifeline: Optional[_Lifeline] = None

    _default_worker_class = Worker
    _default_job_class = Job
    _default_queue_class = Queue

    def __repr__(self) -> str:
        return f"WorkerPool({self.name!r}, queues={self._queue_names!r}, num_workers={self.num_workers})"

    @property
    def queues(self) -> list[Queue]:
        return [
            self.queue_class(name, connection=self.connection, job_class=self.job_class, serializer=self.serializer)
            for name in self._queue_names
        ]

    @property
    def number_of_active_workers(self) -> int:
        return len(self.worker_dict)

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        """Start the workers and supervise them until stopped (or, in burst mode, until all quit)."""
        self._burst = burst
        self._logging_level = logging_level
        setup_loghandlers(logging_level, self.date_format, self.log_format, name="rq.worker_pool")
        logger.info(
            "WorkerPool %s: starting %d workers on %s (pid %d)",
            self.name,
            self.num_workers,
            ", ".join(self._queue_names),
            os.getpid(),
        )
        self.status = self.Status.STARTED
        previous = self._install_signal_handlers()
        try:
            self.start_workers(burst=burst, logging_level=logging_level)
            self._supervise()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if not self.worker_dict:
                self._cut_lifeline()
        self.status = self.Status.STOPPED
        logger.info("WorkerPool %s: all workers stopped", self.name)

    def _supervise(self) -> None:
        while True:
            if self.status == self.Status.STOPPED:
                if self.all_workers_have_stopped():
                    return
                self._escalate_shutdown()
                time.sleep(STOP_POLL_INTERVAL)
                continue
            self.check_workers(respawn=not self._burst)
            if self._burst and not self.worker_dict:
                return
            self._wake.wait(CHECK_INTERVAL)
            self._wake.clear()

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self.request_stop)
        return previous

    def request_stop(self, signum: Optional[int] = None, frame: Any = None) -> None:
        """Warm shutdown of every worker; asked again, a cold shutdown."""
        if self.status == self.Status.STOPPED:
            logger.warning("WorkerPool %s: stop requested again, workers stop without finishing their jobs", self.name)
            self._cold_requested_at = time.monotonic()
        else:
            logger.info(
                "WorkerPool %s: %s received, stopping %d workers after their current jobs",
                self.name,
                signal_name(signum) if signum else "stop request",
                self.number_of_active_workers,
            )
            self.status = self.Status.STOPPED
            self._stop_requested_at = time.monotonic()
        self.stop_workers()
        self._wake.set()

    def _escalate_shutdown(self) -> None:
        """Bound the wait for workers: cold shutdown after SHUTDOWN_TIMEOUT, SIGKILL after KILL_TIMEOUT more."""
        now = time.monotonic()
        if self._cold_requested_at is None:
            if self._stop_requested_at is not None and now - self._stop_requested_at > SHUTDOWN_TIMEOUT:
                logger.warning(
                    "WorkerPool %s: workers still busy after %.0fs, asking them to stop now",
                    self.name,
                    SHUTDOWN_TIMEOUT,
                )
                self._cold_requested_at = now
                self.stop_workers()
        elif now - self._cold_requested_at > KILL_TIMEOUT:
            for data in list(self.worker_dict.values()):
                logger.warning("WorkerPool %s: killing worker %s (pid %d)", self.name, data.name, data.pid)
                self.stop_worker(data, sig=signal.SIGKILL)
            self._cold_requested_at = now

    def _next_worker_name(self, count: Optional[int] = None) -> str:
        self._spawned += 1
        name = f"{self.name}-worker.{count if count is not None else self._spawned}"
        if name in self.worker_dict:
            name = f"{self.name}-worker.{self._spawned}.{uuid.uuid4().hex[:6]}"
        return name

    def _cut_lifeline(self) -> None:
        if self._lifeline is not None:
            self._lifeline.cut()
            self._lifeline = None

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO") -> BaseProcess:
        """The (not yet started) child process that runs the worker called ``name``."""
        if self._lifeline is None or self._lifeline.owner != os.getpid():
            self._lifeline = _Lifeline()
        options = {
            "worker_class": self.worker_class,
            "serializer": self.serializer,
            "job_class": self.job_class,
            "queue_class": self.queue_class,
            "exception_handlers": self.exception_handlers,
            "worker_kwargs": self.worker_kwargs,
            "burst": burst,
            "logging_level": logging_level,
            "_sleep": _sleep,
            "log_format": self.log_format,
            "date_format": self.date_format,
        }
        return self._context.Process(
            target=_pool_child,
            args=(self._lifeline, os.getpid(), name, self._queue_names, self._recipe, options),
            name=f"Worker {name} (WorkerPool {self.name})",
        )

    def start_worker(
        self, count: Optional[int] = None, burst: bool = True, _sleep: float = 0, logging_level: str = "INFO"
    ) -> WorkerData:
        """Fork one worker process and record it in ``worker_dict``."""
        name = self._next_worker_name(count)
        process = self.get_worker_process(name, burst=burst, _sleep=_sleep, logging_level=logging_level)
        # Forked with the stop signals blocked: the child installs its own handlers first.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        data = WorkerData(name=name, pid=process.pid or 0, process=process)
        self.worker_dict[name] = data
        logger.debug("WorkerPool %s: started worker %s with pid %d", self.name, name, data.pid)
        return data

    def start_workers(self, burst: bool = True, _sleep: float = 0, logging_level: str = "INFO") -> None:
        for _ in range(self.num_workers):
            self.start_worker(burst=burst, _sleep=_sleep, logging_level=logging_level)

    def stop_worker(self, worker_data: WorkerData, sig: int = signal.SIGINT) -> None:
        try:
            os.kill(worker_data.pid, sig)
        except ProcessLookupError:
            pass

    def stop_workers(self) -> None:
        for data in list(self.worker_dict.values()):
            self.stop_worker(data)

    def reap_workers(self) -> list[WorkerData]:
        """Forget children that have exited (see ``handle_dead_worker``); returns them."""
        dead = []
        for data in list(self.worker_dict.values()):
            if not data.process.is_alive():
                self.handle_dead_worker(data)
                dead.append(data)
        return dead

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        """A child has exited: drop it from ``worker_dict``.

        A child that did not exit cleanly (killed, or crashed) could not clean up after
        itself: its worker is marked dead in Redis and the job it was running, if any, is
        recorded as abandoned at once.
        """
        self.worker_dict.pop(worker_data.name, None)
        code = worker_data.process.exitcode
        if code == 0:
            logger.info("WorkerPool %s: worker %s (pid %d) exited", self.name, worker_data.name, worker_data.pid)
            return
        how = f"was killed by {signal_name(-code)}" if code is not None and code < 0 else f"exited with {code}"
        logger.warning("WorkerPool %s: worker %s (pid %d) %s", self.name, worker_data.name, worker_data.pid, how)
        self._forget_worker(worker_data.name)

    def _forget_worker(self, name: str) -> None:
        """Mark a worker that died without cleaning up as dead in Redis and recover its job."""
        key = self.worker_class.redis_worker_namespace_prefix + name
        try:
            worker = self.worker_class.find_by_key(
                key,
                connection=self.connection,
                job_class=self.job_class,
                queue_class=self.queue_class,
                serializer=self.serializer,
            )
            if worker is None or worker.death_date is not None:
                return
            job_id = worker.get_current_job_id()
            if job_id:
                logger.warning("WorkerPool %s: job %s was abandoned by worker %s", self.name, job_id, name)
                recover_abandoned_job(
                    self.connection,
                    job_id,
                    job_class=self.job_class,
                    queue_class=self.queue_class,
                    serializer=self.serializer,
                    exception_handlers=self.exception_handlers,
                )
            worker.register_death()
        except REDIS_ERRORS as exc:
            logger.debug("WorkerPool %s: could not mark worker %s dead: %s", self.name, name, exc)

    def check_workers(self, respawn: bool = True) -> None:
        """Reap dead children and, if ``respawn``, start new ones to get back to ``num_workers``."""
        self.reap_workers()
        if not respawn or self.status == self.Status.STOPPED:
            return
        for _ in range(self.num_workers - len(self.worker_dict)):
            data = self.start_worker(burst=self._burst, logging_level=self._logging_level)
            logger.info(
                "WorkerPool %s: started worker %s (pid %d) to replace a stopped one", self.name, data.name, data.pid
            )

    def all_workers_have_stopped(self) -> bool:
        self.reap_workers()
        return not self.worker_dict
