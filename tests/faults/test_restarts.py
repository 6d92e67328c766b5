"""Redis restarted (stopped, down for seconds, started on the same port) while workers drain a queue.

The server keeps its data in an append-only file, so whatever goes wrong is the worker's
doing: every job must end exactly as its function decides (finished, failed, or retried
then finished), none may be left queued or started, none may be missing.
"""

from __future__ import annotations

import pytest

from rq import Queue, Retry
from tests.faults.accounting import Ledger, assert_queue_drained, report, stop_workers
from tests.helpers import WorkerProcess, wait_for

TOTAL = 1000
RESTARTS = 5
DOWNTIME = 3.0
# Per 100 jobs: most succeed, some fail once then succeed on their retry, some always fail.
FAIL_ONCE_PER_100 = 3
FAIL_ALWAYS_PER_100 = 3
JOB_SECONDS = 0.02
# Maintenance every 2 s, so abandoned jobs would be found within the test.
WORKER_OPTIONS = ("--maintenance-interval", "2", "--job-monitoring-interval", "5")


def _enqueue_mix(ledger: Ledger, queue: Queue) -> None:
    for _ in range(TOTAL // 100):
        ledger.enqueue(queue, 100 - FAIL_ONCE_PER_100 - FAIL_ALWAYS_PER_100, seconds=JOB_SECONDS)
        ledger.enqueue(queue, FAIL_ONCE_PER_100, seconds=JOB_SECONDS, fail="once", retry=Retry(max=2))
        ledger.enqueue(queue, FAIL_ALWAYS_PER_100, seconds=JOB_SECONDS, fail="always")


@pytest.mark.timeout(240)
def test_five_restarts_while_two_workers_drain_a_thousand_jobs(persistent_redis, tmp_path, request):
    server = persistent_redis
    queue = Queue("drain", connection=server.client())
    ledger = Ledger(tmp_path / "jobs", f"Redis restarted {RESTARTS}x, {DOWNTIME:g}s down")
    _enqueue_mix(ledger, queue)
    workers = [
        WorkerProcess(server.url, ["drain"], "--name", f"drain-{i}", *WORKER_OPTIONS, log_path=tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:
        for cut in range(1, RESTARTS + 1):
            # Spread the restarts over the drain; progress is read from the run log, not Redis.
            target = cut * TOTAL // (RESTARTS + 2)
            wait_for(
                lambda target=target: ledger.run_count() >= target,
                timeout=60,
                interval=0.1,
                message=f"{target} runs before restart {cut} (workers' logs: {tmp_path})",
            )
            server.restart(downtime=DOWNTIME)
        connection = ledger.wait_until_ended(server.client, timeout=120, stranded_after=10)
        tally = ledger.tally(connection)
        report(request, tally)
        queue = Queue("drain", connection=connection)
        assert_queue_drained(connection, queue)
        assert queue.scheduled_job_registry.get_job_count(cleanup=False) == 0
        stop_workers(workers, alive_through="during the restarts")
    finally:
        for worker in workers:
            worker.stop()
    fail_once = TOTAL // 100 * FAIL_ONCE_PER_100
    fail_always = TOTAL // 100 * FAIL_ALWAYS_PER_100
    tally.assert_exact(failed=fail_always, retried=fail_once)
    assert tally.finished == TOTAL - fail_always, tally.describe()
    assert "never ran" not in tally.ids, tally.describe()
    for worker in workers:
        output = worker.output()
        assert "Redis connection lost" in output
        assert "unhandled exception" not in output
