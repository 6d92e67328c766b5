"""Job callbacks (``on_success``, ``on_failure``, ``on_stopped``) and how they are run."""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from .defaults import CALLBACK_TIMEOUT
from .job_validation import MAX_TTL, check_dotted_path, importable_function_path
from .timeouts import BaseDeathPenalty, JobTimeoutException
from .utils import import_attribute, parse_timeout

if TYPE_CHECKING:
    from .job import Job

logger = logging.getLogger("rq.job")

__all__ = ["Callback", "JobCallbacks", "as_callback", "execute_callback"]


class Callback:
    """A callback function (or its dotted path) and the time it may take (default 60 s).

    The function must be importable by a worker, as a job function must: lambdas, nested
    functions, functions of ``__main__`` and malformed paths raise ValueError here.
    """

    def __init__(self, func: Union[str, Callable[..., Any]], timeout: Any = None) -> None:
        if isinstance(func, str):
            check_dotted_path(func)
        elif inspect.isfunction(func) or inspect.isbuiltin(func):
            importable_function_path(func, "use as a callback")
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


class JobCallbacks:
    """The callback fields and runners of ``Job`` (mixed into it: ``self`` is a ``Job``)."""

    id: str
    _success_callback_name: Optional[str]
    _success_callback_timeout: Optional[int]
    _failure_callback_name: Optional[str]
    _failure_callback_timeout: Optional[int]
    _stopped_callback_name: Optional[str]
    _stopped_callback_timeout: Optional[int]

    def _callback(self, kind: str) -> Optional[Callable[..., Any]]:
        name = getattr(self, f"_{kind}_callback_name")
        return import_attribute(name) if name else None

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
    def success_callback_timeout(self) -> Optional[int]:
        return self._success_callback_timeout

    @property
    def failure_callback_timeout(self) -> Optional[int]:
        return self._failure_callback_timeout

    @property
    def stopped_callback_timeout(self) -> Optional[int]:
        return self._stopped_callback_timeout

    def execute_success_callback(self, death_penalty_class: type[BaseDeathPenalty], result: Any) -> None:
        """Run ``on_success``; an error or timeout in it is logged and the job stays successful.

        A returned ``Retry`` is not a success: the callback waits for a run that really succeeds.
        """
        from .retry import Retry

        if not self._success_callback_name or isinstance(result, Retry):
            return
        logger.debug("Running success callback for %s", self.id)
        job = cast("Job", self)
        try:
            execute_callback(
                job, self._success_callback_name, self._success_callback_timeout, death_penalty_class, result
            )
        except Exception:
            logger.exception(
                "Job %s: success callback %s failed; the job's own result is kept", self.id, self._success_callback_name
            )

    def execute_failure_callback(self, death_penalty_class: type[BaseDeathPenalty], *exc_info: Any) -> None:
        """Run ``on_failure``; errors propagate (see ``rq.job_lifecycle.run_failure_callback``)."""
        if self._failure_callback_name:
            logger.debug("Running failure callback for %s", self.id)
            job = cast("Job", self)
            execute_callback(
                job, self._failure_callback_name, self._failure_callback_timeout, death_penalty_class, *exc_info
            )

    def execute_stopped_callback(self, death_penalty_class: type[BaseDeathPenalty]) -> None:
        """Run ``on_stopped``; errors propagate to the worker, which logs them."""
        if self._stopped_callback_name:
            logger.debug("Running stopped callback for %s", self.id)
            job = cast("Job", self)
            execute_callback(job, self._stopped_callback_name, self._stopped_callback_timeout, death_penalty_class)
