"""rq: simple job queues for Python, on Redis — a drop-in RQ whose workers ride through Redis faults."""

from .callbacks import Callback
from .connections import Connection, get_current_connection, pop_connection, push_connection
from .job import Job, Retry, cancel_job, get_current_job, requeue_job
from .queue import Queue
from .repeat import Repeat
from .version import VERSION
from .webhook import Webhook
from .worker import SimpleWorker, SpawnWorker, Worker

__version__ = VERSION

__all__ = [
    "Callback",
    "Connection",
    "Job",
    "Queue",
    "Repeat",
    "Retry",
    "SimpleWorker",
    "SpawnWorker",
    "Webhook",
    "Worker",
    "__version__",
    "cancel_job",
    "get_current_connection",
    "get_current_job",
    "pop_connection",
    "push_connection",
    "requeue_job",
]
