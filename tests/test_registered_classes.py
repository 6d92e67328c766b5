"""rq.registered_classes: Job and Queue, for the modules below them."""

from __future__ import annotations

from rq import Queue, registered_classes
from rq.executions import Execution
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.utils import parse_names
from tests import jobs


def test_rq_registers_its_job_and_queue_classes():
    assert registered_classes.job_class() is Job
    assert registered_classes.queue_class() is Queue


def test_lower_modules_use_them(connection):
    registry = FinishedJobRegistry("q", connection=connection)
    assert registry.job_class is Job
    assert type(registry.get_queue()) is Queue and registry.get_queue().name == "q"
    assert parse_names([Queue("a", connection=connection), "b"]) == ["a", "b"]
    job = Queue("q", connection=connection).enqueue(jobs.say_hello)
    assert Execution("x", job.id, connection).job.id == job.id
