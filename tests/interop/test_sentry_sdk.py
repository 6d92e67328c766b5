"""sentry-sdk's own RQ integration on this package, with sentry-sdk 3.x and 2.x.

Every test runs with two interpreters (see ``sentry_env.py``): ``sentry3`` (sentry-sdk 3.x
from the dev lock; this environment's own interpreter when it has 3.x) and ``sentry2``
(sentry-sdk 2.x from ``requirements/sentry2.txt``), each with this repository's rq; each
checks the sentry-sdk major version the run reported. Most run ``drivers/sentry_worker.py``, which
initialises the SDK with ``RqIntegration`` and a transport that writes every envelope item
to a file, enqueues jobs and runs a burst worker:

- a failed job is reported once (not once per attempt), with the ``rq-job`` details;
- a job timeout gets the fingerprint ``["rq", "JobTimeoutException", func_name]``;
- the trace started around an enqueue reaches the worker's transaction (2.x) or segment
  span (3.x) through ``enqueue``, ``enqueue_many``, ``enqueue_at``/``enqueue_in`` (run by
  the worker's scheduler), a dependent released by its parent, and a retried job;
- with ``RqIntegration(monitor_cron_jobs=True)``, the jobs our ``CronScheduler`` enqueues
  send cron check-ins with their schedule.

One more runs ``rq worker --sentry-dsn`` against a stand-in Sentry server.
Run with ``python -m pytest -m interop tests/interop/test_sentry_sdk.py``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import redis

import rq
from rq import Queue
from rq.job import Job, JobStatus
from tests import venvs
from tests.cli.support import SentryCollector, wait_for
from tests.interop import peer, sentry_env, tools_env
from tests.interop.peer import describe_output
from tests.interop.processes import our_env

pytestmark = [
    pytest.mark.interop,
    # The first sentry2 test also builds its virtualenv (two pip installs).
    pytest.mark.timeout(300),
]

DRIVER = Path(__file__).resolve().parent / "drivers" / "sentry_worker.py"
# Seconds allowed for one driver run or one ``rq worker --burst``.
DRIVER_TIMEOUT = 120.0
# Seconds the stand-in Sentry server is given to receive the worker's event.
EVENT_WAIT = 30.0
WORKER_CLASSES = ["Worker", "SimpleWorker"]
# The op of the transaction / segment span the integration wraps each job run in.
JOB_OP = {"sentry2": "queue.task.rq", "sentry3": "queue.process"}
ENQUEUE_SIDE = "enqueue-side"


@pytest.fixture(scope="session", params=list(sentry_env.GENERATIONS))
def sdk(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """``(generation, python)``: the interpreter with that sentry-sdk generation."""
    generation = request.param
    try:
        return generation, sentry_env.interpreter(generation)
    except venvs.VenvUnavailable as exc:
        venvs.unavailable(f"the {generation} virtualenv is not available: {exc}")


def driver_env(generation: str, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """``sentry3``: ours (this repository on PYTHONPATH). ``sentry2``: a clean environment with only
    the job functions on PYTHONPATH, so rq comes from the virtualenv's editable install."""
    if generation == "sentry3":
        env = our_env()
    else:
        env = venvs.clean_environment()
        env["PYTHONPATH"] = str(peer.JOBS_DIR)
        env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Run:
    """What one driver run reported, and the envelope items its processes sent."""

    generation: str
    report: dict
    items: list[dict]

    def jobs(self) -> dict[str, dict]:
        return self.report["jobs"]

    def events(self) -> list[dict]:
        return [item["payload"] for item in self.items if item["type"] == "event"]

    def check_ins(self) -> list[dict]:
        return [item["payload"] for item in self.items if item["type"] == "check_in"]

    def segments(self) -> list[Segment]:
        return list(segments(self.items))


@dataclass(frozen=True)
class Segment:
    """A root span: a transaction (sentry-sdk 2.x) or a segment span (3.x, streamed as ``span`` items)."""

    name: str
    trace_id: str
    op: Optional[str]
    job_id: Optional[str]
    pid: int


def segments(items: list[dict]) -> Iterator[Segment]:
    for item in items:
        payload = item["payload"]
        if item["type"] == "transaction":
            trace = payload["contexts"]["trace"]
            job_id = ((payload.get("extra") or {}).get("rq-job") or {}).get("job_id")
            yield Segment(payload["transaction"], trace["trace_id"], trace.get("op"), job_id, item["pid"])
        elif item["type"] == "span":
            for span in payload["items"]:
                if span.get("is_segment"):
                    attributes = {key: value.get("value") for key, value in span.get("attributes", {}).items()}
                    yield Segment(
                        span["name"],
                        span["trace_id"],
                        attributes.get("sentry.op"),
                        attributes.get("messaging.message.id"),
                        item["pid"],
                    )


