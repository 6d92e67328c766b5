"""Small pieces of upstream RQ's worker API kept for code written against it.

``CompatMixin`` adds upstream's ``_job_id``, ``find_by_key`` with an optional connection
(RQ 1.x) and ``cleanup_execution`` to the worker's record.

``serializer_arg`` is the importable name of a serializer (what ``SpawnWorker`` passes to
its child); ``identify_client`` names the worker's Redis connection and finds its address
at construction, warning, as upstream RQ does, when Redis refuses CLIENT SETNAME or LIST.
"""

from __future__ import annotations

import inspect
import warnings
from typing import TYPE_CHECKING, Any, Optional

from redis import Redis
from redis.exceptions import NoPermissionError, ResponseError

from .. import layout
from ..connections import resolve_connection
from ..queue import Queue
from ..resilience import REDIS_ERRORS
from .registration import WorkerRecord

if TYPE_CHECKING:
    from ..executions import Execution
    from ..job import Job
    from ..registry import StartedJobRegistry

__all__ = ["CompatMixin", "as_queues", "identify_client", "serializer_arg"]

UNKNOWN_ADDRESS = "unknown"


def serializer_arg(serializer: Any) -> Optional[str]:
    """The dotted name of ``serializer`` (a module, class or instance), or the string/None given."""
    if serializer is None or isinstance(serializer, str):
        return serializer
    if inspect.ismodule(serializer):
        return serializer.__name__
    target = serializer if inspect.isclass(serializer) else type(serializer)
    return f"{target.__module__}.{target.__qualname__}"


def identify_client(connection: Redis, name: str) -> str:
    """Name the connection ``name`` and return its address as Redis sees it ("unknown" if refused).

    A Redis that is unreachable now is not an error here: the worker registers (and
    identifies itself again) once Redis answers.
    """
    message = "CLIENT LIST command not supported, setting ip_address to unknown"
    try:
        connection.client_setname(name)
    except NoPermissionError:  # an ACL without the command: a deliberate setting, not worth a warning
        return UNKNOWN_ADDRESS
    except ResponseError:
        warnings.warn("CLIENT SETNAME command not supported, setting ip_address to unknown", Warning, stacklevel=3)
        return UNKNOWN_ADDRESS
    except REDIS_ERRORS:
        return UNKNOWN_ADDRESS
    try:
        clients = connection.client_list()
    except NoPermissionError:
        return UNKNOWN_ADDRESS
    except ResponseError:
        warnings.warn(message, Warning, stacklevel=3)
        return UNKNOWN_ADDRESS
    except REDIS_ERRORS:
        return UNKNOWN_ADDRESS
    addresses = [client["addr"] for client in clients if client.get("name") == name]
    if not addresses:
        warnings.warn(message, Warning, stacklevel=3)
        return UNKNOWN_ADDRESS
    return str(addresses[0])


def as_queues(
    queues: Any,
    connection: Optional[Redis],
    queue_class: type[Queue],
    job_class: Any,
    serializer: Any,
    death_penalty_class: Any,
) -> list[Queue]:
    """The worker's queues from ``queues``: Queue objects as given, names made into ``queue_class``."""
    items = [queues] if isinstance(queues, (str, Queue)) else list(queues or [])
    result = []
    for item in items:
        if isinstance(item, Queue):
            result.append(item)
        elif isinstance(item, str):
            result.append(
                queue_class(
                    item,
                    connection=connection,
                    job_class=job_class,
                    serializer=serializer,
                    death_penalty_class=death_penalty_class,
                )
            )
        else:
            raise TypeError(f"{item!r} is not a queue name or Queue")
    return result


class CompatMixin(WorkerRecord):
    """Upstream RQ's spellings of the worker record's API, on top of ``WorkerRecord``."""

    if TYPE_CHECKING:
        execution: Optional[Execution]

        def _started_registry(self, job: Job) -> StartedJobRegistry: ...

        def handle_stopped_job(self, job: Job, queue: Any) -> None: ...

    @property
    def _job_id(self) -> Optional[str]:
        """The current job's id as read from the worker's record (upstream's attribute name)."""
        return self._current_job_id

    @property
    def supports_redis_streams(self) -> bool:
        """Always True (RQ 1.x name): results are kept in Redis streams, which this package requires."""
        return True

    @classmethod
    def find_by_key(
        cls,
        worker_key: str,
        connection: Optional[Redis] = None,
        job_class: Any = None,
        queue_class: Any = None,
        serializer: Any = None,
    ) -> Optional[Any]:
        """The worker recorded under ``worker_key``; ``connection`` defaults to the current one (RQ 1.x)."""
        if not worker_key.startswith(layout.WORKER_PREFIX):
            raise ValueError(f"Not a valid RQ worker key: {worker_key}")
        connection = resolve_connection(connection, "Worker.find_by_key")
        return super().find_by_key(
            worker_key, connection, job_class=job_class, queue_class=queue_class, serializer=serializer
        )

    def _handle_stopped_job(self, job: Job, queue: Any, execution: Optional[Execution] = None) -> None:
        """RQ 3.x's name for ``handle_stopped_job``, given the run that was stopped."""
        if execution is not None:
            self.execution = execution
        self.handle_stopped_job(job, queue)

    def cleanup_execution(self, job: Job, pipeline: Any) -> None:
        """Queue on ``pipeline`` the removal of this worker's execution of ``job`` (record and registry entry)."""
        self.set_current_job_id(None, pipeline=pipeline)
        execution, self.execution = self.execution, None
        if execution is not None:
            self._started_registry(job).remove_execution(execution, pipeline=pipeline)
            execution.delete(job=job, pipeline=pipeline)
