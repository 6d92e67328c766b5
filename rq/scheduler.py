"""``RQScheduler``: moves due jobs from the scheduled registries to their queues.

A scheduler works on a queue only while it holds the queue's lock
``rq:scheduler-lock:<queue>`` (value: the scheduler's name, TTL ``interval + 60``), so one
scheduler of a fleet serves each queue. Each due job is moved by one Lua script that
removes its id from the scheduled registry and, only if that removal happened and the
lock is still ours, writes the job as queued and pushes its id. A job therefore leaves
the scheduled registry only in the same atomic step that enqueues it, and no two
schedulers can enqueue it twice.

Failure mode of the loop: a Redis connection or timeout error is logged once as a
WARNING (then rate-limited reminders), the loop waits with backoff, and when Redis is
back it logs the recovery at INFO, takes its locks again (a restarted Redis lost them)
and goes on. A worker started with ``--with-scheduler`` runs the loop in a forked child
(see ``start_worker_scheduler``); if that child dies its locks expire, and the worker's
maintenance starts a new one.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
import warnings
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from redis import Redis

from . import layout, scripting
from .batch import runs_scripts
from .connections import resolve_connection
from .defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT, DEFAULT_SCHEDULER_FALLBACK_PERIOD
from .exceptions import SchedulerNotFound
from .job import Job
from .layout import as_text, format_ts, parse_ts, score_of, utcnow
from .logutils import setup_loghandlers
from .queue import Queue
from .registry import ScheduledJobRegistry
from .resilience import REDIS_ERRORS, SCHEDULER_LOOP, Outage, RetryLoop
from .scheduler_process import ForkedProcess, run_forked
from .serializers import resolve_serializer
from .settings import settings
from .status import JobStatus

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .worker import BaseWorker

__all__ = ["RQScheduler", "SchedulerStatus", "new_worker_scheduler", "run_worker_scheduler", "start_worker_scheduler"]

logger = logging.getLogger("rq.scheduler")

# Seconds between two passes of the scheduler loop.
DEFAULT_SCHEDULER_INTERVAL = settings.scheduler_interval
# Seconds a lock (and the metadata hash) outlives the pass that last refreshed it.
SCHEDULER_LOCK_GRACE = settings.scheduler_lock_grace
# Due jobs read and moved per queue in one script call.
SCHEDULED_BATCH_SIZE = 1000
# Seconds stop() waits for a scheduler process to exit after SIGTERM before it sends SIGKILL.
SCHEDULER_STOP_TIMEOUT = settings.scheduler_stop_timeout
# Longest single sleep between two passes; a stop request is seen within this many seconds.
PAUSE_SLICE = 0.1

# Acquire-or-refresh, per key: absent -> SET EX, held by us -> EXPIRE, held by another -> taken.
# Any other value (another scheduler's name, or the PID an RQ 1.x scheduler writes) is respected.
_ACQUIRE_SCRIPT = """
local held = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if not owner then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
    held[i] = 1
  elseif owner == ARGV[1] then
    redis.call('EXPIRE', key, ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"""

_RELEASE_SCRIPT = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
"""

# KEYS: lock, scheduled registry, queue, rq:queues, then one job hash per job.
# ARGV: scheduler name, then per job: id, push ('R', 'L', or '' = drop if unusable), ttl,
# field count n, and n field/value pairs. Returns the number of jobs moved, -1 without the lock.
_MOVE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local moved = 0
local a = 2
for k = 5, #KEYS do
  local job_key = KEYS[k]
  local job_id, push, ttl, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 4
  if redis.call('HEXISTS', job_key, 'data') == 0 then
    redis.call('ZREM', KEYS[2], job_id)
  elseif push ~= '' and n > 0 and redis.call('ZREM', KEYS[2], job_id) == 1 then
    redis.call('HSET', job_key, unpack(ARGV, a, a + 2 * n - 1))
    if ttl > 0 then
      redis.call('EXPIRE', job_key, ttl)
    end
    if push == 'L' then
      redis.call('LPUSH', KEYS[3], job_id)
    else
      redis.call('RPUSH', KEYS[3], job_id)
    end
    moved = moved + 1
  end
  a = a + 2 * n
end
if moved > 0 then
  redis.call('SADD', KEYS[4], KEYS[3])
end
return moved
"""

_ACQUIRE = scripting.Script(_ACQUIRE_SCRIPT, scripting.acquire_locks)
_RELEASE = scripting.Script(_RELEASE_SCRIPT, scripting.release_locks)
_MOVE = scripting.Script(_MOVE_SCRIPT, scripting.move_scheduled)


class SchedulerStatus(str, Enum):
    STARTED = "started"
    WORKING = "working"
    STOPPED = "stopped"


class RQScheduler:
    """Moves due jobs of the queues it holds locks for; ``work()`` is the loop, ``start()`` forks it.

    ``lock_grace`` and ``reacquire_period`` default to the class attributes of the same name
    (60 s and 120 s, as upstream); shorter values make takeover after a crash faster.
    """

    Status = SchedulerStatus
    #: Seconds a lock outlives its last refresh, on top of ``interval``.
    lock_grace: float = SCHEDULER_LOCK_GRACE
    #: Seconds between attempts at locks another scheduler holds.
    reacquire_period: float = DEFAULT_SCHEDULER_FALLBACK_PERIOD

    def __init__(
        self,
        queues: Union[str, Queue, Iterable[Union[str, Queue]]],
        connection: Optional[Redis] = None,
        interval: float = DEFAULT_SCHEDULER_INTERVAL,
        logging_level: Union[int, str] = logging.INFO,
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
        serializer: Any = None,
        name: Optional[str] = None,
        *,
        lock_grace: Optional[float] = None,
        reacquire_period: Optional[float] = None,
    ) -> None:
        items = [queues] if isinstance(queues, (str, Queue)) else list(queues)
        # A set, as upstream RQ has it (callers add names to it); the job class of each queue given as a Queue.
        self._queue_names: set[str] = set()
        self._job_classes: dict[str, type[Job]] = {}
        for item in items:
            queue_name = item.name if isinstance(item, Queue) else str(item)
            if queue_name not in self._job_classes:
                self._queue_names.add(queue_name)
                self._job_classes[queue_name] = item.job_class if isinstance(item, Queue) else Job
        self._connection: Redis = resolve_connection(connection, "RQScheduler")
        self.interval = interval
        if lock_grace is not None:
            self.lock_grace = lock_grace
        if reacquire_period is not None:
            self.reacquire_period = reacquire_period
        self.logging_level = logging_level
        self.date_format = date_format
        self.log_format = log_format
        self.serializer = resolve_serializer(serializer)
        self.name: str = name or uuid.uuid4().hex
        self.hostname: Optional[str] = socket.gethostname()
        self.pid: Optional[int] = os.getpid()
        self.created_at: datetime = utcnow()
        self.last_heartbeat: Optional[datetime] = None
        self._status = SchedulerStatus.STOPPED
        # Set by stop(): a stopped scheduler stays stopped (maintain() does not restart it).
        self._retired = False
        self._acquired_locks: set[str] = set()
        # When locks were last tried (local time, as upstream RQ records it); None: try at the next pass.
        self.lock_acquisition_time: Optional[datetime] = None
        self._scheduled_job_registries: list[ScheduledJobRegistry] = []
        self._process: Optional[ForkedProcess] = None
        self._reported_dead: Any = None  # the dead process last reported by maintain()
        self._parent_pid: Optional[int] = None
        self._stop_requested = False
        self._stop_event = threading.Event()
        self._outage = Outage(logger, f"Scheduler {self.name}", "Redis connection", connection=self._connection)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, queues={self.queue_names!r})"

    # ---- properties --------------------------------------------------------------------

    @property
    def connection(self) -> Redis:
        return self._connection

    @property
    def acquired_locks(self) -> set[str]:
        return set(self._acquired_locks)

    @property
    def status(self) -> SchedulerStatus:
        return self._status

    @property
    def key(self) -> str:
        return layout.scheduler_key(self.name)

    @property
    def queue_names(self) -> list[str]:
        """The names of the queues this scheduler serves, sorted."""
        return sorted(self._queue_names)

    @property
    def lock_ttl(self) -> int:
        """Seconds each lock and the metadata hash live after a refresh (61 by default)."""
        return max(1, math.ceil(self.interval + self.lock_grace))

    @property
    def should_reacquire_locks(self) -> bool:
        """True when some queue is not locked by us and the last attempt is ``reacquire_period`` old."""
        if set(self._queue_names) <= self._acquired_locks:
            return False
        attempted = self.lock_acquisition_time
        if attempted is None:
            return True
        current = datetime.now(attempted.tzinfo) if attempted.tzinfo is not None else datetime.now()
        return (current - attempted).total_seconds() >= self.reacquire_period

    @classmethod
    def get_locking_key(cls, name: str) -> str:
        """The lock key of the queue named ``name``."""
        return layout.scheduler_lock_key(name)

    # ---- locks -------------------------------------------------------------------------

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """Take (or refresh) the lock of every queue that is free or already ours; returns the held ones.

        With ``auto_start``, a scheduler process is started if a lock was taken and none runs.
        """
        self.lock_acquisition_time = datetime.now()
        names = self.queue_names
        keys = [self.get_locking_key(name) for name in names]
        replies = _ACQUIRE(self.connection, keys, [self.name, self.lock_ttl]) if keys else []
        held = {name for name, ok in zip(names, replies) if ok}
        gained = held - self._acquired_locks
        if gained:
            logger.info("Scheduler %s: acquired locks for %s", self.name, ", ".join(sorted(gained)))
        self._acquired_locks = held
        self._scheduled_job_registries = []  # rebuilt from the held locks at the next enqueue pass
        if auto_start and held and not self._process_alive():
            self.start()
        return set(held)

    def release_locks(self) -> None:
        """Delete the locks this scheduler holds (and only those, whatever it believes it holds)."""
        keys = [self.get_locking_key(name) for name in self.queue_names]
        if keys:
            _RELEASE(self.connection, keys, [self.name])
        self._acquired_locks = set()
        self._scheduled_job_registries = []

    def prepare_registries(self, queue_names: Optional[Iterable[str]] = None) -> None:
        """Build the scheduled registries of ``queue_names``, in that order (default: the locked queues)."""
        names = list(queue_names) if queue_names else sorted(self._acquired_locks)
        self._scheduled_job_registries = [
            ScheduledJobRegistry(
                name, connection=self.connection, serializer=self.serializer, job_class=self._job_classes.get(name, Job)
            )
            for name in names
        ]

    def _drop_locks(self, names: set[str], reason: str) -> None:
        if names & self._acquired_locks:
            logger.warning("Scheduler %s: lost the lock of %s (%s)", self.name, ", ".join(sorted(names)), reason)
            self._acquired_locks -= names
            self._scheduled_job_registries = []  # rebuilt from the remaining locks at the next enqueue pass

    # ---- moving due jobs ---------------------------------------------------------------

    def enqueue_scheduled_jobs(self) -> int:
        """Move every due job of the locked queues to its queue; returns how many were moved."""
        total = 0
        now = score_of()
        if not self._scheduled_job_registries and self._acquired_locks:
            self.prepare_registries()
        for registry in list(self._scheduled_job_registries):
            moved_here = 0
            while registry.name in self._acquired_locks and not self._stop_requested:
                job_ids = registry.get_jobs_to_schedule(now, chunk_size=SCHEDULED_BATCH_SIZE)
                if not job_ids:
                    break
                moved = self._move_jobs(registry, job_ids)
                moved_here += moved
                if moved == 0 or len(job_ids) < SCHEDULED_BATCH_SIZE:
                    break
            if moved_here:
                logger.info("Scheduler %s: enqueued %d scheduled job(s) on %s", self.name, moved_here, registry.name)
            total += moved_here
        return total

    def _move_jobs(self, registry: ScheduledJobRegistry, job_ids: list[str]) -> int:
        """Move ``job_ids`` (read earlier) to the queue; each only if it is still scheduled and we hold the lock."""
        with self.connection.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(layout.job_key(job_id))
            hashes = pipe.execute()
        queue_key = layout.queue_key(registry.name)
        keys = [self.get_locking_key(registry.name), registry.key, queue_key, layout.QUEUES_KEY]
        args: list[Any] = [self.name]
        enqueued_at = utcnow()
        for job_id, raw in zip(job_ids, hashes):
            keys.append(layout.job_key(job_id))
            args.extend(self._move_args(registry, job_id, raw, enqueued_at))
        moved = int(_MOVE(self.connection, keys, args))
        if moved < 0:
            self._drop_locks({registry.name}, "another scheduler holds it now")
            return 0
        return moved

    def _move_args(self, registry: ScheduledJobRegistry, job_id: str, raw: dict, enqueued_at: datetime) -> list[Any]:
        """Script arguments for one job: the fields of its queued state and where to push it."""
        if not raw:
            return [job_id, "", 0, 0]
        try:
            job = registry.job_class.from_hash(job_id, raw, self.connection, serializer=self.serializer)
        except Exception as exc:
            # Push it anyway: the worker then fails it visibly instead of it sitting here forever.
            logger.warning(
                "Scheduler %s: job %s has an unreadable hash (%s); enqueueing it as is", self.name, job_id, exc
            )
            fields: dict[str, Any] = {"status": JobStatus.QUEUED.value, "enqueued_at": format_ts(enqueued_at)}
            return [job_id, "R", 0, len(fields), *_flatten(fields)]
        if job is None:
            return [job_id, "", 0, 0]
        job.origin = registry.name
        job.enqueued_at = enqueued_at
        job._status = JobStatus.QUEUED.value
        if job.timeout is None:
            job.timeout = Queue.DEFAULT_TIMEOUT
        # Meta is left as stored: decoding and re-encoding it could alter it under another serializer.
        fields = job.to_dict(include_meta=False, include_result=False)
        at_front = bool(job.enqueue_at_front) or job.should_enqueue_at_front()
        return [job_id, "L" if at_front else "R", job.ttl or 0, len(fields), *_flatten(fields)]

    # ---- metadata ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, str]:
        """The fields of the metadata hash ``rq:scheduler:<name>``."""
        return {
            "name": self.name,
            "hostname": self.hostname or "",
            "pid": str(self.pid or ""),
            "queues": ",".join(self.queue_names),
            "created_at": format_ts(self.created_at),
            "last_heartbeat": format_ts(self.last_heartbeat),
        }

    def restore(self, raw: dict) -> None:
        """Load the metadata fields from an HGETALL reply."""
        fields = {as_text(key): as_text(value) for key, value in raw.items()}
        self.name = fields.get("name") or self.name
        self.hostname = fields.get("hostname") or None
        pid = fields.get("pid")
        self.pid = int(pid) if pid else None
        queues = fields.get("queues")
        if queues:
            self._queue_names = set(queues.split(","))
            for queue_name in self._queue_names:
                self._job_classes.setdefault(queue_name, Job)
        self.created_at = parse_ts(fields.get("created_at")) or self.created_at
        self.last_heartbeat = parse_ts(fields.get("last_heartbeat"))

    def save(self, pipeline: Optional["Pipeline"] = None) -> None:
        """Write the metadata hash with its TTL."""
        pipe: Any = pipeline if pipeline is not None else self.connection.pipeline()
        pipe.hset(self.key, mapping=self.to_dict())
        pipe.expire(self.key, self.lock_ttl)
        if pipeline is None:
            pipe.execute()

    @classmethod
    def fetch(cls, name: str, connection: Redis) -> "RQScheduler":
        """The scheduler registered under ``name``; SchedulerNotFound if its hash is gone."""
        raw = connection.hgetall(layout.scheduler_key(name))
        if not raw:
            raise SchedulerNotFound(f"No scheduler named {name!r}")
        scheduler = cls([], connection=connection, name=name)
        scheduler.restore(raw)
        return scheduler

    def register_birth(self) -> None:
        """Write the metadata hash for this process, as a new scheduler."""
        self.pid = os.getpid()
        self.hostname = socket.gethostname()
        self.created_at = self.last_heartbeat = utcnow()
        self.save()

    def register_death(self) -> bool:
        """Delete the metadata hash; True if it existed."""
        return bool(self.connection.delete(self.key))

    def heartbeat(self) -> None:
        """Refresh the metadata hash and every held lock, in one round trip; drop locks others hold."""
        self.last_heartbeat = utcnow()
        held = sorted(self._acquired_locks)
        keys = [self.get_locking_key(name) for name in held]
        scripted = bool(held) and runs_scripts(self.connection)
        with self.connection.pipeline(transaction=False) as pipe:
            self.save(pipeline=pipe)
            if scripted:
                _ACQUIRE.registered(self.connection)(keys=keys, args=[self.name, self.lock_ttl], client=pipe)
            replies = pipe.execute()
        if held:
            flags = replies[-1] if scripted else _ACQUIRE(self.connection, keys, [self.name, self.lock_ttl])
            lost = {name for name, ok in zip(held, flags) if not ok}
            if lost:
                self._drop_locks(lost, "another scheduler holds it now")

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> ForkedProcess:
        """Run ``work()`` in a forked child process (as upstream does) and return a handle on it."""
        self._status = SchedulerStatus.STARTED
        parent_pid = os.getpid()
        with warnings.catch_warnings():
            # Python 3.12 warns about fork() in a threaded process. The child only runs this
            # loop, on a connection of its own, and logging re-initialises its locks at fork.
            warnings.filterwarnings("ignore", message=r".*fork\(\)", category=DeprecationWarning)
            child_pid = os.fork()
        if child_pid == 0:
            run_forked(self, parent_pid)  # never returns
        self._process = ForkedProcess(child_pid)
        logger.info("Scheduler %s: started for %s with PID %d", self.name, ", ".join(self.queue_names), child_pid)
        return self._process

    def work(self) -> None:
        """The scheduler loop: take locks, heartbeat, move due jobs, sleep ``interval``; until stopped."""
        setup_loghandlers(self.logging_level, self.date_format, self.log_format, name="rq.scheduler")
        self._install_signal_handlers()
        self._status = SchedulerStatus.WORKING
        registered = False

        def one_pass() -> bool:
            nonlocal registered
            if self._stop_requested:
                return False
            if self._parent_pid is not None and os.getppid() != self._parent_pid:
                logger.warning("Scheduler %s: its worker (PID %d) is gone; stopping", self.name, self._parent_pid)
                return False
            if not registered:
                self.register_birth()
                registered = True
            if self.should_reacquire_locks:
                self.acquire_locks()
            self.heartbeat()
            self.enqueue_scheduled_jobs()
            self._status = SchedulerStatus.STARTED  # between passes, as upstream RQ reports it
            self._pause(self.interval)
            return True

        def lost_redis(exc: BaseException) -> None:
            # Redis may come back empty (restarted): try every lock again once it answers.
            self.lock_acquisition_time = None

        loop = RetryLoop(SCHEDULER_LOOP, self._outage, stop=self._stop_event)
        loop.run(one_pass, on_error=lost_redis)
        self.stop()

    def _pause(self, seconds: float) -> None:
        """Sleep between passes, in short slices so that a stop request ends the wait early."""
        deadline = time.monotonic() + seconds
        while not self._stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, PAUSE_SLICE))

    def request_stop(self, signum: Any = None, frame: Any = None) -> None:
        """Ask the loop to stop after the current pass (signal handler for SIGINT/SIGTERM)."""
        self._stop_requested = True
        self._stop_event.set()

    def stop(self) -> None:
        """Stop scheduling: end the scheduler process this object started, release the locks, delete the hash.

        Calling it again (or on a scheduler that already stopped) does nothing.
        """
        if self._retired and self._process is None:
            return
        self._retired = True
        self._stop_process()
        logger.info("Scheduler %s: stopping, releasing locks for %s", self.name, ", ".join(self.queue_names))
        try:
            self.release_locks()
            self.register_death()
        except REDIS_ERRORS as exc:
            logger.warning(
                "Scheduler %s: could not release its locks (%s); they expire within %ds", self.name, exc, self.lock_ttl
            )
        self._acquired_locks = set()
        self._status = SchedulerStatus.STOPPED

    def maintain(self) -> None:
        """Keep a worker's scheduler going: restart it if its process died, retry the locks if it has none.

        Called by the worker at every maintenance pass; a stopped scheduler stays stopped.
        """
        if self._retired:
            return
        process = self._process
        if process is not None:
            if process.is_alive():
                return
            log = logger.debug if process is self._reported_dead else logger.warning
            self._reported_dead = process
            log(
                "Scheduler %s: process %s exited (code %s); restarting it",
                self.name,
                getattr(process, "pid", "?"),
                getattr(process, "exitcode", None),
            )
        try:
            self.acquire_locks(auto_start=True)
        except REDIS_ERRORS as exc:
            logger.debug("Scheduler %s: could not take locks (%s); retrying at the next maintenance", self.name, exc)

    def _process_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or not process.is_alive():
            return
        process.terminate()
        if not process.join(SCHEDULER_STOP_TIMEOUT):
            logger.warning(
                "Scheduler %s: process %d did not stop within %.0fs; killing it",
                self.name,
                process.pid,
                SCHEDULER_STOP_TIMEOUT,
            )
            process.kill()
            process.join(SCHEDULER_STOP_TIMEOUT)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # e.g. a scheduler run in a thread; the caller stops it with request_stop()
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def _use_connection(self, connection: Redis) -> None:
        self._connection = connection
        self.prepare_registries()


def _flatten(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]


def worker_scheduler_name(worker_name: str) -> str:
    """The scheduler name of a worker: fixed for the worker's life, so its locks survive restarts."""
    return f"{worker_name}-scheduler"


def new_worker_scheduler(worker: "BaseWorker") -> RQScheduler:
    """The scheduler of ``worker.work(with_scheduler=True)``, not started: see ``run_worker_scheduler``."""
    worker_level = logging.getLogger("rq.worker").level
    return RQScheduler(
        worker.queues,
        connection=worker.connection,
        serializer=worker.serializer,
        name=worker_scheduler_name(worker.name),
        interval=getattr(worker, "scheduler_interval", DEFAULT_SCHEDULER_INTERVAL),
        logging_level=worker_level or logging.INFO,
    )


def run_worker_scheduler(worker: "BaseWorker", scheduler: RQScheduler, burst: bool) -> None:
    """Start the scheduler of ``worker.work(with_scheduler=True)``.

    Burst mode: enqueue the due jobs once, then release the locks and delete the metadata
    (also when that fails), leaving a stopped scheduler (its ``stop()`` and ``maintain()``
    do nothing). Otherwise take the locks and, if any was taken, fork the scheduler
    process; ``maintain()`` retries when no lock could be taken or the process died, and
    ``stop()`` ends the process and releases the locks.
    """
    if burst:
        try:
            if scheduler.acquire_locks():
                scheduler.enqueue_scheduled_jobs()
        except REDIS_ERRORS as exc:
            logger.warning("Worker %s: could not enqueue scheduled jobs (%s)", worker.name, exc)
        finally:
            scheduler.stop()
        return
    try:
        scheduler.acquire_locks(auto_start=True)
    except REDIS_ERRORS as exc:
        logger.warning(
            "Worker %s: could not start its scheduler (%s); retrying at the next maintenance", worker.name, exc
        )
        return
    if not scheduler.acquired_locks:
        logger.info(
            "Worker %s: another scheduler serves %s; retrying at the next maintenance",
            worker.name,
            ", ".join(scheduler.queue_names),
        )


def start_worker_scheduler(worker: "BaseWorker", burst: bool) -> RQScheduler:
    """Create and start the scheduler of ``worker.work(with_scheduler=True)`` (see ``run_worker_scheduler``)."""
    scheduler = new_worker_scheduler(worker)
    run_worker_scheduler(worker, scheduler, burst)
    return scheduler
