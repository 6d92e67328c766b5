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
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional, Protocol, Union

from redis.exceptions import NoPermissionError, ReadOnlyError, ResponseError

from .. import layout
from ..job_validation import MAX_TTL
from ..layout import as_text, float_ts, format_ts, utcnow
from ..scripting import Script
from ..serializers import DefaultSerializer
from ..settings import settings
from .registration import HeartbeatTTL
from .take_fallback import take_in_transaction

if TYPE_CHECKING:
    from ..executions import Execution
    from ..job import Job
    from ..queue import Queue

logger = logging.getLogger("rq.worker")

# Timings of dequeueing (see rq.settings for their meaning).
DEQUEUE_BLOCK_SLICE = settings.dequeue_block_slice
DEQUEUE_POLL_INITIAL = settings.dequeue_poll_initial
DEQUEUE_POLL_MAX = settings.dequeue_poll_max
SUSPENSION_CHECK_INTERVAL = settings.suspension_check_interval
PAUSE_CHECK_INTERVAL = settings.pause_check_interval

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
# seconds, the heartbeat TTL rule's per-interval flag (1 or 0), job monitoring interval,
# default job timeout, the worker's redelivery budget for jobs that have none ("" for none),
# the longest timeout in seconds, then the rule's unlimited TTL and grace: the script applies
# rq.worker.registration.HeartbeatTTL.ttl() with nothing elapsed.
_TAKE_SCRIPT = """
local prefix, mode, claimed = ARGV[1], ARGV[3], ARGV[4]
local worker_key, worker_name, exec_prefix, execs_prefix, exec_id = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local now_text, now_float, now = ARGV[10], ARGV[11], tonumber(ARGV[12])
local per_interval, interval, default_timeout = ARGV[13] == '1', tonumber(ARGV[14]), tonumber(ARGV[15])
local redeliveries, max_timeout = ARGV[16], tonumber(ARGV[17])
local unlimited, grace = tonumber(ARGV[18]), tonumber(ARGV[19])
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
    if not per_interval then
      if timeout == -1 then ttl = unlimited else ttl = timeout + grace end
    elseif timeout > 0 then
      ttl = math.floor(math.min(timeout, interval)) + grace
    else
      ttl = interval + grace
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


_TAKE = Script(_TAKE_SCRIPT, take_in_transaction)


class DequeueStrategy(str, Enum):
    DEFAULT = "default"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"


class TakenJobs:
    """The one place that knows whether this worker took a job off a queue and has not started it.

    A job is "taken but not started" from the moment a take call is sent until its start is
    recorded in Redis and handed to the job runner. Three moments can leave it so:

    - a take call in flight (``taking``): if its reply is lost, the start may be recorded
      in Redis without this worker knowing the job;
    - a start recorded by the take script (``took``), not yet handed to the runner, which
      takes it with ``start_recorded``;
    - a start the runner could not write (``start_failed``, a job handed to it without a
      recorded start, such as one from an overridden dequeue).

    ``recover()``, called once Redis answers again, puts such a job back on its queue
    (undoing a start recorded for it); until it succeeds the record is kept.
    """

    def __init__(self) -> None:
        # (execution id, queues, job id or "") of a take or start whose outcome is unknown.
        self._unsettled: Optional[tuple[str, list[Queue], str]] = None
        # The job whose start the last take recorded (the runner does not record it again).
        self._recorded: Optional[str] = None

    @property
    def unsettled(self) -> bool:
        return self._unsettled is not None

    def taking(self, execution_id: str, queues: list[Queue], claimed: str = "") -> None:
        self._unsettled = (execution_id, list(queues), claimed)

    def took(self, job_id: Optional[str]) -> None:
        """The take call answered: ``job_id`` is the job whose start it recorded (None: none)."""
        self._unsettled = None
        self._recorded = job_id

    def start_recorded(self, job_id: str) -> bool:
        """True (once) if the take recorded ``job_id``'s start, which then needs no other write."""
        if self._recorded != job_id:
            return False
        self._recorded = None
        return True

    def start_failed(self, queue: Queue, job_id: str, execution_id: str) -> None:
        self._unsettled = (execution_id, [queue], job_id)

    def recover(self) -> list[tuple[Queue, str]]:
        """Put the unsettled job, if Redis has it started or in an intermediate list, back on its queue."""
        from ..maintenance import return_to_queue

        if self._unsettled is None:
            return []
        execution_id, queues, job_id = self._unsettled
        returned: list[tuple[Queue, str]] = []
        if job_id:
            # Undoes a recorded start, or takes the id out of the intermediate list.
            if return_to_queue(queues[0], job_id, execution_id):
                returned.append((queues[0], job_id))
        else:
            for queue in queues:
                started_key = layout.registry_key("started", queue.name)
                for member, _ in queue.connection.zscan_iter(started_key, match=f"*:{execution_id}"):
                    taken = layout.split_composite_member(member)[0]
                    if return_to_queue(queue, taken, execution_id):
                        returned.append((queue, taken))
        self._unsettled = None  # only once the look succeeded: until then it is retried
        return returned


