"""A mixed fleet: upstream RQ 2.12.0 and this package sharing one Redis.

Jobs go both ways (upstream enqueues and our workers run them; we enqueue and upstream's
``rq worker`` runs them), each side reads what the other wrote, the raw Redis layout
written by both is compared key by key, and worker commands cross over. Upstream runs in
its own virtualenv (see ``peer.py``); the tests are skipped when it cannot be installed.

Run with ``python -m pytest -m interop tests/interop``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

import rq.worker
from tests.interop import scenarios, snapshot
from tests.interop.peer import check_cli, peer_rq_cli, run_peer_json
from tests.interop.processes import run_our_cli, wait_for
from tests.interop.scenarios import QUEUE, run_ours, with_vars

pytestmark = [
    pytest.mark.interop,
    # Python 3.12+ warns when a process with threads forks; the in-process forking worker does.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"),
    # The first test also builds the peer virtualenv (a pip install).
    pytest.mark.timeout(300),
]

OUR_WORKER = "interop-ours"
UPSTREAM_WORKER = "interop-upstream"
RESULT_TTL = 500  # worker default
FAILURE_TTL = 31536000  # default
# Seconds a TTL read after a run may be below the TTL that was set.
TTL_SLACK = 30
# Hash fields our worker records add for monitoring; upstream readers ignore unknown fields.
OUR_WORKER_EXTRA_FIELDS = {
    "connection_state",
    "outage_count",
    "last_error",
    "last_recovery",
    "pubsub_state",
    "pubsub_bad_messages",
    "pubsub_connection_errors",
    "pubsub_listener_errors",
    "pubsub_listener_restarts",
    "pubsub_recoveries",
    "pubsub_resubscribes",
}
# Counters our worker writes at birth (as 0); upstream adds them with the first finished job.
EARLY_WORKER_COUNTERS = {"successful_job_count", "failed_job_count", "total_working_time"}
ALLOWED_EXTRA_FIELDS = {"rq:worker:": OUR_WORKER_EXTRA_FIELDS | EARLY_WORKER_COUNTERS}


def peer(script: str, redis_url: str, **variables: Any) -> Any:
    return run_peer_json(with_vars(script, **variables), redis_url)


def ours(script: str, connection: redis.Redis, **variables: Any) -> Any:
    return run_ours(with_vars(script, **variables), connection)


def run_our_worker_in_process(connection: redis.Redis, worker_class: str, name: str = OUR_WORKER) -> None:
    worker = getattr(rq.worker, worker_class)([QUEUE], connection=connection, name=name)
    assert worker.work(burst=True), "our worker ran no job"


def run_upstream_burst_worker(redis_url: str, worker_class: str | None, name: str = UPSTREAM_WORKER) -> None:
    args = ["worker", "--burst", "--url", redis_url, "--name", name]
    if worker_class:
        args += ["--worker-class", f"rq.worker.{worker_class}"]
    check_cli(peer_rq_cli([*args, QUEUE], redis_url), "upstream `rq worker --burst`")


# ---- expectations shared by both directions ----------------------------------------------------


def expected_jobs(worker_name: str) -> dict[str, dict[str, Any]]:
    """What any reader must see for each job of ENQUEUE_ALL after a burst worker ran them.

    A deliberate difference: our workers record a RETRIED result for every attempt that
    ``Retry(max=...)`` runs again (upstream records none); upstream reads them fine.
    """
    failed = {"status": "failed", "return_value": None, "latest_result": "FAILED", "results": ["FAILED"]}
    ours_ran = worker_name == OUR_WORKER
    retried_results = ["FAILED", "RETRIED", "RETRIED"] if ours_ran else ["FAILED"]
    return {
        "ok": {"status": "finished", "return_value": 3, "latest_result": "SUCCESSFUL", "exc_last_line": None},
        "failing": {**failed, "exc_last_line": "interop_jobs.InteropError: boom"},
        "kwargs": {
            "status": "finished",
            "return_value": {"args": [1, "two"], "kwargs": {"x": 3, "nested": {"a": [1, 2]}}},
            "meta": {"owner": "interop", "n": 1},
            "description": "interop_jobs.echo(1, 'two', nested={'a': [1, 2]}, x=3)",
        },
        "ttls": {"status": "finished", "return_value": 5, "result_ttl": 120, "failure_ttl": 240, "timeout": 60},
        "failing_ttl": {**failed, "failure_ttl": 240, "exc_last_line": "interop_jobs.InteropError: short-lived"},
        "forever": {"status": "finished", "return_value": 10, "result_ttl": -1, "key_ttl": -1},
        # Retry(max=2): three runs, then failed.
        "retried": {
            **failed,
            "results": retried_results,
            "retries_left": 0,
            "exc_last_line": "interop_jobs.InteropError: always",
        },
        # Failed once, retry due in an hour: scheduled.
        "retried_later": {
            "status": "scheduled",
            "return_value": None,
            "latest_result": "RETRIED" if ours_ran else None,
            "results": ["RETRIED"] if ours_ran else [],
            "retries_left": 0,
        },
        "child": {"status": "finished", "return_value": 7, "dependency_ids": ["ok"]},
        # Its parent failed: it stays deferred, never run.
        "orphan": {
            "status": "deferred",
            "return_value": None,
            "latest_result": None,
            "results": [],
            "dependency_ids": ["failing"],
            "key_ttl": -1,
            "worker_name": None,  # upstream reads an empty field as None
        },
        "current": {
            "status": "finished",
            "return_value": {"id": "current", "origin": QUEUE, "meta": {"k": "v"}, "worker_name": worker_name},
        },
        "big": {"status": "finished", "return_value": {"length": 256 * 1024}},
        "touch": {"status": "finished", "return_value": {"touched": True}, "meta": {"touched": True}},
        "urgent": {"status": "finished", "return_value": {"args": ["first"], "kwargs": {}}},
        # Due in an hour; no scheduler ran.
        "later": {"status": "scheduled", "return_value": None, "results": [], "worker_name": None, "key_ttl": -1},
    }


# Job key TTLs (seconds) expected after the run; compared with TTL_SLACK.
EXPECTED_KEY_TTLS = {
    "ok": RESULT_TTL,
    "failing": FAILURE_TTL,
    "kwargs": RESULT_TTL,
    "ttls": 120,
    "failing_ttl": 240,
    "retried": FAILURE_TTL,
    "child": RESULT_TTL,
    "current": RESULT_TTL,
    "big": RESULT_TTL,
    "touch": RESULT_TTL,
    "urgent": RESULT_TTL,
}

EXPECTED_REGISTRIES = {
    "finished": sorted(["ok", "kwargs", "ttls", "forever", "child", "current", "big", "touch", "urgent"]),
    "failed": sorted(["failing", "failing_ttl", "retried"]),
    "deferred": ["orphan"],
    "started": [],
    "scheduled": ["later", "retried_later"],
}


def read_back_problems(readback: dict[str, Any], worker_name: str) -> list[str]:
    """Everything in a read-back that differs from what upstream semantics promise."""
    problems = []
    jobs = readback["jobs"]
    for job_id, expected in expected_jobs(worker_name).items():
        for field, value in expected.items():
            if jobs[job_id][field] != value:
                problems.append(f"{job_id}.{field}: expected {value!r}, read {jobs[job_id][field]!r}")
        got = jobs[job_id]
        if got["origin"] != QUEUE:
            problems.append(f"{job_id}.origin: {got['origin']!r}")
        if "timeout" not in expected and got["timeout"] != 180:
            problems.append(f"{job_id}.timeout: expected 180, read {got['timeout']!r}")
        if not got["timestamps_in_order"]:
            problems.append(f"{job_id}: timestamps out of order (created <= enqueued <= started <= ended)")
        if "worker_name" not in expected and got["worker_name"] != worker_name:
            problems.append(f"{job_id}.worker_name: expected {worker_name!r}, read {got['worker_name']!r}")
    for job_id, ttl in EXPECTED_KEY_TTLS.items():
        if not ttl - TTL_SLACK <= jobs[job_id]["key_ttl"] <= ttl:
            problems.append(f"{job_id}: key TTL {jobs[job_id]['key_ttl']}, expected about {ttl}")
    if readback["registries"] != EXPECTED_REGISTRIES:
        problems.append(f"registries: expected {EXPECTED_REGISTRIES}, read {readback['registries']}")
    if readback["queued"] != []:
        problems.append(f"queue not empty: {readback['queued']}")
    if readback["queues"] != [QUEUE]:
        problems.append(f"Queue.all: {readback['queues']}")
    return problems


def reader_differences(upstream_view: dict[str, Any], our_view: dict[str, Any]) -> list[str]:
    """Where our reading of the same data differs from upstream's (key TTLs tick, so ignored)."""
    problems = []
    for job_id, upstream_job in upstream_view["jobs"].items():
        for field, value in upstream_job.items():
            if field != "key_ttl" and our_view["jobs"][job_id][field] != value:
                problems.append(
                    f"readers differ on {job_id}.{field}: upstream {value!r}, ours {our_view['jobs'][job_id][field]!r}"
                )
    for field in ("registries", "queued", "queues"):
        if our_view[field] != upstream_view[field]:
            problems.append(f"readers differ on {field}: upstream {upstream_view[field]!r}, ours {our_view[field]!r}")
    return problems


