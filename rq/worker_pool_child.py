"""The children of a ``WorkerPool``: how each rebuilds its connection, runs its worker, and
never outlives the pool.

Each child watches the pool process through a pipe whose write end only the pool holds
(the "lifeline"), and through its parent pid. When the pool is gone, an idle child stops
at once; a busy one kills its running job and records it as abandoned, then exits.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401  (its exit handler must be registered before ours)
import os
import select
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional

from redis import ConnectionPool, Redis
from redis.sentinel import SentinelConnectionPool

from .connections import REDIS_RUNTIME_CONNECTION_KWARGS, parse_connection
from .defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from .exceptions import NoSuchJobError, StopRequested
from .job import Job
from .layout import split_composite_member
from .queue import Queue
from .resilience import REDIS_ERRORS
from .serializers import DefaultSerializer
from .settings import settings
from .utils import as_text
from .worker import BaseWorker, Worker, WorkerStatus

logger = logging.getLogger("rq.worker_pool")

# How often a child checks that the pool process is still there (the lifeline wakes it sooner).
PARENT_CHECK_INTERVAL = settings.pool_parent_check_interval
# Seconds an orphaned child may take to stop by itself before it is made to exit.
ORPHAN_EXIT_TIMEOUT = settings.pool_orphan_exit_timeout
# Seconds between two nudges of an orphaned child's main thread.
ORPHAN_NUDGE_INTERVAL = 2.0
# Sent by a child's watcher thread to the child's own main thread (never to another process).
ORPHAN_SIGNAL = signal.SIGUSR2
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


# ---- rebuilding the connection in a child ---------------------------------------------------


def _portable_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pool kwargs (maybe from another process's ``parse_connection``) without runtime state or markers."""
    return {
        key: value
        for key, value in kwargs.items()
        if key not in REDIS_RUNTIME_CONNECTION_KWARGS and type(value) is not object
    }


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


def _connect(client_class: type[Redis], pool_class: type, pool_kwargs: dict[str, Any]) -> Redis:
    """A new client from a recipe.

    ``pool_class`` is a connection pool class (``_connection_recipe``) or, as in the tuple of
    ``rq.connections.parse_connection`` that upstream's ``run_worker`` takes, a connection class.
    """
    if isinstance(pool_class, type) and issubclass(pool_class, SentinelConnectionPool):
        manager = pool_kwargs["sentinel_manager"]
        return manager.master_for(
            pool_kwargs["service_name"], redis_class=client_class, connection_pool_class=pool_class
        )
    kwargs = _portable_kwargs(pool_kwargs)
    if isinstance(pool_class, type) and issubclass(pool_class, ConnectionPool):
        return client_class(connection_pool=pool_class(**kwargs))
    return client_class(connection_pool=ConnectionPool(connection_class=pool_class, **kwargs))


# ---- recording a job whose worker went away ------------------------------------------------


def recover_abandoned_job(
    connection: Redis,
    job_id: str,
    job_class: type[Job] = Job,
    queue_class: type[Queue] = Queue,
    serializer: Any = None,
    exception_handlers: Optional[list[Callable[..., Any]]] = None,
) -> None:
    """Record a started job whose worker is gone, now, as its registry's cleanup would later.

    The job's entries in its queue's started registry are made due, then the registry's
    ``cleanup`` handles them: failure callback and exception handlers with
    ``AbandonedJobError``, then a retry (if the job has retries left) or the failed registry.
    A job that already ended is left alone.
    """
    try:
        job = job_class.fetch(job_id, connection=connection, serializer=serializer)
    except NoSuchJobError:
        return
    queue = queue_class(job.origin, connection=connection, job_class=job_class, serializer=serializer)
    registry = queue.started_job_registry
    members = [
        as_text(member) or ""
        for member, _ in connection.zscan_iter(registry.key, match=f"{job_id}:*")
        if split_composite_member(as_text(member) or "")[0] == job_id
    ]
    if connection.zscore(registry.key, job_id) is not None:
        members.append(job_id)  # an entry without execution id (RQ 1.x)
    if not members:
        return
    due = int(time.time()) - 1
    connection.zadd(registry.key, dict.fromkeys(members, due), xx=True)
    registry.cleanup(exception_handlers=list(exception_handlers or []))


# ---- the lifeline ----------------------------------------------------------------------------


