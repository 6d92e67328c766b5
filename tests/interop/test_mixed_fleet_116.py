"""A mixed fleet with RQ 1.16.2, where its data layout allows.

RQ 1.16 keeps jobs, queues, results, workers, commands and registries the way 2.x does,
with a few exceptions: its started registry holds bare job ids (2.x: ``<id>:<execution
id>``), its scheduler lock holds a PID (2.x: the scheduler's name), and it knows no
``created`` status, no execution keys, and only result types 1-3. The tests below show
what crosses over, and mark each place where one of those differences stops a
cross-over as an expected failure (``xfail(strict=True)``), so the limit is on record and
any change to it is noticed. RQ 1.16 runs in its own virtualenv (see ``peer.py``); the
tests are skipped when it cannot be installed.

Run with ``python -m pytest -m interop tests/interop/test_mixed_fleet_116.py``.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import interop_jobs  # on sys.path through conftest.py
import pytest
import redis

import rq.worker
from rq import Queue
from rq.job import Job
from rq.scheduler import RQScheduler
from tests.interop import scenarios, snapshot
from tests.interop.peer import PEER_116_VERSION, check_cli, peer_rq_cli, run_peer_json, start_peer
from tests.interop.processes import WAIT_TIMEOUT, WorkerProcess, run_our_cli, wait_for
from tests.interop.scenarios import QUEUE, run_ours, with_vars

pytestmark = [
    pytest.mark.interop,
    # Python 3.12+ warns when a process with threads forks; the in-process forking worker does.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"),
    # The first test also builds the 1.16 virtualenv (a pip install).
    pytest.mark.timeout(300),
]

OUR_WORKER = "interop-ours"
WORKER_116 = "interop-116"
RESULT_TTL = 500  # worker default, both generations
FAILURE_TTL = 31536000  # default, both generations
# Seconds a TTL read after a run may be below the TTL that was set.
TTL_SLACK = 30
# Redis key that lets ``interop_jobs.block_until`` jobs and lock holders go on.
RELEASE_KEY = "interop:release"
# Jobs of ENQUEUE_ALL that ``Retry(max=...)`` runs again; see test_116_reads_results_of_jobs_our_worker_retried.
RETRIED_JOBS = ("retried", "retried_later")

# Job-hash field 2.x writes on every save; RQ 1.16 ignores it.
JOB_2X_FIELDS = {"group_id"}
# Result-entry fields 2.x writes; RQ 1.16 reads only ``type``, ``return_value`` and ``exc_string``.
RESULT_2X_FIELDS = {"worker_name", "execution_id", "execution_started_at", "execution_ended_at"}
# Monitoring fields of our worker hashes; every reader ignores unknown fields.
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

# Status, results and registry membership of one job, with names both generations have
# (1.16 has no ``number_of_retries``; its ``get_status()`` returns plain text).
JOB_STATE = """
from rq import Queue
from rq.job import Job
def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return f"<error {type(exc).__name__}: {exc}>"
q = Queue("interop", connection=conn)
job = Job.fetch(JOB_ID, connection=conn)
latest = attempt(job.latest_result)
exc = attempt(lambda: job.exc_info)
status = job.get_status()
emit({
    "status": getattr(status, "value", status),
    "return_value": attempt(job.return_value),
    "latest_result": latest.type.name if hasattr(latest, "type") else latest,
    "results": attempt(lambda: [r.type.name for r in job.results()]),
    "exc_last_line": exc.strip().splitlines()[-1] if exc else None,
    "in_failed": JOB_ID in q.failed_job_registry,
    "in_finished": JOB_ID in q.finished_job_registry,
    "in_started": JOB_ID in q.started_job_registry,
    "started_ids": q.started_job_registry.get_job_ids(),
    "started_count": q.started_job_registry.count,
    "queued": q.job_ids,
})
"""

# What the started registry and the worker listing say about one running job.
STARTED_VIEW = """
from rq import Queue, Worker
from rq.job import Job
q = Queue("interop", connection=conn)
registry = q.started_job_registry
status = Job.fetch(JOB_ID, connection=conn).get_status()
emit({
    "ids": registry.get_job_ids(),
    "contains": JOB_ID in registry,
    "count": registry.count,
    "status": getattr(status, "value", status),
    "current_jobs": {w.name: w.get_current_job_id() for w in Worker.all(connection=conn)},
})
"""

# Takes the queue's scheduler lock with RQ 1.16's own scheduler, reports it, and holds
# it until RELEASE_KEY exists (at most HOLD_FOR seconds), then releases it.
HOLD_116_SCHEDULER_LOCK = """
import time
from rq.scheduler import RQScheduler
scheduler = RQScheduler(["interop"], connection=conn)
emit({"locked": sorted(scheduler.acquire_locks()), "pid": os.getpid()})
deadline = time.monotonic() + HOLD_FOR
while not conn.exists(RELEASE_KEY) and time.monotonic() < deadline:
    time.sleep(0.05)
