"""Run our worker under sentry-sdk's own RQ integration; every envelope item goes to a file.

Works with sentry-sdk 1.40+, 2.x and 3.x: whichever the interpreter running it has.
``sentry_sdk.init(integrations=[RqIntegration(...)])`` with a transport that appends each
envelope item as one JSON line to EVENTS_FILE, from whichever process sends it (a forking
worker's horse included). Then a scenario enqueues jobs and runs one burst worker:

- ``failure``: inside an enqueue-side transaction, a job that always fails with
  ``Retry(max=1)`` and a job that succeeds; traces on (``traces_sample_rate=1.0``), job
  arguments withheld (see ``job_arguments_option``).
- ``timeout``: a job that outlives its ``job_timeout``, with job arguments collected.
- ``propagation``: inside an enqueue-side transaction, one job through each enqueue path
  (``enqueue``, ``enqueue_many``, ``enqueue_at``, ``enqueue_in``, a dependent of a parent,
  a job that fails once and is retried); the scheduled ones are due before the worker
  starts, so its scheduler (``with_scheduler=True``) puts them on the queue.
- ``cron``: ``RqIntegration(monitor_cron_jobs=True)``; a ``CronScheduler`` with one job on a
  cron string and one on an interval runs (in a thread) until it enqueued each once, then
  the worker runs them. Run it with ``TZ=UTC``: the integration only monitors crontab
  schedules when the local time zone is UTC.

Prints one JSON object: the RQ and sentry-sdk versions, the RQ file imported, and each
job's id, status and meta (as stored in Redis after the worker ran).

Usage: sentry_worker.py REDIS_URL EVENTS_FILE WORKER_CLASS SCENARIO
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

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
# Seconds ahead the propagation scenario schedules its enqueue_at / enqueue_in jobs.
SCHEDULE_AHEAD = 1.0
# The cron scenario's schedules: a 5-field crontab and a whole number of minutes (in seconds),
# the forms Sentry's cron monitors accept.
CRON_STRING = "*/5 * * * *"
CRON_INTERVAL = 120
# Seconds the cron scenario waits for the scheduler to enqueue its jobs.
CRON_WAIT = 30.0


def file_transport(path: str) -> type[Transport]:
    class FileTransport(Transport):
        def capture_envelope(self, envelope) -> None:
            with open(path, "a") as events:
                for item in envelope.items:
                    record = {"pid": os.getpid(), "type": item.type, "payload": item.payload.json}
                    events.write(json.dumps(record, default=str) + "\n")

    return FileTransport


def sdk_major() -> int:
    return int(sentry_sdk.VERSION.split(".")[0])


def job_arguments_option(collect: bool) -> dict:
    """The init option that makes the integration report (or withhold) job args and kwargs.

    ``data_collection={"queues": ...}`` where the SDK knows it (3.x, which refuses
    ``send_default_pii``, and recent 2.x); else ``send_default_pii`` (1.x, older 2.x), whose
    default withholds them.
    """
    from sentry_sdk.consts import ClientConstructor

    if "data_collection" in inspect.signature(ClientConstructor.__init__).parameters:
        return {"data_collection": {"queues": collect}}
    return {"send_default_pii": True} if collect else {}


@contextlib.contextmanager
def enqueue_side() -> Iterator[None]:
    """An enqueue-side root span: a transaction (sentry-sdk 1.x/2.x) or a segment span (3.x)."""
    start_transaction = getattr(sentry_sdk, "start_transaction", None)
    if start_transaction is not None:
        with start_transaction(name=ENQUEUE_TRANSACTION, op="enqueue"):
            yield
    else:
        with sentry_sdk.start_span(name=ENQUEUE_TRANSACTION):
            yield


def failure_jobs(queue, connection) -> list:
    from rq import Retry

    with enqueue_side():
        return [
            queue.enqueue("interop_jobs.fail", FAILURE_MESSAGE, job_id=FAILING_JOB_ID, retry=Retry(max=1)),
            queue.enqueue("interop_jobs.add", 2, 3, job_id=SUCCEEDING_JOB_ID),
        ]


def timeout_jobs(queue, connection) -> list:
    return [queue.enqueue("interop_jobs.sleep_and_return", SLOW_JOB_SECONDS, job_id=SLOW_JOB_ID, job_timeout=1)]


def propagation_jobs(queue, connection) -> list:
    from rq import Queue, Retry

    with enqueue_side():
        due = datetime.now(timezone.utc) + timedelta(seconds=SCHEDULE_AHEAD)
        parent = queue.enqueue("interop_jobs.add", 1, 1, job_id="trace-parent")
        jobs = [
            queue.enqueue("interop_jobs.add", 0, 1, job_id="trace-enqueue"),
            *queue.enqueue_many(
                [
                    Queue.prepare_data("interop_jobs.add", (2, 2), job_id="trace-many-1"),
                    Queue.prepare_data("interop_jobs.add", (2, 3), job_id="trace-many-2"),
                ]
            ),
            queue.enqueue_at(due, "interop_jobs.add", 3, 3, job_id="trace-at"),
            queue.enqueue_in(timedelta(seconds=SCHEDULE_AHEAD), "interop_jobs.add", 4, 4, job_id="trace-in"),
            parent,
            queue.enqueue("interop_jobs.add", 5, 5, job_id="trace-dependent", depends_on=parent),
            queue.enqueue(
                "interop_jobs.fail_first_attempts", "trace-retried-attempts", job_id="trace-retried", retry=Retry(max=1)
            ),
        ]
    # Both scheduled jobs are due before the worker's scheduler looks (once, in burst mode).
    time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + SCHEDULE_AHEAD)
    return jobs


def cron_jobs(queue, connection) -> list:
    from rq.cron import CronScheduler
    from rq.job import Job

    scheduler = CronScheduler(connection, name="sentry-cron")
    on_cron = scheduler.register("interop_jobs.add", QUEUE, args=(7, 8), cron=CRON_STRING, name="cron-string-job")
    on_interval = scheduler.register(
        "interop_jobs.fail", QUEUE, args=("cron failure",), interval=CRON_INTERVAL, name="interval-job"
    )
    # An interval job is due at once; a cron-string job waits for its next match (up to five
    # minutes here), so it is made due now instead, as if the scheduler had been waiting.
    on_cron.next_enqueue_time = datetime.now(timezone.utc)
    thread = threading.Thread(target=scheduler.start, name="cron-scheduler", daemon=True)
    thread.start()
    deadline = time.monotonic() + CRON_WAIT
    try:
        while not (on_cron.get_job_ids(connection) and on_interval.get_job_ids(connection)):
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit(f"the cron scheduler did not enqueue both jobs within {CRON_WAIT:.0f}s")
            time.sleep(0.05)
    finally:
        scheduler.request_stop()
        thread.join(CRON_WAIT)
    job_ids = [*on_cron.get_job_ids(connection), *on_interval.get_job_ids(connection)]
    return [Job.fetch(job_id, connection=connection) for job_id in job_ids]


SCENARIOS = {"failure": failure_jobs, "timeout": timeout_jobs, "propagation": propagation_jobs, "cron": cron_jobs}


def main() -> None:
    redis_url, events_file, worker_class, scenario = sys.argv[1:5]
    integration = RqIntegration(monitor_cron_jobs=True) if scenario == "cron" else RqIntegration()
    options: dict = {"dsn": DSN, "transport": file_transport(events_file), "integrations": [integration]}
    if scenario in ("failure", "propagation"):
        options["traces_sample_rate"] = 1.0
    if scenario in ("failure", "timeout"):
        options.update(job_arguments_option(collect=scenario == "timeout"))
    sentry_sdk.init(**options)

    import rq
    from rq import Queue
    from rq import worker as worker_module

    connection = redis.Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=connection)
    jobs = SCENARIOS[scenario](queue, connection)

    worker = getattr(worker_module, worker_class)([queue], connection=connection, name=f"sentry-{scenario}")
    worker.work(burst=True, with_scheduler=scenario == "propagation")
    sentry_sdk.flush()
    report = {
        "rq_version": rq.VERSION,
        "rq_file": rq.__file__,
        "sentry_sdk_version": sentry_sdk.VERSION,
        "sentry_sdk_major": sdk_major(),
        "time_zone": list(time.tzname),
        "jobs": {job.id: {"status": str(job.get_status().value), "meta": job.get_meta()} for job in jobs},
    }
    print(json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
