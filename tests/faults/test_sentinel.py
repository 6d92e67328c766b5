"""A Sentinel failover during a burst: the master is killed, its replica promoted, the workers follow.

Everything runs on loopback: a master, a replica that replicates through a TCP proxy (the
"network link" between them, so the test can hold replication back), and one
``redis-sentinel`` (quorum 1). Workers are ``rq worker`` processes configured with a
``SENTINEL`` setting. Writes the master acknowledged but had not sent to the replica when
it died are lost: the test opens exactly such a window (replication held back, jobs
enqueued, master killed) and counts those jobs as the only ones lost.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.sentinel import Sentinel

from rq import Queue
from tests.faults.accounting import Ledger, report
from tests.helpers import ROOT, wait_for
from tests.redis_harness import _die_with_parent, find_free_port
from tests.tcp_proxy import TCPProxy

MASTER_NAME = "mymaster"
BURST = 300
WINDOW = 10
JOB_SECONDS = 0.02
# The two jobs running when the master dies; long enough to hold replication back and kill it.
GATE_SECONDS = 3.0
# The proxy relays what it had already read when stalled; this lets its relay loops park.
STALL_SETTLE = 0.5
WORKER_OPTIONS = ("--maintenance-interval", "2", "--job-monitoring-interval", "1")


class SentinelProcess:
    """One ``redis-sentinel`` watching ``MASTER_NAME``, with its config and log in ``directory``."""

    def __init__(self, binary: str, directory: Path, master_port: int) -> None:
        self.port = find_free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f"dir {directory}\n"
            f"logfile {directory / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            # Long, so Sentinel never "fixes" the replica to bypass the proxy during the test.
            f"sentinel failover-timeout {MASTER_NAME} 60000\n"
        )
        self.process = subprocess.Popen(
            [binary, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),  # no orphaned Sentinel if the test run dies hard
        )
        self.client = Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)
        wait_for(self._answers, timeout=15, message=f"redis-sentinel on port {self.port} ({directory})")

    def _answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def master_port(self) -> int:
        return int(self.client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)[1])

    def knows_replica(self, port: int) -> bool:
        replicas = self.client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
        for replica in replicas:
            fields = replica if isinstance(replica, dict) else dict(zip(replica[::2], replica[1::2]))
            if int(fields.get("port", 0)) == port and "s_down" not in fields.get("flags", ""):
                return True
        return False

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class CliWorker:
    """``rq worker`` in its own process, output to a log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rq", "worker", *args], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


def _replication_up(replica: Redis) -> bool:
    return replica.info("replication").get("master_link_status") == "up"


@pytest.fixture
def sentinel_binary() -> str:
    binary = shutil.which("redis-sentinel")
    if binary is None:
        pytest.skip("redis-sentinel is not installed (apt-get install redis-sentinel)")
    return binary


@pytest.fixture
def sentinel_setup(redis_factory, sentinel_binary, tmp_path) -> Iterator[tuple]:
    """(master, replica, replication link proxy, sentinel), all torn down at the end."""
    master = redis_factory()
    link = TCPProxy("127.0.0.1", master.port)
    sentinel = None
    try:
        replica = redis_factory(["--replicaof", "127.0.0.1", str(link.port)])
        wait_for(lambda: _replication_up(replica.client()), timeout=20, message="the replica to sync")
        sentinel = SentinelProcess(sentinel_binary, tmp_path / "sentinel", master.port)
        wait_for(lambda: sentinel.knows_replica(replica.port), timeout=20, message="Sentinel to discover the replica")
        yield master, replica, link, sentinel
    finally:
        if sentinel is not None:
            sentinel.close()
        link.close()


@pytest.mark.timeout(180)
def test_master_killed_during_a_burst_workers_follow_the_failover(sentinel_setup, tmp_path, request):
    master, replica, link, sentinel = sentinel_setup
    (tmp_path / "sentinel_settings.py").write_text(
        "SENTINEL = {\n"
        f"    'INSTANCES': [('127.0.0.1', {sentinel.port})],\n"
        f"    'MASTER_NAME': '{MASTER_NAME}',\n"
        "    'SOCKET_TIMEOUT': 5,\n"
        "    'CONNECTION_KWARGS': {'socket_connect_timeout': 2},\n"
        "}\n"
    )
    producer = Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5).master_for(MASTER_NAME)
    queue = Queue("sentinel", connection=producer)
    burst = Ledger(tmp_path / "burst", "Sentinel failover: burst")
    window = Ledger(tmp_path / "window", "Sentinel failover: unreplicated writes")
    burst.enqueue(queue, BURST // 3, seconds=JOB_SECONDS)
    gates = burst.enqueue(queue, 2, seconds=GATE_SECONDS)
    burst.enqueue(queue, BURST - BURST // 3 - 2, seconds=JOB_SECONDS)
    assert producer.execute_command("WAIT", 1, 5000) == 1
    settings = ("--config", "sentinel_settings", "--path", str(tmp_path))
    workers = [
        CliWorker([*settings, "--name", f"sentinel-{i}", *WORKER_OPTIONS, "sentinel"], tmp_path / f"worker{i}.log")
        for i in range(2)
    ]
    try:
        # Both workers are inside a gate job: no job outcome is written during the window.
        wait_for(lambda: set(gates) <= set(burst.runs()), timeout=60, message=f"both gate jobs to start ({tmp_path})")
        assert producer.execute_command("WAIT", 1, 2000) == 1  # all written so far reached the replica
        link.stall()
        time.sleep(STALL_SETTLE)
        window.enqueue(queue, WINDOW)  # acknowledged by the master, never replicated
        master.kill()
        link.cut()
        killed_at = time.monotonic()
        wait_for(lambda: sentinel.master_port() == replica.port, timeout=30, message="Sentinel to promote the replica")
        failover_seconds = time.monotonic() - killed_at
        connection = burst.wait_until_ended(
            lambda: Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5).master_for(MASTER_NAME), timeout=90
        )
        tallies = [burst.tally(connection), window.tally(connection)]
        tallies[0].notes.append(f"failover took {failover_seconds:.1f}s after the master was killed")
        for tally in tallies:
            report(request, tally)
        queue = Queue("sentinel", connection=connection)
        assert queue.count == 0
        assert queue.started_job_registry.get_job_count(cleanup=False) == 0
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited during the failover: {worker.log_path}"
            worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.process.wait(timeout=30) == 0
    finally:
        for worker in workers:
            worker.stop()
    burst_tally, window_tally = tallies
    assert burst_tally.lost == 0 and burst_tally.unfinished == 0, burst_tally.describe()
    assert burst_tally.finished == BURST, burst_tally.describe()
    assert burst_tally.extra_runs == 0, burst_tally.describe()
    assert window_tally.lost == WINDOW, window_tally.describe()
    for worker in workers:
        output = worker.output()
        assert "Redis connection lost" in output and "recovered after" in output
        assert "unhandled exception" not in output
