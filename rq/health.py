"""Health checks of a worker: ``/livez`` and ``/readyz`` over HTTP, and a check of its Redis record.

``serve_health(worker, port=...)`` answers HTTP from daemon threads of the worker's
process, so an orchestrator (Kubernetes probes, a load balancer, a supervisor) can ask:

- ``GET /livez``: is the process alive and its main loop turning? Redis being away does
  not make a worker unlive: restarting it would not bring Redis back.
- ``GET /readyz``: can it take jobs now? Redis answers a PING, the command channel is
  subscribed, and the worker is neither suspended nor shutting down.

Each answers 200 or 503 with a JSON body giving every check and its reason. Requests never
wait on Redis: a background checker pings Redis every ``check_interval`` seconds on a
client of its own with short timeouts, and the answer uses its latest result.

``check_worker_record(connection, name)`` judges a worker from its record in Redis alone,
for supervisors without HTTP (``rq health NAME``).

This module is the HTTP endpoints' composition (faces layer): the checks live in
``rq.health_checks``, the HTTP server in ``rq.http_endpoint`` and the Prometheus metrics in
``rq.metrics``; it imports them (the last two only when an endpoint starts) and none of
them imports it. The checks' names are re-exported here, their public path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from .health_checks import (
    DEFAULT_HTTP_HOST,
    HEALTH_CHECK_INTERVAL,
    JOB_OVERRUN_GRACE,
    LIVENESS_WINDOW,
    PROBE_TIMEOUT,
    Check,
    HealthChecker,
    Route,
    WorkerHealth,
    check_worker_record,
    describe_error,
    health_routes,
    probe_client,
    report,
)

if TYPE_CHECKING:
    from .http_endpoint import HealthServer, HTTPEndpoint

__all__ = [
    "DEFAULT_HTTP_HOST",
    "HEALTH_CHECK_INTERVAL",
    "JOB_OVERRUN_GRACE",
    "LIVENESS_WINDOW",
    "PROBE_TIMEOUT",
    "Check",
    "HTTPEndpoint",
    "HealthChecker",
    "HealthServer",
    "Route",
    "WorkerHealth",
    "check_worker_record",
    "describe_error",
    "health_routes",
    "probe_client",
    "report",
    "serve_endpoints",
    "serve_health",
]

logger = logging.getLogger("rq.worker")


def __getattr__(name: str) -> Any:
    # The HTTP server classes load http.server, which an idle worker without endpoints never needs.
    if name in ("HTTPEndpoint", "HealthServer"):
        from . import http_endpoint

        return getattr(http_endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def serve_health(
    worker: Any,
    host: str = DEFAULT_HTTP_HOST,
    port: int = 0,
    check_interval: float = HEALTH_CHECK_INTERVAL,
    liveness_window: float = LIVENESS_WINDOW,
) -> "HealthServer":
    """Serve ``/livez`` and ``/readyz`` for ``worker`` until ``.close()``; call it before ``worker.work()``.

    The server and checker run in daemon threads of this process (a forked work horse
    does not answer). Raises OSError if ``host:port`` cannot be listened on.
    """
    from .http_endpoint import HealthServer

    checker = HealthChecker(worker, check_interval=check_interval, liveness_window=liveness_window)
    server = HealthServer(checker, host, port)
    checker.start()
    return server


def serve_endpoints(
    worker: Any,
    health_port: Optional[int] = None,
    health_host: str = DEFAULT_HTTP_HOST,
    check_interval: float = HEALTH_CHECK_INTERVAL,
    metrics_port: Optional[int] = None,
    metrics_host: str = DEFAULT_HTTP_HOST,
) -> "list[HTTPEndpoint]":
    """Serve the health checks and/or the metrics of ``worker``; close every endpoint returned when done.

    The same host and port for both gives one server answering ``/livez``, ``/readyz`` and
    ``/metrics``. Raises ``rq.metrics.MetricsUnavailable`` (an ImportError) for metrics
    without prometheus_client, and OSError if an address cannot be listened on.
    """
    from .http_endpoint import HTTPEndpoint

    routes: dict[tuple[str, int], dict[str, Route]] = {}
    checker = metrics = None
    if health_port is not None:
        checker = HealthChecker(worker, check_interval=check_interval)
        routes.setdefault((health_host, health_port), {}).update(health_routes(checker))
    if metrics_port is not None:
        from .metrics import WorkerMetrics, metrics_routes

        metrics = WorkerMetrics(worker)
        routes.setdefault((metrics_host, metrics_port), {}).update(metrics_routes(metrics))
    endpoints: list[HTTPEndpoint] = []
    try:
        for (host, port), paths in routes.items():
            endpoints.append(HTTPEndpoint(paths, host, port))
            logger.info("Worker %s: serving %s on %s", worker.name, ", ".join(sorted(paths)), endpoints[-1].url)
    except BaseException:
        for endpoint in endpoints:
            endpoint.close()
        if metrics is not None:
            metrics.close()
        raise
    # Stopped with the first endpoint: whoever started them closes them all together.
    if checker is not None:
        endpoints[0].on_close(checker.stop)
        checker.start()
    if metrics is not None:
        endpoints[0].on_close(metrics.close)
    return endpoints
