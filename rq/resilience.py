"""How rq rides through Redis trouble: which errors are transient, how long to wait, what to log.

Every loop that talks to Redis (the worker's main loop and registration, the command
listener, the scheduler loop, outcome writes and the release of dependents) runs on a
``RetryLoop``: it names a ``RetryPolicy`` (how long to wait between attempts, and whether
an error that is not a Redis outage ends the loop or is retried), logs through the
``Outage`` of its connection (the first failure of an outage as a WARNING, rate-limited
reminders while it lasts, one INFO line with the duration when Redis is back), waits
with capped exponential backoff on its stop event (a stop request ends the wait at once)
and calls its on-recover hook when an outage ends. Transient faults are never logged as
errors.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, NamedTuple, Optional, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .exceptions import StopRequested
from .settings import settings

__all__ = [
    "Backoff",
    "COMMAND_LISTENER",
    "CRON_LOOP",
    "DEPENDENTS_RELEASE",
    "OUTCOME_WRITES",
    "Outage",
    "REDIS_ERRORS",
    "RetryLoop",
    "RetryPolicy",
    "SCHEDULER_LOOP",
    "WORKER_MAIN_LOOP",
    "WORKER_REGISTRATION",
    "is_redis_error",
]

T = TypeVar("T")


# Errors that mean "Redis is unreachable or changing hands", not "the request was wrong".
# ReadOnlyError: a replica answered while a Sentinel failover promotes a new master.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)

# Retry pacing and outage reminders (see rq.settings).
BACKOFF_INITIAL = settings.backoff_initial
BACKOFF_MAX = settings.backoff_max
OUTAGE_REMINDER_INTERVAL = settings.outage_reminder_interval


def is_redis_error(exc: BaseException) -> bool:
    """True for a connection-level Redis error, or an error raised while handling one.

    redis-py sometimes surfaces a dropped connection as a ValueError or AttributeError from
    a closed socket or parser, raised while it handles the ConnectionError; the chain tells.
    """
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, REDIS_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class Backoff:
    """Capped exponential delays with a little jitter, so a fleet does not retry in lockstep."""

    def __init__(
        self,
        initial: float = BACKOFF_INITIAL,
        maximum: float = BACKOFF_MAX,
        factor: float = settings.backoff_factor,
        jitter: float = settings.backoff_jitter,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * (self.factor**self.attempts))
        self.attempts += 1
        return delay * (1 + random.uniform(-self.jitter, self.jitter)) if self.jitter else delay

    def reset(self) -> None:
        self.attempts = 0

    def sleep(self, stop: Optional[threading.Event] = None) -> float:
        """Wait for the next delay (returning early if ``stop`` is set); returns the delay."""
        delay = self.next_delay()
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
        return delay


class Outage:
    """Tracks one kind of connection (e.g. a worker's command channel) and logs its outages."""

    def __init__(
        self, logger: logging.Logger, subject: str, what: str, reminder_interval: float = OUTAGE_REMINDER_INTERVAL
    ) -> None:
        self.logger = logger
        self.subject = subject
        self.what = what
        self.reminder_interval = reminder_interval
        self.since: Optional[float] = None  # wall-clock start of the current outage
        self._started: Optional[float] = None
        self._last_log = 0.0
        self.count = 0  # outages seen
        self.errors = 0  # errors seen (several per outage)
        self.recoveries = 0
        self.last_error: Optional[str] = None
        self.last_recovery: Optional[float] = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._started is not None

    def failed(self, exc: BaseException) -> bool:
        """Record an error; returns True if it started a new outage."""
        with self._lock:
            now = time.monotonic()
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self._started is None:
                self._started = now
                self.since = time.time()
                self._last_log = now
                self.count += 1
                self.logger.warning("%s: %s lost (%s); retrying with backoff", self.subject, self.what, self.last_error)
                return True
            if now - self._last_log >= self.reminder_interval:
                self._last_log = now
                self.logger.warning(
                    "%s: %s still unavailable after %.0fs (%s)",
                    self.subject,
                    self.what,
                    now - self._started,
                    self.last_error,
                )
            return False

    def blip(self, what_happened: str) -> None:
        """Record an outage that healed before any error surfaced (e.g. a client-side reconnect)."""
        with self._lock:
            self.count += 1
            self.errors += 1
            self.recoveries += 1
            self.last_error = what_happened
            self.last_recovery = time.time()
            self.logger.warning("%s: %s %s", self.subject, self.what, what_happened)

    def recovered(self) -> Optional[float]:
        """Record a success; returns the outage's duration if one just ended."""
        with self._lock:
            if self._started is None:
                return None
            duration = time.monotonic() - self._started
            self._started = None
            self.since = None
            self.recoveries += 1
            self.last_recovery = time.time()
            self.logger.info("%s: %s recovered after %.1fs", self.subject, self.what, duration)
            return duration


class RetryPolicy(NamedTuple):
    """How one loop behaves while Redis is away: its pacing, and what other errors do.

    An error that is not a Redis outage leaves the loop, for its caller to handle, unless
    it is one of ``retried``: those are logged with their traceback and retried with the
    same backoff (for loops that must outlive such a failure).
    """

    name: str
    initial: float = settings.backoff_initial
    maximum: float = settings.backoff_max
    factor: float = settings.backoff_factor
    jitter: float = settings.backoff_jitter
    retried: tuple[type[BaseException], ...] = ()

    def backoff(self) -> Backoff:
        return Backoff(self.initial, self.maximum, self.factor, self.jitter)


# The policies of the loops that talk to Redis. A worker builds its main-loop policy from
# WORKER_MAIN_LOOP with its ``exponential_backoff_factor`` and ``max_connection_wait_time``.
WORKER_MAIN_LOOP = RetryPolicy("worker main loop")
WORKER_REGISTRATION = RetryPolicy("worker registration")
OUTCOME_WRITES = RetryPolicy("outcome writes")
DEPENDENTS_RELEASE = RetryPolicy("release of dependents")
COMMAND_LISTENER = RetryPolicy(
    "command listener", initial=settings.listener_backoff_initial, maximum=settings.listener_backoff_max
)
SCHEDULER_LOOP = RetryPolicy("scheduler loop", retried=(Exception,))
# Upstream's cron scheduler ends on an error that does not come from Redis; a command that
# Redis refuses (a RedisError other than an outage) is retried.
CRON_LOOP = RetryPolicy("cron scheduler loop", retried=(RedisError,))


class RetryLoop:
    """Runs steps that talk to Redis until they succeed or the loop is stopped.

    A Redis error (``REDIS_ERRORS``) is recorded on ``outage`` (shared by every loop of one
    connection, so one outage is one stream of warnings) and waited out with the policy's
    backoff on ``stop``: setting the event ends the wait at once, and the loop then stops
    (``call`` raises ``StopRequested``, ``run`` returns). The first success after an outage
    resets the backoff and calls ``on_recover`` (a Redis error raised there counts as a
    failure of the step, and the hook runs again at the next recovery).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        outage: Outage,
        stop: Optional[threading.Event] = None,
        on_recover: Optional[Callable[[], None]] = None,
    ) -> None:
        self.policy = policy
        self.outage = outage
        self.stop_event = stop if stop is not None else threading.Event()
        self.on_recover = on_recover
        self.backoff = policy.backoff()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def stop(self) -> None:
        self.stop_event.set()

    def failed(self, exc: BaseException, stop: Optional[threading.Event] = None) -> bool:
        """Record a Redis error and wait the next delay (less if stopped); True if it began an outage.

        ``stop`` replaces the loop's stop event for this wait (a listener thread's own event).
        """
        new = self.outage.failed(exc)
        self.wait(stop)
        return new

    def wait(self, stop: Optional[threading.Event] = None) -> float:
        """Wait the next backoff delay, or less if the stop event (``stop``, else the loop's) is set."""
        return self.backoff.sleep(stop if stop is not None else self.stop_event)

    def _retry_other_error(self) -> None:
        """In an ``except`` block: log the error with its traceback and wait, for a policy that retries them."""
        self.outage.logger.exception(
            "%s: unexpected error in the %s; retrying with backoff", self.outage.subject, self.policy.name
        )
        self.backoff.sleep(self.stop_event)

    def succeeded(self) -> None:
        """A round trip went through: reset the backoff, and end the outage (calling the hook) if one was on."""
        self.backoff.reset()
        if self.outage.recovered() is not None and self.on_recover is not None:
            self.on_recover()

    def attempt(self, step: Callable[[], object]) -> bool:
        """Try ``step`` once, without waiting: True if it went through, False (recorded) on a Redis error.

        For calls paced by their caller, such as heartbeats between two polls.
        """
        try:
            step()
            self.succeeded()
        except REDIS_ERRORS as exc:
            self.outage.failed(exc)
            return False
        return True

    def call(self, step: Callable[[], T], on_error: Optional[Callable[[BaseException], None]] = None) -> T:
        """``step()`` until it goes through; raises ``StopRequested`` if stopped while Redis is away.

        ``on_error(exc)`` runs after each Redis error, before the wait.
        """
        while True:
            try:
                result = step()
                self.succeeded()
                return result
            except REDIS_ERRORS as exc:
                if on_error is not None:
                    on_error(exc)
                self.failed(exc)
                if self.stopped:
                    raise StopRequested() from exc
            except (StopRequested, SystemExit, KeyboardInterrupt):
                raise
            except self.policy.retried:
                self._retry_other_error()

    def run(
        self,
        step: Callable[[], bool],
        interval: float = 0.0,
        on_error: Optional[Callable[[BaseException], None]] = None,
    ) -> None:
        """Call ``step()`` until it returns False or the loop is stopped, waiting ``interval`` after each success."""
        while not self.stopped:
            try:
                go_on = step()
                self.succeeded()
            except REDIS_ERRORS as exc:
                if on_error is not None:
                    on_error(exc)
                self.failed(exc)
                continue
            except (StopRequested, SystemExit, KeyboardInterrupt):
                raise
            except self.policy.retried:
                self._retry_other_error()
                continue
            if not go_on:
                return
            if interval:
                self.stop_event.wait(interval)
