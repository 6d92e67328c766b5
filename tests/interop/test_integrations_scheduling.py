"""rq-scheduler and Flask-RQ2, installed from PyPI beside this package, against real Redis.

- rq-scheduler: jobs put on its schedule through its ``Scheduler`` API (``enqueue_in``,
  ``enqueue_at``, ``schedule`` with an interval, ``cron``) are moved to the queue by its
  ``rqscheduler --burst`` command, and this package's ``rq worker`` runs them.
- Flask-RQ2: an app with ``RQ(app)`` and a ``@rq.job`` function; ``.queue()`` and
  ``.schedule()``, ``rq.get_scheduler()`` and ``rq.get_worker().work(burst=True)``; its
  ``flask rq scheduler`` command; and its ``flask rq worker`` command, which reaches for
  ``rq.cli.cli.worker``: a name upstream RQ 2.x no longer has there, kept here for it.

The tools run in the integrations virtualenv (``tools_env.integrations_spec``), whose ``rq``
is this repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from rq.job import Job, JobStatus
from tests.interop import tools_env
from tests.interop.peer import JOBS_DIR, describe_output
from tests.interop.processes import our_env

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

DRIVERS = Path(__file__).resolve().parent / "drivers"
DRIVER_TIMEOUT = 90.0
SCHEDULER_QUEUE = "rq-scheduler"
# rq-scheduler's sorted set of scheduled job ids (score: when each is due).
SCHEDULED_JOBS_KEY = "rq:scheduler:scheduled_jobs"
FLASK_QUEUE = "flask-rq2"


# What this package lacks that a tool uses as shipped; each test marked with it is a strict xfail.
@pytest.fixture(scope="module")
def tools() -> Path:
    return tools_env.integrations_or_skip()


def last_json(proc: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON output\n{describe_output(proc.stdout, proc.stderr)}"
    return json.loads(lines[-1])


def texts(values: Any) -> list[str]:
    """Members Redis returned (bytes), as text."""
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def run_tool(args: list[str], redis_url: str, tmp_path: Path, what: str, **env: str) -> subprocess.CompletedProcess:
    """Run a command of the integrations virtualenv; drivers and job functions importable."""
    environment = tools_env.tools_env({"PYTHONPATH": f"{DRIVERS}:{JOBS_DIR}", "RQ_REDIS_URL": redis_url, **env})
    return tools_env.run_driver(args, environment, tmp_path, what, DRIVER_TIMEOUT)


def run_our_worker(redis_url: str, queue: str, tmp_path: Path) -> None:
    """This package's ``rq worker --burst``, in this environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "rq", "worker", "--burst", "--url", redis_url, queue],
        cwd=tmp_path, env=our_env(), capture_output=True, text=True, timeout=DRIVER_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, describe_output(proc.stdout, proc.stderr)


def test_pip_check_is_happy_and_our_rq_stays(tools: Path, tmp_path: Path) -> None:
    """No broken requirements, and a full install of the two tools would not replace our rq."""
    proc = tools_env.run_driver([str(tools), "-m", "pip", "check", "--disable-pip-version-check"],
                                tools_env.tools_env(), tmp_path, "pip check", DRIVER_TIMEOUT)  # fmt: skip
    assert "No broken requirements found." in proc.stdout
    report = json.loads((tools_env.integrations_dir() / tools_env.INTEGRATIONS_REPORT).read_text())
    to_install = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    assert "rq" not in to_install, f"pip would install rq {to_install['rq']} over this package"


def test_rq_scheduler_moves_due_jobs_and_our_worker_runs_them(
    tools: Path, redis_url: str, connection: redis.Redis, tmp_path: Path
) -> None:
    scheduled = last_json(
        run_tool([str(tools), str(DRIVERS / "rq_scheduler_jobs.py"), redis_url, SCHEDULER_QUEUE], redis_url, tmp_path,
                 "rq-scheduler's Scheduler API")
    )  # fmt: skip
    ids = scheduled["jobs"]
    assert scheduled["scheduled"] == sorted(ids.values())
    # enqueue_in is due a second after it was scheduled: let it become due before the one pass.
    time.sleep(1.5)
    rqscheduler = str(tools_env.integrations_script("rqscheduler"))
    proc = run_tool([rqscheduler, "--burst", "--url", redis_url], redis_url, tmp_path, "rqscheduler --burst")
    waiting = texts(connection.lrange(f"rq:queue:{SCHEDULER_QUEUE}", 0, -1))
    assert sorted(waiting) == sorted(ids[kind] for kind in ("enqueue_in", "enqueue_at", "schedule")), proc.stderr

    run_our_worker(redis_url, SCHEDULER_QUEUE, tmp_path)
    results = {"enqueue_in": 3, "enqueue_at": {"args": ["at"], "kwargs": {"key": "value"}}, "schedule": 7}
    for kind, result in results.items():
        job = Job.fetch(ids[kind], connection=connection)
        assert (job.get_status(), job.return_value()) == (JobStatus.FINISHED, result), kind
    # The cron job is not due yet: it stays on the schedule.
    still_scheduled = set(texts(connection.zrange(SCHEDULED_JOBS_KEY, 0, -1)))
    assert ids["cron"] in still_scheduled
    assert not {ids["enqueue_in"], ids["enqueue_at"]} & still_scheduled


