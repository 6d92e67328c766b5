"""Health checks of a worker, without HTTP: liveness and readiness, and its Redis record.

Faces layer, the bottom of the HTTP endpoints' modules: ``rq.http_endpoint`` serves these
checks, ``rq.metrics`` shares the Redis probe, and ``rq.health`` (the endpoints'
composition module, the public path) starts them together. This module imports none of
them, so an idle worker loads no HTTP server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from redis import Redis
from redis.exceptions import RedisError

from . import layout
from .defaults import DEFAULT_WORKER_TTL, WORKER_KEY_GRACE
from .layout import as_text, parse_ts, utcnow
from .outage_probe import probe_client, probe_for
from .settings import settings

__all__ = [
    "DEFAULT_HTTP_HOST",
    "HEALTH_CHECK_INTERVAL",
    "JOB_OVERRUN_GRACE",
    "LIVENESS_WINDOW",
    "PROBE_TIMEOUT",
    "Check",
    "HealthChecker",
    "Route",
    "WorkerHealth",
    "check_worker_record",
    "describe_error",
    "health_routes",
    "probe_client",
    "report",
]

logger = logging.getLogger("rq.worker")


# Address the HTTP endpoints listen on unless told otherwise: this machine only.
DEFAULT_HTTP_HOST = "127.0.0.1"
# Seconds between two Redis checks of the readiness checker.
HEALTH_CHECK_INTERVAL = settings.health_check_interval
# Connect and read timeout, in seconds, of the client that probes Redis.
PROBE_TIMEOUT = 1.0
# The main loop counts as alive if it showed a sign of life within this many seconds.
LIVENESS_WINDOW = settings.liveness_window
# Seconds a SimpleWorker job may run past its time limit before the worker counts as hung
# (the same grace a Worker gives its work horse before killing it).
JOB_OVERRUN_GRACE = 60

# What an HTTP route returns: (status, content type, body). It receives the request headers.
Route = Callable[[Any], "tuple[int, str, bytes]"]


# ---- a client that probes Redis ----------------------------------------------------------


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ---- the checks ----------------------------------------------------------------------------


@dataclass
class Check:
    """The outcome of one check, and why."""

    ok: bool
    detail: str


def report(worker: Any, checks: dict[str, Check]) -> dict[str, Any]:
    """The JSON body of a probe: overall status, worker name and each check."""
    return {
        "status": "ok" if all(check.ok for check in checks.values()) else "fail",
        "worker": worker.name,
        "checks": {name: asdict(check) for name, check in checks.items()},
    }


class HealthChecker:
    """Decides liveness and readiness of one worker; pings Redis in a background thread.

    ``check_interval``: seconds between two Redis pings (readiness notices an outage within
    one interval). ``liveness_window``: seconds the main loop may stay silent.
    """

    def __init__(
        self,
        worker: Any,
        check_interval: float = HEALTH_CHECK_INTERVAL,
        liveness_window: float = LIVENESS_WINDOW,
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.worker = worker
        self.check_interval = check_interval
        self.liveness_window = liveness_window
        self.probe_timeout = probe_timeout
        self.probes = 0  # Redis pings done so far
        self._redis: Optional[tuple[bool, str, float]] = None  # (ok, detail, monotonic time)
        self._client: Optional[Redis] = None
        self._retry_errors = -1
        self._retrying_at = float("-inf")  # when the main loop was last seen retrying Redis
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ---- the background checker ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"rq-health-{self.worker.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.probe_timeout * 3 + 1)
        self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        # Failure mode: a failed ping is the result, not an error; anything else is logged
        # at DEBUG and the next check runs on time, so the checker outlives any fault.
        # While Redis is away the checker waits on the process's outage probe instead of
        # pinging on its own, and checks again as soon as the probe gets an answer.
        probe = probe_for(self.worker.connection)
        while not self._stop.is_set():
            ok = True
            try:
                ok = self.check_now()
            except Exception:
                logger.debug("Worker %s: health check failed", self.worker.name, exc_info=True)
            if ok or probe is None:
                self._stop.wait(self.check_interval)
            else:
                probe.wait(self.check_interval, stop=self._stop)

    def check_now(self) -> bool:
        """Ping Redis once and note whether the main loop is retrying it; returns whether Redis answered."""
        errors = self.worker.connection_outage.errors
        if errors != self._retry_errors:
            # A new error on the worker's connection: the main loop is busy retrying, not stuck.
            if self._retry_errors >= 0:
                self._retrying_at = time.monotonic()
            self._retry_errors = errors
        if self._client is None:
            self._client = probe_client(self.worker.connection, self.probe_timeout)
        started = time.monotonic()
        try:
            self._client.ping()
        except RedisError as exc:
            result = (False, describe_error(exc), time.monotonic())
        else:
            took = (time.monotonic() - started) * 1000
            result = (True, f"PING answered in {took:.1f} ms", time.monotonic())
        previous, self._redis = self._redis, result
        self.probes += 1
        if previous is not None and previous[0] != result[0]:
            # The worker logs the outage itself (one warning, one recovery line); not twice.
            logger.debug("Worker %s: readiness check of Redis: %s", self.worker.name, result[1])
        return result[0]

    # ---- liveness --------------------------------------------------------------------------

    def liveness(self) -> dict[str, Any]:
        checks = {"process": Check(True, f"pid {os.getpid()}"), "main_loop": self._main_loop()}
        return report(self.worker, checks)

    def _main_loop(self) -> Check:
        worker = self.worker
        age = time.monotonic() - max(worker.last_loop_at, self._retrying_at)
        if age < self.liveness_window:
            return Check(True, f"last sign of life {age:.1f}s ago")
        state = worker.get_state()
        if state == "suspended":
            return Check(True, "suspended, waiting for `rq resume`")
        current = getattr(worker, "_current", None)  # a SimpleWorker's running (job, queue)
        if state == "busy" and current is not None:
            return self._running_job(current[0])
        return Check(False, f"main loop silent for {age:.0f}s (limit {self.liveness_window:.0f}s)")

    def _running_job(self, job: Any) -> Check:
        """A job run in the worker's own process: alive while within its time limit (plus a grace)."""
        limit = job.timeout or self.worker.queue_class.DEFAULT_TIMEOUT
        elapsed = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
        if limit == -1:
            return Check(True, f"running job {job.id} for {elapsed:.0f}s (no time limit)")
        if elapsed <= limit + JOB_OVERRUN_GRACE:
            return Check(True, f"running job {job.id} for {elapsed:.0f}s (time limit {limit}s)")
        return Check(False, f"job {job.id} has run {elapsed:.0f}s, more than its time limit of {limit}s")

    # ---- readiness -------------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        checks = {"redis": self._redis_check(), "command_channel": self._command_channel(), "state": self._state()}
        return report(self.worker, checks)

    def _redis_check(self) -> Check:
        if self._redis is None:
            return Check(False, "not checked yet")
        ok, detail, checked_at = self._redis
        age = time.monotonic() - checked_at
        if age > 2 * (self.check_interval + self.probe_timeout) + 1:
            return Check(False, f"no Redis check for {age:.0f}s (the checker is not running)")
        outage = self.worker.connection_outage
        if ok and outage.active:
            detail += f"; the worker's own connection is still reconnecting ({outage.last_error})"
        return Check(ok, detail)

    def _command_channel(self) -> Check:
        worker = self.worker
        thread = worker.pubsub_thread
        if thread is None or not thread.is_alive():
            return Check(False, "not listening (no listener thread)")
        outage = worker.command_channel.outage
        if outage.active:
            since = time.time() - (outage.since or time.time())
            return Check(False, f"reconnecting for {since:.0f}s ({outage.last_error})")
        return Check(True, f"subscribed to {worker.pubsub_channel_name}")

    def _state(self) -> Check:
        worker = self.worker
        state = worker.get_state()
        if getattr(worker, "_stop_requested", False):
            return Check(False, "shutting down")
        if state == "suspended":
            return Check(False, "suspended, run `rq resume` to resume")
        if state == "starting":
            return Check(False, "starting: not registered in Redis yet")
        return Check(True, state)


