"""Prometheus metrics of a worker, served at ``GET /metrics``.

Needs the optional ``prometheus_client`` package (``pip install prometheus_client``). Each
worker gets a ``CollectorRegistry`` of its own, so several workers in one process (or an
application's own metrics) never clash.

Job counters and the duration histogram are fed by the worker's job events, in the
worker's own process (a forked work horse reports its outcome to the worker, which counts
it). Queue depths and the connection counters are read when Prometheus scrapes; queue
depths come from Redis through a client with short timeouts, and are left out of a scrape
while Redis is away (``rq_redis_up`` is then 0).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, Optional

from redis import Redis
from redis.exceptions import RedisError

from .health_checks import DEFAULT_HTTP_HOST, PROBE_TIMEOUT, Route, probe_client
from .http_endpoint import HTTPEndpoint

__all__ = [
    "JOB_DURATION_BUCKETS",
    "MetricsServer",
    "MetricsUnavailable",
    "WorkerMetrics",
    "metrics_routes",
    "serve_metrics",
]

logger = logging.getLogger("rq.worker")

# Upper bounds (seconds) of the job duration histogram: from quick jobs to hour-long ones.
JOB_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

MISSING_CLIENT = "Prometheus metrics need the prometheus_client package: pip install prometheus_client"

# Job events of the worker, and the outcome each one records.
_OUTCOMES = {"job_finished": "finished", "job_failed": "failed", "job_retried": "retried", "job_stopped": "stopped"}


class MetricsUnavailable(ImportError):
    """``prometheus_client`` is not installed."""


def _prometheus(module: str = "prometheus_client") -> Any:
    """``prometheus_client`` (or one of its modules), imported when first needed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MetricsUnavailable(MISSING_CLIENT) from None