scheduler.release_locks()
"""

ENQUEUE_REPEATED = """
from rq import Queue, Repeat
import interop_jobs
Queue("interop", connection=conn).enqueue(interop_jobs.add, 1, 2, job_id=JOB_ID, repeat=Repeat(times=2))
emit(True)
"""

SCHEDULER_PID = """
from rq import Queue
emit(Queue("interop", connection=conn).scheduler_pid)
"""

# Reads a job that was saved but never enqueued (2.x status ``created``).
CREATED_JOB = """
from rq.job import Job, JobStatus
job = Job.fetch(JOB_ID, connection=conn)
status = job.get_status()
try:
    member = JobStatus(status).name
except ValueError as exc:
    member = f"<error ValueError: {exc}>"
emit({"status": getattr(status, "value", status), "member": member})
"""


def peer(script: str, redis_url: str, **variables: Any) -> Any:
    """Run a scenario with RQ 1.16; returns its one emitted value."""
    return run_peer_json(with_vars(script, **variables), redis_url, version=PEER_116_VERSION)


def ours(script: str, connection: redis.Redis, **variables: Any) -> Any:
    return run_ours(with_vars(script, **variables), connection)


def cli_116(args: list[str], redis_url: str) -> subprocess.CompletedProcess[str]:
    return peer_rq_cli(args, redis_url, version=PEER_116_VERSION)


def run_our_worker_in_process(
    connection: redis.Redis, worker_class: str, with_scheduler: bool = False, name: str = OUR_WORKER
) -> bool:
    worker = getattr(rq.worker, worker_class)([QUEUE], connection=connection, name=name)
    return worker.work(burst=True, with_scheduler=with_scheduler)


def run_116_burst_worker(
    redis_url: str, worker_class: Optional[str] = None, with_scheduler: bool = False, name: str = WORKER_116
) -> str:
    """RQ 1.16's ``rq worker --burst``; returns its output."""
    args = ["worker", "--burst", "--url", redis_url, "--name", name]
    if worker_class:
        args += ["--worker-class", f"rq.worker.{worker_class}"]
    if with_scheduler:
        args.append("--with-scheduler")
    return check_cli(cli_116([*args, QUEUE], redis_url), "rq 1.16 `rq worker --burst`").stdout


# ---- expectations ----------------------------------------------------------------------------------


def expected_jobs(worker_name: str) -> dict[str, dict[str, Any]]:
    """What a reader of either generation sees for each job of ENQUEUE_ALL after a burst run.

    The two jobs with ``Retry(max=...)`` are listed as a 1.16 worker leaves them; after our
    worker ran them see ``RETRIED_BY_US``.
    """
    failed = {"status": "failed", "return_value": None, "latest_result": "FAILED", "results": ["FAILED"]}
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
        "retried": {**failed, "retries_left": 0, "exc_last_line": "interop_jobs.InteropError: always"},
        "retried_later": {
            "status": "scheduled",
            "return_value": None,
            "latest_result": None,
            "results": [],
            "retries_left": 0,
        },
        "child": {"status": "finished", "return_value": 7},
        "orphan": {"status": "deferred", "latest_result": None, "results": [], "key_ttl": -1, "worker_name": None},
        "current": {
            "status": "finished",
            "return_value": {"id": "current", "origin": QUEUE, "meta": {"k": "v"}, "worker_name": worker_name},
        },
        "big": {"status": "finished", "return_value": {"length": 256 * 1024}},
        "touch": {"status": "finished", "return_value": {"touched": True}, "meta": {"touched": True}},
        "urgent": {"status": "finished", "return_value": {"args": ["first"], "kwargs": {}}},
        "later": {"status": "scheduled", "return_value": None, "results": [], "worker_name": None, "key_ttl": -1},
    }


# Our worker records a RETRIED result for each attempt that ``Retry(max=...)`` runs again.
RETRIED_BY_US = {
    "retried": {"results": ["FAILED", "RETRIED", "RETRIED"]},
    "retried_later": {"latest_result": "RETRIED", "results": ["RETRIED"]},
}

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


