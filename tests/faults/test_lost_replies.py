"""Connections that break at the worst moment, made to happen on purpose.

``CLIENT KILL`` in a loop hits these moments only now and then; here a client-side
connection class breaks exactly one chosen command, either after Redis ran it and answered
(the reply is lost) or before it was sent. Two kinds of client are used: one that
surfaces every error (``Redis.from_url`` does), and one that re-sends a command itself
after a connection error (``Redis(host=..., port=...)`` does so by default since redis-py 6;
given explicitly here so the test means the same with redis-py 5).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

import rq.maintenance
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty
from tests.faults.accounting import Ledger
from tests.helpers import ThreadWorker, wait_for


@dataclass
class Fault:
    """Break the next request whose bytes on the wire satisfy ``matches``.

    ``when``: "after_reply" (Redis ran it, its reply is lost), "before_send" (it never
    reaches Redis), or "watch" (nothing breaks; ``sent`` tells that such a request went out).
    """

    matches: Callable[[bytes], bool]
    when: str
    fired: int = 0
    sent: threading.Event = field(default_factory=threading.Event)  # a matching request went out


class FaultPlan:
    """Faults shared by every connection of one client."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.lock = threading.Lock()

    def add(self, matches: Callable[[bytes], bool], when: str) -> Fault:
        fault = Fault(matches, when)
        with self.lock:
            self.faults.append(fault)
        return fault

    def pending(self, data: bytes) -> Fault | None:
        with self.lock:
            return next((f for f in self.faults if not f.fired and f.matches(data)), None)


def _argument(value: str) -> bytes:
    """How one argument of a command looks on the wire (RESP bulk string)."""
    raw = value.encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def command(name: str, *arguments: str) -> Callable[[bytes], bool]:
    """Matches a request for command ``name`` that has each of ``arguments`` among its arguments."""
    head = b"\r\n" + _argument(name)
    return lambda data: data[: len(head) + 8].find(head) != -1 and all(_argument(a) in data for a in arguments)


def mentions(*fragments: str) -> Callable[[bytes], bool]:
    """Matches a request (a command, a transaction, a script call) whose bytes contain every fragment."""
    return lambda data: all(fragment.encode() in data for fragment in fragments)


def faulty_client(server, plan: FaultPlan, client_retries: bool) -> Redis:
    """A client of ``server`` whose connections obey ``plan``."""

    class FaultyConnection(Connection):
        # The fault to fire on the next reply, and whether that reply ends a MULTI ... EXEC.
        _armed: tuple[Fault, bool] | None = None

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            data = bytes(command) if isinstance(command, (bytes, bytearray)) else b"".join(command)
            fault = plan.pending(data)
            if fault is not None and fault.when == "before_send":
                fault.fired += 1
                self.disconnect()
                raise RedisConnectionError("injected: connection lost before the request was sent")
            if fault is not None and fault.when == "after_reply":
                self._armed = (fault, data.startswith(b"*1\r\n$5\r\nMULTI\r\n"))
            super().send_packed_command(command, check_health)
            if fault is not None:
                fault.sent.set()

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                response = super().read_response(*args, **kwargs)
            except Exception:
                self._armed = None  # an error reply: the fault stays unfired for the next attempt
                raise
            if self._armed is None:
                return response
            fault, transaction = self._armed
            if transaction and not isinstance(response, list):
                return response  # MULTI's OK and the QUEUED replies; the EXEC reply is the list
            self._armed = None
            if response is None:
                return response  # e.g. BLMOVE timed out: nothing happened, wait for the next one
            fault.fired += 1
            self.disconnect()
            raise RedisConnectionError("injected: connection lost after Redis answered")

    options: dict[str, Any] = {"host": server.host, "port": server.port, "socket_timeout": 10}
    if client_retries:
        options.update(retry=Retry(NoBackoff(), 3), retry_on_error=[RedisConnectionError])
    else:
        options.update(retry=Retry(NoBackoff(), 0))
    client = Redis(**options)
    client.connection_pool.connection_class = FaultyConnection
    return client