# ---- jobs cross over ------------------------------------------------------------------------------


@pytest.mark.parametrize("worker_class", ["SimpleWorker", "Worker"])
def test_upstream_enqueues_our_worker_runs(upstream, redis_url, connection, worker_class):
    assert peer(scenarios.ENQUEUE_ALL, redis_url) == scenarios.ENQUEUED

    run_our_worker_in_process(connection, worker_class)

    upstream_view = peer(scenarios.READ_BACK, redis_url, JOB_IDS=scenarios.JOB_IDS)
    our_view = ours(scenarios.READ_BACK, connection, JOB_IDS=scenarios.JOB_IDS)
    problems = read_back_problems(upstream_view, OUR_WORKER) + reader_differences(upstream_view, our_view)
    assert not problems, "upstream reading what our worker did:\n" + "\n".join(problems)


@pytest.mark.parametrize("worker_class", [None, "SimpleWorker"], ids=["Worker", "SimpleWorker"])
def test_we_enqueue_upstream_worker_runs(upstream, redis_url, connection, worker_class):
    assert ours(scenarios.ENQUEUE_ALL, connection) == scenarios.ENQUEUED

    run_upstream_burst_worker(redis_url, worker_class)

    our_view = ours(scenarios.READ_BACK, connection, JOB_IDS=scenarios.JOB_IDS)
    upstream_view = peer(scenarios.READ_BACK, redis_url, JOB_IDS=scenarios.JOB_IDS)
    problems = read_back_problems(our_view, UPSTREAM_WORKER) + reader_differences(upstream_view, our_view)
    assert not problems, "our reading of what upstream's worker did:\n" + "\n".join(problems)


