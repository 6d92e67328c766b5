"""Raw Redis snapshots, normalised so two implementations' writes can be compared.

A snapshot maps every key to its type, TTL and decoded content. Random names (worker
names, execution ids, stream entry ids) and wall-clock values are replaced by stable
placeholders or reduced to their format, so the snapshot of an upstream run and of ours
differ only where the data layout really differs.
"""

from __future__ import annotations

import base64
import pickle
import re
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

# Seconds two relative values (TTLs, score offsets) may differ and still count as equal;
# both runs are seconds apart and the values are whole seconds.
TOLERANCE = 5
TEXT_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
FLOAT_TS_RE = re.compile(r"^\d{10}(\.\d+)?$")
HEX32_RE = re.compile(r"[0-9a-f]{32}")

# Job-hash fields holding text timestamps ("" when unset).
JOB_TS_FIELDS = ("created_at", "enqueued_at", "started_at", "ended_at", "last_heartbeat")
# Job-hash fields compared by their exact text.
JOB_TEXT_FIELDS = (
    "status",
    "origin",
    "description",
    "timeout",
    "result_ttl",
    "failure_ttl",
    "ttl",
    "retries_left",
    "retry_intervals",
    "dependency_ids",
    "dependency_id",
    "allow_dependency_failures",
    "enqueue_at_front",
    "worker_name",
    "group_id",
    "success_callback_name",
    "failure_callback_name",
    "stopped_callback_name",
    "number_of_retries",
)
WORKER_TS_FIELDS = ("birth", "last_heartbeat", "death", "shutdown_requested_date")
WORKER_DURATION_FIELDS = ("total_working_time", "current_job_working_time")
WORKER_TEXT_FIELDS = ("queues", "state", "current_job", "successful_job_count", "failed_job_count")


@dataclass
class Entry:
    type: str
    ttl: int
    value: Any


@dataclass
class Snapshot:
    taken_at: float
    entries: dict[str, Entry] = field(default_factory=dict)

    def keys(self) -> set[str]:
        return set(self.entries)


def take(connection: redis.Redis, names: Iterable[str] = ()) -> Snapshot:
    """Snapshot every key; ``names`` (worker names) are replaced by ``<worker>``."""
    taken_at = time.time()
    names = [n for n in names if n]
    snap = Snapshot(taken_at)
    for raw_key in connection.keys("*"):
        key = raw_key.decode()
        kind = connection.type(key).decode()
        ttl = connection.ttl(key)
        if kind == "none":  # expired between KEYS and TYPE
            continue
        snap.entries[normalize(key, names)] = Entry(kind, ttl, _read(connection, key, kind, names, taken_at))
    return snap


def normalize(text: str, names: Iterable[str]) -> str:
    for name in names:
        text = text.replace(name, "<worker>")
    return HEX32_RE.sub("<x>", text)


def _read(connection: redis.Redis, key: str, kind: str, names: list[str], now: float) -> Any:
    if kind == "hash":
        return {k.decode(): v for k, v in connection.hgetall(key).items()}
    if kind == "zset":
        return {normalize(m.decode(), names): _score(s, now) for m, s in connection.zrange(key, 0, -1, withscores=True)}
    if kind == "list":
        return [normalize(v.decode(), names) for v in connection.lrange(key, 0, -1)]
    if kind == "set":
        return sorted(normalize(v.decode(), names) for v in connection.smembers(key))
    if kind == "stream":
        return [{k.decode(): v for k, v in fields.items()} for _, fields in connection.xrange(key)]
    return connection.get(key)


def _score(score: float, now: float) -> Any:
    """A registry score as something comparable across runs: ``inf``, or offset from now."""
    if score == float("inf"):
        return "+inf"
    if score < 0:
        return ("negative", score)
    return ("offset", round(score - now), score == int(score))


def text_ts_format(value: bytes | None) -> str:
    if value is None:
        return "<absent>"
    text = value.decode()
    if text == "":
        return "<empty>"
    return "<text ts>" if TEXT_TS_RE.match(text) else f"<bad ts {text!r}>"


def decode_pickle(value: bytes, compressed: bool = False) -> Any:
    if compressed:
        value = zlib.decompress(value)
    return pickle.loads(value)


def describe_job_hash(raw: dict[str, bytes], names: list[str]) -> dict[str, Any]:
    """Decoded job hash: exact values where both sides must agree, formats where they vary."""
    out: dict[str, Any] = {"<fields>": sorted(raw)}
    for name in JOB_TEXT_FIELDS:
        if name in raw:
            out[name] = normalize(raw[name].decode(), names)
    for name in JOB_TS_FIELDS:
        out[name] = text_ts_format(raw.get(name))
    if "data" in raw:
        out["data"] = decode_pickle(raw["data"], compressed=True)
    if "meta" in raw:
        out["meta"] = decode_pickle(raw["meta"])
    return out


def describe_worker_hash(raw: dict[str, bytes], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"<fields>": sorted(raw)}
    for name in WORKER_TEXT_FIELDS:
        if name in raw:
            out[name] = normalize(raw[name].decode(), names)
    for name in WORKER_TS_FIELDS:
        if name in raw:
            out[name] = text_ts_format(raw[name])
    for name in WORKER_DURATION_FIELDS:
        if name in raw:
            out[name] = "<seconds>" if float(raw[name]) >= 0 else f"<negative {raw[name].decode()}>"
    return out


def describe_execution_hash(raw: dict[str, bytes], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"<fields>": sorted(raw)}
    for name, value in raw.items():
        text = normalize(value.decode(), names)
        out[name] = "<float ts>" if FLOAT_TS_RE.match(text) else text
    return out