def read_back_problems(
    readback: dict[str, Any], worker_name: str, reader: str, retried_by_us: bool = False
) -> list[str]:
    """Everything in one reader's read-back that differs from the expectations; with
    ``retried_by_us``, the retried jobs carry the RETRIED results our worker writes."""
    problems = []
    expected = expected_jobs(worker_name)
    if retried_by_us:
        for job_id, fields in RETRIED_BY_US.items():
            expected[job_id] = {**expected[job_id], **fields}
    for job_id, got in readback["jobs"].items():
        for field, value in expected[job_id].items():
            if got[field] != value:
                problems.append(f"{reader} reader: {job_id}.{field}: expected {value!r}, read {got[field]!r}")
        if got["origin"] != QUEUE:
            problems.append(f"{reader} reader: {job_id}.origin: {got['origin']!r}")
        if "timeout" not in expected[job_id] and got["timeout"] != 180:
            problems.append(f"{reader} reader: {job_id}.timeout: expected 180, read {got['timeout']!r}")
        if not got["timestamps_in_order"]:
            problems.append(f"{reader} reader: {job_id}: timestamps out of order")
        if "worker_name" not in expected[job_id] and got["worker_name"] != worker_name:
            problems.append(
                f"{reader} reader: {job_id}.worker_name: expected {worker_name!r}, read {got['worker_name']!r}"
            )
        ttl = EXPECTED_KEY_TTLS.get(job_id)
        if ttl is not None and not ttl - TTL_SLACK <= got["key_ttl"] <= ttl:
            problems.append(f"{reader} reader: {job_id}: key TTL {got['key_ttl']}, expected about {ttl}")
    for field, value in (("registries", EXPECTED_REGISTRIES), ("queued", []), ("queues", [QUEUE])):
        if readback[field] != value:
            problems.append(f"{reader} reader: {field}: expected {value!r}, read {readback[field]!r}")
    return problems


def reader_differences(view_116: dict[str, Any], our_view: dict[str, Any]) -> list[str]:
    """Where our reading of the same data differs from 1.16's.

    Ignored: key TTLs (they tick) and ``dependency_ids``, which 1.16 returns as job keys
    (``b'rq:job:ok'``) whoever wrote the job.
    """
    problems = []
    for job_id, job_116 in view_116["jobs"].items():
        for field, value in job_116.items():
            if field not in ("key_ttl", "dependency_ids") and our_view["jobs"][job_id][field] != value:
                problems.append(
                    f"readers differ on {job_id}.{field}: 1.16 {value!r}, ours {our_view['jobs'][job_id][field]!r}"
                )
    return problems


def read_back(redis_url: str, connection: redis.Redis, job_ids_116: list[str]) -> tuple[dict, dict]:
    view_116 = peer(scenarios.READ_BACK, redis_url, JOB_IDS=job_ids_116)
    our_view = ours(scenarios.READ_BACK, connection, JOB_IDS=scenarios.JOB_IDS)
    return view_116, our_view


# ---- jobs cross over --------------------------------------------------------------------------------


@pytest.mark.parametrize("worker_class", ["SimpleWorker", "Worker"])
def test_116_enqueues_our_worker_runs(upstream_116, redis_url, connection, worker_class):
    assert peer(scenarios.ENQUEUE_ALL, redis_url) == scenarios.ENQUEUED

    assert run_our_worker_in_process(connection, worker_class), "our worker ran no job"

    # 1.16 cannot read the RETRIED results of the two retried jobs: see the xfail below.
    readable = [job_id for job_id in scenarios.JOB_IDS if job_id not in RETRIED_JOBS]
    view_116, our_view = read_back(redis_url, connection, readable)
    problems = (
        read_back_problems(view_116, OUR_WORKER, "1.16")
        + read_back_problems(our_view, OUR_WORKER, "ours", retried_by_us=True)
        + reader_differences(view_116, our_view)
    )
    assert not problems, "reading what our worker did with 1.16's jobs:\n" + "\n".join(problems)


@pytest.mark.parametrize("worker_class", [None, "SimpleWorker"], ids=["Worker", "SimpleWorker"])
def test_we_enqueue_116_worker_runs(upstream_116, redis_url, connection, worker_class):
    assert ours(scenarios.ENQUEUE_ALL, connection) == scenarios.ENQUEUED

    run_116_burst_worker(redis_url, worker_class)

    view_116, our_view = read_back(redis_url, connection, scenarios.JOB_IDS)
    problems = (
        read_back_problems(view_116, WORKER_116, "1.16")
        + read_back_problems(our_view, WORKER_116, "ours")
        + reader_differences(view_116, our_view)
    )
    assert not problems, "reading what 1.16's worker did with our jobs:\n" + "\n".join(problems)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="our worker records a RETRIED result (type 4) for every attempt that Retry(max=...) runs again; "
    "RQ 1.16 knows result types 1-3, so results(), and latest_result(), return_value() and exc_info while "
    "the retry is pending, raise ValueError('4 is not a valid Result.Type')",
)
def test_116_reads_results_of_jobs_our_worker_retried(upstream_116, redis_url, connection):
    peer(scenarios.ENQUEUE_ALL, redis_url)
    run_our_worker_in_process(connection, "SimpleWorker")

    view_116 = peer(scenarios.READ_BACK, redis_url, JOB_IDS=list(RETRIED_JOBS))
    problems = read_back_problems(view_116, OUR_WORKER, "1.16")
    assert not problems, "\n".join(problems)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="returning Retry is a 2.x feature: RQ 1.16's worker finishes the job with the Retry object as its "
    "return value and never runs it again",
)
def test_116_worker_retries_a_job_returning_retry(upstream_116, redis_url, connection):
    ours(scenarios.ENQUEUE_RETRY_REQUEST, connection, JOB_ID="asks")
    run_116_burst_worker(redis_url)

    state = ours(JOB_STATE, connection, JOB_ID="asks")
    assert (state["status"], state["latest_result"]) == ("failed", "MAX_RETRIES_EXCEEDED"), state


