"""Small helpers that upstream RQ exposes from ``rq.utils``; user code imports several of them."""

from __future__ import annotations

import calendar
import datetime as _dt
import importlib
import inspect
import json
import logging
import numbers
import os
import re
import sys
import warnings
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generator,
    Iterable,
    Optional,
    Sequence,
    SupportsInt,
    TypeVar,
    Union,
    cast,
)

from redis.exceptions import ResponseError

from . import registered_classes
from .exceptions import TimeoutFormatError
from .layout import format_ts, parse_ts, split_composite_member, utcnow

if TYPE_CHECKING:
    from redis import Redis

    from .job import Job
    from .queue import Queue

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_TIMEOUT_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_TIMEOUT_RE = re.compile(r"^\s*(-?\d+)\s*([dhms])\s*$", re.IGNORECASE)

__all__ = [
    "NOT_JSON_SERIALIZABLE",
    "Platform",
    "as_text",
    "backend_class",
    "ceildiv",
    "compact",
    "current_timestamp",
    "decode_redis_hash",
    "ensure_job_list",
    "ensure_list",
    "first",
    "get_call_string",
    "get_connection_from_queues",
    "get_platform",
    "get_version",
    "import_attribute",
    "import_job_class",
    "import_queue_class",
    "import_worker_class",
    "is_nonstring_iterable",
    "missing_keys",
    "normalize_config_path",
    "now",
    "parse_composite_key",
    "parse_names",
    "parse_timeout",
    "resolve_function_reference",
    "safe_json_dumps",
    "split_list",
    "str_to_date",
    "truncate_long_string",
    "utcformat",
    "utcnow",
    "utcparse",
    "validate_absolute_path",
]


class Platform(Enum):
    """The operating system family a worker runs on (it decides how work horses are started)."""

    WINDOWS = "windows"
    MAC = "mac"
    LINUX = "linux"
    OTHERS = "others"


def get_platform() -> Platform:
    """The ``Platform`` of this process, read from ``sys.platform``."""
    name = sys.platform.lower()
    if name.startswith("win"):
        return Platform.WINDOWS
    if name == "darwin":
        return Platform.MAC
    if name.startswith("linux"):
        return Platform.LINUX
    return Platform.OTHERS


def as_text(value: Union[str, bytes]) -> str:
    """``value`` as text: bytes are decoded as UTF-8; anything but bytes or str raises ValueError."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise ValueError(f"Unknown type {type(value)!r}")


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


def _invalid(name: str) -> ValueError:
    return ValueError(f"Invalid attribute name: {name!r}")


def import_attribute(name: str) -> Any:
    """Resolve a dotted path: the longest importable module prefix, then attribute lookups.

    A bare name is looked up among the builtins. A path that names nothing raises
    ``ValueError``, as upstream RQ does; a module that exists but fails to import raises
    its own error.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Expected a dotted path string, got {name!r}")
    parts = name.split(".")
    if len(parts) == 1:
        import builtins

        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise _invalid(name)
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
            raise ValueError(f"Cannot import {name!r}: {value!r} has no attribute {attribute!r}") from exc
    return value


def resolve_function_reference(func: Any) -> tuple[Any, str]:
    """``(instance, name)`` for a job's callable, as a job stores it.

    A bound method gives its object and method name; a function or builtin gives ``None``
    and its dotted path; a string is taken as a dotted path; a callable instance gives
    itself and ``"__call__"``. Anything else raises TypeError.
    """
    if inspect.ismethod(func):
        return func.__self__, func.__name__
    if inspect.isfunction(func) or inspect.isbuiltin(func):
        return None, f"{func.__module__}.{func.__qualname__}"
    if isinstance(func, (str, bytes)):
        return None, as_text(func)
    if not inspect.isclass(func) and callable(func):
        return func, "__call__"
    raise TypeError(f"Expected a callable or a string, but got: {func!r}")


def normalize_config_path(config_path: str) -> str:
    """A module path from a file path (``app/config.py`` -> ``app.config``); dotted paths are kept."""
    if os.path.sep not in config_path and not config_path.endswith(".py"):
        return config_path
    path = config_path[:-3] if config_path.endswith(".py") else config_path
    return path.lstrip(os.path.sep).replace(os.path.sep, ".")


def validate_absolute_path(file_path: str) -> str:
    """``file_path`` itself if it names an existing file; FileNotFoundError or IsADirectoryError if not."""
    if not os.path.exists(file_path):
        raise FileNotFoundError(f"Configuration file not found at '{file_path}'")
    if not os.path.isfile(file_path):
        raise IsADirectoryError(f"Configuration path points to a directory, not a file: '{file_path}'")
    return file_path


def utcformat(value: _dt.datetime) -> str:
    """``value`` as RQ's timestamp text (``%Y-%m-%dT%H:%M:%S.%fZ``)."""
    return format_ts(value)


def utcparse(value: Union[str, bytes]) -> _dt.datetime:
    """An aware UTC datetime from RQ's timestamp text (with or without microseconds)."""
    parsed = parse_ts(value)
    if parsed is None:
        raise ValueError(f"Not a timestamp: {value!r}")
    return parsed


def now() -> _dt.datetime:
    """Current time as an aware UTC datetime."""
    return utcnow()


def current_timestamp() -> int:
    """Current Unix time in whole seconds."""
    return calendar.timegm(_dt.datetime.now(_dt.timezone.utc).utctimetuple())


def compact(items: Iterable[Optional[_T]]) -> list[_T]:
    """``items`` without the ``None`` values."""
    return [item for item in items if item is not None]


