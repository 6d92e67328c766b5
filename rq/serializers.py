"""Serializers for job data, meta and return values: pickle by default, JSON, or your own."""

from __future__ import annotations

import json
import pickle
from typing import Any, Optional, Protocol, Union, runtime_checkable

from .utils import import_attribute

__all__ = [
    "DefaultSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "SERIALIZER_ALIASES",
    "Serializer",
    "resolve_serializer",
]


@runtime_checkable
class Serializer(Protocol):
    @staticmethod
    def dumps(obj: Any) -> bytes: ...

    @staticmethod
    def loads(data: bytes) -> Any: ...


class DefaultSerializer:
    """Pickle with the highest protocol of this interpreter."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Any:
        return pickle.loads(data)


PickleSerializer = DefaultSerializer


class JSONSerializer:
    """UTF-8 JSON; values must be JSON types (tuples come back as lists)."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode("utf-8")

    @staticmethod
    def loads(data: Union[bytes, str]) -> Any:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)


SERIALIZER_ALIASES = {"pickle": DefaultSerializer, "json": JSONSerializer}


def resolve_serializer(serializer: Optional[Any] = None) -> Any:
    """The serializer for an object, a dotted path or an alias; ``None`` means pickle."""
    if serializer is None:
        return DefaultSerializer
    if isinstance(serializer, str):
        alias = SERIALIZER_ALIASES.get(serializer.lower())
        if alias is not None:
            return alias
        try:
            serializer = import_attribute(serializer)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"Unknown serializer {serializer!r}: use 'pickle', 'json' or a dotted path to an object "
                "with dumps() and loads()"
            ) from exc
    if not (callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None))):
        raise NotImplementedError(f"Serializer {serializer!r} must have dumps() and loads()")
    return serializer