def test_our_worker_retries_a_116_job_returning_retry(upstream_116, redis_url, connection):
    """Our worker applies 2.x semantics to a 1.16 job that returns ``Retry``; 1.16 reads the status."""
    peer(scenarios.ENQUEUE_RETRY_REQUEST, redis_url, JOB_ID="asks")
    run_our_worker_in_process(connection, "SimpleWorker")

    state = ours(JOB_STATE, connection, JOB_ID="asks")
    assert state["status"] == "failed" and state["in_failed"], state
    assert state["results"] == ["MAX_RETRIES_EXCEEDED", "RETRIED", "RETRIED"], state
    state_116 = peer(JOB_STATE, redis_url, JOB_ID="asks")
    assert (state_116["status"], state_116["in_failed"], state_116["in_finished"]) == ("failed", True, False)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="RQ 1.16 knows result types 1-3; the MAX_RETRIES_EXCEEDED (5) and RETRIED (4) results of a job "
    "that returned Retry make its latest_result(), results() and return_value() raise ValueError",
)
def test_116_reads_results_of_a_job_returning_retry(upstream_116, redis_url, connection):
    peer(scenarios.ENQUEUE_RETRY_REQUEST, redis_url, JOB_ID="asks")
    run_our_worker_in_process(connection, "SimpleWorker")

    state = peer(JOB_STATE, redis_url, JOB_ID="asks")
    assert state["latest_result"] == "MAX_RETRIES_EXCEEDED", state


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Repeat is a 2.x feature: RQ 1.16's worker ignores the job's repeats_left field and runs it once",
)
def test_116_worker_repeats_a_job(upstream_116, redis_url, connection):
    ours(ENQUEUE_REPEATED, connection, JOB_ID="repeated")
    run_116_burst_worker(redis_url)

    assert connection.hget("rq:job:repeated", "status") == b"finished"
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"repeated"], "not enqueued again"


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="RQ 1.16 has no `created` status: get_status() returns the plain text 'created', which is none of "
    "its JobStatus members (every is_* property is False and JobStatus('created') raises ValueError)",
)
def test_116_reads_status_created(upstream_116, redis_url, connection):
    Job.create(interop_jobs.add, args=(1, 2), connection=connection, id="made").save()
    if connection.hget("rq:job:made", "status") != b"created":
        pytest.fail("Job.create().save() did not write status `created`")

    assert peer(CREATED_JOB, redis_url, JOB_ID="made") == {"status": "created", "member": "CREATED"}


# ---- raw Redis layout ---------------------------------------------------------------------------------


def test_enqueue_layout_matches_116(upstream_116, redis_url, connection):
    """Enqueueing writes what 1.16 writes, plus the empty 2.x ``group_id`` field."""
    peer(scenarios.ENQUEUE_ALL, redis_url)
    layout_116 = snapshot.describe(snapshot.take(connection), [])
    connection.flushdb()
    ours(scenarios.ENQUEUE_ALL, connection)
    our_layout = snapshot.describe(snapshot.take(connection), [])

    problems = snapshot.compare(layout_116, our_layout, {"rq:job:": JOB_2X_FIELDS})
    assert not problems, "enqueue layout differs from 1.16:\n" + "\n".join(problems)


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_worker_layout_matches_116(upstream_116, redis_url, connection, worker_class):
    """1.16 enqueues both times; what our worker writes differs from 1.16's worker only in
    fields 1.16 ignores and in the RETRIED results (see the xfail above)."""
    peer(scenarios.ENQUEUE_ALL, redis_url)
    run_116_burst_worker(redis_url, None if worker_class == "Worker" else worker_class)
    layout_116 = snapshot.describe(snapshot.take(connection, [WORKER_116]), [WORKER_116])
    connection.flushdb()
    peer(scenarios.ENQUEUE_ALL, redis_url)
    run_our_worker_in_process(connection, worker_class)
    our_layout = without_retried_attempt_results(
        snapshot.describe(snapshot.take(connection, [OUR_WORKER]), [OUR_WORKER])
    )

    allowed = {"rq:job:": JOB_2X_FIELDS, "rq:results:": RESULT_2X_FIELDS, "rq:worker:": OUR_WORKER_EXTRA_FIELDS}
    problems = snapshot.compare(layout_116, our_layout, allowed)
    assert not problems, "layout after a burst run differs from 1.16:\n" + "\n".join(problems)


def without_retried_attempt_results(layout: dict[str, Any]) -> dict[str, Any]:
    """``layout`` minus RETRIED (type 4) result entries, and result streams left empty by that."""
    cleaned = {}
    for key, (kind, ttl, value) in layout.items():
        if kind == "stream" and isinstance(value, list):
            value = [entry for entry in value if entry.get("type") != "4"]
            if not value:
                continue
        cleaned[key] = (kind, ttl, value)
    return cleaned


