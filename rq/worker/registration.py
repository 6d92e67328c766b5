"""A worker's record in Redis: the hash ``rq:worker:<name>``, its TTL, and the worker sets.

``WorkerRecord`` is the part of the worker classes that reads and writes that record.
It can rewrite the whole record at any time (``reregister``), which is how a worker
comes back in full after Redis restarted and lost its data.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from redis import Redis
from redis.exceptions import NoPermissionError

from .. import layout, worker_registration
from ..defaults import DEAD_WORKER_TTL, DEFAULT_WORKER_TTL, WORKER_KEY_GRACE
from ..layout import as_text, format_ts, parse_ts, utcnow
from ..settings import settings
from ..version import VERSION

if TYPE_CHECKING:
    from redis.client import Pipeline

    from ..job import Job
    from ..queue import Queue

logger = logging.getLogger("rq.worker")


class HeartbeatTTL(NamedTuple):
    """The heartbeat TTL rule: how long a running job's entries live without a heartbeat.

    The worker record, the execution and the started-registry entry of a running job get
    this TTL at the job's start and at every heartbeat. ``per_interval``: the worker
    heartbeats every ``job_monitoring_interval`` while the job runs (``Worker``), so the TTL
    is that interval (or the time the job has left, if shorter) plus ``grace``. Otherwise
    no heartbeat comes while the job runs (``SimpleWorker``): the TTL is the job's whole
    timeout plus ``grace``, and ``unlimited`` for a job without a time limit.

    This is the only place the rule's numbers are written: the dequeue script, which
    records a start in Redis, receives them from ``script_args()`` and applies ``ttl()``
    with nothing elapsed.
    """

    per_interval: bool
    unlimited: int = DEFAULT_WORKER_TTL
    grace: int = settings.heartbeat_grace

    def ttl(self, timeout: Optional[int], default_timeout: int, interval: int, elapsed: float = 0.0) -> int:
        if self.per_interval:
            if timeout and timeout > 0:
                return int(min(timeout - elapsed, interval)) + self.grace
            return interval + self.grace
        if timeout == -1:
            return self.unlimited
        return int(timeout or default_timeout) + self.grace

    def script_args(self) -> list[int]:
        """The rule as the dequeue script reads it: per-interval flag (1/0), unlimited TTL, grace."""
        return [1 if self.per_interval else 0, self.unlimited, self.grace]


# The rules of the two ways a job runs: in a watched work horse, or in the worker's own process.
HEARTBEATS_WHILE_RUNNING = HeartbeatTTL(per_interval=True)
NO_HEARTBEATS_WHILE_RUNNING = HeartbeatTTL(per_interval=False)


class WorkerRecord:
    """Read and write the worker hash; the worker classes inherit this."""

    redis_worker_namespace_prefix = layout.WORKER_PREFIX
    redis_workers_keys = layout.WORKERS_KEY

    # Set by the worker's __init__.
    name: str
    connection: Redis
    queues: list["Queue"]
    worker_ttl: int
    job_class: type["Job"]
    queue_class: type["Queue"]
    serializer: Any

    def _init_record(self) -> None:
        self.hostname: Optional[str] = socket.gethostname()
        self.pid: Optional[int] = os.getpid()
        self.ip_address = "unknown"
        self.version = VERSION
        self.python_version = sys.version
        self.birth_date: Optional[datetime] = None
        self.last_heartbeat: Optional[datetime] = None
        self._death_date: Optional[datetime] = None
        self._shutdown_requested_date: Optional[datetime] = None
        self._state = "starting"
        self.successful_job_count = 0
        self.failed_job_count = 0
        self.total_working_time = 0.0
        self.current_job_working_time = 0.0
        self._current_job_id: Optional[str] = None

    @property
    def key(self) -> str:
        return layout.worker_key(self.name)

    @property
    def death_date(self) -> Optional[datetime]:
        return self._death_date

    @property
    def shutdown_requested_date(self) -> Optional[datetime]:
        return self._shutdown_requested_date

    def queue_names(self) -> list[str]:
        return [queue.name for queue in self.queues]

    def queue_keys(self) -> list[str]:
        return [queue.key for queue in self.queues]

    # ---- birth, death, heartbeat ----------------------------------------------------

    def _record_fields(self) -> dict[str, Any]:
        """Every field of a live worker's hash, as upstream writes them, plus our telemetry."""
        fields = {
            "birth": format_ts(self.birth_date),
            "last_heartbeat": format_ts(self.last_heartbeat),
            "queues": ",".join(self.queue_names()),
            "pid": str(self.pid),
            "hostname": self.hostname or "",
            "ip_address": self.ip_address,
            "version": self.version,
            "python_version": self.python_version,
            "state": self._state if self._state != "starting" else "started",
            "successful_job_count": str(self.successful_job_count),
            "failed_job_count": str(self.failed_job_count),
            "total_working_time": repr(float(self.total_working_time)),
            "current_job_working_time": repr(float(self.current_job_working_time)),
        }
        if self._current_job_id:
            fields["current_job"] = self._current_job_id
        fields.update(self.telemetry_fields())
        return fields

    def telemetry_fields(self) -> dict[str, str]:
        """Extra fields (ignored by upstream tools) that subclasses add to the whole record."""
        return self.connection_fields()

    def connection_fields(self) -> dict[str, str]:
        """Connection telemetry written with every heartbeat (none for a record read from Redis)."""
        return {}

    def register_birth(self) -> None:
        """Create the worker's record; refuse a name that a live worker already uses."""
        logger.debug("Worker %s: registering birth", self.name)
        try:
            if self._name_taken():
                raise ValueError(f"There exists an active worker named {self.name!r} already")
            self.birth_date = self.last_heartbeat = utcnow()
            self._identify_connection()
            self.write_record()
            if self._state == "starting":
                self._state = "started"  # what the record says now
        except NoPermissionError as exc:
            # Redis does not say which key it refused: name the ones the record needs.
            keys = ", ".join([self.key, layout.WORKERS_KEY, *map(layout.workers_by_queue_key, self.queue_names())])
            raise NoPermissionError(
                f"{exc} (registering the worker in {keys}: a worker needs the keys '~rq:*')"
            ) from exc

    def _name_taken(self) -> bool:
        """True when a live worker's record holds this name.

        A record this very worker wrote in an earlier attempt, whose reply was lost, is its
        own: same birth and pid.
        """
        birth, pid, death = self.connection.hmget(self.key, ["birth", "pid", "death"])
        if birth is None or death is not None:
            return False
        mine = self.birth_date is not None and as_text(birth) == format_ts(self.birth_date)
        return not (mine and as_text(pid) == str(self.pid))

    def write_record(self) -> None:
        """(Re)write the whole record: hash, TTL and worker-set membership, in one transaction."""
        with self.connection.pipeline() as pipe:
            pipe.delete(self.key)
            pipe.hset(self.key, mapping=layout.redis_fields(self._record_fields()))
            pipe.expire(self.key, self.worker_ttl + WORKER_KEY_GRACE)
            worker_registration.register(self, pipeline=pipe)
            pipe.execute()

    def reregister(self) -> None:
        """Write the record again in full, e.g. after Redis restarted and lost it.

        The command channel is subscribed first (``listen_before_registering``), so the
        worker is never seen in ``rq:workers`` while deaf to its commands.
        """
        logger.warning("Worker %s: registration was missing in Redis; registering again", self.name)
        self.listen_before_registering()
        self.last_heartbeat = utcnow()
        self.write_record()

    def listen_before_registering(self) -> None:
        """Hook run before the record is written back: a listening worker's channel has its subscriber again."""
        channel = getattr(self, "command_channel", None)
        if channel is None or getattr(self, "is_horse", False):
            return
        channel.ensure_subscribed()

    def _identify_connection(self) -> None:
        try:
            self.connection.client_setname(self.name)
            info = self.connection.execute_command("CLIENT", "INFO")
            text = as_text(info) or ""
            for part in text.split():
                if part.startswith("addr="):
                    self.ip_address = part[5:]
        except Exception:  # ACLs may forbid CLIENT; the address is informational only
            self.ip_address = "unknown"

    def register_death(self) -> None:
        logger.debug("Worker %s: registering death", self.name)
        self._death_date = utcnow()
        with self.connection.pipeline() as pipe:
            worker_registration.unregister(self, pipeline=pipe)
            pipe.hset(self.key, "death", format_ts(self._death_date))
            pipe.expire(self.key, DEAD_WORKER_TTL)
            pipe.execute()

    def heartbeat(self, timeout: Optional[int] = None, pipeline: Optional["Pipeline"] = None) -> None:
        """Keep the record alive for ``timeout`` seconds (default worker_ttl + 60).

        Without a caller pipeline, a record found missing (Redis lost it) is rewritten in full.
        The record counts as missing when it has no ``birth``: after a restart that lost the
        data, another write (a state, a current job) may have created a partial hash that
        is in no worker set. With a pipeline, the first reply is that check (falsy: missing),
        for the caller to rewrite the record.
        """
        timeout = timeout or self.worker_ttl + WORKER_KEY_GRACE
        self.last_heartbeat = utcnow()
        fields = {"last_heartbeat": format_ts(self.last_heartbeat), **self.connection_fields()}
        if pipeline is not None:
            pipeline.hexists(self.key, "birth")
            pipeline.expire(self.key, timeout)
            pipeline.hset(self.key, mapping=layout.redis_fields(fields))
            return
        with self.connection.pipeline() as pipe:
            pipe.hexists(self.key, "birth")
            pipe.expire(self.key, timeout)
            pipe.hset(self.key, mapping=layout.redis_fields(fields))
            registered = pipe.execute()[0]
        if not registered:
            self.reregister()

    # ---- state and counters ----------------------------------------------------------

    def set_state(self, state: str, pipeline: Optional["Pipeline"] = None) -> None:
        self._state = str(getattr(state, "value", state))
        (pipeline if pipeline is not None else self.connection).hset(self.key, "state", self._state)

    def get_state(self) -> str:
        return self._state

    @property
    def state(self) -> str:
        return self._state

    def set_current_job_id(self, job_id: Optional[str] = None, pipeline: Optional["Pipeline"] = None) -> None:
        conn: Any = pipeline if pipeline is not None else self.connection
        self._current_job_id = job_id
        if job_id is None:
            conn.hdel(self.key, "current_job")
        else:
            conn.hset(self.key, "current_job", job_id)

    def get_current_job_id(self, pipeline: Optional["Pipeline"] = None) -> Optional[str]:
        conn: Any = pipeline if pipeline is not None else self.connection
        return as_text(conn.hget(self.key, "current_job"))

    def get_current_job(self) -> Optional["Job"]:
        from ..exceptions import NoSuchJobError

        job_id = self.get_current_job_id()
        if job_id is None:
            return None
        try:
            return self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer)
        except NoSuchJobError:
            return None

    def set_current_job_working_time(self, seconds: float, pipeline: Optional["Pipeline"] = None) -> None:
        self.current_job_working_time = seconds
        (pipeline if pipeline is not None else self.connection).hset(self.key, "current_job_working_time", seconds)

    def increment_failed_job_count(self, pipeline: Optional["Pipeline"] = None) -> None:
        self.failed_job_count += 1
        (pipeline if pipeline is not None else self.connection).hincrby(self.key, "failed_job_count", 1)

    def increment_successful_job_count(self, pipeline: Optional["Pipeline"] = None) -> None:
        self.successful_job_count += 1
        (pipeline if pipeline is not None else self.connection).hincrby(self.key, "successful_job_count", 1)

    def increment_total_working_time(self, job_execution_time: Any, pipeline: Optional["Pipeline"] = None) -> None:
        seconds = (
            job_execution_time.total_seconds()
            if hasattr(job_execution_time, "total_seconds")
            else float(job_execution_time)
        )
        self.total_working_time += seconds
        (pipeline if pipeline is not None else self.connection).hincrbyfloat(self.key, "total_working_time", seconds)

    # ---- reading other workers ----------------------------------------------------------

    def refresh(self) -> None:
        """Load this worker's fields from its hash (as tools like ``rq info`` do)."""
        raw = layout.decode_hash(self.connection.hgetall(self.key))
        self.restore_record(raw)

    def restore_record(self, raw: dict[str, Any]) -> None:
        def text(name: str) -> Optional[str]:
            return as_text(raw.get(name)) or None

        self.hostname = text("hostname")
        self.ip_address = text("ip_address") or "unknown"
        pid = text("pid")
        self.pid = int(pid) if pid and pid.isdigit() else None
        self.version = text("version") or ""
        self.python_version = text("python_version") or ""
        self._state = text("state") or "?"
        self.birth_date = parse_ts(raw.get("birth"))
        self.last_heartbeat = parse_ts(raw.get("last_heartbeat"))
        self._death_date = parse_ts(raw.get("death"))
        self._shutdown_requested_date = parse_ts(raw.get("shutdown_requested_date"))
        self._current_job_id = text("current_job")
        self.successful_job_count = int(text("successful_job_count") or 0)
        self.failed_job_count = int(text("failed_job_count") or 0)
        self.total_working_time = float(text("total_working_time") or 0)
        self.current_job_working_time = float(text("current_job_working_time") or 0)
        self.raw_record = raw
        queues = text("queues")
        if queues:
            self.queues = [
                self.queue_class(name, connection=self.connection, job_class=self.job_class, serializer=self.serializer)
                for name in queues.split(",")
            ]

    @classmethod
    def find_by_key(
        cls, worker_key: str, connection: Redis, job_class: Any = None, queue_class: Any = None, serializer: Any = None
    ) -> Optional[Any]:
        """The worker recorded under ``worker_key``, or None if its hash is gone."""
        if not worker_key.startswith(layout.WORKER_PREFIX):
            raise ValueError(f"Not a valid RQ worker key: {worker_key}")
        raw = connection.hgetall(worker_key)
        if not raw:
            connection.srem(layout.WORKERS_KEY, worker_key)
            return None
        name = worker_key[len(layout.WORKER_PREFIX) :]
        worker = cls(
            [],
            name=name,
            connection=connection,
            job_class=job_class,
            queue_class=queue_class,  # type: ignore[call-arg]
            serializer=serializer,
            prepare_for_work=False,
        )
        worker.restore_record(layout.decode_hash(raw))
        return worker

    @classmethod
    def all_keys(cls, connection: Optional[Redis] = None, queue: Optional["Queue"] = None) -> list[str]:
        return sorted(worker_registration.get_keys(queue=queue, connection=connection))

    @classmethod
    def all(
        cls,
        connection: Optional[Redis] = None,
        job_class: Any = None,
        queue_class: Any = None,
        queue: Optional["Queue"] = None,
        serializer: Any = None,
    ) -> list[Any]:
        """Every live worker (or the ones listening on ``queue``)."""
        connection = connection or (queue.connection if queue is not None else None)
        if connection is None:
            from ..connections import resolve_connection

            connection = resolve_connection(None, "Worker.all")
        workers = [
            cls.find_by_key(key, connection, job_class=job_class, queue_class=queue_class, serializer=serializer)
            for key in cls.all_keys(connection=connection, queue=queue)
        ]
        return [worker for worker in workers if worker is not None]

    @classmethod
    def count(cls, connection: Optional[Redis] = None, queue: Optional["Queue"] = None) -> int:
        return len(cls.all_keys(connection=connection, queue=queue))
