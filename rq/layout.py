"""The Redis data layout shared with upstream RQ 2.x: key names and field codecs.

Every key this package reads or writes is named here, and every value whose encoding
other RQ implementations must agree on goes through one of the codecs below, so the
compatibility contract can be checked in one place.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
import zlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Union, cast, overload

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT


def _key_prefix() -> str:
    """``RQ_KEY_PREFIX`` from the environment (default ``rq``), read once at import, as RQ 3.0 does.

    A hash tag such as ``{rq}`` puts every key in one Redis Cluster hash slot.
    """
    value = os.environ.get("RQ_KEY_PREFIX", "rq")
    if not re.fullmatch(r"[A-Za-z0-9_.:{}-]+", value):
        raise ValueError(f"Invalid RQ_KEY_PREFIX {value!r}: only letters, digits and _ . : - {{ }} are allowed")
    return value


# Every key starts with KEY_PREFIX and a colon: "rq:queue:default" by default.
KEY_PREFIX = _key_prefix()
# KEY_PREFIX for str.format templates (braces doubled).
FORMAT_KEY_PREFIX = KEY_PREFIX.replace("{", "{{").replace("}", "}}")
PREFIX = KEY_PREFIX + ":"

QUEUE_PREFIX = PREFIX + "queue:"
QUEUES_KEY = PREFIX + "queues"
JOB_PREFIX = PREFIX + "job:"
RESULTS_PREFIX = PREFIX + "results:"
WORKER_PREFIX = PREFIX + "worker:"
WORKERS_KEY = PREFIX + "workers"
PUBSUB_PREFIX = PREFIX + "pubsub:"
SUSPENDED_KEY = PREFIX + "suspended"
SCHEDULER_LOCK_PREFIX = PREFIX + "scheduler-lock:"
SCHEDULER_PREFIX = PREFIX + "scheduler:"
GROUP_PREFIX = PREFIX + "group:"
GROUPS_KEY = PREFIX + "groups"
EXECUTION_PREFIX = PREFIX + "execution:"
EXECUTIONS_PREFIX = PREFIX + "executions:"
CLEAN_REGISTRIES_PREFIX = PREFIX + "clean_registries:"
# Cron: running schedulers (zset scored by heartbeat), their hashes, cron job names (zset
# scored by last enqueue) and each cron job's history of spawned job ids.
CRON_SCHEDULERS_KEY = PREFIX + "cron_schedulers"
CRON_SCHEDULER_PREFIX = PREFIX + "cron_scheduler:"
CRON_JOBS_KEY = PREFIX + "cron_jobs"
CRON_JOB_PREFIX = PREFIX + "cron_job:"
# Our own extension: upstream workers do not know this key and simply ignore it.
PAUSED_QUEUE_PREFIX = PREFIX + "paused:"
# Our own extension: a short-lived claim on one expired started-registry member, taken by
# the process that recovers its abandoned job (upstream workers do not take it).
ABANDONED_CLAIM_PREFIX = PREFIX + "abandoned:"

# Registry kind -> key prefix. The started registry is historically called "wip".
REGISTRY_PREFIXES = {
    "started": PREFIX + "wip:",
    "finished": PREFIX + "finished:",
    "failed": PREFIX + "failed:",
    "deferred": PREFIX + "deferred:",
    "scheduled": PREFIX + "scheduled:",
    "canceled": PREFIX + "canceled:",
}

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Text = Union[str, bytes, None]


def queue_key(name: str) -> str:
    return QUEUE_PREFIX + name


def compact_temporary_key(token: str) -> str:
    """Where ``Queue.compact`` moves a queue's list while it rebuilds it."""
    return QUEUE_PREFIX + "_compact:" + token


def intermediate_queue_key(name: str) -> str:
    return intermediate_key_of(queue_key(name))


def intermediate_key_of(queue_key: str) -> str:
    """The intermediate list of the queue whose key (not name) is ``queue_key``."""
    return queue_key + ":intermediate"


