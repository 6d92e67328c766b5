"""Job callbacks (``on_success``, ``on_failure``, ``on_stopped``) and how they are run."""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from .defaults import CALLBACK_TIMEOUT
from .job_call import UNEVALUATED
from .job_validation import MAX_TTL, check_dotted_path, importable_function_path
from .status import JobStatus
from .timeouts import BaseDeathPenalty, JobTimeoutException
from .utils import import_attribute, parse_timeout

if TYPE_CHECKING:
    from .job import Job

logger = logging.getLogger("rq.job")

__all__ = [
    "Callback",
    "JobCallbacks",
    "as_callback",
    "execute_callback",
    "execute_failure_callback",
    "execute_stopped_callback",
    "execute_success_callback",
]


class Callback:
    """A callback function (or its dotted path) and the time it may take (default 60 s).

    The function should be importable by a worker, as a job function should: lambdas, nested
    functions and functions of ``__main__`` get a warning (as upstream RQ, they are accepted);
    malformed paths raise ValueError.
    """

    def __init__(self, func: Union[str, Callable[..., Any]], timeout: Any = None) -> None:
        if isinstance(func, str):
            check_dotted_path(func)
        elif inspect.isfunction(func) or inspect.isbuiltin(func):
            importable_function_path(func, "Using as a callback")
        else:
            raise ValueError("Callback `func` must be a dotted path string or a plain function")
        self.func = func
        parsed = parse_timeout(timeout)
        if parsed is not None and parsed > MAX_TTL:
            raise ValueError(f"Callback timeout={parsed} is too large: at most {MAX_TTL} seconds (MAX_TTL)")
        self.timeout = parsed if parsed else CALLBACK_TIMEOUT

    @property
    def name(self) -> str:
        """Dotted path of the function, as stored in the job hash."""
        if isinstance(self.func, str):
            return self.func
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def __repr__(self) -> str:
        return f"Callback({self.name!r}, timeout={self.timeout})"


# Pickles name the class by upstream's path, so either implementation can load them.
Callback.__module__ = "rq.job"


def as_callback(value: Any, kind: str) -> Optional[Callback]:
    """Normalize what users pass as ``on_<kind>``: a Callback, or (deprecated) a function or path."""
    if value is None or isinstance(value, Callback):
        return value
    warnings.warn(
        f"Passing a bare function or path as on_{kind} is deprecated, use Callback(func)",
        DeprecationWarning,
        stacklevel=4,
    )
    return Callback(value)


def execute_callback(
    job: "Job", name: str, timeout: Optional[int], death_penalty_class: type[BaseDeathPenalty], *args: Any
) -> Any:
    """Run the callback ``name`` as ``f(job, connection, *args)`` under its own time limit."""
    func = import_attribute(name)
    with death_penalty_class(timeout or CALLBACK_TIMEOUT, JobTimeoutException, job_id=job.id):
        return func(job, job.connection, *args)


def _run_callback(job: "Job", kind: str, death_penalty_class: type[BaseDeathPenalty], *args: Any) -> None:
    """Run the job's ``on_<kind>`` callback as ``f(job, connection, *args)`` under its time limit."""
    callback = job._callback(kind)
    if callback is None:
        return
    if inspect.iscoroutinefunction(callback):
        raise TypeError(f"Coroutine {kind} callbacks are not supported: use a plain function")
    logger.debug("Running %s callback for %s", kind, job.id)
    timeout = getattr(job, f"_{kind}_callback_timeout") or CALLBACK_TIMEOUT
    with death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
        callback(job, job.connection, *args)


def execute_success_callback(job: "Job", death_penalty_class: type[BaseDeathPenalty], result: Any) -> None:
    """Run ``on_success`` with the job already marked finished; errors propagate.

    As upstream RQ, a success callback that raises (or times out) makes the job fail: the
    caller records that failure. A returned ``Retry`` is not a success: the callback waits
    for a run that really succeeds.
    """
    from .retry import Retry

    if not job._success_callback_name or isinstance(result, Retry):
        return
    job._status = JobStatus.FINISHED.value
    _run_callback(job, "success", death_penalty_class, result)


def execute_failure_callback(job: "Job", death_penalty_class: type[BaseDeathPenalty], *exc_info: Any) -> None:
    """Run ``on_failure`` with the job already marked failed; errors propagate (see ``run_failure_callback``)."""
    if job._failure_callback_name:
        job._status = JobStatus.FAILED.value
        _run_callback(job, "failure", death_penalty_class, *exc_info)


def execute_stopped_callback(job: "Job", death_penalty_class: type[BaseDeathPenalty]) -> None:
    """Run ``on_stopped``; errors propagate to the worker, which logs them."""
    _run_callback(job, "stopped", death_penalty_class)


class JobCallbacks:
    """The callback fields and runners of ``Job`` (mixed into it: ``self`` is a ``Job``)."""

    id: str
    _status: Optional[str]
    _success_callback: Any = UNEVALUATED
    _failure_callback: Any = UNEVALUATED
    _stopped_callback: Any = UNEVALUATED
    _success_callback_name: Optional[str]
    _success_callback_timeout: Optional[int]
    _failure_callback_name: Optional[str]
    _failure_callback_timeout: Optional[int]
    _stopped_callback_name: Optional[str]
    _stopped_callback_timeout: Optional[int]

    def _callback(self, kind: str) -> Optional[Callable[..., Any]]:
        """The ``on_<kind>`` function, imported once and kept in ``_<kind>_callback`` (as upstream RQ)."""
        cached = getattr(self, f"_{kind}_callback")
        if cached is UNEVALUATED:
            name = getattr(self, f"_{kind}_callback_name")
            cached = import_attribute(name) if name else None
            setattr(self, f"_{kind}_callback", cached)
        return cached

    def _forget_callbacks(self) -> None:
        """Drop the imported callbacks after their names changed (on create and on load)."""
        self._success_callback = self._failure_callback = self._stopped_callback = UNEVALUATED

    @property
    def success_callback(self) -> Optional[Callable[..., Any]]:
        return self._callback("success")

    @property
    def failure_callback(self) -> Optional[Callable[..., Any]]:
        return self._callback("failure")

    @property
    def stopped_callback(self) -> Optional[Callable[..., Any]]:
        return self._callback("stopped")

    @property
    def success_callback_timeout(self) -> int:
        return self._success_callback_timeout or CALLBACK_TIMEOUT

    @property
    def failure_callback_timeout(self) -> int:
        return self._failure_callback_timeout or CALLBACK_TIMEOUT

    @property
    def stopped_callback_timeout(self) -> int:
        return self._stopped_callback_timeout or CALLBACK_TIMEOUT

    def execute_success_callback(self, death_penalty_class: type[BaseDeathPenalty], result: Any) -> None:
        """``execute_success_callback`` for this job."""
        execute_success_callback(cast("Job", self), death_penalty_class, result)

    def execute_failure_callback(self, death_penalty_class: type[BaseDeathPenalty], *exc_info: Any) -> None:
        """``execute_failure_callback`` for this job."""
        execute_failure_callback(cast("Job", self), death_penalty_class, *exc_info)

    def execute_stopped_callback(self, death_penalty_class: type[BaseDeathPenalty]) -> None:
        """``execute_stopped_callback`` for this job."""
        execute_stopped_callback(cast("Job", self), death_penalty_class)
