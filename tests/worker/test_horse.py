"""The horse part: forking, watching, killing and reaping the work horse."""

from __future__ import annotations

import os
import signal

from rq import Queue, Worker
from rq.job import JobStatus
from tests import jobs


def test_no_horse_nothing_to_kill_or_reap(connection) -> None:
    worker = Worker([Queue("horse", connection=connection)], connection=connection)
    assert worker.horse_pid == 0 and not worker.is_horse
    worker.kill_horse()  # no horse: nothing happens
    assert worker.wait_for_horse() == (None, None, None)


def test_a_horse_killed_by_a_signal_is_recorded_as_failed(connection) -> None:
    queue = Queue("horse-killed", connection=connection)
    job = queue.enqueue(jobs.kill_own_process)
    worker = Worker([queue], connection=connection)
    worker.work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert worker.horse_pid == 0
    assert "Work-horse terminated unexpectedly" in (job.latest_result().exc_string or "")
    assert signal.Signals.SIGKILL.name in job.latest_result().exc_string or os.name != "posix"
