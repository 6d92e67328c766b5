"""The job hash ``rq:job:<id>``: which fields are written, and how they are read back.

The encodings follow upstream RQ 2.x (see ``rq.layout`` for the shared codecs): fields that
upstream always writes are written as ``""`` when empty, optional ones only when set, and
integer fields only with integers, so either implementation can read what the other wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import layout
from .exceptions import NoSuchJobError
from .layout import as_text, format_ts, parse_ts, utcnow
from .status import JobStatus

if TYPE_CHECKING:
    from .job import Job

__all__ = ["decode_job", "encode_job", "load_meta"]


def encode_job(job: "Job", include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
    """The job hash fields, encoded as upstream RQ 2.x writes them."""
    fields: dict[str, Any] = {
        "created_at": format_ts(job.created_at),
        "data": job.data,
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
        fields["meta"] = job.serializer.dumps(job.meta)
    if job._legacy_exc_info is not None:
        fields["exc_info"] = layout.encode_legacy_exc_info(job._legacy_exc_info)
    if include_result and job._legacy_result is not None:
        fields["result"] = job.serializer.dumps(job._legacy_result)
    return fields


def decode_job(job: "Job", raw: dict) -> None:
    """Load this job's fields from an HGETALL reply."""
    fields = layout.decode_hash(raw)
    if "data" not in fields:
        raise NoSuchJobError(f"Unexpected job format (no data field) in {job.key}")
    job.data = fields["data"]

    def text(name: str) -> Optional[str]:
        return as_text(fields.get(name)) or None

    def integer(name: str) -> Optional[int]:
        value = text(name)
        return None if value is None else int(float(value))

    job.created_at = parse_ts(fields.get("created_at")) or utcnow()
    job.origin = text("origin") or ""
    job.description = text("description")
    job.enqueued_at = parse_ts(fields.get("enqueued_at"))
    job.started_at = parse_ts(fields.get("started_at"))
    job.ended_at = parse_ts(fields.get("ended_at"))
    job.last_heartbeat = parse_ts(fields.get("last_heartbeat"))
    job._status = text("status") or JobStatus.CREATED.value
    job.worker_name = text("worker_name")
    job.group_id = text("group_id")
    job.timeout = integer("timeout")
    job.result_ttl = integer("result_ttl")
    job.failure_ttl = integer("failure_ttl")
    job.ttl = integer("ttl")
    job.retries_left = integer("retries_left")
    job.retry_intervals = layout.decode_json(fields.get("retry_intervals"))
    job.number_of_retries = integer("number_of_retries")
    job.enqueue_at_front_on_retry = layout.decode_bool(fields.get("enqueue_at_front_on_retry")) or None
    job.max_redeliveries = integer("max_redeliveries")
    job.redeliveries = integer("redeliveries") or 0
    job.repeats_left = integer("repeats_left")
    job.repeat_intervals = layout.decode_json(fields.get("repeat_intervals"))
    for kind in ("success", "failure", "stopped"):
        setattr(job, f"_{kind}_callback_name", text(f"{kind}_callback_name"))
        setattr(job, f"_{kind}_callback_timeout", integer(f"{kind}_callback_timeout"))
    dependency_ids = layout.decode_json(fields.get("dependency_ids"))
    if dependency_ids is None and text("dependency_id"):
        dependency_ids = [text("dependency_id")]
    job._dependency_ids = [as_text(dep) for dep in dependency_ids or []]  # type: ignore[misc]
    job.allow_dependency_failures = (
        layout.decode_bool(fields["allow_dependency_failures"]) if "allow_dependency_failures" in fields else None
    )
    job.enqueue_at_front = layout.decode_bool(fields["enqueue_at_front"]) if "enqueue_at_front" in fields else None
    job.webhooks = _restore_webhooks(layout.decode_json(fields.get("webhooks")) or [])
    job.meta = load_meta(job, fields.get("meta"))
    job._legacy_result = _load_legacy_result(job, fields.get("result"))
    job._legacy_exc_info = layout.decode_legacy_exc_info(fields.get("exc_info")) or None


def load_meta(job: "Job", raw: Optional[bytes]) -> dict:
    if not raw:
        return {}
    try:
        return job.serializer.loads(raw)
    except Exception:
        return {"unserialized": raw}


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