@pytest.mark.parametrize("direction", ["upstream-to-ours", "ours-to-upstream"])
def test_job_returning_retry_is_retried_then_fails(upstream, redis_url, connection, direction):
    """RQ 2.x: a job that returns ``Retry`` runs again until ``max``, then fails (result types 4, 4, 5)."""
    if direction == "upstream-to-ours":
        peer(scenarios.ENQUEUE_RETRY_REQUEST, redis_url, JOB_ID="asks")
        run_our_worker_in_process(connection, "SimpleWorker")
    else:
        ours(scenarios.ENQUEUE_RETRY_REQUEST, connection, JOB_ID="asks")
        run_upstream_burst_worker(redis_url, None)

    expected = {
        "status": "failed",
        "latest_result": "MAX_RETRIES_EXCEEDED",
        "results": ["MAX_RETRIES_EXCEEDED", "RETRIED", "RETRIED"],
        "number_of_retries": 2,
        "in_failed": True,
        "in_finished": False,
    }
    readings = {
        "upstream": peer(scenarios.JOB_STATE, redis_url, JOB_ID="asks"),
        "ours": ours(scenarios.JOB_STATE, connection, JOB_ID="asks"),
    }
    for reader, state in readings.items():
        assert {k: state[k] for k in expected} == expected, f"{reader} reader after {direction}: {state}"


