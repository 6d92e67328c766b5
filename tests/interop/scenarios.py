"""Scenario code that runs unchanged on either side of the fleet.

Each scenario is Python source using only the public RQ API shared by upstream RQ 2.x
and this package. :func:`run_ours` executes it in the test process (our ``rq``);
``peer.run_peer_json`` executes it with upstream's. Both give the snippet ``conn`` (a
Redis client) and ``emit(value)``; the emitted value goes through JSON either way, so
the two results compare directly.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import redis

QUEUE = "interop"

# Enqueues one job of every kind the suite checks, with fixed ids.
ENQUEUE_ALL = """
from datetime import timedelta
from rq import Queue, Retry
import interop_jobs
q = Queue("interop", connection=conn)
q.enqueue(interop_jobs.add, 1, 2, job_id="ok")
q.enqueue(interop_jobs.fail, "boom", job_id="failing")
q.enqueue(interop_jobs.echo, 1, "two", job_id="kwargs", x=3, nested={"a": [1, 2]}, meta={"owner": "interop", "n": 1})
q.enqueue(interop_jobs.add, 2, 3, job_id="ttls", result_ttl=120, failure_ttl=240, ttl=600, job_timeout="1m")
q.enqueue(interop_jobs.fail, "short-lived", job_id="failing_ttl", failure_ttl=240)
q.enqueue(interop_jobs.add, 5, 5, job_id="forever", result_ttl=-1)
q.enqueue(interop_jobs.fail, "always", job_id="retried", retry=Retry(max=2))
q.enqueue(interop_jobs.fail, "not yet", job_id="retried_later", retry=Retry(max=1, interval=3600))
q.enqueue(interop_jobs.add, 3, 4, job_id="child", depends_on="ok")
q.enqueue(interop_jobs.add, 0, 0, job_id="orphan", depends_on="failing")
q.enqueue(interop_jobs.current_job_info, job_id="current", meta={"k": "v"})
q.enqueue(interop_jobs.big_value, job_id="big")
q.enqueue(interop_jobs.touch_meta, "touched", True, job_id="touch")
q.enqueue(interop_jobs.echo, "first", job_id="urgent", at_front=True)
q.enqueue_in(timedelta(hours=1), interop_jobs.add, 6, 7, job_id="later")
emit({
    "queued": q.job_ids,
    "deferred": sorted(q.deferred_job_registry.get_job_ids()),
    "scheduled": sorted(q.scheduled_job_registry.get_job_ids()),
})
"""

JOB_IDS = [
    "ok", "failing", "kwargs", "ttls", "failing_ttl", "forever", "retried", "retried_later", "child", "orphan",
    "current", "big", "touch", "urgent", "later",
]  # fmt: skip

# What ENQUEUE_ALL reports, whichever side enqueued.
ENQUEUED = {
    "queued": [
        "urgent", "ok", "failing", "kwargs", "ttls", "failing_ttl", "forever", "retried", "retried_later", "current",
        "big", "touch",
    ],
    "deferred": ["child", "orphan"],
    "scheduled": ["later"],
}  # fmt: skip

# Defines ``attempt(fn)``: fn() or, if it raises, a description of the error, so one
# unreadable value shows up in the comparison instead of aborting the whole read-back.
_ATTEMPT = """
def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return f"<error {type(exc).__name__}: {exc}>"
"""

# Reads every job of ENQUEUE_ALL back through the public API, after a worker ran them.
READ_BACK = (
    _ATTEMPT
    + """
