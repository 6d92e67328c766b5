"""Executions: one attempt at running a job, kept while it runs (``rq:execution:<job>:<x>``).

An execution is a hash, a member of its job's executions registry (``rq:executions:<job>``)
and a member ``<job id>:<execution id>`` of the started registry of the job's queue; each
of the three expires unless the worker running it heartbeats.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from redis import Redis

from . import layout
from .exceptions import NoSuchJobError
from .layout import as_text
from .registered_classes import job_class
from .registry import BaseRegistry
from .utils import current_timestamp

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .job import Job

__all__ = ["Execution", "ExecutionRegistry", "cleanup_execution", "prepare_execution"]

logger = logging.getLogger("rq.worker")

# Seconds an executions registry entry (and the registry itself) outlives its execution.
REGISTRY_GRACE = 60


class Execution:
    """One run of a job by a worker; its composite key is the started-registry member."""

    def __init__(self, id: str, job_id: str, connection: Redis, worker_name: str = "") -> None:
        self.id = id
        self.job_id = job_id
        self.connection = connection
        self.worker_name = worker_name
        self.created_at: datetime = layout.utcnow()
        self.last_heartbeat: datetime = self.created_at
        self._job: Optional["Job"] = None

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
        """The job of this execution, fetched on first use and then kept."""
        if self._job is None:
            self._job = job_class().fetch(self.job_id, connection=self.connection)
        return self._job

    @classmethod
    def create(cls, job: "Job", ttl: int, pipeline: "Pipeline", worker_name: str = "") -> "Execution":
        """A new execution of ``job``, written on ``pipeline`` with its registry and started-registry entries."""
        execution = cls(uuid.uuid4().hex, job.id, connection=job.connection, worker_name=worker_name)
        execution._job = job
        execution.save(ttl, pipeline=pipeline)
        if job.origin:
            started_key = layout.registry_key("started", job.origin)
            pipeline.zadd(started_key, {execution.composite_key: layout.ttl_score(ttl)})
        return execution

    @classmethod
    def fetch(cls, id: str, job_id: str, connection: Redis) -> "Execution":
        """Load an execution; ValueError if its hash does not exist (it ended or expired)."""
        execution = cls(id, job_id, connection)
        execution.refresh()
        return execution

    @classmethod
    def from_composite_key(cls, composite_key: str, connection: Redis) -> "Execution":
        """The execution named by a started-registry member ``<job id>:<execution id>``."""
        job_id, execution_id = layout.split_composite_member(composite_key)
        return cls(execution_id, job_id, connection)

    def refresh(self) -> None:
        """Reload the fields from Redis; ValueError if the hash does not exist."""
        raw = self.connection.hgetall(self.key)
        if not raw:
            raise ValueError(f"Execution {self.id} of job {self.job_id} not found in Redis")
        self.restore(raw)

    def restore(self, raw: dict) -> None:
        """Set the fields from an HGETALL reply (hashes written before RQ 3.0 have no ``job_id``)."""
        raw = layout.decode_hash(raw)
        self.job_id = as_text(raw.get("job_id")) or self.job_id
        self.worker_name = as_text(raw.get("worker_name")) or ""
        self.created_at = layout.parse_float_ts(raw.get("created_at")) or self.created_at
        self.last_heartbeat = layout.parse_float_ts(raw.get("last_heartbeat")) or self.last_heartbeat

    def serialize(self) -> dict[str, Any]:
        """The hash fields, as upstream RQ 2.x writes them (RQ 3.0 adds ``job_id``, which ``restore`` reads)."""
        return {
            "id": self.id,
            "created_at": layout.float_ts(self.created_at.timestamp()),
            "last_heartbeat": layout.float_ts(self.last_heartbeat.timestamp()),
            "worker_name": self.worker_name,
        }

    def save(self, ttl: int, pipeline: Optional["Pipeline"] = None) -> None:
        """Write the hash, expiring in ``ttl`` seconds, and its executions registry entry."""
        conn: Any = pipeline if pipeline is not None else self.connection
        conn.hset(self.key, mapping=layout.redis_fields(self.serialize()))
        conn.expire(self.key, ttl)
        ExecutionRegistry(self.job_id, self.connection).add(self, ttl=ttl, pipeline=conn)

    def delete(self, job: Optional["Job"] = None, pipeline: Optional["Pipeline"] = None) -> None:
        """Remove the execution: its hash, its registry entry and its started-registry entry."""
        conn: Any = pipeline if pipeline is not None else self.connection
        conn.delete(self.key)
        conn.zrem(layout.executions_key(self.job_id), self.id)
        origin = self._origin(job)
        if origin:
            conn.zrem(layout.registry_key("started", origin), self.composite_key)

    def _origin(self, job: Optional["Job"]) -> Optional[str]:
        if job is None:
            try:
                job = self.job
            except NoSuchJobError:
                return None
        return job.origin

    def heartbeat(self, started_job_registry: Any, ttl: int, pipeline: "Pipeline") -> None:
        """Extend the execution and its started-registry entry by ``ttl`` seconds."""
        self.last_heartbeat = layout.utcnow()
        pipeline.hset(self.key, "last_heartbeat", layout.float_ts(self.last_heartbeat.timestamp()))
        pipeline.expire(self.key, ttl)
        registry_key = layout.executions_key(self.job_id)
        pipeline.zadd(registry_key, {self.id: layout.score_of() + ttl + REGISTRY_GRACE}, xx=True)
        pipeline.expire(registry_key, ttl + REGISTRY_GRACE)
        started_job_registry.add_execution(self, pipeline=pipeline, ttl=ttl, xx=True)


class ExecutionRegistry(BaseRegistry):
    """The executions of one job: ``rq:executions:<job id>``, each scored by its expiry (+60 s)."""

    key_template = layout.executions_key("{0}")

    def __init__(self, job_id: str, connection: Redis) -> None:
        self.job_id = job_id
        self.name = job_id
        self.connection = connection
        self.key = layout.executions_key(job_id)
        self.job_class = job_class()
        self.serializer = None
        self.death_penalty_class = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExecutionRegistry({self.job_id!r})"

    def add(  # type: ignore[override]
        self, execution: Execution, ttl: int, pipeline: Optional["Pipeline"] = None, xx: bool = False
    ) -> Any:
        """Record ``execution`` as expiring ``ttl`` seconds from now (``xx``: only if listed already).

        The registry itself lives as long.
        """
        conn: Any = pipeline if pipeline is not None else self.connection
        conn.zadd(self.key, {execution.id: layout.score_of() + ttl + REGISTRY_GRACE}, xx=xx)
        return conn.expire(self.key, ttl + REGISTRY_GRACE)

    def remove(  # type: ignore[override]
        self, execution: Execution, pipeline: Optional["Pipeline"] = None
    ) -> Any:
        """Drop the entry of ``execution`` (its hash is left alone)."""
        conn: Any = pipeline if pipeline is not None else self.connection
        return conn.zrem(self.key, execution.id)

    def cleanup(self, timestamp: Optional[float] = None, exception_handlers: Optional[list] = None) -> None:
        """Drop entries that expired at or before ``timestamp`` (default now)."""
        score = timestamp if timestamp is not None else current_timestamp()
        self.connection.zremrangebyscore(self.key, 0, score)

    def get_execution_ids(self, start: int = 0, end: int = -1) -> list[str]:
        """Ids of the executions not yet expired, ranked ``start``..``end`` by expiry."""
        self.cleanup()
        return [as_text(member) for member in layout.zset_members(self.connection.zrange(self.key, start, end))]

    def get_executions(self, start: int = 0, end: int = -1) -> list[Execution]:
        """The executions ranked ``start``..``end``; those whose hash has already gone are left out."""
        executions = []
        for execution_id in self.get_execution_ids(start, end):
            try:
                executions.append(Execution.fetch(execution_id, self.job_id, self.connection))
            except ValueError:
                continue
        return executions

    def delete(self, job: Optional["Job"] = None, pipeline: Optional["Pipeline"] = None) -> None:
        """Remove every execution of the job (hashes and started-registry entries) and the registry."""
        conn: Any = pipeline if pipeline is not None else self.connection
        ids = [as_text(member) for member in layout.zset_members(self.connection.zrange(self.key, 0, -1))]
        for execution_id in ids:
            execution = Execution(execution_id, self.job_id, self.connection)
            execution._job = job
            execution.delete(job=job, pipeline=conn)
        conn.delete(self.key)


def prepare_execution(worker: Any, job: "Job") -> Execution:
    """Start an execution of ``job`` by ``worker``, before the job runs, as upstream RQ's worker does.

    Creates the execution (hash, registry, started-registry entry) with the worker's
    heartbeat TTL, marks the worker busy, and keeps the execution as ``worker.execution``.
    """
    with worker.connection.pipeline() as pipe:
        ttl = worker.get_heartbeat_ttl(job)
        execution = Execution.create(job, ttl, pipeline=pipe, worker_name=worker.name)
        worker.set_state("busy", pipeline=pipe)
        pipe.execute()
    worker.execution = execution
    running = getattr(worker, "executions", None)
    if isinstance(running, dict):  # workers that run several jobs at once (RQ 3.0) index them by id
        running[execution.id] = execution
    return execution


def cleanup_execution(worker: Any, job: "Job", pipeline: "Pipeline", execution: Optional[Execution] = None) -> None:
    """End an execution of ``job`` by ``worker`` on ``pipeline``: the given one, else the worker's current one.

    Without ``execution`` (upstream RQ 2.x's call) the worker is also left with no current job.
    """
    logger.debug("Cleaning up execution of job %s", job.id)
    if execution is None:
        worker.set_current_job_id(None, pipeline=pipeline)
        execution = worker.execution
    if execution is None:
        return
    execution.delete(job=job, pipeline=pipeline)
    if getattr(worker, "execution", None) == execution:
        worker.execution = None
    running = getattr(worker, "executions", None)
    if isinstance(running, dict):
        running.pop(execution.id, None)
