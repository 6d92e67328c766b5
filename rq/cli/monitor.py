"""What ``rq info`` shows: queues with their registries, workers, and how to redraw it.

The default output matches upstream RQ's, with two additions per queue (scheduled and
deferred counts) and, per worker, notes that only appear when something is wrong: a
heartbeat older than the worker TTL, or trouble on its command channel (Pub/Sub).
``rq info --json`` prints the same data as one JSON document (``info_document``); its
keys are documented in docs/cli.md and must stay stable.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import click

from rq.defaults import DEFAULT_WORKER_TTL
from rq.layout import as_text, format_ts
from rq.registry import clean_registries
from rq.resilience import REDIS_ERRORS
from rq.worker_registration import clean_worker_registry

__all__ = [
    "QueueStats",
    "collect_queue_stats",
    "heartbeat_note",
    "info_document",
    "pubsub_note",
    "queue_document",
    "render_info",
    "render_info_json",
    "render_queues",
    "render_workers",
    "watch",
    "worker_document",
]

# A worker whose last heartbeat is older than this many seconds is flagged: a live worker
# heartbeats at least once a minute while idle and every job-monitoring interval while busy.
STALE_HEARTBEAT_AFTER = DEFAULT_WORKER_TTL
# Queue bars are drawn against the smallest of these that fits the longest queue.
BAR_SCALES = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
# Longest bar, in characters.
BAR_WIDTH = 20
# Clears the terminal and moves the cursor home before each redraw in ``--interval`` mode.
CLEAR_SCREEN = "\x1b[2J\x1b[H"

_STATE_COLORS = {"busy": "red", "idle": "green", "suspended": "yellow"}
# Command-channel counters of the worker hash, and how they are named in the output.
_PUBSUB_COUNTERS = (
    ("pubsub_connection_errors", "errors"),
    ("pubsub_recoveries", "recoveries"),
    ("pubsub_bad_messages", "bad messages"),
    ("pubsub_listener_errors", "listener errors"),
    ("pubsub_listener_restarts", "listener restarts"),
    ("pubsub_resubscribes", "resubscribes"),
)


@dataclass
class QueueStats:
    """Job counts of one queue and its registries."""

    name: str
    queued: int
    executing: int
    finished: int
    failed: int
    scheduled: int
    deferred: int
    paused: bool = False
    canceled: int = 0


def collect_queue_stats(queue: Any) -> QueueStats:
    """Counts for ``queue`` (its registries are cleaned first, as upstream RQ does)."""
    clean_registries(queue)
    clean_worker_registry(queue)
    return QueueStats(
        name=queue.name,
        queued=queue.count,
        executing=queue.started_job_registry.get_job_count(cleanup=False),
        finished=queue.finished_job_registry.get_job_count(cleanup=False),
        failed=queue.failed_job_registry.get_job_count(cleanup=False),
        scheduled=queue.scheduled_job_registry.get_job_count(cleanup=False),
        deferred=queue.deferred_job_registry.get_job_count(cleanup=False),
        paused=queue.is_paused,
        canceled=queue.canceled_job_registry.get_job_count(cleanup=False),
    )


def _bar_scale(longest: int) -> int:
    return next((scale for scale in BAR_SCALES if longest <= scale), longest)


def render_queues(stats: Sequence[QueueStats], raw: bool = False) -> list[str]:
    """One line per queue; in normal mode with a bar and a summary line."""
    width = max(1, min(BAR_WIDTH, shutil.get_terminal_size().columns - 20))
    per_job = width / _bar_scale(max((s.queued for s in stats), default=0))
    lines = []
    for s in stats:
        counts = (
            f"{s.queued}, {s.executing} executing, {s.finished} finished, {s.failed} failed, "
            f"{s.scheduled} scheduled, {s.deferred} deferred"
        )
        if s.paused:
            counts += " (paused)"
        if raw:
            lines.append(f"queue {s.name} {counts}")
        else:
            bar = click.style("|" + "█" * int(per_job * s.queued), fg="green")
            lines.append(f"{s.name:<12} {bar} {counts}")
    if not raw:
        lines.append(f"{len(stats)} queues, {sum(s.queued for s in stats)} jobs total")
    return lines


def _state(worker: Any, raw: bool) -> str:
    state = str(worker.get_state())
    color = _STATE_COLORS.get(state)
    return click.style(state, fg=color) if color and not raw else state


def heartbeat_note(worker: Any, now: datetime, stale_after: float = STALE_HEARTBEAT_AFTER) -> Optional[str]:
    """``(no heartbeat for Ns)`` when the worker's last heartbeat is older than ``stale_after``."""
    last = getattr(worker, "last_heartbeat", None)
    if last is None:
        return None
    age = (now - last).total_seconds()
    return f"(no heartbeat for {age:.0f}s)" if age > stale_after else None


