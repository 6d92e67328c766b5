"""A slow or unresponsive Redis: the workers talk to it through a loopback proxy that stalls or drops traffic.

A stalled request gets no answer: the worker's socket timeout turns it into a
``TimeoutError``, handled like a lost connection (one warning, backoff, retry). Nothing may
hang for good, and the workers must drain the queue once traffic flows again.
"""

from __future__ import annotations

import time

import pytest

from rq import Queue, Retry
from tests.faults.accounting import Ledger, assert_queue_drained, report, stop_workers
from tests.helpers import WorkerProcess, wait_for
from tests.tcp_proxy import TCPProxy

TOTAL = 300
JOB_SECONDS = 0.02
# Socket timeouts of the workers' connections; a stall lasts several of them.
SOCKET_TIMEOUT = 1
STALL_SECONDS = 5.0
WORKER_OPTIONS = ("--maintenance-interval", "2", "--job-monitoring-interval", "5")


@pytest.mark.timeout(150)
def test_stalled_and_dropped_traffic_during_a_burst(persistent_redis, tmp_path, request):
    server = persistent_redis
    queue = Queue("slow", connection=server.client())
    ledger = Ledger(tmp_path / "jobs", f"proxy stalled {STALL_SECONDS:g}s twice, then cut")
    for _ in range(TOTAL // 100):
        ledger.enqueue(queue, 94, seconds=JOB_SECONDS)
        ledger.enqueue(queue, 3, seconds=JOB_SECONDS, fail="once", retry=Retry(max=2))
        ledger.enqueue(queue, 3, seconds=JOB_SECONDS, fail="always")
    with TCPProxy(server.host, server.port) as proxy:
        url = f"{proxy.url}?socket_timeout={SOCKET_TIMEOUT}&socket_connect_timeout={SOCKET_TIMEOUT}"
        workers = [
            WorkerProcess(url, ["slow"], "--name", f"slow-{i}", *WORKER_OPTIONS, log_path=tmp_path / f"worker{i}.log")
            for i in range(2)
        ]
        try:
            for stall, target in enumerate((TOTAL // 4, TOTAL // 2), start=1):
                wait_for(lambda target=target: ledger.run_count() >= target, timeout=60, message=f"{target} runs first")
                proxy.stall()
                stalled_at = ledger.run_count()
                time.sleep(STALL_SECONDS)
                # A horse may finish the job it had; no new job may start while nothing flows.
                assert ledger.run_count() <= stalled_at + len(workers)
                for worker in workers:
                    wait_for(
                        lambda worker=worker, stall=stall: worker.output().count("TimeoutError") >= stall,
                        timeout=10,
                        message=f"{worker.log_path} to report a TimeoutError during stall {stall}",
                    )
                proxy.resume()
            wait_for(lambda: ledger.run_count() >= TOTAL * 3 // 4, timeout=60, message="progress after the stalls")
            proxy.cut()
            connection = ledger.wait_until_ended(server.client, timeout=60, stranded_after=10)
            tally = ledger.tally(connection)
            report(request, tally)
            queue = Queue("slow", connection=connection)
            assert_queue_drained(connection, queue)
            stop_workers(workers, alive_through="while traffic stalled")
        finally:
            for worker in workers:
                worker.stop()
    tally.assert_exact(failed=TOTAL // 100 * 3, retried=TOTAL // 100 * 3)
    assert "never ran" not in tally.ids, tally.describe()
    for worker in workers:
        output = worker.output()
        assert "recovered after" in output
        assert "unhandled exception" not in output
        assert "error in the command listener" not in output
