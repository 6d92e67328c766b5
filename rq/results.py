"""``Result``: one entry per job outcome in the stream ``rq:results:<job id>``."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from redis import Redis
from redis.exceptions import ResponseError

from . import layout
from .defaults import RESULTS_STREAM_MAXLEN, UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from .layout import as_text
from .serializers import resolve_serializer

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .executions import Execution
    from .job import Job

__all__ = ["Result", "ResultTooLarge", "get_key", "max_bulk_length"]

logger = logging.getLogger("rq.worker")

# Redis's default proto-max-bulk-len, the longest argument it accepts: assumed when the
# server's own setting cannot be read (CONFIG is refused to most ACL users).
DEFAULT_MAX_BULK_LENGTH = 512 * 1024 * 1024
# The smallest proto-max-bulk-len Redis allows: return values below it need no look-up.
MIN_MAX_BULK_LENGTH = 1024 * 1024
# Room left in that argument for the other writes of an outcome (they are sent as one).
OUTCOME_WRITE_OVERHEAD = 64 * 1024


if TYPE_CHECKING:
    # A stream entry as XREVRANGE and XREAD return it: (entry id, fields).
    StreamEntry = tuple[Union[bytes, str], dict]


def _entries(reply: object) -> list["StreamEntry"]:
    """The entries of an XREVRANGE or XREAD reply; returns ``reply`` itself.

    redis-py annotates these replies as XCLAIM's, whose entries may be ``(None, None)``
    (deleted entries), and allows no reply at all; these commands answer a list of entries.
    """
    return cast("list[StreamEntry]", reply)


def get_key(job_id: str) -> str:
    """The results stream of a job: ``rq:results:<job id>``."""
    return layout.results_key(job_id)


class ResultTooLarge(ValueError):
    """A return value too large for Redis to accept; nothing was written."""


def max_bulk_length(connection: Redis) -> int:
    """The server's proto-max-bulk-len (read once per client), or Redis's default if CONFIG is refused."""
    cached = getattr(connection, "_rq_max_bulk_length", None)
    if cached is not None:
        return cached
    try:
        reply = connection.config_get("proto-max-bulk-len")
        length = int(as_text(next(iter(reply.values()))) or "")
    except (ResponseError, StopIteration, ValueError, TypeError, AttributeError):
        length = DEFAULT_MAX_BULK_LENGTH
    try:
        connection._rq_max_bulk_length = length  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a client class with __slots__
        pass
    return length


class Result:
    """An outcome of a job: successful (with a return value), failed (with a traceback), ..."""

    class Type(Enum):
        """The ``type`` field of a stream entry."""

        SUCCESSFUL = 1
        FAILED = 2
        STOPPED = 3
        RETRIED = 4
        MAX_RETRIES_EXCEEDED = 5

    def __init__(
        self,
        job_id: str,
        type: "Result.Type",
        connection: Redis,
        id: Optional[str] = None,
        created_at: Optional[datetime] = None,
        return_value: Any = None,
        exc_string: Optional[str] = None,
        worker_name: str = "",
        serializer: Any = None,
        execution_id: Optional[str] = None,
        execution_started_at: Optional[datetime] = None,
        execution_ended_at: Optional[datetime] = None,
    ) -> None:
        self.job_id = job_id
        self.type = type
        self.connection = connection
        self.id = id
        self.created_at = created_at or layout.utcnow()
        self.return_value = return_value
        self.exc_string = exc_string
        self.worker_name = worker_name
        self.serializer = resolve_serializer(serializer)
        self.execution_id = execution_id
        self.execution_started_at = execution_started_at
        self.execution_ended_at = execution_ended_at

    def __repr__(self) -> str:
        return f"Result(id={self.id}, type={self.type.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and self.id == other.id

    def __bool__(self) -> bool:
        return bool(self.id)

    @classmethod
    def get_key(cls, job_id: str) -> str:
        """The results stream of a job: ``rq:results:<job id>``."""
        return layout.results_key(job_id)

    # ---- writing ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        job: "Job",
        type: "Result.Type",
        ttl: Optional[int],
        return_value: Any = None,
        exc_string: Optional[str] = None,
        worker_name: str = "",
        pipeline: Optional["Pipeline"] = None,
        execution_id: Optional[str] = None,
        execution_started_at: Optional[datetime] = None,
        execution_ended_at: Optional[datetime] = None,
        *,
        execution: Optional["Execution"] = None,
    ) -> "Result":
        """Record an outcome of ``job`` (on ``pipeline`` if given); ``ttl`` as in ``save``.

        The run it came from is given either as ``execution`` (its id and start are read
        from it, its end is the job's ``ended_at``) or field by field, as upstream RQ does.
        """
        if execution is not None:
            execution_id = execution_id or execution.id
            execution_started_at = execution_started_at or execution.created_at
            execution_ended_at = execution_ended_at or job.ended_at or layout.utcnow()
        result = cls(
            job.id,
            type,
            connection=job.connection,
            return_value=return_value,
            exc_string=exc_string,
            worker_name=worker_name,
            serializer=job.serializer,
            execution_id=execution_id,
            execution_started_at=execution_started_at,
            execution_ended_at=execution_ended_at,
        )
        result.save(ttl=ttl, pipeline=pipeline)
        return result

    @classmethod
    def create_failure(
        cls,
        job: "Job",
        ttl: Optional[int],
        exc_string: str,
        worker_name: str = "",
        pipeline: Optional["Pipeline"] = None,
        execution_id: Optional[str] = None,
        execution_started_at: Optional[datetime] = None,
        execution_ended_at: Optional[datetime] = None,
        *,
        execution: Optional["Execution"] = None,
    ) -> "Result":
        """Record a failure with its traceback text."""
        return cls.create(
            job,
            cls.Type.FAILED,
            ttl,
            exc_string=exc_string,
            worker_name=worker_name,
            pipeline=pipeline,
            execution_id=execution_id,
            execution_started_at=execution_started_at,
            execution_ended_at=execution_ended_at,
            execution=execution,
        )

    @classmethod
    def create_retried(
        cls,
        job: "Job",
        ttl: Optional[int],
        return_value: Any = None,
        worker_name: str = "",
        execution_id: Optional[str] = None,
        execution_started_at: Optional[datetime] = None,
        execution_ended_at: Optional[datetime] = None,
        pipeline: Optional["Pipeline"] = None,
        *,
        execution: Optional["Execution"] = None,
    ) -> "Result":
        """Record an attempt that will be retried (``return_value``: the ``Retry`` the job returned, if any)."""
        return cls.create(
            job,
            cls.Type.RETRIED,
            ttl,
            return_value=return_value,
            worker_name=worker_name,
            pipeline=pipeline,
            execution_id=execution_id,
            execution_started_at=execution_started_at,
            execution_ended_at=execution_ended_at,
            execution=execution,
        )

    @classmethod
    def create_max_retries_exceeded(
        cls,
        job: "Job",
        ttl: Optional[int],
        return_value: Any = None,
        worker_name: str = "",
        execution_id: Optional[str] = None,
        execution_started_at: Optional[datetime] = None,
        execution_ended_at: Optional[datetime] = None,
        pipeline: Optional["Pipeline"] = None,
        *,
        execution: Optional["Execution"] = None,
    ) -> "Result":
        """Record that a job returning ``Retry`` used up its retries."""
        return cls.create(
            job,
            cls.Type.MAX_RETRIES_EXCEEDED,
            ttl,
            return_value=return_value,
            worker_name=worker_name,
            pipeline=pipeline,
            execution_id=execution_id,
            execution_started_at=execution_started_at,
            execution_ended_at=execution_ended_at,
            execution=execution,
        )

    def serialize(self) -> dict[str, str]:
        """The stream entry fields, encoded as upstream RQ 2.x writes them."""
        fields = {"type": str(self.type.value), "worker_name": self.worker_name or ""}
        if self.return_value is not None:
            try:
                payload = self.serializer.dumps(self.return_value)
            except Exception as exc:
                logger.warning(
                    "Worker %s: the return value of job %s cannot be serialized (%s: %s); storing %r instead",
                    self.worker_name,
                    self.job_id,
                    type(exc).__name__,
                    exc,
                    UNSERIALIZABLE_RETURN_VALUE_PAYLOAD,
                )
                payload = self.serializer.dumps(UNSERIALIZABLE_RETURN_VALUE_PAYLOAD)
            fields["return_value"] = layout.encode_b64(payload)
            self._check_size(len(payload), len(fields["return_value"]))
        if self.exc_string is not None:
            fields["exc_string"] = layout.encode_exc_string(self.exc_string)
        if self.execution_id:
            fields["execution_id"] = self.execution_id
        if self.execution_started_at is not None:
            fields["execution_started_at"] = layout.float_ts(self.execution_started_at.timestamp())
        if self.execution_ended_at is not None:
            fields["execution_ended_at"] = layout.float_ts(self.execution_ended_at.timestamp())
        return fields

    def _check_size(self, size: int, encoded_size: int) -> None:
        """Raise ResultTooLarge for a return value Redis would refuse (it closes the connection instead)."""
        if encoded_size <= MIN_MAX_BULK_LENGTH - OUTCOME_WRITE_OVERHEAD:
            return
        limit = max_bulk_length(self.connection) - OUTCOME_WRITE_OVERHEAD
        if encoded_size > limit:
            raise ResultTooLarge(
                f"The return value of job {self.job_id} is too large to store in Redis: {size} bytes "
                f"({encoded_size} encoded), the server's proto-max-bulk-len allows {limit}"
            )

    def save(self, ttl: Optional[int], pipeline: Optional["Pipeline"] = None) -> Optional[str]:
        """XADD the entry (stream capped near 10 entries); ttl >=0 expires (0: at once), -1 keeps forever.

        Returns the entry id (None when written on a pipeline: it is known once that runs).
        """
        conn = pipeline if pipeline is not None else self.connection
        key = self.get_key(self.job_id)
        entry_id = conn.xadd(key, layout.redis_fields(self.serialize()), maxlen=RESULTS_STREAM_MAXLEN, approximate=True)
        if pipeline is None:
            self.id = as_text(entry_id)
        if ttl is not None:
            if ttl == -1:
                conn.persist(key)
            elif ttl >= 0:  # 0: keep nothing (EXPIRE 0 deletes the stream), as upstream RQ does
                conn.expire(key, ttl)
        return self.id

    # ---- reading ---------------------------------------------------------------

    @classmethod
    def restore(
        cls, job_id: str, result_id: Union[str, bytes], payload: dict, connection: Redis, serializer: Any = None
    ) -> "Result":
        """A result from a stream entry id and its fields."""
        fields = layout.decode_hash(payload)
        serializer = resolve_serializer(serializer)
        result_id = as_text(result_id) or ""
        millis = int(result_id.split("-")[0]) if result_id else 0
        return_value = None
        if fields.get("return_value") is not None:
            return_value = serializer.loads(layout.decode_b64(fields["return_value"]))
        exc_string = layout.decode_exc_string(fields["exc_string"]) if fields.get("exc_string") is not None else None
        return cls(
            job_id,
            cls.Type(int(as_text(fields["type"]) or 0)),
            connection=connection,
            id=result_id,
            created_at=datetime.fromtimestamp(millis / 1000, tz=timezone.utc),
            return_value=return_value,
            exc_string=exc_string,
            worker_name=as_text(fields.get("worker_name")) or "",
            serializer=serializer,
            execution_id=as_text(fields.get("execution_id")),
            execution_started_at=layout.parse_float_ts(fields.get("execution_started_at")),
            execution_ended_at=layout.parse_float_ts(fields.get("execution_ended_at")),
        )

    @classmethod
    def all(cls, job: "Job", serializer: Any = None) -> list["Result"]:
        """Every stored result of the job, newest first."""
        entries = _entries(job.connection.xrevrange(cls.get_key(job.id)))
        return [
            cls.restore(job.id, entry_id, payload, job.connection, serializer or job.serializer)
            for entry_id, payload in entries
        ]

    @classmethod
    def count(cls, job: "Job") -> int:
        """How many results of the job are stored."""
        return job.connection.xlen(cls.get_key(job.id))

    @classmethod
    def delete_all(cls, job: "Job") -> None:
        """Delete every stored result of the job."""
        job.connection.delete(cls.get_key(job.id))

    @classmethod
    def fetch(cls, job: "Job", serializer: Any = None) -> Optional["Result"]:
        """The newest result, or None."""
        return cls.fetch_latest(job, serializer=serializer)

    @classmethod
    def fetch_latest(cls, job: "Job", serializer: Any = None, timeout: int = 0) -> Optional["Result"]:
        """The newest result; with ``timeout`` > 0, wait that many seconds for one to appear."""
        key = cls.get_key(job.id)
        if timeout:
            # One call: all entries at once if there are any (the stream is short), else wait for one.
            reply = job.connection.xread({key: "0-0"}, count=1000, block=int(timeout * 1000))
            if isinstance(reply, dict):  # RESP3: {key: [entries]}
                streams: list[Any] = next(iter(reply.values()), [[]])
                entries = _entries(streams[0])
            else:  # RESP2: [[key, entries]]
                entries = _entries(reply[0][1] if reply else [])
            entries = entries[-1:]
        else:
            entries = _entries(job.connection.xrevrange(key, count=1))
        if not entries:
            return None
        entry_id, payload = entries[0]
        return cls.restore(job.id, entry_id, payload, job.connection, serializer or job.serializer)
