"""How rq rides through Redis trouble: which errors are transient, how long to wait, what to log.

Every loop that talks to Redis (dequeue, heartbeat, command listener, scheduler,
maintenance) uses a ``Backoff`` to pace its retries and an ``Outage`` to log the first
failure of an outage as a WARNING, rate-limited reminders while it lasts, and one INFO
line with the duration when Redis is back. Transient faults are never logged as errors.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Optional

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Backoff", "Outage", "REDIS_ERRORS", "is_redis_error"]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# Errors that mean "Redis is unreachable or changing hands", not "the request was wrong".
# ReadOnlyError: a replica answered while a Sentinel failover promotes a new master.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)

# First retry delay after a Redis error, in seconds.
BACKOFF_INITIAL = _env_float("RQ_BACKOFF_INITIAL", 0.5)
# Longest delay between retries while Redis stays away, in seconds.
BACKOFF_MAX = _env_float("RQ_BACKOFF_MAX", 30.0)
# Seconds between reminder warnings while one outage lasts.
OUTAGE_REMINDER_INTERVAL = _env_float("RQ_OUTAGE_REMINDER_INTERVAL", 60.0)


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
        self, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX, factor: float = 2.0, jitter: float = 0.1
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
