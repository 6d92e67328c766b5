"""Small helpers that upstream RQ exposes from ``rq.utils``; user code imports several of them."""

from __future__ import annotations

import calendar
import datetime as _dt
import importlib
import logging
import numbers
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence, SupportsInt, Union, cast

from . import registered_classes
from .exceptions import TimeoutFormatError
from .layout import as_text, format_ts, parse_ts, split_composite_member, utcnow

if TYPE_CHECKING:
    from redis import Redis

    from .job import Job
    from .queue import Queue

logger = logging.getLogger(__name__)

_TIMEOUT_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_TIMEOUT_RE = re.compile(r"^\s*(-?\d+)\s*([dhms])\s*$", re.IGNORECASE)

__all__ = [
    "as_text",
    "backend_class",
    "ceildiv",
    "compact",
    "current_timestamp",
    "decode_redis_hash",
    "ensure_job_list",
    "get_call_string",
    "get_connection_from_queues",
    "get_version",
    "import_attribute",
    "import_job_class",
    "import_queue_class",
    "import_worker_class",
    "now",
    "parse_composite_key",
    "parse_names",
    "parse_timeout",
    "resolve_function_reference",
    "split_list",
    "str_to_date",
    "truncate_long_string",
    "utcformat",
    "utcparse",
]


def parse_timeout(timeout: Any) -> Optional[int]:
    """Seconds from an int, float, numeric string or ``<int><d|h|m|s>`` string (``'90s'``, ``'2h'``).

    ``None`` gives ``None``; anything else that is not a whole number of seconds (NaN,
    infinity, booleans, text that is not UTF-8 or has more digits than ``int()`` reads)
    raises ``TimeoutFormatError``.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool):
        raise TimeoutFormatError(f"Timeout must be a number or a string like '1h', not {timeout!r}")
    if isinstance(timeout, numbers.Real):
        try:
            # The ABC does not declare __int__; the Real types in use (int, float, Fraction, numpy) have it.
            return int(cast(SupportsInt, timeout))
        except (ValueError, OverflowError) as exc:
            raise TimeoutFormatError(f"Timeout must be a finite number of seconds, not {timeout!r}") from exc
    if isinstance(timeout, bytes):
        try:
            timeout = timeout.decode()
        except UnicodeDecodeError as exc:
            raise TimeoutFormatError(f"Timeout must be UTF-8 text, not {timeout[:40]!r}") from exc
    if isinstance(timeout, str):
        text = timeout.strip()
        try:
            if re.fullmatch(r"-?\d+", text):
                return int(text)
            match = _TIMEOUT_RE.match(text)
            if match:
                return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2).lower()]
        except ValueError as exc:  # more digits than int() converts (sys.get_int_max_str_digits())
            raise TimeoutFormatError(f"Timeout has too many digits: {text[:40]!r}...") from exc
    raise TimeoutFormatError(f"Timeout must be an integer or a string like '90s', '5m', '2h' or '1d', not {timeout!r}")


def import_attribute(name: str) -> Any:
    """Resolve a dotted path: the longest importable module prefix, then attribute lookups.

    A bare name is looked up among the builtins.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Expected a dotted path string, got {name!r}")
    parts = name.split(".")
    if len(parts) == 1:
        import builtins

        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise ValueError(f"Invalid attribute name: {name!r}")
    module = None
    attribute_parts: list[str] = []
    for split_at in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split_at])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing != module_name and not module_name.startswith(missing + "."):
                raise  # the module exists, but one of its own imports is missing
            continue
        attribute_parts = parts[split_at:]
        break
    if module is None:
        raise ValueError(f"Cannot import {name!r}: no module named {parts[0]!r}")
    value: Any = module
    for attribute in attribute_parts:
        try:
            value = getattr(value, attribute)
        except AttributeError as exc:
            raise AttributeError(f"Cannot import {name!r}: {value!r} has no attribute {attribute!r}") from exc
    return value


def resolve_function_reference(name: str) -> Callable:
    return import_attribute(name)