class DequeueOwner(Protocol):
    """What the dequeuer needs from its worker: the whole of its interface with the worker."""

    name: str
    connection: Any
    job_class: type["Job"]
    queue_class: type["Queue"]
    serializer: Any
    job_monitoring_interval: int
    redeliver_abandoned: Optional[int]
    heartbeat_ttl_rule: HeartbeatTTL

    @property
    def key(self) -> str: ...

    def get_redis_server_version(self) -> tuple: ...


class Taken(NamedTuple):
    """A job the dequeuer took, with its start recorded in Redis under ``execution``.

    ``execution`` is None for a job whose start the take could not record (a hash without
    data that still reads as a job): the runner's ``prepare_job_execution`` records it.
    """

    job: "Job"
    queue: "Queue"
    execution: Optional["Execution"]


class Dequeuer:
    """The worker's dequeuer part: takes jobs off its queues and records their start.

    It owns the dequeue strategy, the paused-queue and suspension checks, the choice
    between blocking and polling, its scripts, and ``taken`` (``TakenJobs``). The worker's
    ``dequeue_job_and_maintain_ttl`` hook runs the loop around it.
    """

    def __init__(self, owner: DequeueOwner) -> None:
        self.owner = owner
        self.strategy = DequeueStrategy.DEFAULT
        self.taken = TakenJobs()
        self.paused: frozenset[str] = frozenset()
        self._pause_checked_at = float("-inf")
        self._suspension_checked_at = float("-inf")
        self._supports_blmove: Optional[bool] = None

    @property
    def name(self) -> str:
        return self.owner.name

    @property
    def connection(self) -> Any:
        return self.owner.connection

    def reorder(self, queues: list[Queue], reference_queue: Queue) -> list[Queue]:
        """The queues in the order to try next, after a job was taken from ``reference_queue``."""
        if self.strategy == DequeueStrategy.ROUND_ROBIN:
            index = queues.index(reference_queue)
            return queues[index + 1 :] + queues[: index + 1]
        if self.strategy == DequeueStrategy.RANDOM:
            queues = list(queues)
            random.shuffle(queues)
        return queues

    def active_queues(self, queues: list[Queue]) -> list[Queue]:
        """The queues that are not paused (read from Redis at most once a second)."""
        if time.monotonic() - self._pause_checked_at >= PAUSE_CHECK_INTERVAL:
            with self.connection.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.exists(layout.paused_queue_key(queue.name))
                paused = frozenset(q.name for q, flag in zip(queues, pipe.execute()) if flag)
            self._pause_checked_at = time.monotonic()
            for name in sorted(paused - self.paused):
                logger.info("Worker %s: queue %s is paused; skipping it", self.name, name)
            for name in sorted(self.paused - paused):
                logger.info("Worker %s: queue %s is no longer paused", self.name, name)
            self.paused = paused
        return [queue for queue in queues if queue.name not in self.paused]

    def pop_ready(self, queues: list[Queue]) -> Union[None, Literal["suspended"], Taken]:
        """One non-blocking pass over the queues (in order); 'suspended' while suspended."""
        queues = self.active_queues(queues)
        if not queues:
            return None
        while True:
            found = self.take(queues)
            if found is not False:
                return found

    def take(self, queues: list[Queue], claimed: str = "") -> Union[None, Literal[False, "suspended"], Taken]:
        """Take the next job (or the ``claimed`` id from the intermediate list) and record its start.

        Returns the job, None when the queues are empty, "suspended", or False when the id
        taken could not run (its hash is gone or unreadable) and the caller should go on.
        """
        from ..executions import Execution

        owner = self.owner
        if self.taken.unsettled:
            self.recover_taken()  # a previous call was cut off: settle it first
        now = utcnow()
        execution_id = uuid.uuid4().hex
        rule, unlimited, grace = owner.heartbeat_ttl_rule.script_args()
        # Until the reply arrives, the start may be recorded in Redis without us knowing the job.
        self.taken.taking(execution_id, queues, claimed)
        check_suspension = not claimed and time.monotonic() - self._suspension_checked_at >= SUSPENSION_CHECK_INTERVAL
        if check_suspension:
            self._suspension_checked_at = time.monotonic()
        suspended_key = layout.SUSPENDED_KEY if check_suspension else ""
        redeliveries = owner.redeliver_abandoned
        reply = _TAKE(
            self.connection,
            [q.key for q in queues] + [layout.registry_key("started", q.name) for q in queues],
            [
                layout.JOB_PREFIX, suspended_key, "claim" if claimed else "pop", claimed,
                owner.key, owner.name, layout.EXECUTION_PREFIX, layout.EXECUTIONS_PREFIX, execution_id,
                format_ts(now), float_ts(now.timestamp()), int(now.timestamp()), rule,
                owner.job_monitoring_interval, owner.queue_class.DEFAULT_TIMEOUT,
                "" if redeliveries is None else redeliveries, MAX_TTL,
                unlimited, grace,
            ],
        )  # fmt: skip
        self.taken.took(None)
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
            # Not started: the hash expired (job ttl), was deleted, or has no data.
            if not raw:
                logger.debug("Worker %s: skipping job %s, its hash is gone", self.name, job_id)
                return False
            unstarted = self._job_from_hash(queue, job_id, raw)
            return Taken(unstarted, queue, None) if unstarted is not None else False
        job = self._job_from_hash(queue, job_id, raw, execution_id)
        if job is None:
            return False
        job.started_at = job.last_heartbeat = now
        job.ended_at = None
        job.worker_name = owner.name
        job._status = "started"
        if redeliveries is not None and job.max_redeliveries is None:
            job.max_redeliveries = redeliveries
        execution = Execution(execution_id, job.id, self.connection, worker_name=owner.name)
        execution.created_at = execution.last_heartbeat = now
        self.taken.took(job.id)
        return Taken(job, queue, execution)

    def claim_blocking(self, queue: Queue, timeout: float) -> Optional[Taken]:
        """Wait up to ``timeout`` for a job of ``queue`` (BLMOVE into its intermediate list), then take it."""
        job_id = as_text(self.connection.blmove(queue.key, queue.intermediate_queue_key, timeout, "LEFT", "RIGHT"))
        if job_id is None:
            return None
        found = self.take([queue], claimed=job_id)
        return found if isinstance(found, Taken) else None

    def block_slice(self) -> float:
        """How long one blocking dequeue may wait: well under the socket timeout, at most a second."""
        socket_timeout = self.connection.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is None:
            return DEQUEUE_BLOCK_SLICE
        return max(0.1, min(DEQUEUE_BLOCK_SLICE, float(socket_timeout) / 2))

    def can_block(self, queues: list[Queue]) -> bool:
        """True when a blocking move can wait for the next job (one queue, not paused, Redis >= 6.2)."""
        if len(queues) != 1 or self.paused:
            return False
        if self._supports_blmove is None:
            try:
                self._supports_blmove = self.owner.get_redis_server_version() >= (6, 2, 0)
            except ResponseError as exc:  # INFO refused (ACL rule sets often deny it) or renamed away
                logger.info(
                    "Worker %s: cannot read the Redis server version (%s); polling for jobs instead of blocking",
                    self.name,
                    exc,
                )
                self._supports_blmove = False
        return self._supports_blmove

    def recover_taken(self) -> None:
        """After Redis came back: a job this worker took but never started goes back to its queue."""
        for queue, job_id in self.taken.recover():
            logger.info(
                "Worker %s: put job %s back on %s (it was taken but could not start)", self.name, job_id, queue.name
            )

    def _job_from_hash(self, queue: Queue, job_id: str, raw: dict, execution_id: str = "") -> Optional[Job]:
        job_class, serializer = self._job_class_for(queue)
        job = job_class(job_id, connection=self.connection, serializer=serializer)
        try:
            job.restore(raw)
        except Exception as exc:
            self._fail_unreadable(queue, job_id, exc, execution_id)
            return None
        return job

    def _job_class_for(self, queue: Queue) -> tuple[type[Job], Any]:
        """The job class and serializer to read a job of ``queue`` with.

        As upstream's ``dequeue_any``, the worker's own win (so that a checking job class
        given to the worker, such as an allowlist, cannot be bypassed by handing it Queue
        objects), except that a job class derived from the worker's, or a serializer set
        on the queue while the worker has the default, is taken from the queue.
        """
        job_class = self.owner.job_class
        if isinstance(queue.job_class, type) and issubclass(queue.job_class, job_class):
            job_class = queue.job_class
        serializer = self.owner.serializer
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
        from ..job_lifecycle import fail_unreadable_job

        reason = f"Job {job_id} could not be read from Redis: {type(exc).__name__}: {exc}"
        logger.warning("Worker %s: %s; moved it to the failed registry", self.name, reason)
        try:
            fail_unreadable_job(queue, job_id, reason, execution_id)
        except ReadOnlyError:
            raise  # a failover: handled as an outage
        except ResponseError as error:
            # One write of the transaction was refused (a key of the wrong type...); the others were made.
            logger.warning("Worker %s: recording job %s as failed was incomplete: %s", self.name, job_id, error)
