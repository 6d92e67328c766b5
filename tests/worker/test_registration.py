"""The registration part: the worker's record in Redis, its heartbeats and the heartbeat TTL rule."""

from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_WORKER_TTL
from rq.settings import settings
from rq.worker.registration import HEARTBEATS_WHILE_RUNNING, NO_HEARTBEATS_WHILE_RUNNING, HeartbeatTTL


def test_heartbeat_ttl_rule_of_a_watched_horse() -> None:
    grace = settings.heartbeat_grace
    assert HEARTBEATS_WHILE_RUNNING.ttl(600, 180, 30) == 30 + grace  # one interval
    assert HEARTBEATS_WHILE_RUNNING.ttl(10, 180, 30, elapsed=5.5) == 4 + grace  # what the job has left
    assert HEARTBEATS_WHILE_RUNNING.ttl(-1, 180, 30) == 30 + grace
    assert HEARTBEATS_WHILE_RUNNING.ttl(None, 180, 30) == 30 + grace


def test_heartbeat_ttl_rule_without_heartbeats_while_running() -> None:
    grace = settings.heartbeat_grace
    assert NO_HEARTBEATS_WHILE_RUNNING.ttl(600, 180, 30) == 600 + grace  # the whole timeout
    assert NO_HEARTBEATS_WHILE_RUNNING.ttl(None, 180, 30) == 180 + grace  # the queue's default
    assert NO_HEARTBEATS_WHILE_RUNNING.ttl(-1, 180, 30) == DEFAULT_WORKER_TTL
    assert HeartbeatTTL(per_interval=False, unlimited=7, grace=1).script_args() == [0, 7, 1]


def test_record_is_written_whole_and_rewritten_when_lost(connection) -> None:
    queue = Queue("registration", connection=connection)
    worker = SimpleWorker([queue], name="reg", connection=connection)
    worker.register_birth()
    assert connection.hget(worker.key, "queues") == b"registration"
    assert worker.key.encode() in connection.smembers("rq:workers")
    connection.delete(worker.key)  # as if Redis restarted without the data
    worker.heartbeat()
    assert connection.hget(worker.key, "queues") == b"registration"
    assert 0 < connection.ttl(worker.key) <= worker.worker_ttl + 60
    worker.register_death()
    assert worker.key.encode() not in connection.smembers("rq:workers")
