"""Taking jobs off queues: the worker's dequeue loop and its strategies.

A job id is never only in a worker's memory. The usual path takes the next id off the
queues and records the job's start (started registry, execution, job and worker fields) in
one script, so the job moves from its queue to the started registry atomically, in one
round trip. While the queues are empty, one queue on Redis >= 6.2 is watched with a
blocking move into its intermediate list (``<queue key>:intermediate``), and the start is
then recorded by a script that takes the id from there; several queues are polled.
Maintenance puts back on their queue ids that a lost worker left in an intermediate list.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from redis.exceptions import NoPermissionError, ReadOnlyError, ResponseError

from . import layout
from .exceptions import StopRequested
from .job_validation import MAX_TTL
from .layout import as_text, float_ts, format_ts, utcnow
from .resilience import _env_float
from .serializers import DefaultSerializer

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .batch import AtomicBatch
    from .executions import Execution
    from .job import Job
    from .queue import Queue

logger = logging.getLogger("rq.worker")

# Longest single blocking dequeue; the loop checks for stop requests between slices.
DEQUEUE_BLOCK_SLICE = 1
# Polling delays when a blocking move cannot be used (several queues, Redis < 6.2).
DEQUEUE_POLL_INITIAL = 0.01
DEQUEUE_POLL_MAX = _env_float("RQ_DEQUEUE_POLL_MAX", 0.25)
# Seconds between two suspension checks of a busy worker (an idle one checks at every poll).
SUSPENSION_CHECK_INTERVAL = 1.0
# Seconds between two reads of which of the worker's queues are paused (Queue.pause).
PAUSE_CHECK_INTERVAL = 1.0

# Take the next job and record its start, atomically and at most once per execution id
# (a call re-sent after a lost reply returns the job it started). Returns "suspended" while ARGV[2]
# exists; else {queue key, job id, job hash as a flat list, heartbeat TTL}, the TTL being 0
# when the job was not started (its hash is gone, is not a hash or has no data), and -1
# with the Redis error as a fifth item when recording the start failed; false when all are
# empty. A script does not roll back what it wrote before an error, so everything a job
# hash can hold is checked before the first write after the pop (a timeout that is not a
# number from -1 to the maximum counts as the default), and a write that fails all the
# same leaves the id in the queue's intermediate list, where the caller or maintenance
# finds it, instead of losing it.
# KEYS: the queue keys in the order to try, then the started-registry key of each.
# ARGV: job key prefix, suspended key, mode ("pop", or "claim" to take ARGV[4] from the
# intermediate list of the single queue), claimed id, worker key, worker name, execution
# key prefix, executions key prefix, execution id, now as text, now as a float, now in whole
# seconds, TTL rule ("fork" or "simple"), job monitoring interval, default job timeout,
# the worker's redelivery budget for jobs that have none ("" for none), and the longest
# timeout in seconds.
_TAKE_SCRIPT = """
local prefix, mode, claimed = ARGV[1], ARGV[3], ARGV[4]
local worker_key, worker_name, exec_prefix, execs_prefix, exec_id = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local now_text, now_float, now = ARGV[10], ARGV[11], tonumber(ARGV[12])
local rule, interval, default_timeout = ARGV[13], tonumber(ARGV[14]), tonumber(ARGV[15])
local redeliveries, max_timeout = ARGV[16], tonumber(ARGV[17])
local queues = #KEYS / 2
-- A client that re-sends this call after losing its reply gets the job it already started.
local current = redis.call('HGET', worker_key, 'current_job')
if current then
  local expires = redis.call('ZSCORE', execs_prefix .. current, exec_id)
  if expires then
    for q = 1, queues do
      if redis.call('ZSCORE', KEYS[queues + q], current .. ':' .. exec_id) then
        return {KEYS[q], current, redis.call('HGETALL', prefix .. current), tonumber(expires) - now - 60}
      end
    end
  end
end
if ARGV[2] ~= '' and redis.call('EXISTS', ARGV[2]) == 1 then
  return 'suspended'
