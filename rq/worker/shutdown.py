"""Signals and shutdown of a worker: warm stop on the first signal, cold stop on the second.

A mixin of ``BaseWorker``; the names (``request_stop``, ``request_force_stop``,
``handle_warm_shutdown_request``, ``_shutdown_requested_date``) are upstream RQ's.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Optional

from .. import layout
from ..layout import utcnow
from ..resilience import REDIS_ERRORS
from ..settings import settings

if TYPE_CHECKING:
    from redis import Redis

    from ..executions import Execution
    from ..job import Job
    from ..queue import Queue
    from ..registry import StartedJobRegistry
    from ..status import JobStatus

__all__ = ["ShutdownMixin"]

logger = logging.getLogger("rq.worker")

# A second shutdown signal within this many seconds of the first is ignored (a key bounce).
COLD_SHUTDOWN_MIN_DELAY = settings.cold_shutdown_min_delay


def _since(moment: datetime) -> timedelta:
    """Time elapsed since ``moment``, which may be naive (RQ 1.x's utcnow()) or aware."""
    current = utcnow()
    if moment.tzinfo is None:
        current = current.replace(tzinfo=None)
    return current - moment


class ShutdownMixin:
    """Signal handlers and the warm/cold shutdown steps of a worker."""

    if TYPE_CHECKING:
        name: str
        connection: Redis
        _state: str
        _stop_requested: bool
        _handles_signals: bool
        _stop_event: threading.Event
        _cold_stop_event: threading.Event
        _shutdown_requested_date: Optional[datetime]

        @property
        def key(self) -> str: ...

        def handle_job_failure(
            self,
            job: Job,
            queue: Queue,
            started_job_registry: Optional[StartedJobRegistry] = None,
            exc_string: str = "",
            status: JobStatus = JobStatus.FAILED,
            execution: Optional[Execution] = None,
        ) -> None: ...

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
        self._shutdown_requested_date = utcnow()
        if self._handles_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.request_force_stop)
            signal.signal(signal.SIGTERM, self.request_force_stop)
        self.handle_warm_shutdown_request()

    def handle_warm_shutdown_request(self) -> None:
        """Record the request on the worker's hash when a job is running (it finishes first)."""
        if self._state == "busy":
            try:
                self.connection.hset(self.key, "shutdown_requested_date", layout.format_ts(utcnow()))
            except REDIS_ERRORS:
                pass
            logger.info(
                "Worker %s: stopping after the current job is done (press Ctrl+C again for a cold shutdown)", self.name
            )

    def request_force_stop(self, signum: Any = None, frame: Any = None) -> None:
        """Second signal: cold shutdown (kill the running job, record it failed, exit).

        A signal within ``COLD_SHUTDOWN_MIN_DELAY`` of the first is ignored, as upstream RQ
        does: a worker pool and the terminal may both deliver the same Ctrl+C.
        """
        requested = self._shutdown_requested_date
        if requested is not None and _since(requested) < timedelta(seconds=COLD_SHUTDOWN_MIN_DELAY):
            logger.debug("Worker %s: ignoring a second signal so soon after the first", self.name)
            return
        logger.warning("Worker %s: cold shut down", self.name)
        self._cold_stop_event.set()  # outcome writes make one attempt, without waiting for Redis
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
