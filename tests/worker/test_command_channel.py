"""The command channel part: the listener thread, its watchdog check and its handling of bad messages."""

from __future__ import annotations

from rq import Queue, SimpleWorker
from tests.helpers import wait_for


def test_listener_subscribes_checks_ok_and_ignores_bad_messages(connection) -> None:
    worker = SimpleWorker([Queue("channel", connection=connection)], name="channel-worker", connection=connection)
    worker.register_birth()
    worker.subscribe()
    try:
        wait_for(lambda: worker.command_channel.check() == "ok", message="the subscription")
        connection.publish(worker.pubsub_channel_name, b"not json")
        wait_for(lambda: worker.command_channel.bad_messages == 1, message="the bad message")
        assert worker.command_channel.fields()["pubsub_bad_messages"] == "1"
    finally:
        worker.unsubscribe()
        worker.register_death()
    assert worker.pubsub_thread is None
