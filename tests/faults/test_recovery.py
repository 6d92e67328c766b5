"""Recovery from Redis outages: never deaf while registered, back within a second, bounded starts.

Every test runs against real ``redis-server`` processes: a restart without persistence
loses every key, as a crashed or replaced server does.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
from redis import Redis

from rq import Queue, SimpleWorker
from rq.command import send_kill_horse_command, send_shutdown_command, send_stop_job_command
from rq.job import JobStatus
from rq.outage_probe import OutageProbe, probe_for
from rq.resilience import WORKER_MAIN_LOOP, Backoff, Outage, RedisUnreachable, RetryLoop, wait_for_redis
from tests import jobs
from tests.helpers import ROOT, ThreadWorker, WorkerProcess, wait_for


def _in_worker_set(connection: Redis, name: str) -> bool:
    return bool(connection.sismember("rq:workers", f"rq:worker:{name}"))


@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_shutdown_sent_as_soon_as_the_worker_is_back_in_rq_workers_is_obeyed(restartable_redis, tmp_path, worker_class):
    server = restartable_redis
    name = f"back-{worker_class.rsplit('.', 1)[1].lower()}"
    worker = WorkerProcess(server.url, ["q"], "--name", name, "--class", worker_class, log_path=tmp_path / "w.log")
    try:
        wait_for(lambda: server.client().pubsub_numsub(f"rq:pubsub:{name}")[0][1] == 1, message="subscription")
        server.stop()
        time.sleep(4)
        server.start()  # no persistence: the worker's record and subscription are gone
        connection = server.client()
        assert not connection.exists(f"rq:worker:{name}")
        wait_for(lambda: _in_worker_set(connection, name), timeout=30, interval=0.002, message="re-registration")
        received = send_shutdown_command(connection, name)  # at once: no wait for anything else
        assert received == 1, worker.output()
        assert worker.wait(timeout=30) == 0
    finally:
        worker.stop()
    assert "registering again" in worker.output()


def test_registration_written_back_waits_for_a_slow_listener(restartable_redis):
    server = restartable_redis
    connection = server.client()
    worker = SimpleWorker(["q"], name="slow-ears", connection=connection)
    channel = worker.command_channel
    # A listener that would wait 20 s before reconnecting on its own: only the registration's kick wakes it.
    channel.outage.probe = None
    channel.retry.backoff = Backoff(initial=20, maximum=20, jitter=0)
    with ThreadWorker(worker):
        server.stop()
        wait_for(lambda: channel.outage.active, timeout=30, message="outage seen by the listener")
        server.start()
        connection = server.client()
        worker.heartbeat()  # what the main loop does at its next heartbeat: the record is missing
        assert _in_worker_set(connection, "slow-ears")
        assert connection.pubsub_numsub("rq:pubsub:slow-ears")[0][1] == 1
        assert send_shutdown_command(connection, "slow-ears") == 1


def test_senders_count_the_workers_that_received_the_command(connection, caplog):
    caplog.set_level(logging.WARNING, logger="rq.command")
    assert send_shutdown_command(connection, "nobody") == 0
    assert send_kill_horse_command(connection, "nobody") == 0
    assert "reached no one" in caplog.text and "rq:pubsub:nobody" in caplog.text
    queue = Queue("q", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 2)
    worker = SimpleWorker([queue], name="counted", connection=connection)
    with ThreadWorker(worker):
        wait_for(lambda: job.get_status() == JobStatus.STARTED, message="job start")
        caplog.clear()
        assert send_stop_job_command(connection, job.id) == 1  # received (a SimpleWorker cannot obey it)
        assert "reached no one" not in caplog.text
        assert send_shutdown_command(connection, "counted") == 1


def test_every_waiting_loop_shares_one_probe_and_resumes_together(restartable_redis):
    server = restartable_redis
    client = server.client()
    probe = OutageProbe(client, interval=0.2, timeout=0.2)
    server.stop()
    stops = [threading.Event() for _ in range(3)]
    resumed: list[float] = []

    def loop(stop: threading.Event) -> None:
        retry = RetryLoop(WORKER_MAIN_LOOP, Outage(logging.getLogger("test"), "t", "Redis"), stop=stop, probe=probe)
        retry.call(lambda: client.ping())
        resumed.append(time.monotonic())

    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for stop in stops]
    for thread in threads:
        thread.start()
    wait_for(lambda: probe.attempts >= 1, message="the probe's first PING")
    first = probe.attempts
    time.sleep(3)
    during = probe.attempts - first
    assert 10 <= during <= 20, during  # one probe every 0.2 s, however many loops wait
    server.start()
    back = time.monotonic()
    for thread in threads:
        thread.join(timeout=5)
    assert len(resumed) == 3
    assert max(resumed) - back < 1.0, [r - back for r in resumed]


def test_one_probe_per_server_and_process(restartable_redis):
    a = probe_for(restartable_redis.client())
    b = probe_for(Redis.from_url(restartable_redis.url))
    assert a is not None and a is b


def test_a_worker_and_its_listener_resume_within_a_second(restartable_redis):
    server = restartable_redis
    connection = server.client()
    worker = SimpleWorker(["q"], name="quick", connection=connection)
    with ThreadWorker(worker) as running:
        server.stop()
        wait_for(lambda: worker.command_channel.outage.active, timeout=30, message="outage seen by the listener")
        time.sleep(3)
        server.start()
        back = time.monotonic()
        job = Queue("q", connection=server.client()).enqueue(jobs.say_hello)
        wait_for(lambda: running.subscribers() == 1, timeout=10, interval=0.01, message="subscription")
        heard = time.monotonic() - back
        wait_for(lambda: job.get_status() == JobStatus.FINISHED, timeout=10, interval=0.01, message="job")
        done = time.monotonic() - back
    assert heard < 1.5, heard
    assert done < 2.0, done


def test_wait_for_redis_names_an_unknown_host():
    url = "redis://no-such-host.invalid:6379/0"
    started = time.monotonic()
    with pytest.raises(RedisUnreachable) as info:
        wait_for_redis(Redis.from_url(url), timeout=1.0, url=url)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert url in message and "unknown host name" in message


def test_wait_for_redis_waits_for_a_server_that_starts_late(restartable_redis):
    server = restartable_redis
    server.stop()
    with pytest.raises(RedisUnreachable) as info:
        wait_for_redis(server.client(), timeout=0.5)
    assert f"127.0.0.1:{server.port}" in str(info.value) and "ConnectionError" in str(info.value)
    starter = threading.Timer(1.0, server.start)
    starter.start()
    try:
        wait_for_redis(server.client(), timeout=20)
    finally:
        starter.join()
    assert server.client().ping()


def test_an_error_that_is_not_redis_s_ends_the_listener_and_a_new_one_starts(connection, caplog):
    worker = SimpleWorker(["q"], name="renewed", connection=connection)

    def broken(message: dict) -> None:
        raise RuntimeError("a broken handler")

    worker.handle_payload = broken  # type: ignore[method-assign]
    with ThreadWorker(worker) as running:
        old = worker.pubsub_thread
        connection.publish(worker.pubsub_channel_name, "anything")
        wait_for(lambda: not old.is_alive(), message="the listener to end")
        wait_for(lambda: (t := worker.pubsub_thread) is not None and t is not old and t.is_alive(), message="a new one")
        wait_for(lambda: running.subscribers() == 1, message="subscription")
        assert worker.command_channel.listener_restarts >= 1
    assert any("a broken handler" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_a_burst_style_bounded_wait_exits_with_one_line(tmp_path):
    code = (
        "from redis import Redis\n"
        "from rq.resilience import wait_for_redis, RedisUnreachable\n"
        "url = 'redis://no-such-host.invalid:6379'\n"
        "try:\n"
        "    wait_for_redis(Redis.from_url(url), 1.0, url)\n"
        "except RedisUnreachable as exc:\n"
        "    raise SystemExit(f'Error: {exc}')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-host.invalid" in lines[0] and "unknown host name" in lines[0]


def test_a_lost_record_comes_back_within_seconds_even_if_the_main_loop_saw_no_error(restartable_redis):
    server = restartable_redis
    worker = SimpleWorker(["q"], name="hidden", connection=server.client())
    with ThreadWorker(worker, check_interval=10):
        server.restart(downtime=1)  # the idle main loop's blocking read may be retried by redis-py itself
        connection = server.client()
        started = time.monotonic()
        wait_for(lambda: _in_worker_set(connection, "hidden"), timeout=10, interval=0.01, message="registration")
        assert time.monotonic() - started < 3
        assert connection.pubsub_numsub("rq:pubsub:hidden")[0][1] == 1


def test_readiness_is_back_within_a_second_although_it_checks_every_five(restartable_redis):
    from rq.health import HealthChecker

    server = restartable_redis
    worker = SimpleWorker(["q"], name="ready-again", connection=server.client())
    checker = HealthChecker(worker, check_interval=5)
    with ThreadWorker(worker):
        checker.start()
        try:
            wait_for(lambda: checker.readiness()["status"] == "ok", message="ready")
            server.stop()
            wait_for(lambda: checker.readiness()["status"] == "fail", timeout=10, message="not ready")
            time.sleep(2)
            server.start()
            back = time.monotonic()
            wait_for(lambda: checker.readiness()["status"] == "ok", timeout=10, interval=0.01, message="ready again")
            assert time.monotonic() - back < 1.0
        finally:
            checker.stop()