def test_flask_rq2_queues_schedules_and_works_in_process(tools: Path, redis_url: str, tmp_path: Path) -> None:
    """Flask-RQ2's own API end to end: the jobs run in the app context its job class provides."""
    report = last_json(
        run_tool([str(tools), "-c", "import flask_rq2_app; flask_rq2_app.main()"], redis_url, tmp_path,
                 "the Flask-RQ2 application")
    )  # fmt: skip
    assert report["waiting"] == ["flask-rq2-queued", "flask-rq2-scheduled"]
    expected = {"status": JobStatus.FINISHED.value, "class": "flask_rq2.job.FlaskJob"}
    assert report["jobs"] == {
        "flask-rq2-queued": {**expected, "result": {"sum": 5, "app": "flask_rq2_app"}},
        "flask-rq2-scheduled": {**expected, "result": {"sum": 9, "app": "flask_rq2_app"}},
    }


def queue_flask_job(tools: Path, redis_url: str, tmp_path: Path, method: str, job_id: str) -> None:
    snippet = (
        "import sys, datetime, flask_rq2_app as m\nwith m.app.app_context():\n"
        f"    m.add.{method}({'datetime.timedelta(0), ' if method == 'schedule' else ''}20, 22, job_id={job_id!r})\n"
    )
    run_tool([str(tools), "-c", snippet], redis_url, tmp_path, f"Flask-RQ2 .{method}()")


def test_flask_rq_scheduler_command_moves_a_scheduled_job(
    tools: Path, redis_url: str, connection: redis.Redis, tmp_path: Path
) -> None:
    queue_flask_job(tools, redis_url, tmp_path, "schedule", "flask-cli-scheduled")
    flask = str(tools_env.integrations_script("flask"))
    run_tool([flask, "rq", "scheduler", "--burst"], redis_url, tmp_path, "flask rq scheduler --burst",
             FLASK_APP="flask_rq2_app")  # fmt: skip
    assert connection.lrange(f"rq:queue:{FLASK_QUEUE}", 0, -1) == [b"flask-cli-scheduled"]
    # The job needs the app context: Flask-RQ2's worker (this package's Worker) runs it inside one.
    # (``rq worker --job-class flask_rq2.job.FlaskJob`` cannot: FlaskJob finds the app through
    # ``flask.cli.ScriptInfo``, which no longer reads FLASK_APP since Flask 2.2.)
    snippet = "import flask_rq2_app as m\nwith m.app.app_context():\n    m.rq.get_worker().work(burst=True)\n"
    run_tool([str(tools), "-c", snippet], redis_url, tmp_path, "Flask-RQ2's get_worker()")
    job = Job.fetch("flask-cli-scheduled", connection=connection)
    assert (job.get_status(), job.return_value()) == (JobStatus.FINISHED, {"sum": 42, "app": "flask_rq2_app"})


def test_flask_rq_worker_command_runs_a_job(tools: Path, redis_url: str, connection: redis.Redis, tmp_path: Path):
    queue_flask_job(tools, redis_url, tmp_path, "queue", "flask-cli-queued")
    run_tool([str(tools_env.integrations_script("flask")), "rq", "worker", "--burst"], redis_url, tmp_path,
             "flask rq worker --burst", FLASK_APP="flask_rq2_app")  # fmt: skip
    job = Job.fetch("flask-cli-queued", connection=connection)
    assert (job.get_status(), job.return_value()) == (JobStatus.FINISHED, {"sum": 42, "app": "flask_rq2_app"})
