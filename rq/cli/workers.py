"""``rq worker`` and ``rq worker-pool``: run workers from the command line.

Unlike upstream RQ, ``rq worker`` does not give up when Redis is unreachable at start:
the worker logs a warning and keeps retrying (with backoff) until Redis answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Callable, Optional

import click
from redis.exceptions import NoPermissionError

from rq.defaults import (
    DEFAULT_JOB_MONITORING_INTERVAL,
    DEFAULT_LOGGING_DATE_FORMAT,
    DEFAULT_LOGGING_FORMAT,
    DEFAULT_MAINTENANCE_TASK_INTERVAL,
    DEFAULT_RESULT_TTL,
    DEFAULT_WORKER_TTL,
)
from rq.exceptions import StopRequested
from rq.health import DEFAULT_HTTP_HOST, HEALTH_CHECK_INTERVAL
from rq.job_validation import MAX_TTL
from rq.layout import PREFIX, SUSPENDED_KEY
from rq.logutils import setup_loghandlers
from rq.resilience import REDIS_ERRORS, RedisUnreachable, wait_for_redis
from rq.serializers import DefaultSerializer
from rq.settings import settings
from rq.settings import settings as rq_settings
from rq.suspension import is_suspended
from rq.utils import import_attribute
from rq.worker import DequeueStrategy, RandomWorker, RoundRobinWorker

from .cli import main
from .health_command import serve_endpoints
from .helpers import CliConfig, SettingError, parse_bool, shared_options

__all__ = ["worker", "worker_pool"]

logger = logging.getLogger("rq.worker")

SUSPENDED_MESSAGE = 'RQ is currently suspended, to resume job execution run "rq resume"'

_sentry_options = [
    click.option("--sentry-dsn", envvar="RQ_SENTRY_DSN", help="Report job failures to Sentry at this DSN."),
    click.option("--sentry-ca-certs", envvar="RQ_SENTRY_CA_CERTS", help="CA bundle for the Sentry connection."),
    click.option("--sentry-debug", envvar="RQ_SENTRY_DEBUG", help="Turn on Sentry's debug output (true/false)."),
]


def sentry_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_sentry_options):
        func = option(func)
    return func


def resolve_logging_level(verbose: bool, quiet: bool, level: Optional[str]) -> Optional[str]:
    """The level from ``-v`` (DEBUG), ``-q`` (WARNING) or an explicit level; both flags is a usage error."""
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet are mutually exclusive")
    if verbose:
        return "DEBUG"
    if quiet:
        return "WARNING"
    if level is not None and not isinstance(logging.getLevelName(level.upper()), int):
        raise click.BadParameter(f"unknown logging level {level!r}", param_hint="'--logging-level'")
    return level.upper() if level else None


def import_callables(paths: Sequence[str], option: str) -> list[Callable[..., Any]]:
    """The functions named by dotted paths (exception handlers and the like)."""
    found = []
    for path in paths:
        try:
            value = import_attribute(path)
        except Exception as exc:
            raise SettingError(f"cannot import {path!r}: {exc}", param_hint=f"'{option}'") from None
        if not callable(value):
            raise SettingError(f"{path!r} is not callable", param_hint=f"'{option}'")
        found.append(value)
    return found


def configured_queues(settings: dict[str, Any]) -> list[str]:
    """``QUEUES`` of the settings module (a name or a list of names), else ``['default']``."""
    queues = settings.get("QUEUES") or ["default"]
    return [queues] if isinstance(queues, str) else list(queues)


def configure_logging(settings: dict[str, Any]) -> None:
    """Apply the config module's ``DICT_CONFIG`` (``logging.config.dictConfig``), if any."""
    dict_config = settings.get("DICT_CONFIG")
    if dict_config:
        try:
            import logging.config

            logging.config.dictConfig(dict_config)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise SettingError(str(exc), param_hint="DICT_CONFIG") from None


