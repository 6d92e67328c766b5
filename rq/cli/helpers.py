"""What every ``rq`` subcommand shares: its common options, config modules and the Redis connection.

Connection settings are looked up in this order: ``--url``; else the connection settings
of the ``--config`` module; else the same names in the process environment (``REDIS_URL``,
``REDIS_HOST``, ...). Errors a person can fix (a bad URL, a missing module, an unknown
class) become one ``Error: ...`` line on stderr instead of a traceback.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import click
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import Sentinel, SentinelConnectionPool

from rq.defaults import (
    DEFAULT_CONNECTION_CLASS,
    DEFAULT_DEATH_PENALTY_CLASS,
    DEFAULT_JOB_CLASS,
    DEFAULT_QUEUE_CLASS,
    DEFAULT_WORKER_CLASS,
)
from rq.exceptions import TimeoutFormatError
from rq.serializers import resolve_serializer
from rq.utils import import_attribute, import_job_class, import_queue_class, import_worker_class, now, parse_timeout

from .enqueue_args import parse_enqueue_arguments, parse_function_argument
from .legacy import (
    ParsingMode,
    get_scale,
    green,
    pad,
    red,
    refresh,
    setup_loghandlers_from_args,
    show_both,
    show_queues,
    show_workers,
    state_symbol,
    yellow,
)

__all__ = [
    "CONNECTION_SETTINGS",
    "CliConfig",
    "SettingError",
    "client_from_url",
    "describe_connection",
    "get_redis_from_config",
    "import_attribute",
    "mask_url",
    "parse_bool",
    "parse_function_arg",
    "parse_function_args",
    "parse_schedule",
    "pass_cli_config",
    "read_config_file",
    "shared_options",
    # Upstream RQ's display helpers (rq.cli.legacy), importable from here as before.
    "ParsingMode",
    "get_scale",
    "green",
    "pad",
    "red",
    "refresh",
    "setup_loghandlers_from_args",
    "show_both",
    "show_queues",
    "show_workers",
    "state_symbol",
    "yellow",
]

F = TypeVar("F", bound=Callable[..., Any])

# Setting names that describe the Redis connection (in a config module or the environment).
CONNECTION_SETTINGS = (
    "REDIS_URL",
    "SENTINEL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_PASSWORD",
    "REDIS_SSL",
    "REDIS_SSL_CA_CERTS",
    "REDIS_SSL_CERT_REQS",
    "REDIS_SSL_CA_DATA",
    "REDIS_SSL_KEYFILE",
    "REDIS_SSL_CERTFILE",
)
# Shown instead of a password wherever a URL is printed.
MASK = "***"

_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0", "")


class SettingError(click.BadParameter, ValueError):
    """A bad option or setting value: one ``Error:`` line on stderr, exit status 2.

    Also a ValueError, which is what code built on upstream RQ's ``CliConfig`` catches.
    """

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


def parse_bool(value: Any, name: str = "value") -> bool:
    """A boolean from a bool or a yes/no/true/false string (as found in the environment)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (true/false, yes/no), not {value!r}")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user-info part and the query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if colon:
            netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    if query:
        pairs = [(k, MASK if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe_connection(connection: Redis) -> str:
    """Where a client connects (``host:port/db``, a socket path or a Sentinel service), without secrets."""
    pool = connection.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return f"Sentinel service {pool.service_name!r}"
    kwargs = pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix:{kwargs['path']} (db {db})"
    scheme = "rediss" if "ssl" in pool.connection_class.__name__.lower() else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def read_config_file(module: str) -> dict[str, Any]:
    """The UPPERCASE names of an importable settings module."""
    settings = importlib.import_module(module)
    return {name: value for name, value in vars(settings).items() if name.isupper()}


def _setting_int(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _sentinel_settings(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # from the environment: a JSON object
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("SENTINEL must be a dict (or, in the environment, a JSON object)") from None
    if not isinstance(value, Mapping):
        raise ValueError("SENTINEL must be a dict (or, in the environment, a JSON object)")
    return dict(value)


def client_from_url(url: str, connection_class: type[Redis] = Redis) -> Redis:
    """``connection_class.from_url(url)``, refusing a database path that is not a number.

    redis-py ignores such a path (``redis://host/jobs`` connects to database 0), so the
    commands would act on another database than the one meant; ValueError instead.
    """
    parts = urlsplit(url)
    database = unquote(parts.path).strip("/")
    if parts.scheme in ("redis", "rediss") and database and not (database.isascii() and database.isdigit()):
        raise ValueError(f"the database {database!r} in the URL path is not a number")
    return connection_class.from_url(url)


def get_redis_from_config(settings: Mapping[str, Any], connection_class: type[Redis] = Redis) -> Redis:
    """A client built from ``REDIS_URL``, else a ``SENTINEL`` dict, else ``REDIS_HOST`` and friends.

    Nothing is sent to Redis here; a bad value raises ValueError.
    """
    url = settings.get("REDIS_URL")
    if url:
        return client_from_url(url, connection_class)
    sentinel = settings.get("SENTINEL")
    if sentinel:
        options = _sentinel_settings(sentinel)
        instances = [tuple(item) for item in options.get("INSTANCES", [("localhost", 26379)])]
        connection_kwargs = {
            "db": options.get("DB", 0),
            "username": options.get("USERNAME"),
            "password": options.get("PASSWORD"),
            "socket_timeout": options.get("SOCKET_TIMEOUT"),
            "ssl": parse_bool(options.get("SSL", False), "SENTINEL['SSL']"),
        }
        connection_kwargs.update(options.get("CONNECTION_KWARGS") or {})
        manager = Sentinel(instances, sentinel_kwargs=options.get("SENTINEL_KWARGS") or {}, **connection_kwargs)
        return manager.master_for(options.get("MASTER_NAME", "mymaster"), redis_class=connection_class)
    kwargs: dict[str, Any] = {
        "host": settings.get("REDIS_HOST") or "localhost",
        "port": _setting_int(settings, "REDIS_PORT", 6379),
        "db": _setting_int(settings, "REDIS_DB", 0),
        "password": settings.get("REDIS_PASSWORD") or None,
    }
    if parse_bool(settings.get("REDIS_SSL", False), "REDIS_SSL"):
        kwargs.update(
            ssl=True,
            ssl_ca_certs=settings.get("REDIS_SSL_CA_CERTS") or None,
            ssl_cert_reqs=settings.get("REDIS_SSL_CERT_REQS") or "required",
            ssl_ca_data=settings.get("REDIS_SSL_CA_DATA") or None,
            ssl_keyfile=settings.get("REDIS_SSL_KEYFILE") or None,
            ssl_certfile=settings.get("REDIS_SSL_CERTFILE") or None,
        )
    return connection_class(**kwargs)


def _import_setting(value: str, importer: Callable[[Any], Any], option: str) -> Any:
    try:
        return importer(value)
    except Exception as exc:  # ImportError, AttributeError, ValueError, errors inside the module...
        message = str(exc) if value in str(exc) else f"cannot use {value!r}: {exc}"
        raise SettingError(message, param_hint=f"'{option}'") from None


def _import_connection_class(value: str) -> type[Redis]:
    cls = import_attribute(value)
    if not isinstance(cls, type) or not hasattr(cls, "from_url"):
        raise ValueError(f"{value} is not a Redis client class")
    return cls


def add_paths(paths: Sequence[str]) -> None:
    """Make modules under ``paths`` importable (jobs, config modules, custom classes), ahead of installed ones."""
    sys.path[:0] = [path for path in paths if path not in sys.path]


class CliConfig:
    """The resolved common options of one command: settings, classes, serializer and connection."""

    def __init__(
        self,
        url: Optional[str] = None,
        config: Optional[str] = None,
        worker_class: str = DEFAULT_WORKER_CLASS,
        job_class: str = DEFAULT_JOB_CLASS,
        death_penalty_class: str = DEFAULT_DEATH_PENALTY_CLASS,
        queue_class: str = DEFAULT_QUEUE_CLASS,
        connection_class: str = DEFAULT_CONNECTION_CLASS,
        path: Optional[Sequence[str]] = (".",),
        serializer: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
        **options: Any,
    ) -> None:
        """Import the named classes now (a bad name is a ``SettingError``); connect only on first use.

        Other keyword arguments (a command's own options) are ignored, as upstream RQ's CliConfig does.
        """
        add_paths(path or ())
        self.url = url
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.settings: dict[str, Any] = _import_setting(config, read_config_file, "--config") if config else {}
        self.worker_class = _import_setting(worker_class, import_worker_class, "--worker-class")
        self.job_class = _import_setting(job_class, import_job_class, "--job-class")
        self.death_penalty_class = _import_setting(death_penalty_class, import_attribute, "--death-penalty-class")
        self.queue_class = _import_setting(queue_class, import_queue_class, "--queue-class")
        self.connection_class = _import_setting(connection_class, _import_connection_class, "--connection-class")
        self.serializer = _import_setting(serializer, resolve_serializer, "--serializer") if serializer else None
        self._connection: Optional[Redis] = None

    def connection_settings(self) -> tuple[Mapping[str, Any], str]:
        """The settings the connection comes from, and where they were found."""
        if any(name in self.settings for name in CONNECTION_SETTINGS):
            return self.settings, f"config module {self.config!r}"
        return self.environ, "environment"

    @property
    def connection(self) -> Redis:
        """The Redis client (built on first use; nothing is sent to Redis here)."""
        if self._connection is None:
            self._connection = self._build_connection()
        return self._connection

    def _build_connection(self) -> Redis:
        if self.url:
            try:
                return client_from_url(self.url, self.connection_class)
            except ValueError as exc:
                raise SettingError(f"{mask_url(self.url)}: {exc}", param_hint="'--url'") from None
        settings, source = self.connection_settings()
        try:
            return get_redis_from_config(settings, self.connection_class)
        except (ValueError, TypeError) as exc:
            raise SettingError(self.scrub(str(exc)), param_hint=f"Redis settings ({source})") from None

    def scrub(self, text: str) -> str:
        """``text`` with the connection's password (if it appears) masked."""
        secrets = []
        if self._connection is not None:
            secrets.append(self._connection.connection_pool.connection_kwargs.get("password"))
        settings, _ = self.connection_settings()
        secrets.append(settings.get("REDIS_PASSWORD"))
        if self.url:
            secrets.append(urlsplit(self.url).password)
        for secret in secrets:
            if secret:
                text = text.replace(str(secret), MASK)
        return text

    def queue(self, name: str) -> Any:
        return self.queue_class(name, connection=self.connection, job_class=self.job_class, serializer=self.serializer)

    def queues(self, names: Sequence[str]) -> list[Any]:
        return [self.queue(name) for name in names]

    def all_queues(self) -> list[Any]:
        return self.queue_class.all(connection=self.connection, job_class=self.job_class, serializer=self.serializer)

    @contextmanager
    def redis_errors_reported(self) -> Iterator[None]:
        """Turn a Redis failure that escapes a command into one ``Error:`` line and exit status 1."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as exc:
            where = describe_connection(self._connection) if self._connection is not None else "Redis"
            raise click.ClickException(self.scrub(f"Could not connect to Redis at {where}: {exc}")) from None
        except RedisError as exc:
            raise click.ClickException(self.scrub(f"Redis error: {exc}")) from None


class SharedOptions(list[Callable[[Any], Any]]):
    """The common options as a list of click decorators (what upstream RQ's ``shared_options`` is).

    Calling it decorates a command: it adds the options and passes a ``CliConfig`` as first
    argument; Redis errors escaping the command are reported as one line with exit status 1.
    """

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            shared = {name: kwargs.pop(name) for name in _SHARED_NAMES}
            cli_config = CliConfig(**shared)
            with cli_config.redis_errors_reported():
                return func(cli_config, *args, **kwargs)

        return _add_options(self, wrapper)  # type: ignore[return-value]


def _add_options(options: Sequence[Callable[[Any], Any]], func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


shared_options = SharedOptions(
    [
        click.option("--url", "-u", envvar="RQ_REDIS_URL", help="URL describing Redis connection details."),
        click.option("--config", "-c", envvar="RQ_CONFIG", help="Module containing RQ settings."),
        click.option(
            "--worker-class",
            "-w",
            envvar="RQ_WORKER_CLASS",
            default=DEFAULT_WORKER_CLASS,
            help="RQ Worker class to use.",
        ),
        click.option(
            "--job-class", "-j", envvar="RQ_JOB_CLASS", default=DEFAULT_JOB_CLASS, help="RQ Job class to use."
        ),
        click.option(
            "--queue-class", envvar="RQ_QUEUE_CLASS", default=DEFAULT_QUEUE_CLASS, help="RQ Queue class to use."
        ),
        click.option(
            "--connection-class",
            envvar="RQ_CONNECTION_CLASS",
            default=DEFAULT_CONNECTION_CLASS,
            help="Redis client class to use.",
        ),
        click.option("--path", "-P", default=["."], multiple=True, help="Add this directory to the import path."),
        click.option(
            "--serializer", "-S", default=None, help="Serializer to use: json, pickle, or a dotted import path."
        ),
    ]
)
_SHARED_NAMES = ("url", "config", "worker_class", "job_class", "queue_class", "connection_class", "path", "serializer")


def pass_cli_config(func: F) -> F:
    """Upstream RQ's command decorator: the common options, a ``CliConfig`` as first argument.

    Unlike ``shared_options``, the command also receives the common options themselves as
    keyword arguments (``url``, ``serializer``, ...), as upstream RQ's commands expect.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cli_config = CliConfig(**kwargs)
        with cli_config.redis_errors_reported():
            return func(cli_config, *args, **kwargs)

    return _add_options(shared_options, wrapper)  # type: ignore[return-value]


def parse_function_arg(argument: str, arg_pos: int) -> tuple[Optional[str], Any]:
    """One ``rq enqueue`` function argument as ``(keyword or None, value)`` (upstream RQ's name).

    The syntax is that of ``rq enqueue`` (``value``, ``key=value``, ``:json``, ``key:=json``,
    ``%literal``, ``key%=literal``, ``@file`` for any value); ``arg_pos`` numbers a positional
    argument in error messages.
    """
    return parse_function_argument(argument, arg_pos)


def parse_function_args(arguments: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """The job's positional and keyword arguments from ``rq enqueue`` arguments (upstream RQ's name)."""
    return parse_enqueue_arguments(arguments)


# Format of ``rq enqueue --schedule-at``: a local time without zone.
SCHEDULE_AT_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_schedule(schedule_in: Optional[str], schedule_at: Optional[str]) -> Optional[datetime]:
    """When ``--schedule-in``/``--schedule-at`` ask a job to run; None when neither is given.

    ``schedule_in`` (``10s``, ``5m``, ``2d``, ...) gives an aware UTC time; ``schedule_at``
    (``2021-05-27T21:45:00``) a naive one, meant as local time, as in upstream RQ.
    """
    if schedule_in is not None:
        if schedule_at is not None:
            raise click.BadArgumentUsage("You can't specify both --schedule-in and --schedule-at")
        try:
            seconds = parse_timeout(schedule_in) or 0
        except TimeoutFormatError as exc:
            raise click.BadParameter(str(exc), param_hint="'--schedule-in'") from None
        try:
            return now() + timedelta(seconds=seconds)
        except OverflowError:
            raise click.BadParameter(
                f"{schedule_in!r} is too far in the future", param_hint="'--schedule-in'"
            ) from None
    if schedule_at is not None:
        try:
            return datetime.strptime(schedule_at, SCHEDULE_AT_FORMAT)
        except ValueError:
            raise click.BadParameter(
                f"{schedule_at!r} is not a time like 2021-05-27T21:45:00", param_hint="'--schedule-at'"
            ) from None
    return None