end
for q = 1, queues do
  local queue_key = KEYS[q]
  local job_id
  if mode == 'claim' then
    if redis.call('LREM', queue_key .. ':intermediate', 1, claimed) == 1 then job_id = claimed end
  else
    job_id = redis.call('LPOP', queue_key)
  end
  if job_id then
    local job_key = prefix .. job_id
    local read, flat = pcall(redis.call, 'HGETALL', job_key)
    if not read then flat = {} end
    local fields = {}
    for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
    if not fields['data'] then
      return {queue_key, job_id, flat, 0}
    end
    local timeout = tonumber(fields['timeout'] or '')
    if not timeout or timeout ~= timeout or timeout < -1 or timeout > max_timeout then
      timeout = default_timeout
    end
    timeout = math.floor(timeout)
    local ttl
    if rule == 'simple' then
      if timeout == -1 then ttl = 420 else ttl = timeout + 60 end
    elseif timeout > 0 then
      ttl = math.floor(math.min(timeout, interval)) + 60
    else
      ttl = interval + 60
    end
    local exec_key = exec_prefix .. job_id .. ':' .. exec_id
    local execs_key = execs_prefix .. job_id
    local started, err = pcall(function()
      redis.call('HSET', exec_key, 'id', exec_id, 'created_at', now_float, 'last_heartbeat', now_float,
                 'worker_name', worker_name)
      redis.call('EXPIRE', exec_key, ttl)
      redis.call('ZADD', execs_key, now + ttl + 60, exec_id)
      redis.call('EXPIRE', execs_key, ttl + 60)
      redis.call('ZADD', KEYS[queues + q], now + ttl, job_id .. ':' .. exec_id)
      redis.call('HSET', worker_key, 'state', 'busy', 'current_job', job_id, 'current_job_working_time', 0,
                 'last_heartbeat', now_text)
      redis.call('EXPIRE', worker_key, ttl)
      redis.call('HSET', job_key, 'status', 'started', 'started_at', now_text, 'worker_name', worker_name,
                 'last_heartbeat', now_text, 'ended_at', '')
      if redeliveries ~= '' and not fields['max_redeliveries'] then
        redis.call('HSET', job_key, 'max_redeliveries', redeliveries)
      end
      if fields['ttl'] and fields['ttl'] ~= '' then
        redis.call('PERSIST', job_key)
      end
    end)
    if not started then
      redis.call('RPUSH', queue_key .. ':intermediate', job_id)
      if type(err) == 'table' then err = err.err end
      return {queue_key, job_id, flat, -1, tostring(err)}
    end
    return {queue_key, job_id, flat, ttl}
  end
  if mode == 'claim' then
    return false
  end
end
return false
"""

# Pop the first available job id into its queue's intermediate list and read the job, for
# workers that override how a job start is recorded (``prepare_job_execution``).
_DEQUEUE_SCRIPT = """
if ARGV[2] ~= '' and redis.call('EXISTS', ARGV[2]) == 1 then
  return 'suspended'
end
for _, key in ipairs(KEYS) do
  local job_id = redis.call('LPOP', key)
  if job_id then
    redis.call('RPUSH', key .. ':intermediate', job_id)
    local read, flat = pcall(redis.call, 'HGETALL', ARGV[1] .. job_id)
    if not read then flat = {} end  -- not a hash: there is no job to run
    return {key, job_id, flat}
  end
end
return false
"""


class DequeueStrategy(str, Enum):
    DEFAULT = "default"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"


def pop_first(connection: Any, queue_keys: Any, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LPOP (or BLPOP with ``timeout`` > 0) over ``queue_keys`` in order: (queue key, job id)."""
    from .exceptions import DequeueTimeout

    if timeout is not None:
        if timeout == 0:
            raise ValueError("Indefinite blocking is not supported: use a positive timeout")
        reply = connection.blpop(queue_keys, timeout)
        if reply is None:
            raise DequeueTimeout(timeout, queue_keys)
        return as_text(reply[0]), as_text(reply[1])
    for queue_key in queue_keys:
        job_id = connection.lpop(queue_key)
        if job_id is not None:
            return queue_key, as_text(job_id)
    return None