@pytest.mark.parametrize("direction", ["upstream-to-ours", "ours-to-upstream"])
def test_scheduled_job_is_enqueued_by_the_other_sides_scheduler(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, direction
):
    """A job scheduled by one side is moved to its queue and run by the other side's worker."""
    if direction == "upstream-to-ours":
        scheduled = peer(scenarios.ENQUEUE_PAST_DUE, redis_url, JOB_ID="due")
        worker = start_our_worker(OUR_WORKER, with_scheduler=True)
    else:
        scheduled = ours(scenarios.ENQUEUE_PAST_DUE, connection, JOB_ID="due")
        worker = start_upstream_worker(UPSTREAM_WORKER, with_scheduler=True)
    assert scheduled == {"status": "scheduled", "scheduled": ["due"], "queued": []}

    wait_for(
        lambda: connection.hget("rq:job:due", "status") == b"finished",
        "the scheduled job to run",
        details=worker.output,
    )
    for state in (
        peer(scenarios.JOB_STATE, redis_url, JOB_ID="due"),
        ours(scenarios.JOB_STATE, connection, JOB_ID="due"),
    ):
        assert (state["status"], state["return_value"], state["in_finished"]) == ("finished", 42, True), state
    assert connection.zcard(f"rq:scheduled:{QUEUE}") == 0
    ours(scenarios.SEND_SHUTDOWN, connection, WORKER_NAME=worker.name)
    _assert_clean_exit(connection, worker)


def test_upstream_requeues_a_failure_of_our_worker(upstream, redis_url, connection):
    ours(scenarios.ENQUEUE_FLAKY, connection, COUNTER_KEY="interop:attempts", JOB_ID="flaky")
    run_our_worker_in_process(connection, "SimpleWorker")
    assert ours(scenarios.JOB_STATE, connection, JOB_ID="flaky")["status"] == "failed"

    check_cli(peer_rq_cli(["requeue", "--url", redis_url, "--queue", QUEUE, "--all"], redis_url), "rq requeue")
    assert ours(scenarios.JOB_STATE, connection, JOB_ID="flaky")["queued"] == ["flaky"]

    run_our_worker_in_process(connection, "SimpleWorker")
    state = peer(scenarios.JOB_STATE, redis_url, JOB_ID="flaky")
    assert (state["status"], state["return_value"], state["in_finished"], state["in_failed"]) == (
        "finished",
        2,
        True,
        False,
    ), state


def test_we_requeue_a_failure_of_upstream_worker(upstream, redis_url, connection):
    peer(scenarios.ENQUEUE_FLAKY, redis_url, COUNTER_KEY="interop:attempts", JOB_ID="flaky")
    run_upstream_burst_worker(redis_url, None)
    assert ours(scenarios.JOB_STATE, connection, JOB_ID="flaky")["status"] == "failed"

    assert ours(scenarios.REQUEUE_FAILED, connection, JOB_ID="flaky") == "flaky"
    assert peer(scenarios.JOB_STATE, redis_url, JOB_ID="flaky")["queued"] == ["flaky"]

    run_upstream_burst_worker(redis_url, None)
    state = ours(scenarios.JOB_STATE, connection, JOB_ID="flaky")
    assert (state["status"], state["return_value"], state["in_finished"], state["in_failed"]) == (
        "finished",
        2,
        True,
        False,
    ), state