# ---- the started registry -----------------------------------------------------------------------------


def _job_is_running(connection: redis.Redis, worker_name: str, job_id: str) -> bool:
    return (
        connection.hget(f"rq:job:{job_id}", "status") == b"started"
        and connection.hget(f"rq:worker:{worker_name}", "current_job") == job_id.encode()
        and connection.zcard(f"rq:wip:{QUEUE}") == 1
        and connection.llen(f"rq:queue:{QUEUE}:intermediate") == 0
    )


def _start_held_job(connection: redis.Redis, worker: WorkerProcess, release_key: str = RELEASE_KEY) -> None:
    worker.wait_until_listening(connection)
    ours(scenarios.ENQUEUE_HELD, connection, RELEASE_KEY=release_key, JOB_ID="held")
    wait_for(lambda: _job_is_running(connection, worker.name, "held"), "the job to start", details=worker.output)


@pytest.mark.parametrize(
    "runner, reader",
    [
        ("116", "ours"),
        ("116", "116"),
        ("ours", "ours"),
        pytest.param(
            "ours",
            "116",
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="RQ 1.16 takes started-registry members for job ids: it lists our `<id>:<execution id>` "
                "member as the job id and `job_id in registry` is False (count is right)",
            ),
        ),
    ],
)
def test_started_registry_shows_the_running_job(
    upstream_116, redis_url, connection, start_our_worker, start_116_worker, runner, reader
):
    """While one side runs a job, each side's StartedJobRegistry and worker listing show it."""
    start = start_our_worker if runner == "ours" else start_116_worker
    worker = start(OUR_WORKER if runner == "ours" else WORKER_116)
    _start_held_job(connection, worker)

    read = ours if reader == "ours" else lambda script, _, **v: peer(script, redis_url, **v)
    view = read(STARTED_VIEW, connection, JOB_ID="held")

    connection.set(RELEASE_KEY, 1)
    wait_for(
        lambda: connection.hget("rq:job:held", "status") == b"finished", "the job to finish", details=worker.output
    )
    assert view == {
        "ids": ["held"],
        "contains": True,
        "count": 1,
        "status": "started",
        "current_jobs": {worker.name: "held"},
    }


# ---- shared maintenance ------------------------------------------------------------------------------


def _sides(direction: str, start_our_worker, start_116_worker) -> tuple[Callable, Callable]:
    """(start the first side's worker, start the second side's worker)."""

    def ours_(**options: Any) -> WorkerProcess:
        return start_our_worker(OUR_WORKER, **options)

    def theirs(**options: Any) -> WorkerProcess:
        return start_116_worker(WORKER_116, **options)

    return (ours_, theirs) if direction.startswith("ours") else (theirs, ours_)


@pytest.mark.parametrize("direction", ["116-then-ours", "ours-then-116"])
def test_maintenance_leaves_the_other_sides_running_job_alone(
    upstream_116, redis_url, connection, start_our_worker, start_116_worker, direction
):
    """A burst worker starting next to a busy one cleans registries without touching its job."""
    start_first, start_second = _sides(direction, start_our_worker, start_116_worker)
    first = start_first()
    _start_held_job(connection, first)
    [member] = connection.zrange(f"rq:wip:{QUEUE}", 0, -1)

    second = start_second(burst=True)  # runs maintenance on the same queue, finds no job, quits
    assert second.wait_for_exit() == 0, second.output()
    assert connection.zrange(f"rq:wip:{QUEUE}", 0, -1) == [member]
    for state in (ours(JOB_STATE, connection, JOB_ID="held"), peer(JOB_STATE, redis_url, JOB_ID="held")):
        assert (state["status"], state["in_failed"], state["started_count"]) == ("started", False, 1), state

    connection.set(RELEASE_KEY, 1)
    wait_for(lambda: connection.hget("rq:job:held", "status") == b"finished", "the job to finish", details=first.output)
    ours(scenarios.SEND_SHUTDOWN, connection, WORKER_NAME=first.name)
    _assert_clean_exit(connection, first)


def _abandon_held_job(connection: redis.Redis, worker: WorkerProcess) -> None:
    """Kill ``worker`` in the middle of the held job and let its started entry expire now."""
    _start_held_job(connection, worker, release_key="interop:never")
    worker.kill()  # no chance to record anything
    [member] = connection.zrange(f"rq:wip:{QUEUE}", 0, -1)
    connection.zadd(f"rq:wip:{QUEUE}", {member: 1})


