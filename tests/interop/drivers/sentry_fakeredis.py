"""sentry-sdk's RQ integration on fakeredis, set up the way sentry-sdk's own RQ tests are.

``sentry_sdk.init(integrations=[RqIntegration()])`` with a transport that keeps each event
in a list, ``Queue(connection=fakeredis.FakeStrictRedis())`` and a ``SimpleWorker`` on the
same connection that runs one burst: a job that raises, a job that succeeds, and (traces
on) a job with its job id given. No Redis server is involved.

Prints one JSON object: the rq and sentry-sdk versions, the rq file imported, each job's
status, and the events and transactions (or segment spans) the SDK sent.

Usage: python -c "import sentry_fakeredis; sentry_fakeredis.main()" (imported, not run as a
script, so the job function is importable by its module name, as in sentry-sdk's tests).
"""

from __future__ import annotations

import json

import fakeredis
import sentry_sdk
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.transport import Transport

# Never contacted: the transport below replaces the HTTP one.
DSN = "http://public@127.0.0.1:9/1"
FAILING_JOB_ID = "fakeredis-failing-job"
SUCCEEDING_JOB_ID = "fakeredis-succeeding-job"

sent: list[dict] = []


class RecordingTransport(Transport):
    """Keeps every envelope item in ``sent`` (this process only: the worker does not fork)."""

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            sent.append({"type": item.type, "payload": item.payload.json})


def crashing_job(foo):
    """Divides by zero, like the job sentry-sdk's own RQ tests run."""
    return 1 / 0


def main() -> None:
    import rq
    from rq import Queue, SimpleWorker
    from rq.job import Job

    sentry_sdk.init(DSN, integrations=[RqIntegration()], transport=RecordingTransport, traces_sample_rate=1.0)
    queue = Queue(connection=fakeredis.FakeStrictRedis())
    worker = SimpleWorker([queue], connection=queue.connection)
    queue.enqueue(crashing_job, foo=42, job_id=FAILING_JOB_ID)
    queue.enqueue("builtins.len", "four", job_id=SUCCEEDING_JOB_ID)
    worked = worker.work(burst=True)
    sentry_sdk.flush()
    jobs = {}
    for job_id in (FAILING_JOB_ID, SUCCEEDING_JOB_ID):
        job = Job.fetch(job_id, connection=queue.connection)
        jobs[job_id] = {"status": job.get_status(), "result": job.return_value()}
    report = {
        "rq_version": rq.VERSION,
        "rq_file": rq.__file__,
        "sentry_sdk_version": sentry_sdk.VERSION,
        "worked": worked,
        "jobs": jobs,
        "items": sent,
    }
    print(json.dumps(report, default=str))
