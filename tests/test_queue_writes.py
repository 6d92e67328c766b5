"""rq.queue_writes: the enqueue write that Queue and the model share, in upstream's layout."""

from __future__ import annotations

from rq import Queue
from rq import queue_writes as writes
from rq.job import Job, JobStatus
from tests import jobs


def test_write_enqueue_registers_saves_and_pushes(connection):
    job = Job.create(jobs.say_hello, connection=connection)
    with connection.pipeline() as pipe:
        writes.write_enqueue(pipe, job, "q", 180)
        pipe.execute()
    assert connection.smembers("rq:queues") == {b"rq:queue:q"}
    assert connection.lrange("rq:queue:q", 0, -1) == [job.id.encode()]
    raw = connection.hgetall(job.key)
    assert raw[b"status"] == b"queued" and raw[b"origin"] == b"q" and raw[b"timeout"] == b"180"
    assert job.get_status() == JobStatus.QUEUED


def test_the_same_writes_as_queue_enqueue_job(connection):
    by_queue = Queue("q", connection=connection).enqueue_job(Job.create(jobs.say_hello, connection=connection))
    by_contract = Job.create(jobs.say_hello, connection=connection)
    with connection.pipeline() as pipe:
        writes.write_enqueue(pipe, by_contract, "q", 180)
        pipe.execute()
    fields = {key for key in connection.hgetall(by_queue.key)}
    assert fields == {key for key in connection.hgetall(by_contract.key)}


def test_at_front_position_and_remove(connection):
    for job_id in ("a", "b"):
        writes.push_job_id(connection, "q", job_id)
    writes.push_job_id(connection, "q", "c", at_front=True)
    assert [writes.job_position(connection, "q", job_id) for job_id in "cab"] == [0, 1, 2]
    assert writes.job_position(connection, "q", "missing") is None
    assert writes.remove_job_id(connection, "q", "a") == 1
    assert connection.lrange("rq:queue:q", 0, -1) == [b"c", b"b"]


def test_ttl_and_timeout_of_a_job_without_one(connection):
    job = Job.create(jobs.say_hello, connection=connection, ttl=100)
    with connection.pipeline() as pipe:
        writes.write_queued_job(pipe, job, "q", 42)
        pipe.execute()
    assert job.timeout == 42 and 0 < connection.ttl(job.key) <= 100
    assert connection.llen("rq:queue:q") == 0  # no push without write_enqueue
