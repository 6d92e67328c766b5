"""The retry loop alone (rq.resilience.RetryLoop), against a real Redis that goes away and comes back."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from rq.exceptions import StopRequested
from rq.resilience import (
    COMMAND_LISTENER,
    OUTCOME_WRITES,
    SCHEDULER_LOOP,
    WORKER_MAIN_LOOP,
    Backoff,
    Outage,
    RetryLoop,
    RetryPolicy,
)
from rq.settings import settings

from .helpers import wait_for

# Short waits, no jitter: the tests only count attempts, they never time them.
FAST = RetryPolicy("test loop", initial=0.01, maximum=0.05, jitter=0.0)


def _outage(caplog: pytest.LogCaptureFixture, subject: str = "Test") -> Outage:
    caplog.set_level(logging.INFO, logger="rq.test")
    return Outage(logging.getLogger("rq.test"), subject, "Redis connection")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rq.test" and r.levelno == logging.WARNING]


def test_policies_are_named_and_read_the_settings() -> None:
    assert WORKER_MAIN_LOOP.initial == settings.backoff_initial
    assert WORKER_MAIN_LOOP.maximum == settings.backoff_max
    assert COMMAND_LISTENER.maximum == settings.listener_backoff_max
    assert SCHEDULER_LOOP.retried == (Exception,)
    assert OUTCOME_WRITES.retried == ()
    backoff = RetryPolicy("x", initial=1, maximum=5, factor=3, jitter=0).backoff()
    assert [backoff.next_delay() for _ in range(4)] == [1, 3, 5, 5]


def test_call_waits_out_a_restart_and_logs_one_outage(restartable_redis, caplog) -> None:
    client = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    client.set("key", "value")
    outage = _outage(caplog)
    recovered: list[bool] = []
    loop = RetryLoop(FAST, outage, on_recover=lambda: recovered.append(True))
    restartable_redis.kill()
    errors: list[BaseException] = []
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.append(loop.call(lambda: client.ping(), on_error=errors.append)), daemon=True
    )
    thread.start()
    wait_for(lambda: len(errors) >= 3, message="the loop to retry")
    assert outage.active and thread.is_alive()
    restartable_redis.start()
    thread.join(30)
    assert result == [True]
    assert recovered == [True]  # the hook ran once, at the end of the outage
    assert not outage.active and outage.count == 1 and outage.recoveries == 1
    assert len(_warnings(caplog)) == 1  # one warning per outage, however many errors
    assert all(isinstance(exc, redis.ConnectionError) for exc in errors)


def test_two_loops_on_one_outage_log_one_stream(restartable_redis, caplog) -> None:
    client = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    outage = _outage(caplog)
    main, writes = RetryLoop(FAST, outage), RetryLoop(OUTCOME_WRITES._replace(initial=0.01, maximum=0.05), outage)
    restartable_redis.kill()
    assert not main.attempt(client.ping)
    assert not writes.attempt(client.ping)
    assert outage.count == 1 and outage.errors == 2
    restartable_redis.start()
    assert writes.call(client.ping) is True
    assert not outage.active
    assert main.attempt(client.ping)
    assert outage.recoveries == 1
    assert len(_warnings(caplog)) == 1


def test_a_stop_ends_the_wait_at_once_and_call_raises(restartable_redis, caplog) -> None:
    client = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    stop = threading.Event()
    # A delay far longer than the test may take: only the stop event can end it.
    loop = RetryLoop(RetryPolicy("slow", initial=3600, maximum=3600, jitter=0), _outage(caplog), stop=stop)
    restartable_redis.kill()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            loop.call(client.ping)
        except StopRequested as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: loop.outage.active, message="the outage")
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert len(raised) == 1


def test_run_steps_until_done_and_rides_through_an_outage(restartable_redis, caplog) -> None:
    client = restartable_redis.client(socket_timeout=2, socket_connect_timeout=2)
    outage = _outage(caplog)
    loop = RetryLoop(FAST, outage)
    steps: list[int] = []
    errors: list[BaseException] = []

    def step() -> bool:
        if len(steps) == 2 and not outage.count:
            restartable_redis.kill()
        if outage.active and len(errors) >= 2:
            restartable_redis.start()
        client.incr("counter")
        steps.append(1)
        return len(steps) < 5

    loop.run(step, on_error=errors.append)
    assert len(steps) == 5
    assert outage.count == 1 and not outage.active
    assert len(errors) >= 2


def test_other_errors_follow_the_policy(caplog) -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not Redis")
        return "done"

    with pytest.raises(ValueError):
        RetryLoop(FAST, _outage(caplog)).call(flaky)
    assert RetryLoop(FAST._replace(retried=(ValueError,)), _outage(caplog)).call(flaky) == "done"
    assert len(calls) == 3
    assert "unexpected error in the test loop" in caplog.text


def test_run_returns_when_stopped_between_steps(caplog) -> None:
    stop = threading.Event()
    loop = RetryLoop(FAST, _outage(caplog), stop=stop)
    steps: list[int] = []

    def step() -> bool:
        steps.append(1)
        stop.set()
        return True

    loop.run(step, interval=3600)  # the wait after a step ends at once on the stop event
    assert steps == [1]


def test_backoff_sleep_honours_the_stop_event() -> None:
    stop = threading.Event()
    stop.set()
    backoff = Backoff(initial=3600, maximum=3600, jitter=0)
    assert backoff.sleep(stop) == 3600  # returned at once: the event was set
