"""Type aliases for annotating code that uses rq (the names upstream RQ 2.x exports here).

``FunctionReferenceType``
    What a job runs: a callable, or the dotted import path of one (``"app.tasks.send"``).
``JobDependencyType``
    What ``depends_on`` accepts: a ``Job``, a job id, a ``Dependency``, or a list of these.
``SuccessCallbackType``
    ``on_success`` callbacks: ``(job, connection, result)``.
``FailureCallbackType``
    ``on_failure`` callbacks: ``(job, connection, exc_type, exc_value, traceback)``.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Type, TypeVar, Union

if TYPE_CHECKING:
    from redis import Redis

    from .dependency import Dependency
    from .job import Job

__all__ = ["FailureCallbackType", "FunctionReferenceType", "JobDependencyType", "SuccessCallbackType"]

FunctionReferenceType = TypeVar("FunctionReferenceType", str, Callable[..., Any])

JobDependencyType = Union["Dependency", "Job", str, List[Union["Dependency", "Job", str]]]

SuccessCallbackType = Callable[["Job", "Redis", Any], Any]

FailureCallbackType = Callable[
    ["Job", "Redis", Optional[Type[BaseException]], Optional[BaseException], Optional[TracebackType]], Any
]
