"""Workers and work horses killed with SIGKILL in the middle of a job.

Three ways to die, run side by side so that the heartbeat TTL (61 s with
``--job-monitoring-interval 1``) is waited for once:

* the worker's main process alone (on Linux its horse dies with it);
* the horse alone (the worker sees it die and records the job at once);
* the worker and its horse together, as when the host disappears.

A job whose worker died is found abandoned by another worker's maintenance: it ends
failed with ``AbandonedJobError`` (or is retried, per its policy), its failure callback
runs in the worker that found it, and the dead worker's record expires and leaves the
worker sets.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from redis import Redis

from rq import Callback, Queue, Retry
from rq.layout import WORKERS_KEY, worker_key, workers_by_queue_key
from tests import jobs
from tests.faults.accounting import Ledger, report
from tests.helpers import WorkerProcess, wait_for

# Heartbeat TTL of a running job (and of its busy worker's record) with job_monitoring_interval=1.
HEARTBEAT_TTL = 61
# How long the first run of each victim job lasts: far longer than the test.
FIRST_RUN_SECONDS = 600


def _horse(worker: WorkerProcess) -> psutil.Process:
    """The worker's work horse, once it is running a job."""
    parent = psutil.Process(worker.pid)
    return wait_for(lambda: next(iter(parent.children()), None), message=f"a horse under {worker.log_path}")


