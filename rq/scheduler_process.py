"""The scheduler's child process: ``ForkedProcess`` (the parent's handle) and ``run_forked`` (its body).

``RQScheduler.start()`` forks with ``os.fork`` rather than multiprocessing, so a scheduler
can be started from a daemonic process (a worker of a worker pool).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Optional

from redis import ConnectionPool, Redis

from .connections import parse_connection

if TYPE_CHECKING:
    from .scheduler import RQScheduler

try:
    from setproctitle import setproctitle as _setproctitle  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - optional
    _setproctitle = None

__all__ = ["ForkedProcess", "run_forked"]

logger = logging.getLogger("rq.scheduler")


class ForkedProcess:
    """A child made with ``os.fork`` (works inside daemonic pool processes, unlike multiprocessing)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: Optional[int] = None

    def is_alive(self) -> bool:
        if self.exitcode is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exitcode = -1
            return False
        if pid == 0:
            return True
        self.exitcode = os.waitstatus_to_exitcode(status)
        return False

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to exit; True if it did."""
        deadline = time.monotonic() + timeout
        while self.is_alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def send(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send(signal.SIGTERM)

    def kill(self) -> None:
        self.send(signal.SIGKILL)


def _connection_for_child(connection: Redis) -> Redis:
    """A client like ``connection`` with a pool of its own (so no socket is shared with the parent)."""
    client_class, connection_class, kwargs = parse_connection(connection)
    try:
        return client_class(connection_pool=ConnectionPool(connection_class=connection_class, **kwargs))
    except TypeError:
        # Pools that cannot be rebuilt from their kwargs (e.g. Sentinel): redis-py resets an
        # inherited pool in a forked child, so the parent's client is safe to keep.
        return connection


def run_forked(scheduler: RQScheduler, parent_pid: int) -> None:
    """Body of the scheduler child process; exits the process when the loop ends."""
    exit_code = 0
    try:
        scheduler._process = None
        scheduler._parent_pid = parent_pid
        scheduler._stop_requested = False
        scheduler._stop_event = threading.Event()
        scheduler._use_connection(_connection_for_child(scheduler.connection))
        if _setproctitle is not None:
            _setproctitle(f"rq:scheduler:{scheduler.name}")
        scheduler.work()
    except BaseException:
        logger.exception("Scheduler %s: process failed", scheduler.name)
        exit_code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