def first(iterable: Iterable[Any], default: Any = None, key: Optional[Callable[[Any], Any]] = None) -> Any:
    """The first true item of ``iterable`` (or the first for which ``key`` is true), else ``default``."""
    for item in iterable:
        if key(item) if key is not None else item:
            return item
    return default


def is_nonstring_iterable(obj: Any) -> bool:
    """True for an iterable that is not a string."""
    return isinstance(obj, Iterable) and not isinstance(obj, str)


def ensure_list(obj: Any) -> Any:
    """A non-string iterable as is, anything else in a one-item list (RQ 1.x helper)."""
    return obj if is_nonstring_iterable(obj) else [obj]


def ensure_job_list(obj: Any) -> list:
    """A list of the items of a non-string iterable, or ``[obj]`` (a job, a job id, ...)."""
    return list(obj) if is_nonstring_iterable(obj) else [obj]


def decode_redis_hash(value: dict, *, decode_values: bool = False) -> dict[str, Any]:
    """A Redis hash with text keys; with ``decode_values`` the values are decoded as well."""
    if decode_values:
        return {as_text(k): as_text(v) for k, v in value.items()}
    return {as_text(k): v for k, v in value.items()}


def backend_class(holder: Any, default_name: str, override: Any = None) -> Any:
    """A class given directly, as a dotted path, or the holder's default attribute."""
    if override is None:
        return getattr(holder, default_name)
    if isinstance(override, str):
        return import_attribute(override)
    return override


def str_to_date(value: Union[str, bytes]) -> _dt.datetime:
    """An aware UTC datetime from RQ's timestamp text; empty text raises ValueError."""
    if not value:
        raise ValueError("Empty string or bytestring provided")
    return utcparse(value)


def get_version(connection: "Redis") -> tuple[int, int, int]:
    """Redis server version as a 3-tuple, cached on the client object.

    Servers that refuse INFO (some test doubles) are taken to be Redis 5.0.9, as upstream does.
    """
    cached = getattr(connection, "_rq_server_version", None)
    if cached is not None:
        return cached
    try:
        raw = connection.info("server")["redis_version"]
    except ResponseError:
        return (5, 0, 9)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = [int(part) for part in text.split(".")[:3]]
    version = cast("tuple[int, int, int]", tuple((parts + [0, 0, 0])[:3]))
    try:
        connection._rq_server_version = version  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return version


def ceildiv(a: int, b: int) -> int:
    """Ceiling of ``a / b`` for integers."""
    return -(-a // b)


def split_list(items: Sequence[_T], size: int) -> Generator[Sequence[_T], None, None]:
    """Consecutive slices of ``items``, each at most ``size`` long."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def missing_keys(connection: "Redis", keys: Sequence[str]) -> list[str]:
    """The ``keys`` that do not exist; one EXISTS answers when all do."""
    if not keys or connection.exists(*keys) == len(keys):
        return []
    with connection.pipeline() as pipe:
        for key in keys:
            pipe.exists(key)
        found = pipe.execute()
    return [key for key, exists in zip(keys, found) if not exists]


def truncate_long_string(text: str, max_length: Optional[int] = None) -> str:
    """``text`` cut to ``max_length`` characters (plus ``...``) if longer."""
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
    shown += sorted(f"{key}={truncate_long_string(repr(value), max_length)}" for key, value in kwargs.items())
    return f"{func_name}({', '.join(shown)})"


def parse_names(queues_or_names: Iterable[Any]) -> list[str]:
    """Queue names from queues or names."""
    queue_class = registered_classes.queue_class()
    return [item.name if isinstance(item, queue_class) else str(item) for item in queues_or_names]


def _import_subclass(value: Any, base_path: str, what: str) -> type:
    cls = import_attribute(value) if isinstance(value, str) else value
    base = import_attribute(base_path)
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise ValueError(f"{value!r} is not a {what} class (a subclass of {base_path})")
    return cls


def import_job_class(value: Any) -> type["Job"]:
    """A Job subclass from a dotted path (or the class itself); ValueError otherwise."""
    return _import_subclass(value, "rq.job.Job", "job")


def import_queue_class(value: Any) -> type["Queue"]:
    """A Queue subclass from a dotted path (or the class itself); ValueError otherwise."""
    return _import_subclass(value, "rq.queue.Queue", "queue")


def import_worker_class(value: Any) -> type:
    """A worker class from a dotted path (or the class itself); ValueError otherwise."""
    return _import_subclass(value, "rq.worker.BaseWorker", "worker")


def get_connection_from_queues(queues: Iterable[Any]) -> Optional["Redis"]:
    """The connection of the first queue in ``queues`` that has one."""
    for queue in queues:
        connection = getattr(queue, "connection", None)
        if connection is not None:
            return connection
    return None


def parse_composite_key(composite_key: Union[str, bytes]) -> tuple[str, str]:
    """``(job id, execution id)`` of a started-registry member; a bare job id warns and gives ``""``."""
    job_id, execution_id = split_composite_member(composite_key)
    if not execution_id:
        warnings.warn(
            f"Composite key must contain job_id:execution_id, got {as_text(composite_key)}",
            DeprecationWarning,
            stacklevel=2,
        )
    return job_id, execution_id


# What a monitoring record shows instead of a value that JSON cannot hold (cron job arguments, meta).
NOT_JSON_SERIALIZABLE = "<not JSON serializable>"


def safe_json_dumps(value: Any) -> str:
    """``value`` as JSON text, or ``NOT_JSON_SERIALIZABLE`` if JSON cannot hold it."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return NOT_JSON_SERIALIZABLE


def stacklevel_outside_rq() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside the rq package.

    Call it from the function that calls ``warnings.warn``.
    """
    frame = sys._getframe(2)
    level = 2
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith("rq."):
        frame = frame.f_back
        level += 1
    return level
