"""Run a worker in its own process for tests that signal, kill or outlive it.

``python -m tests.worker_process URL QUEUE... [--burst] [--name N] [--class DOTTED]``
"""

from __future__ import annotations

import argparse
import logging
import sys

from redis import Redis

from rq.utils import import_attribute


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queues", nargs="+")
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--name")
    parser.add_argument("--class", dest="worker_class", default="rq.worker.Worker")
    parser.add_argument("--job-monitoring-interval", type=int, default=30)
    parser.add_argument("--maintenance-interval", type=int, default=600)
    parser.add_argument("--max-jobs", type=int)
    parser.add_argument("--with-scheduler", action="store_true")
    args = parser.parse_args(argv)
    import faulthandler
    import signal as _signal

    faulthandler.register(_signal.SIGUSR1)
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    worker_class = import_attribute(args.worker_class)
    worker = worker_class(
        args.queues,
        name=args.name,
        connection=Redis.from_url(args.url),
        job_monitoring_interval=args.job_monitoring_interval,
        maintenance_interval=args.maintenance_interval,
    )
    worker.work(burst=args.burst, max_jobs=args.max_jobs, with_scheduler=args.with_scheduler)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