@pytest.mark.parametrize("direction", ["upstream-to-ours", "ours-to-upstream"])
def test_pickled_rq_objects_load_on_the_other_side(upstream, redis_url, connection, direction):
    """Pickles name classes by module path: ours must name modules upstream 2.12 has, and vice versa."""
    if direction == "upstream-to-ours":
        loaded = ours(scenarios.LOAD_PICKLES, connection, PICKLES=peer(scenarios.PICKLE_RQ_OBJECTS, redis_url))
    else:
        loaded = peer(scenarios.LOAD_PICKLES, redis_url, PICKLES=ours(scenarios.PICKLE_RQ_OBJECTS, connection))
    assert loaded == dict.fromkeys(("Retry", "Repeat", "Callback", "Dependency", "JobStatus"), "ok")


# ---- raw Redis layout ------------------------------------------------------------------------------


def test_enqueue_layout_matches_upstream(upstream, redis_url, connection):
    peer(scenarios.ENQUEUE_ALL, redis_url)
    upstream_layout = snapshot.describe(snapshot.take(connection), [])
    connection.flushdb()
    ours(scenarios.ENQUEUE_ALL, connection)
    our_layout = snapshot.describe(snapshot.take(connection), [])

    problems = snapshot.compare(upstream_layout, our_layout)
    assert not problems, "enqueue layout differs from upstream:\n" + "\n".join(problems)


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_worker_layout_matches_upstream(upstream, redis_url, connection, worker_class):
    """Upstream enqueues both times, so only the worker's writes differ."""
    peer(scenarios.ENQUEUE_ALL, redis_url)
    run_upstream_burst_worker(redis_url, worker_class)
    upstream_layout = snapshot.describe(snapshot.take(connection, [UPSTREAM_WORKER]), [UPSTREAM_WORKER])
    connection.flushdb()
    peer(scenarios.ENQUEUE_ALL, redis_url)
    run_our_worker_in_process(connection, worker_class)
    our_layout = without_retried_attempt_results(
        snapshot.describe(snapshot.take(connection, [OUR_WORKER]), [OUR_WORKER])
    )

    problems = snapshot.compare(upstream_layout, our_layout, ALLOWED_EXTRA_FIELDS)
    assert not problems, "layout after a burst run differs from upstream:\n" + "\n".join(problems)


def without_retried_attempt_results(layout: dict[str, Any]) -> dict[str, Any]:
    """Our layout minus the RETRIED (type 4) results of ``Retry(max=...)`` attempts, which
    upstream does not write (a deliberate, upstream-readable difference)."""
    cleaned = {}
    for key, (kind, ttl, value) in layout.items():
        if kind == "stream" and isinstance(value, list):
            value = [e for e in value if not (e.get("type") == "4" and "return_value" not in e.get("<fields>", ()))]
            if not value:
                continue
        cleaned[key] = (kind, ttl, value)
    return cleaned


def _job_is_running(connection: redis.Redis, worker_name: str, job_id: str) -> bool:
    return (
        connection.hget(f"rq:job:{job_id}", "status") == b"started"
        and connection.hget(f"rq:worker:{worker_name}", "current_job") == job_id.encode()
        and connection.zcard(f"rq:wip:{QUEUE}") == 1
        and connection.llen(f"rq:queue:{QUEUE}:intermediate") == 0
    )


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_running_job_layout_matches_upstream(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, worker_class
):
    """While a job runs: started registry member, execution keys, worker and job hashes."""
    layouts = {}
    for side, start, name in (
        ("upstream", start_upstream_worker, UPSTREAM_WORKER),
        ("ours", start_our_worker, OUR_WORKER),
    ):
        connection.flushdb()
        peer(scenarios.ENQUEUE_HELD, redis_url, RELEASE_KEY="interop:release", JOB_ID="held")
        worker = start(name, worker_class=worker_class, burst=True)
        wait_for(
            lambda name=name: _job_is_running(connection, name, "held"),
            f"{side} worker to start the job",
            details=worker.output,
        )
        layouts[side] = snapshot.describe(snapshot.take(connection, [name]), [name])
        connection.set("interop:release", 1)
        assert worker.wait_for_exit() == 0, worker.output()

    problems = snapshot.compare(layouts["upstream"], layouts["ours"], ALLOWED_EXTRA_FIELDS)
    assert not problems, "layout while a job runs differs from upstream:\n" + "\n".join(problems)