def move_first(connection: Any, queue_key: str, timeout: Optional[int]) -> Optional[tuple[str, str]]:
    """LMOVE (or BLMOVE) the head of a queue into its intermediate list: (queue key, job id)."""
    from .exceptions import DequeueTimeout

    intermediate = queue_key + ":intermediate"
    if timeout is not None:
        if timeout == 0:
            raise ValueError("Indefinite blocking is not supported: use a positive timeout")
        job_id = connection.blmove(queue_key, intermediate, timeout, "LEFT", "RIGHT")
        if job_id is None:
            raise DequeueTimeout(timeout, queue_key)
    else:
        job_id = connection.lmove(queue_key, intermediate, "LEFT", "RIGHT")
        if job_id is None:
            return None
    return queue_key, as_text(job_id)


class Dequeuer:
    """Dequeueing part of the worker classes (an override point: ``dequeue_job_and_maintain_ttl``)."""

    name: str
    connection: Any
    queues: list["Queue"]
    job_class: type["Job"]
    queue_class: type["Queue"]
    serializer: Any
    log_job_description: bool
    job_monitoring_interval: int
    execution: Optional["Execution"]
    last_loop_at: float
    _stop_requested: bool
    _stop_event: Any
    _state: str
    _current_job_id: Optional[str]
    _dequeue_strategy: "DequeueStrategy"
    _supports_blmove: Optional[bool]
    # (execution id, queues, claimed id) while a take-and-start call is in flight; see recover_pending_start().
    _pending_start: Optional[tuple[str, list, str]] = None
    # The job whose start the last dequeue already recorded (execute_job skips prepare for it).
    _started_job_id: Optional[str] = None
    _suspension_checked_at: float = float("-inf")
    _pause_checked_at: float = float("-inf")
    _paused: frozenset = frozenset()
    redeliver_abandoned: Optional[int] = None

    if TYPE_CHECKING:  # defined by the other parts of the worker classes

        @property
        def key(self) -> str: ...

        @property
        def should_run_maintenance_tasks(self) -> bool: ...

        def queue_names(self) -> list[str]: ...

        def procline(self, message: str) -> None: ...

        def get_redis_server_version(self) -> tuple: ...

        def set_state(self, state: str, pipeline: Optional["Pipeline"] = None) -> None: ...

        def _heartbeat_if_due(self) -> None: ...

        def run_maintenance_tasks(self) -> None: ...

        def _redis_ok(self) -> None: ...

        def check_for_suspension(self, burst: bool) -> bool: ...

        def get_heartbeat_ttl(self, job: "Job") -> int: ...

        def prepare_job_execution(self, job: "Job", remove_from_intermediate_queue: bool = False) -> None: ...

        def prepare_execution(
            self, job: "Job", pipeline: Union["Pipeline", "AtomicBatch", None] = None
        ) -> "Execution": ...

    def reorder_queues(self, reference_queue: Queue) -> None:
        """Apply the dequeue strategy after a job was taken from ``reference_queue``."""
        if self._dequeue_strategy == DequeueStrategy.ROUND_ROBIN:
            index = self.queues.index(reference_queue)
            self.queues = self.queues[index + 1 :] + self.queues[: index + 1]
        elif self._dequeue_strategy == DequeueStrategy.RANDOM:
            random.shuffle(self.queues)

    def _script(self, name: str, source: str) -> Any:
        script = getattr(self, name, None)
        if script is None:
            script = self.connection.register_script(source)
            setattr(self, name, script)
        return script

    def _takes_atomically(self) -> bool:
        """True unless a subclass changed how a job start is recorded (then the generic path runs)."""
        from .job_runner import JobRunner

        cls = type(self)
        return (
            cls.prepare_job_execution is JobRunner.prepare_job_execution
            and cls.prepare_execution is JobRunner.prepare_execution
            and getattr(cls.get_heartbeat_ttl, "ttl_rule", None) is not None
        )

    def active_queues(self) -> list[Queue]:
        """The worker's queues that are not paused (read from Redis at most once a second)."""
        if time.monotonic() - self._pause_checked_at >= PAUSE_CHECK_INTERVAL:
            with self.connection.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.exists(layout.paused_queue_key(queue.name))
                paused = frozenset(q.name for q, flag in zip(self.queues, pipe.execute()) if flag)
            self._pause_checked_at = time.monotonic()
            for name in sorted(paused - self._paused):
                logger.info("Worker %s: queue %s is paused; skipping it", self.name, name)
            for name in sorted(self._paused - paused):
                logger.info("Worker %s: queue %s is no longer paused", self.name, name)
            self._paused = paused
        return [queue for queue in self.queues if queue.name not in self._paused]

    def _pop_ready(self) -> Union[None, Literal["suspended"], tuple[Job, Queue]]:
        """One non-blocking pass over the queues (in order); 'suspended' while suspended."""
        queues = self.active_queues()
        if not queues:
            return None
        if self._takes_atomically():
            while True:
                found = self._take(queues)
                if found is not False:
                    return found
        script = self._script("_dequeue_script", _DEQUEUE_SCRIPT)
        while True:
            reply = script(keys=[q.key for q in queues], args=[layout.JOB_PREFIX, layout.SUSPENDED_KEY])
            if not reply:
                return None
            if isinstance(reply, (bytes, str)):
                return "suspended"
            queue_key, job_id, flat = as_text(reply[0]), as_text(reply[1]), reply[2]
            queue = next(q for q in queues if q.key == queue_key)
            found = self._job_from_hash(queue, job_id, dict(zip(flat[::2], flat[1::2])))
            if found is not None:
                return found

    def _take(
        self, queues: list[Queue], claimed: str = ""
    ) -> Union[None, Literal[False, "suspended"], tuple[Job, Queue]]:
        """Take the next job (or the ``claimed`` id from the intermediate list) and record its start.

        Returns the job, None when the queues are empty, "suspended", or False when the id
        taken could not run (its hash is gone or unreadable) and the caller should go on.
        """
        from .executions import Execution

        if self._pending_start is not None:
            self.recover_pending_start()  # a previous call was cut off: settle it first
        script = self._script("_take_script", _TAKE_SCRIPT)
        now = utcnow()
        execution_id = uuid.uuid4().hex
        ttl_rule = type(self).get_heartbeat_ttl.ttl_rule  # type: ignore[attr-defined]
        # Until the reply arrives, the start may be recorded in Redis without us knowing the job.
        self._pending_start = (execution_id, queues, claimed)
        check_suspension = not claimed and time.monotonic() - self._suspension_checked_at >= SUSPENSION_CHECK_INTERVAL
        if check_suspension:
            self._suspension_checked_at = time.monotonic()
        suspended_key = layout.SUSPENDED_KEY if check_suspension else ""
        reply = script(
            keys=[q.key for q in queues] + [layout.registry_key("started", q.name) for q in queues],
            args=[
                layout.JOB_PREFIX, suspended_key, "claim" if claimed else "pop", claimed,
                self.key, self.name, layout.EXECUTION_PREFIX, layout.EXECUTIONS_PREFIX, execution_id,
                format_ts(now), float_ts(now.timestamp()), int(now.timestamp()), ttl_rule,
                self.job_monitoring_interval, self.queue_class.DEFAULT_TIMEOUT,
                "" if self.redeliver_abandoned is None else self.redeliver_abandoned, MAX_TTL,
            ],
        )  # fmt: skip
        self._pending_start = None
        if not reply:
            return None
        if isinstance(reply, (bytes, str)):
            return "suspended"
        queue_key, job_id, flat, ttl = as_text(reply[0]), as_text(reply[1]), reply[2], int(reply[3])
        queue = next(q for q in queues if q.key == queue_key)
        raw = dict(zip(flat[::2], flat[1::2]))
        if ttl < 0:
            self._start_refused(queue, job_id, as_text(reply[4]) or "", execution_id)
            return False
        if not ttl:
            return self._job_from_hash(queue, job_id, raw, in_intermediate=False) or False
        job_class, serializer = self._job_class_for(queue)
        job = job_class(job_id, connection=self.connection, serializer=serializer)
        try:
            job.restore(raw)
        except Exception as exc:
            self._fail_unreadable(queue, job_id, exc, execution_id)
            return False
        job.started_at = job.last_heartbeat = now
        job.ended_at = None
        job.worker_name = self.name
        job._status = "started"
        if self.redeliver_abandoned is not None and job.max_redeliveries is None:
            job.max_redeliveries = self.redeliver_abandoned
        self.execution = Execution(execution_id, job.id, self.connection, worker_name=self.name)
        self.execution.created_at = self.execution.last_heartbeat = now
        self._state, self._current_job_id, self._started_job_id = "busy", job.id, job.id
        return job, queue

    def _job_from_hash(
        self, queue: Queue, job_id: str, raw: dict, in_intermediate: bool = True
    ) -> Optional[tuple[Job, Queue]]:
        if not raw:
            # The hash expired (job ttl) or was deleted: nothing to run.
            if in_intermediate:
                self.connection.lrem(queue.intermediate_queue_key, 1, job_id)
            logger.debug("Worker %s: skipping job %s, its hash is gone", self.name, job_id)
            return None
        job_class, serializer = self._job_class_for(queue)
        job = job_class(job_id, connection=self.connection, serializer=serializer)
        try:
            job.restore(raw)
        except Exception as exc:
            self._fail_unreadable(queue, job_id, exc)
            return None
        return job, queue

    def _job_class_for(self, queue: Queue) -> tuple[type[Job], Any]:
        """The job class and serializer to read a job of ``queue`` with.

        As upstream's ``dequeue_any``, the worker's own win (so that a checking job class
        given to the worker, such as an allowlist, cannot be bypassed by handing it Queue
        objects), except that a job class derived from the worker's, or a serializer set
        on the queue while the worker has the default, is taken from the queue.
        """
        job_class = self.job_class
        if isinstance(queue.job_class, type) and issubclass(queue.job_class, job_class):
            job_class = queue.job_class
        serializer = self.serializer
        if serializer is DefaultSerializer:
            serializer = queue.serializer
        return job_class, serializer

    def _start_refused(self, queue: Queue, job_id: str, error: str, execution_id: str) -> None:
        """Redis refused a write of the job's start; the take script left the id in the intermediate list."""
        if error.startswith("NOPERM") or "user executing the script can't" in error:
            # An ACL refusal, not this job's fault: it waits in the intermediate list until maintenance requeues it.
            raise NoPermissionError(f"{error} (while starting job {job_id} of queue {queue.name})")
        self._fail_unreadable(queue, job_id, ResponseError(error), execution_id)

    def _fail_unreadable(self, queue: Queue, job_id: str, exc: Exception, execution_id: str = "") -> None:
        from .job_lifecycle import fail_unreadable_job

        reason = f"Job {job_id} could not be read from Redis: {type(exc).__name__}: {exc}"
        logger.warning("Worker %s: %s; moved it to the failed registry", self.name, reason)
        try:
            fail_unreadable_job(queue, job_id, reason, execution_id)
        except ReadOnlyError:
            raise  # a failover: handled as an outage
        except ResponseError as error:
            # One write of the transaction was refused (a key of the wrong type...); the others were made.
            logger.warning("Worker %s: recording job %s as failed was incomplete: %s", self.name, job_id, error)

    def recover_pending_start(self) -> None:
        """After Redis came back: a job this worker took but never received goes back to its queue.

        That is a start recorded under the execution id of the cut-off call, or a claimed id
        still in the intermediate list because the claim never reached Redis.
        """
        from .maintenance import return_to_queue

        pending = self._pending_start
        if pending is None:
            return
        execution_id, queues, claimed = pending
        returned = []
        for queue in queues:
            started_key = layout.registry_key("started", queue.name)
            for member, _ in self.connection.zscan_iter(started_key, match=f"*:{execution_id}"):
                job_id = layout.split_composite_member(member)[0]
                if return_to_queue(queue, job_id, execution_id):
                    returned.append((queue, job_id))
        if claimed and not returned and return_to_queue(queues[0], claimed):
            returned.append((queues[0], claimed))
        for queue, job_id in returned:
            logger.info("Worker %s: put job %s back on %s (its start was cut off)", self.name, job_id, queue.name)
        self._pending_start = None  # only once the look succeeded: until then it is retried

    def _blocking_move(self, queue: Queue, timeout: float) -> Optional[tuple[Job, Queue]]:
        job_id = as_text(self.connection.blmove(queue.key, queue.intermediate_queue_key, timeout, "LEFT", "RIGHT"))
        if job_id is None:
            return None
        if self._takes_atomically():
            found = self._take([queue], claimed=job_id)
            return found if isinstance(found, tuple) else None
        return self._job_from_hash(queue, job_id, self.connection.hgetall(layout.job_key(job_id)))

    def _block_slice(self) -> float:
        """How long one blocking dequeue may wait: well under the socket timeout, at most a second."""
        socket_timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is None:
            return DEQUEUE_BLOCK_SLICE
        return max(0.1, min(DEQUEUE_BLOCK_SLICE, float(socket_timeout) / 2))

    def _can_block(self) -> bool:
        if len(self.queues) != 1 or self._paused:
            return False
        if self._supports_blmove is None:
            try:
                self._supports_blmove = self.get_redis_server_version() >= (6, 2, 0)
            except ResponseError as exc:  # INFO refused (ACL rule sets often deny it) or renamed away
                logger.info(
                    "Worker %s: cannot read the Redis server version (%s); polling for jobs instead of blocking",
                    self.name,
                    exc,
                )
                self._supports_blmove = False
        return self._supports_blmove

    def dequeue_job_and_maintain_ttl(
        self, timeout: Optional[int], max_idle_time: Optional[int] = None
    ) -> Optional[tuple[Job, Queue]]:
        """The next job, heartbeating while idle; None when ``timeout`` is None (burst) and queues are empty.

        Every dequeued id goes through the queue's intermediate list, so it is never only in
        this process's memory; maintenance returns ids that a lost worker left there.
        """
        if self._state not in ("idle", "suspended"):
            self.set_state("idle")
        self.procline(f"Listening on {','.join(self.queue_names())}")
        idle_since = time.monotonic()
        poll = DEQUEUE_POLL_INITIAL
        while not self._stop_requested:
            self.last_loop_at = time.monotonic()
            self._heartbeat_if_due()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            found = self._pop_ready()
            self._redis_ok()
            if found == "suspended":
                if timeout is None:
                    logger.info("Worker %s: suspended in burst mode, exiting", self.name)
                    return None
                self.check_for_suspension(burst=False)
                continue
            if found is not None:
                job, queue = found
                self._log_dequeued(job, queue)
                self.reorder_queues(queue)
                return job, queue
            if timeout is None:
                return None
            idle = time.monotonic() - idle_since
            if max_idle_time is not None and idle >= max_idle_time:
                return None
            if self._can_block():
                found = self._blocking_move(self.queues[0], self._block_slice())
                if found is not None:
                    self._log_dequeued(*found)
                    return found
            else:
                self._stop_event.wait(poll)
                poll = min(poll * 2, DEQUEUE_POLL_MAX)
        raise StopRequested()

    def _log_dequeued(self, job: Job, queue: Queue) -> None:
        if self.log_job_description:
            logger.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description, job.id)
        else:
            logger.info("Worker %s: %s: %s", self.name, queue.name, job.id)
