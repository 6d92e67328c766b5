"""Upstream RQ's ``rq.cli.helpers`` display functions, for code that imports them from there.

``rq info`` itself renders through ``rq.cli.monitor``; these functions print the same
lines with upstream's signatures (``show_queues(queues, raw, by_queue, queue_class,
worker_class, connection)`` and friends). ``rq.cli.helpers`` re-exports every name here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Any, Callable, Optional

import click
from redis import Redis

from rq.logutils import setup_loghandlers
from rq.worker import WorkerStatus

from .monitor import BAR_SCALES, collect_queue_stats, render_queues, render_workers

__all__ = [
    "ParsingMode",
    "get_scale",
    "green",
    "pad",
    "red",
    "refresh",
    "setup_loghandlers_from_args",
    "show_both",
    "show_queues",
    "show_workers",
    "state_symbol",
    "yellow",
]

red = partial(click.style, fg="red")
green = partial(click.style, fg="green")
yellow = partial(click.style, fg="yellow")


class ParsingMode(Enum):
    """How an ``rq enqueue`` argument is read: as text, as JSON or as a Python literal."""

    PLAIN_TEXT = 0
    JSON = 1
    LITERAL_EVAL = 2


def pad(text: str, pad_to_length: int) -> str:
    """``text`` left-aligned in a field of ``pad_to_length`` characters."""
    return f"{text:<{pad_to_length}}"


def get_scale(x: int) -> int:
    """The smallest bar scale that fits ``x`` jobs (``x`` itself beyond the largest)."""
    return next((scale for scale in BAR_SCALES if x <= scale), x)


def state_symbol(state: Any) -> Any:
    """A worker state coloured as ``rq info`` shows it; an unknown state as it is."""
    colours = {WorkerStatus.BUSY: red, WorkerStatus.IDLE: green, WorkerStatus.SUSPENDED: yellow}
    for status, colour in colours.items():
        if state == status or state == status.value:
            return colour(status.value)
    return state


def show_queues(
    queues: Sequence[Any], raw: bool, by_queue: bool, queue_class: Any, worker_class: Any, connection: Redis
) -> None:
    """Print one line per queue (and, unless ``raw``, a summary line)."""
    for line in render_queues([collect_queue_stats(queue) for queue in queues], raw):
        click.echo(line)


def show_workers(
    queues: Sequence[Any], raw: bool, by_queue: bool, queue_class: Any, worker_class: Any, connection: Redis
) -> None:
    """Print the workers of ``queues`` (every worker when ``queues`` is empty), or by queue."""
    by_name: dict[str, Any] = {}
    if queues:
        for queue in queues:
            for worker in worker_class.all(queue=queue, connection=connection):
                by_name[worker.name] = worker
    else:
        by_name = {worker.name: worker for worker in worker_class.all(connection=connection)}
    workers = sorted(by_name.values(), key=lambda worker: worker.name)
    for line in render_workers(workers, [queue.name for queue in queues], raw, by_queue):
        click.echo(line)


def show_both(
    queues: Sequence[Any], raw: bool, by_queue: bool, queue_class: Any, worker_class: Any, connection: Redis
) -> None:
    """Print queues, then workers, then (unless ``raw``) the time of this view."""
    show_queues(queues, raw, by_queue, queue_class, worker_class, connection)
    if not raw:
        click.echo("")
    show_workers(queues, raw, by_queue, queue_class, worker_class, connection)
    if not raw:
        click.echo("")
        click.echo(f"Updated: {datetime.now()}")


def refresh(interval: Optional[float], func: Callable[..., Any], *args: Any) -> None:
    """Call ``func(*args)`` once, or every ``interval`` seconds on a cleared screen until interrupted."""
    while True:
        if interval:
            click.clear()
        func(*args)
        if not interval:
            break
        time.sleep(interval)


def setup_loghandlers_from_args(verbose: bool, quiet: bool, date_format: str, log_format: str) -> None:
    """Log handlers at DEBUG for ``verbose``, WARNING for ``quiet``, else at the level already set."""
    if verbose and quiet:
        raise RuntimeError("Flags --verbose and --quiet are mutually exclusive.")
    level = "DEBUG" if verbose else "WARNING" if quiet else None
    setup_loghandlers(level, date_format=date_format, log_format=log_format)