# ---- workers see each other ---------------------------------------------------------------------


def _enqueue_and_wait_idle(connection: redis.Redis, worker) -> None:
    """Give both queues a job (so they are registered queues), and let the worker finish them."""
    ours(scenarios.ENQUEUE_SEEDS, connection)
    wait_for(
        lambda: all(connection.hget(f"rq:job:seed_{q}", "status") == b"finished" for q in (QUEUE, "other")),
        f"{worker.side} worker to run the seed jobs",
        details=worker.output,
    )
    worker.wait_until_listening(connection)


def _check_listing(listing: dict[str, Any], name: str, pid: int, version_prefix: str) -> None:
    [worker] = listing["workers"]
    assert worker["name"] == name
    assert worker["queues"] == [QUEUE, "other"]
    assert worker["state"] == "idle"
    assert worker["pid"] == pid
    assert worker["version"].startswith(version_prefix)
    assert worker["has_birth"] and worker["has_heartbeat"]
    assert worker["current_job_id"] is None
    assert listing["per_queue"] == {QUEUE: 1, "other": 1, "absent": 0}
    assert listing["queues"] == ["interop", "other"]


def test_upstream_lists_our_worker(upstream, redis_url, connection, start_our_worker):
    worker = start_our_worker(OUR_WORKER, queues=(QUEUE, "other"))
    _enqueue_and_wait_idle(connection, worker)

    listing = peer(scenarios.LIST_WORKERS, redis_url, QUEUES=[QUEUE, "other", "absent"])
    _check_listing(listing, OUR_WORKER, worker.process.pid, "2.12.0")

    info = check_cli(peer_rq_cli(["info", "--url", redis_url], redis_url), "upstream `rq info`").stdout
    assert OUR_WORKER in info and "idle" in info, info
    assert "1 workers, 2 queues" in info, info


def test_we_list_upstream_worker(upstream, redis_url, connection, start_upstream_worker, tmp_path):
    worker = start_upstream_worker(UPSTREAM_WORKER, queues=(QUEUE, "other"))
    _enqueue_and_wait_idle(connection, worker)

    listing = ours(scenarios.LIST_WORKERS, connection, QUEUES=[QUEUE, "other", "absent"])
    _check_listing(listing, UPSTREAM_WORKER, worker.process.pid, "2.12.0")

    ours_info = run_our_cli(["info", "--url", redis_url], tmp_path)
    upstream_info = check_cli(peer_rq_cli(["info", "--url", redis_url], redis_url), "upstream `rq info`").stdout
    assert _without_clock(ours_info) == _without_clock(upstream_info), f"ours:\n{ours_info}\nupstream:\n{upstream_info}"


# Our ``rq info`` adds these two counts to each queue line (a documented extension).
_EXTRA_QUEUE_COUNTS = re.compile(r", \d+ scheduled, \d+ deferred$")


def _without_clock(info: str) -> list[str]:
    """``rq info`` lines, sorted (upstream lists queues in Redis set order), minus "Updated: <time>"."""
    lines = [_EXTRA_QUEUE_COUNTS.sub("", line) for line in info.splitlines() if not line.startswith("Updated:")]
    return sorted(lines)


# ---- commands cross over ------------------------------------------------------------------------


def _assert_clean_exit(connection: redis.Redis, worker) -> None:
    assert worker.wait_for_exit() == 0, worker.output()
    assert not connection.sismember("rq:workers", worker.key), "worker still registered after exit"
    assert connection.hget(worker.key, "death"), "worker did not record its death"


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_upstream_shutdown_command_stops_our_worker(upstream, redis_url, connection, start_our_worker, worker_class):
    worker = start_our_worker(OUR_WORKER, worker_class=worker_class)
    worker.wait_until_listening(connection)

    peer(scenarios.SEND_SHUTDOWN, redis_url, WORKER_NAME=OUR_WORKER)

    _assert_clean_exit(connection, worker)


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_our_shutdown_command_stops_upstream_worker(
    upstream, redis_url, connection, start_upstream_worker, worker_class
):
    worker = start_upstream_worker(UPSTREAM_WORKER, worker_class=worker_class)
    worker.wait_until_listening(connection)

    ours(scenarios.SEND_SHUTDOWN, connection, WORKER_NAME=UPSTREAM_WORKER)

    _assert_clean_exit(connection, worker)


