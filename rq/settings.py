"""Every tunable of rq in one place: name, default, environment override and meaning.

``settings`` holds the values in effect, read once from the environment when this module
is first imported (a value that is not a number falls back to the default). Modules read
their tunables from it; ``docs/settings.md`` is generated from ``Settings.describe()``
(``python -m rq.settings``) and a test checks that the page matches.

Per-object options (``Worker(worker_ttl=...)``, ``Queue(default_timeout=...)``) stay
arguments of those objects; the values here are process-wide: retry pacing while Redis is
away, polling intervals and grace periods.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

__all__ = ["Setting", "Settings", "settings"]


def _tunable(default: float, meaning: str, env: Optional[str] = None) -> Any:
    return field(default=default, metadata={"env": env, "meaning": meaning})


class Setting(NamedTuple):
    """The description of one tunable."""

    name: str
    default: float
    env: Optional[str]
    meaning: str


@dataclass(frozen=True)
class Settings:
    """The tunables; see ``describe()`` for their environment variables and meanings."""

    # ---- riding through Redis outages (rq.resilience) ----
    backoff_initial: float = _tunable(
        0.5, "First delay, in seconds, before a loop retries after a Redis error.", "RQ_BACKOFF_INITIAL"
    )
    backoff_max: float = _tunable(
        30.0,
        "Longest delay, in seconds, between retries while Redis stays away (the worker's "
        "`max_connection_wait_time` defaults to it).",
        "RQ_BACKOFF_MAX",
    )
    backoff_factor: float = _tunable(
        2.0,
        "Factor by which the delay grows after each failed retry (the worker's `exponential_backoff_factor`).",
    )
    backoff_jitter: float = _tunable(
        0.1, "Random spread of each delay (0.1: plus or minus 10%), so a fleet does not retry in lockstep."
    )
    outage_reminder_interval: float = _tunable(
        60.0, "Seconds between reminder warnings while one outage lasts.", "RQ_OUTAGE_REMINDER_INTERVAL"
    )
    outage_probe_interval: float = _tunable(
        0.5,
        "Seconds between two probes (connect and PING) of a Redis server that is away; every loop of the "
        "process waits on this one probe and resumes as soon as it answers (kept between 0.05 and 1).",
        "RQ_OUTAGE_PROBE_INTERVAL",
    )
    outage_probe_timeout: float = _tunable(
        0.5, "Connect and read timeout, in seconds, of the outage probe.", "RQ_OUTAGE_PROBE_TIMEOUT"
    )
    burst_redis_wait: float = _tunable(
        30.0,
        "Longest wait, in seconds, of a burst worker for Redis at start before it exits with an error "
        "naming the URL (0: fail at once).",
        "RQ_BURST_REDIS_WAIT",
    )
    outcome_write_refusals: int = _tunable(
        3,
        "Times in a row Redis may close the connection during an outcome write while it answers a PING "
        "before the write counts as refused (the job is then recorded as failed).",
    )
    # ---- the worker (rq.worker) ----
    socket_timeout: float = _tunable(
        30.0, "Socket timeout, in seconds, given to a worker's connection that has none, so no call hangs forever."
    )
    suspension_poll_interval: float = _tunable(1.0, "Seconds between suspension polls of a suspended worker.")
    suspension_check_interval: float = _tunable(
        1.0, "Seconds between two suspension checks of a busy worker (an idle one checks at every poll)."
    )
    pause_check_interval: float = _tunable(
        1.0, "Seconds between two reads of which of a worker's queues are paused (`Queue.pause`)."
    )
    cold_shutdown_min_delay: float = _tunable(
        1.0, "A second shutdown signal within this many seconds of the first is ignored (a key bounce)."
    )
    dequeue_block_slice: float = _tunable(
        1.0, "Longest single blocking dequeue, in seconds; the worker checks for stop requests between slices."
    )
    dequeue_poll_initial: float = _tunable(
        0.01, "First polling delay, in seconds, when a blocking dequeue cannot be used (several queues, Redis < 6.2)."
    )
    dequeue_poll_max: float = _tunable(
        0.25, "Longest polling delay, in seconds, of a worker that cannot block on its queues.", "RQ_DEQUEUE_POLL_MAX"
    )
    horse_overrun_grace: float = _tunable(
        60, "Seconds a work horse may run past its job's timeout before the worker kills it."
    )
    report_poll_interval: float = _tunable(
        1.0, "Seconds between two checks of a work horse that has not reported its outcome yet."
    )
    heartbeat_grace: int = _tunable(
        60,
        "Seconds a worker's record and a running job's started-registry entry outlive the heartbeat that "
        "refreshed them.",
    )
    # ---- the command channel (rq.command_channel) ----
    command_channel_check_interval: float = _tunable(
        10.0,
        "Seconds between self-checks of a worker's command listener (thread alive, channel subscribed).",
        "RQ_COMMAND_CHANNEL_CHECK_INTERVAL",
    )
    listener_sleep_time: float = _tunable(0.2, "Seconds the command listener waits for a message before looping.")
    listener_join_timeout: float = _tunable(
        2.0, "Longest wait, in seconds, for the command listener thread to stop when unsubscribing."
    )
    resubscribe_confirm_delay: float = _tunable(
        1.0, "Seconds the watchdog waits to look again before it makes a listener with no subscription reconnect."
    )
    subscribe_before_register_timeout: float = _tunable(
        2.0,
        "Longest wait, in seconds, for a worker's command channel to be subscribed again before it writes "
        "back the registration Redis lost (so a worker seen in `rq:workers` hears its commands).",
        "RQ_SUBSCRIBE_BEFORE_REGISTER_TIMEOUT",
    )
    listener_backoff_initial: float = _tunable(
        0.5, "First delay, in seconds, between reconnection attempts of the command listener.",
        "RQ_LISTENER_BACKOFF_INITIAL",
    )  # fmt: skip
    listener_backoff_max: float = _tunable(
        15.0, "Longest delay, in seconds, between reconnection attempts of the command listener.",
        "RQ_LISTENER_BACKOFF_MAX",
    )  # fmt: skip
    # ---- the scheduler (rq.scheduler) ----
    scheduler_interval: float = _tunable(
        1.0, "Seconds between two passes of the scheduler (`rq worker --with-scheduler`, `RQScheduler`)."
    )
    scheduler_lock_grace: float = _tunable(
        60, "Seconds a scheduler lock (and the scheduler's hash) outlives the pass that last refreshed it."
    )
    scheduler_stop_timeout: float = _tunable(
        5.0, "Seconds `stop()` waits for a scheduler process to exit after SIGTERM before it sends SIGKILL."
    )
    # ---- health checks (rq.health) ----
    health_check_interval: float = _tunable(
        5.0, "Seconds between two Redis checks of the readiness checker (`/readyz`).", "RQ_HEALTH_CHECK_INTERVAL"
    )
    liveness_window: float = _tunable(
        60.0,
        "The main loop counts as alive (`/livez`) if it showed a sign of life within this many seconds.",
        "RQ_LIVENESS_WINDOW",
    )
    # ---- the worker pool (rq.worker_pool) ----
    pool_shutdown_timeout: float = _tunable(
        60.0,
        "Seconds a pool waits for a warm shutdown of its workers before it asks again (cold shutdown).",
        "RQ_POOL_SHUTDOWN_TIMEOUT",
    )
    pool_kill_timeout: float = _tunable(
        10.0,
        "Seconds a cold shutdown of a pool may take before the remaining workers are killed with SIGKILL.",
        "RQ_POOL_KILL_TIMEOUT",
    )
    pool_parent_check_interval: float = _tunable(
        1.0, "How often a pool's child checks that the pool process is still there.", "RQ_POOL_PARENT_CHECK_INTERVAL"
    )
    pool_orphan_exit_timeout: float = _tunable(
        10.0,
        "Seconds an orphaned child of a pool may take to stop by itself before it is made to exit.",
        "RQ_POOL_ORPHAN_EXIT_TIMEOUT",
    )

    @classmethod
    def describe(cls) -> list[Setting]:
        """Every tunable, in declaration order."""
        return [
            Setting(f.name, f.default, f.metadata["env"], f.metadata["meaning"])  # type: ignore[arg-type]
            for f in dataclasses.fields(cls)
        ]

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> Settings:
        """The defaults, overridden by the environment variables that are set to a number."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in cls.describe():
            if setting.env is None or setting.env not in environ:
                continue
            try:
                value = float(environ[setting.env])
            except ValueError:
                continue
            values[setting.name] = type(setting.default)(value)
        return cls(**values)


def render_markdown() -> str:
    """The docs page ``docs/settings.md``."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `python -m rq.settings > docs/settings.md`; tests/test_settings.py checks it. -->",
        "",
        "rq's process-wide tunables are gathered in `rq.settings.settings` (a frozen `Settings`",
        "object read once from the environment at import). Those with an environment variable",
        "can be changed without code: set the variable (to a number) before the worker starts.",
        "Per-object options, such as `Worker(worker_ttl=...)` or `Queue(default_timeout=...)`,",
        "are arguments of those objects and are described with them.",
        "",
        "| Setting | Default | Environment | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for setting in Settings.describe():
        env = f"`{setting.env}`" if setting.env else "–"
        lines.append(f"| `{setting.name}` | {setting.default:g} | {env} | {setting.meaning} |")
    return "\n".join(lines) + "\n"


settings = Settings.from_env()

if __name__ == "__main__":  # pragma: no cover - used to regenerate the docs page
    sys.stdout.write(render_markdown())
