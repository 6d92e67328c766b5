"""One cheap probe per Redis server and process that tells every waiting loop when Redis is back.

While Redis is away, the loops of a process (the worker's main loop, its command
listener, the scheduler, cron, the health checker) do not each retry on their own
exponential backoff: they wait on the ``OutageProbe`` of their server. The probe runs in
one daemon thread, only while someone waits: every ``interval`` seconds (at most one) it
opens a fresh connection with a short connect timeout and sends PING. The first PING that
answers wakes every waiter at once, so the whole process resumes within one interval of
Redis accepting connections, and an outage costs Redis one connection attempt per
interval, whatever the number of loops.

A loop whose step fails while the probe's PING answers (a refusal PING does not see, such
as READONLY) is not woken by the probe: it waits its own backoff delay, as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Optional

from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool

from .settings import settings

__all__ = ["OutageProbe", "probe_client", "probe_for", "probe_key"]

logger = logging.getLogger("rq.worker")

# Slices, in seconds, in which a waiter checks its stop and wake events.
WAIT_SLICE = 0.05
# Seconds the probe thread lingers without waiters before it ends (a new waiter starts it again).
IDLE_EXIT = 5.0


def probe_interval() -> float:
    """The probe's interval from the settings, kept between 0.05 s and 1 s."""
    return min(1.0, max(0.05, float(settings.outage_probe_interval)))


def _is_setting(value: Any) -> bool:
    """Plain connection settings are copied to a probe; objects tied to a pool are not."""
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_setting(item) for item in value)
    return False


def probe_client(connection: Redis, timeout: float) -> Redis:
    """A client of the same server as ``connection`` that gives up after ``timeout`` seconds, without retries.

    It has a pool of its own, so a probe never waits behind (or disturbs) the caller's commands.
    """
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
        "retry_on_error": [],
        "health_check_interval": 0,
    }
    pool = connection.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return pool.sentinel_manager.master_for(pool.service_name, **options)
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if _is_setting(value) or key == "credential_provider"
    }
    kwargs.update(options)
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))


def probe_key(connection: Redis) -> tuple:
    """What identifies the server behind ``connection``: address (or Sentinel service), database, user."""
    pool = connection.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        sentinels = tuple(
            (s.connection_pool.connection_kwargs.get("host"), s.connection_pool.connection_kwargs.get("port"))
            for s in pool.sentinel_manager.sentinels
        )
        return ("sentinel", pool.service_name, sentinels, pool.connection_kwargs.get("db"))
    kwargs = pool.connection_kwargs
    return (
        pool.connection_class.__name__,
        kwargs.get("host"),
        kwargs.get("port"),
        kwargs.get("path"),
        kwargs.get("db"),
        kwargs.get("username"),
    )


class OutageProbe:
    """Pings one Redis server at a steady interval while loops wait for it, and wakes them all at once."""

    def __init__(self, connection: Redis, interval: Optional[float] = None, timeout: Optional[float] = None) -> None:
        self._connection = connection
        self.interval = probe_interval() if interval is None else interval
        self.timeout = float(settings.outage_probe_timeout) if timeout is None else timeout
        self.attempts = 0  # PINGs sent (each on a fresh connection)
        self.last_success: Optional[float] = None  # monotonic start of the last PING that answered
        self.last_failure: Optional[float] = None  # monotonic start of the last PING that failed
        self.last_error: Optional[str] = None
        self._cond = threading.Condition()
        self._waiters: set[threading.Event] = set()
        self._thread: Optional[threading.Thread] = None
        self._client: Optional[Redis] = None
        self._pid = os.getpid()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _after_fork(self) -> None:
        # A forked child (work horse, scheduler) has none of its parent's threads.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._cond = threading.Condition()
            self._waiters = set()
            self._thread = None
            self._client = None

    # ---- the probe thread ---------------------------------------------------------------------

    def ping(self) -> bool:
        """Connect and PING once (on a fresh connection); records and returns the result."""
        started = time.monotonic()
        try:
            if self._client is None:
                self._client = probe_client(self._connection, self.timeout)
            self._client.ping()
            ok, error = True, None
        except (RedisError, OSError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a probe must never take its thread down
            ok, error = False, f"{type(exc).__name__}: {exc}"
        finally:
            if self._client is not None:
                try:
                    self._client.connection_pool.disconnect()  # hold no connection between probes
                except Exception:
                    self._client = None
        with self._cond:
            self.attempts += 1
            if ok:
                self.last_success = started
                for waiter in self._waiters:
                    waiter.set()
            else:
                self.last_failure, self.last_error = started, error
            self._cond.notify_all()
        return ok

    def _ensure_thread(self) -> None:
        """Under the lock: start the probe thread if it is not running."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="rq-outage-probe", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        idle_since: Optional[float] = None
        while True:
            with self._cond:
                if self._waiters:
                    idle_since = None
                else:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= IDLE_EXIT:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
            if self._waiters:
                self.ping()
            with self._cond:
                self._cond.wait(self.interval)

    # ---- waiting ----------------------------------------------------------------------------------

    def saw_outage(self, since: float) -> bool:
        """Whether a PING started at or after ``since`` (monotonic) failed."""
        return self.last_failure is not None and self.last_failure >= since

    def wait(
        self,
        delay: float,
        cap: Optional[float] = None,
        outage_began: Optional[float] = None,
        stop: Optional[threading.Event] = None,
        wake: Optional[threading.Event] = None,
    ) -> bool:
        """Wait until Redis answers the probe again; True if it did, False on timeout, stop or wake.

        A PING that started after this call began must answer. With ``outage_began``, it
        counts only if the probe saw the outage (a PING failed since then); otherwise the
        wait lasts ``delay`` seconds, the caller's own backoff. Once the probe has seen the
        outage, the wait lasts up to ``cap`` seconds (default ``delay``), the caller's safety net.
        """
        self._after_fork()
        began = time.monotonic()
        waiter = threading.Event()
        with self._cond:
            self._waiters.add(waiter)
            self._ensure_thread()
        try:
            while True:
                now = time.monotonic()
                answered = self.last_success is not None and self.last_success >= began
                visible = outage_began is None or self.saw_outage(outage_began)
                if answered and visible:
                    return True
                limit = (cap if cap is not None else delay) if visible and outage_began is not None else delay
                if now - began >= limit or (stop is not None and stop.is_set()) or (wake is not None and wake.is_set()):
                    return False
                if waiter.wait(min(WAIT_SLICE, limit - (now - began))):
                    waiter.clear()
        finally:
            with self._cond:
                self._waiters.discard(waiter)

    def wait_until_up(self, timeout: float, stop: Optional[threading.Event] = None) -> bool:
        """Wait up to ``timeout`` seconds for a PING to answer (one is sent at once); True if one did."""
        return self.wait(delay=timeout, stop=stop)


_probes: dict[tuple, OutageProbe] = {}
_probes_lock = threading.Lock()


def probe_for(connection: Any) -> Optional[OutageProbe]:
    """The process's probe of the server behind ``connection`` (shared by every loop); None if it has none.

    Nothing is sent to Redis here: the probe starts pinging when a loop first waits on it.
    """
    pool = getattr(connection, "connection_pool", None)
    if pool is None or not hasattr(pool, "connection_kwargs"):
        return None  # not a redis-py client (e.g. a test double): loops keep their own backoff
    try:
        key = probe_key(connection)
    except Exception:
        return None
    with _probes_lock:
        probe = _probes.get(key)
        if probe is None:
            probe = _probes[key] = OutageProbe(connection)
        return probe