def describe_stream(entries: list[dict[bytes, bytes] | dict[str, bytes]], names: list[str]) -> list[dict[str, Any]]:
    described = []
    for fields in entries:
        out: dict[str, Any] = {"<fields>": sorted(fields)}
        for name, value in fields.items():
            if name == "return_value":
                out[name] = _normalize_value(pickle.loads(base64.b64decode(value)), names)
            elif name == "exc_string":
                lines = zlib.decompress(base64.b64decode(value)).decode().strip().splitlines()
                out[name] = lines[-1] if lines else ""
            elif name in ("execution_started_at", "execution_ended_at"):
                out[name] = "<float ts>" if FLOAT_TS_RE.match(value.decode()) else value.decode()
            else:
                out[name] = normalize(value.decode(), names)
        described.append(out)
    return described


def _normalize_value(value: Any, names: list[str]) -> Any:
    if isinstance(value, str):
        return normalize(value, names)
    if isinstance(value, dict):
        return {k: _normalize_value(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_normalize_value(v, names) for v in value)
    return value


def describe(snapshot: Snapshot, names: list[str]) -> dict[str, tuple[str, Any, Any]]:
    """``key -> (type, ttl, content)`` with every value decoded or reduced to its format."""
    out = {}
    for key, entry in snapshot.entries.items():
        value = entry.value
        if entry.type == "hash" and key.startswith("rq:job:"):
            value = describe_job_hash(value, names)
        elif entry.type == "hash" and key.startswith("rq:worker:"):
            value = describe_worker_hash(value, names)
        elif entry.type == "hash" and key.startswith("rq:execution:"):
            value = describe_execution_hash(value, names)
        elif entry.type == "stream":
            value = describe_stream(value, names)
        out[key] = (entry.type, entry.ttl, value)
    return out


def _ttl_equal(a: int, b: int) -> bool:
    if a < 0 or b < 0:
        return a == b
    return abs(a - b) <= TOLERANCE


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) == 3 and a[0] == b[0] == "offset":
        return abs(a[1] - b[1]) <= TOLERANCE and a[2] == b[2]
    return a == b


def compare(
    upstream: dict[str, tuple[str, Any, Any]],
    ours: dict[str, tuple[str, Any, Any]],
    allowed_extra_fields: dict[str, set[str]] | None = None,
) -> list[str]:
    """Every difference between two described snapshots, as readable lines.

    Our hashes may carry extra fields listed in ``allowed_extra_fields`` (key prefix ->
    field names): upstream readers ignore unknown fields. Anything else counts.
    """
    allowed_extra_fields = allowed_extra_fields or {}
    problems = []
    for key in sorted(upstream.keys() - ours.keys()):
        problems.append(f"{key}: written by upstream, missing in ours")
    for key in sorted(ours.keys() - upstream.keys()):
        problems.append(f"{key}: written by ours only ({ours[key][0]}, ttl {ours[key][1]})")
    for key in sorted(upstream.keys() & ours.keys()):
        (u_type, u_ttl, u_val), (o_type, o_ttl, o_val) = upstream[key], ours[key]
        if u_type != o_type:
            problems.append(f"{key}: type upstream={u_type} ours={o_type}")
            continue
        if not _ttl_equal(u_ttl, o_ttl):
            problems.append(f"{key}: TTL upstream={u_ttl} ours={o_ttl}")
        problems.extend(_compare_values(key, u_val, o_val, allowed_extra_fields))
    return problems


def _allowed_extras(key: str, allowed: dict[str, set[str]]) -> set[str]:
    return set().union(*(names for prefix, names in allowed.items() if key.startswith(prefix)))


def _compare_values(key: str, u_val: Any, o_val: Any, allowed: dict[str, set[str]]) -> list[str]:
    if isinstance(u_val, dict) and "<fields>" in u_val and isinstance(o_val, dict):
        return _compare_described(key, u_val, o_val, allowed)
    if isinstance(u_val, list) and u_val and isinstance(u_val[0], dict) and isinstance(o_val, list):
        if len(u_val) != len(o_val):
            return [
                f"{key}: {len(u_val)} entries upstream, {len(o_val)} in ours; "
                f"upstream types {[e.get('type') for e in u_val]}, ours {[e.get('type') for e in o_val]}"
            ]
        problems = []
        for index, (u_entry, o_entry) in enumerate(zip(u_val, o_val)):
            problems.extend(_compare_described(f"{key}[{index}]", u_entry, o_entry, allowed))
        return problems
    if not _values_equal(u_val, o_val):
        return [f"{key}: upstream={u_val!r} ours={o_val!r}"]
    return []


def _compare_described(key: str, u_val: dict, o_val: dict, allowed: dict[str, set[str]]) -> list[str]:
    problems = []
    u_fields, o_fields = set(u_val["<fields>"]), set(o_val.get("<fields>", ()))
    if u_fields - o_fields:
        problems.append(f"{key}: fields missing in ours: {sorted(u_fields - o_fields)}")
    extra = o_fields - u_fields - _allowed_extras(key, allowed)
    if extra:
        problems.append(f"{key}: extra fields in ours: {sorted(extra)}")
    for name in sorted(u_val.keys() & o_val.keys() - {"<fields>"}):
        if not _values_equal(u_val[name], o_val[name]):
            problems.append(f"{key}.{name}: upstream={u_val[name]!r} ours={o_val[name]!r}")
    for name in sorted(u_val.keys() - o_val.keys() - {"<fields>"}):
        if name in u_fields - o_fields:
            continue
        problems.append(f"{key}.{name}: upstream={u_val[name]!r} ours=<absent>")
    return problems
