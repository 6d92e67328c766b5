"""``rq worker``, mostly as a real subprocess (``python -m rq worker ...``) against the test Redis."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Callable

import pytest
import redis
from click.testing import Result

from rq import Queue
from rq.cli import worker as worker_command
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.suspension import suspend
from rq.worker import Worker
from tests.cli.support import rq_env, run_rq, start_rq, stop_process, wait_for

ADD = "tests.cli.cli_jobs.add"
FAIL = "tests.cli.cli_jobs.fail"


def enqueue_adds(queue: Queue, count: int) -> list[Job]:
    return [queue.enqueue(ADD, n, n) for n in range(count)]


def test_burst_worker_drains_its_queues(redis_url: str, connection: redis.Redis) -> None:
    high = Queue("high", connection=connection)
    low = Queue("low", connection=connection)
    jobs = enqueue_adds(high, 2) + enqueue_adds(low, 2)
    failing = low.enqueue(FAIL)

    result = run_rq("worker", "--burst", "--url", redis_url, "high", "low")
    assert result.returncode == 0, result.stderr
    for number, job in zip([0, 1, 0, 1], jobs):
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == number * 2
    assert failing.get_status() == JobStatus.FAILED
    assert high.count == low.count == 0
    assert "*** Listening on high, low..." in result.stdout


def test_max_jobs_name_and_pid_file(redis_url: str, connection: redis.Redis, tmp_path: Path) -> None:
    queue = Queue("default", connection=connection)
    jobs = enqueue_adds(queue, 4)
    pid_file = tmp_path / "worker.pid"

    process = start_rq(
        "worker",
        "--url",
        redis_url,
        "--max-jobs",
        "2",
        "--name",
        "cli-worker",
        "--pid",
        str(pid_file),
        output=tmp_path / "worker.log",
    )
    try:
        assert process.wait(timeout=60) == 0
    finally:
        stop_process(process)
    assert pid_file.read_text() == str(process.pid)
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 2 + [JobStatus.QUEUED] * 2
    assert connection.hexists("rq:worker:cli-worker", "death")
    assert queue.count == 2


def test_verbose_and_quiet(redis_url: str, connection: redis.Redis) -> None:
    Queue("default", connection=connection).enqueue(ADD, 1, 1)
    verbose = run_rq("worker", "-b", "-v", "--url", redis_url)
    assert verbose.returncode == 0
    assert re.search(r"Worker \S+: registering birth$", verbose.stdout, re.MULTILINE)

    Queue("default", connection=connection).enqueue(ADD, 1, 1)
    quiet = run_rq("worker", "-b", "-q", "--url", redis_url)
    assert quiet.returncode == 0
    assert "Listening on" not in quiet.stdout
    assert "registering birth" not in quiet.stdout

    both = run_rq("worker", "-b", "-v", "-q", "--url", redis_url)
    assert both.returncode == 2
    assert "mutually exclusive" in both.stderr


def test_logging_level_option_spellings(redis_url: str) -> None:
    assert run_rq("worker", "-b", "--logging_level", "WARNING", "--url", redis_url).stdout == ""
    result = run_rq("worker", "-b", "--logging-level", "LOUD", "--url", redis_url)
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--worker-class", "tests.cli.cli_jobs.NoSuchWorker"], 2, "--worker-class"),
        (["--worker-class", "rq.Queue"], 2, "--worker-class"),
        (["--exception-handler", "tests.cli.cli_jobs.nope"], 2, "--exception-handler"),
        (["--command-channel-handler", "tests.cli.cli_jobs.not_callable"], 2, "--command-channel-handler"),
        (["--dequeue-strategy", "fastest"], 1, "Dequeue strategy 'fastest' is not valid"),
        (["--serializer", "msgpack"], 2, "--serializer"),
    ],
)
def test_setup_errors_are_one_line(redis_url: str, args: list[str], code: int, message: str) -> None:
    result = run_rq("worker", "-b", "--url", redis_url, *args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_exits_1_when_suspended(redis_url: str, connection: redis.Redis) -> None:
    job = Queue("default", connection=connection).enqueue(ADD, 1, 1)
    suspend(connection)
    result = run_rq("worker", "--url", redis_url)
    assert result.returncode == 1
    assert result.stderr == 'RQ is currently suspended, to resume job execution run "rq resume"\n'
    assert job.get_status() == JobStatus.QUEUED


def test_config_module_settings_and_cli_precedence(redis_url: str, connection: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "cli_worker_settings.py").write_text(
        f"REDIS_URL = {redis_url!r}\n"
        "QUEUES = ['from-config']\n"
        "NAME = 'config-worker'\n"
        "DICT_CONFIG = {'version': 1, 'disable_existing_loggers': False}\n"
    )
    configured = Queue("from-config", connection=connection).enqueue(ADD, 2, 3)
    result = run_rq(
        "worker", "-b", "-c", "cli_worker_settings", "-P", str(tmp_path), env=rq_env(REDIS_URL="redis://127.0.0.1:1/0")
    )
    assert result.returncode == 0, result.stderr
    assert configured.return_value() == 5
    assert connection.exists("rq:worker:config-worker")

    explicit = Queue("explicit", connection=connection).enqueue(ADD, 4, 5)
    result = run_rq("worker", "-b", "-c", "cli_worker_settings", "-P", str(tmp_path), "--name", "cli-name", "explicit")
    assert result.returncode == 0, result.stderr
    assert explicit.return_value() == 9
    assert connection.exists("rq:worker:cli-name")


def test_exception_handler_and_command_channel_handler(redis_url: str, connection: redis.Redis) -> None:
    job = Queue("default", connection=connection).enqueue(FAIL)
    result = run_rq(
        "worker",
        "-b",
        "--url",
        redis_url,
        "--exception-handler",
        "tests.cli.cli_jobs.record_exception",
        "--command-channel-handler",
        "tests.cli.cli_jobs.on_command_channel_event",
    )
    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FAILED
    assert job.get_meta()["handled_by"] == "tests.cli.cli_jobs.record_exception"


def test_disable_default_exception_handler(redis_url: str, connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    job = queue.enqueue(FAIL)
    assert run_rq("worker", "-b", "-d", "--url", redis_url).returncode == 0
    assert job.get_status() == JobStatus.FAILED
    assert job.id not in queue.failed_job_registry


def test_json_serializer(redis_url: str, connection: redis.Redis) -> None:
    job = Queue("default", connection=connection, serializer=JSONSerializer).enqueue(ADD, 20, 22)
    result = run_rq("worker", "-b", "-S", "json", "--url", redis_url)
    assert result.returncode == 0, result.stderr
    assert job.return_value() == 42


def test_jobs_from_the_path_option(redis_url: str, connection: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "path_option_jobs.py").write_text("def triple(x):\n    return 3 * x\n")
    job = Queue("default", connection=connection).enqueue("path_option_jobs.triple", 5)
    result = run_rq("worker", "-b", "-P", str(tmp_path), "--url", redis_url, cwd=tmp_path.parent)
    assert result.returncode == 0, result.stderr
    assert job.return_value() == 15


def test_round_robin_worker_class_is_deprecated(redis_url: str, connection: redis.Redis) -> None:
    queues = [Queue(name, connection=connection) for name in ("a", "b")]
    jobs = [queue.enqueue(ADD, 1, 1) for queue in queues]
    result = run_rq("worker", "-b", "-w", "rq.worker.RoundRobinWorker", "--url", redis_url, "a", "b")
    assert result.returncode == 0
    assert "--dequeue-strategy round_robin" in result.stderr
    assert all(job.get_status() == JobStatus.FINISHED for job in jobs)


def test_dequeue_strategy_and_scheduler_flag(redis_url: str, connection: redis.Redis) -> None:
    jobs = [Queue(name, connection=connection).enqueue(ADD, 1, 1) for name in ("a", "b")]
    result = run_rq("worker", "-b", "-s", "-ds", "round_robin", "--url", redis_url, "a", "b")
    assert result.returncode == 0, result.stderr
    assert all(job.get_status() == JobStatus.FINISHED for job in jobs)


def test_scheduler_interval_option(redis_url: str, connection: redis.Redis) -> None:
    from datetime import timedelta

    job = Queue("later", connection=connection).enqueue_in(timedelta(seconds=-1), ADD, 2, 2)
    result = run_rq("worker", "-b", "-s", "--scheduler-interval", "0.5", "--url", redis_url, "later")
    assert result.returncode == 0, result.stderr
    assert job.get_status() == JobStatus.FINISHED
    bad = run_rq("worker", "-b", "--scheduler-interval", "0", "--url", redis_url, "later")
    assert bad.returncode == 2 and "scheduler-interval" in bad.stderr


def test_waits_for_redis_at_start(redis_factory: Callable, tmp_path: Path) -> None:
    server = redis_factory()
    url = server.url
    server.stop()
    log = tmp_path / "worker.log"
    process = start_rq("worker", "--url", url, "--name", "patient", output=log)
    try:
        wait_for(lambda: "Redis connection lost" in log.read_text(), message="the outage warning")
        assert process.poll() is None  # still running: it does not give up
        server.start()
        job = Queue("default", connection=server.client()).enqueue(ADD, 1, 2)
        wait_for(lambda: job.get_status() == JobStatus.FINISHED, timeout=60, message="the job to run")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stop_process(process)
    assert "Traceback" not in log.read_text()


def test_interrupted_while_waiting_for_redis_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    process = start_rq("worker", "--url", "redis://127.0.0.1:1/0", output=log)
    try:
        wait_for(lambda: "Redis connection lost" in log.read_text(), message="the outage warning")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stop_process(process)
    output = log.read_text()
    assert "Traceback" not in output
    assert not [line for line in output.splitlines() if line.startswith("Error:")]


def test_legacy_entry_point_in_process(
    cli: Callable[..., Result], connection: redis.Redis, restore_process_state: None
) -> None:
    job = Queue("inproc", connection=connection).enqueue(ADD, 3, 4)
    result = cli("-b", "-w", "rq.worker.SimpleWorker", "inproc", command=worker_command)
    assert result.exit_code == 0, result.output
    assert job.return_value() == 7


def test_name_in_use_is_a_start_error(redis_url: str, connection: redis.Redis) -> None:
    Worker(["default"], name="taken", connection=connection).register_birth()
    result = run_rq("worker", "-b", "--name", "taken", "--url", redis_url)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Worker taken: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "named"),
    [("redis://127.0.0.1:{port}", "Connection refused"), ("redis://no-such-host.invalid:6379", "unknown host name")],
)
def test_burst_worker_gives_up_on_an_unreachable_redis_with_one_line(url: str, named: str) -> None:
    from tests.redis_harness import find_free_port

    url = url.format(port=find_free_port())
    result = run_rq("worker", "--burst", "--url", url, "--wait-for-redis", "0.5")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: Redis at {url} did not answer within 0.5s: ")
    assert named in lines[0]


def test_burst_worker_waits_for_a_redis_that_comes_up(redis_factory: Callable) -> None:
    import threading

    server = redis_factory()
    url = server.url
    server.stop()
    threading.Timer(1.0, server.start).start()
    result = run_rq("worker", "--burst", "--url", url, "--wait-for-redis", "30")
    assert result.returncode == 0, result.stderr
