"""The dequeuer part: taking a job and recording its start, and the record of a job taken but not started."""

from __future__ import annotations

import uuid

import pytest

from rq import Queue, SimpleWorker, Worker
from rq.job import JobStatus
from rq.layout import registry_key
from rq.worker.dequeuer import Taken, TakenJobs
from rq.worker.registration import HEARTBEATS_WHILE_RUNNING, NO_HEARTBEATS_WHILE_RUNNING
from tests import jobs


def _started(connection, queue: Queue) -> list[bytes]:
    return connection.zrange(registry_key("started", queue.name), 0, -1)


def test_a_take_records_the_start_and_the_runner_does_not_record_it_again(connection) -> None:
    queue = Queue("take", connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    worker = SimpleWorker([queue], connection=connection)
    found = worker.dequeuer.take([queue])
    assert isinstance(found, Taken) and found.job.id == job.id and found.execution is not None
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert len(_started(connection, queue)) == 1 and connection.llen(queue.key) == 0
    assert worker.dequeuer.taken.start_recorded(job.id)  # once: the runner's prepare_job_execution skips its write
    assert not worker.dequeuer.taken.start_recorded(job.id)
    assert not worker.dequeuer.taken.unsettled


def test_a_take_whose_reply_was_lost_is_put_back(connection) -> None:
    queue = Queue("lost-reply", connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    worker = SimpleWorker([queue], connection=connection)
    found = worker.dequeuer.take([queue])
    assert isinstance(found, Taken) and found.execution is not None
    # As if the reply never came: the worker knows only the execution id it sent.
    worker.dequeuer.taken.taking(found.execution.id, [queue])
    worker.dequeuer.recover_taken()
    assert not worker.dequeuer.taken.unsettled
    assert job.get_status(refresh=True) == JobStatus.QUEUED
    assert queue.job_ids == [job.id] and _started(connection, queue) == []


def test_a_start_that_could_not_be_written_is_put_back(connection) -> None:
    queue = Queue("start-failed", connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    connection.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")  # dequeued, never started
    taken = TakenJobs()
    taken.start_failed(queue, job.id, uuid.uuid4().hex)
    assert taken.unsettled
    assert taken.recover() == [(queue, job.id)]
    assert queue.job_ids == [job.id] and connection.llen(queue.intermediate_queue_key) == 0
    assert taken.recover() == []  # settled


def test_a_claim_that_never_reached_redis_is_put_back(connection) -> None:
    queue = Queue("claim", connection=connection)
    job = queue.enqueue(jobs.add, 1, 2)
    connection.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
    taken = TakenJobs()
    taken.taking(uuid.uuid4().hex, [queue], claimed=job.id)
    assert taken.recover() == [(queue, job.id)]
    assert queue.job_ids == [job.id]


@pytest.mark.parametrize("worker_class", [Worker, SimpleWorker])
@pytest.mark.parametrize("timeout", [5, 200, -1, None])
def test_the_take_script_applies_the_heartbeat_ttl_rule(connection, worker_class, timeout) -> None:
    queue = Queue("ttl", connection=connection)
    job = queue.enqueue(jobs.add, 1, 2, job_timeout=timeout)
    worker = worker_class([queue], connection=connection, job_monitoring_interval=30)
    rule = HEARTBEATS_WHILE_RUNNING if worker_class is Worker else NO_HEARTBEATS_WHILE_RUNNING
    assert worker.heartbeat_ttl_rule is rule
    worker.dequeuer.take([queue])
    expected = rule.ttl(job.timeout, queue.DEFAULT_TIMEOUT, 30)
    assert expected - 2 <= connection.ttl(worker.key) <= expected
    assert worker.get_heartbeat_ttl(job) == expected


class _Owner:
    """The dequeuer's interface with its worker, without a worker (see DequeueOwner)."""

    def __init__(self, connection) -> None:
        self.name, self.key, self.connection = "owner", "rq:worker:owner", connection
        self.job_class, self.queue_class = Queue.job_class, Queue
        self.serializer = None
        self.job_monitoring_interval, self.redeliver_abandoned = 30, 2
        self.heartbeat_ttl_rule = HEARTBEATS_WHILE_RUNNING

    def get_redis_server_version(self) -> tuple:
        return (7, 0, 0)


def test_the_dequeuer_alone_takes_in_strategy_order_and_skips_paused_queues(connection) -> None:
    from rq.serializers import DefaultSerializer
    from rq.worker.dequeuer import Dequeuer, DequeueStrategy

    owner = _Owner(connection)
    owner.serializer = DefaultSerializer
    dequeuer = Dequeuer(owner)
    first, second = Queue("first", connection=connection), Queue("second", connection=connection)
    job = second.enqueue(jobs.add, 1, 2)
    first.pause()
    first.enqueue(jobs.add, 3, 4)
    found = dequeuer.pop_ready([first, second])
    assert isinstance(found, Taken) and found.job.id == job.id and found.queue == second
    assert dequeuer.paused == frozenset({"first"}) and not dequeuer.can_block([second])
    assert found.job.max_redeliveries == 2  # the owner's redelivery budget
    dequeuer.strategy = DequeueStrategy.ROUND_ROBIN
    assert dequeuer.reorder([first, second], first) == [second, first]
