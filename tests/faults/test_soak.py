"""Memory and file descriptors of a forking worker stay flat over a long burst.

psutil samples the worker's main process (resident memory, open file descriptors, child
processes) and Redis counts its clients while the worker drains the queue. The long run
(20,000 jobs) is marked ``soak`` and runs with ``make soak``; a 1,000-job run of the same
test runs with the rest of the suite.
"""

from __future__ import annotations

import signal
import statistics
import threading
import time
from dataclasses import dataclass, field

import psutil
import pytest

from rq import Queue
from tests.faults.accounting import Ledger, report
from tests.helpers import WorkerProcess, wait_for

# Seconds between two samples.
SAMPLE_INTERVAL = 0.5
# Samples taken before this share of the jobs ran are warm-up (imports, first allocations).
WARM_UP = 0.1
# Resident memory may grow by this much between the first and the last fifth of the run.
RSS_GROWTH_LIMIT = 4 * 1024 * 1024


@dataclass
class Sample:
    runs: int
    rss: int
    fds: int
    children: int
    redis_clients: int


@dataclass
class Sampler:
    """Samples the worker process and the server in a thread until stopped."""

    process: psutil.Process
    connection: object
    progress: object
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-sampler")

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def take(self) -> Sample:
        with self.process.oneshot():
            rss, fds = self.process.memory_info().rss, self.process.num_fds()
            children = len(self.process.children())
        clients = len(self.connection.client_list()) - 1  # not counting this one
        sample = Sample(self.progress(), rss, fds, children, clients)
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            try:
                self.take()
            except (psutil.Error, OSError):
                return


def _mib(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def _drain_and_measure(server, tmp_path, request, total: int) -> None:
    connection = server.client()
    queue = Queue("soak", connection=connection)
    ledger = Ledger(tmp_path / "jobs", f"forking worker, {total:,} jobs (memory, fds)")
    for start in range(0, total, 1000):
        ledger.enqueue(queue, min(1000, total - start), result_ttl=3600)
    worker = WorkerProcess(
        server.url, ["soak"], "--name", "soak", "--maintenance-interval", "5", log_path=tmp_path / "worker.log"
    )
    try:
        process = psutil.Process(worker.pid)
        with Sampler(process, server.client(), ledger.run_count) as sampler:
            wait_for(
                lambda: ledger.run_count() >= total,
                timeout=max(60, total / 20),
                interval=0.5,
                message=f"the worker to run {total} jobs ({tmp_path})",
            )
            ledger.wait_until_ended(server.client, timeout=30)
            time.sleep(SAMPLE_INTERVAL * 2)  # idle again: the last horse is reaped
            final = sampler.take()
        tally = ledger.tally(connection)
        steady = [s for s in sampler.samples if s.runs >= total * WARM_UP]
        assert len(steady) >= 5, f"too few samples ({len(sampler.samples)}) to judge"
        fifth = max(1, len(steady) // 5)
        early = statistics.median(s.rss for s in steady[:fifth])
        late = statistics.median(s.rss for s in steady[-fifth:])
        fds = sorted({s.fds for s in steady})
        tally.notes.append(
            f"worker RSS {_mib(early)} early, {_mib(late)} late (max {_mib(max(s.rss for s in steady))}); "
            f"open fds {fds[0]}..{fds[-1]} (idle at the end: {final.fds}); "
            f"Redis clients {min(s.redis_clients for s in steady)}..{max(s.redis_clients for s in steady)}; "
            f"{len(sampler.samples)} samples"
        )
        report(request, tally)
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert tally.finished == total and tally.lost == 0 and tally.extra_runs == 0, tally.describe()
    assert late - early <= RSS_GROWTH_LIMIT, tally.describe()
    # A horse's pipe is open only while it runs; between jobs the count is back to the idle one.
    assert fds[-1] - fds[0] <= 3, tally.describe()
    assert final.fds <= fds[0] + 1, tally.describe()
    assert final.children == 0, "a work horse was left behind"
    assert max(s.redis_clients for s in steady) <= min(s.redis_clients for s in steady) + 2, tally.describe()


@pytest.mark.timeout(120)
def test_memory_and_fds_stay_flat_over_a_thousand_jobs(restartable_redis, tmp_path, request):
    _drain_and_measure(restartable_redis, tmp_path, request, total=1000)


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_memory_and_fds_stay_flat_over_twenty_thousand_jobs(restartable_redis, tmp_path, request):
    _drain_and_measure(restartable_redis, tmp_path, request, total=20000)