class ThreadedWorker(SimpleWorker):
    """A SimpleWorker run in a test thread, where job time limits cannot use signals."""

    death_penalty_class = TimerDeathPenalty


def _require(predicate: Callable[[], object], message: str, timeout: float = 15.0) -> None:
    """A precondition of the test: failing it is not the failure an xfail expects."""
    try:
        wait_for(predicate, timeout=timeout, message=message)
    except AssertionError as exc:
        pytest.fail(f"precondition not met: {exc}")


def _eventually(predicate: Callable[[], object], timeout: float) -> bool:
    try:
        wait_for(predicate, timeout=timeout)
    except AssertionError:
        return False
    return True


def _take(mode: str) -> Callable[[bytes], bool]:
    """The worker's take-and-start script, called to pop a job ("pop") or to claim a moved one ("claim")."""
    return command("EVALSHA", mode)


CLIENTS = [
    pytest.param(False, id="client-surfaces-errors"),
    pytest.param(True, id="client-retries-itself"),
]


@pytest.mark.parametrize("client_retries", CLIENTS)
def test_lost_reply_of_the_take_script_runs_every_job_once(restartable_redis, tmp_path, client_retries):
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries)
    ledger = Ledger(tmp_path / "jobs", "lost reply: take script")
    queue = Queue("lost", connection=restartable_redis.client())
    ledger.enqueue(queue, 3)
    fault = plan.add(_take("pop"), "after_reply")
    with ThreadWorker(ThreadedWorker(["lost"], name="lost", connection=client)):
        _require(lambda: fault.fired, "the injected fault")
        _eventually(lambda: ledger.ended(queue.connection) == 3, timeout=5)
    tally = ledger.tally(queue.connection)
    assert (tally.finished, tally.extra_runs, tally.unfinished) == (3, 0, 0), tally.describe()


def test_take_cut_off_while_redis_stays_away_is_put_back_later(restartable_redis, tmp_path):
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries=False)
    ledger = Ledger(tmp_path / "jobs", "lost reply: take script, Redis still away")
    queue = Queue("away", connection=restartable_redis.client())
    ledger.enqueue(queue, 3)
    cut = plan.add(_take("pop"), "after_reply")
    # The worker's first look for the cut-off start fails as well, as when Redis is still restarting.
    look = plan.add(command("ZSCAN"), "before_send")
    with ThreadWorker(ThreadedWorker(["away"], name="away", connection=client)):
        _require(lambda: cut.fired and look.fired, "the injected faults")
        _eventually(lambda: ledger.ended(queue.connection) == 3, timeout=5)
    tally = ledger.tally(queue.connection)
    assert (tally.finished, tally.extra_runs, tally.unfinished) == (3, 0, 0), tally.describe()


def test_claim_that_never_reached_redis_puts_the_job_back_at_once(restartable_redis, tmp_path):
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries=False)
    ledger = Ledger(tmp_path / "jobs", "lost claim")
    queue = Queue("claimed", connection=restartable_redis.client())
    worker = ThreadedWorker(["claimed"], name="claimed", connection=client)
    waiting = plan.add(command("BLMOVE"), "watch")
    fault = plan.add(_take("claim"), "before_send")
    with ThreadWorker(worker):
        waiting.sent.clear()
        _require(waiting.sent.is_set, "the worker to wait in BLMOVE")
        ledger.enqueue(queue, 1)  # BLMOVE returns it, then the worker claims it
        _require(lambda: fault.fired, "the injected fault")
        ran = _eventually(lambda: ledger.ended(queue.connection) == 1, timeout=5)
        where = queue.connection.lrange(queue.intermediate_queue_key, 0, -1)
    assert ran, f"the job did not run within 5 s of the failed claim; intermediate list: {where}"


