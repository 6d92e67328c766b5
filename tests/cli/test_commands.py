"""``rq info``, ``empty``, ``requeue``, ``suspend``, ``resume`` and ``enqueue``, run in-process."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
import redis
from click.testing import Result

from rq import Queue
from rq.cli import info, main
from rq.job import Job, JobStatus
from rq.layout import format_ts
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer
from rq.suspension import is_suspended
from rq.version import VERSION
from rq.worker import Worker
from tests.cli.support import cli_runner

Cli = Callable[..., Result]


def failed_job(queue: Queue, *args: object) -> Job:
    """A job of ``queue`` recorded as failed, as a worker would leave it."""
    job = queue.enqueue("tests.cli.cli_jobs.fail", *args)
    queue.remove(job)
    with queue.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        FailedJobRegistry(queue=queue).add(job, ttl=600, exc_string="ValueError: boom", pipeline=pipe)
        pipe.execute()
    return job


def registered_worker(connection: redis.Redis, name: str, queues: list[str]) -> Worker:
    worker = Worker(queues, name=name, connection=connection)
    worker.register_birth()
    worker.set_state("idle")
    return worker


def test_version_and_help() -> None:
    runner = cli_runner()
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"rq, version {VERSION}"
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("worker", "worker-pool", "info", "empty", "requeue", "suspend", "resume", "enqueue"):
        assert command in result.output


def test_every_subcommand_has_the_shared_options() -> None:
    for name, command in main.commands.items():
        options = {opt for param in command.params for opt in param.opts}
        assert {
            "--url",
            "-u",
            "--config",
            "-c",
            "--worker-class",
            "-w",
            "--job-class",
            "-j",
            "--queue-class",
            "--connection-class",
            "--path",
            "-P",
            "--serializer",
            "-S",
        } <= options, name


def test_info_shows_queues_workers_and_summary(cli: Cli, connection: redis.Redis) -> None:
    default = Queue("default", connection=connection)
    high = Queue("high", connection=connection)
    default.enqueue("tests.cli.cli_jobs.add", 1, 2)
    default.enqueue("tests.cli.cli_jobs.add", 3, 4)
    failed_job(high)
    default.enqueue_in(timedelta(hours=1), "tests.cli.cli_jobs.add", 5, 6)
    registered_worker(connection, "w1", ["high", "default"])

    result = cli("info")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.match(r"^default\s+\|█+ 2, 0 executing, 0 finished, 0 failed, 1 scheduled, 0 deferred$", lines[0])
    assert re.match(r"^high\s+\| 0, 0 executing, 0 finished, 1 failed, 0 scheduled, 0 deferred$", lines[1])
    assert "2 queues, 2 jobs total" in lines
    worker_lines = [line for line in lines if line.startswith("w1 (")]
    assert len(worker_lines) == 1
    assert re.match(r"^w1 \(\S+ \S+ \d+\): idle high, default\. jobs: 0 finished, 0 failed$", worker_lines[0])
    assert "1 workers, 2 queues" in lines
    assert lines[-1].startswith("Updated: ")


def test_info_raw(cli: Cli, connection: redis.Redis) -> None:
    Queue("default", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    registered_worker(connection, "w1", ["default"])
    result = cli("info", "--raw")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "queue default 1, 0 executing, 0 finished, 0 failed, 0 scheduled, 0 deferred"
    assert re.match(r"^worker w1 \(\S+ \S+ \d+\) idle default\. jobs: 0 finished, 0 failed$", lines[1])
    assert len(lines) == 2


def test_info_only_queues_only_workers_and_by_queue(cli: Cli, connection: redis.Redis) -> None:
    for name in ("default", "high", "low"):
        Queue(name, connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    registered_worker(connection, "w-high", ["high"])
    registered_worker(connection, "w-both", ["high", "low"])

    only_queues = cli("info", "-Q", "high", "low").stdout
    assert "high " in only_queues and "low " in only_queues and "default" not in only_queues
    assert "w-high" not in only_queues
    assert "2 queues, 2 jobs total" in only_queues

    only_workers = cli("info", "-W").stdout
    assert "w-high (" in only_workers and "w-both (" in only_workers
    assert "jobs total" not in only_workers
    assert "2 workers, 3 queues" in only_workers

    by_queue = cli("info", "-R", "-W").stdout.splitlines()
    assert re.match(r"^default: +–$", by_queue[0])
    assert re.match(r"^high: +w-both \(idle\), w-high \(idle\)$", by_queue[1])
    assert re.match(r"^low: +w-both \(idle\)$", by_queue[2])

    on_low = cli("info", "-W", "--raw", "low").stdout
    assert "w-both" in on_low and "w-high" not in on_low


def test_info_flags_stale_heartbeats_and_command_channel_trouble(cli: Cli, connection: redis.Redis) -> None:
    Queue("default", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    healthy = registered_worker(connection, "healthy", ["default"])
    stale = registered_worker(connection, "stale", ["default"])
    troubled = registered_worker(connection, "troubled", ["default"])
    connection.hset(stale.key, "last_heartbeat", format_ts(datetime.now(timezone.utc) - timedelta(seconds=612)))
    connection.hset(troubled.key, mapping={"pubsub_connection_errors": "2", "pubsub_recoveries": "1"})

    output = cli("info", "-W").stdout
    line = {
        name: next(ln for ln in output.splitlines() if ln.startswith(f"{name} ("))
        for name in ("healthy", "stale", "troubled")
    }
    assert line["healthy"].endswith("jobs: 0 finished, 0 failed")
    assert re.search(r"\(no heartbeat for 61\ds\)$", line["stale"])
    assert line["troubled"].endswith("; pubsub: ok, 2 errors, 1 recoveries")
    assert healthy.name in output


def test_info_legacy_entry_point(cli: Cli, connection: redis.Redis) -> None:
    Queue("default", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    result = cli("-Q", command=info)
    assert result.exit_code == 0, result.output
    assert "1 queues, 1 jobs total" in result.stdout


def test_info_without_redis_is_one_line_and_exit_1() -> None:
    result = cli_runner().invoke(main, ["info", "--url", "redis://:topsecret@127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: Could not connect to Redis at redis://127.0.0.1:1/0")
    assert "topsecret" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--interval", "0"],
        ["--worker-class", "nope.Worker"],
        ["--url", "mysql://x"],
        ["--config", "no_such_settings_module"],
        ["--serializer", "nope"],
    ],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    result = cli_runner().invoke(main, ["info", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_connection_from_environment(connection: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Queue("from-env", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    monkeypatch.setenv("REDIS_URL", redis_url)
    result = cli_runner().invoke(main, ["info", "-Q"])
    assert result.exit_code == 0, result.output
    assert "from-env" in result.stdout


def test_connection_from_config_module(
    connection: redis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Queue("from-config", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    (tmp_path / "cli_info_settings.py").write_text(f"REDIS_URL = {redis_url!r}\n")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # the config module wins
    monkeypatch.setenv("RQ_CONFIG", "cli_info_settings")
    result = cli_runner().invoke(main, ["info", "-Q", "-P", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "from-config" in result.stdout


def test_unix_socket_url(redis_factory: Callable, tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    server = redis_factory(["--unixsocket", str(socket_path), "--unixsocketperm", "700"])
    Queue("over-socket", connection=server.client()).enqueue("tests.cli.cli_jobs.add", 1, 2)
    result = cli_runner().invoke(main, ["info", "-Q", "--url", f"unix://{socket_path}"])
    assert result.exit_code == 0, result.output
    assert "over-socket" in result.stdout


def test_empty(cli: Cli, connection: redis.Redis) -> None:
    default = Queue("default", connection=connection)
    other = Queue("other", connection=connection)
    for _ in range(3):
        default.enqueue("tests.cli.cli_jobs.add", 1, 2)
    other.enqueue("tests.cli.cli_jobs.add", 1, 2)

    result = cli("empty", "default")
    assert result.exit_code == 0
    assert result.stdout == "3 jobs removed from default queue\n"
    assert default.count == 0 and other.count == 1

    result = cli("empty", "--all")
    assert "1 jobs removed from other queue" in result.stdout
    assert other.count == 0
    assert cli("empty").stdout == "Nothing to do\n"


def test_requeue_all_and_by_id(cli: Cli, connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    first, second, third = (failed_job(queue, n) for n in range(3))

    result = cli("requeue", "--queue", "default", first.id)
    assert result.exit_code == 0, result.output
    assert "Requeueing 1 jobs from failed queue" in result.stdout
    assert queue.job_ids == [first.id]

    result = cli("requeue", "--queue", "default", "--all")
    assert result.exit_code == 0, result.output
    assert "Requeueing 2 jobs from failed queue" in result.stdout
    assert sorted(queue.job_ids) == sorted([first.id, second.id, third.id])
    assert len(FailedJobRegistry(queue=queue)) == 0


def test_requeue_reports_jobs_it_cannot_requeue(cli: Cli, connection: redis.Redis) -> None:
    result = cli("requeue", "--queue", "default", "no-such-job")
    assert result.exit_code == 0
    assert "Unable to requeue 1 jobs from failed job registry" in result.stdout


def test_requeue_needs_a_queue(cli: Cli) -> None:
    result = cli("requeue", "--all")
    assert result.exit_code == 2
    assert "--queue" in result.stderr


def test_suspend_and_resume(cli: Cli, connection: redis.Redis) -> None:
    result = cli("suspend")
    assert result.exit_code == 0
    assert is_suspended(connection)
    assert connection.ttl("rq:suspended") == -1
    result = cli("resume")
    assert result.exit_code == 0
    assert result.stdout == "Resuming workers.\n"
    assert not is_suspended(connection)

    result = cli("suspend", "--duration", "60")
    assert result.exit_code == 0
    assert "60 seconds" in result.stdout
    assert 0 < connection.ttl("rq:suspended") <= 60


def test_suspend_rejects_short_durations(cli: Cli, connection: redis.Redis) -> None:
    result = cli("suspend", "--duration", "0")
    assert result.exit_code == 1
    assert result.stderr == "Error: Duration must be an integer greater than 1 or equal to 1 (seconds), not 0\n"
    assert not is_suspended(connection)


def test_enqueue_typed_arguments(cli: Cli, connection: redis.Redis, tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"k": [1, 2]}')
    result = cli(
        "enqueue", "tests.cli.cli_jobs.echo", "text", ":7", "%(1, 2)", f":@{payload}", "name=Ada", "n:=3", "t%=True"
    )
    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"Enqueued (.+) with job-id '([\w-]+)'\.\n", result.stdout)
    assert match
    job = Job.fetch(match.group(2), connection=connection)
    assert job.func_name == "tests.cli.cli_jobs.echo"
    assert job.args == ["text", 7, (1, 2), {"k": [1, 2]}] or job.args == ("text", 7, (1, 2), {"k": [1, 2]})
    assert job.kwargs == {"name": "Ada", "n": 3, "t": True}
    assert match.group(1) == job.get_call_string()
    assert Queue("default", connection=connection).job_ids == [job.id]


def test_enqueue_options(cli: Cli, connection: redis.Redis) -> None:
    parent = Queue("default", connection=connection).enqueue("tests.cli.cli_jobs.add", 1, 2)
    result = cli(
        "enqueue",
        "--queue",
        "other",
        "--timeout",
        "5m",
        "--result-ttl",
        "1h",
        "--ttl",
        "2h",
        "--failure-ttl",
        "1d",
        "--description",
        "from the shell",
        "--depends-on",
        parent.id,
        "--job-id",
        "my-job",
        "--retry-max",
        "3",
        "--retry-interval",
        "10",
        "--retry-interval",
        "20",
        "--quiet",
        "tests.cli.cli_jobs.add",
        "1",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    job = Job.fetch("my-job", connection=connection)
    assert job.origin == "other"
    assert (job.timeout, job.result_ttl, job.ttl, job.failure_ttl) == (300, 3600, 7200, 86400)
    assert job.description == "from the shell"
    assert job.dependency_ids == [parent.id]
    assert job.get_status() == JobStatus.DEFERRED
    assert job.retries_left == 3
    assert job.retry_intervals == [10, 20]


def test_enqueue_at_front(cli: Cli, connection: redis.Redis) -> None:
    queue = Queue("default", connection=connection)
    first = queue.enqueue("tests.cli.cli_jobs.add", 1, 2)
    assert cli("enqueue", "--job-id", "urgent", "--at-front", "tests.cli.cli_jobs.add", ":1", ":2").exit_code == 0
    assert queue.job_ids == ["urgent", first.id]


def test_enqueue_schedule_in(cli: Cli, connection: redis.Redis) -> None:
    before = datetime.now(timezone.utc)
    result = cli("enqueue", "--job-id", "later", "--schedule-in", "10m", "tests.cli.cli_jobs.add", ":1", ":2")
    assert result.exit_code == 0, result.output
    queue = Queue("default", connection=connection)
    registry = ScheduledJobRegistry(queue=queue)
    assert "later" in registry
    assert queue.count == 0
    when = registry.get_scheduled_time("later")
    assert before + timedelta(minutes=9) < when < datetime.now(timezone.utc) + timedelta(minutes=11)
    assert Job.fetch("later", connection=connection).get_status() == JobStatus.SCHEDULED


def test_enqueue_schedule_at_is_local_time(cli: Cli, connection: redis.Redis) -> None:
    local = (datetime.now() + timedelta(days=1)).replace(microsecond=0)
    result = cli(
        "enqueue",
        "--job-id",
        "tomorrow",
        "--schedule-at",
        local.strftime("%Y-%m-%dT%H:%M:%S"),
        "tests.cli.cli_jobs.add",
        ":1",
        ":2",
    )
    assert result.exit_code == 0, result.output
    registry = ScheduledJobRegistry(queue=Queue("default", connection=connection))
    assert registry.get_scheduled_time("tomorrow") == local.astimezone(timezone.utc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schedule-in", "1m", "--schedule-at", "2030-01-01T00:00:00"], "both"),
        (["--schedule-at", "tomorrow"], "--schedule-at"),
        (["--schedule-in", "soon"], "--schedule-in"),
        (["--timeout", "long"], "--timeout"),
        (["--retry-max", "2", "--retry-interval", "-1"], "--retry-interval"),
        (["--job-id", "no spaces allowed"], "Invalid value"),
    ],
)
def test_enqueue_bad_options_exit_2(cli: Cli, connection: redis.Redis, args: list[str], message: str) -> None:
    result = cli("enqueue", *args, "tests.cli.cli_jobs.add", "x=1", "y=2")
    assert result.exit_code == 2
    assert message in result.stderr
    assert connection.keys("rq:job:*") == []


def test_enqueue_duplicate_keyword(cli: Cli, connection: redis.Redis) -> None:
    result = cli("enqueue", "tests.cli.cli_jobs.add", "a=1", "a:=2")
    assert result.exit_code == 2
    assert "more than once" in result.stderr
    assert Queue("default", connection=connection).count == 0


def test_enqueue_with_json_serializer(cli: Cli, connection: redis.Redis) -> None:
    result = cli("enqueue", "-S", "json", "--job-id", "as-json", "tests.cli.cli_jobs.echo", ":[1, 2]", "k=v")
    assert result.exit_code == 0, result.output
    job = Job.fetch("as-json", connection=connection, serializer=JSONSerializer)
    assert list(job.args) == [[1, 2]]
    assert job.kwargs == {"k": "v"}
