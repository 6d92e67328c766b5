"""The job runner part: outcome writes ride through an outage on the worker's retry loop."""

from __future__ import annotations

import threading

import pytest

from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from tests import jobs
from tests.helpers import wait_for


def test_outcome_write_waits_for_redis_and_logs_one_outage(restartable_redis) -> None:
    connection = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    queue = Queue("runner", connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    worker.outcome_writes.backoff = worker.outcome_writes.policy._replace(initial=0.05, maximum=0.2).backoff()
    restartable_redis.kill()
    results: list[list] = []
    thread = threading.Thread(
        target=lambda: results.append(worker.write_with_retry(lambda pipe: pipe.set("k", "v"), "write k")),
        daemon=True,
    )
    thread.start()
    wait_for(lambda: worker.connection_outage.errors >= 2, message="the write to be retried")
    restartable_redis.start()
    thread.join(30)
    assert results and results[0][-1] in (True, b"OK")
    assert connection.get("k") == b"v"
    assert worker.connection_outage.count == 1 and not worker.connection_outage.active


def test_a_cold_shutdown_ends_the_wait_of_an_outcome_write(restartable_redis) -> None:
    connection = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    worker = SimpleWorker([Queue("runner", connection=connection)], connection=connection)
    restartable_redis.kill()
    worker._cold_stop_event.set()  # what the second shutdown signal does
    with pytest.raises(StopRequested):
        worker.write_with_retry(lambda pipe: pipe.set("k", "v"), "write k")
    assert worker.connection_outage.errors == 1  # one attempt, no wait


def test_a_job_runs_and_its_outcome_is_recorded(connection) -> None:
    queue = Queue("runner-ok", connection=connection)
    job = queue.enqueue(jobs.add, 2, 3)
    worker = SimpleWorker([queue], connection=connection)
    assert worker.work(burst=True)
    assert job.return_value() == 5
    assert worker.successful_job_count == 1
