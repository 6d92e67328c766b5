"""rq.health: /livez and /readyz over real HTTP, Redis going away and back, and ``rq health``."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest

from rq import Queue, SimpleWorker
from rq.cli import main
from rq.health import LIVENESS_WINDOW, check_worker_record, serve_health
from rq.layout import format_ts, utcnow
from rq.suspension import resume, suspend
from tests import jobs
from tests.cli.support import cli_runner, run_rq, start_rq, stop_process
from tests.helpers import ThreadWorker, wait_for
from tests.redis_harness import find_free_port

# Never wait on a proxy from the environment for a loopback address.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    """(status, body) of one real HTTP request."""
    request = urllib.request.Request(url, method=method)
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def probe(base_url: str, path: str) -> tuple[int, dict[str, Any]]:
    status, body = fetch(base_url + path)
    return status, json.loads(body)


def test_readyz_follows_redis_away_and_back(restartable_redis) -> None:
    server = restartable_redis
    connection = server.client()
    worker = SimpleWorker(["default"], name="probed", connection=connection)
    # A check interval of an hour: the background checker probes once at start, then the
    # test runs each check itself, so "one check after the change" is exact.
    with serve_health(worker, check_interval=3600) as health, ThreadWorker(worker):
        wait_for(lambda: health.checker.probes >= 1, message="the first Redis check")
        # Registration and the subscription happen in the worker's thread; wait for both.
        wait_for(lambda: probe(health.url, "/readyz")[0] == 200, message="readiness after start-up")
        status, body = probe(health.url, "/readyz")
        assert body["status"] == "ok" and body["worker"] == "probed"
        assert set(body["checks"]) == {"redis", "command_channel", "state"}
        assert all(check["ok"] for check in body["checks"].values())
        status, body = probe(health.url, "/livez")
        assert status == 200 and body["checks"]["main_loop"]["ok"]

        server.stop()
        health.checker.check_now()  # the first check after Redis went away
        status, body = probe(health.url, "/readyz")
        assert status == 503 and body["status"] == "fail"
        assert body["checks"]["redis"]["ok"] is False
        assert "ConnectionError" in body["checks"]["redis"]["detail"]
        status, body = probe(health.url, "/livez")
        assert status == 200, "a Redis outage must not make the worker unlive"

        server.start()
        assert health.checker.check_now()  # the first check after Redis came back
        assert probe(health.url, "/readyz")[1]["checks"]["redis"]["ok"] is True
        # The command channel reconnects with its own backoff; readiness waits for it.
        wait_for(lambda: probe(health.url, "/readyz")[0] == 200, timeout=45, message="readiness after the restart")


def test_readyz_reports_suspension(connection) -> None:
    worker = SimpleWorker(["default"], name="suspended", connection=connection)
    with serve_health(worker, check_interval=0.2) as health, ThreadWorker(worker):
        wait_for(lambda: probe(health.url, "/readyz")[0] == 200, message="ready")
        suspend(connection)
        wait_for(lambda: worker.get_state() == "suspended", message="the worker to notice the suspension")
        status, body = probe(health.url, "/readyz")
        assert status == 503
        assert body["checks"]["state"] == {"ok": False, "detail": "suspended, run `rq resume` to resume"}
        assert probe(health.url, "/livez")[0] == 200
        resume(connection)
        wait_for(lambda: probe(health.url, "/readyz")[0] == 200, message="ready after rq resume")


def test_liveness_of_the_main_loop(connection) -> None:
    worker = SimpleWorker(["default"], name="stalled", connection=connection)
    with serve_health(worker, check_interval=3600) as health:
        checker = health.checker
        assert probe(health.url, "/livez")[0] == 200
        worker.last_loop_at -= LIVENESS_WINDOW + 5
        status, body = probe(health.url, "/livez")
        assert status == 503
        assert body["checks"]["main_loop"]["detail"].startswith("main loop silent for")
        assert body["checks"]["process"]["ok"] is True

        # The main loop retrying Redis (a new error since the last check) counts as alive.
        checker.check_now()
        worker.connection_outage.failed(ConnectionError("gone"))
        checker.check_now()
        assert probe(health.url, "/livez")[0] == 200
        checker._retrying_at -= LIVENESS_WINDOW + 5

        # A SimpleWorker runs its job in the main loop: alive while the job is within its time limit.
        job = Queue("default", connection=connection).enqueue(jobs.sleep_for, 1, job_timeout=100)
        worker._state, worker._current = "busy", (job, None)
        job.started_at = utcnow() - timedelta(seconds=120)
        assert checker.liveness()["status"] == "ok"
        job.started_at = utcnow() - timedelta(seconds=170)
        assert "more than its time limit" in checker.liveness()["checks"]["main_loop"]["detail"]
        job.timeout = -1
        assert checker.liveness()["status"] == "ok"


def test_unknown_paths_and_head_requests(connection) -> None:
    worker = SimpleWorker(["default"], connection=connection)
    with serve_health(worker, check_interval=3600) as health:
        status, body = fetch(health.url + "/metrics")
        assert status == 404 and b"/livez" in body
        status, body = fetch(health.url + "/livez?verbose=1", method="HEAD")
        assert status == 200 and body == b""


def test_a_port_in_use_is_an_error(connection, redis_url) -> None:
    worker = SimpleWorker(["default"], connection=connection)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"Cannot serve HTTP on 127.0.0.1:{port}"):
            serve_health(worker, port=port)
        result = run_rq("worker", "--url", redis_url, "--health-port", str(port), "default")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and f"Cannot serve HTTP on 127.0.0.1:{port}" in result.stderr
    assert not connection.keys("rq:worker:*"), "no worker may start without the endpoint it was asked for"


# ---- rq health ------------------------------------------------------------------------------


def rq(*args: str) -> Any:
    return cli_runner().invoke(main, list(args))


def test_rq_health_of_a_live_worker(connection, redis_url) -> None:
    worker = SimpleWorker(["default"], name="alive", connection=connection)
    with ThreadWorker(worker):
        result = rq("health", "--url", redis_url, "alive")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("Worker alive is healthy: idle, last heartbeat")
        result = rq("worker-health", "--url", redis_url, "--json", "rq:worker:alive")
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert found["healthy"] is True and found["problems"] == []
        assert found["name"] == "alive" and found["pubsub_state"] == "ok" and found["connection_state"] == "ok"


def test_rq_health_of_an_unknown_worker(redis_url) -> None:
    result = rq("health", "--url", redis_url, "nobody")
    assert result.exit_code == 1
    assert result.output == "Worker nobody: no worker named 'nobody' in Redis (never started, or its record expired)\n"
    result = rq("health", "--url", redis_url, "--json", "nobody")
    assert result.exit_code == 1 and json.loads(result.output)["found"] is False


def test_rq_health_of_a_stopped_worker(connection, redis_url) -> None:
    with ThreadWorker(SimpleWorker(["default"], name="gone", connection=connection)):
        pass
    result = rq("health", "--url", redis_url, "gone")
    assert result.exit_code == 1
    assert result.output.startswith("Worker gone: worker exited at ")


def test_rq_health_of_stale_and_deaf_workers(connection, redis_url) -> None:
    old = format_ts(utcnow() - timedelta(minutes=10))
    connection.hset("rq:worker:stale", mapping={"state": "idle", "last_heartbeat": old, "pubsub_state": "ok"})
    result = rq("health", "--url", redis_url, "stale")
    assert result.exit_code == 1
    assert result.output == "Worker stale: last heartbeat 600s ago (limit 480s)\n"
    assert rq("health", "--url", redis_url, "--max-heartbeat-age", "900", "stale").exit_code == 0

    # A busy SimpleWorker does not heartbeat during its job; the TTL it gave its record covers it.
    connection.hset("rq:worker:stale", "state", "busy")
    connection.expire("rq:worker:stale", 3600)
    assert rq("health", "--url", redis_url, "stale").exit_code == 0

    now = format_ts(utcnow())
    since = f"reconnecting since {utcnow().timestamp() - 30:.0f}"
    connection.hset("rq:worker:deaf", mapping={"state": "idle", "last_heartbeat": now, "pubsub_state": since})
    found = check_worker_record(connection, "deaf")
    assert not found.healthy and found.problems[0].startswith("command channel reconnecting for")


def test_rq_health_without_redis() -> None:
    url = f"redis://127.0.0.1:{find_free_port()}/0"
    result = rq("health", "--url", url, "--timeout", "1", "anyone")
    assert result.exit_code == 3, "unknown, not unhealthy"
    assert result.stderr.startswith(f"Error: Could not connect to Redis at {url}: ")


# ---- rq worker --health-port --metrics-port ---------------------------------------------------


def test_rq_worker_serves_health_and_metrics(restartable_redis, tmp_path) -> None:
    pytest.importorskip("prometheus_client")
    server = restartable_redis
    connection = server.client()
    Queue("default", connection=connection).enqueue(jobs.say_hello)
    health_port, metrics_port = find_free_port(), find_free_port()
    output = tmp_path / "worker.log"
    process = start_rq(
        "worker", "--url", server.url, "--name", "served",
        "--health-port", str(health_port), "--health-check-interval", "0.2",
        "--metrics-port", str(metrics_port), "default",
        output=output,
    )  # fmt: skip
    health, metrics = f"http://127.0.0.1:{health_port}", f"http://127.0.0.1:{metrics_port}"

    def answers(url: str) -> int:
        assert process.poll() is None, output.read_text()
        try:
            return fetch(url)[0]
        except OSError:
            return 0  # not listening yet

    def scrape() -> str:
        return fetch(metrics + "/metrics")[1].decode()

    try:
        wait_for(lambda: answers(health + "/readyz") == 200, timeout=30, message="readiness of rq worker")
        assert answers(health + "/livez") == 200
        wait_for(lambda: 'rq_jobs_finished_total{queue="default"} 1.0' in scrape(), message="the job in the metrics")
        body = scrape()
        assert "rq_redis_up 1.0" in body and 'rq_queue_depth{queue="default"} 0.0' in body

        server.stop()
        wait_for(lambda: answers(health + "/readyz") == 503, timeout=20, message="readiness to fail")
        assert answers(health + "/livez") == 200
        assert "rq_redis_up 0.0" in scrape()
        server.start()
        wait_for(lambda: answers(health + "/readyz") == 200, timeout=45, message="readiness after the restart")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, output.read_text()
    finally:
        stop_process(process)
    log = output.read_text()
    assert f"serving /livez, /readyz on http://127.0.0.1:{health_port}" in log
    assert f"serving /metrics on http://127.0.0.1:{metrics_port}" in log


def test_worker_arguments_serve_the_endpoints(connection):
    import json
    import urllib.request

    from rq import SimpleWorker
    from tests.helpers import ThreadWorker

    worker = SimpleWorker(["q"], connection=connection, health_port=0)
    with ThreadWorker(worker):
        endpoint = worker._http_endpoints[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/livez", timeout=5) as response:
            assert response.status == 200 and json.loads(response.read())["status"] == "ok"
    assert worker._http_endpoints == []