@pytest.mark.parametrize("direction", ["upstream-to-ours", "ours-to-upstream"])
def test_shutdown_command_lets_the_running_job_finish(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, direction
):
    if direction == "upstream-to-ours":
        worker, send = start_our_worker(OUR_WORKER), lambda s, **v: peer(s, redis_url, **v)
    else:
        worker, send = start_upstream_worker(UPSTREAM_WORKER), lambda s, **v: ours(s, connection, **v)
    worker.wait_until_listening(connection)
    ours(scenarios.ENQUEUE_HELD, connection, RELEASE_KEY="interop:release", JOB_ID="held")
    wait_for(lambda: _job_is_running(connection, worker.name, "held"), "the job to start", details=worker.output)

    send(scenarios.SEND_SHUTDOWN, WORKER_NAME=worker.name)
    wait_for(
        lambda: connection.hget(worker.key, "shutdown_requested_date"),
        "the worker to record the shutdown request",
        details=worker.output,
    )
    assert worker.process.poll() is None, "worker quit before its job finished\n" + worker.output()
    connection.set("interop:release", 1)

    _assert_clean_exit(connection, worker)
    state = send(scenarios.JOB_STATE, JOB_ID="held")
    assert (state["status"], state["return_value"]) == ("finished", "done"), state


@pytest.mark.parametrize("direction", ["upstream-to-ours", "ours-to-upstream"])
def test_stop_job_command_crosses_over(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, direction
):
    if direction == "upstream-to-ours":
        worker, send = start_our_worker(OUR_WORKER), lambda s, **v: peer(s, redis_url, **v)
    else:
        worker, send = start_upstream_worker(UPSTREAM_WORKER), lambda s, **v: ours(s, connection, **v)
    worker.wait_until_listening(connection)
    ours(scenarios.ENQUEUE_HELD, connection, RELEASE_KEY="interop:never", JOB_ID="held")
    wait_for(lambda: _job_is_running(connection, worker.name, "held"), "the job to start", details=worker.output)

    send(scenarios.SEND_STOP_JOB, JOB_ID="held")

    wait_for(
        lambda: connection.hget("rq:job:held", "status") == b"stopped", "the job to be stopped", details=worker.output
    )
    worker.wait_until_listening(connection)  # back to idle, still serving
    for read in (lambda s, **v: peer(s, redis_url, **v), lambda s, **v: ours(s, connection, **v)):
        state = read(scenarios.JOB_STATE, JOB_ID="held")
        assert state["status"] == "stopped", state
        assert state["in_failed"] and not state["in_started"], state
        assert state["latest_result"] == "FAILED", state
        assert state["exc_last_line"] == "Job stopped by user, work-horse terminated.", state
    send(scenarios.SEND_SHUTDOWN, WORKER_NAME=worker.name)
    _assert_clean_exit(connection, worker)


# ---- shared maintenance and suspension ---------------------------------------------------------


def _sides(direction: str, start_our_worker, start_upstream_worker, redis_url, connection):
    """(start the first side's worker, start the second side's worker, run a scenario on the second side)."""
    if direction == "upstream-then-ours":
        return (
            lambda **kw: start_upstream_worker(UPSTREAM_WORKER, **kw),
            lambda **kw: start_our_worker(OUR_WORKER, **kw),
            lambda script, **v: ours(script, connection, **v),
        )
    return (
        lambda **kw: start_our_worker(OUR_WORKER, **kw),
        lambda **kw: start_upstream_worker(UPSTREAM_WORKER, **kw),
        lambda script, **v: peer(script, redis_url, **v),
    )