def _dead(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _victim(server_url: str, queue: str, name: str, tmp_path) -> WorkerProcess:
    options = ("--job-monitoring-interval", "1", "--maintenance-interval", "600")
    return WorkerProcess(server_url, [queue], "--name", name, *options, log_path=tmp_path / f"{name}.log")


def _callbacks(connection: Redis, job_id: str) -> list[str]:
    return [item.decode() for item in connection.lrange(f"callbacks:{job_id}", 0, -1)]


def _enqueue_victims(ledger: Ledger, queue: Queue) -> tuple[str, str]:
    """One job without a retry policy, one with a single retry; both report failures."""
    (plain,) = ledger.enqueue(queue, 1, first_run_seconds=FIRST_RUN_SECONDS, on_failure=Callback(jobs.record_failure))
    (retried,) = ledger.enqueue(
        queue, 1, first_run_seconds=FIRST_RUN_SECONDS, retry=Retry(max=1), on_failure=Callback(jobs.record_failure)
    )
    return plain, retried


@pytest.mark.timeout(200)
def test_sigkill_of_workers_and_horses_mid_job(restartable_redis, tmp_path, request):
    server = restartable_redis
    connection = server.client()
    ledgers = {
        "worker": Ledger(tmp_path / "worker", "worker SIGKILL mid-job"),
        "horse": Ledger(tmp_path / "horse", "horse SIGKILL mid-job"),
        "host": Ledger(tmp_path / "host", "worker+horse SIGKILL (host gone)"),
    }
    queues = {kind: Queue(f"victim-{kind}", connection=connection) for kind in ledgers}
    plain, retried = {}, {}
    for kind, ledger in ledgers.items():
        plain[kind], retried[kind] = _enqueue_victims(ledger, queues[kind])
    processes: list[WorkerProcess] = []
    try:
        # Two victims for each death of a worker: one per job, both running at the kill.
        victims = {
            kind: [_victim(server.url, f"victim-{kind}", f"{kind}-{i}", tmp_path) for i in range(2)]
            for kind in ("worker", "host")
        }
        horse_victim = _victim(server.url, "victim-horse", "horse-0", tmp_path)
        processes = [*victims["worker"], *victims["host"], horse_victim]
        for kind in ("worker", "host"):
            ledger = ledgers[kind]
            wait_for(lambda ledger=ledger: len(ledger.runs()) == 2, timeout=30, message=f"both {kind} victims to run")
        horses = {kind: [_horse(victim) for victim in victims[kind]] for kind in ("worker", "host")}
        for victim in victims["worker"]:
            os.kill(victim.pid, signal.SIGKILL)
        for victim, horse in zip(victims["host"], horses["host"]):
            os.kill(victim.pid, signal.SIGKILL)
            horse.kill()
        killed_at = time.monotonic()
        for victim in (*victims["worker"], *victims["host"]):
            victim.wait(timeout=10)
        # Linux kills an orphaned horse with its worker (PR_SET_PDEATHSIG): nothing runs unwatched.
        for horse in horses["worker"]:
            wait_for(lambda horse=horse: _dead(horse), timeout=10, message=f"horse {horse.pid} to die with its worker")

        # The horse alone, twice: the worker records each death right away.
        horse_ledger = ledgers["horse"]
        for job_id in (plain["horse"], retried["horse"]):
            wait_for(
                lambda job_id=job_id: job_id in horse_ledger.runs(), timeout=30, message=f"a horse to run {job_id}"
            )
            _horse(horse_victim).kill()
        wait_for(lambda: horse_ledger.ended(connection) == 2, timeout=30, message="the horse victim's jobs to end")
        assert horse_victim.process.poll() is None, "the worker died with its horse"

        # Another worker on those queues finds the abandoned jobs once their heartbeat TTL has passed.
        rescuer = WorkerProcess(
            server.url,
            ["victim-worker", "victim-host"],
            "--name",
            "rescuer",
            "--maintenance-interval",
            "2",
            log_path=tmp_path / "rescuer.log",
        )
        processes.append(rescuer)
        for kind in ("worker", "host"):
            ledgers[kind].wait_until_ended(server.client, timeout=HEARTBEAT_TTL + 40, what=f"the {kind} victims' jobs")
        found_after = time.monotonic() - killed_at
        dead_keys = [worker_key(f"{kind}-{i}") for kind in ("worker", "host") for i in range(2)]
        wait_for(
            lambda: (
                not any(connection.exists(key) for key in dead_keys)
                and not connection.smembers(WORKERS_KEY) & {key.encode() for key in dead_keys}
            ),
            timeout=30,
            message="the dead workers' records to expire and leave the worker sets",
        )
        dead_members = {key.encode() for key in dead_keys}
        for kind in ("worker", "host"):
            assert not connection.smembers(workers_by_queue_key(f"victim-{kind}")) & dead_members
        tallies = {kind: ledger.tally(connection) for kind, ledger in ledgers.items()}
        tallies["worker"].notes.append(f"abandoned jobs recovered {found_after:.0f}s after the kill")
        for tally in tallies.values():
            report(request, tally)

        for kind in ("worker", "host"):
            job = queues[kind].fetch_job(plain[kind])
            assert job.get_status() == "failed"
            assert "AbandonedJobError" in job.latest_result().exc_string
            assert _callbacks(connection, plain[kind]) == ["failure:AbandonedJobError"]
            job = queues[kind].fetch_job(retried[kind])
            assert job.get_status() == "finished", f"{kind}: the retry did not run"
            assert _callbacks(connection, retried[kind]) == ["failure:AbandonedJobError"]
        job = queues["horse"].fetch_job(plain["horse"])
        assert job.get_status() == "failed"
        assert "Work-horse terminated unexpectedly" in job.latest_result().exc_string
        assert queues["horse"].fetch_job(retried["horse"]).get_status() == "finished"
        # No failure callback for a horse killed from outside (docs/callbacks.md).
        assert _callbacks(connection, plain["horse"]) == []
        for kind, queue in queues.items():
            assert queue.count == 0 and queue.started_job_registry.get_job_count(cleanup=False) == 0, kind
        for process in (horse_victim, rescuer):
            process.signal(signal.SIGTERM)
            assert process.wait() == 0
    finally:
        for process in processes:
            process.stop()
    for tally in tallies.values():
        assert tally.lost == 0 and tally.unfinished == 0, tally.describe()
        assert (tally.finished, tally.failed, tally.retried) == (1, 1, 1), tally.describe()
        assert tally.extra_runs == 0 and tally.double_writes == 0, tally.describe()
    assert "abandoned by its worker" in rescuer.output()