def setup_sentry(cli_config: CliConfig, dsn: Optional[str], ca_certs: Optional[str], debug: Optional[str]) -> None:
    """Register Sentry if a DSN is given (option, ``RQ_SENTRY_DSN`` or ``SENTRY_DSN`` in the config module)."""
    settings = cli_config.settings
    dsn = dsn or settings.get("SENTRY_DSN")
    if not dsn:
        return
    ca_certs = ca_certs or settings.get("SENTRY_CA_CERTS")
    raw_debug = debug if debug is not None else settings.get("SENTRY_DEBUG")
    try:
        debug_flag = parse_bool(raw_debug, "--sentry-debug") if raw_debug is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--sentry-debug'") from None
    from rq.contrib.sentry import register_sentry

    try:
        register_sentry(dsn, ca_certs=ca_certs, debug=debug_flag)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # e.g. sentry_sdk rejecting a malformed DSN
        raise click.ClickException(f"Could not set up Sentry: {exc}") from None


def _suspended(cli_config: CliConfig) -> bool:
    """Whether workers are suspended; False if Redis cannot be asked yet (the worker waits for it)."""
    try:
        return is_suspended(cli_config.connection)
    except REDIS_ERRORS as exc:
        logger.debug("Could not check for suspension before starting: %s", exc)
        return False
    except NoPermissionError as exc:
        # Redis does not say which key it refused: this is the first one a worker reads.
        raise NoPermissionError(f"{exc} (reading {SUSPENDED_KEY}: a worker needs the keys '~{PREFIX}*')") from None


wait_for_redis_option = click.option(
    "--wait-for-redis",
    "wait_for_redis_seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="With --burst: seconds to wait for Redis at start before exiting with an error "
    f"(default {settings.burst_redis_wait:g}; 0: fail at once).",
)


def bounded_start(cli_config: CliConfig, connection: Any, burst: bool, seconds: Optional[float]) -> None:
    """A burst run waits for Redis at most ``seconds`` (default ``RQ_BURST_REDIS_WAIT``), then fails with one line."""
    if not burst:
        return  # a long-running worker waits for Redis as long as it takes, and says so
    limit = rq_settings.burst_redis_wait if seconds is None else seconds
    where = cli_config.scrub(cli_config.url) if cli_config.url else None
    try:
        wait_for_redis(connection, limit, url=where)
    except RedisUnreachable as exc:
        raise click.ClickException(cli_config.scrub(str(exc))) from None