from rq import Queue
from rq.job import Job
q = Queue("interop", connection=conn)
jobs = {}
for job_id in JOB_IDS:
    job = Job.fetch(job_id, connection=conn)
    latest = attempt(job.latest_result)
    value = attempt(job.return_value)
    if job_id == "big" and isinstance(value, str) and not value.startswith("<error"):
        value = {"length": len(value)}
    if job_id == "current" and isinstance(value, dict):
        value = {k: v for k, v in value.items() if k in ("id", "origin", "meta", "worker_name")}
    exc = attempt(lambda: job.exc_info)
    stamps = [t for t in (job.created_at, job.enqueued_at, job.started_at, job.ended_at) if t is not None]
    status = job.get_status()
    jobs[job_id] = {
        "status": getattr(status, "value", status),
        "return_value": value,
        "latest_result": latest.type.name if hasattr(latest, "type") else latest,
        "results": attempt(lambda: sorted(r.type.name for r in job.results())),
        "exc_last_line": exc.strip().splitlines()[-1] if exc else None,
        "retries_left": job.retries_left,
        "meta": job.get_meta(),
        "origin": job.origin,
        "description": job.description,
        "timeout": job.timeout,
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "dependency_ids": job.dependency_ids,
        "worker_name": job.worker_name,
        "timestamps_in_order": all(a <= b for a, b in zip(stamps, stamps[1:])),
        "key_ttl": conn.ttl(job.key),
    }
registries = {
    "finished": sorted(q.finished_job_registry.get_job_ids()),
    "failed": sorted(q.failed_job_registry.get_job_ids()),
    "deferred": sorted(q.deferred_job_registry.get_job_ids()),
    "started": sorted(q.started_job_registry.get_job_ids()),
    "scheduled": sorted(q.scheduled_job_registry.get_job_ids()),
}
emit({"jobs": jobs, "registries": registries, "queued": q.job_ids,
      "queues": sorted(x.name for x in Queue.all(connection=conn))})
"""
)

# Lists the registered workers the way `rq info` does.
LIST_WORKERS = """
from rq import Queue, Worker
workers = []
for w in Worker.all(connection=conn):
    workers.append({
        "name": w.name,
        "queues": w.queue_names(),
        "state": getattr(w.get_state(), "value", w.get_state()),
        "pid": w.pid,
        "hostname": w.hostname,
        "version": w.version,
        "has_birth": w.birth_date is not None,
        "has_heartbeat": w.last_heartbeat is not None,
        "current_job_id": w.get_current_job_id(),
    })
per_queue = {name: Worker.count(connection=conn, queue=Queue(name, connection=conn)) for name in QUEUES}
emit({"workers": workers, "per_queue": per_queue, "queues": sorted(q.name for q in Queue.all(connection=conn))})
"""

# One quick job on each of two queues, so both are registered queues.
ENQUEUE_SEEDS = """
from rq import Queue
import interop_jobs
for name in ("interop", "other"):
    Queue(name, connection=conn).enqueue(interop_jobs.add, 1, 1, job_id="seed_" + name)
emit(True)
"""

SEND_SHUTDOWN = """
from rq.command import send_shutdown_command
send_shutdown_command(conn, WORKER_NAME)
emit(True)
"""

SEND_STOP_JOB = """
from rq.command import send_stop_job_command
send_stop_job_command(conn, JOB_ID)
emit(True)
"""

SUSPEND = """
from rq.suspension import suspend
suspend(conn)
emit(True)
"""

RESUME = """
from rq.suspension import resume
resume(conn)
emit(True)
"""

ENQUEUE_HELD = """
from rq import Queue
import interop_jobs
q = Queue("interop", connection=conn)
job = q.enqueue(interop_jobs.block_until, RELEASE_KEY, 60, job_id=JOB_ID)
emit(job.id)
"""

ENQUEUE_RETRY_REQUEST = """
from rq import Queue
import interop_jobs
job = Queue("interop", connection=conn).enqueue(interop_jobs.request_retry, 2, job_id=JOB_ID)
emit(job.id)
"""

ENQUEUE_PAST_DUE = """
from datetime import datetime, timezone
from rq import Queue
import interop_jobs
q = Queue("interop", connection=conn)
job = q.enqueue_at(datetime(2020, 1, 1, tzinfo=timezone.utc), interop_jobs.add, 20, 22, job_id=JOB_ID)
status = job.get_status()
scheduled = q.scheduled_job_registry.get_job_ids()
emit({"status": getattr(status, "value", status), "scheduled": scheduled, "queued": q.job_ids})
"""

ENQUEUE_FLAKY = """
from rq import Queue
import interop_jobs
q = Queue("interop", connection=conn)
job = q.enqueue(interop_jobs.fail_first_attempts, COUNTER_KEY, 1, job_id=JOB_ID)
emit(job.id)
"""

REQUEUE_FAILED = """
from rq import Queue
q = Queue("interop", connection=conn)
emit(q.failed_job_registry.requeue(JOB_ID).id)
"""

# Status, result and registry membership of one job.
JOB_STATE = (
    _ATTEMPT
    + """
