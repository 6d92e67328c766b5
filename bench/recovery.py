"""How fast a worker is back after a Redis outage, and what it costs Redis while Redis is away.

    python bench/recovery.py [--outages 5,60,300] [--worker-class rq.worker.Worker]

For each outage length: a private ``redis-server`` (persistence off, so the restart loses
every key) serves one ``rq worker --health-port P`` started through
``bench/recovery_worker.py``, which counts the worker process's connection attempts to
Redis. The server is stopped, stays down for the outage, and is started again on the same
port. From the moment it accepts connections (T0, seen by a poller every 5 ms):

- (a) job:      a job enqueued at T0 is taken (its ``started_at``);
- (b) command:  a command published every 10 ms from T0 first reaches the worker (PUBLISH
  counts a receiver; the command, ``bench-ping``, is one the worker logs and ignores);
- (c) readyz:   ``GET /readyz`` (polled every 10 ms) answers 200;

and, during the outage, the worker's connection attempts per second. Prints one Markdown
table row per outage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timezone
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from rq import Queue  # noqa: E402
from rq.command import send_command  # noqa: E402
from rq.job import Job  # noqa: E402
from tests.redis_harness import RedisServer, find_free_port  # noqa: E402

NAME = "recovery-bench"


def _poll(predicate, timeout: float, interval: float) -> Optional[float]:
    """Time (``time.time()``) at which ``predicate()`` first held, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.time()
        time.sleep(interval)
    return None


def _accepts(port: int) -> bool:
    client = redis.Redis(port=port, socket_connect_timeout=0.05, socket_timeout=0.2, retry=None)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
        return False
    finally:
        client.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _connects(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def run_one(outage: float, worker_class: str, workdir: Path) -> dict:
    server = RedisServer()
    server.start()
    health_port = find_free_port()
    counter = workdir / f"connects-{outage:g}.txt"
    log = workdir / f"worker-{outage:g}.log"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BENCH_REDIS_PORT": str(server.port),
        "BENCH_CONNECT_LOG": str(counter),
    }
    command = [
        sys.executable,
        str(ROOT / "bench" / "recovery_worker.py"),
        "worker",
        "--url",
        server.url,
        "--name",
        NAME,
        "--worker-class",
        worker_class,
        "--health-port",
        str(health_port),
        "q",
    ]
    readyz = f"http://127.0.0.1:{health_port}/readyz"
    with open(log, "w") as output:
        worker = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        if _poll(lambda: _ready(readyz), 30, 0.05) is None:
            raise RuntimeError(f"worker not ready; see {log}")
        server.stop()
        down_at = time.time()
        connects_before = _connects(counter)
        time.sleep(outage)
        connects_after = _connects(counter)
        down_for = time.time() - down_at
        # Start the server without the harness's own readiness wait; T0 is when it accepts.
        starter = threading.Thread(target=server.start, daemon=True)
        starter.start()
        back_at = _poll(lambda: _accepts(server.port), 60, 0.005)
        if back_at is None:
            raise RuntimeError("redis-server did not come back")
        connection = redis.Redis(port=server.port)
        job = Queue("q", connection=connection).enqueue("tests.jobs.say_hello")
        command_at = _poll(lambda: send_command(connection, NAME, "bench-ping") >= 1, 30, 0.01)
        ready_at = _poll(lambda: _ready(readyz), 30, 0.01)
        _poll(lambda: Job.fetch(job.id, connection=connection).started_at is not None, 30, 0.01)
        started = Job.fetch(job.id, connection=connection).started_at
        job_at = started.replace(tzinfo=timezone.utc).timestamp() if started is not None else None
        starter.join(30)
        send_command(connection, NAME, "shutdown")
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        server.close()

    def after(at: Optional[float]) -> Optional[float]:
        return None if at is None else round(at - back_at, 3)

    return {
        "outage_s": outage,
        "job_s": after(job_at),
        "command_s": after(command_at),
        "readyz_s": after(ready_at),
        "connects_per_s": round((connects_after - connects_before) / down_for, 2),
        "log": str(log),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", default="5,60", help="outage lengths in seconds, comma-separated")
    parser.add_argument("--worker-class", default="rq.worker.Worker")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)
    logging.getLogger("rq.command").setLevel(logging.ERROR)  # the polls that reach no one are expected
    workdir = Path(tempfile.mkdtemp(prefix="rq-recovery-"))
    if not args.json:
        print("| Outage | (a) next job taken | (b) command heard | (c) /readyz 200 | connects/s during outage |")
        print("| --- | --- | --- | --- | --- |")
    for outage in (float(x) for x in args.outages.split(",")):
        row = run_one(outage, args.worker_class, workdir)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"| {outage:g} s | {row['job_s']} s | {row['command_s']} s | {row['readyz_s']} s "
                f"| {row['connects_per_s']} |",
                flush=True,
            )
    print(f"(worker logs in {workdir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