class _Lifeline:
    """A pipe whose write end only the pool process keeps open.

    A child waits on the read end: it becomes readable when the pool process dies (the
    kernel closes the write end) or when the pool writes to it as it exits.
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.owner = os.getpid()
        _lifelines.add(self)

    def cut(self) -> None:
        """In the pool process: tell every child that the pool is gone, and release the pipe."""
        _lifelines.discard(self)
        if os.getpid() != self.owner:
            return
        for fd in (self.write_fd, self.read_fd):
            try:
                if fd == self.write_fd:
                    os.write(fd, b"x")  # readable even where a stray copy of the write end lives on
                os.close(fd)
            except OSError:
                pass


_lifelines: set[_Lifeline] = set()


def _cut_lifelines() -> None:
    """At exit of the pool process: children of pools that were never stopped stop now.

    Registered after ``multiprocessing``'s own exit handler, so it runs first: that handler
    waits for every child to end.
    """
    for lifeline in list(_lifelines):
        lifeline.cut()


atexit.register(_cut_lifelines)


class _ParentWatch:
    """In a pool's child: notices that the pool process is gone and makes the worker stop.

    A thread waits on the lifeline (and checks the parent pid). When the pool is gone it
    nudges the main thread with ``ORPHAN_SIGNAL``: an idle worker gets a warm stop; a busy
    one (or one still there at the next nudge) has its job killed and recorded as abandoned,
    unregisters and exits. If the main thread never reacts, the thread does it itself.
    """

    def __init__(
        self,
        worker: BaseWorker,
        parent_pid: int,
        read_fd: Optional[int],
        exception_handlers: Optional[list[Callable[..., Any]]] = None,
    ) -> None:
        self.worker = worker
        self.parent_pid = parent_pid
        self.read_fd = read_fd
        self.exception_handlers = exception_handlers
        self.finished = False
        self._warm_stop_requested = False
        self._exiting = False

    def start(self) -> None:
        signal.signal(ORPHAN_SIGNAL, self._on_nudge)
        thread = threading.Thread(target=self._watch, name="rq-pool-parent-watch", daemon=True)
        thread.start()

    def pool_is_gone(self) -> Optional[str]:
        """Why the pool process is considered gone, or None while it is there."""
        if self.read_fd is not None:
            try:
                ready, _, _ = select.select([self.read_fd], [], [], PARENT_CHECK_INTERVAL)
            except (OSError, ValueError):
                ready, self.read_fd = [], None
            if ready:
                return "its lifeline was cut"
        else:
            time.sleep(PARENT_CHECK_INTERVAL)
        if os.getppid() != self.parent_pid:
            return f"its parent (PID {self.parent_pid}) is gone"
        return None

    def _watch(self) -> None:
        reason = None
        while reason is None:
            reason = self.pool_is_gone()
        if self.finished:
            return
        logger.warning(
            "Worker %s (PID %d): the worker pool process is gone (%s); stopping",
            self.worker.name,
            os.getpid(),
            reason,
        )
        deadline = time.monotonic() + ORPHAN_EXIT_TIMEOUT
        while time.monotonic() < deadline:
            if self.finished:
                return
            try:
                signal.pthread_kill(threading.main_thread().ident or 0, ORPHAN_SIGNAL)
            except (OSError, ValueError):
                break
            time.sleep(ORPHAN_NUDGE_INTERVAL)
        if self.finished:
            return
        if not self._exiting:
            logger.warning("Worker %s: did not stop by itself; exiting now", self.worker.name)
            self.abandon_and_exit()
        time.sleep(ORPHAN_EXIT_TIMEOUT)  # the main thread is recording the job: give it that long
        os._exit(1)

    def _busy(self) -> bool:
        worker = self.worker
        return bool(getattr(worker, "horse_pid", 0)) or worker.get_state() == WorkerStatus.BUSY.value

    def _on_nudge(self, signum: int, frame: Any) -> None:
        """The watcher found the pool gone (runs in the main thread, between two bytecodes)."""
        if self.finished or self._exiting:
            return
        if not self._warm_stop_requested and not self._busy():
            self._warm_stop_requested = True
            stopping = getattr(self.worker, "_stop_requested", False)
            self.worker.request_stop()
            if not stopping:
                # Idle: leave the loop now (as upstream's worker does on a stop signal when idle), not
                # after a job taken meanwhile; the loop's usual teardown follows. An id taken by a
                # blocking dequeue cut short stays in the queue's intermediate list for maintenance.
                raise StopRequested()
            return
        self.abandon_and_exit()

    def abandon_and_exit(self) -> None:
        """Kill the running job, record it as abandoned, unregister the worker, and exit."""
        self._exiting = True
        worker = self.worker
        job_id: Optional[str] = getattr(worker, "_current_job_id", None)
        try:
            job_id = worker.get_current_job_id() or job_id
        except REDIS_ERRORS:
            pass
        if getattr(worker, "horse_pid", 0):
            try:
                worker.kill_horse()  # type: ignore[attr-defined]
                worker.wait_for_horse()  # type: ignore[attr-defined]
            except Exception:
                logger.exception("Worker %s: could not stop its work horse", worker.name)
        if job_id:
            logger.warning("Worker %s: job %s was abandoned with the worker pool", worker.name, job_id)
            try:
                recover_abandoned_job(
                    worker.connection,
                    job_id,
                    job_class=worker.job_class,
                    queue_class=worker.queue_class,
                    serializer=worker.serializer,
                    exception_handlers=getattr(worker, "_exc_handlers", None) or self.exception_handlers,
                )
            except Exception:
                logger.exception("Worker %s: could not record job %s as abandoned", worker.name, job_id)
        try:
            worker.teardown()
        except Exception:
            logger.exception("Worker %s: teardown failed", worker.name)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(0)


# ---- the children ----------------------------------------------------------------------------


def _build_worker(
    worker_name: str,
    queue_names: list[str],
    connection: Redis,
    worker_class: type[BaseWorker],
    serializer: Any,
    job_class: type[Job],
    queue_class: type[Queue],
    exception_handlers: Optional[list[Callable[..., Any]]],
    worker_kwargs: Optional[dict[str, Any]],
) -> BaseWorker:
    queues = [
        queue_class(name, connection=connection, job_class=job_class, serializer=serializer) for name in queue_names
    ]
    return worker_class(
        queues,
        name=worker_name,
        connection=connection,
        serializer=serializer,
        job_class=job_class,
        queue_class=queue_class,
        exception_handlers=exception_handlers,
        **(worker_kwargs or {}),
    )


def run_worker(
    worker_name: str,
    queue_names: list[str],
    connection_class: type[Redis],
    connection_pool_class: type,
    connection_pool_kwargs: dict[str, Any],
    worker_class: type[BaseWorker] = Worker,
    serializer: Any = DefaultSerializer,
    job_class: type[Job] = Job,
    queue_class: type[Queue] = Queue,
    exception_handlers: Optional[list[Callable[..., Any]]] = None,
    burst: bool = True,
    logging_level: str = "INFO",
    _sleep: float = 0,
    *,
    log_format: str = DEFAULT_LOGGING_FORMAT,
    date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
    worker_kwargs: Optional[dict[str, Any]] = None,
) -> None:
    """Connect to Redis afresh, build the worker and run it (in the calling process).

    ``connection_pool_class`` may be a connection pool class or, as in the tuple of
    ``rq.connections.parse_connection``, a connection class.
    """
    connection = _connect(connection_class, connection_pool_class, connection_pool_kwargs)
    worker = _build_worker(
        worker_name,
        list(queue_names),
        connection,
        worker_class,
        serializer,
        job_class,
        queue_class,
        exception_handlers,
        worker_kwargs,
    )
    if _sleep:
        time.sleep(_sleep)
    worker.work(
        burst=burst, with_scheduler=True, logging_level=logging_level, log_format=log_format, date_format=date_format
    )


def _pool_child(
    lifeline: Optional[_Lifeline],
    parent_pid: int,
    worker_name: str,
    queue_names: list[str],
    recipe: tuple[type[Redis], type, dict[str, Any]],
    options: dict[str, Any],
) -> None:
    """Body of a pool's child process: ``run_worker`` plus watching the pool process."""
    # The pool forks with SIGINT/SIGTERM blocked, so none can reach the pool's own handlers
    # (inherited through fork) here. A stop asked before the worker exists is kept for it.
    early: dict[str, Any] = {"stop": False, "worker": None}

    def stop_before_start(signum: int, frame: Any) -> None:
        early["stop"] = True
        if early["worker"] is not None:
            early["worker"].request_stop()

    for signum in _STOP_SIGNALS:
        signal.signal(signum, stop_before_start)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    for other in list(_lifelines):  # write ends this child inherited: only the pool may hold them
        _lifelines.discard(other)
        try:
            os.close(other.write_fd)
        except OSError:
            pass
    connection = _connect(*recipe)
    exception_handlers = options["exception_handlers"]
    worker = _build_worker(
        worker_name,
        queue_names,
        connection,
        options["worker_class"],
        options["serializer"],
        options["job_class"],
        options["queue_class"],
        exception_handlers,
        options["worker_kwargs"],
    )
    watch = _ParentWatch(worker, parent_pid, lifeline.read_fd if lifeline else None, exception_handlers)
    watch.start()
    early["worker"] = worker
    if early["stop"]:
        worker.request_stop()
    try:
        if options["_sleep"]:
            time.sleep(options["_sleep"])
        worker.work(
            burst=options["burst"],
            with_scheduler=True,
            logging_level=options["logging_level"],
            log_format=options["log_format"],
            date_format=options["date_format"],
        )
    except StopRequested:  # the pool went away before the worker's loop could take the stop
        try:
            worker.teardown()
        except Exception:
            logger.exception("Worker %s: teardown failed", worker.name)
    finally:
        watch.finished = True