from rq import Queue
from rq.job import Job
q = Queue("interop", connection=conn)
job = Job.fetch(JOB_ID, connection=conn)
latest = attempt(job.latest_result)
exc = attempt(lambda: job.exc_info)
status = job.get_status()
emit({
    "status": getattr(status, "value", status),
    "return_value": attempt(job.return_value),
    "latest_result": latest.type.name if hasattr(latest, "type") else latest,
    "results": attempt(lambda: sorted(r.type.name for r in job.results())),
    "number_of_retries": job.number_of_retries,
    "exc_last_line": exc.strip().splitlines()[-1] if exc else None,
    "in_failed": JOB_ID in q.failed_job_registry,
    "in_finished": JOB_ID in q.finished_job_registry,
    "in_started": JOB_ID in q.started_job_registry,
    "queued": q.job_ids,
})
"""
)


def with_vars(script: str, **variables: Any) -> str:
    """``script`` preceded by ``NAME = <repr>`` lines for each variable."""
    lines = [f"{name} = {value!r}" for name, value in variables.items()]
    return "\n".join(lines) + "\n" + textwrap.dedent(script)


def run_ours(script: str, connection: redis.Redis) -> Any:
    """Run a scenario with our ``rq`` in this process; returns its one emitted value, via JSON."""
    emitted: list[Any] = []
    namespace = {"conn": connection, "emit": emitted.append, "__name__": "interop_scenario"}
    exec(compile(textwrap.dedent(script), "<scenario>", "exec"), namespace)
    if len(emitted) != 1:
        raise AssertionError(f"scenario emitted {len(emitted)} values, expected 1")
    return json.loads(json.dumps(emitted[0], default=str))


# RQ value objects that can end up pickled inside stored payloads (a job returning
# ``Retry`` stores it as its result; statuses and specs can be job arguments or results).
_RQ_OBJECTS = """
import base64, pickle
from rq import Callback, Repeat, Retry
from rq.job import Dependency, JobStatus
objects = {
    "Retry": Retry(max=2, interval=[1, 2]),
    "Repeat": Repeat(times=2, interval=5),
    "Callback": Callback("interop_jobs.add", timeout=5),
    "Dependency": Dependency(jobs=["parent"]),
    "JobStatus": JobStatus.FINISHED,
}
"""

PICKLE_RQ_OBJECTS = (
    _RQ_OBJECTS
    + """
emit({name: base64.b64encode(pickle.dumps(obj)).decode() for name, obj in objects.items()})
"""
)

# Loads PICKLES (name -> base64 pickle) and compares each with the same object built
# here: the class it became, and attribute names that differ from a native instance.
LOAD_PICKLES = (
    _RQ_OBJECTS
    + """
loaded = {}
for name, payload in PICKLES.items():
    native = objects[name]
    try:
        obj = pickle.loads(base64.b64decode(payload))
    except Exception as exc:
        loaded[name] = f"<error {type(exc).__name__}: {exc}>"
        continue
    if type(obj) is not type(native):
        loaded[name] = f"<became {type(obj).__module__}.{type(obj).__qualname__}>"
    elif hasattr(native, "__dict__") and set(vars(obj)) != set(vars(native)):
        loaded[name] = f"<attributes {sorted(vars(obj))}, native {sorted(vars(native))}>"
    elif not hasattr(native, "__dict__") and obj is not native:
        loaded[name] = f"<not the same member: {obj!r}>"
    else:
        loaded[name] = "ok"
emit(loaded)
"""
)
