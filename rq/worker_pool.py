"""``WorkerPool``: run several workers from one process and keep that many running.

Each worker is a forked child process with its own Redis connection, built from the
parent's connection settings. A child that dies is replaced within a second (except in
burst mode, where the pool ends once every worker has drained the queues and quit).
SIGINT or SIGTERM asks every child for a warm shutdown (finish the current job, then
stop); a second signal, or a shutdown that takes longer than ``SHUTDOWN_TIMEOUT``, asks
them again, which makes them stop at once and record their running jobs as failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from enum import Enum
from multiprocessing.process import BaseProcess
from typing import Any, Callable, NamedTuple, Optional, Union

from redis import ConnectionPool, Redis
from redis.sentinel import SentinelConnectionPool

from .connections import parse_connection
from .defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from .job import Job
from .logutils import setup_loghandlers
from .queue import Queue
from .resilience import REDIS_ERRORS, _env_float
from .serializers import DefaultSerializer, resolve_serializer
from .utils import backend_class, parse_names
from .work_horse import signal_name
from .worker import BaseWorker, Worker

__all__ = ["WorkerData", "WorkerPool", "run_worker"]

logger = logging.getLogger("rq.worker_pool")

# Seconds between checks of the children; a dead child is replaced at the next check.
CHECK_INTERVAL = 1.0
# Seconds the pool waits for a warm shutdown before asking its workers again (cold shutdown).
SHUTDOWN_TIMEOUT = _env_float("RQ_POOL_SHUTDOWN_TIMEOUT", 60.0)
# Seconds a cold shutdown may take before the remaining workers are killed with SIGKILL.
KILL_TIMEOUT = _env_float("RQ_POOL_KILL_TIMEOUT", 10.0)
# Polling interval while waiting for children to exit.
STOP_POLL_INTERVAL = 0.1


class WorkerData(NamedTuple):
    """A running child of the pool."""

    name: str
    pid: int
    process: BaseProcess


def _connection_recipe(connection: Redis) -> tuple[type[Redis], type[ConnectionPool], dict[str, Any]]:
    """(client class, pool class, pool kwargs) from which a child builds its own client."""
    pool = connection.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return (
            type(connection),
            type(pool),
            {"service_name": pool.service_name, "sentinel_manager": pool.sentinel_manager},
        )
    client_class, connection_class, kwargs = parse_connection(connection)
    return client_class, type(pool), dict(kwargs, connection_class=connection_class)


def _connect(client_class: type[Redis], pool_class: type[ConnectionPool], pool_kwargs: dict[str, Any]) -> Redis:
    if issubclass(pool_class, SentinelConnectionPool):
        manager = pool_kwargs["sentinel_manager"]
        return manager.master_for(
            pool_kwargs["service_name"], redis_class=client_class, connection_pool_class=pool_class
        )
    return client_class(connection_pool=pool_class(**pool_kwargs))


def run_worker(
    worker_name: str,
    queue_names: list[str],
    connection_class: type[Redis],
    connection_pool_class: type[ConnectionPool],
    connection_pool_kwargs: dict[str, Any],
    worker_class: type[BaseWorker] = Worker,
    serializer: Any = DefaultSerializer,
    job_class: type[Job] = Job,
    queue_class: type[Queue] = Queue,
    burst: bool = True,
    logging_level: str = "INFO",
    _sleep: float = 0,
    *,
    exception_handlers: Optional[list[Callable[..., Any]]] = None,
    log_format: str = DEFAULT_LOGGING_FORMAT,
    date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
    worker_kwargs: Optional[dict[str, Any]] = None,
) -> None:
    """Body of a pool's child process: connect to Redis afresh, build the worker, run it."""
    # The pool's own handlers were inherited through fork; the worker installs its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    connection = _connect(connection_class, connection_pool_class, connection_pool_kwargs)
    queues = [
        queue_class(name, connection=connection, job_class=job_class, serializer=serializer) for name in queue_names
    ]
    worker = worker_class(
        queues,
        name=worker_name,
        connection=connection,
        serializer=serializer,
        job_class=job_class,
        queue_class=queue_class,
        exception_handlers=exception_handlers,
        **(worker_kwargs or {}),
    )
    if _sleep:
        time.sleep(_sleep)
    worker.work(
        burst=burst, with_scheduler=True, logging_level=logging_level, log_format=log_format, date_format=date_format
    )


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
        self.exception_handlers = list(exception_handlers or [])
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

    def start_worker(
        self, count: Optional[int] = None, burst: bool = True, _sleep: float = 0, logging_level: str = "INFO"
    ) -> WorkerData:
        """Fork one worker process and record it in ``worker_dict``."""
        name = self._next_worker_name(count)
        client_class, pool_class, pool_kwargs = self._recipe
        process = self._context.Process(
            target=run_worker,
            args=(name, self._queue_names, client_class, pool_class, pool_kwargs),
            kwargs={
                "worker_class": self.worker_class,
                "serializer": self.serializer,
                "job_class": self.job_class,
                "queue_class": self.queue_class,
                "burst": burst,
                "logging_level": logging_level,
                "_sleep": _sleep,
                "exception_handlers": self.exception_handlers,
                "log_format": self.log_format,
                "date_format": self.date_format,
                "worker_kwargs": self.worker_kwargs,
            },
            name=f"rq-worker-pool-{name}",
        )
        process.start()
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
        """Forget children that have exited; returns them."""
        dead = []
        for name, data in list(self.worker_dict.items()):
            if data.process.is_alive():
                continue
            del self.worker_dict[name]
            dead.append(data)
            code = data.process.exitcode
            if code == 0:
                logger.info("WorkerPool %s: worker %s (pid %d) exited", self.name, name, data.pid)
            else:
                how = f"was killed by {signal_name(-code)}" if code is not None and code < 0 else f"exited with {code}"
                logger.warning("WorkerPool %s: worker %s (pid %d) %s", self.name, name, data.pid, how)
                self._forget_worker(name)
        return dead

    def _forget_worker(self, name: str) -> None:
        """Mark a worker that died without cleaning up as dead in Redis, so tools stop listing it."""
        key = self.worker_class.redis_worker_namespace_prefix + name
        try:
            worker = self.worker_class.find_by_key(
                key,
                connection=self.connection,
                job_class=self.job_class,
                queue_class=self.queue_class,
                serializer=self.serializer,
            )
            if worker is not None and worker.death_date is None:
                worker.register_death()
        except REDIS_ERRORS as exc:
            logger.debug("WorkerPool %s: could not mark worker %s dead: %s", self.name, name, exc)

    def check_workers(self, respawn: bool = True) -> None:
        """Reap dead children and, if ``respawn``, start new ones to get back to ``num_workers``."""
        self.reap_workers()
        if not respawn or self.status != self.Status.STARTED:
            return
        for _ in range(self.num_workers - len(self.worker_dict)):
            data = self.start_worker(burst=self._burst, logging_level=self._logging_level)
            logger.info(
                "WorkerPool %s: started worker %s (pid %d) to replace a stopped one", self.name, data.name, data.pid
            )

    def all_workers_have_stopped(self) -> bool:
        self.reap_workers()
        return not self.worker_dict