def pubsub_note(record: Mapping[str, Any], now: Optional[float] = None) -> Optional[str]:
    """``pubsub: ok, 2 errors, 1 recoveries``, or None while the channel is healthy and has no history."""
    state = as_text(record.get("pubsub_state")) or "ok"
    if state.startswith("reconnecting since "):
        try:
            since = float(state.rsplit(" ", 1)[1])
            state = f"reconnecting for {max(0.0, (now or time.time()) - since):.0f}s"
        except ValueError:
            pass
    parts = [state]
    for field, label in _PUBSUB_COUNTERS:
        try:
            count = int(as_text(record.get(field)) or 0)
        except ValueError:
            continue
        if count:
            parts.append(f"{count} {label}")
    if state == "ok" and len(parts) == 1:
        return None
    return "pubsub: " + ", ".join(parts)


def worker_line(worker: Any, raw: bool = False, now: Optional[datetime] = None) -> str:
    """``name (host ip pid): state q1, q2. jobs: S finished, F failed`` plus any notes."""
    now = now or datetime.now(timezone.utc)
    identity = f"{worker.name} ({worker.hostname} {worker.ip_address} {worker.pid})"
    queues = ", ".join(worker.queue_names())
    jobs = f"jobs: {worker.successful_job_count} finished, {worker.failed_job_count} failed"
    line = (
        f"worker {identity} {_state(worker, raw)} {queues}. {jobs}"
        if raw
        else f"{identity}: {_state(worker, raw)} {queues}. {jobs}"
    )
    heartbeat = heartbeat_note(worker, now)
    if heartbeat:
        line += f" {heartbeat}"
    record = getattr(worker, "raw_record", None) or {}
    connection_state = as_text(record.get("connection_state")) or "ok"
    if connection_state != "ok":
        line += f"; redis: {connection_state}"
    pubsub = pubsub_note(record)
    if pubsub:
        line += f"; {pubsub}"
    return line


def render_workers(
    workers: Sequence[Any], queue_names: Sequence[str], raw: bool = False, by_queue: bool = False
) -> list[str]:
    """Worker lines (or, with ``by_queue``, one line per queue naming its workers) and a summary."""
    lines = []
    if by_queue:
        names = list(queue_names)
        names += sorted({name for w in workers for name in w.queue_names()} - set(names))
        label_width = max((len(name) for name in names), default=0) + 1
        for name in names:
            listening = [w for w in workers if name in w.queue_names()]
            shown = ", ".join(f"{w.name} ({_state(w, raw)})" for w in listening) or "–"
            lines.append(f"{name + ':':<{label_width}} {shown}")
    else:
        now = datetime.now(timezone.utc)
        lines.extend(worker_line(worker, raw, now) for worker in workers)
    if not raw:
        lines.append(f"{len(workers)} workers, {len(queue_names)} queues")
    return lines


def _find_workers(cli_config: Any, queues: Iterable[Any], every_worker: bool) -> list[Any]:
    options = {
        "job_class": cli_config.job_class,
        "queue_class": cli_config.queue_class,
        "serializer": cli_config.serializer,
    }
    if every_worker:
        found = cli_config.worker_class.all(connection=cli_config.connection, **options)
    else:
        by_name = {}
        for queue in queues:
            for worker in cli_config.worker_class.all(queue=queue, **options):
                by_name[worker.name] = worker
        found = list(by_name.values())
    return sorted(found, key=lambda worker: worker.name)


def render_info(
    cli_config: Any,
    queue_names: Sequence[str],
    raw: bool = False,
    only_queues: bool = False,
    only_workers: bool = False,
    by_queue: bool = False,
) -> str:
    """The whole ``rq info`` output for one moment, as text."""
    queues = cli_config.queues(queue_names) if queue_names else cli_config.all_queues()
    stats = [collect_queue_stats(queue) for queue in queues]
    sections = []
    if not only_workers:
        sections.append(render_queues(stats, raw))
    if not only_queues:
        workers = _find_workers(cli_config, queues, every_worker=not queue_names)
        sections.append(render_workers(workers, [q.name for q in queues], raw, by_queue))
    if raw:
        return "\n".join(line for section in sections for line in section)
    sections.append([f"Updated: {datetime.now()}"])
    return "\n\n".join("\n".join(section) for section in sections)