@pytest.mark.parametrize(
    "direction",
    [
        "116-dies-ours-cleans",
        pytest.param(
            "ours-die-116-cleans",
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="RQ 1.16 maintenance fetches the job `<id>:<execution id>`, finds no such job and drops "
                "the expired member: the job stays `started` for good, outside every registry",
            ),
        ),
    ],
)
def test_abandoned_job_is_failed_by_the_other_sides_maintenance(
    upstream_116, redis_url, connection, start_our_worker, start_116_worker, direction
):
    """A SimpleWorker dies mid-job; the other side's maintenance fails the job as abandoned."""
    start_first, start_second = _sides(direction, start_our_worker, start_116_worker)
    _abandon_held_job(connection, start_first(worker_class="SimpleWorker"))

    second = start_second(burst=True)
    assert second.wait_for_exit() == 0, second.output()

    for reader, state in (
        ("ours", ours(JOB_STATE, connection, JOB_ID="held")),
        ("1.16", peer(JOB_STATE, redis_url, JOB_ID="held")),
    ):
        assert (state["status"], state["in_started"], state["in_failed"]) == ("failed", False, True), (reader, state)
        assert state["started_count"] == 0, (reader, state)
        assert "AbandonedJobError" in (state["exc_last_line"] or ""), (reader, state)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="RQ 1.16 runs its started-registry cleanup whenever it counts or lists the registry (rq info does), "
    "with no lock; it drops our expired `<id>:<execution id>` member, so our maintenance finds nothing to "
    "recover and the job stays `started`",
)
def test_our_abandoned_job_survives_116_rq_info(upstream_116, redis_url, connection, start_our_worker):
    _abandon_held_job(connection, start_our_worker(OUR_WORKER, worker_class="SimpleWorker"))

    check_cli(cli_116(["info", "--url", redis_url], redis_url), "rq 1.16 `rq info`")
    run_our_worker_in_process(connection, "SimpleWorker", name="interop-ours-sweeper")  # runs maintenance

    state = ours(JOB_STATE, connection, JOB_ID="held")
    assert (state["status"], state["in_failed"]) == ("failed", True), state


def test_we_read_a_job_failed_by_116_maintenance(upstream_116, redis_url, connection, start_116_worker):
    """1.16 records an abandoned job's failure in the job hash (``exc_info``), with no result entry."""
    _abandon_held_job(connection, start_116_worker(WORKER_116, worker_class="SimpleWorker"))
    run_116_burst_worker(redis_url, name="interop-116-sweeper")  # the dead worker's name is still taken
    assert not connection.exists("rq:results:held") and connection.hexists("rq:job:held", "exc_info")

    state_116, our_state = peer(JOB_STATE, redis_url, JOB_ID="held"), ours(JOB_STATE, connection, JOB_ID="held")
    assert our_state == state_116
    assert (our_state["status"], our_state["in_failed"], our_state["latest_result"]) == ("failed", True, None)
    assert our_state["exc_last_line"].startswith("Moved to FailedJobRegistry, due to AbandonedJobError, at ")


# ---- workers see each other ---------------------------------------------------------------------------


def _enqueue_and_wait_idle(connection: redis.Redis, worker: WorkerProcess) -> None:
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


# Our ``rq info`` adds these two counts to each queue line (a documented extension).
_EXTRA_QUEUE_COUNTS = re.compile(r", \d+ scheduled, \d+ deferred$")


def _info_lines(info: str) -> list[str]:
    """``rq info`` lines, sorted, without "Updated: <time>" and our two extra counts."""
    return sorted(_EXTRA_QUEUE_COUNTS.sub("", line) for line in info.splitlines() if not line.startswith("Updated:"))


def test_116_lists_our_worker(upstream_116, redis_url, connection, start_our_worker, tmp_path):
    worker = start_our_worker(OUR_WORKER, queues=(QUEUE, "other"))
    _enqueue_and_wait_idle(connection, worker)

    listing = peer(scenarios.LIST_WORKERS, redis_url, QUEUES=[QUEUE, "other", "absent"])
    _check_listing(listing, OUR_WORKER, worker.process.pid, rq.__version__)

    info_116 = check_cli(cli_116(["info", "--url", redis_url], redis_url), "rq 1.16 `rq info`").stdout
    our_info = run_our_cli(["info", "--url", redis_url], tmp_path)
    assert f"{OUR_WORKER} (" in info_116 and "1 workers, 2 queues" in info_116, info_116
    assert _info_lines(info_116) == _info_lines(our_info), f"1.16:\n{info_116}\nours:\n{our_info}"


def test_we_list_116_worker(upstream_116, redis_url, connection, start_116_worker, tmp_path):
    worker = start_116_worker(WORKER_116, queues=(QUEUE, "other"))
    _enqueue_and_wait_idle(connection, worker)

    listing = ours(scenarios.LIST_WORKERS, connection, QUEUES=[QUEUE, "other", "absent"])
    _check_listing(listing, WORKER_116, worker.process.pid, PEER_116_VERSION)

    our_info = run_our_cli(["info", "--url", redis_url], tmp_path)
    info_116 = check_cli(cli_116(["info", "--url", redis_url], redis_url), "rq 1.16 `rq info`").stdout
    assert f"{WORKER_116} (" in our_info and "1 workers, 2 queues" in our_info, our_info
    assert _info_lines(our_info) == _info_lines(info_116), f"ours:\n{our_info}\n1.16:\n{info_116}"


