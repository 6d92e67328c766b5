"""READONLY: a worker pointed at a replica, and a primary demoted by a Sentinel failover.

A replica refuses every write with ``READONLY``. A worker started against one says what is
wrong in one line that names the server, stays alive and starts work once the server is
promoted; a worker that reaches Redis through Sentinel follows a manual failover (the old
primary, demoted to a replica, answers ``READONLY``) to the new primary.
"""

from __future__ import annotations

import signal
import time

import pytest
from redis.sentinel import Sentinel

from rq import Queue
from tests.faults.accounting import Ledger, assert_queue_drained, report, stop_workers
from tests.faults.test_sentinel import (  # noqa: F401 (fixtures)
    MASTER_NAME,
    CliWorker,
    sentinel_binary,
    sentinel_setup,
)
from tests.helpers import WorkerProcess, wait_for

JOB_SECONDS = 0.02
WORKER_OPTIONS = ("--maintenance-interval", "2", "--job-monitoring-interval", "1")
# Long enough for the old primary to refuse writes (NOREPLICAS) before the gate jobs end.
GATE_SECONDS = 8.0


@pytest.mark.timeout(120)
def test_a_worker_pointed_at_a_replica_says_so_and_starts_once_it_is_promoted(redis_factory, tmp_path, request):
    primary = redis_factory()
    replica = redis_factory(["--replicaof", "127.0.0.1", str(primary.port)])
    wait_for(lambda: replica.client().info("replication").get("master_link_status") == "up", timeout=20)
    ledger = Ledger(tmp_path / "jobs", "worker pointed at a replica (READONLY), then promoted")
    ledger.enqueue(Queue("ro", connection=primary.client()), 100, seconds=JOB_SECONDS)
    assert primary.client().execute_command("WAIT", 1, 5000) == 1
    worker = WorkerProcess(replica.url, ["ro"], "--name", "ro-0", *WORKER_OPTIONS, log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: "read-only replica" in worker.output(), timeout=20, message=f"the warning ({tmp_path})")
        time.sleep(3)
        assert worker.process.poll() is None, worker.output()
        assert ledger.run_count() == 0  # no job taken from a server that cannot record it
        lines = [line for line in worker.output().splitlines() if "read-only replica" in line]
        assert len(lines) == 1, lines  # said once, not once per retry
        assert f"127.0.0.1:{replica.port}" in lines[0] and "WARNING" in lines[0]
        replica.client().execute_command("REPLICAOF", "NO", "ONE")
        connection = ledger.wait_until_ended(replica.client, timeout=60)
        tally = ledger.tally(connection)
        report(request, tally)
        assert_queue_drained(connection, Queue("ro", connection=connection))
        stop_workers([worker], alive_through="while pointed at a replica")
    finally:
        worker.stop()
    tally.assert_exact(failed=0, retried=0)
    assert "recovered after" in worker.output()
    assert "unhandled exception" not in worker.output()


@pytest.mark.timeout(180)
def test_a_primary_demoted_by_a_manual_failover_workers_follow(sentinel_setup, tmp_path, request):  # noqa: F811
    master, replica, link, sentinel = sentinel_setup
    (tmp_path / "sentinel_settings.py").write_text(
        "SENTINEL = {\n"
        f"    'INSTANCES': [('127.0.0.1', {sentinel.port})],\n"
        f"    'MASTER_NAME': '{MASTER_NAME}',\n"
        "    'SOCKET_TIMEOUT': 5,\n"
        "    'CONNECTION_KWARGS': {'socket_connect_timeout': 2},\n"
        "}\n"
    )

    def primary():
        return Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5).master_for(MASTER_NAME)

    queue = Queue("demoted", connection=primary())
    ledger = Ledger(tmp_path / "jobs", "primary demoted by SENTINEL FAILOVER (READONLY)")
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    gates = ledger.enqueue(queue, 2, seconds=GATE_SECONDS)
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    settings = ("--config", "sentinel_settings", "--path", str(tmp_path))
    workers = [
        CliWorker([*settings, "--name", f"demoted-{i}", *WORKER_OPTIONS, "demoted"], tmp_path / f"worker{i}.log")
        for i in range(2)
    ]
    try:
        # Both workers inside a gate job: no outcome is written while the roles change.
        wait_for(lambda: set(gates) <= set(ledger.runs()), timeout=60, message=f"both gate jobs to start ({tmp_path})")
        time.sleep(1)  # the gates' starts reach the replica
        # Sentinel converts the old primary into a replica only at its next check (up to 10 s
        # later); until then it would take writes that the promoted replica never sees.
        # min-replicas-to-write makes it refuse them (NOREPLICAS) once its replica stops acking.
        master.client().config_set("min-replicas-max-lag", 2)
        master.client().config_set("min-replicas-to-write", 1)
        sentinel.client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        wait_for(lambda: sentinel.master_port() == replica.port, timeout=30, message="the replica to be promoted")
        wait_for(
            lambda: master.client().info("replication").get("role") == "slave",
            timeout=30,
            message="the old primary to be demoted",
        )
        connection = ledger.wait_until_ended(primary, timeout=90)
        tally = ledger.tally(connection)
        report(request, tally)
        assert_queue_drained(connection, Queue("demoted", connection=connection))
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited during the failover: {worker.log_path}"
            worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.process.wait(timeout=30) == 0
    finally:
        for worker in workers:
            worker.stop()
    tally.assert_exact(failed=0, retried=0)
    for worker in workers:
        assert "unhandled exception" not in worker.output()