def run_scenario(
    sdk: tuple[str, Path], redis_url: str, tmp_path: Path, worker_class: str, scenario: str, **env: str
) -> Run:
    """Run drivers/sentry_worker.py with the generation's interpreter; checks its rq and sentry-sdk."""
    generation, python = sdk
    events_file = tmp_path / "sentry-envelopes.jsonl"
    proc = tools_env.run_driver(
        [str(python), str(DRIVER), redis_url, str(events_file), worker_class, scenario],
        driver_env(generation, env),
        tmp_path,
        f"the sentry {scenario} scenario ({generation})",
        DRIVER_TIMEOUT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON output\n{describe_output(proc.stdout, proc.stderr)}"
    report = json.loads(lines[-1])
    assert report["sentry_sdk_major"] == sentry_env.GENERATIONS[generation], report["sentry_sdk_version"]
    assert Path(report["rq_file"]).resolve() == Path(rq.__file__).resolve()
    assert report["rq_version"] == rq.VERSION
    items = [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    return Run(generation, report, items)


def trace_id_of(job: dict) -> str:
    """The trace id the integration stored in a job's meta at enqueue time."""
    return job["meta"]["_sentry_trace_headers"]["sentry-trace"].split("-")[0]


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_failing_job_is_reported_once(
    sdk: tuple[str, Path], redis_url: str, tmp_path: Path, worker_class: str
) -> None:
    """With ``Retry(max=1)``: two runs, one error event (the final failure), in the enqueuer's trace."""
    run = run_scenario(sdk, redis_url, tmp_path, worker_class, "failure")
    jobs = run.jobs()
    assert {job_id: job["status"] for job_id, job in jobs.items()} == {
        "sentry-failing-job": "failed", "sentry-succeeding-job": "finished",
    }  # fmt: skip
    trace_id = trace_id_of(jobs["sentry-failing-job"])

    [event] = run.events()
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("InteropError", "reported to sentry")
    assert (exception["mechanism"]["type"], exception["mechanism"]["handled"]) == ("rq", False)
    details = event["extra"]["rq-job"]
    assert details["job_id"] == "sentry-failing-job"
    assert details["func"] == "interop_jobs.fail"
    assert details["description"] == "interop_jobs.fail('reported to sentry')"
    assert "args" not in details and "kwargs" not in details  # data_collection={"queues": False}
    assert details["enqueued_at"].endswith("Z") and details["started_at"].endswith("Z")
    assert event["transaction"] == "interop_jobs.fail"
    assert event["contexts"]["trace"]["trace_id"] == trace_id  # continues the enqueuer's trace

    # A root span per run of a job, all in the trace started where the jobs were enqueued.
    found = run.segments()
    assert Counter(segment.name for segment in found) == {
        ENQUEUE_SIDE: 1, "interop_jobs.fail": 2, "interop_jobs.add": 1,
    }  # fmt: skip
    assert {segment.trace_id for segment in found} == {trace_id}
    assert {segment.op for segment in found if segment.name != ENQUEUE_SIDE} == {JOB_OP[run.generation]}
    # A forking worker reports from its work horse, a simple worker from its own process.
    [enqueuer_pid] = {segment.pid for segment in found if segment.name == ENQUEUE_SIDE}
    [reporter_pid] = {item["pid"] for item in run.items if item["type"] == "event"}
    assert (reporter_pid != enqueuer_pid) == (worker_class == "Worker")


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_job_timeouts_are_fingerprinted(
    sdk: tuple[str, Path], redis_url: str, tmp_path: Path, worker_class: str
) -> None:
    run = run_scenario(sdk, redis_url, tmp_path, worker_class, "timeout")
    assert run.jobs()["sentry-slow-job"]["status"] == "failed"
    [event] = run.events()
    [exception] = event["exception"]["values"]
    assert exception["type"] == "JobTimeoutException"
    assert event["fingerprint"] == ["rq", "JobTimeoutException", "interop_jobs.sleep_and_return"]
    details = event["extra"]["rq-job"]
    assert (details["args"], details["kwargs"]) == ([10], {})  # data_collection={"queues": True}


# Jobs of the propagation scenario: how each reached the queue.
PROPAGATED = {
    "trace-enqueue": "Queue.enqueue",
    "trace-many-1": "Queue.enqueue_many",
    "trace-many-2": "Queue.enqueue_many",
    "trace-at": "Queue.enqueue_at, then the worker's scheduler",
    "trace-in": "Queue.enqueue_in, then the worker's scheduler",
    "trace-parent": "Queue.enqueue (the parent of trace-dependent)",
    "trace-dependent": "released when its parent finished",
    "trace-retried": "Queue.enqueue, then re-enqueued by Retry(max=1)",
}


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_the_enqueuers_trace_reaches_the_worker_on_every_enqueue_path(
    sdk: tuple[str, Path], redis_url: str, tmp_path: Path, worker_class: str
) -> None:
    run = run_scenario(sdk, redis_url, tmp_path, worker_class, "propagation")
    jobs = run.jobs()
    assert {job_id: job["status"] for job_id, job in jobs.items()} == dict.fromkeys(PROPAGATED, "finished")
    [enqueue_side] = [segment for segment in run.segments() if segment.name == ENQUEUE_SIDE]
    trace_id = enqueue_side.trace_id
    # Stored in the job's meta at the first enqueue, and kept by every later path.
    assert {job_id: trace_id_of(job) for job_id, job in jobs.items()} == dict.fromkeys(PROPAGATED, trace_id)

    traces: defaultdict[str, list[str]] = defaultdict(list)
    for segment in run.segments():
        if segment.name != ENQUEUE_SIDE:
            assert segment.op == JOB_OP[run.generation], segment
            traces[segment.job_id or ""].append(segment.trace_id)
    runs = {job_id: 2 if job_id == "trace-retried" else 1 for job_id in PROPAGATED}
    assert traces == {job_id: [trace_id] * count for job_id, count in runs.items()}, PROPAGATED


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_cron_jobs_send_check_ins(sdk: tuple[str, Path], redis_url: str, tmp_path: Path, worker_class: str) -> None:
    """``RqIntegration(monitor_cron_jobs=True)`` sends check-ins for the jobs our ``CronScheduler`` enqueues.

    The spawned jobs carry their schedule in ``meta["cron_string"]`` / ``meta["interval"]``,
    where the integration reads it. Runs on both generations: sentry-sdk 2.76.0's
    ``RqIntegration`` has the same cron support as 3.x (``monitor_cron_jobs``, the same
    schedule reading); 1.x's has none. The driver runs with ``TZ=UTC``: the integration
    only monitors a crontab when the process's local time zone is UTC.
    """
    run = run_scenario(sdk, redis_url, tmp_path, worker_class, "cron", TZ="UTC")
    assert run.report["time_zone"][0] == "UTC"
    by_schedule = {("cron_string" if "cron_string" in job["meta"] else "interval"): job for job in run.jobs().values()}
    assert by_schedule["cron_string"]["meta"] == {"cron_string": "*/5 * * * *"}
    assert by_schedule["cron_string"]["status"] == "finished"
    assert by_schedule["interval"]["meta"] == {"interval": 120}
    assert by_schedule["interval"]["status"] == "failed"

    # Spawned jobs get generated ids, so each monitor is named after the job's function.
    check_ins: defaultdict[str, list[dict]] = defaultdict(list)
    for check_in in run.check_ins():
        check_ins[check_in["monitor_slug"]].append(check_in)
    expected = {
        "interop_jobs.add": (["in_progress", "ok"], {"schedule": {"type": "crontab", "value": "*/5 * * * *"},
                                                      "timezone": "UTC"}),
        "interop_jobs.fail": (["in_progress", "error"], {"schedule": {"type": "interval", "value": 2,
                                                                      "unit": "minute"}}),
    }  # fmt: skip
    assert set(check_ins) == set(expected)
    for slug, (statuses, monitor_config) in expected.items():
        sent = check_ins[slug]
        assert [check_in["status"] for check_in in sent] == statuses, slug
        assert [check_in["monitor_config"] for check_in in sent] == [monitor_config] * 2, slug
        assert len({check_in["check_in_id"] for check_in in sent}) == 1, slug  # the run's two ends, paired
        assert sent[1]["duration"] >= 0
    # The failing cron job is also reported as an error.
    [event] = run.events()
    assert event["extra"]["rq-job"]["func"] == "interop_jobs.fail"


@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_rq_worker_sentry_dsn_reports_a_failed_job(
    sdk: tuple[str, Path], redis_url: str, connection: redis.Redis, tmp_path: Path, worker_class: str
) -> None:
    """``rq worker --sentry-dsn`` (``rq.contrib.sentry.register_sentry``) sends one event over HTTP."""
    generation, python = sdk
    job = Queue("sentry", connection=connection).enqueue("interop_jobs.fail", "reported to sentry")
    with SentryCollector() as collector:
        tools_env.run_driver(
            [str(python), "-m", "rq", "worker", "--burst", "--url", redis_url, "-w", worker_class,
             "--sentry-dsn", collector.dsn, "sentry"],
            driver_env(generation),
            tmp_path,
            f"rq worker --sentry-dsn ({generation})",
            DRIVER_TIMEOUT,
        )  # fmt: skip
        assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.FAILED
        wait_for(lambda: collector.events, timeout=EVENT_WAIT, message="an event from the worker")
        [event] = collector.events
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("InteropError", "reported to sentry")
    assert event["extra"]["rq-job"]["job_id"] == job.id
    version = event["sdk"]["version"]
    assert int(version.split(".")[0]) == sentry_env.GENERATIONS[generation], version
