"""The job hash ``rq:job:<id>``: which fields are written, and how they are read back.

The encodings follow upstream RQ 2.x (see ``rq.layout`` for the shared codecs): fields that
upstream always writes are written as ``""`` when empty, optional ones only when set, and
integer fields only with integers, so either implementation can read what the other wrote.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import layout
from .exceptions import DeserializationError, NoSuchJobError
from .job_validation import MAX_TTL
from .layout import as_text, format_ts, parse_ts, utcnow
from .status import JobStatus

if TYPE_CHECKING:
    from .job import Job

__all__ = ["decode_job", "encode_job", "encode_meta", "load_meta"]

logger = logging.getLogger("rq.job")


def encode_job(job: "Job", include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
    """The job hash fields, encoded as upstream RQ 2.x writes them."""
    fields: dict[str, Any] = {
        "created_at": format_ts(job.created_at),
        "data": layout.compress(job.data),
        "started_at": format_ts(job.started_at),
        "ended_at": format_ts(job.ended_at),
        "last_heartbeat": format_ts(job.last_heartbeat),
        "worker_name": job.worker_name or "",
        "group_id": job.group_id or "",
        "success_callback_name": job._success_callback_name or "",
        "failure_callback_name": job._failure_callback_name or "",
        "stopped_callback_name": job._stopped_callback_name or "",
    }
    optional: dict[str, Any] = {
        "status": job._status,
        "origin": job.origin or None,
        "description": job.description,
        "enqueued_at": format_ts(job.enqueued_at) or None,
        "timeout": layout.encode_int(job.timeout),
        "result_ttl": layout.encode_int(job.result_ttl),
        "failure_ttl": layout.encode_int(job.failure_ttl),
        "ttl": layout.encode_int(job.ttl) if job.ttl else None,
        "success_callback_timeout": layout.encode_int(job._success_callback_timeout),
        "failure_callback_timeout": layout.encode_int(job._failure_callback_timeout),
        "stopped_callback_timeout": layout.encode_int(job._stopped_callback_timeout),
        "retries_left": layout.encode_int(job.retries_left),
        "retry_intervals": None if job.retry_intervals is None else layout.encode_json(job.retry_intervals),
        "enqueue_at_front_on_retry": "1" if job.enqueue_at_front_on_retry else None,
        "number_of_retries": layout.encode_int(job.number_of_retries),
        "repeats_left": layout.encode_int(job.repeats_left),
        "repeat_intervals": None if job.repeat_intervals is None else layout.encode_json(job.repeat_intervals),
        "max_redeliveries": layout.encode_int(job.max_redeliveries),
        "redeliveries": layout.encode_int(job.redeliveries) if job.redeliveries else None,
    }
    fields.update((name, value) for name, value in optional.items() if value is not None)
    if job._dependency_ids:
        fields["dependency_ids"] = layout.encode_json(job._dependency_ids)
        fields["dependency_id"] = job._dependency_ids[0]
    if job.allow_dependency_failures is not None:
        fields["allow_dependency_failures"] = layout.encode_bool(job.allow_dependency_failures)
    if job.enqueue_at_front is not None:
        fields["enqueue_at_front"] = layout.encode_bool(job.enqueue_at_front)
    if job.webhooks:
        fields["webhooks"] = layout.encode_json([_webhook_dict(hook) for hook in job.webhooks])
    if include_meta and job.meta:
        fields["meta"] = encode_meta(job)
    if job._exc_info is not None:
        fields["exc_info"] = layout.encode_legacy_exc_info(job._exc_info)
    if include_result and job._result is not None:
        try:
            fields["result"] = job.serializer.dumps(job._result)
        except Exception:  # as upstream RQ: a value the serializer refuses must not stop the save
            fields["result"] = "Unserializable return value"
    return fields


def decode_job(job: "Job", raw: dict) -> None:
    """Load this job's fields from an HGETALL reply.

    Raises NoSuchJobError when there is no ``data`` field, and DeserializationError naming
    the field for any field that does not decode (bad UTF-8, JSON, timestamp or number, a
    time limit above ``MAX_TTL``, dependencies or webhooks of the wrong shape).
    """
    fields = layout.decode_hash(raw)
    if "data" not in fields:
        raise NoSuchJobError(f"Unexpected job format (no data field) in {job.key}")
    job.data = layout.decompress(fields["data"])
    read = _FieldReader(job, fields)

    def text(name: str) -> Optional[str]:
        return read(name, as_text) or None

    def integer(name: str) -> Optional[int]:
        return read(name, _integer)

    def seconds(name: str) -> Optional[int]:
        return read(name, _seconds)

    def timestamp(name: str) -> Any:
        return read(name, parse_ts)

    job.created_at = timestamp("created_at") or utcnow()
    job.origin = text("origin") or ""
    job.description = text("description")
    job.enqueued_at = timestamp("enqueued_at")
    job.started_at = timestamp("started_at")
    job.ended_at = timestamp("ended_at")
    job.last_heartbeat = timestamp("last_heartbeat")
    job._status = text("status") or JobStatus.CREATED.value
    job.worker_name = text("worker_name")
    job.group_id = text("group_id")
    job.timeout = seconds("timeout")
    job.result_ttl = seconds("result_ttl")
    job.failure_ttl = seconds("failure_ttl")
    job.ttl = seconds("ttl")
    job.retries_left = integer("retries_left")
    job.retry_intervals = read("retry_intervals", layout.decode_json)
    job.number_of_retries = integer("number_of_retries")
    job.enqueue_at_front_on_retry = read("enqueue_at_front_on_retry", layout.decode_bool) or None
    job.max_redeliveries = integer("max_redeliveries")
    job.redeliveries = integer("redeliveries") or 0
    job.repeats_left = integer("repeats_left")
    job.repeat_intervals = read("repeat_intervals", layout.decode_json)
    job._forget_callbacks()
    for kind in ("success", "failure", "stopped"):
        setattr(job, f"_{kind}_callback_name", text(f"{kind}_callback_name"))
        setattr(job, f"_{kind}_callback_timeout", seconds(f"{kind}_callback_timeout"))
    dependency_ids = read("dependency_ids", _dependency_ids)
    if dependency_ids is None and text("dependency_id"):
        dependency_ids = [text("dependency_id")]
    job._dependency_ids = dependency_ids or []
    job.allow_dependency_failures = read("allow_dependency_failures", layout.decode_bool)
    job.enqueue_at_front = read("enqueue_at_front", layout.decode_bool)
    try:
        job.webhooks = read("webhooks", _webhooks) or []
    except DeserializationError:  # as upstream RQ: an unreadable list means no webhooks, not an unreadable job
        logger.warning("Job %s: unreadable webhooks field ignored", job.id, exc_info=True)
        job.webhooks = []
    job.meta = load_meta(job, fields.get("meta"))
    job._result = read("result", lambda value: _load_legacy_result(job, value))
    job._exc_info = read("exc_info", layout.decode_legacy_exc_info) or None


class _FieldReader:
    """``read(name, decode)``: ``decode(value)`` of a hash field, None when the field is absent."""

    def __init__(self, job: "Job", fields: dict[str, bytes]) -> None:
        self.job = job
        self.fields = fields

    def __call__(self, name: str, decode: Callable[[Any], Any]) -> Any:
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            return decode(value)
        except Exception as exc:  # every codec's own error becomes one that names the field
            shown = value[:60] if isinstance(value, (bytes, str)) else value
            raise DeserializationError(
                f"Job {self.job.id}: field {name!r} holds {shown!r}, which cannot be read ({type(exc).__name__}: {exc})"
            ) from exc


def _integer(value: Any) -> Optional[int]:
    text = as_text(value)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return int(float(text))  # "10.0" and "1e3" as other writers may store them


def _seconds(value: Any) -> Optional[int]:
    """A timeout or TTL: an integer of at most MAX_TTL seconds (a worker could not apply more)."""
    number = _integer(value)
    if number is not None and number > MAX_TTL:
        raise ValueError(f"more than MAX_TTL ({MAX_TTL}) seconds")
    return number


def _dependency_ids(value: Any) -> Optional[list[str]]:
    ids = layout.decode_json(value)
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise ValueError("expected a JSON list of job ids")
    return ids


def _webhooks(value: Any) -> list:
    items = layout.decode_json(value) or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("expected a JSON list of webhook objects")
    return _restore_webhooks(items)


def load_meta(job: "Job", raw: Union[bytes, str, None]) -> dict:
    """The meta dict; ``{"unserialized": raw}`` when this process cannot load it (kept for ``encode_meta``)."""
    job._unreadable_meta = None
    if not raw:
        return {}
    try:
        return job.serializer.loads(raw)
    except Exception:
        job._unreadable_meta = raw if isinstance(raw, bytes) else raw.encode()
        return {"unserialized": raw}


def encode_meta(job: "Job") -> Any:
    """The ``meta`` field: meta this process could not load is written back as it was until it changes."""
    raw = getattr(job, "_unreadable_meta", None)
    if raw is not None and job.meta == {"unserialized": raw}:
        return raw
    return job.serializer.dumps(job.meta)


def _load_legacy_result(job: "Job", raw: Optional[bytes]) -> Any:
    if raw is None:
        return None
    try:
        return job.serializer.loads(raw)
    except Exception:
        return as_text(raw)


def _webhook_dict(hook: Any) -> dict:
    return hook.to_dict() if hasattr(hook, "to_dict") else dict(hook)


def _restore_webhooks(items: list) -> list:
    try:
        from .webhook import Webhook
    except ImportError:  # pragma: no cover - webhook support is optional
        return items
    return [Webhook.from_dict(item) for item in items]
