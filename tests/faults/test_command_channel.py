"""The command listener through Redis faults: killed connections, restarts, stalls, dead threads.

Nothing may reach ``threading.excepthook`` or Sentry as an error, the listener must keep
serving, and every incident is counted on the worker and in its Redis hash.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import pytest
from redis import Redis

from rq import Queue, SimpleWorker
from rq.command import send_kill_horse_command, send_shutdown_command, send_stop_job_command
from rq.job import JobStatus
from tests import jobs
from tests.helpers import ThreadWorker, WorkerProcess, wait_for
from tests.tcp_proxy import TCPProxy


def _kill_pubsub_clients(connection: Redis) -> int:
    return int(connection.execute_command("CLIENT", "KILL", "TYPE", "pubsub"))


def _recovery_logged(output: str) -> bool:
    """The listener reports its recovery: after an outage, or after redis-py reconnected it at once."""
    return "command channel (Pub/Sub) recovered" in output or "has been re-established" in output


@pytest.fixture
def excepthook_calls(monkeypatch):
    calls: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: calls.append(args))
    return calls


def test_killed_listener_connection_warns_recovers_and_obeys(connection, caplog, excepthook_calls):
    worker = SimpleWorker(["q"], name="killed", connection=connection)
    caplog.set_level(logging.INFO, logger="rq.worker")
    with ThreadWorker(worker) as running:
        listener = worker.pubsub_thread
        assert _kill_pubsub_clients(connection) == 1
        wait_for(lambda: worker.command_channel.recoveries >= 1, message="recovery")
        wait_for(lambda: running.subscribers() == 1, message="subscription again")
        assert listener.is_alive() and worker.pubsub_thread is listener
        connection.publish(worker.pubsub_channel_name, "garbage")
        wait_for(lambda: worker.command_channel.bad_messages == 1, message="the listener to serve again")
        wait_for(
            lambda: int(connection.hget(worker.key, "pubsub_recoveries") or 0) >= 1, message="counters in the hash"
        )
        assert int(connection.hget(worker.key, "pubsub_connection_errors")) >= 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "command channel" in r.getMessage()]
    assert warnings and warnings[0].getMessage().startswith("Worker killed: command channel")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert excepthook_calls == []


def test_shutdown_works_after_the_listener_connection_was_killed(connection, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("RQ_COMMAND_CHANNEL_CHECK_INTERVAL", "0.5")
    worker = WorkerProcess(redis_url, ["q"], "--name", "obeys", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: connection.pubsub_numsub("rq:pubsub:obeys")[0][1] == 1, message="subscription")
        _kill_pubsub_clients(connection)
        wait_for(lambda: _recovery_logged(worker.output()), message="recovery log")
        wait_for(lambda: connection.pubsub_numsub("rq:pubsub:obeys")[0][1] == 1, message="subscription again")
        send_shutdown_command(connection, "obeys")
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert "WARNING rq.worker Worker obeys: command channel (Pub/Sub)" in worker.output()


def test_redis_restart_while_busy_then_stop_job_works(persistent_redis, tmp_path, monkeypatch):
    monkeypatch.setenv("RQ_COMMAND_CHANNEL_CHECK_INTERVAL", "0.5")
    server = persistent_redis
    connection = server.client()
    queue = Queue("busy", connection=connection)
    first = queue.enqueue(jobs.sleep_for, 4)
    second = queue.enqueue(jobs.sleep_for, 60)
    worker = WorkerProcess(server.url, ["busy"], "--name", "busy", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: first.get_status() == JobStatus.STARTED, message="first job to start")
        server.restart(downtime=3)
        connection = server.client()
        wait_for(lambda: _recovery_logged(worker.output()), timeout=30, message="recovery")
        wait_for(lambda: second.get_status() == JobStatus.STARTED, timeout=30, message="second job to start")
        wait_for(lambda: connection.pubsub_numsub("rq:pubsub:busy")[0][1] == 1, message="subscription")
        send_stop_job_command(connection, second.id)
        wait_for(lambda: second.get_status() == JobStatus.STOPPED, message="the stop-job command to work")
        assert first.get_status() == JobStatus.FINISHED  # finished while Redis was away: recorded, not lost
        assert first.return_value() == 4
        send_shutdown_command(connection, "busy")
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert "Traceback" not in worker.output()


def test_kill_horse_works_after_a_restart(restartable_redis, tmp_path, monkeypatch):
    monkeypatch.setenv("RQ_COMMAND_CHANNEL_CHECK_INTERVAL", "0.5")
    server = restartable_redis
    worker = WorkerProcess(server.url, ["kh"], "--name", "kh", log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: server.client().pubsub_numsub("rq:pubsub:kh")[0][1] == 1, message="subscription")
        server.restart(downtime=2)
        connection = server.client()
        wait_for(lambda: connection.pubsub_numsub("rq:pubsub:kh")[0][1] == 1, timeout=30, message="resubscription")
        job = Queue("kh", connection=connection).enqueue(jobs.sleep_for, 60)
        wait_for(lambda: job.get_status() == JobStatus.STARTED, timeout=30, message="job start")
        send_kill_horse_command(connection, "kh")
        try:
            wait_for(lambda: job.get_status() == JobStatus.FAILED, message="kill-horse to work")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{worker.output()}") from None
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()


def test_sentry_and_excepthook_see_no_error(restartable_redis, excepthook_calls):
    sentry_sdk = pytest.importorskip("sentry_sdk")
    from sentry_sdk.transport import Transport

    events: list = []

    class Capture(Transport):
        def capture_envelope(self, envelope):
            for item in envelope.items:
                if item.type == "event":
                    events.append(item.payload.json)

    server = restartable_redis
    # Default integrations: logging (ERROR records become events), threading, excepthook.
    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=Capture, auto_enabling_integrations=False)
    try:
        worker = SimpleWorker(["q"], name="sentried", connection=server.client())
        with ThreadWorker(worker) as running:
            _kill_pubsub_clients(server.client())
            wait_for(lambda: worker.command_channel.recoveries >= 1, message="recovery after kill")
            server.restart(downtime=2)
            wait_for(lambda: worker.command_channel.recoveries >= 2, timeout=30, message="recovery after restart")
            wait_for(lambda: running.subscribers() == 1, timeout=30, message="subscription")
            # Pub/Sub keeps nothing for a listener that is between connections: send until heard.
            publisher = server.client()

            def heard() -> bool:
                if worker.command_channel.bad_messages:
                    return True
                publisher.publish(worker.pubsub_channel_name, b"\xff not json")
                time.sleep(0.5)
                return bool(worker.command_channel.bad_messages)

            wait_for(heard, message="bad message")
        sentry_sdk.flush()
    finally:
        if hasattr(sentry_sdk, "get_client"):  # sentry-sdk 2.x and 3.x
            sentry_sdk.get_client().close()
            sentry_sdk.get_global_scope().set_client(None)  # back to a client that records nothing
        else:  # sentry-sdk 1.x
            sentry_sdk.Hub.current.client.close()
            sentry_sdk.Hub.current.bind_client(None)
    assert [e for e in events if e.get("level") in ("error", "fatal")] == []
    assert excepthook_calls == []


def test_timeout_error_in_the_listener_is_handled_like_a_connection_error(redis_server, connection, caplog):
    caplog.set_level(logging.INFO, logger="rq.worker")
    with TCPProxy(redis_server.host, redis_server.port) as proxy:
        # A client name makes every (re)connection wait for a reply, so a stalled server times out.
        client = Redis.from_url(proxy.url, socket_timeout=1, socket_connect_timeout=1, client_name="stalled")
        worker = SimpleWorker(["q"], name="stalled", connection=client)
        channel = worker.command_channel
        with ThreadWorker(worker) as running:
            listener = worker.pubsub_thread
            proxy.stall()
            proxy.cut()
            wait_for(
                lambda: "TimeoutError" in (channel.outage.last_error or ""),
                timeout=30,
                message="a TimeoutError to reach the listener's handler",
            )
            assert listener.is_alive() and channel.outage.active
            proxy.resume()
            wait_for(lambda: not channel.outage.active, timeout=30, message="recovery")
            wait_for(lambda: running.subscribers() == 1, timeout=30, message="subscription")
            connection.publish(worker.pubsub_channel_name, "garbage")
            wait_for(lambda: channel.bad_messages == 1, message="the listener to serve again")
            assert listener.is_alive()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_dead_listener_thread_is_replaced(connection, caplog):
    worker = SimpleWorker(["q"], name="replaced", connection=connection)
    with ThreadWorker(worker) as running:
        old = worker.pubsub_thread
        old.stop()
        old.join(timeout=5)
        wait_for(
            lambda: (thread := worker.pubsub_thread) is not None and thread is not old and thread.is_alive(),
            message="new thread",
        )
        wait_for(lambda: running.subscribers() == 1, message="subscription")
        connection.publish(worker.pubsub_channel_name, "garbage")
        wait_for(lambda: worker.command_channel.bad_messages == 1, message="the new listener to serve")
        assert worker.command_channel.listener_restarts == 1
        wait_for(lambda: connection.hget(worker.key, "pubsub_listener_restarts") == b"1", message="counter")
    assert any("command listener thread is not running" in r.getMessage() for r in caplog.records)


def test_lost_subscription_is_restored(connection):
    worker = SimpleWorker(["q"], name="unsubscribed", connection=connection)
    with ThreadWorker(worker) as running:
        worker.pubsub.unsubscribe()  # the connection stays up but no longer listens
        wait_for(lambda: worker.command_channel.resubscribes >= 1, message="resubscription")
        wait_for(lambda: running.subscribers() == 1, message="subscription")


def test_unsubscribe_does_not_hang_on_a_stalled_connection(redis_server):
    with TCPProxy(redis_server.host, redis_server.port) as proxy:
        worker = SimpleWorker(["q"], name="stuck", connection=Redis.from_url(proxy.url, socket_timeout=2))
        worker.register_birth()
        worker.subscribe()
        proxy.stall()
        worker.unsubscribe()
        assert worker.pubsub_thread is None
