"""Commands to workers over Redis Pub/Sub: ``shutdown``, ``kill-horse``, ``stop-job`` and ``stop-execution``.

A command is a JSON object published on the worker's channel ``rq:pubsub:<name>``, e.g.
``{"command": "stop-job", "job_id": "..."}``, the same protocol as upstream RQ.

Pub/Sub keeps nothing for a worker that is not listening, so every sender returns how
many workers received the command (PUBLISH's count; upstream returns None) and logs a
warning when none did: the command is lost, and the caller should know.
"""

from __future__ import annotations

import json
import logging
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
    "send_stop_execution_command",
    "send_stop_job_command",
]

PUBSUB_CHANNEL_TEMPLATE = pubsub_channel("%s")
KNOWN_COMMANDS = ("shutdown", "kill-horse", "stop-job", "stop-execution")

logger = logging.getLogger("rq.command")


class InvalidCommand(ValueError):
    """A message on a worker's channel that is not a valid command."""


def send_command(connection: Redis, worker_name: str, command: str, **kwargs: Any) -> int:
    """Publish ``command`` to the worker; returns how many subscribers received it (0: nobody, logged)."""
    payload = {"command": command, **kwargs}
    received = connection.publish(pubsub_channel(worker_name), json.dumps(payload))
    try:
        count = int(received)
    except (TypeError, ValueError):
        return received  # a client double that does not count
    if count == 0:
        logger.warning(
            "Command %s to worker %s reached no one: no worker listens on %s (not running, or reconnecting)",
            command,
            worker_name,
            pubsub_channel(worker_name),
        )
    return count


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


def send_stop_execution_command(connection: Redis, job_id: str, execution_id: str) -> int:
    """Stop one execution of a job (as RQ 3 does): a worker running another execution ignores it."""
    from .executions import Execution

    try:
        execution = Execution.fetch(id=execution_id, job_id=job_id, connection=connection)
    except ValueError:
        raise InvalidJobOperation(f"Execution {execution_id} of job {job_id} is not running") from None
    return send_command(connection, execution.worker_name, "stop-execution", job_id=job_id, execution_id=execution_id)


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
    if payload["command"] == "stop-execution" and not (
        isinstance(payload.get("job_id"), str) and isinstance(payload.get("execution_id"), str)
    ):
        raise InvalidCommand(f"stop-execution needs 'job_id' and 'execution_id' strings: {text[:200]!r}")
    return payload


def command_name(payload: dict[str, Any]) -> Optional[str]:
    name = payload.get("command")
    return name if name in KNOWN_COMMANDS else None
