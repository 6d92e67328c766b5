"""``rq.types``: the type aliases upstream RQ exports, usable in annotations and at runtime."""

from __future__ import annotations

import typing
from types import TracebackType
from typing import Any, Optional, Type

from rq import types
from rq.dependency import Dependency
from rq.job import Job


def test_the_names_exist() -> None:
    assert set(types.__all__) == {
        "FailureCallbackType",
        "FunctionReferenceType",
        "JobDependencyType",
        "SuccessCallbackType",
    }


def test_function_reference_is_a_callable_or_a_dotted_path() -> None:
    assert isinstance(types.FunctionReferenceType, typing.TypeVar)
    assert set(types.FunctionReferenceType.__constraints__) == {str, typing.Callable[..., Any]}


def test_aliases_resolve_to_rq_classes() -> None:
    namespace = {"Job": Job, "Dependency": Dependency, "Redis": object}

    def annotated(depends_on: types.JobDependencyType, on_failure: types.FailureCallbackType) -> None: ...

    hints = typing.get_type_hints(annotated, localns={**vars(types), **namespace})
    assert set(typing.get_args(hints["depends_on"])) >= {Dependency, Job, str}
    failure_args = typing.get_args(hints["on_failure"])[0]
    assert failure_args[0] is Job
    assert failure_args[2:] == [Optional[Type[BaseException]], Optional[BaseException], Optional[TracebackType]]
    success_args, success_return = typing.get_args(types.SuccessCallbackType)
    assert len(success_args) == 3 and success_return is Any
