"""Death penalties: enforce a job's time limit inside the process that runs it."""

from __future__ import annotations

import ctypes
import signal
import threading
from types import TracebackType
from typing import Any, Literal, Optional

__all__ = [
    "BaseDeathPenalty",
    "BaseTimeoutException",
    "HorseMonitorTimeoutException",
    "JobTimeoutException",
    "TimerDeathPenalty",
    "UnixSignalDeathPenalty",
    "get_default_death_penalty_class",
    "usable_death_penalty",
]


class BaseTimeoutException(Exception):
    """Base for the exceptions raised when a time limit expires."""


class JobTimeoutException(BaseTimeoutException):
    """The job ran longer than its ``job_timeout``."""


class HorseMonitorTimeoutException(BaseTimeoutException):
    """The parent's wait for its work horse reached the monitoring interval."""


class BaseDeathPenalty:
    """Context manager that raises ``exception`` in the guarded block after ``timeout`` seconds.

    A timeout of ``None``, ``0`` or a negative value (``-1``) means no limit.
    """

    def __init__(self, timeout: Optional[float], exception: type[BaseException] = BaseTimeoutException, **kwargs: Any):
        self._timeout = timeout
        self._exception = exception
        self.job_id = kwargs.get("job_id")

    @property
    def active(self) -> bool:
        return self._timeout is not None and self._timeout > 0

    def __enter__(self) -> "BaseDeathPenalty":
        self.setup_death_penalty()
        return self

    def __exit__(
        self, exc_type: Optional[type], exc_value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> Literal[False]:
        try:
            self.cancel_death_penalty()
        except BaseTimeoutException:
            # The alarm fired between the end of the block and its cancellation: the job finished.
            pass
        return False

    def message(self) -> str:
        return f"Task exceeded maximum timeout value ({self._timeout} seconds)"

    def setup_death_penalty(self) -> None:
        raise NotImplementedError

    def cancel_death_penalty(self) -> None:
        raise NotImplementedError


class UnixSignalDeathPenalty(BaseDeathPenalty):
    """SIGALRM-based penalty; works in the main thread of a Unix process."""

    def handle_death_penalty(self, signum: int, frame: Any) -> None:
        raise self._exception(self.message())

    def setup_death_penalty(self) -> None:
        if not self.active:
            return
        signal.signal(signal.SIGALRM, self.handle_death_penalty)
        signal.alarm(int(self._timeout))  # type: ignore[arg-type]

    def cancel_death_penalty(self) -> None:
        if not self.active:
            return
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


class TimerDeathPenalty(BaseDeathPenalty):
    """Thread-timer penalty for places where signals cannot be used (threads, Windows).

    The exception is injected asynchronously into the guarded thread; code blocked in C
    is interrupted only when it returns to Python.
    """

    def __init__(self, timeout: Optional[float], exception: type[BaseException] = JobTimeoutException, **kwargs: Any):
        super().__init__(timeout, exception, **kwargs)
        self._target_thread_id = threading.current_thread().ident
        self._timer: Optional[threading.Timer] = None

    def _inject(self) -> None:
        exception = type(self._exception.__name__, (self._exception,), {"__init__": _timeout_init(self.message())})
        thread_id = self._target_thread_id
        assert thread_id is not None  # the ident of a running thread (the one that set the penalty up)
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception))

    def setup_death_penalty(self) -> None:
        if not self.active:
            return
        self._target_thread_id = threading.current_thread().ident
        self._timer = threading.Timer(float(self._timeout), self._inject)  # type: ignore[arg-type]
        self._timer.daemon = True
        self._timer.start()

    def cancel_death_penalty(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _timeout_init(message: str) -> Any:
    def __init__(self: BaseException, *args: Any) -> None:
        BaseException.__init__(self, message)

    return __init__


def usable_death_penalty(death_penalty_class: type) -> type:
    """The penalty to use in the current thread: signals only work in the main thread.

    A worker (or a registry cleanup) run in another thread, e.g. by a web application or a
    test, falls back to ``TimerDeathPenalty``.
    """
    if (
        issubclass(death_penalty_class, UnixSignalDeathPenalty)
        and threading.current_thread() is not threading.main_thread()
    ):
        return TimerDeathPenalty
    return death_penalty_class


def get_default_death_penalty_class() -> type[BaseDeathPenalty]:
    return UnixSignalDeathPenalty if hasattr(signal, "SIGALRM") else TimerDeathPenalty
