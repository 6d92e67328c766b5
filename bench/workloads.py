"""One benchmark workload, run in a fresh process by either implementation.

``python workloads.py <workload> --url URL --count N [--marker TOKEN]`` imports whichever
``rq`` is first on ``sys.path`` (this package, or the upstream release in its own
virtualenv), runs the workload against the Redis server at ``URL`` and prints one line:
``@@bench@@ {json}`` with the elapsed time of the timed section, the number of jobs and
units it covered, the Redis command counters for that section and the ``rq`` it used.

The file imports nothing from this repository, so the upstream interpreter can run it
without seeing this package. Redis statistics are reset right before the timed section
and read right after it; with ``--marker`` the section is also bracketed by two ``ECHO``
commands, so a ``MONITOR`` connection can count the round trips inside it.

``python workloads.py serve --url URL`` is the non-burst ``SimpleWorker`` that the
latency workload starts in a separate process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, Callable

import bench_jobs
import redis

import rq
from rq import Queue, SimpleWorker, Worker
from rq.registry import FinishedJobRegistry

# Prefix of the line carrying the result; run.py reads only that line.
RESULT_PREFIX = "@@bench@@ "
# Name of the queue every workload uses.
QUEUE_NAME = "bench"
# Jobs per enqueue_many call.
BATCH_SIZE = 100
# Seconds the latency client waits for one result before it gives up.
RESULT_TIMEOUT = 10
# Seconds allowed for the latency worker to register, and to exit after SIGTERM.
WORKER_START_TIMEOUT = 30.0
WORKER_STOP_TIMEOUT = 10.0
# Pause after the latency worker registered, so it is blocked in its dequeue call.
WORKER_SETTLE = 0.3
# Untimed jobs the latency client sends first, so both sides start warm.
LATENCY_WARMUP_JOBS = 5
# Workers log at this level: per-job INFO lines would measure the log pipe, not the queue.
WORKER_LOGGING_LEVEL = "WARNING"
# Written on the MONITOR stream around the timed section (see roundtrips.py).
MARKER_START = "bench-start:"
MARKER_STOP = "bench-stop:"


class Section:
    """The timed part of a workload: Redis stats are reset at its start and read at its end."""

    def __init__(self, connection: redis.Redis, marker: str | None) -> None:
        self.connection = connection
        self.marker = marker
        self.elapsed = 0.0
        self.commands: dict[str, int] = {}
        self.reads = 0

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        self.connection.config_resetstat()
        if self.marker:
            self.connection.echo(MARKER_START + self.marker)
        started = time.perf_counter()
        yield
        self.elapsed = time.perf_counter() - started
        if self.marker:
            self.connection.echo(MARKER_STOP + self.marker)
        commandstats = self.connection.info("commandstats")
        self.commands = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in commandstats.items()}
        self.reads = int(self.connection.info("stats")["total_reads_processed"])


def enqueue_in_batches(queue: Queue, func: Callable[[], Any], count: int) -> None:
    """Fill the queue without timing it: the drain workloads measure only the worker."""
    for start in range(0, count, BATCH_SIZE):
        size = min(BATCH_SIZE, count - start)
        queue.enqueue_many([Queue.prepare_data(func) for _ in range(size)])


def check_drained(queue: Queue, expected: int) -> None:
    """Fail the run loudly if the worker did not finish every job."""
    finished = FinishedJobRegistry(queue=queue).count
    if len(queue) or finished != expected:
        raise SystemExit(f"worker left {len(queue)} jobs queued and finished {finished} of {expected}")


def run_enqueue(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.enqueue(bench_jobs.noop)  # warm-up: imports, connection, queue registration
    with section.timed():
        for _ in range(count):
            queue.enqueue(bench_jobs.noop)
    if len(queue) != count + 1:
        raise SystemExit(f"queue holds {len(queue)} jobs, expected {count + 1}")
    return {"jobs": count, "units": count}


def run_enqueue_many(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.enqueue_many([Queue.prepare_data(bench_jobs.noop)])  # warm-up
    with section.timed():
        for start in range(0, count, BATCH_SIZE):
            size = min(BATCH_SIZE, count - start)
            queue.enqueue_many([Queue.prepare_data(bench_jobs.noop) for _ in range(size)])
    if len(queue) != count + 1:
        raise SystemExit(f"queue holds {len(queue)} jobs, expected {count + 1}")
    return {"jobs": count, "units": count}


def _drain(connection: redis.Redis, section: Section, worker_class: type, func: Callable[[], Any], count: int) -> None:
    queue = Queue(QUEUE_NAME, connection=connection)
    enqueue_in_batches(queue, func, count)
    worker = worker_class([queue], connection=connection)
    with section.timed():
        worker.work(burst=True, logging_level=WORKER_LOGGING_LEVEL)
    check_drained(queue, count)


def run_simple_worker(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    _drain(connection, section, SimpleWorker, bench_jobs.noop, count)
    return {"jobs": count, "units": count}


def run_worker(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    _drain(connection, section, Worker, bench_jobs.noop, count)
    return {"jobs": count, "units": count}


def run_large_result(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    _drain(connection, section, SimpleWorker, bench_jobs.large_result, count)
    return {"jobs": count, "units": count}


def run_dependency_chains(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    """``count`` chains of parent -> child; the worker finds each child once its parent is done."""
    queue = Queue(QUEUE_NAME, connection=connection)
    for _ in range(count):
        parent = queue.enqueue(bench_jobs.noop)
        queue.enqueue(bench_jobs.noop, depends_on=parent)
    worker = SimpleWorker([queue], connection=connection)
    with section.timed():
        worker.work(burst=True, logging_level=WORKER_LOGGING_LEVEL)
    check_drained(queue, 2 * count)
    return {"jobs": 2 * count, "units": count}


def _start_serving_worker(url: str) -> subprocess.Popen[bytes]:
    interpreter_flags = ["-s"] if sys.flags.no_user_site else []
    return subprocess.Popen(
        [sys.executable, *interpreter_flags, os.path.abspath(__file__), "serve", "--url", url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def _wait_for_worker(connection: redis.Redis, queue: Queue, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while Worker.count(connection=connection, queue=queue) < 1:
        if process.poll() is not None:
            raise SystemExit(f"latency worker exited with {process.returncode} before registering")
        if time.monotonic() > deadline:
            raise SystemExit(f"latency worker did not register within {WORKER_START_TIMEOUT:.0f}s")
        time.sleep(0.02)
    time.sleep(WORKER_SETTLE)


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _round_trip(queue: Queue) -> float:
    started = time.perf_counter()
    job = queue.enqueue(bench_jobs.noop)
    result = job.latest_result(timeout=RESULT_TIMEOUT)
    elapsed = time.perf_counter() - started
    if result is None:
        raise SystemExit(f"no result for job {job.id} within {RESULT_TIMEOUT}s")
    return elapsed


def run_latency(connection: redis.Redis, section: Section, count: int, url: str) -> dict[str, Any]:
    """Enqueue one job, wait for its result, repeat; a worker in another process runs them."""
    queue = Queue(QUEUE_NAME, connection=connection)
    process = _start_serving_worker(url)
    try:
        _wait_for_worker(connection, queue, process)
        for _ in range(LATENCY_WARMUP_JOBS):
            _round_trip(queue)
        with section.timed():
            latencies = [_round_trip(queue) for _ in range(count)]
    finally:
        _stop_worker(process)
    return {
        "jobs": count,
        "units": count,
        "latencies_ms": [round(value * 1000, 4) for value in latencies],
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
    }


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def run_calibrate(connection: redis.Redis, section: Section, count: int) -> dict[str, Any]:
    """An empty timed section: what the measurement itself adds to the counters."""
    with section.timed():
        pass
    return {"jobs": 0, "units": 0}


def serve(url: str) -> None:
    connection = redis.Redis.from_url(url)
    worker = SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    worker.work(burst=False, logging_level=WORKER_LOGGING_LEVEL)


WORKLOADS: dict[str, Callable[..., dict[str, Any]]] = {
    "calibrate": run_calibrate,
    "enqueue": run_enqueue,
    "enqueue_many": run_enqueue_many,
    "simple_worker": run_simple_worker,
    "worker": run_worker,
    "latency": run_latency,
    "dependency_chains": run_dependency_chains,
    "large_result": run_large_result,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=[*WORKLOADS, "serve"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=0, help="jobs (chains for dependency_chains)")
    parser.add_argument("--marker", help="bracket the timed section with ECHO markers for MONITOR")
    args = parser.parse_args(argv)
    if args.workload == "serve":
        serve(args.url)
        return
    connection = redis.Redis.from_url(args.url)
    section = Section(connection, args.marker)
    workload = WORKLOADS[args.workload]
    if workload is run_latency:
        outcome = run_latency(connection, section, args.count, args.url)
    else:
        outcome = workload(connection, section, args.count)
    outcome.update(
        elapsed=section.elapsed,
        commands=section.commands,
        reads=section.reads,
        rq_file=os.path.realpath(rq.__file__),
        rq_version=rq.__version__,
    )
    print(RESULT_PREFIX + json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
