"""``Result``: one entry per job outcome in the stream ``rq:results:<job id>``."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from . import layout
from .defaults import RESULTS_STREAM_MAXLEN, UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from .layout import as_text
from .serializers import resolve_serializer

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .executions import Execution
    from .job import Job

__all__ = ["Result"]


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
        execution: Optional["Execution"] = None,
        pipeline: Optional["Pipeline"] = None,
    ) -> "Result":
        """Record an outcome of ``job`` (on ``pipeline`` if given); ``ttl`` as in ``save``."""
        result = cls(
            job.id,
            type,
            connection=job.connection,
            return_value=return_value,
            exc_string=exc_string,
            worker_name=worker_name,
            serializer=job.serializer,
        )
        if execution is not None:
            result.execution_id = execution.id
            result.execution_started_at = execution.created_at
            result.execution_ended_at = layout.utcnow()
        result.save(ttl=ttl, pipeline=pipeline)
        return result

    @classmethod
    def create_failure(
        cls,
        job: "Job",
        ttl: Optional[int],
        exc_string: str,
        worker_name: str = "",
        execution: Optional["Execution"] = None,
        pipeline: Optional["Pipeline"] = None,
    ) -> "Result":
        """Record a failure with its traceback text."""
        return cls.create(
            job,
            cls.Type.FAILED,
            ttl,
            exc_string=exc_string,
            worker_name=worker_name,
            execution=execution,
            pipeline=pipeline,
        )

    @classmethod
    def create_retried(
        cls,
        job: "Job",
        ttl: Optional[int],
        return_value: Any = None,
        worker_name: str = "",
        execution: Optional["Execution"] = None,
        pipeline: Optional["Pipeline"] = None,
    ) -> "Result":
        """Record an attempt that will be retried."""
        return cls.create(
            job,
            cls.Type.RETRIED,
            ttl,
            return_value=return_value,
            worker_name=worker_name,
            execution=execution,
            pipeline=pipeline,
        )

    @classmethod
    def create_max_retries_exceeded(
        cls,
        job: "Job",
        ttl: Optional[int],
        return_value: Any = None,
        worker_name: str = "",
        execution: Optional["Execution"] = None,
        pipeline: Optional["Pipeline"] = None,
    ) -> "Result":
        """Record that a job returning ``Retry`` used up its retries."""
        return cls.create(
            job,
            cls.Type.MAX_RETRIES_EXCEEDED,
            ttl,
            return_value=return_value,
            worker_name=worker_name,
            execution=execution,
            pipeline=pipeline,
        )

    def serialize(self) -> dict[str, str]:
        """The stream entry fields, encoded as upstream RQ 2.x writes them."""
        fields = {"type": str(self.type.value), "worker_name": self.worker_name or ""}
        if self.return_value is not None:
            try:
                payload = self.serializer.dumps(self.return_value)
            except Exception:
                payload = self.serializer.dumps(UNSERIALIZABLE_RETURN_VALUE_PAYLOAD)
            fields["return_value"] = layout.encode_b64(payload)
        if self.exc_string is not None:
            fields["exc_string"] = layout.encode_exc_string(self.exc_string)
        if self.execution_id:
            fields["execution_id"] = self.execution_id
        if self.execution_started_at is not None:
            fields["execution_started_at"] = layout.float_ts(self.execution_started_at.timestamp())
        if self.execution_ended_at is not None:
            fields["execution_ended_at"] = layout.float_ts(self.execution_ended_at.timestamp())
        return fields

    def save(self, ttl: Optional[int], pipeline: Optional["Pipeline"] = None) -> None:
        """XADD the entry (stream capped near 10 entries); ttl >0 expires, -1 keeps forever."""
        conn = pipeline if pipeline is not None else self.connection
        key = self.get_key(self.job_id)
        entry_id = conn.xadd(key, self.serialize(), maxlen=RESULTS_STREAM_MAXLEN, approximate=True)
        if pipeline is None:
            self.id = as_text(entry_id)
        if ttl is not None:
            if ttl == -1:
                conn.persist(key)
            elif ttl > 0:
                conn.expire(key, ttl)

    # ---- reading ---------------------------------------------------------------

    @classmethod
    def restore(cls, job_id: str, result_id: str, payload: dict, connection: Redis, serializer: Any = None) -> "Result":
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
        entries = job.connection.xrevrange(cls.get_key(job.id))
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
                entries = next(iter(reply.values()), [[]])[0]
            else:  # RESP2: [[key, entries]]
                entries = reply[0][1] if reply else []
            entries = entries[-1:]
        else:
            entries = job.connection.xrevrange(key, count=1)
        if not entries:
            return None
        entry_id, payload = entries[0]
        return cls.restore(job.id, entry_id, payload, job.connection, serializer or job.serializer)
