"""Run our worker under sentry-sdk's own RQ integration; every envelope item goes to a file.

``sentry_sdk.init(integrations=[RqIntegration()])`` with a transport that appends each
envelope item as one JSON line to EVENTS_FILE, from whichever process sends it (a forking
worker's horse included). Then a scenario enqueues jobs and runs one burst worker:

- ``failure``: inside a transaction, a job that always fails with ``Retry(max=1)`` and a
  job that succeeds, traces on (``traces_sample_rate=1.0``);
- ``timeout``: a job that outlives its ``job_timeout``, with ``send_default_pii=True``.

Prints one JSON object: the RQ version and file imported, and each job's id, status and meta.

Usage: sentry_worker.py REDIS_URL EVENTS_FILE WORKER_CLASS SCENARIO
"""

from __future__ import annotations

import json
import os
import sys

import redis
import sentry_sdk
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.transport import Transport

QUEUE = "sentry"
# Never contacted: the transport below replaces the HTTP one.
DSN = "http://public@127.0.0.1:9/1"
FAILING_JOB_ID = "sentry-failing-job"
SUCCEEDING_JOB_ID = "sentry-succeeding-job"
SLOW_JOB_ID = "sentry-slow-job"
FAILURE_MESSAGE = "reported to sentry"
ENQUEUE_TRANSACTION = "enqueue-side"
# The slow job sleeps this long and is allowed one second.
SLOW_JOB_SECONDS = 10


def file_transport(path: str) -> type[Transport]:
    class FileTransport(Transport):
        def capture_envelope(self, envelope) -> None:
            with open(path, "a") as events:
                for item in envelope.items:
                    record = {"pid": os.getpid(), "type": item.type, "payload": item.payload.json}
                    events.write(json.dumps(record, default=str) + "\n")

    return FileTransport


def main() -> None:
    redis_url, events_file, worker_class, scenario = sys.argv[1:5]
    options: dict = {"dsn": DSN, "transport": file_transport(events_file), "integrations": [RqIntegration()]}
    if scenario == "failure":
        options["traces_sample_rate"] = 1.0
    else:
        options["send_default_pii"] = True
    sentry_sdk.init(**options)

    import rq
    from rq import Queue, Retry
    from rq import worker as worker_module

    connection = redis.Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=connection)
    if scenario == "failure":
        with sentry_sdk.start_transaction(name=ENQUEUE_TRANSACTION):
            jobs = [
                queue.enqueue("interop_jobs.fail", FAILURE_MESSAGE, job_id=FAILING_JOB_ID, retry=Retry(max=1)),
                queue.enqueue("interop_jobs.add", 2, 3, job_id=SUCCEEDING_JOB_ID),
            ]
    else:
        jobs = [queue.enqueue("interop_jobs.sleep_and_return", SLOW_JOB_SECONDS, job_id=SLOW_JOB_ID, job_timeout=1)]

    getattr(worker_module, worker_class)([queue], connection=connection, name=f"sentry-{scenario}").work(burst=True)
    sentry_sdk.flush()
    report = {
        "rq_version": rq.VERSION,
        "rq_file": rq.__file__,
        "jobs": {job.id: {"status": str(job.get_status().value), "meta": job.meta} for job in jobs},
    }
    print(json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