# ---- HTTP routes ------------------------------------------------------------------------------


def _json_response(body: dict[str, Any]) -> tuple[int, str, bytes]:
    status = 200 if body.get("status") == "ok" else 503
    return status, "application/json", json.dumps(body, sort_keys=True).encode() + b"\n"


def health_routes(checker: HealthChecker) -> dict[str, Route]:
    """The ``/livez`` and ``/readyz`` routes of a checker, for an ``HTTPEndpoint``."""
    return {
        "/livez": lambda headers: _json_response(checker.liveness()),
        "/readyz": lambda headers: _json_response(checker.readiness()),
    }


# ---- a worker judged from its Redis record ----------------------------------------------------


@dataclass
class WorkerHealth:
    """What the record ``rq:worker:<name>`` says about a worker; ``problems`` is empty when healthy."""

    name: str
    found: bool
    problems: list[str] = field(default_factory=list)
    state: Optional[str] = None
    last_heartbeat: Optional[str] = None
    heartbeat_age: Optional[float] = None
    pubsub_state: Optional[str] = None
    connection_state: Optional[str] = None
    death: Optional[str] = None
    current_job: Optional[str] = None

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, **asdict(self)}


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def check_worker_record(
    connection: Redis, name: str, max_heartbeat_age: Optional[float] = None, now: Optional[datetime] = None
) -> WorkerHealth:
    """Judge the worker ``name`` (or key ``rq:worker:<name>``) from its Redis record.

    Healthy means: the record exists, has no ``death``, its last heartbeat is younger than
    ``max_heartbeat_age`` (default: the default worker TTL + 60 s, 480 s) and its command
    channel is ``ok``. A busy worker whose record still has a TTL may heartbeat less often:
    a SimpleWorker does not heartbeat while it runs a job, and gives its record a TTL that
    covers the job's time limit instead.
    """
    if name.startswith(layout.WORKER_PREFIX):
        name = name[len(layout.WORKER_PREFIX) :]
    limit = DEFAULT_WORKER_TTL + WORKER_KEY_GRACE if max_heartbeat_age is None else max_heartbeat_age
    key = layout.worker_key(name)
    with connection.pipeline(transaction=False) as pipe:
        pipe.hgetall(key)
        pipe.ttl(key)
        raw_hash, ttl = pipe.execute()
    health = WorkerHealth(name=name, found=bool(raw_hash))
    if not raw_hash:
        health.problems.append(f"no worker named {name!r} in Redis (never started, or its record expired)")
        return health
    raw = layout.decode_hash(raw_hash)
    health.state = as_text(raw.get("state"))
    health.current_job = as_text(raw.get("current_job")) or None
    health.pubsub_state = as_text(raw.get("pubsub_state")) or None
    health.connection_state = as_text(raw.get("connection_state")) or None
    death = parse_ts(raw.get("death"))
    heartbeat = parse_ts(raw.get("last_heartbeat"))
    health.death, health.last_heartbeat = _iso(death), _iso(heartbeat)
    if death is not None:
        health.problems.append(f"worker exited at {death:%Y-%m-%d %H:%M:%S} UTC")
    if heartbeat is None:
        health.problems.append("no heartbeat recorded")
    else:
        age = ((now or utcnow()) - heartbeat).total_seconds()
        health.heartbeat_age = round(age, 3)
        leased = health.state == "busy" and ttl is not None and ttl > 0
        if age > limit and not leased and death is None:
            health.problems.append(f"last heartbeat {age:.0f}s ago (limit {limit:.0f}s)")
    pubsub = health.pubsub_state
    if pubsub is not None and pubsub != "ok" and death is None:
        since = pubsub.rpartition(" ")[2]
        try:
            health.problems.append(f"command channel reconnecting for {time.time() - float(since):.0f}s")
        except ValueError:
            health.problems.append(f"command channel: {pubsub}")
    return health
