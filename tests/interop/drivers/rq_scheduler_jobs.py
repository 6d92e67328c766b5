"""Schedule jobs with rq-scheduler's own ``Scheduler`` API, as its README shows.

Puts four jobs on rq-scheduler's schedule for queue QUEUE: ``enqueue_in`` (due in
DUE_IN seconds), ``enqueue_at`` (due already), ``schedule`` with an interval and one
repeat (due already), and ``cron`` (yearly, so not due). Prints one JSON object
mapping each of those names to its job id, and the ids rq-scheduler lists as scheduled.

Usage: rq_scheduler_jobs.py REDIS_URL QUEUE
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import redis
from rq_scheduler import Scheduler

DUE_IN = 1.0
# Midnight on the first of January: never due while a test runs (short of New Year).
CRON = "0 0 1 1 *"


def main(redis_url: str, queue: str) -> None:
    scheduler = Scheduler(queue_name=queue, connection=redis.Redis.from_url(redis_url))
    now = datetime.now(timezone.utc)
    jobs = {
        "enqueue_in": scheduler.enqueue_in(timedelta(seconds=DUE_IN), "interop_jobs.add", 1, 2),
        "enqueue_at": scheduler.enqueue_at(now - timedelta(seconds=1), "interop_jobs.echo", "at", key="value"),
        "schedule": scheduler.schedule(
            scheduled_time=now, func="interop_jobs.add", args=[3, 4], interval=60, repeat=1, result_ttl=600
        ),
        "cron": scheduler.cron(CRON, func="interop_jobs.add", args=[5, 6], queue_name=queue),
    }
    report = {
        "jobs": {kind: job.id for kind, job in jobs.items()},
        "scheduled": sorted(job.id for job in scheduler.get_jobs()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:3])