@pytest.mark.parametrize("client_retries", [False, True], ids=["client-surfaces-errors", "client-retries-itself"])
def test_lost_reply_of_blmove_is_rescued_by_maintenance(restartable_redis, tmp_path, monkeypatch, client_retries):
    # The worker never learns which id BLMOVE moved; only the intermediate-list rescue finds it.
    # Its 60 s threshold (rq.defaults.INTERMEDIATE_STUCK_AFTER) is shortened here to keep the test short.
    monkeypatch.setattr(rq.maintenance.rescue_intermediate, "__defaults__", (2.0,))
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries)
    ledger = Ledger(tmp_path / "jobs", "lost reply: BLMOVE")
    queue = Queue("moved", connection=restartable_redis.client())
    worker = ThreadedWorker(["moved"], name="moved", connection=client, maintenance_interval=1)
    fault = plan.add(command("BLMOVE"), "after_reply")  # fires on the first BLMOVE that returns an id
    with ThreadWorker(worker):
        fault.sent.clear()
        wait_for(fault.sent.is_set, message="the worker to wait in BLMOVE")
        ledger.enqueue(queue, 1)  # BLMOVE (blocking for up to a second) returns it
        wait_for(lambda: fault.fired, message="the injected fault")
        wait_for(lambda: ledger.ended(queue.connection) == 1, timeout=20, message="the rescued job to run")
    tally = ledger.tally(queue.connection)
    assert (tally.finished, tally.extra_runs) == (1, 0), tally.describe()
    assert queue.connection.llen(queue.intermediate_queue_key) == 0


@pytest.mark.parametrize("client_retries", [False, True], ids=["client-surfaces-errors", "client-retries-itself"])
def test_lost_reply_of_an_outcome_write_records_the_job_once(restartable_redis, tmp_path, client_retries):
    """The write is repeated after the lost reply, and finds the outcome already recorded."""
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries)
    ledger = Ledger(tmp_path / "jobs", "lost reply: outcome")
    queue = Queue("outcome", connection=restartable_redis.client())
    with ThreadWorker(ThreadedWorker(["outcome"], name="outcome", connection=client)):
        # The outcome is written in one request, the only one that adds to the finished registry.
        fault = plan.add(mentions("rq:finished:outcome"), "after_reply")
        (job_id,) = ledger.enqueue(queue, 1)
        _require(lambda: fault.fired, "the injected fault")
        wait_for(lambda: ledger.ended(queue.connection) == 1, timeout=15, message="the job to end")
    tally = ledger.tally(queue.connection)
    assert (tally.finished, tally.extra_runs, tally.unfinished) == (1, 0, 0), tally.describe()
    assert queue.finished_job_registry.get_job_ids() == [job_id]
    assert tally.double_writes == 0, tally.describe()


def test_lost_reply_of_the_registration_lets_the_worker_start(restartable_redis, tmp_path):
    plan = FaultPlan()
    client = faulty_client(restartable_redis, plan, client_retries=False)
    fault = plan.add(mentions("rq:workers", "rq:worker:born"), "after_reply")  # the record's write
    worker = ThreadedWorker(["born"], name="born", connection=client)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker.work(burst=True)
        except BaseException as exc:  # noqa: BLE001 - the test reports what ended the worker
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True, name="test-worker")
    thread.start()
    thread.join(timeout=30)
    _require(lambda: fault.fired, "the injected fault")
    assert not thread.is_alive(), "the burst worker did not finish"
    assert errors == [], f"the worker did not start: {errors!r}"


def test_listener_error_caused_by_a_dropped_connection_is_an_outage(restartable_redis, caplog):
    caplog.set_level(logging.INFO, logger="rq.worker")
    client = restartable_redis.client()
    worker = ThreadedWorker(["listener"], name="listener", connection=client)
    with ThreadWorker(worker, check_interval=0.3) as running:
        pubsub = worker.pubsub
        original = pubsub.get_message
        broken = threading.Event()

        def get_message(*args: Any, **kwargs: Any) -> Any:
            if not broken.is_set():
                broken.set()
                # What redis-py raised in the CLIENT KILL loop when its reconnect read a closed buffer.
                try:
                    raise RedisConnectionError("Connection closed by server.")
                except RedisConnectionError:
                    raise ValueError("I/O operation on closed file.")  # noqa: B904 - chained implicitly, as redis-py does
            return original(*args, **kwargs)

        pubsub.get_message = get_message
        _require(broken.is_set, "the injected listener error")
        _require(lambda: running.subscribers() == 1, "the listener to serve again")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
