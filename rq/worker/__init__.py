"""Workers: take jobs from queues and run them, riding through Redis outages.

The public classes are where upstream RQ 2.x has them: ``BaseWorker`` and ``Worker`` in
``rq.worker.base``, the variants (``SimpleWorker``, ``SpawnWorker``, ``RoundRobinWorker``,
``RandomWorker``, ``HerokuWorker``) in ``rq.worker.worker_classes``; all are exported here.

The worker is made of parts, one module each (see docs/development.md):

- ``dequeuer``: taking jobs off the queues, and the one record of a job taken but not
  started (``TakenJobs``);
- ``job_runner``: performing a job and writing its outcome;
- ``horse``: the work horse (fork, watch, kill, reap);
- ``registration``: the worker's record in Redis and its heartbeats (``HeartbeatTTL``,
  the heartbeat TTL rule);
- ``command_channel``: the Pub/Sub command listener and its watchdog.

``base`` holds the main loop, signals and the wiring; the overridable hooks of upstream
(``perform_job``, ``execute_job``, ``dequeue_job_and_maintain_ttl``, ...) are methods of
the worker classes.
"""

from __future__ import annotations

import sys

from ..defaults import DEFAULT_RESULT_TTL
from .base import BaseWorker, Worker, WorkerStatus, logger
from .dequeuer import DequeueStrategy
from .horse import SHUTDOWN_SIGNAL, signal_name
from .worker_classes import HerokuWorker, RandomWorker, RoundRobinWorker, SimpleWorker, SpawnWorker

__all__ = [
    "BaseWorker",
    "DEFAULT_RESULT_TTL",
    "DequeueStrategy",
    "HerokuWorker",
    "RandomWorker",
    "RoundRobinWorker",
    "SHUTDOWN_SIGNAL",
    "SimpleWorker",
    "SpawnWorker",
    "Worker",
    "WorkerStatus",
    "logger",
    "signal_name",
]

# Shown, pickled and looked up as rq.worker.<name>, where users import them from.
for _cls in (BaseWorker, Worker, SimpleWorker, SpawnWorker, RoundRobinWorker, RandomWorker, HerokuWorker):
    _cls.__module__ = __name__
del _cls

if sys.platform == "win32":  # pragma: no cover - the fork model needs POSIX
    Worker = SimpleWorker  # type: ignore[misc]