# ---- commands cross over ------------------------------------------------------------------------------


def _assert_clean_exit(connection: redis.Redis, worker: WorkerProcess) -> None:
    assert worker.wait_for_exit() == 0, worker.output()
    assert not connection.sismember("rq:workers", worker.key), "worker still registered after exit"
    assert connection.hget(worker.key, "death"), "worker did not record its death"


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_116_shutdown_command_stops_our_worker(upstream_116, redis_url, connection, start_our_worker, worker_class):
    worker = start_our_worker(OUR_WORKER, worker_class=worker_class)
    worker.wait_until_listening(connection)

    peer(scenarios.SEND_SHUTDOWN, redis_url, WORKER_NAME=OUR_WORKER)

    _assert_clean_exit(connection, worker)


@pytest.mark.parametrize("worker_class", ["Worker", "SimpleWorker"])
def test_our_shutdown_command_stops_116_worker(upstream_116, redis_url, connection, start_116_worker, worker_class):
    worker = start_116_worker(WORKER_116, worker_class=worker_class)
    worker.wait_until_listening(connection)

    ours(scenarios.SEND_SHUTDOWN, connection, WORKER_NAME=WORKER_116)

    _assert_clean_exit(connection, worker)


@pytest.mark.parametrize("direction", ["116-to-ours", "ours-to-116"])
def test_stop_job_command_crosses_over(
    upstream_116, redis_url, connection, start_our_worker, start_116_worker, direction
):
    if direction == "116-to-ours":
        worker, send = start_our_worker(OUR_WORKER), lambda s, **v: peer(s, redis_url, **v)
    else:
        worker, send = start_116_worker(WORKER_116), lambda s, **v: ours(s, connection, **v)
    _start_held_job(connection, worker, release_key="interop:never")

    send(scenarios.SEND_STOP_JOB, JOB_ID="held")

    wait_for(
        lambda: connection.hget("rq:job:held", "status") == b"stopped", "the job to be stopped", details=worker.output
    )
    worker.wait_until_listening(connection)  # back to idle, still serving
    for state in (ours(JOB_STATE, connection, JOB_ID="held"), peer(JOB_STATE, redis_url, JOB_ID="held")):
        assert (state["status"], state["in_failed"], state["started_count"]) == ("stopped", True, 0), state
        assert state["latest_result"] == "FAILED", state
        assert state["exc_last_line"] == "Job stopped by user, work-horse terminated.", state
    send(scenarios.SEND_SHUTDOWN, WORKER_NAME=worker.name)
    _assert_clean_exit(connection, worker)


# ---- scheduler locks -----------------------------------------------------------------------------------


