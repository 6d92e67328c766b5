"""The queue-management commands as real processes: ``python -m rq ...`` and ``python -m rq.cli ...``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import redis

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.suspension import is_suspended
from rq.version import VERSION
from rq.worker import Worker
from tests.cli.support import ROOT, rq_env, run_rq, start_rq, stop_process, wait_for

ADD = "tests.cli.cli_jobs.add"


def test_python_m_rq_cli_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rq.cli", "--version"],
        cwd=ROOT,
        env=rq_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"rq, version {VERSION}"
    assert run_rq("--help").stdout.startswith("Usage: rq ")


def test_info_once(redis_url: str, connection: redis.Redis) -> None:
    Queue("default", connection=connection).enqueue(ADD, 1, 2)
    worker = Worker(["default"], name="sub-w", connection=connection)
    worker.register_birth()
    result = run_rq("info", "--url", redis_url)
    assert result.returncode == 0, result.stderr
    assert "1 queues, 1 jobs total" in result.stdout
    assert "sub-w (" in result.stdout
    raw = run_rq("info", "-r", "-Q", "--url", redis_url)
    assert raw.stdout == "queue default 1, 0 executing, 0 finished, 0 failed, 0 scheduled, 0 deferred\n"
    by_queue = run_rq("info", "-R", "-W", "--url", redis_url)
    assert re.search(r"^default: sub-w \(started\)$", by_queue.stdout, re.MULTILINE)


def test_info_interval_redraws_until_interrupted(redis_url: str, connection: redis.Redis, tmp_path: Path) -> None:
    Queue("default", connection=connection).enqueue(ADD, 1, 2)
    output = tmp_path / "info.out"
    process = start_rq("info", "--interval", "0.2", "--url", redis_url, output=output)
    try:
        wait_for(lambda: output.read_text().count("Updated: ") >= 2, message="two refreshes")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stop_process(process)
    text = output.read_text()
    assert text.count("1 queues, 1 jobs total") >= 2
    assert "Traceback" not in text and "Aborted" not in text


def test_info_unreachable_redis(tmp_path: Path) -> None:
    result = run_rq("info", "--url", "redis://:pa55word@127.0.0.1:1/0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Could not connect to Redis at redis://127.0.0.1:1/0")
    assert len(result.stderr.splitlines()) == 1
    assert "pa55word" not in result.stderr + result.stdout


def test_empty_and_requeue(redis_url: str, connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    for n in range(3):
        queue.enqueue(ADD, n, n)
    result = run_rq("empty", "--url", redis_url, "default")
    assert result.returncode == 0
    assert result.stdout == "3 jobs removed from default queue\n"

    job = queue.enqueue("tests.cli.cli_jobs.fail")
    assert run_rq("worker", "-b", "--url", redis_url).returncode == 0
    assert job.id in FailedJobRegistry(queue=queue)
    result = run_rq("requeue", "--url", redis_url, "--queue", "default", "--all")
    assert result.returncode == 0, result.stderr
    assert "Requeueing 1 jobs from failed queue" in result.stdout
    assert queue.job_ids == [job.id]
    assert job.get_status() == JobStatus.QUEUED

    result = run_rq("empty", "--url", redis_url, "--all")
    assert result.stdout == "1 jobs removed from default queue\n"


def test_suspend_resume_and_a_suspended_worker(redis_url: str, connection: redis.Redis) -> None:
    result = run_rq("suspend", "--url", redis_url, "--duration", "300")
    assert result.returncode == 0
    assert is_suspended(connection)
    worker = run_rq("worker", "-b", "--url", redis_url)
    assert worker.returncode == 1
    assert "RQ is currently suspended" in worker.stderr
    assert run_rq("resume", "--url", redis_url).stdout == "Resuming workers.\n"
    assert not is_suspended(connection)
    short = run_rq("suspend", "--url", redis_url, "--duration", "0")
    assert short.returncode == 1
    assert not is_suspended(connection)


def test_enqueue_then_work(redis_url: str, connection: redis.Redis) -> None:
    result = run_rq("enqueue", "--url", redis_url, "--job-id", "from-shell", ADD, ":20", "b%=22")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Enqueued tests.cli.cli_jobs.add(20, b=22) with job-id 'from-shell'.\n"
    assert run_rq("worker", "-b", "--url", redis_url).returncode == 0
    assert Job.fetch("from-shell", connection=connection).return_value() == 42


def test_enqueue_scheduled(redis_url: str, connection: redis.Redis) -> None:
    result = run_rq("enqueue", "--url", redis_url, "--job-id", "soon", "--schedule-in", "1h", ADD, ":1", ":2")
    assert result.returncode == 0, result.stderr
    assert "soon" in ScheduledJobRegistry("default", connection=connection)
    both = run_rq("enqueue", "--url", redis_url, "--schedule-in", "1h", "--schedule-at", "2030-01-01T00:00:00", ADD)
    assert both.returncode == 2
    duplicate = run_rq("enqueue", "--url", redis_url, ADD, "a=1", "a=2")
    assert duplicate.returncode == 2
    assert "more than once" in duplicate.stderr
