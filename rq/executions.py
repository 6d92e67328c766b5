"""Executions: one attempt at running a job, kept while it runs (``rq:execution:<job>:<x>``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from . import layout
from .layout import as_text
from .registered_classes import job_class

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .job import Job

__all__ = ["Execution", "ExecutionRegistry"]


class Execution:
    """One run of a job by a worker; its composite key is the started-registry member."""

    def __init__(self, id: str, job_id: str, connection: Redis, worker_name: str = "") -> None:
        self.id = id
        self.job_id = job_id
        self.connection = connection
        self.worker_name = worker_name
        self.created_at: datetime = layout.utcnow()
        self.last_heartbeat: datetime = self.created_at

    def __repr__(self) -> str:
        return f"Execution({self.id!r}, job_id={self.job_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Execution) and (self.id, self.job_id) == (other.id, other.job_id)

    def __hash__(self) -> int:
        return hash((self.id, self.job_id))

    @property
    def key(self) -> str:
        return layout.execution_key(self.job_id, self.id)

    @property
    def composite_key(self) -> str:
        return layout.composite_member(self.job_id, self.id)

    @property
    def job(self) -> "Job":
        return job_class().fetch(self.job_id, connection=self.connection)

    @classmethod
    def create(cls, job: "Job", ttl: int, pipeline: "Pipeline", worker_name: str = "") -> "Execution":
        """A new execution of ``job``, written (hash + executions zset) on ``pipeline``."""
        execution = cls(uuid.uuid4().hex, job.id, connection=job.connection, worker_name=worker_name)
        execution.save(ttl, pipeline=pipeline)
        return execution

    @classmethod
    def fetch(cls, id: str, job_id: str, connection: Redis) -> Optional["Execution"]:
        execution = cls(id, job_id, connection)
        return execution if execution.refresh() else None

    @classmethod
    def from_composite_key(cls, composite_key: str, connection: Redis) -> "Execution":
        job_id, execution_id = layout.split_composite_member(composite_key)
        return cls(execution_id, job_id, connection)

    def refresh(self) -> bool:
        raw = layout.decode_hash(self.connection.hgetall(self.key))
        if not raw:
            return False
        self.worker_name = as_text(raw.get("worker_name")) or ""
        self.created_at = layout.parse_float_ts(raw.get("created_at")) or self.created_at
        self.last_heartbeat = layout.parse_float_ts(raw.get("last_heartbeat")) or self.last_heartbeat
        return True

    def save(self, ttl: int, pipeline: "Pipeline") -> None:
        pipeline.hset(
            self.key,
            mapping={
                "id": self.id,
                "created_at": layout.float_ts(self.created_at.timestamp()),
                "last_heartbeat": layout.float_ts(self.last_heartbeat.timestamp()),
                "worker_name": self.worker_name,
            },
        )
        pipeline.expire(self.key, ttl)
        registry_key = layout.executions_key(self.job_id)
        pipeline.zadd(registry_key, {self.id: layout.score_of() + ttl + 60})
        pipeline.expire(registry_key, ttl + 60)

    def delete(self, job: Optional["Job"] = None, pipeline: Optional["Pipeline"] = None) -> None:
        conn: Any = pipeline if pipeline is not None else self.connection
        conn.delete(self.key)
        conn.zrem(layout.executions_key(self.job_id), self.id)

    def heartbeat(self, started_job_registry: Any, ttl: int, pipeline: "Pipeline") -> None:
        """Extend the execution and its started-registry entry by ``ttl`` seconds."""
        self.last_heartbeat = layout.utcnow()
        pipeline.hset(self.key, "last_heartbeat", layout.float_ts(self.last_heartbeat.timestamp()))
        pipeline.expire(self.key, ttl)
        registry_key = layout.executions_key(self.job_id)
        pipeline.zadd(registry_key, {self.id: layout.score_of() + ttl + 60}, xx=True)
        pipeline.expire(registry_key, ttl + 60)
        started_job_registry.add_execution(self, pipeline=pipeline, ttl=ttl, xx=True)


class ExecutionRegistry:
    """The executions of one job: ``rq:executions:<job id>``."""

    def __init__(self, job_id: str, connection: Redis) -> None:
        self.job_id = job_id
        self.connection = connection
        self.key = layout.executions_key(job_id)

    def get_execution_ids(self, start: int = 0, end: int = -1) -> list[str]:
        return [as_text(member) for member in layout.zset_members(self.connection.zrange(self.key, start, end))]

    def get_executions(self, start: int = 0, end: int = -1) -> list[Execution]:
        executions = [Execution.fetch(eid, self.job_id, self.connection) for eid in self.get_execution_ids(start, end)]
        return [execution for execution in executions if execution is not None]

    def delete(self, job: Optional["Job"] = None, pipeline: Optional["Pipeline"] = None) -> None:
        """Remove every execution of the job."""
        conn: Any = pipeline if pipeline is not None else self.connection
        for execution_id in self.get_execution_ids():
            conn.delete(layout.execution_key(self.job_id, execution_id))
        conn.delete(self.key)