@contextlib.contextmanager
def lock_held_by_116(redis_url: str, connection: redis.Redis, tmp_path: Path) -> Iterator[int]:
    """RQ 1.16's RQScheduler holds the queue's scheduler lock; yields the PID it stored."""
    log_path = tmp_path / "rq116-scheduler-lock.log"
    script = with_vars(HOLD_116_SCHEDULER_LOCK, RELEASE_KEY=RELEASE_KEY, HOLD_FOR=WAIT_TIMEOUT)
    process = start_peer(script, redis_url, tmp_path, log_path, version=PEER_116_VERSION)
    try:
        wait_for(
            lambda: connection.exists(f"rq:scheduler-lock:{QUEUE}") or process.poll() is not None,
            "RQ 1.16 to take the scheduler lock",
            details=log_path.read_text,
        )
        assert process.poll() is None, log_path.read_text()
        yield process.pid
    finally:
        connection.set(RELEASE_KEY, 1)
        try:
            process.wait(timeout=WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log_path.read_text()


@contextlib.contextmanager
def lock_held_by_us(connection: redis.Redis) -> Iterator[str]:
    """Our RQScheduler holds the queue's scheduler lock; yields its name (the lock value)."""
    scheduler = RQScheduler([QUEUE], connection=connection)
    assert scheduler.acquire_locks() == {QUEUE}
    try:
        yield scheduler.name
    finally:
        scheduler.release_locks()


def test_our_scheduler_respects_a_116_lock(upstream_116, redis_url, connection, tmp_path):
    """While 1.16 holds the lock (value: its PID) our scheduler leaves the queue alone."""
    peer(scenarios.ENQUEUE_PAST_DUE, redis_url, JOB_ID="due")
    lock_key = f"rq:scheduler-lock:{QUEUE}"

    with lock_held_by_116(redis_url, connection, tmp_path) as pid:
        assert connection.get(lock_key) == str(pid).encode()
        assert Queue(QUEUE, connection=connection).scheduler_pid == pid
        assert not run_our_worker_in_process(connection, "SimpleWorker", with_scheduler=True)
        assert connection.get(lock_key) == str(pid).encode(), "our scheduler took or dropped 1.16's lock"
        assert connection.zrange(f"rq:scheduled:{QUEUE}", 0, -1) == [b"due"]
    assert connection.get(lock_key) is None  # 1.16 released it on the way out

    assert run_our_worker_in_process(connection, "SimpleWorker", with_scheduler=True)
    state = peer(JOB_STATE, redis_url, JOB_ID="due")
    assert (state["status"], state["return_value"], state["in_finished"]) == ("finished", 42, True), state


def test_116_scheduler_respects_our_lock(upstream_116, redis_url, connection):
    """While our scheduler holds the lock (value: its name) 1.16's scheduler leaves the queue alone."""
    ours(scenarios.ENQUEUE_PAST_DUE, connection, JOB_ID="due")
    lock_key = f"rq:scheduler-lock:{QUEUE}"

    with lock_held_by_us(connection) as name:
        run_116_burst_worker(redis_url, with_scheduler=True)
        assert connection.get(lock_key) == name.encode(), "1.16 took or dropped our lock"
        assert connection.zrange(f"rq:scheduled:{QUEUE}", 0, -1) == [b"due"]
        assert connection.hget("rq:job:due", "status") == b"scheduled"
    assert connection.get(lock_key) is None

    run_116_burst_worker(redis_url, with_scheduler=True)
    state = ours(JOB_STATE, connection, JOB_ID="due")
    assert (state["status"], state["return_value"], state["in_finished"]) == ("finished", 42, True), state


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="RQ 1.16's Queue.scheduler_pid is int(<lock value>); a 2.x lock holds the scheduler's name, so it "
    "raises ValueError (the PID is in the 2.x hash rq:scheduler:<name>, which 1.16 does not know)",
)
def test_116_reads_the_pid_of_our_scheduler(upstream_116, redis_url, connection):
    with lock_held_by_us(connection):
        assert peer(SCHEDULER_PID, redis_url) == Queue(QUEUE, connection=connection).scheduler_pid


# ---- admin tools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["116-requeues-ours", "we-requeue-116s"])
def test_requeue_of_the_other_sides_failure(upstream_116, redis_url, connection, direction):
    """A job that fails on one side is requeued by the other side's tool and then finishes."""
    if direction == "116-requeues-ours":
        ours(scenarios.ENQUEUE_FLAKY, connection, COUNTER_KEY="interop:attempts", JOB_ID="flaky")
        run_our_worker_in_process(connection, "SimpleWorker")
        check_cli(cli_116(["requeue", "--url", redis_url, "--queue", QUEUE, "--all"], redis_url), "rq requeue")
    else:
        peer(scenarios.ENQUEUE_FLAKY, redis_url, COUNTER_KEY="interop:attempts", JOB_ID="flaky")
        run_116_burst_worker(redis_url)
        assert ours(scenarios.REQUEUE_FAILED, connection, JOB_ID="flaky") == "flaky"
    assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"flaky"]

    if direction == "116-requeues-ours":
        run_our_worker_in_process(connection, "SimpleWorker")
    else:
        run_116_burst_worker(redis_url)
    for state in (ours(JOB_STATE, connection, JOB_ID="flaky"), peer(JOB_STATE, redis_url, JOB_ID="flaky")):
        assert (state["status"], state["return_value"], state["in_finished"], state["in_failed"]) == (
            "finished",
            2,
            True,
            False,
        ), state


@pytest.mark.parametrize("direction", ["116-suspends", "we-suspend"])
def test_suspension_is_shared(upstream_116, redis_url, connection, direction):
    """``rq suspend`` from either side pauses the other side's workers; resume lets them go on."""
    ours(scenarios.ENQUEUE_FLAKY, connection, COUNTER_KEY="interop:attempts", JOB_ID="waiting")
    if direction == "116-suspends":
        check_cli(cli_116(["suspend", "--url", redis_url], redis_url), "rq 1.16 `rq suspend`")
        assert not run_our_worker_in_process(connection, "SimpleWorker"), "our worker ran a job while suspended"
        assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"waiting"]
        check_cli(cli_116(["resume", "--url", redis_url], redis_url), "rq 1.16 `rq resume`")
        run_our_worker_in_process(connection, "SimpleWorker")
    else:
        ours(scenarios.SUSPEND, connection)
        refused = cli_116(["worker", "--burst", "--url", redis_url, "--name", WORKER_116, QUEUE], redis_url)
        assert "RQ is currently suspended" in refused.stdout, refused.stdout + refused.stderr
        assert connection.lrange(f"rq:queue:{QUEUE}", 0, -1) == [b"waiting"], "1.16 ran a job while suspended"
        ours(scenarios.RESUME, connection)
        run_116_burst_worker(redis_url)
    assert connection.hget("rq:job:waiting", "status") == b"failed"  # ran once: its first attempt fails
