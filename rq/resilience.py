"""How rq rides through Redis trouble: which errors are transient, how long to wait, what to log.

Every loop that talks to Redis (the worker's main loop and registration, the command
listener, the scheduler loop, outcome writes and the release of dependents) runs on a
``RetryLoop``: it names a ``RetryPolicy`` (how long to wait between attempts, and whether
an error that is not a Redis outage ends the loop or is retried), logs through the
``Outage`` of its connection (the first failure of an outage as a WARNING, rate-limited
reminders while it lasts, one INFO line with the duration when Redis is back), waits
on its stop event (a stop request ends the wait at once) and calls its on-recover hook
when an outage ends. Transient faults are never logged as errors.

While Redis is away a loop does not retry on its own: it waits on the ``OutageProbe`` of
its server (``rq.outage_probe``), one per process, which pings at a steady interval of at
most a second and wakes every waiting loop as soon as Redis answers. A loop without a
probe (no connection known) waits its capped exponential backoff, as does a loop whose
step fails while PING answers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ExecAbortError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .exceptions import StopRequested
from .outage_probe import OutageProbe, probe_client, probe_for, probe_interval
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
    "RedisUnreachable",
    "RetryPolicy",
    "SCHEDULER_LOOP",
    "WORKER_MAIN_LOOP",
    "WORKER_REGISTRATION",
    "describe_redis_error",
    "is_outage",
    "is_redis_error",
    "is_transient_refusal",
    "wait_for_redis",
]

T = TypeVar("T")


# Errors that mean "Redis is unreachable, changing hands or refusing writes for now", not
# "the request was wrong". ReadOnlyError: a replica answered (a Sentinel failover is promoting
# a new master, or the client points at a replica). OutOfMemoryError: maxmemory is reached
# with the noeviction policy; writes go through again once memory frees. BusyLoadingError
# (LOADING) and MaxClientsReachedError are ConnectionErrors.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
)
# Prefixes of replies that redis-py raises as a plain ResponseError although they mean the
# server cannot serve anyone for now: a script or function running past busy-reply-threshold
# (BUSY), a replica that lost its master (MASTERDOWN), a cluster slot in migration (TRYAGAIN), a
# primary with fewer good replicas than min-replicas-to-write (NOREPLICAS).
TRANSIENT_REPLIES = ("BUSY ", "MASTERDOWN ", "TRYAGAIN ", "NOREPLICAS ")
PIPELINE_ERROR_MARK = " of pipeline caused error: "


def is_transient_refusal(exc: BaseException) -> bool:
    """True for a ``ResponseError`` whose reply says the server is busy or changing state (``TRANSIENT_REPLIES``),
    or a transaction Redis discarded (``EXECABORT``): nothing of it was applied, and the usual cause is the
    refusal of one of its commands for the server's state (NOREPLICAS, OOM, READONLY)."""
    if isinstance(exc, ExecAbortError):
        return True
    if not isinstance(exc, ResponseError):
        return False
    # redis-py prefixes the error of one command of a pipeline with "Command # N (...) of pipeline caused error: ".
    reply = str(exc).split(PIPELINE_ERROR_MARK, 1)[-1]
    return reply.startswith(TRANSIENT_REPLIES)


def is_outage(exc: BaseException) -> bool:
    """True for an error a retry loop waits out: one of ``REDIS_ERRORS`` or a transient refusal."""
    return isinstance(exc, REDIS_ERRORS) or is_transient_refusal(exc)


