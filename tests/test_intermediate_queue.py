"""rq.intermediate_queue: the queue's list operations and upstream's IntermediateQueue."""

from __future__ import annotations

import time

import pytest

from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue, move_first, pop_first
from tests import jobs


class FailureRecorder:
    """Stands in for a worker: records what ``cleanup`` asks it to fail."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str, str]] = []

    def handle_job_failure(self, job, queue, exc_string: str = "") -> None:
        self.failed.append((job.id, queue.name, exc_string))


def test_pop_first_takes_from_the_first_non_empty_queue(connection):
    connection.rpush("rq:queue:b", "one", "two")
    assert pop_first(connection, ["rq:queue:a", "rq:queue:b"], None) == ("rq:queue:b", "one")
    assert pop_first(connection, ["rq:queue:a"], None) is None
    assert pop_first(connection, ["rq:queue:b"], 1) == ("rq:queue:b", "two")
    with pytest.raises(DequeueTimeout):
        pop_first(connection, ["rq:queue:b"], 1)
    with pytest.raises(ValueError):
        pop_first(connection, ["rq:queue:b"], 0)


def test_move_first_moves_into_the_intermediate_list(connection):
    connection.rpush("rq:queue:q", "one", "two")
    assert move_first(connection, "rq:queue:q", None) == ("rq:queue:q", "one")
    assert move_first(connection, "rq:queue:q", 1) == ("rq:queue:q", "two")
    assert connection.lrange("rq:queue:q:intermediate", 0, -1) == [b"one", b"two"]
    assert move_first(connection, "rq:queue:q", None) is None
    with pytest.raises(DequeueTimeout):
        move_first(connection, "rq:queue:q", 1)


def test_queue_lpop_and_lmove_use_them(connection):
    queue = Queue("q", connection=connection)
    connection.rpush(queue.key, "one", "two")
    assert Queue.lpop([queue.key], None, connection=connection) == (queue.key, "one")
    assert Queue.lmove(connection, queue.key, None) == (queue.key, "two")
    assert connection.lrange(queue.intermediate_queue_key, 0, -1) == [b"two"]


def test_keys_match_upstream_layout(connection):
    intermediate = IntermediateQueue("rq:queue:default", connection)
    assert intermediate.key == "rq:queue:default:intermediate"
    assert IntermediateQueue.get_intermediate_queue_key("rq:queue:x") == "rq:queue:x:intermediate"
    assert intermediate.key == Queue("default", connection=connection).intermediate_queue_key
    assert intermediate.get_first_seen_key("j1") == "rq:queue:default:intermediate:first_seen:j1"


def test_first_seen_is_set_once_and_read_back(connection):
    intermediate = IntermediateQueue("rq:queue:default", connection)
    assert intermediate.get_first_seen("j1") is None
    assert not intermediate.should_be_cleaned_up("j1")
    before = time.time()
    assert intermediate.set_first_seen("j1") is True
    assert intermediate.set_first_seen("j1") is False
    seen = intermediate.get_first_seen("j1")
    assert seen is not None and seen.tzinfo is not None and seen.timestamp() >= before - 1
    assert 0 < connection.ttl(intermediate.get_first_seen_key("j1")) <= 86400
    assert not intermediate.should_be_cleaned_up("j1")
    connection.set(intermediate.get_first_seen_key("j1"), repr(time.time() - 120))
    assert intermediate.should_be_cleaned_up("j1")


def test_get_job_ids_and_remove(connection):
    intermediate = IntermediateQueue("rq:queue:default", connection)
    connection.rpush(intermediate.key, "a", "b", "a")
    assert intermediate.get_job_ids() == ["a", "b", "a"]
    intermediate.remove("a")
    assert intermediate.get_job_ids() == ["b", "a"]


def test_cleanup_drops_missing_jobs_and_fails_stuck_ones(connection):
    queue = Queue("default", connection=connection)
    stuck = queue.enqueue(jobs.say_hello)
    fresh = queue.enqueue(jobs.say_hello)
    connection.delete(queue.key)
    intermediate = IntermediateQueue(queue.key, connection)
    connection.rpush(intermediate.key, "gone", stuck.id, fresh.id)
    connection.set(intermediate.get_first_seen_key(stuck.id), repr(time.time() - 120))
    worker = FailureRecorder()

    intermediate.cleanup(worker, queue)

    assert worker.failed == [(stuck.id, "default", "Job was stuck in intermediate queue.")]
    assert intermediate.get_job_ids() == [fresh.id]  # first sighting: marked, left in place
    assert intermediate.get_first_seen(fresh.id) is not None
