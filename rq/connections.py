"""Connection helpers, including RQ 1.x's implicit connection stack (deprecated).

RQ 2.x wants an explicit ``connection=`` everywhere; code written for 1.x that wraps
its calls in ``with Connection(redis):`` keeps working here, with a DeprecationWarning.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from redis import Redis

__all__ = [
    "Connection",
    "NoRedisConnectionException",
    "get_connection_kwargs",
    "get_current_connection",
    "parse_connection",
    "pop_connection",
    "push_connection",
    "resolve_connection",
]

_stack: list[Redis] = []


class NoRedisConnectionException(Exception):
    """No connection was given and none was pushed with ``Connection``."""


def _deprecated(what: str) -> None:
    warnings.warn(
        f"{what} is deprecated: pass connection=... explicitly (as RQ 2.x requires)",
        DeprecationWarning,
        stacklevel=3,
    )


@contextmanager
def Connection(connection: Optional[Redis] = None) -> Iterator[Redis]:  # noqa: N802 - upstream name
    """Make ``connection`` the implicit connection inside the ``with`` block (RQ 1.x style)."""
    _deprecated("Connection()")
    if connection is None:
        connection = Redis()
    _stack.append(connection)
    try:
        yield connection
    finally:
        popped = _stack.pop()
        assert popped is connection, "Unexpected Redis connection was popped off the stack"


def push_connection(connection: Redis) -> None:
    _deprecated("push_connection()")
    _stack.append(connection)


def pop_connection() -> Redis:
    _deprecated("pop_connection()")
    return _stack.pop()


def get_current_connection() -> Optional[Redis]:
    """The innermost connection pushed with ``Connection``, or None."""
    return _stack[-1] if _stack else None


def resolve_connection(connection: Optional[Redis] = None, owner: str = "rq") -> Redis:
    """The given connection, else the implicit one, else a TypeError saying what to pass."""
    if connection is not None:
        return connection
    if _stack:
        return _stack[-1]
    raise TypeError(f"{owner} needs a Redis connection: pass connection=Redis(...)")


# Keys redis-py (8.x) adds to a pool's connection kwargs that describe that pool's own runtime
# state (some hold locks): a client built from the kwargs, in this process or another, must not get them.
REDIS_RUNTIME_CONNECTION_KWARGS = (
    "maint_notifications_config",
    "maint_notifications_pool_handler",
    "himport_registry",
    "event_dispatcher",
    "orig_host_address",
    "orig_socket_timeout",
    "orig_socket_connect_timeout",
)


def get_connection_kwargs(connection: Redis) -> dict[str, Any]:
    """The keyword arguments of a client's connection pool (to build another client like it).

    Left out: the pool's runtime state, and the bare ``object()`` markers redis-py uses for
    "unset" (recognised by identity, so they mean "unset" only in the process that made them).
    """
    return {
        key: value
        for key, value in connection.connection_pool.connection_kwargs.items()
        if key not in REDIS_RUNTIME_CONNECTION_KWARGS and type(value) is not object
    }


def parse_connection(connection: Redis) -> tuple[type[Redis], type, dict[str, Any]]:
    """(client class, connection class, pool kwargs) so a forked process can rebuild the client."""
    return type(connection), connection.connection_pool.connection_class, get_connection_kwargs(connection)
