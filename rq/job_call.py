"""The call a job makes: function name, instance, arguments, and their serialized form.

``JobCallData`` is mixed into ``rq.job.Job``. The four parts of the call and the serialized
``data`` are each decoded or encoded lazily from the other, as upstream RQ does: ``data`` is
the serializer's output, and the job hash stores it zlib-compressed.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .exceptions import DeserializationError, SerializationError
from .job_validation import describe_callable
from .layout import as_text
from .utils import get_call_string, import_attribute

__all__ = ["UNEVALUATED", "JobCallData"]

UNEVALUATED = object()
"""Marks a lazily decoded attribute that has not been computed yet."""


class JobCallData:
    """The call-data fields of ``Job`` (``self`` is a ``Job``)."""

    id: str
    serializer: Any
    _data: Any
    _func_name: Any
    _instance: Any
    _args: Any
    _kwargs: Any
    # The function object the job was created with, used by in-process runs (``is_async=False``)
    # so that functions no worker could import (nested ones, lambdas) still run there.
    _callable: Any = None

    def _set_callable(self, func: Any) -> None:
        self._func_name, self._instance = describe_callable(func)
        self._callable = func if callable(func) and self._instance is None else None

    def _serializer_name(self) -> str:
        return getattr(self.serializer, "__name__", type(self.serializer).__name__)

    def _serialize_data(self) -> bytes:
        if self._func_name is UNEVALUATED:
            raise ValueError(f"Cannot build the data of job {self.id}: it has no function")
        instance = None if self._instance is UNEVALUATED else self._instance
        args = () if self._args is UNEVALUATED else self._args
        kwargs = {} if self._kwargs is UNEVALUATED else self._kwargs
        try:
            return self.serializer.dumps((self._func_name, instance, args, kwargs))
        except Exception as exc:
            raise SerializationError(
                f"Cannot serialize the call {self._func_name}(...) with {self._serializer_name()}: {exc}"
            ) from exc

    def check_serializable(self) -> None:
        """Serialize the call and ``meta`` now: SerializationError before anything is written."""
        self._data = self.data
        meta = getattr(self, "meta", None)
        if meta:
            try:
                self.serializer.dumps(meta)
            except Exception as exc:
                raise SerializationError(
                    f"Cannot serialize the meta of job {self.id} with {self._serializer_name()}: {exc}"
                ) from exc

    def _deserialize_data(self) -> None:
        try:
            func_name, instance, args, kwargs = self.serializer.loads(self._data)
            if func_name is not None:
                func_name = as_text(func_name)
            if not isinstance(args, (list, tuple)) or not isinstance(kwargs, (dict, type(None))):
                raise TypeError("expected the arguments as a list and the keyword arguments as a mapping")
        except Exception as exc:
            raise DeserializationError(f"Could not decode the data of job {self.id}: {exc}") from exc
        self._func_name, self._instance, self._args, self._kwargs = func_name, instance, args, dict(kwargs or {})

    def _ensure_call_data(self) -> None:
        if self._func_name is UNEVALUATED:
            if self._data is UNEVALUATED:
                raise DeserializationError(f"Job {self.id} has no call data")
            self._deserialize_data()

    def _invalidate_data(self) -> None:
        """Before one part of the call changes: decode the others if only ``data`` holds them."""
        if self._func_name is UNEVALUATED and self._data is not UNEVALUATED:
            self._deserialize_data()
        self._data = UNEVALUATED

    @property
    def data(self) -> bytes:
        """The serialized ``(func_name, instance, args, kwargs)``; ValueError for a job without a function."""
        if self._data is UNEVALUATED:
            self._data = self._serialize_data()
        return self._data

    @data.setter
    def data(self, value: bytes) -> None:
        self._data = value
        self._callable = None
        self._func_name = self._instance = self._args = self._kwargs = UNEVALUATED

    @property
    def func_name(self) -> str:
        self._ensure_call_data()
        return self._func_name

    @func_name.setter
    def func_name(self, value: str) -> None:
        self._invalidate_data()
        self._func_name, self._callable = value, None

    @property
    def instance(self) -> Any:
        self._ensure_call_data()
        return self._instance

    @instance.setter
    def instance(self, value: Any) -> None:
        self._invalidate_data()
        self._instance, self._callable = value, None

    @property
    def args(self) -> Any:
        self._ensure_call_data()
        return self._args

    @args.setter
    def args(self, value: Any) -> None:
        self._invalidate_data()
        self._args = value

    @property
    def kwargs(self) -> dict:
        self._ensure_call_data()
        return self._kwargs

    @kwargs.setter
    def kwargs(self, value: dict) -> None:
        self._invalidate_data()
        self._kwargs = value

    @property
    def func(self) -> Callable[..., Any]:
        """The callable, imported by its dotted path (or looked up on the instance)."""
        name = self.func_name
        if self._callable is not None:
            return self._callable
        if self.instance is not None:
            return getattr(self.instance, name)
        try:
            return import_attribute(name)
        except ImportError as exc:
            raise type(exc)(f"Cannot import the function {name!r} of job {self.id}: {exc}") from exc
        except (AttributeError, ValueError) as exc:  # ValueError as upstream RQ, for a missing attribute too
            raise ValueError(f"Cannot import the function {name!r} of job {self.id}: {exc}") from exc

    @func.setter
    def func(self, value: Any) -> None:
        self._invalidate_data()
        self._set_callable(value)

    def get_call_string(self) -> Optional[str]:
        return get_call_string(self.func_name, self.args, self.kwargs, max_length=75)
