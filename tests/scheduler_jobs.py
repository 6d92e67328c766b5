"""Job functions for the scheduler tests, and a worker runner for subprocesses.

``python -m tests.scheduler_jobs REDIS_URL QUEUE [options]`` runs a ``Worker`` with
``with_scheduler=True``; the options shorten the scheduler's lock timings so lock expiry
can be tested in seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from redis import Redis

from rq.job import get_current_job


def record(key: str, value: str) -> str:
    """Append ``value`` to the Redis list ``key`` (so tests can see the order jobs ran in)."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(key, value)
    return value


def fail_and_count(key: str) -> None:
    """Count a run in ``key``, then fail."""
    job = get_current_job()
    assert job is not None
    job.connection.incr(key)
    raise ValueError("failing on purpose")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("redis_url")
    parser.add_argument("queues", nargs="+")
    parser.add_argument("--name", default=None)
    parser.add_argument("--lock-grace", type=float, default=None)
    parser.add_argument("--reacquire-period", type=float, default=None)
    parser.add_argument("--maintenance-interval", type=int, default=600)
    args = parser.parse_args(argv)

    from rq.scheduler import RQScheduler
    from rq.worker import Worker

    if args.lock_grace is not None:
        RQScheduler.lock_grace = args.lock_grace
    if args.reacquire_period is not None:
        RQScheduler.reacquire_period = args.reacquire_period
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(asctime)s %(process)d %(name)s %(message)s")
    connection = Redis.from_url(args.redis_url)
    worker = Worker(args.queues, connection=connection, name=args.name, maintenance_interval=args.maintenance_interval)
    worker.work(with_scheduler=True, logging_level="DEBUG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
