"""Commands to workers over Redis Pub/Sub: ``shutdown``, ``kill-horse`` and ``stop-job``.

A command is a JSON object published on the worker's channel ``rq:pubsub:<name>``, e.g.
``{"command": "stop-job", "job_id": "..."}``, the same protocol as upstream RQ.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from .exceptions import InvalidJobOperation
from .layout import as_text, pubsub_channel

if TYPE_CHECKING:
    from .job import Job

__all__ = [
    "PUBSUB_CHANNEL_TEMPLATE",
    "InvalidCommand",
    "parse_payload",
    "send_command",
    "send_kill_horse_command",
    "send_shutdown_command",
    "send_stop_job_command",
]

PUBSUB_CHANNEL_TEMPLATE = pubsub_channel("%s")
KNOWN_COMMANDS = ("shutdown", "kill-horse", "stop-job")


class InvalidCommand(ValueError):
    """A message on a worker's channel that is not a valid command."""


def send_command(connection: Redis, worker_name: str, command: str, **kwargs: Any) -> int:
    """Publish ``command`` to the worker; returns how many subscribers received it."""
    payload = {"command": command, **kwargs}
    return connection.publish(pubsub_channel(worker_name), json.dumps(payload))


def send_shutdown_command(connection: Redis, worker_name: str) -> int:
    """Ask the worker for a warm shutdown (it finishes its current job first)."""
    return send_command(connection, worker_name, "shutdown")


def send_kill_horse_command(connection: Redis, worker_name: str) -> int:
    """Kill the worker's current work horse; its job ends failed."""
    return send_command(connection, worker_name, "kill-horse")


def send_stop_job_command(connection: Redis, job_id: str, serializer: Any = None) -> int:
    """Stop a running job: it ends with status ``stopped`` and its ``on_stopped`` callback runs."""
    from .job import Job

    job: Job = Job.fetch(job_id, connection=connection, serializer=serializer)
    if not job.worker_name:
        raise InvalidJobOperation(f"Job {job_id} is not currently executing")
    return send_command(connection, job.worker_name, "stop-job", job_id=job.id)


def parse_payload(data: Any) -> dict[str, Any]:
    """The command dict of a Pub/Sub message's data; anything malformed raises InvalidCommand."""
    if not isinstance(data, (bytes, str)):
        raise InvalidCommand(f"Command payload must be JSON text, got {type(data).__name__}")
    try:
        text = as_text(data) or ""
    except UnicodeDecodeError as exc:
        raise InvalidCommand(f"Command payload is not UTF-8 text: {data[:200]!r}") from exc
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidCommand(f"Command payload is not valid JSON: {text[:200]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("command"), str):
        raise InvalidCommand(f"Command payload must be an object with a 'command' string: {text[:200]!r}")
    if payload["command"] == "stop-job" and not isinstance(payload.get("job_id"), str):
        raise InvalidCommand(f"stop-job needs a 'job_id' string: {text[:200]!r}")
    return payload


def command_name(payload: dict[str, Any]) -> Optional[str]:
    name = payload.get("command")
    return name if name in KNOWN_COMMANDS else None
