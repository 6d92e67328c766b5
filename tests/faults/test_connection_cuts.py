"""Connections cut from the Redis side (``CLIENT KILL``) again and again while workers drain a burst.

Redis keeps running with all its data, so every job must end exactly once as its function
decides; a cut only costs the workers a reconnect. The workers' clients come from
``Redis.from_url``, which passes every connection error on to the worker; clients that
re-send commands themselves are covered, deterministically, in ``test_lost_replies.py``.
"""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from rq import Queue, Retry
from tests.faults.accounting import Ledger, assert_queue_drained, report, stop_workers
from tests.helpers import WorkerProcess, wait_for

TOTAL = 1000
JOB_SECONDS = 0.01
# Seconds between two rounds of CLIENT KILL.
CUT_INTERVAL = 0.05


class ClientKiller:
    """Kills every other client of the server (here: the workers' connections) in a loop."""

    def __init__(self, connection: Redis, interval: float = CUT_INTERVAL) -> None:
        self.connection = connection
        self.interval = interval
        self.rounds = 0
        self.killed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="client-killer")

    def __enter__(self) -> "ClientKiller":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for kind in ("normal", "pubsub"):
                self.killed += int(self.connection.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"))
            self.rounds += 1


@pytest.mark.timeout(150)
def test_client_kill_loop_during_a_burst(persistent_redis, tmp_path, request):
    server = persistent_redis
    killer_connection = server.client()
    queue = Queue("cuts", connection=killer_connection)
    ledger = Ledger(tmp_path / "jobs", f"CLIENT KILL every {CUT_INTERVAL:g}s")
    for _ in range(TOTAL // 100):
        ledger.enqueue(queue, 94, seconds=JOB_SECONDS)
        ledger.enqueue(queue, 3, seconds=JOB_SECONDS, fail="once", retry=Retry(max=2))
        ledger.enqueue(queue, 3, seconds=JOB_SECONDS, fail="always")
    options = ("--maintenance-interval", "2", "--job-monitoring-interval", "5")
    workers = [
        WorkerProcess(server.url, ["cuts"], "--name", f"cut-{i}", *options, log_path=tmp_path / f"worker{i}.log")
        for i in range(2)
    ]
    try:
        wait_for(lambda: ledger.run_count() >= 10, timeout=30, message="the burst to start")
        started = time.monotonic()
        with ClientKiller(killer_connection) as killer:
            wait_for(
                lambda: ledger.run_count() >= TOTAL * 0.9,
                timeout=90,
                interval=0.2,
                message=f"the burst to progress under CLIENT KILL (logs in {tmp_path})",
            )
        cut_seconds = time.monotonic() - started
        connection = ledger.wait_until_ended(server.client, timeout=60, stranded_after=10)
        queue = Queue("cuts", connection=connection)
        tally = ledger.tally(connection)
        tally.notes.append(f"{killer.killed} connections killed in {killer.rounds} rounds over {cut_seconds:.0f}s")
        report(request, tally)
        assert_queue_drained(connection, queue)
        stop_workers(workers, alive_through="under CLIENT KILL")
    finally:
        for worker in workers:
            worker.stop()
    assert killer.killed > 0
    tally.assert_exact(failed=TOTAL // 100 * 3, retried=TOTAL // 100 * 3)
    assert "never ran" not in tally.ids, tally.describe()
