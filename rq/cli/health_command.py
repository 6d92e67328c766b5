"""``rq health NAME`` (also ``rq worker-health``), and the HTTP endpoints ``rq worker`` serves.

``rq health`` judges a worker from its record in Redis, for supervisors and cron checks
that cannot reach the worker over HTTP: exit status 0 when healthy, 1 with one line per
problem otherwise, 3 when Redis cannot be reached. ``serve_endpoints`` starts what
``rq worker --health-port`` and ``--metrics-port`` ask for.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Optional

import click

from rq.health import check_worker_record
from rq.health import serve_endpoints as start_endpoints
from rq.resilience import REDIS_ERRORS

from .cli import main
from .helpers import CliConfig, describe_connection, shared_options

if TYPE_CHECKING:
    from rq.http_endpoint import HTTPEndpoint

__all__ = ["health", "serve_endpoints"]

# Seconds ``rq health`` waits for Redis to connect and answer, unless told otherwise.
DEFAULT_TIMEOUT = 5.0
# Exit status of ``rq health`` when Redis cannot be reached: the worker's health is unknown
# (1 would tell a supervisor to restart a worker that may be fine).
UNKNOWN_EXIT_STATUS = 3


def _apply_timeout(connection: Any, timeout: float) -> None:
    """Bound every call of this short-lived command (the worker's own settings are not touched)."""
    kwargs = connection.connection_pool.connection_kwargs
    for name in ("socket_timeout", "socket_connect_timeout"):
        if kwargs.get(name) is None:
            kwargs[name] = timeout


@main.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
@click.option(
    "--max-heartbeat-age",
    type=click.FloatRange(min=1),
    help="Seconds since the last heartbeat after which the worker is stale (default: worker TTL + 60 = 480).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for Redis (when the connection sets no timeout of its own).",
)
@shared_options
def health(cli_config: CliConfig, name: str, as_json: bool, max_heartbeat_age: Optional[float], timeout: float) -> None:
    """Check a worker by NAME from its record in Redis: exit status 0 if healthy, 1 if not, 3 without Redis."""
    connection = cli_config.connection
    _apply_timeout(connection, timeout)
    try:
        result = check_worker_record(connection, name, max_heartbeat_age=max_heartbeat_age)
    except REDIS_ERRORS as exc:
        message = cli_config.scrub(f"Could not connect to Redis at {describe_connection(connection)}: {exc}")
        click.echo(f"Error: {message}", err=True)
        raise SystemExit(UNKNOWN_EXIT_STATUS) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
    elif result.healthy:
        age = f"{result.heartbeat_age:.0f}s ago" if result.heartbeat_age is not None else "never"
        click.echo(f"Worker {result.name} is healthy: {result.state}, last heartbeat {age}")
    else:
        for problem in result.problems:
            click.echo(f"Worker {result.name}: {problem}")
    if not result.healthy:
        raise SystemExit(1)


# ``rq worker-health`` is the same command under another name; ``rq --help`` lists it once.
worker_health = copy.copy(health)
worker_health.hidden = True
main.add_command(worker_health, "worker-health")


def serve_endpoints(
    worker: Any,
    health_port: Optional[int],
    health_host: str,
    check_interval: float,
    metrics_port: Optional[int],
    metrics_host: str,
) -> list[HTTPEndpoint]:
    """``rq.health.serve_endpoints`` for ``rq worker``: errors a person can fix become one ``Error:`` line."""
    from rq.metrics import MetricsUnavailable

    try:
        return start_endpoints(worker, health_port, health_host, check_interval, metrics_port, metrics_host)
    except MetricsUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
