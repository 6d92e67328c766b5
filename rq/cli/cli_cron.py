"""``rq cron CONFIG_PATH``: run a cron scheduler for the jobs a config file declares.

Like ``rq worker``, the scheduler does not give up when Redis is unreachable: it waits and
retries. Ctrl+C or SIGTERM stops it with exit status 0. The module name is upstream RQ's.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import DuplicateSchedulerError
from rq.logutils import setup_loghandlers

from .cli import main
from .helpers import CliConfig, shared_options
from .workers import configure_logging

if TYPE_CHECKING:
    from rq.cron import CronScheduler

__all__ = ["CronScheduler", "cron"]

logger = logging.getLogger("rq.cron")

LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@main.command()
@click.option(
    "--logging-level",
    "-l",
    "logging_level",
    type=click.Choice(LOGGING_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Set logging level.",
)
@click.argument("config_path")
@shared_options
def cron(cli_config: CliConfig, logging_level: str, config_path: str) -> None:
    """Starts the RQ cron scheduler.

    CONFIG_PATH is a Python file (absolute or relative path) or a dotted module name whose
    code declares the cron jobs with rq.cron.register(...).
    """
    level = logging_level.upper()
    connection = cli_config.connection  # a malformed URL or setting fails here, before anything else
    configure_logging(cli_config.settings)
    setup_loghandlers(level, DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT, name="rq.cron")
    # Looked up at call time, so that a class set on this module (rq.cli.cli_cron.CronScheduler) is used.
    scheduler_class: type[CronScheduler] = sys.modules[__name__].CronScheduler
    scheduler = scheduler_class(
        connection=connection,
        logging_level=level,
        serializer=cli_config.serializer,
        queue_class=cli_config.queue_class,
        job_class=cli_config.job_class,
    )
    try:
        scheduler.load_config_from_file(config_path)
    except (ImportError, OSError) as exc:
        logger.debug("Could not load the cron config", exc_info=True)
        missing = isinstance(exc, FileNotFoundError) or getattr(exc, "name", None) == config_path
        # Otherwise the config itself failed, e.g. on an import of its own.
        raise click.ClickException(
            str(exc) if missing else f"Could not load cron config {config_path!r}: {exc}"
        ) from None
    except (ValueError, TypeError) as exc:
        logger.debug("Invalid cron config", exc_info=True)
        raise click.ClickException(f"Invalid cron config {config_path!r}: {exc}") from None
    if not scheduler.get_jobs():
        click.secho(f"Cron config {config_path!r} registers no cron jobs.", fg="yellow", err=True)
    try:
        scheduler.start()
    except DuplicateSchedulerError as exc:
        raise click.ClickException(str(exc)) from None


def __getattr__(name: str) -> Any:
    """``CronScheduler``, imported on first use so that loading the CLI does not load ``rq.cron``."""
    if name == "CronScheduler":
        from rq.cron import CronScheduler

        globals()[name] = CronScheduler
        return CronScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