def utcformat(value: _dt.datetime) -> str:
    return format_ts(value)


def utcparse(value: Union[str, bytes]) -> Optional[_dt.datetime]:
    return parse_ts(value)


def now() -> _dt.datetime:
    """Current time as an aware UTC datetime."""
    return utcnow()


def current_timestamp() -> int:
    """Current Unix time in whole seconds."""
    return calendar.timegm(_dt.datetime.now(_dt.timezone.utc).utctimetuple())


def compact(items: Iterable[Any]) -> list:
    return [item for item in items if item is not None]


def decode_redis_hash(value: dict) -> dict[str, Any]:
    return {as_text(k): v for k, v in value.items()}


def backend_class(holder: Any, default_name: str, override: Any = None) -> Any:
    """A class given directly, as a dotted path, or the holder's default attribute."""
    if override is None:
        return getattr(holder, default_name)
    if isinstance(override, str):
        return import_attribute(override)
    return override


def get_version(connection: "Redis") -> tuple[int, int, int]:
    """Redis server version as a 3-tuple, cached on the client object."""
    cached = getattr(connection, "_rq_server_version", None)
    if cached is not None:
        return cached
    text = as_text(connection.info("server")["redis_version"])
    version = tuple(int(part) for part in str(text).split(".")[:3])
    version = (version + (0, 0, 0))[:3]
    try:
        connection._rq_server_version = version  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return version  # type: ignore[return-value]


def ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def split_list(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def truncate_long_string(text: str, max_length: Optional[int] = None) -> str:
    if max_length is None or len(text) <= max_length:
        return text
    return text[:max_length] + "..."


def get_call_string(
    func_name: Optional[str], args: Any, kwargs: dict, max_length: Optional[int] = None
) -> Optional[str]:
    """Human description of a call: ``mod.func(1, 'a', key=2)`` with each repr cut at ``max_length``."""
    if func_name is None:
        return None
    shown = [truncate_long_string(repr(arg), max_length) for arg in args]
    shown += [f"{key}={truncate_long_string(repr(value), max_length)}" for key, value in sorted(kwargs.items())]
    return f"{func_name}({', '.join(shown)})"


def parse_names(queues_or_names: Iterable[Any]) -> list[str]:
    queue_class = registered_classes.queue_class()
    return [item.name if isinstance(item, queue_class) else str(item) for item in queues_or_names]


def str_to_date(value: Union[str, bytes, None]) -> Optional[_dt.datetime]:
    return parse_ts(value) if value else None


def ensure_job_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _import_subclass(value: Any, base_path: str, what: str) -> type:
    cls = import_attribute(value) if isinstance(value, str) else value
    base = import_attribute(base_path)
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise ValueError(f"{value!r} is not a {what} class (a subclass of {base_path})")
    return cls


def import_job_class(value: Any) -> type["Job"]:
    return _import_subclass(value, "rq.job.Job", "job")


def import_queue_class(value: Any) -> type["Queue"]:
    return _import_subclass(value, "rq.queue.Queue", "queue")


def import_worker_class(value: Any) -> type:
    return _import_subclass(value, "rq.worker.BaseWorker", "worker")


def get_connection_from_queues(queues: Iterable[Any]) -> Optional["Redis"]:
    for queue in queues:
        connection = getattr(queue, "connection", None)
        if connection is not None:
            return connection
    return None


def parse_composite_key(composite_key: Union[str, bytes]) -> tuple[str, str]:
    return split_composite_member(composite_key)


# What a monitoring record shows instead of a value that JSON cannot hold (cron job arguments, meta).
NOT_JSON_SERIALIZABLE = "<not JSON serializable>"


def safe_json_dumps(value: Any) -> str:
    """``value`` as JSON text, or ``NOT_JSON_SERIALIZABLE`` if JSON cannot hold it."""
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return NOT_JSON_SERIALIZABLE


__all__ += ["NOT_JSON_SERIALIZABLE", "safe_json_dumps"]
