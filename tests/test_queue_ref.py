"""rq.queue_ref: the queue the model names without building a Queue."""

from __future__ import annotations

from rq import Queue
from rq.job import Job
from rq.queue_ref import QueueRef
from rq.registry import DeferredJobRegistry, FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import UnixSignalDeathPenalty
from tests import jobs


def test_of_job_takes_the_jobs_queue_and_settings(connection):
    job = Queue("q", connection=connection, serializer=JSONSerializer).enqueue(jobs.say_hello)
    ref = QueueRef.of_job(job)
    assert (ref.name, ref.key, ref.connection, ref.job_class) == ("q", "rq:queue:q", connection, Job)
    assert ref.serializer is job.serializer and ref.death_penalty_class is UnixSignalDeathPenalty
    assert DeferredJobRegistry(queue=ref).key == DeferredJobRegistry(queue=Queue("q", connection=connection)).key


def test_write_enqueue_and_remove(connection):
    ref = QueueRef("q", connection, Job)
    job = Job.create(jobs.say_hello, connection=connection)
    with connection.pipeline() as pipe:
        ref._write_enqueue(job, pipe, at_front=True)
        pipe.execute()
    queue = Queue("q", connection=connection)
    assert queue.job_ids == [job.id] and job.timeout == Queue.DEFAULT_TIMEOUT
    ref.remove(job)
    assert queue.job_ids == []


def test_requeue_writes_through_it(connection):
    queue = Queue("q", connection=connection)
    job = queue.enqueue(jobs.say_hello)
    queue.remove(job)
    registry = FailedJobRegistry(queue=queue)
    registry.add(job, exc_string="boom")
    registry.requeue(job.id, at_front=True)
    assert queue.job_ids == [job.id] and job.id not in registry