@main.command()
@click.option("--burst", "-b", is_flag=True, help="Run in burst mode (quit after all work is done).")
@wait_for_redis_option
@click.option("--logging_level", "--logging-level", "logging_level", default=None, help="Set logging level.")
@click.option("--log-format", default=DEFAULT_LOGGING_FORMAT, help="Set the format of the logs.")
@click.option("--date-format", default=DEFAULT_LOGGING_DATE_FORMAT, help="Set the date format of the logs.")
@click.option("--name", "-n", help="Specify a different name.")
@click.option(
    "--results-ttl",
    type=click.IntRange(min=-1, max=MAX_TTL),
    default=DEFAULT_RESULT_TTL,
    help="Default results timeout to be used.",
)
@click.option("--worker-ttl", type=click.IntRange(min=1), default=DEFAULT_WORKER_TTL, help="Worker timeout to be used.")
@click.option(
    "--maintenance-interval",
    type=click.IntRange(min=1),
    default=DEFAULT_MAINTENANCE_TASK_INTERVAL,
    help="Maintenance task interval (in seconds) to be used.",
)
@click.option(
    "--job-monitoring-interval",
    type=click.IntRange(min=1),
    default=DEFAULT_JOB_MONITORING_INTERVAL,
    help="Default job monitoring interval to be used.",
)
@click.option("--disable-job-desc-logging", is_flag=True, help="Turn off description logging.")
@click.option("--verbose", "-v", is_flag=True, help="Show more output.")
@click.option("--quiet", "-q", is_flag=True, help="Show less output.")
@click.option("--exception-handler", multiple=True, help="Exception handler(s) to use (dotted paths).")
@click.option("--pid", help="Write the process ID number to a file at the specified path.")
@click.option("--disable-default-exception-handler", "-d", is_flag=True, help="Disable RQ's default exception handler.")
@click.option("--max-jobs", type=int, help="Maximum number of jobs to execute.")
@click.option("--max-idle-time", type=int, help="Maximum seconds to stay alive without jobs to execute.")
@click.option("--with-scheduler", "-s", is_flag=True, help="Run worker with scheduler.")
@click.option(
    "--scheduler-interval",
    type=click.FloatRange(min=0.1),
    default=settings.scheduler_interval,
    show_default=True,
    help="Seconds between two passes of the worker's scheduler (with --with-scheduler).",
)
@click.option(
    "--dequeue-strategy",
    "-ds",
    default="default",
    help="How to dequeue from several queues: default, round_robin or random.",
)
@click.option(
    "--redeliver-abandoned",
    type=click.IntRange(min=0),
    default=None,
    help="Put a job back on its queue up to N times if the worker running it dies (instead of failing it).",
)
@click.option(
    "--command-channel-handler",
    help="Dotted path of a function called as handler(worker, event, exc) on command-channel incidents.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    help="Serve /livez and /readyz over HTTP on this port (0: any free port).",
)
@click.option("--health-host", default=DEFAULT_HTTP_HOST, show_default=True, help="Address of the health endpoint.")
@click.option(
    "--health-check-interval",
    type=click.FloatRange(min=0.1),
    default=HEALTH_CHECK_INTERVAL,
    show_default=True,
    help="Seconds between two Redis checks behind /readyz.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics at /metrics on this port (needs prometheus_client).",
)
@click.option("--metrics-host", default=DEFAULT_HTTP_HOST, show_default=True, help="Address of the metrics endpoint.")
@sentry_options
@click.argument("queues", nargs=-1)
@shared_options
def worker(
    cli_config: CliConfig,
    burst: bool,
    wait_for_redis_seconds: Optional[float],
    logging_level: Optional[str],
    log_format: str,
    date_format: str,
    name: Optional[str],
    results_ttl: int,
    worker_ttl: int,
    maintenance_interval: int,
    job_monitoring_interval: int,
    disable_job_desc_logging: bool,
    verbose: bool,
    quiet: bool,
    exception_handler: tuple[str, ...],
    pid: Optional[str],
    disable_default_exception_handler: bool,
    max_jobs: Optional[int],
    max_idle_time: Optional[int],
    with_scheduler: bool,
    scheduler_interval: float,
    dequeue_strategy: str,
    command_channel_handler: Optional[str],
    redeliver_abandoned: Optional[int],
    health_port: Optional[int],
    health_host: str,
    health_check_interval: float,
    metrics_port: Optional[int],
    metrics_host: str,
    sentry_dsn: Optional[str],
    sentry_ca_certs: Optional[str],
    sentry_debug: Optional[str],
    queues: tuple[str, ...],
) -> None:
    """Starts an RQ worker."""
    settings = cli_config.settings
    level = resolve_logging_level(verbose, quiet, logging_level)
    connection = cli_config.connection  # a malformed URL or setting fails here, before anything else
    try:
        strategy = DequeueStrategy(dequeue_strategy)
    except ValueError:
        choices = ", ".join(s.value for s in DequeueStrategy)
        message = f"Dequeue strategy {dequeue_strategy!r} is not valid: use one of {choices}"
        raise click.ClickException(message) from None
    handlers = import_callables(exception_handler, "--exception-handler")
    channel_handler = (
        import_callables([command_channel_handler], "--command-channel-handler")[0] if command_channel_handler else None
    )
    configure_logging(settings)
    setup_loghandlers(level, date_format, log_format, name="rq.worker")
    queue_names = list(queues) or configured_queues(settings)
    name = name or settings.get("NAME")

    worker_class = cli_config.worker_class
    if issubclass(worker_class, (RoundRobinWorker, RandomWorker)):
        replacement = "round_robin" if issubclass(worker_class, RoundRobinWorker) else "random"
        click.secho(
            f"{worker_class.__name__} is deprecated, use --dequeue-strategy {replacement} instead.",
            fg="yellow",
            err=True,
        )
    if pid:
        try:
            with open(os.path.expanduser(pid), "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as exc:
            raise click.BadParameter(f"cannot write {pid!r}: {exc.strerror or exc}", param_hint="'--pid'") from None
    bounded_start(cli_config, connection, burst, wait_for_redis_seconds)
    if _suspended(cli_config):
        # Upstream RQ's exact words, without an ``Error:`` prefix: scripts compare the line.
        click.secho(SUSPENDED_MESSAGE, fg="red", err=True)
        raise click.exceptions.Exit(1)

    extra: dict[str, Any] = {}
    if channel_handler is not None:
        extra["command_channel_handler"] = channel_handler
    if redeliver_abandoned is not None:
        extra["redeliver_abandoned"] = redeliver_abandoned
    try:
        instance = worker_class(
            cli_config.queues(queue_names),
            name=name,
            connection=connection,
            default_result_ttl=results_ttl,
            worker_ttl=worker_ttl,
            maintenance_interval=maintenance_interval,
            job_monitoring_interval=job_monitoring_interval,
            job_class=cli_config.job_class,
            queue_class=cli_config.queue_class,
            exception_handlers=handlers,
            log_job_description=not disable_job_desc_logging,
            disable_default_exception_handler=disable_default_exception_handler,
            serializer=cli_config.serializer,
            **extra,
        )
    except Exception as exc:
        logger.debug("Could not create the worker", exc_info=True)
        raise click.ClickException(cli_config.scrub(f"Could not create the worker: {exc}")) from None
    instance.scheduler_interval = scheduler_interval
    setup_sentry(cli_config, sentry_dsn, sentry_ca_certs, sentry_debug)
    endpoints = serve_endpoints(instance, health_port, health_host, health_check_interval, metrics_port, metrics_host)
    try:
        instance.work(
            burst=burst,
            logging_level=level,
            date_format=date_format,
            log_format=log_format,
            max_jobs=max_jobs,
            max_idle_time=max_idle_time,
            with_scheduler=with_scheduler,
            dequeue_strategy=strategy,
        )
    except StopRequested:
        pass  # stopped (by a signal) before it could register, e.g. while waiting for Redis
    except Exception as exc:
        logger.debug("Worker stopped by an error", exc_info=True)
        raise click.ClickException(cli_config.scrub(f"Worker {instance.name}: {exc}")) from None
    finally:
        for endpoint in endpoints:
            endpoint.close()
    fatal = getattr(instance, "fatal_error", None)
    if fatal is not None:
        # Logged in full by the worker; a failure status lets a supervisor restart it.
        message = f"Worker {instance.name}: {type(fatal).__name__}: {fatal}"
        raise click.ClickException(cli_config.scrub(message))


@main.command("worker-pool")
@click.option("--burst", "-b", is_flag=True, help="Run in burst mode (quit after all work is done).")
@wait_for_redis_option
@click.option("--logging-level", "-l", "logging_level", default="INFO", help="Set logging level.")
@click.option("--verbose", "-v", is_flag=True, help="Show more output.")
@click.option("--quiet", "-q", is_flag=True, help="Show less output.")
@click.option("--log-format", default=DEFAULT_LOGGING_FORMAT, help="Set the format of the logs.")
@click.option("--date-format", default=DEFAULT_LOGGING_DATE_FORMAT, help="Set the date format of the logs.")
@click.option("--num-workers", "-n", type=click.IntRange(min=1), default=1, help="Number of workers to start.")
@click.option("--exception-handler", multiple=True, help="Exception handler(s) to use (dotted paths).")
@sentry_options
@click.argument("queues", nargs=-1)
@shared_options
def worker_pool(
    cli_config: CliConfig,
    burst: bool,
    wait_for_redis_seconds: Optional[float],
    logging_level: str,
    verbose: bool,
    quiet: bool,
    log_format: str,
    date_format: str,
    num_workers: int,
    exception_handler: tuple[str, ...],
    sentry_dsn: Optional[str],
    sentry_ca_certs: Optional[str],
    sentry_debug: Optional[str],
    queues: tuple[str, ...],
) -> None:
    """Starts a RQ worker pool."""
    from rq.worker_pool import WorkerPool

    settings = cli_config.settings
    level = resolve_logging_level(verbose, quiet, logging_level) or "INFO"
    handlers = import_callables(exception_handler, "--exception-handler")
    configure_logging(settings)
    setup_loghandlers(level, date_format, log_format, name="rq.worker_pool")
    queue_names = list(queues) or configured_queues(settings)
    bounded_start(cli_config, cli_config.connection, burst, wait_for_redis_seconds)
    # Workers are forked from this process, so a Sentry client set up here reports from every one of them.
    setup_sentry(cli_config, sentry_dsn, sentry_ca_certs, sentry_debug)
    pool = WorkerPool(
        queue_names,
        connection=cli_config.connection,
        num_workers=num_workers,
        worker_class=cli_config.worker_class,
        serializer=cli_config.serializer or DefaultSerializer,
        job_class=cli_config.job_class,
        queue_class=cli_config.queue_class,
        exception_handlers=handlers,
        log_format=log_format,
        date_format=date_format,
    )
    pool.start(burst=burst, logging_level=level)
