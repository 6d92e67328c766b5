"""Where every job of a fault test ended, counted after the fact, and a table of it in pytest's output.

A fault test enqueues its jobs through a :class:`Ledger`. The job function
(``tests.jobs.record_run``) appends the job's id to a run log on local disk each time it
starts, so runs are counted even while Redis is down or after Redis lost data. Once the
workers are done, :meth:`Ledger.tally` reads each job's hash and results stream and sorts
it into one :class:`Tally`:

``finished`` / ``failed``
    the job's final status;
``retried``
    jobs that were retried at least once (a ``RETRIED`` entry in their results stream, or
    fewer ``retries_left`` than they were enqueued with);
``unfinished``
    still queued, started, scheduled or deferred: must be 0 once the workers are done;
``lost``
    the job hash is gone;
``extra runs``
    runs beyond one per recorded attempt (one per retry, plus the final one): a job run
    twice where it should have run once;
``double writes``
    outcomes written twice for one attempt (the rare case the docs allow when a
    connection breaks after Redis applied a write but before its reply arrived).

Jobs marked started, or ended, without a single recorded run are listed as "never ran"
under the table.

:func:`report` prints the tally as a table right away and again, with every fault of the
run, at the end of pytest's output, so CI logs show both.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from redis import Redis

from rq import Queue, Retry
from rq.layout import as_text, job_key, results_key
from tests import jobs

# Result types in a results stream (rq.results.Result.Type): SUCCESSFUL, FAILED, STOPPED,
# RETRIED, MAX_RETRIES_EXCEEDED. All but RETRIED end an attempt for good.
RESULT_RETRIED = b"4"
FINAL_RESULTS = (b"1", b"2", b"3", b"5")
ENDED = ("finished", "failed", "stopped", "canceled")
# Jobs read per pipeline when tallying.
TALLY_CHUNK = 500
# Columns of the printed table.
COLUMNS = ("enqueued", "finished", "failed", "retried", "unfinished", "lost", "extra runs", "double writes")


@dataclass
class Tally:
    """Counts of one fault test, with the ids behind each anomaly (for failure messages)."""

    fault: str
    enqueued: int = 0
    finished: int = 0
    failed: int = 0
    retried: int = 0
    unfinished: int = 0
    lost: int = 0
    extra_runs: int = 0
    double_writes: int = 0
    statuses: Counter = field(default_factory=Counter)
    # Anomaly name -> job ids: "unfinished", "lost", "extra runs", "double writes", "never ran".
    ids: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Job id -> what was read for it, for the jobs behind an anomaly.
    evidence: dict[str, str] = field(default_factory=dict)

    def row(self) -> tuple[Any, ...]:
        return (
            self.fault,
            self.enqueued,
            self.finished,
            self.failed,
            self.retried,
            self.unfinished,
            self.lost,
            self.extra_runs,
            self.double_writes,
        )

    def flag(self, anomaly: str, job_id: str) -> None:
        self.ids.setdefault(anomaly, []).append(job_id)

    def assert_exact(self, failed: int, retried: int) -> None:
        """Every job ended once: none lost or unfinished, no extra run or double write, and
        exactly ``failed`` failed and ``retried`` retried jobs."""
        assert self.lost == 0 and self.unfinished == 0, self.describe()
        assert self.failed == failed, self.describe()
        assert self.retried == retried, self.describe()
        assert (self.extra_runs, self.double_writes) == (0, 0), self.describe()

    def describe(self) -> str:
        """The table and the ids behind each anomaly, for assertion messages."""
        lines = [format_table([self])]
        for anomaly, job_ids in sorted(self.ids.items()):
            shown = ", ".join(job_ids[:8]) + (" ..." if len(job_ids) > 8 else "")
            lines.append(f"{anomaly}: {len(job_ids)} ({shown})")
        for job_id, evidence in list(self.evidence.items())[:8]:
            lines.append(f"  {job_id}: {evidence}")
        lines.extend(self.notes)
        return "\n".join(lines)


class Ledger:
    """The jobs a test enqueued, and the run log their function writes to."""

    def __init__(self, directory: Path, fault: str) -> None:
        self.fault = fault
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.run_log = directory / "runs.log"
        self.run_log.touch()
        self.job_ids: list[str] = []
        self.retries: dict[str, int] = {}  # retries_left at enqueue, for jobs with a policy

    def enqueue(
        self,
        queue: Queue,
        count: int,
        seconds: float = 0.0,
        fail: str = "",
        retry: Optional[Retry] = None,
        first_run_seconds: float = 0.0,
        **options: Any,
    ) -> list[str]:
        """Enqueue ``count`` runs of ``record_run`` in one pipeline; returns their ids."""
        datas = [
            Queue.prepare_data(
                jobs.record_run,
                args=(str(self.directory), seconds, fail, first_run_seconds),
                retry=retry,
                **options,
            )
            for _ in range(count)
        ]
        created = queue.enqueue_many(datas)
        ids = [job.id for job in created]
        self.job_ids.extend(ids)
        if retry is not None:
            for job_id in ids:
                self.retries[job_id] = retry.max
        return ids

    def runs(self) -> Counter:
        """How many times each job started, from the run log (no Redis needed)."""
        return Counter(line for line in self.run_log.read_text().split() if line)

    def run_count(self) -> int:
        """Number of runs recorded so far (cheap progress measure while Redis is away)."""
        return os.path.getsize(self.run_log) // (len(self.job_ids[0]) + 1) if self.job_ids else 0

    def status_of(self, connection: Redis) -> dict[str, str]:
        """Status of every job (``missing`` for a gone hash)."""
        found: dict[str, str] = {}
        for start in range(0, len(self.job_ids), TALLY_CHUNK):
            chunk = self.job_ids[start : start + TALLY_CHUNK]
            with connection.pipeline(transaction=False) as pipe:
                for job_id in chunk:
                    pipe.hget(job_key(job_id), "status")
                replies = pipe.execute()
            found.update((job_id, as_text(reply) or "missing") for job_id, reply in zip(chunk, replies))
        return found

    def statuses(self, connection: Redis) -> Counter:
        """How many jobs are in each status."""
        return Counter(self.status_of(connection).values())

    def ended(self, connection: Redis) -> int:
        counts = self.statuses(connection)
        return sum(counts[status] for status in ENDED)

    def wait_until_ended(
        self,
        connect: Callable[[], Redis],
        timeout: float,
        allowed_missing: int = 0,
        what: str = "every job to end",
        stranded_after: Optional[float] = None,
    ) -> Redis:
        """Poll (tolerating Redis errors) until every job ended, or fail with the status counts.

        With ``stranded_after``, also return once the only jobs left are "started" jobs that
        never ran and have stayed so for that many seconds: no worker is running them, and
        only maintenance would end them, after their heartbeat TTL. The tally shows them.
        """
        deadline = time.monotonic() + timeout
        counts: Counter = Counter()
        connection = connect()
        stranded: tuple[set[str], float] = (set(), 0.0)
        while True:
            try:
                status = self.status_of(connection)
            except Exception as exc:  # Redis may still be coming back
                status = {}
                counts = Counter({f"unreadable ({type(exc).__name__})": len(self.job_ids)})
                connection = connect()
            else:
                counts = Counter(status.values())
            ended = sum(counts[name] for name in ENDED)
            if ended + min(counts["missing"], allowed_missing) >= len(self.job_ids):
                return connection
            if stranded_after is not None and status:
                runs = self.runs()
                left = {job_id for job_id, name in status.items() if name not in ENDED}
                if all(status[job_id] == "started" and not runs[job_id] for job_id in left):
                    if left != stranded[0]:
                        stranded = (left, time.monotonic())
                    elif time.monotonic() - stranded[1] >= stranded_after:
                        return connection
                else:
                    stranded = (set(), 0.0)
            if time.monotonic() > deadline:
                raise AssertionError(f"Timed out after {timeout}s waiting for {what}: {dict(counts)}")
            time.sleep(0.25)

    def tally(self, connection: Redis, fault: Optional[str] = None) -> Tally:
        """Sort every job into the counts of a :class:`Tally`."""
        tally = Tally(fault or self.fault, enqueued=len(self.job_ids))
        runs = self.runs()
        for start in range(0, len(self.job_ids), TALLY_CHUNK):
            chunk = self.job_ids[start : start + TALLY_CHUNK]
            with connection.pipeline(transaction=False) as pipe:
                for job_id in chunk:
                    pipe.hmget(job_key(job_id), "status", "retries_left")
                    pipe.xrange(results_key(job_id))
                replies = pipe.execute()
            for index, job_id in enumerate(chunk):
                (status, retries_left), entries = replies[2 * index], replies[2 * index + 1]
                self._sort(tally, job_id, as_text(status), retries_left, entries, runs[job_id])
        return tally

    def _sort(
        self, tally: Tally, job_id: str, status: Optional[str], retries_left: Any, entries: list, runs: int
    ) -> None:
        status = status or "missing"
        tally.statuses[status] += 1
        if status == "missing":
            tally.lost += 1
            tally.flag("lost", job_id)
            return
        if status == "finished":
            tally.finished += 1
        elif status in ("failed", "stopped"):
            tally.failed += 1
        elif status not in ENDED:
            tally.unfinished += 1
            tally.flag(f"unfinished ({status})", job_id)
        types = Counter(entry[1].get(b"type") for entry in entries)
        retried_entries = types[RESULT_RETRIED]
        used = 0
        if job_id in self.retries and retries_left not in (None, b""):
            used = self.retries[job_id] - int(retries_left)
        if retried_entries or used > 0:
            tally.retried += 1
        final_entries = sum(types[kind] for kind in FINAL_RESULTS)
        doubled = max(0, final_entries - 1) + max(0, retried_entries - max(used, 0))
        if doubled:
            tally.double_writes += doubled
            tally.flag("double writes", job_id)
        attempts = max(used, retried_entries) + (1 if status in ENDED else 0)
        if runs > attempts:
            tally.extra_runs += runs - attempts
            tally.flag("extra runs", job_id)
        if runs == 0 and (status in ENDED or status == "started"):
            tally.flag("never ran", job_id)
        if doubled or runs > attempts or runs == 0 or status not in ENDED:
            names = {b"1": "successful", b"2": "failed", b"3": "stopped", b"4": "retried", b"5": "max retries"}
            results = ",".join(names.get(entry[1].get(b"type"), "?") for entry in entries)
            tally.evidence[job_id] = (
                f"status={status} runs={runs} results=[{results}] retries_left={as_text(retries_left)}"
            )


def format_table(tallies: list[Tally]) -> str:
    """A plain-text table, one row per fault."""
    header = ("fault", *COLUMNS)
    rows = [tuple(str(value) for value in tally.row()) for tally in tallies]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]))
    return "\n".join(lines)


_TALLIES = pytest.StashKey[list]()


class _Summary:
    """Prints every fault's tally once more at the end of the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tallies = self.config.stash.get(_TALLIES, [])
        if tallies:
            terminalreporter.section("fault accounting")
            terminalreporter.write_line(format_table(tallies))


def assert_queue_drained(connection: Redis, queue: Queue) -> None:
    """Nothing of ``queue`` is left waiting, started, or taken and not started."""
    assert queue.count == 0
    assert queue.started_job_registry.get_job_count(cleanup=False) == 0
    assert connection.llen(queue.intermediate_queue_key) == 0


def stop_workers(workers: list[Any], alive_through: Optional[str] = None) -> None:
    """Warm-stop every worker process and expect exit status 0; with ``alive_through``
    (the fault), first check that none exited during it."""
    for worker in workers:
        if alive_through is not None:
            assert worker.process.poll() is None, f"a worker exited {alive_through}: {worker.log_path}"
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait() == 0


def report(request: pytest.FixtureRequest, tally: Tally) -> None:
    """Show ``tally`` in the test output now, and in the summary at the end of the run."""
    config = request.config
    if _TALLIES not in config.stash:
        config.stash[_TALLIES] = []
        config.pluginmanager.register(_Summary(config), "fault-accounting-summary")
    config.stash[_TALLIES].append(tally)
    capture = config.pluginmanager.getplugin("capturemanager")
    text = "\n" + tally.describe() + "\n"
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(text, flush=True)