class WorkerMetrics:
    """The metrics of one worker, in their own registry (``.registry``)."""

    def __init__(self, worker: Any, probe_timeout: float = PROBE_TIMEOUT) -> None:
        prometheus = _prometheus()
        self.worker = worker
        self.registry = prometheus.CollectorRegistry()
        self.closed = False

        def counter(name: str, what: str) -> Any:
            return prometheus.Counter(name, what, ["queue"], registry=self.registry)

        self.started = counter("rq_jobs_started_total", "Jobs this worker started")
        self.outcomes = {
            "finished": counter("rq_jobs_finished_total", "Jobs that finished successfully"),
            "failed": counter("rq_jobs_failed_total", "Jobs that failed for good (no retry left)"),
            "retried": counter("rq_jobs_retried_total", "Failed attempts that will be retried"),
            "stopped": counter("rq_jobs_stopped_total", "Jobs stopped by a stop-job command"),
        }
        self.duration = prometheus.Histogram(
            "rq_job_duration_seconds",
            "Time jobs ran, by outcome",
            ["queue", "outcome"],
            buckets=JOB_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._state = _WorkerStateCollector(worker, probe_timeout)
        self.registry.register(self._state)
        worker.add_listener(self.on_event)

    def on_event(self, event: str, worker: Any, job: Any = None, queue: Any = None, **details: Any) -> None:
        """The worker's job-event listener."""
        if self.closed or job is None:
            return
        if event == "job_started":
            self.started.labels(queue=job.origin).inc()
            return
        outcome = _OUTCOMES.get(event)
        if outcome is None:
            return
        queue_name = queue.name if queue is not None else job.origin
        self.outcomes[outcome].labels(queue=queue_name).inc()
        duration = details.get("duration")
        if duration is not None:
            self.duration.labels(queue=queue_name, outcome=outcome).observe(max(0.0, float(duration)))

    def exposition(self, accept: Optional[str] = None) -> tuple[str, bytes]:
        """(content type, body) of a scrape, in the format the ``Accept`` header asks for."""
        encoder, content_type = _prometheus("prometheus_client.exposition").choose_encoder(accept or "")
        return content_type, encoder(self.registry)

    def close(self) -> None:
        """Stop counting (the worker keeps its listener, which then does nothing) and free the Redis client."""
        self.closed = True
        self._state.close()


class _WorkerStateCollector:
    """Values read at scrape time: queue depths from Redis, the worker's state and incident counters."""

    def __init__(self, worker: Any, probe_timeout: float) -> None:
        self.worker = worker
        self.probe_timeout = probe_timeout
        self._client: Optional[Redis] = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _queue_depths(self) -> Optional[dict[str, int]]:
        """LLEN of each of the worker's queues; None if Redis does not answer in time."""
        queues = list(self.worker.queues)
        with self._lock:
            if self._client is None:
                self._client = probe_client(self.worker.connection, self.probe_timeout)
            client = self._client
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue.key)
                lengths = pipe.execute()
        except RedisError as exc:
            logger.debug("Worker %s: queue depths unavailable: %s", self.worker.name, exc)
            return None
        return {queue.name: int(length) for queue, length in zip(queues, lengths)}

    def collect(self) -> Iterator[Any]:
        families = _prometheus("prometheus_client.metrics_core")
        gauge, counter = families.GaugeMetricFamily, families.CounterMetricFamily
        worker = self.worker
        depths = self._queue_depths()
        up = gauge("rq_redis_up", "1 if Redis answered this scrape's queue-depth query, else 0")
        up.add_metric([], 1 if depths is not None else 0)
        yield up
        if depths is not None:
            depth = gauge("rq_queue_depth", "Jobs waiting in each of the worker's queues", labels=["queue"])
            for name, length in depths.items():
                depth.add_metric([name], length)
            yield depth
        state = worker.get_state()
        outage, channel = worker.connection_outage, worker.command_channel
        gauges = (
            ("rq_worker_busy", "1 while the worker runs a job", state == "busy"),
            ("rq_worker_suspended", "1 while workers are suspended", state == "suspended"),
            ("rq_redis_outage_active", "1 while the worker's Redis connection is down", outage.active),
        )
        for name, what, flag in gauges:
            yield gauge(name, what, value=int(flag))
        counters: list[tuple[str, str, Any]] = [
            ("rq_redis_reconnects_total", "Outages of the worker's Redis connection", outage.count),
            ("rq_redis_errors_total", "Redis errors seen by the worker's main loop", outage.errors),
            ("rq_command_listener_restarts_total", "Dead command listeners replaced", channel.listener_restarts),
            ("rq_command_channel_resubscribes_total", "Lost command subscriptions restored", channel.resubscribes),
        ]
        probe = channel.outage.probe
        if probe is not None:
            counters.append(
                (
                    "rq_redis_probe_attempts_total",
                    "Connection attempts of the outage probe this process shares for the worker's Redis",
                    probe.attempts,
                )
            )
        for name, what, count in counters:
            yield counter(name, what, value=count)
        info = gauge("rq_worker_info", "The worker's name and version", labels=["worker", "version"])
        info.add_metric([worker.name, str(getattr(worker, "version", ""))], 1)
        yield info
        errors = counter(
            "rq_command_channel_errors_total", "Incidents on the worker's command channel, by kind", labels=["kind"]
        )
        errors.add_metric(["connection"], channel.connection_errors)
        errors.add_metric(["listener"], channel.listener_errors)
        errors.add_metric(["bad_message"], channel.bad_messages)
        yield errors


def metrics_routes(metrics: WorkerMetrics) -> dict[str, Route]:
    """The ``/metrics`` route, for an ``HTTPEndpoint``."""

    def scrape(headers: Any) -> tuple[int, str, bytes]:
        content_type, body = metrics.exposition(headers.get("Accept") if headers is not None else None)
        return 200, content_type, body

    return {"/metrics": scrape}


class MetricsServer(HTTPEndpoint):
    """``/metrics`` of one worker; ``.metrics`` is its ``WorkerMetrics``."""

    def __init__(self, metrics: WorkerMetrics, host: str = DEFAULT_HTTP_HOST, port: int = 0) -> None:
        super().__init__(metrics_routes(metrics), host, port)
        self.metrics = metrics
        self.on_close(metrics.close)


def serve_metrics(worker: Any, host: str = DEFAULT_HTTP_HOST, port: int = 0) -> MetricsServer:
    """Count ``worker``'s jobs and serve them at ``/metrics`` until ``.close()``; call it before ``worker.work()``.

    Raises ``MetricsUnavailable`` (an ImportError) without prometheus_client, and OSError
    if ``host:port`` cannot be listened on.
    """
    metrics = WorkerMetrics(worker)
    try:
        return MetricsServer(metrics, host, port)
    except BaseException:
        metrics.close()
        raise
