"""rq.metrics: Prometheus metrics of a worker, scraped over real HTTP."""

from __future__ import annotations

import sys
import threading
from typing import Any, Optional

import click
import pytest

from rq import Queue, Retry, SimpleWorker, Worker
from rq.cli.health_command import serve_endpoints
from rq.metrics import MetricsUnavailable, WorkerMetrics, serve_metrics
from tests import jobs
from tests.helpers import ThreadWorker, wait_for
from tests.test_health import fetch

try:
    import prometheus_client
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the tests that need it are skipped; the one that checks the error message runs
    prometheus_client = None

needs_prometheus = pytest.mark.skipif(prometheus_client is None, reason="needs prometheus_client (rq[metrics])")
# Python 3.12+ warns about fork() in a process with threads (the test's worker, server and listener).
FORK_IN_THREADS = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """GET /metrics; every sample as {(name, sorted labels): value}."""
    status, body = fetch(url + "/metrics")
    assert status == 200, body
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> Optional[float]:
    return samples.get((name, tuple(sorted(labels.items()))))


def run_burst(worker: Any) -> None:
    """Run ``worker.work(burst=True)`` in a thread (no signal handlers there) until it is done."""
    thread = threading.Thread(target=worker.work, kwargs={"burst": True}, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the burst worker did not finish"


@needs_prometheus
@pytest.mark.parametrize(
    "worker_class", [pytest.param(SimpleWorker, id="simple"), pytest.param(Worker, id="forking", marks=FORK_IN_THREADS)]
)
def test_counts_match_the_jobs_run(connection, worker_class) -> None:
    queue = Queue("work", connection=connection)
    for number in range(3):
        queue.enqueue(jobs.add, number, 1)
    for _ in range(2):
        queue.enqueue(jobs.fail)
    queue.enqueue(jobs.fail, retry=Retry(max=1))  # fails, is retried once, fails for good
    worker = worker_class([queue], name=f"counted-{worker_class.__name__}", connection=connection)
    with serve_metrics(worker) as server:
        run_burst(worker)
        samples = scrape(server.url)

    assert value(samples, "rq_jobs_started_total", queue="work") == 7
    assert value(samples, "rq_jobs_finished_total", queue="work") == 3
    assert value(samples, "rq_jobs_failed_total", queue="work") == 3
    assert value(samples, "rq_jobs_retried_total", queue="work") == 1
    for outcome, count in (("finished", 3), ("failed", 3), ("retried", 1)):
        assert value(samples, "rq_job_duration_seconds_count", queue="work", outcome=outcome) == count
        assert value(samples, "rq_job_duration_seconds_bucket", queue="work", outcome=outcome, le="+Inf") == count
    # The same story as the worker's own counters (which count a retried attempt as failed).
    assert worker.successful_job_count == 3
    assert worker.failed_job_count == 3 + 1
    assert len(queue.failed_job_registry) == 3
    assert value(samples, "rq_queue_depth", queue="work") == 0
    assert value(samples, "rq_worker_busy") == 0


@needs_prometheus
def test_queue_depth_and_connection_counters_through_an_outage(restartable_redis) -> None:
    server = restartable_redis
    connection = server.client()
    first, second = Queue("first", connection=connection), Queue("second", connection=connection)
    for _ in range(2):
        first.enqueue(jobs.say_hello)
    second.enqueue(jobs.say_hello)
    worker = SimpleWorker([first, second], name="depths", connection=connection)
    with serve_metrics(worker) as metrics:
        samples = scrape(metrics.url)
        assert value(samples, "rq_redis_up") == 1
        assert value(samples, "rq_queue_depth", queue="first") == 2
        assert value(samples, "rq_queue_depth", queue="second") == 1
        assert value(samples, "rq_worker_info", worker="depths", version=worker.version) == 1

        with ThreadWorker(worker):
            wait_for(lambda: worker.successful_job_count == 3, message="the three jobs")
            assert value(scrape(metrics.url), "rq_queue_depth", queue="first") == 0

            server.stop()
            samples = scrape(metrics.url)  # still answers, without the depths it cannot read
            assert value(samples, "rq_redis_up") == 0
            assert not [key for key in samples if key[0] == "rq_queue_depth"]
            wait_for(lambda: worker.connection_outage.active, message="the worker to see the outage")
            assert value(scrape(metrics.url), "rq_redis_outage_active") == 1

            server.start()
            wait_for(lambda: not worker.connection_outage.active, timeout=45, message="the worker to reconnect")
            samples = scrape(metrics.url)
            assert value(samples, "rq_redis_up") == 1
            assert value(samples, "rq_redis_outage_active") == 0
            assert value(samples, "rq_redis_reconnects_total") == worker.connection_outage.count >= 1
            assert value(samples, "rq_redis_errors_total") == worker.connection_outage.errors >= 1
            channel = worker.command_channel
            assert value(samples, "rq_command_listener_restarts_total") == channel.listener_restarts
            assert value(samples, "rq_command_channel_errors_total", kind="connection") == channel.connection_errors


@needs_prometheus
def test_busy_gauge_while_a_job_runs(connection) -> None:
    queue = Queue("slow", connection=connection)
    worker = SimpleWorker([queue], name="busy", connection=connection)
    with serve_metrics(worker) as metrics, ThreadWorker(worker):
        assert value(scrape(metrics.url), "rq_worker_busy") == 0
        queue.enqueue(jobs.sleep_for, 1.5)
        wait_for(lambda: value(scrape(metrics.url), "rq_worker_busy") == 1, message="busy")
        wait_for(lambda: worker.successful_job_count == 1, message="the job to finish")
        assert value(scrape(metrics.url), "rq_worker_busy") == 0


@needs_prometheus
def test_each_worker_has_its_own_registry(connection) -> None:
    workers = [SimpleWorker(["q"], name=f"own-{n}", connection=connection) for n in range(2)]
    metrics = [WorkerMetrics(worker) for worker in workers]
    try:
        assert metrics[0].registry is not metrics[1].registry
        assert prometheus_client.REGISTRY.get_sample_value("rq_jobs_started_total", {"queue": "q"}) is None
        content_type, body = metrics[0].exposition("application/openmetrics-text")
        assert content_type.startswith("application/openmetrics-text")
        assert b'rq_worker_info{version="' in body and body.endswith(b"# EOF\n")
    finally:
        for item in metrics:
            item.close()


@needs_prometheus
def test_health_and_metrics_can_share_a_port(connection) -> None:
    worker = SimpleWorker(["q"], name="shared", connection=connection)
    endpoints = serve_endpoints(worker, 0, "127.0.0.1", 3600, 0, "127.0.0.1")
    try:
        assert len(endpoints) == 1
        url = endpoints[0].url
        assert fetch(url + "/livez")[0] == 200
        assert value(scrape(url), "rq_worker_busy") == 0
    finally:
        for endpoint in endpoints:
            endpoint.close()


def test_without_prometheus_client(connection, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    worker = SimpleWorker(["q"], connection=connection)
    # The hint names prometheus_client itself: `pip install 'rq[metrics]'` would install PyPI's rq over this package.
    with pytest.raises(MetricsUnavailable, match=r"pip install prometheus_client$"):
        serve_metrics(worker)
    with pytest.raises(click.ClickException, match="prometheus_client"):
        serve_endpoints(worker, None, "127.0.0.1", 5, 0, "127.0.0.1")
