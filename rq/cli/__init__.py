"""The ``rq`` command line: ``main`` is the ``rq`` command; ``worker`` and ``info`` back ``rqworker`` and ``rqinfo``."""

from .cli import empty, enqueue, info, main, requeue, resume, suspend
from .cron_command import cron
from .health_command import health
from .workers import worker, worker_pool

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