@pytest.mark.parametrize("direction", ["upstream-then-ours", "ours-then-upstream"])
def test_maintenance_leaves_the_other_sides_running_job_alone(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, direction
):
    """A worker starting next to a busy one cleans registries without touching its job."""
    start_first, start_second, read = _sides(direction, start_our_worker, start_upstream_worker, redis_url, connection)
    first = start_first()
    first.wait_until_listening(connection)
    ours(scenarios.ENQUEUE_HELD, connection, RELEASE_KEY="interop:release", JOB_ID="held")
    wait_for(lambda: _job_is_running(connection, first.name, "held"), "the job to start", details=first.output)

    second = start_second(burst=True)  # runs maintenance on the same queue, finds no job, quits
    assert second.wait_for_exit() == 0, second.output()
    state = read(scenarios.JOB_STATE, JOB_ID="held")
    assert (state["status"], state["in_started"], state["in_failed"]) == ("started", True, False), state

    connection.set("interop:release", 1)
    wait_for(lambda: connection.hget("rq:job:held", "status") == b"finished", "the job to finish", details=first.output)
    ours(scenarios.SEND_SHUTDOWN, connection, WORKER_NAME=first.name)
    _assert_clean_exit(connection, first)


@pytest.mark.parametrize("direction", ["upstream-then-ours", "ours-then-upstream"])
def test_abandoned_job_is_failed_by_the_other_sides_maintenance(
    upstream, redis_url, connection, start_our_worker, start_upstream_worker, direction
):
    """A worker dies mid-job; once its started-registry entry expires, the other side fails the job."""
    start_first, start_second, read = _sides(direction, start_our_worker, start_upstream_worker, redis_url, connection)
    first = start_first(worker_class="SimpleWorker")  # the job runs in the worker process itself
    first.wait_until_listening(connection)
    ours(scenarios.ENQUEUE_HELD, connection, RELEASE_KEY="interop:never", JOB_ID="held")
    wait_for(lambda: _job_is_running(connection, first.name, "held"), "the job to start", details=first.output)
    first.kill()  # no chance to record anything
    # Let the entry expire now instead of after its heartbeat TTL.
    [member] = connection.zrange(f"rq:wip:{QUEUE}", 0, -1)
    connection.zadd(f"rq:wip:{QUEUE}", {member: 1})

    second = start_second(burst=True)
    assert second.wait_for_exit() == 0, second.output()

    state = read(scenarios.JOB_STATE, JOB_ID="held")
    assert (state["status"], state["in_started"], state["in_failed"]) == ("failed", False, True), state
    assert state["latest_result"] == "FAILED", state
    assert "AbandonedJobError" in (state["exc_last_line"] or ""), state


@pytest.mark.parametrize("direction", ["upstream-suspends", "we-suspend"])
def test_suspension_is_shared(upstream, redis_url, connection, direction):
    """``rq suspend`` from either side pauses the other side's workers; resume lets them go on."""
    ours(scenarios.ENQUEUE_FLAKY, connection, COUNTER_KEY="interop:attempts", JOB_ID="waiting")
    if direction == "upstream-suspends":
        check_cli(peer_rq_cli(["suspend", "--url", redis_url], redis_url), "upstream `rq suspend`")
        worker = rq.worker.SimpleWorker([QUEUE], connection=connection, name=OUR_WORKER)
        assert not worker.work(burst=True), "our worker ran a job while suspended"
        assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"waiting"]
        check_cli(peer_rq_cli(["resume", "--url", redis_url], redis_url), "upstream `rq resume`")
        run_our_worker_in_process(connection, "SimpleWorker")
    else:
        ours(scenarios.SUSPEND, connection)
        args = ["worker", "--burst", "--url", redis_url, "--name", UPSTREAM_WORKER, QUEUE]
        refused = peer_rq_cli(args, redis_url)  # upstream's CLI refuses to start while suspended
        assert "RQ is currently suspended" in refused.stdout, refused.stdout + refused.stderr
        assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"waiting"], "upstream ran a job while suspended"
        ours(scenarios.RESUME, connection)
        run_upstream_burst_worker(redis_url, None)
    assert connection.hget("rq:job:waiting", "status") == b"failed"  # ran once: its first attempt fails
