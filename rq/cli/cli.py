"""The ``rq`` command: the group and its queue-management subcommands.

``rq worker`` and ``rq worker-pool`` live in ``rq.cli.workers``; the rendering of
``rq info`` in ``rq.cli.monitor``; the argument syntax of ``rq enqueue`` in
``rq.cli.enqueue_args``.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any, Optional

import click

from rq.dependency import MissingDependencyWarning
from rq.exceptions import InvalidJobDependency, InvalidJobOperation, NoSuchJobError, TimeoutFormatError
from rq.job import JobStatus, Retry
from rq.suspension import resume as resume_workers
from rq.suspension import suspend as suspend_workers
from rq.utils import parse_timeout
from rq.version import VERSION

from .enqueue_args import parse_enqueue_arguments
from .helpers import CliConfig, describe_connection, parse_schedule, shared_options
from .monitor import render_info, render_info_json, watch

__all__ = ["empty", "enqueue", "info", "main", "requeue", "resume", "suspend"]


def _queue(cli_config: CliConfig, name: str, param_hint: str) -> Any:
    """The queue named on the command line; a name a queue cannot have is a BadParameter."""
    try:
        return cli_config.queue(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


@click.group()
@click.version_option(VERSION, prog_name="rq")
def main() -> None:
    """RQ command line tool."""


@main.command()
@click.option("--interval", "-i", type=float, help="Updates stats every N seconds (default: don't poll).")
@click.option("--raw", "-r", is_flag=True, help="Print only the raw numbers, no bar charts.")
@click.option("--only-queues", "-Q", is_flag=True, help="Show only queue info.")
@click.option("--only-workers", "-W", is_flag=True, help="Show only worker info.")
@click.option("--by-queue", "-R", is_flag=True, help="Shows workers by queue.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document (with --interval: one per line per refresh).",
)
@click.argument("queues", nargs=-1)
@shared_options
def info(
    cli_config: CliConfig,
    interval: Optional[float],
    raw: bool,
    only_queues: bool,
    only_workers: bool,
    by_queue: bool,
    as_json: bool,
    queues: tuple[str, ...],
) -> None:
    """RQ command-line monitor."""

    def draw() -> str:
        if as_json:
            return render_info_json(cli_config, queues, only_queues=only_queues, only_workers=only_workers)
        return render_info(
            cli_config, queues, raw=raw, only_queues=only_queues, only_workers=only_workers, by_queue=by_queue
        )

    def describe_error(exc: BaseException) -> str:
        return cli_config.scrub(f"Could not connect to Redis at {describe_connection(cli_config.connection)}: {exc}")

    if interval is None:
        click.echo(draw())
        return
    if interval <= 0:
        raise click.BadParameter("must be greater than 0", param_hint="'--interval'")
    try:
        watch(draw, interval, describe_error, json_lines=as_json)
    except KeyboardInterrupt:
        if not as_json:
            click.echo()


@main.command()
@click.option("--all", "-a", "all", is_flag=True, help="Empty all queues.")
@click.argument("queues", nargs=-1)
@shared_options
def empty(cli_config: CliConfig, all: bool, queues: tuple[str, ...]) -> None:
    """Empty given queues."""
    targets = cli_config.all_queues() if all else [_queue(cli_config, name, "'QUEUES'") for name in queues]
    if not targets:
        click.echo("Nothing to do")
        return
    for queue in targets:
        removed = queue.empty()
        click.echo(f"{removed} jobs removed from {queue.name} queue")


@main.command()
@click.option("--queue", required=True, help="Queue whose failed jobs are requeued.")
@click.option("--all", "-a", "all", is_flag=True, help="Requeue all failed jobs.")
@click.argument("job_ids", nargs=-1)
@shared_options
def requeue(cli_config: CliConfig, queue: str, all: bool, job_ids: tuple[str, ...]) -> None:
    """Requeue failed jobs."""
    registry = _queue(cli_config, queue, "'--queue'").failed_job_registry
    ids = registry.get_job_ids() if all else list(job_ids)
    if not ids:
        click.echo("Nothing to do")
        return
    click.echo(f"Requeueing {len(ids)} jobs from failed queue")
    failures = 0
    with click.progressbar(ids) as bar:
        for job_id in bar:
            try:
                registry.requeue(job_id)
            except (InvalidJobOperation, NoSuchJobError):
                failures += 1
    if failures:
        click.secho(f"Unable to requeue {failures} jobs from failed job registry", fg="red")


@main.command()
@click.option("--duration", type=int, help="Seconds you want the workers to be suspended. Default is forever.")
@shared_options
def suspend(cli_config: CliConfig, duration: Optional[int]) -> None:
    """Suspends all workers, to resume run `rq resume`."""
    if duration is not None and duration < 1:
        # Worded as upstream RQ words it, which scripts may look for.
        raise click.ClickException(
            f"Duration must be an integer greater than 1 or equal to 1 (seconds), not {duration}"
        )
    suspend_workers(cli_config.connection, duration)
    if duration:
        click.echo(
            f"Suspending workers for {duration} seconds. No new jobs will be started during that time, "
            "but current jobs will be completed"
        )
    else:
        click.echo("Suspending workers. No new jobs will be started. But current jobs will be completed")


@main.command()
@shared_options
def resume(cli_config: CliConfig) -> None:
    """Resumes processing of queues, that were suspended with `rq suspend`."""
    resume_workers(cli_config.connection)
    click.echo("Resuming workers.")


@main.command()
@click.option("--duration", type=int, help="Seconds the queue stays paused. Default is until `rq unpause`.")
@click.argument("queues", nargs=-1, required=True)
@shared_options
def pause(cli_config: CliConfig, duration: Optional[int], queues: tuple[str, ...]) -> None:
    """Pauses queues: workers of this package take no jobs from them (enqueueing still works)."""
    if duration is not None and duration < 1:
        raise click.ClickException("Duration must be at least 1 second")
    for name in queues:
        _queue(cli_config, name, "'QUEUES'").pause(duration)
        how_long = f" for {duration} seconds" if duration else ""
        click.echo(f"Paused queue {name}{how_long}. Running jobs finish; no new job is taken from it.")


@main.command()
@click.argument("queues", nargs=-1, required=True)
@shared_options
def unpause(cli_config: CliConfig, queues: tuple[str, ...]) -> None:
    """Ends a pause set with `rq pause`."""
    for name in queues:
        _queue(cli_config, name, "'QUEUES'").unpause()
        click.echo(f"Unpaused queue {name}.")


def _duration(value: Optional[str], option: str) -> Optional[int]:
    try:
        return parse_timeout(value)
    except TimeoutFormatError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _schedule_time(schedule_in: Optional[str], schedule_at: Optional[str]) -> Optional[datetime]:
    """When to run the job (aware datetime), or None to enqueue it now; ``--schedule-at`` is local time."""
    when = parse_schedule(schedule_in, schedule_at)
    if when is None or when.tzinfo is not None:
        return when
    try:
        return when.astimezone()  # read as local time
    except (ValueError, OverflowError):  # a local time with no UTC equivalent (year 1 east of UTC, ...)
        raise click.BadParameter(f"{schedule_at!r} is out of range", param_hint="'--schedule-at'") from None


def _report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """A missing ``--depends-on`` job becomes one ``Warning:`` line; other warnings go on as raised."""
    for warning in caught:
        if issubclass(warning.category, MissingDependencyWarning):
            click.secho(f"Warning: {warning.message}", fg="yellow", err=True)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _retry(retry_max: int, intervals: tuple[int, ...]) -> Optional[Retry]:
    if retry_max <= 0:
        return None
    try:
        return Retry(max=retry_max, interval=list(intervals))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--retry-interval'") from None


@main.command()
@click.option("--queue", "-q", default="default", help="The name of the queue.")
@click.option("--timeout", help="Maximum runtime of the job before it is interrupted and marked as failed.")
@click.option("--result-ttl", help="How long successful jobs and their results are kept.")
@click.option("--ttl", help="Maximum queued time of the job before it is discarded.")
@click.option("--failure-ttl", help="How long failed jobs are kept.")
@click.option("--description", help="Additional description of the job.")
@click.option("--depends-on", multiple=True, help="Id of a job that must complete before this one is queued.")
@click.option("--job-id", help="The id of this job.")
@click.option("--at-front", is_flag=True, help="Place the job at the front of the queue, instead of the end.")
@click.option("--retry-max", type=int, default=0, help="Maximum number of retries (0: no retry).")
@click.option("--retry-interval", type=int, multiple=True, default=[0], help="Seconds between retries.")
@click.option("--schedule-in", help="Delay until the function is enqueued (e.g. 10s, 5m, 2d).")
@click.option("--schedule-at", help="Enqueue at this local time, ISO 8601 without zone (e.g. 2021-05-27T21:45:00).")
@click.option("--quiet", is_flag=True, help="Print nothing on success.")
@click.argument("function")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@shared_options
def enqueue(
    cli_config: CliConfig,
    queue: str,
    timeout: Optional[str],
    result_ttl: Optional[str],
    ttl: Optional[str],
    failure_ttl: Optional[str],
    description: Optional[str],
    depends_on: tuple[str, ...],
    job_id: Optional[str],
    at_front: bool,
    retry_max: int,
    retry_interval: tuple[int, ...],
    schedule_in: Optional[str],
    schedule_at: Optional[str],
    quiet: bool,
    function: str,
    arguments: tuple[str, ...],
) -> None:
    """Enqueues a job from the command line."""
    args, kwargs = parse_enqueue_arguments(arguments)
    when = _schedule_time(schedule_in, schedule_at)
    options: dict[str, Any] = {
        "timeout": _duration(timeout, "--timeout"),
        "result_ttl": _duration(result_ttl, "--result-ttl"),
        "ttl": _duration(ttl, "--ttl"),
        "failure_ttl": _duration(failure_ttl, "--failure-ttl"),
        "description": description,
        "depends_on": list(depends_on) or None,
        "job_id": job_id,
        "retry": _retry(retry_max, retry_interval),
    }
    target = _queue(cli_config, queue, "'--queue'")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MissingDependencyWarning)
            # The argument list is passed as it is, so a job without positional arguments keeps [].
            if when is None:
                job = target.enqueue_call(function, args, kwargs, at_front=at_front, **options)
            else:
                job = target.create_job(function, args, kwargs, status=JobStatus.SCHEDULED, **options)
                if at_front:
                    job.enqueue_at_front = True  # applies when the scheduler enqueues it
                target.schedule_job(job, when)
    except InvalidJobDependency as exc:
        raise click.BadParameter(str(exc), param_hint="'--depends-on'") from None
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None
    _report_warnings(caught)
    if not quiet:
        click.echo(f"Enqueued {job.get_call_string()} with job-id '{job.id}'.")
