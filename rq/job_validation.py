"""What a job may be made of: ids, callables a worker can import, and time limits.

Everything here runs before anything is written to Redis, so bad input fails at enqueue.
"""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any, Optional, Union, overload

from .layout import as_text
from .utils import parse_timeout, stacklevel_outside_rq

__all__ = [
    "MAX_TTL",
    "UnimportableFunctionWarning",
    "check_dotted_path",
    "check_ttl",
    "describe_callable",
    "importable_function_path",
    "parse_job_id",
    "validate_job_id",
]

# Longest timeout or TTL, in seconds (about 68 years): the most signal.alarm() takes, and
# well within what Redis EXPIRE accepts. Job hashes holding more are unreadable (rq.job_hash).
MAX_TTL = 2**31 - 1


class UnimportableFunctionWarning(UserWarning):
    """A job or callback function that a worker in another process will not be able to import."""


_JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_DOTTED_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def validate_job_id(job_id: Any) -> None:
    """Job ids are text of letters, digits, ``_`` and ``-`` (they become part of Redis keys)."""
    if not isinstance(job_id, str):
        raise TypeError(f"Job id must be a string, not {type(job_id).__name__}")
    if not _JOB_ID_RE.fullmatch(job_id):
        raise ValueError(f"Invalid job id {job_id!r}: use only letters, digits, '_' and '-'")


def parse_job_id(job_or_execution_id: Union[str, bytes]) -> str:
    """The job id of ``<job id>`` or ``<job id>:<execution id>``."""
    return (as_text(job_or_execution_id) or "").split(":", 1)[0]


@overload
def check_ttl(name: str, value: None, allow_forever: bool) -> None: ...


@overload
def check_ttl(name: str, value: Union[int, float, str, bytes], allow_forever: bool) -> int: ...


def check_ttl(name: str, value: Any, allow_forever: bool) -> Optional[int]:
    """Seconds of the timeout or TTL option ``name``; ValueError (or TimeoutFormatError) if out of range."""
    parsed = parse_timeout(value)
    if parsed is None:
        return None
    if parsed == -1 and allow_forever:
        return parsed
    if parsed <= 0 if name in ("ttl", "job_timeout") else parsed < 0:
        forever = " (use -1 for no limit)" if allow_forever else ""
        raise ValueError(f"{name}={value!r} is not valid: expected a positive number of seconds{forever}")
    if parsed > MAX_TTL:
        forever = "; use -1 for no limit" if allow_forever else ""
        raise ValueError(f"{name}={parsed} is too large: at most {MAX_TTL} seconds (MAX_TTL){forever}")
    return parsed


def check_dotted_path(path: str, what: str = "function") -> str:
    """``path`` if it has the syntax of ``module.attribute`` (it is not imported here)."""
    if not _DOTTED_PATH_RE.fullmatch(path):
        raise ValueError(f"{path!r} is not a valid {what} path: expected 'module.{what}'")
    return path


def describe_callable(func: Any) -> tuple[str, Any]:
    """(func_name, instance) for what users may enqueue; warns about what a worker could not import."""
    if isinstance(func, str):
        return check_dotted_path(func), None
    if inspect.ismethod(func):
        return func.__name__, func.__self__
    if inspect.isfunction(func) or inspect.isbuiltin(func):
        return importable_function_path(func, "Enqueueing"), None
    if callable(func):
        return "__call__", func
    raise TypeError(f"Expected a function, a method, a callable object or a dotted path, got {func!r}")


def importable_function_path(func: Any, verb: str) -> str:
    """The path a worker imports ``func`` by (``module.qualname``, as upstream RQ stores it).

    Lambdas, nested functions and functions of ``__main__`` are accepted, as upstream does
    (a job that runs in place, ``is_async=False``, never imports them), with an
    ``UnimportableFunctionWarning``: a worker in another process could not import them.
    ``verb`` completes the message: "<verb> <function>: ...".
    """
    module = func.__module__
    qualname = func.__qualname__
    if "<lambda>" in qualname or "<locals>" in qualname:
        warnings.warn(
            f"{verb} {qualname}: lambdas and nested functions cannot be imported by a worker in another "
            "process; define the function at module level",
            UnimportableFunctionWarning,
            stacklevel=stacklevel_outside_rq(),
        )
    elif module == "__main__":
        warnings.warn(
            f"{verb} {qualname} from the __main__ module: a worker in another process cannot import it; "
            "move it to an importable module",
            UnimportableFunctionWarning,
            stacklevel=stacklevel_outside_rq(),
        )
    if module is None or module == "builtins":
        return qualname
    return f"{module}.{qualname}"
