"""End-to-end demo: a throwaway Redis, a few jobs, a worker that runs them, the results.

Run it with ``make demo``, or with ``python examples/demo.py`` where this checkout's
dependencies are installed. It needs a ``redis-server`` binary; nothing is persisted and
the server is stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
REPO_ROOT = EXAMPLES_DIR.parent
# Use this checkout's rq package, and borrow the throwaway server from its test harness.
sys.path.insert(0, str(REPO_ROOT))
sys.path.append(str(REPO_ROOT / "tests"))

# ``tasks`` is importable because examples/, the script's folder, is on sys.path.
import tasks  # noqa: E402
from redis_harness import RedisServer  # noqa: E402

from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402

QUEUE_NAME = "default"
# Seconds the worker gets to drain the queue before the demo gives up on it.
WORKER_TIMEOUT = 120


def run_worker(url: str) -> int:
    """Run ``rq worker --burst`` in a child process until the queue is empty."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", url, QUEUE_NAME]
    # The worker runs from examples/ so that it can import the ``tasks`` module.
    try:
        return subprocess.run(command, cwd=EXAMPLES_DIR, env=env, timeout=WORKER_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        print(f"The worker did not finish within {WORKER_TIMEOUT} seconds.", file=sys.stderr)
        return 1


def describe(job: Job) -> tuple[str, str]:
    """Return the job's status and its result, or the last line of its traceback."""
    status = job.get_status(refresh=True)
    status_text = str(getattr(status, "value", status))
    if job.is_failed:
        lines = (job.exc_info or "").strip().splitlines()
        return status_text, lines[-1] if lines else "(no traceback stored)"
    return status_text, repr(job.return_value())


def main() -> int:
    with RedisServer() as server:
        print(f"Started a throwaway Redis at {server.url}", flush=True)
        queue = Queue(QUEUE_NAME, connection=server.client())
        jobs = [
            queue.enqueue(tasks.count_words, "the quick brown fox jumps over the lazy dog"),
            queue.enqueue(tasks.add, 2, 3),
            queue.enqueue(tasks.fail, "this job fails on purpose"),
        ]
        print(f"Enqueued {len(jobs)} jobs on {QUEUE_NAME!r}; starting a worker.", flush=True)
        print("(The third job fails on purpose; the worker logs its traceback.)\n", flush=True)

        worker_status = run_worker(server.url)

        print("\nResults:")
        width = max(len(job.description or job.id) for job in jobs)
        statuses = []
        for job in jobs:
            status, outcome = describe(job)
            statuses.append(status)
            print(f"  {job.description or job.id:<{width}}  {status:<9} {outcome}")

    expected = ["finished", "finished", "failed"]
    if worker_status != 0 or statuses != expected:
        print(f"\nUnexpected outcome: worker exit status {worker_status}, statuses {statuses}")
        return 1
    print("\nTwo jobs finished and one failed, as intended. Redis has been stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