def intermediate_first_seen_key(name: str, job_id: str) -> str:
    return first_seen_key_of(intermediate_queue_key(name), job_id)


def first_seen_key_of(intermediate_key: str, job_id: str) -> str:
    """When maintenance first saw ``job_id`` in the intermediate list ``intermediate_key``."""
    return intermediate_key + ":first_seen:" + job_id


def job_key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def dependents_key(job_id: str) -> str:
    return JOB_PREFIX + job_id + ":dependents"


def dependencies_key(job_id: str) -> str:
    # The double colon is part of the upstream layout in every version.
    return JOB_PREFIX + ":" + job_id + ":dependencies"


def results_key(job_id: str) -> str:
    return RESULTS_PREFIX + job_id


def execution_key(job_id: str, execution_id: str) -> str:
    return EXECUTION_PREFIX + job_id + ":" + execution_id


def executions_key(job_id: str) -> str:
    return EXECUTIONS_PREFIX + job_id


def worker_key(name: str) -> str:
    return WORKER_PREFIX + name


def workers_by_queue_key(queue_name: str) -> str:
    return WORKERS_KEY + ":" + queue_name


def pubsub_channel(worker_name: str) -> str:
    return PUBSUB_PREFIX + worker_name


def registry_key(kind: str, queue_name: str) -> str:
    return REGISTRY_PREFIXES[kind] + queue_name


def clean_registries_key(queue_name: str) -> str:
    return CLEAN_REGISTRIES_PREFIX + queue_name


def scheduler_lock_key(queue_name: str) -> str:
    return SCHEDULER_LOCK_PREFIX + queue_name


def scheduler_key(name: str) -> str:
    return SCHEDULER_PREFIX + name


def cron_scheduler_key(name: str) -> str:
    return CRON_SCHEDULER_PREFIX + name


def cron_job_history_key(name: str) -> str:
    """Zset of the ids of the jobs a cron job spawned, scored by their enqueue time."""
    return CRON_JOB_PREFIX + name + ":jobs"


def group_key(group_id: str) -> str:
    return GROUP_PREFIX + group_id


def paused_queue_key(queue_name: str) -> str:
    return PAUSED_QUEUE_PREFIX + queue_name


def abandoned_claim_key(member: str) -> str:
    """Claim on the started-registry member ``<job id>:<execution id>`` being recovered."""
    return ABANDONED_CLAIM_PREFIX + member


def composite_member(job_id: str, execution_id: str) -> str:
    """Started-registry member: ``<job id>:<execution id>``."""
    return job_id + ":" + execution_id


def split_composite_member(member: Text) -> tuple[str, str]:
    """Split a started-registry member; bare ids (written by RQ 1.x) get an empty execution id."""
    text = as_text(member) or ""
    job_id, _, execution_id = text.partition(":")
    return job_id, execution_id


# ---- value codecs ----------------------------------------------------------


@overload
def as_text(value: Union[str, bytes]) -> str: ...


@overload
def as_text(value: Text) -> Optional[str]: ...


def as_text(value: Text) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_ts(value: Optional[datetime]) -> str:
    """Text timestamp: UTC, six fractional digits, literal ``Z``; ``""`` for none."""
    if value is None:
        return ""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(timezone.utc)
    # Same text as strftime(TIMESTAMP_FORMAT), several times faster (it runs a few times per job).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def parse_ts(value: Text) -> Optional[datetime]:
    """Read a text timestamp as an aware UTC datetime; empty means none."""
    text = as_text(value)
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1]
    # fromisoformat (C code) reads "YYYY-MM-DDTHH:MM:SS[.ffffff]" and ISO text with an offset.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.strptime(text, TIMESTAMP_FORMAT[:-1])  # other fraction lengths (Python < 3.11)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def to_unix(value: datetime) -> float:
    """Unix seconds of a datetime; naive values are taken as local time (as upstream does)."""
    return value.timestamp()