def _count(record: Mapping[str, Any], field: str) -> Optional[int]:
    """An integer field of the worker hash; None when the worker does not record it."""
    text = as_text(record.get(field))
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _text(record: Mapping[str, Any], field: str) -> Optional[str]:
    return as_text(record.get(field)) or None


def _split_since(state: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """``reconnecting since <ts>`` as ``("reconnecting", ts)``; a unix time becomes a text timestamp."""
    if state is None or " since " not in state:
        return state, None
    state, since = state.rsplit(" since ", 1)
    try:
        since = format_ts(datetime.fromtimestamp(float(since), tz=timezone.utc))
    except ValueError:
        pass  # already a text timestamp
    return state, since


def queue_document(stats: QueueStats) -> dict[str, Any]:
    """One queue of ``rq info --json``."""
    return {
        "name": stats.name,
        "depth": stats.queued,
        "paused": stats.paused,
        "registries": {
            "started": stats.executing,
            "finished": stats.finished,
            "failed": stats.failed,
            "deferred": stats.deferred,
            "scheduled": stats.scheduled,
            "canceled": stats.canceled,
        },
    }


def worker_document(worker: Any, now: datetime) -> dict[str, Any]:
    """One worker of ``rq info --json``; telemetry this worker does not record is None."""
    record = getattr(worker, "raw_record", None) or {}
    connection_state, connection_since = _split_since(_text(record, "connection_state"))
    pubsub_state, pubsub_since = _split_since(_text(record, "pubsub_state"))
    return {
        "name": worker.name,
        "state": str(worker.get_state()),
        "current_job_id": _text(record, "current_job"),
        "queues": list(worker.queue_names()),
        "pid": worker.pid,
        "hostname": worker.hostname,
        "ip_address": worker.ip_address,
        "version": worker.version or None,
        "birth": format_ts(worker.birth_date) or None,
        "last_heartbeat": format_ts(worker.last_heartbeat) or None,
        "heartbeat_stale": heartbeat_note(worker, now) is not None,
        "successful_job_count": worker.successful_job_count,
        "failed_job_count": worker.failed_job_count,
        "total_working_time": float(worker.total_working_time),
        "connection": {
            "state": connection_state,
            "since": connection_since,
            "outage_count": _count(record, "outage_count"),
            "last_error": _text(record, "last_error"),
            "last_recovery": _text(record, "last_recovery"),
        },
        "pubsub": {
            "state": pubsub_state,
            "since": pubsub_since,
            **{field[len("pubsub_") :]: _count(record, field) for field, _ in _PUBSUB_COUNTERS},
        },
    }


def info_document(
    cli_config: Any, queue_names: Sequence[str], only_queues: bool = False, only_workers: bool = False
) -> dict[str, Any]:
    """What ``rq info`` shows, as data: ``timestamp``, ``queues`` and ``workers`` (see docs/cli.md)."""
    now = datetime.now(timezone.utc)
    queues = cli_config.queues(queue_names) if queue_names else cli_config.all_queues()
    stats = [collect_queue_stats(queue) for queue in queues]  # cleans the registries, as the table does
    document: dict[str, Any] = {"timestamp": format_ts(now)}
    if not only_workers:
        document["queues"] = [queue_document(s) for s in stats]
    if not only_queues:
        workers = _find_workers(cli_config, queues, every_worker=not queue_names)
        document["workers"] = [worker_document(worker, now) for worker in workers]
    return document


def render_info_json(
    cli_config: Any, queue_names: Sequence[str], only_queues: bool = False, only_workers: bool = False
) -> str:
    """``rq info --json``: one line holding one JSON document."""
    return json.dumps(info_document(cli_config, queue_names, only_queues, only_workers), sort_keys=True)


def watch(
    draw: Callable[[], str],
    interval: float,
    describe_error: Callable[[BaseException], str],
    json_lines: bool = False,
) -> None:
    """Redraw ``draw()`` in place every ``interval`` seconds until interrupted.

    While Redis is unreachable the screen says so and the redraws go on. With
    ``json_lines`` each frame is one line appended to the output (no screen clearing),
    and an unreachable Redis gives a line ``{"error": ..., "timestamp": ...}``.
    """
    while True:
        try:
            frame = draw()
        except REDIS_ERRORS as exc:
            if json_lines:
                timestamp = format_ts(datetime.now(timezone.utc))
                frame = json.dumps({"error": describe_error(exc), "timestamp": timestamp}, sort_keys=True)
            else:
                frame = f"{describe_error(exc)}\nRetrying every {interval:g}s...\n\nUpdated: {datetime.now()}"
        click.echo(frame if json_lines else CLEAR_SCREEN + frame)
        time.sleep(interval)