def describe_redis_error(exc: BaseException, connection: Any = None) -> str:
    """One line for an outage error; says what the server's state means for a refusal, naming the server."""
    text = f"{type(exc).__name__}: {exc}"
    where = f"the server at {_describe(connection)}" if connection is not None else "the server"
    if isinstance(exc, ReadOnlyError):
        return (
            f"{where} is a read-only replica ({text}); point rq at the primary, or use Sentinel, "
            "which finds the primary after a failover"
        )
    if isinstance(exc, OutOfMemoryError):
        return (
            f"{where} is out of memory (maxmemory reached, noeviction) and refuses writes until memory frees ({text})"
        )
    if isinstance(exc, BusyLoadingError):
        return f"{where} is loading its dataset from disk ({text})"
    if "max number of clients reached" in str(exc).lower():  # MaxClientsReachedError (redis-py 5.1+)
        return f"{where} has reached maxclients and refuses new connections ({text})"
    if isinstance(exc, ResponseError) and str(exc).startswith("BUSY "):
        return f"{where} is busy running a script or function ({text})"
    return text


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
        if is_outage(current):
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
        self,
        logger: logging.Logger,
        subject: str,
        what: str,
        reminder_interval: float = OUTAGE_REMINDER_INTERVAL,
        connection: Any = None,
    ) -> None:
        self.logger = logger
        self.connection = connection
        # The probe that the loops logging through this outage wait on (see rq.outage_probe).
        self.probe: Optional[OutageProbe] = probe_for(connection) if connection is not None else None
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
            self.last_error = describe_redis_error(exc, self.connection)
            if self._started is None:
                self._started = now
                self.since = time.time()
                self._last_log = now
                self.count += 1
                self.logger.warning(
                    "%s: %s lost (%s); %s",
                    self.subject,
                    self.what,
                    self.last_error,
                    "waiting for it to answer again" if self.probe is not None else "retrying with backoff",
                )
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

    An outage error (``is_outage``: ``REDIS_ERRORS`` and transient refusals such as
    ``BUSY``) is recorded on ``outage`` (shared by every loop of one connection, so one
    outage is one stream of warnings) and waited out on the probe of ``outage`` (or
    ``probe``), else with the policy's backoff, on ``stop``: setting the event ends the
    wait at once, and the loop then stops
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
        probe: Optional[OutageProbe] = None,
    ) -> None:
        self.policy = policy
        self.outage = outage
        self.stop_event = stop if stop is not None else threading.Event()
        self.on_recover = on_recover
        self.backoff = policy.backoff()
        self._probe = probe
        self._failing_since: Optional[float] = None  # monotonic time of the first failure since the last success

    @property
    def probe(self) -> Optional[OutageProbe]:
        """The probe this loop waits on while Redis is away: its own, else its outage's."""
        return self._probe if self._probe is not None else self.outage.probe

    @probe.setter
    def probe(self, probe: Optional[OutageProbe]) -> None:
        self._probe = probe

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

    def wait(self, stop: Optional[threading.Event] = None, wake: Optional[threading.Event] = None) -> float:
        """Wait until Redis is back (as the probe sees it) or the next backoff delay; returns the delay.

        The wait ends early when the stop event (``stop``, else the loop's) or ``wake`` is set.
        """
        stop = stop if stop is not None else self.stop_event
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        delay = self.backoff.next_delay()
        probe = self.probe
        if probe is not None:
            probe.wait(delay, cap=self.backoff.maximum, outage_began=self._failing_since, stop=stop, wake=wake)
        elif wake is None:
            stop.wait(delay)
        else:
            deadline = time.monotonic() + delay
            while not (stop.is_set() or wake.is_set()) and time.monotonic() < deadline:
                stop.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return delay

    def _retry_other_error(self) -> None:
        """In an ``except`` block: log the error with its traceback and wait, for a policy that retries them."""
        self.outage.logger.exception(
            "%s: unexpected error in the %s; retrying with backoff", self.outage.subject, self.policy.name
        )
        self.backoff.sleep(self.stop_event)

    def succeeded(self) -> None:
        """A round trip went through: reset the backoff, and end the outage (calling the hook) if one was on."""
        self.backoff.reset()
        self._failing_since = None
        if self.outage.recovered() is not None and self.on_recover is not None:
            self.on_recover()

    def attempt(self, step: Callable[[], object]) -> bool:
        """Try ``step`` once, without waiting: True if it went through, False (recorded) on a Redis error.

        For calls paced by their caller, such as heartbeats between two polls.
        """
        try:
            step()
            self.succeeded()
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.outage.failed(exc)
            return False
        return True

    def _after_error(self, exc: Exception, on_error: Optional[Callable[[BaseException], None]]) -> None:
        """In an ``except`` block of a step: wait out an outage (or an error the policy retries), else re-raise."""
        if not is_outage(exc):
            if not isinstance(exc, self.policy.retried):
                raise exc
            self._retry_other_error()
            return
        if on_error is not None:
            on_error(exc)
        self.failed(exc)

    def call(self, step: Callable[[], T], on_error: Optional[Callable[[BaseException], None]] = None) -> T:
        """``step()`` until it goes through; raises ``StopRequested`` if stopped while Redis is away.

        ``on_error(exc)`` runs after each Redis error, before the wait.
        """
        while True:
            try:
                result = step()
                self.succeeded()
                return result
            except (StopRequested, SystemExit, KeyboardInterrupt):
                raise
            except Exception as exc:
                self._after_error(exc, on_error)
                if self.stopped:
                    raise StopRequested() from exc

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
            except (StopRequested, SystemExit, KeyboardInterrupt):
                raise
            except Exception as exc:
                self._after_error(exc, on_error)
                continue
            if not go_on:
                return
            if interval:
                self.stop_event.wait(interval)


class RedisUnreachable(RuntimeError):
    """Redis did not answer within the time a process may wait for it at start."""

    def __init__(self, url: str, error: BaseException, waited: float) -> None:
        self.url, self.error, self.waited = url, error, waited
        super().__init__(f"Redis at {url} did not answer within {waited:g}s: {describe_connect_error(error)}")


def describe_connect_error(exc: BaseException) -> str:
    """One line for a connection failure; an unknown host name is named as such."""
    text = str(exc)
    lowered = text.lower()
    unknown_host = (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "temporary failure in name resolution" in lowered
        or "no address associated with hostname" in lowered
        or "getaddrinfo failed" in lowered
    )
    if unknown_host:
        return f"unknown host name ({type(exc).__name__}: {text})"
    return f"{type(exc).__name__}: {text}"


def wait_for_redis(connection: Any, timeout: float, url: Optional[str] = None) -> None:
    """Return once Redis answers a PING; raise ``RedisUnreachable`` after ``timeout`` seconds.

    For processes that must not wait forever at start (a burst worker in a CI job): the
    probe pings every ``outage_probe_interval`` seconds. ``url`` names the server in the
    error (default: host and port from the connection, without credentials).
    """
    where = url or _describe(connection)
    interval = probe_interval()
    started = time.monotonic()
    client = probe_client(connection, float(settings.outage_probe_timeout))
    try:
        while True:
            try:
                client.ping()
                return
            except AuthenticationError:
                return  # Redis answers: the caller's own commands report the refusal
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                last: BaseException = exc
            except RedisError:
                return  # answered with an error (e.g. LOADING is a ConnectionError, not this)
            finally:
                client.connection_pool.disconnect()
            waited = time.monotonic() - started
            if waited >= timeout:
                raise RedisUnreachable(where, last, timeout)
            time.sleep(min(interval, max(0.0, timeout - waited)))
    finally:
        client.close()


def _describe(connection: Any) -> str:
    kwargs = getattr(getattr(connection, "connection_pool", None), "connection_kwargs", {})
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
