"""A Redis error right after a take, before the runner has the job, puts the job back.

The take records the job's start in Redis; until the runner has it, only the worker's
memory knows the job. The error is injected at that one moment (a connection cut cannot be
timed there on a real server); everything else runs against real Redis.
"""

from __future__ import annotations

import pytest
import redis

from rq import Queue, SimpleWorker
from rq.job import JobStatus
from tests import jobs


def test_error_in_the_recovery_hook_after_a_take_puts_the_job_back(connection: redis.Redis) -> None:
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    worker = SimpleWorker([queue], connection=connection)
    worker.register_birth()
    original = worker._redis_ok
    cuts = []

    def cut_once() -> None:
        if not cuts:
            cuts.append(1)
            raise redis.ConnectionError("connection cut right after the take")
        original()

    worker._redis_ok = cut_once  # type: ignore[method-assign]
    with pytest.raises(redis.ConnectionError):
        worker.dequeue_job_and_maintain_ttl(None)
    assert job.get_status() == JobStatus.STARTED  # the take recorded it
    assert worker.taken.unsettled

    worker.dequeuer.recover_taken()
    assert job.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [job.id]
    assert queue.started_job_registry.count == 0

    worker.work(burst=True)
    assert job.return_value() == 3
