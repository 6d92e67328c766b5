"""sentry-sdk's RQ integration with fakeredis, the setup sentry-sdk's own RQ tests use.

Those tests build ``Queue(connection=fakeredis.FakeStrictRedis())`` and a ``SimpleWorker``
on the same connection, run one burst, and check the event the integration captured for a
failing job. drivers/sentry_fakeredis.py does the same with this package's ``rq`` and the
integrations virtualenv's sentry-sdk and fakeredis (with lua, for the scripts the queue runs).
No Redis server is used: this checks that everything a queue and a worker send to Redis
is something fakeredis understands.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rq
from tests.interop import tools_env
from tests.interop.peer import describe_output

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

DRIVERS = Path(__file__).resolve().parent / "drivers"
DRIVER_TIMEOUT = 90.0
FAILING_JOB_ID = "fakeredis-failing-job"
SUCCEEDING_JOB_ID = "fakeredis-succeeding-job"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tools = tools_env.integrations_or_skip()
    workdir = tmp_path_factory.mktemp("sentry-fakeredis")
    env = tools_env.tools_env({"PYTHONPATH": str(DRIVERS)})
    proc = tools_env.run_driver(
        [str(tools), "-c", "import sentry_fakeredis; sentry_fakeredis.main()"],
        env, workdir, "sentry-sdk on fakeredis", DRIVER_TIMEOUT,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON output\n{describe_output(proc.stdout, proc.stderr)}"
    found = json.loads(lines[-1])
    assert Path(found["rq_file"]).resolve() == Path(rq.__file__).resolve()
    assert found["rq_version"] == rq.VERSION
    return found


def test_the_jobs_run_on_fakeredis(report: dict) -> None:
    assert report["worked"] is True
    assert report["jobs"] == {
        FAILING_JOB_ID: {"status": "failed", "result": None},
        SUCCEEDING_JOB_ID: {"status": "finished", "result": 4},
    }


def test_the_failing_job_is_captured_with_its_data(report: dict) -> None:
    """The checks of sentry-sdk's own basic RQ test: exception, mechanism, frame variables, job data."""
    [event] = [item["payload"] for item in report["items"] if item["type"] == "event"]
    [exception] = event["exception"]["values"]
    assert exception["type"] == "ZeroDivisionError"
    assert (exception["mechanism"]["type"], exception["mechanism"]["handled"]) == ("rq", False)
    assert exception["stacktrace"]["frames"][-1]["vars"]["foo"] == "42"
    assert event["transaction"] == "sentry_fakeredis.crashing_job"
    details = event["extra"]["rq-job"]
    assert details["job_id"] == FAILING_JOB_ID
    assert details["func"] == "sentry_fakeredis.crashing_job"
    assert details["description"] == "sentry_fakeredis.crashing_job(foo=42)"
    assert (details["args"], details["kwargs"]) == ([], {"foo": 42})
    assert details["enqueued_at"].endswith("Z") and details["started_at"].endswith("Z")


def test_each_job_run_is_a_root_span(report: dict) -> None:
    """With traces on, each job run is a ``queue.process`` root span named after its function."""
    roots = {}
    for item in report["items"]:
        payload = item["payload"]
        if item["type"] == "transaction":  # sentry-sdk 2.x
            roots[payload["transaction"]] = payload["contexts"]["trace"].get("op")
        elif item["type"] == "span":  # sentry-sdk 3.x streams spans
            for span in payload["items"]:
                if span.get("is_segment"):
                    roots[span["name"]] = span.get("attributes", {}).get("sentry.op", {}).get("value")
    assert roots == {"sentry_fakeredis.crashing_job": "queue.process", "builtins.len": "queue.process"}
