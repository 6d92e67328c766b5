"""``rq health NAME`` (also ``rq worker-health``), and the HTTP endpoints ``rq worker`` serves.

``rq health`` judges a worker from its record in Redis, for supervisors and cron checks
that cannot reach the worker over HTTP: exit status 0 when healthy, 1 with one line per
problem otherwise. ``serve_endpoints`` starts what ``rq worker --health-port`` and
``--metrics-port`` ask for (both on one server when they share an address).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

import click

from rq.health import HealthChecker, HTTPEndpoint, check_worker_record, health_routes

from .cli import main
from .helpers import CliConfig, shared_options

__all__ = ["health", "serve_endpoints"]

logger = logging.getLogger("rq.worker")

# Seconds ``rq health`` waits for Redis to connect and answer, unless told otherwise.
DEFAULT_TIMEOUT = 5.0


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
    """Check a worker by NAME from its record in Redis: exit status 0 if healthy, 1 if not."""
    connection = cli_config.connection
    _apply_timeout(connection, timeout)
    result = check_worker_record(connection, name, max_heartbeat_age=max_heartbeat_age)
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


main.add_command(health, "worker-health")


def serve_endpoints(
    worker: Any,
    health_port: Optional[int],
    health_host: str,
    check_interval: float,
    metrics_port: Optional[int],
    metrics_host: str,
) -> list[HTTPEndpoint]:
    """Start the worker's health and metrics endpoints; usage errors become click exceptions.

    The same host and port for both serves ``/livez``, ``/readyz`` and ``/metrics`` together.
    """
    routes: dict[tuple[str, int], dict[str, Any]] = {}
    checker = metrics = None
    if health_port is not None:
        checker = HealthChecker(worker, check_interval=check_interval)
        routes.setdefault((health_host, health_port), {}).update(health_routes(checker))
    if metrics_port is not None:
        from rq.metrics import MetricsUnavailable, WorkerMetrics, metrics_routes

        try:
            metrics = WorkerMetrics(worker)
        except MetricsUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        routes.setdefault((metrics_host, metrics_port), {}).update(metrics_routes(metrics))
    endpoints: list[HTTPEndpoint] = []
    try:
        for (host, port), paths in routes.items():
            try:
                endpoint = HTTPEndpoint(paths, host, port)
            except OSError as exc:
                raise click.ClickException(f"Cannot serve HTTP on {host}:{port}: {exc}") from None
            endpoints.append(endpoint)
            logger.info("Worker %s: serving %s on %s", worker.name, ", ".join(sorted(paths)), endpoint.url)
    except BaseException:
        for endpoint in endpoints:
            endpoint.close()
        if metrics is not None:
            metrics.close()
        raise
    # Stopped with the first endpoint to close: the CLI closes them all together.
    if checker is not None:
        endpoints[0].on_close(checker.stop)
        checker.start()
    if metrics is not None:
        endpoints[0].on_close(metrics.close)
    return endpoints
