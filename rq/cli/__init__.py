"""The ``rq`` command line: ``main`` is the ``rq`` command; ``worker`` and ``info`` back ``rqworker`` and ``rqinfo``."""

from . import cli
from .cli import empty, enqueue, info, main, requeue, resume, suspend
from .cli_cron import cron
from .health_command import health
from .workers import worker, worker_pool

# Where RQ 1.x defined them: Flask-RQ2's ``flask rq worker`` invokes ``rq.cli.cli.worker``.
cli.worker = worker  # type: ignore[attr-defined]
cli.worker_pool = worker_pool  # type: ignore[attr-defined]

__all__ = [
    "cron",
    "empty",
    "enqueue",
    "health",
    "info",
    "main",
    "requeue",
    "resume",
    "suspend",
    "worker",
    "worker_pool",
]
