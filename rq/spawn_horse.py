"""The work horse of ``SpawnWorker``: a fresh interpreter that runs one job.

``SpawnWorker`` starts ``python -m rq.spawn_horse REPORT_FD`` and writes what the horse
needs to its standard input (a pickle: the worker's class and settings, how to connect,
the job and its queue). The horse runs the job like a forked one and reports the outcome
to the worker through the ``REPORT_FD`` pipe; the worker records it.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

from .layout import parse_ts
from .utils import import_attribute


def spawn_request(worker: Any, job: Any, queue: Any) -> bytes:
    """What the horse needs, for the worker to send on the horse's standard input."""
    from .connections import parse_connection

    client_class, connection_class, connection_kwargs = parse_connection(worker.connection)
    # Only plain settings travel; objects (retry policies, dispatchers, markers) take their defaults there.
    connection_kwargs = {key: value for key, value in connection_kwargs.items() if _plain(value)}
    cls = type(worker)
    return pickle.dumps(
        {
            "worker_class": f"{cls.__module__}.{cls.__qualname__}",
            "worker_name": worker.name,
            "queue_name": queue.name,
            "queue_class": f"{type(queue).__module__}.{type(queue).__qualname__}",
            "job_class": f"{type(job).__module__}.{type(job).__qualname__}",
            "job_id": job.id,
            "serializer": job.serializer,
            "execution_id": worker.execution.id if worker.execution is not None else None,
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "client": (client_class, connection_class, connection_kwargs),
            "job_monitoring_interval": worker.job_monitoring_interval,
            "default_result_ttl": worker.default_result_ttl,
            "log_job_description": worker.log_job_description,
            "sys_path": list(sys.path),  # e.g. `rq worker --path DIR` entries, for importing the job
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_plain(key) and _plain(item) for key, item in value.items())
    return False


def main(argv: list[str]) -> None:
    """Run the job described on standard input; report through the file descriptor argv[0]."""
    from redis import ConnectionPool

    from .executions import Execution

    request = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = request["sys_path"]
    client_class, connection_class, connection_kwargs = request["client"]
    connection = client_class(connection_pool=ConnectionPool(connection_class=connection_class, **connection_kwargs))
    queue = import_attribute(request["queue_class"])(
        request["queue_name"], connection=connection, serializer=request["serializer"]
    )
    job_class = import_attribute(request["job_class"])
    worker = import_attribute(request["worker_class"])(
        [queue],
        name=request["worker_name"],
        connection=connection,
        job_class=job_class,
        serializer=request["serializer"],
        job_monitoring_interval=request["job_monitoring_interval"],
        default_result_ttl=request["default_result_ttl"],
        log_job_description=request["log_job_description"],
        prepare_for_work=False,
    )
    job = job_class.fetch(request["job_id"], connection=connection, serializer=request["serializer"])
    if request["started_at"]:
        job.started_at = parse_ts(request["started_at"])
    if request["execution_id"]:
        worker.execution = Execution(request["execution_id"], job.id, connection, worker_name=worker.name)
    worker._report_fd = int(argv[0])
    worker.main_work_horse(job, queue)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BaseException:
        import traceback

        traceback.print_exc()  # to the worker's stderr: the job is recorded as failed by the worker
        os._exit(1)
