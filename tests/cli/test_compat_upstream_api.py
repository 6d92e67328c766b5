"""The command line as code written for upstream RQ uses it: helper names, parameter names, messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import click
import pytest
import redis
from click.testing import Result

import rq.cli
from rq import Queue
from rq.cli import cli_cron, main
from rq.cli.helpers import (
    CliConfig,
    get_scale,
    parse_function_arg,
    parse_function_args,
    parse_schedule,
    pass_cli_config,
    shared_options,
    show_queues,
    state_symbol,
)
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.suspension import suspend
from rq.timeouts import UnixSignalDeathPenalty
from rq.worker import Worker
from tests.cli.support import cli_runner

Cli = Callable[..., Result]
ECHO = "tests.cli.cli_jobs.echo"


def invoke_in_context(command: click.Command, **params: Any) -> Result:
    """``ctx.invoke(command, **params)`` from inside another click command, as upstream RQ users do."""

    @click.command()
    @click.pass_context
    def outer(ctx: click.Context) -> None:
        ctx.invoke(command, **params)

    return cli_runner().invoke(outer, [])


def test_empty_and_requeue_take_upstreams_parameter_names(redis_url: str, connection: redis.Redis) -> None:
    queue = Queue("jobs", connection=connection)
    queue.enqueue(ECHO, 1)
    result = invoke_in_context(rq.cli.empty, all=True, url=redis_url)
    assert result.exit_code == 0, result.output
    assert "1 jobs removed from jobs queue" in result.stdout
    assert queue.count == 0

    job = queue.enqueue("tests.cli.cli_jobs.fail")
    Worker([queue], connection=connection).work(burst=True)
    assert job.id in queue.failed_job_registry.get_job_ids()
    result = invoke_in_context(rq.cli.requeue, all=True, queue="jobs", url=redis_url)
    assert result.exit_code == 0, result.output
    assert queue.get_job_ids() == [job.id]


def test_parse_schedule_reads_both_options() -> None:
    assert parse_schedule(None, None) is None
    assert parse_schedule(None, "2000-01-23T23:45:01") == datetime(2000, 1, 23, 23, 45, 1)
    before = datetime.now(timezone.utc) + timedelta(minutes=5)
    when = parse_schedule("5m", None)
    assert when is not None and before <= when <= datetime.now(timezone.utc) + timedelta(minutes=5)
    with pytest.raises(click.BadArgumentUsage, match="both --schedule-in and --schedule-at"):
        parse_schedule("5m", "2000-01-23T23:45:01")
    with pytest.raises(click.BadParameter) as caught:
        parse_schedule("soon", None)
    assert "'--schedule-in'" in caught.value.format_message()
    with pytest.raises(click.BadParameter) as caught:
        parse_schedule(None, "tomorrow")
    assert "'--schedule-at'" in caught.value.format_message()


def test_argument_errors_use_upstreams_words(tmp_path: Path) -> None:
    assert parse_function_args(["a", "k=v", ":2"]) == (["a", 2], {"k": "v"})
    with pytest.raises(click.BadParameter, match=r"Unable to parse 2\. non keyword argument as JSON\."):
        parse_function_args(["a", "k=v", ":nope"])
    with pytest.raises(click.BadParameter, match=r"Unable to eval 1\. non keyword argument as Python object\."):
        parse_function_arg("%open('x')", 1)
    with pytest.raises(click.BadParameter, match="You can't specify multiple values for the same keyword."):
        parse_function_args(["k=1", "k=2"])
    with pytest.raises(click.BadParameter, match="Not found"):
        parse_function_arg(f"@{tmp_path / 'missing'}", 1)


def test_cli_config_has_upstreams_death_penalty_class_and_ignores_command_options() -> None:
    assert CliConfig().death_penalty_class is UnixSignalDeathPenalty
    assert CliConfig(death_penalty_class="rq.job.Job", queues=("a",), all=True).death_penalty_class is Job
    with pytest.raises(ValueError):
        CliConfig(death_penalty_class="rq.abcd")


def test_shared_options_is_a_list_and_pass_cli_config_passes_the_options(redis_url: str) -> None:
    assert len(list(shared_options)) == 8
    seen: dict[str, Any] = {}

    @click.command()
    @pass_cli_config
    def probe(cli_config: CliConfig, **options: Any) -> None:
        seen.update(options, connection=cli_config.connection)

    result = cli_runner().invoke(probe, ["--url", redis_url])
    assert result.exit_code == 0, result.output
    assert seen["url"] == redis_url
    assert seen["connection"].ping()


def test_enqueue_without_positional_arguments_keeps_an_empty_list(cli: Cli, connection: redis.Redis) -> None:
    result = cli("enqueue", "--job-id", "kw-only", ECHO, "key=value")
    assert result.exit_code == 0, result.output
    job = Job.fetch("kw-only", connection=connection)
    assert (job.args, job.kwargs) == ([], {"key": "value"})


def test_scheduled_enqueue_at_front(cli: Cli, connection: redis.Redis) -> None:
    result = cli("enqueue", "--job-id", "front", "--at-front", "--schedule-at", "2021-01-01T00:00:00", ECHO)
    assert result.exit_code == 0, result.output
    job = Job.fetch("front", connection=connection)
    assert job.get_status() == JobStatus.SCHEDULED and job.enqueue_at_front
    assert ScheduledJobRegistry("default", connection=connection).get_job_ids() == ["front"]


def test_missing_dependency_is_one_warning_line(cli: Cli, connection: redis.Redis) -> None:
    result = cli("enqueue", "--depends-on", "no-such-job", ECHO)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: ") and "no-such-job" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_suspension_messages_are_upstreams(cli: Cli, connection: redis.Redis) -> None:
    result = cli("suspend", "--duration", "0")
    assert result.exit_code == 1
    assert "Duration must be an integer greater than 1" in result.stderr
    suspend(connection)
    result = cli("worker", "--burst")
    assert result.exit_code == 1
    assert result.stderr.strip() == 'RQ is currently suspended, to resume job execution run "rq resume"'


def test_cron_builds_the_scheduler_by_keyword(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        def load_config_from_file(self, path: str) -> None:
            made.append({"path": path})

        def get_jobs(self) -> list[Any]:
            return [object()]

        def start(self) -> None:
            pass

    monkeypatch.setattr(cli_cron, "CronScheduler", Recorder)
    result = cli("cron", "--logging-level", "debug", str(tmp_path / "cron_config.py"))
    assert result.exit_code == 0, result.output
    assert made[0]["logging_level"] == "DEBUG" and made[0]["connection"].ping()
    assert made[1] == {"path": str(tmp_path / "cron_config.py")}


def test_upstreams_display_helpers(connection: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    queue = Queue("shown", connection=connection)
    queue.enqueue(ECHO)
    show_queues([queue], True, False, Queue, Worker, connection)
    assert capsys.readouterr().out.startswith("queue shown 1, 0 executing, 0 finished, 0 failed")
    assert get_scale(30) == 50 and get_scale(10**6) == 10**6
    assert click.unstyle(state_symbol("busy")) == "busy" and state_symbol("odd") == "odd"
    assert main.get_command(click.Context(main), "cron") is rq.cli.cron