def score_of(value: Union[datetime, float, int, None] = None) -> int:
    """Registry score: integer Unix seconds, fraction truncated; ``None`` means now."""
    if value is None:
        return int(time.time())
    if isinstance(value, datetime):
        return int(to_unix(value))
    return int(value)


def ttl_score(ttl: int, now: Optional[int] = None) -> Union[int, str]:
    """Score for a registry entry that lives ``ttl`` seconds; ``-1`` means forever."""
    if ttl == -1:
        return "+inf"
    return (now if now is not None else score_of()) + ttl


def float_ts(value: Optional[float] = None) -> str:
    """Float Unix timestamp text used by execution hashes and result fields."""
    return repr(time.time() if value is None else float(value))


def parse_float_ts(value: Text) -> Optional[datetime]:
    text = as_text(value)
    if not text:
        return None
    return datetime.fromtimestamp(float(text), tz=timezone.utc)


def encode_int(value: Optional[int]) -> Optional[str]:
    return None if value is None else str(int(value))


def decode_int(value: Text) -> Optional[int]:
    text = as_text(value)
    if text is None or text == "":
        return None
    return int(text)


def encode_bool(value: bool) -> str:
    return "1" if value else "0"


def decode_bool(value: Text) -> bool:
    text = as_text(value)
    return bool(text) and text not in ("0", "False", "false")


def encode_json(value: Any) -> str:
    return json.dumps(value)


def decode_json(value: Text) -> Any:
    text = as_text(value)
    return None if not text else json.loads(text)


def compress(payload: bytes) -> bytes:
    return zlib.compress(payload)


def decompress(payload: bytes) -> bytes:
    """Inflate a zlib payload, accepting uncompressed payloads as they are."""
    try:
        return zlib.decompress(payload)
    except zlib.error:
        return payload


def encode_exc_string(text: Optional[str]) -> str:
    """Result-stream encoding of a traceback: base64 of zlib of UTF-8 text."""
    return base64.b64encode(zlib.compress((text or "").encode("utf-8"))).decode("ascii")


def decode_exc_string(value: Text) -> Optional[str]:
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else value.encode("ascii")
    return decompress(base64.b64decode(raw)).decode("utf-8", errors="replace")


def encode_legacy_exc_info(text: Optional[str]) -> bytes:
    """Job-hash ``exc_info`` encoding: zlib of UTF-8 text."""
    return zlib.compress((text or "").encode("utf-8"))


def decode_legacy_exc_info(value: Optional[bytes]) -> Optional[str]:
    if value is None:
        return None
    return decompress(value).decode("utf-8", errors="replace")


def encode_b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def decode_b64(value: Text) -> bytes:
    raw = value if isinstance(value, bytes) else (value or "").encode("ascii")
    return base64.b64decode(raw)


def decode_hash(raw: dict) -> dict[str, bytes]:
    """Hash as returned by HGETALL with text keys and raw values."""
    return {as_text(k): v for k, v in raw.items()}


# ---- typing of redis-py replies and arguments ------------------------------------


def redis_fields(fields: dict[str, Any]) -> Dict[FieldT, EncodableT]:
    """``fields`` typed as redis-py's ``hset(mapping=...)`` and ``xadd(fields)`` take them.

    Their annotation's key type is a union, and ``Mapping``/``dict`` are invariant in the
    key, so the ``dict[str, ...]`` they are meant to take does not match it. Returns
    ``fields`` itself.
    """
    return cast("Dict[FieldT, EncodableT]", fields)


def zset_members(reply: Iterable[Any]) -> list[Union[str, bytes]]:
    """The reply of ZRANGE/ZRANGEBYSCORE without scores: a list of members.

    redis-py annotates these replies as members or (member, score) pairs, whichever
    ``withscores`` asked for. Returns ``reply`` itself.
    """
    return cast("list[Union[str, bytes]]", reply)


def is_finite_score(score: float) -> bool:
    return not math.isinf(score)


def chunked(items: Iterable[Any], size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
