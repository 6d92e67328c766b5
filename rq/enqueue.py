"""Putting jobs on a queue: ``enqueue`` and its variants, scheduling, and synchronous mode.

``Enqueueing`` is the part of ``Queue`` that builds jobs from a call and writes them in
upstream RQ 2.x's layout: an enqueue is one atomic write (one round trip), a batch of
``enqueue_many`` is one more, and nothing is written when a job cannot be built.
"""

from __future__ import annotations

import logging
import traceback
import warnings
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Optional, cast

from redis import WatchError

from . import layout, queue_writes
from .batch import AtomicBatch
from .exceptions import DuplicateJobError
from .job import Job, JobStatus
from .job_validation import UnimportableFunctionWarning
from .layout import utcnow
from .tracing import store_trace_headers

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

    from .queue import Queue


__all__ = ["EnqueueData", "Enqueueing"]

logger = logging.getLogger("rq.queue")

_RESERVED_KWARGS = (
    "job_timeout",
    "description",
    "result_ttl",
    "ttl",
    "failure_ttl",
    "depends_on",
    "job_id",
    "at_front",
    "meta",
    "retry",
    "repeat",
    "on_success",
    "on_failure",
    "on_stopped",
    "pipeline",
    "unique",
    "webhooks",
    "redeliver_abandoned",
)


class EnqueueData(NamedTuple):
    """One item of ``Queue.enqueue_many``; build it with ``Queue.prepare_data``."""

    func: Any
    args: Any
    kwargs: Any
    timeout: Any
    result_ttl: Any
    ttl: Any
    failure_ttl: Any
    description: Any
    depends_on: Any
    job_id: Any
    at_front: Any
    meta: Any
    retry: Any
    on_success: Any
    on_failure: Any
    on_stopped: Any
    repeat: Any = None
    webhooks: Any = None


class Enqueueing:
    """Enqueueing methods of ``Queue`` (mixed into it)."""

    name: str
    connection: "Redis"
    job_class: type[Job]
    serializer: Any
    death_penalty_class: Any
    _default_timeout: int
    _is_async: bool

    if TYPE_CHECKING:  # defined by Queue; these methods run only as methods of a Queue

        @property
        def key(self) -> str: ...

        def push_job_id(self, job_id: str, pipeline: Optional["Pipeline"] = None, at_front: bool = False) -> None: ...

    @classmethod
    def parse_args(cls, f: Any, *args: Any, **kwargs: Any) -> tuple:
        """Split ``enqueue``'s arguments into the reserved options and the call's own arguments."""
        options = {name: kwargs.pop(name, None) for name in _RESERVED_KWARGS}
        options["at_front"] = bool(options["at_front"])
        options["unique"] = bool(options["unique"])
        if "args" in kwargs or "kwargs" in kwargs:
            assert args == (), "Extra positional arguments cannot be used when using explicit args and kwargs"
            args = kwargs.pop("args", None) or ()
            kwargs = kwargs.pop("kwargs", None) or {}
        return f, args, kwargs, options

    @staticmethod
    def prepare_data(
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        at_front: bool = False,
        meta: Any = None,
        retry: Any = None,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        repeat: Any = None,
        webhooks: Any = None,
    ) -> EnqueueData:
        return EnqueueData(
            func,
            args,
            kwargs,
            timeout,
            result_ttl,
            ttl,
            failure_ttl,
            description,
            depends_on,
            job_id,
            at_front,
            meta,
            retry,
            on_success,
            on_failure,
            on_stopped,
            repeat,
            webhooks,
        )

    def create_job(
        self,
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        meta: Any = None,
        status: JobStatus = JobStatus.QUEUED,
        retry: Any = None,
        repeat: Any = None,
        *,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        webhooks: Any = None,
        group_id: Optional[str] = None,
        redeliver_abandoned: Optional[int] = None,
    ) -> Job:
        """Build a job for this queue without enqueueing it.

        Unlike ``Job.create``, the call and meta are serialized here, so that what the serializer
        cannot handle fails before anything is written. An in-process queue (``is_async=False``)
        does not warn about functions a worker could not import: it never imports them.
        """
        with warnings.catch_warnings():
            if not self._is_async:
                warnings.simplefilter("ignore", UnimportableFunctionWarning)
            job = self._build_job(
                func, args, kwargs, timeout, result_ttl, ttl, failure_ttl, description, depends_on, job_id, meta,
                status, retry, repeat, on_success=on_success, on_failure=on_failure, on_stopped=on_stopped,
                webhooks=webhooks, group_id=group_id, redeliver_abandoned=redeliver_abandoned,
            )  # fmt: skip
        job.check_serializable()
        return job

    def _build_job(
        self,
        func: Any,
        args: Any,
        kwargs: Any,
        timeout: Any,
        result_ttl: Any,
        ttl: Any,
        failure_ttl: Any,
        description: Any,
        depends_on: Any,
        job_id: Any,
        meta: Any,
        status: JobStatus,
        retry: Any,
        repeat: Any,
        *,
        on_success: Any,
        on_failure: Any,
        on_stopped: Any,
        webhooks: Any,
        group_id: Optional[str],
        redeliver_abandoned: Optional[int],
    ) -> Job:
        return self.job_class.create(
            func,
            args=args,
            kwargs=kwargs,
            connection=self.connection,
            result_ttl=result_ttl,
            ttl=ttl,
            status=status,
            description=description,
            depends_on=depends_on,
            timeout=self._default_timeout if timeout is None else timeout,
            retry=retry,
            id=job_id,
            origin=self.name,
            meta=meta,
            failure_ttl=failure_ttl,
            serializer=self.serializer,
            group_id=group_id,
            on_success=on_success,
            on_failure=on_failure,
            on_stopped=on_stopped,
            webhooks=webhooks,
            repeat=repeat,
            redeliver_abandoned=redeliver_abandoned,
        )

    def enqueue_call(
        self,
        func: Any,
        args: Any = None,
        kwargs: Any = None,
        timeout: Any = None,
        result_ttl: Any = None,
        ttl: Any = None,
        failure_ttl: Any = None,
        description: Any = None,
        depends_on: Any = None,
        job_id: Any = None,
        at_front: bool = False,
        meta: Any = None,
        retry: Any = None,
        repeat: Any = None,
        on_success: Any = None,
        on_failure: Any = None,
        on_stopped: Any = None,
        pipeline: Optional["Pipeline"] = None,
        unique: bool = False,
        webhooks: Any = None,
        *,
        redeliver_abandoned: Optional[int] = None,
    ) -> Job:
        """Create a job for ``func(*args, **kwargs)`` and enqueue it (or defer it on dependencies).

        ``redeliver_abandoned=N`` (this fork's extension): if the worker running it dies, put
        the job back on its queue up to N times instead of failing it.
        """
        if unique and job_id is None:
            raise ValueError("unique=True needs an explicit job_id")
        if unique and depends_on is not None:
            raise ValueError("unique=True is not supported with job dependencies (depends_on)")
        job = self.create_job(
            func,
            args=args,
            kwargs=kwargs,
            timeout=timeout,
            result_ttl=result_ttl,
            ttl=ttl,
            failure_ttl=failure_ttl,
            description=description,
            depends_on=depends_on,
            job_id=job_id,
            meta=meta,
            retry=retry,
            repeat=repeat,
            on_success=on_success,
            on_failure=on_failure,
            on_stopped=on_stopped,
            webhooks=webhooks,
            redeliver_abandoned=redeliver_abandoned,
        )
        return self.enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=unique)

    def enqueue(self, f: Any, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``f(*args, **kwargs)``; reserved keywords (job_timeout, result_ttl, ...) configure the job."""
        f, args, kwargs, options = self.parse_args(f, *args, **kwargs)
        return self.enqueue_call(
            func=f,
            args=args,
            kwargs=kwargs,
            timeout=options["job_timeout"],
            result_ttl=options["result_ttl"],
            ttl=options["ttl"],
            failure_ttl=options["failure_ttl"],
            description=options["description"],
            depends_on=options["depends_on"],
            job_id=options["job_id"],
            at_front=options["at_front"],
            meta=options["meta"],
            retry=options["retry"],
            repeat=options["repeat"],
            on_success=options["on_success"],
            on_failure=options["on_failure"],
            on_stopped=options["on_stopped"],
            pipeline=options["pipeline"],
            unique=options["unique"],
            webhooks=options["webhooks"],
            redeliver_abandoned=options["redeliver_abandoned"],
        )

    def enqueue_job(
        self, job: Job, pipeline: Optional["Pipeline"] = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        """Enqueue an existing job: defer it if its dependencies are unmet, run it inline if not async."""
        from .dependency import defer_if_unmet

        if unique and (job._id is None or job.dependency_ids):
            raise ValueError("unique=True needs an explicit job_id and cannot be combined with depends_on")
        job.origin = self.name
        if pipeline is not None:
            self._begin_callers_transaction(job, pipeline)
        if job.dependency_ids and defer_if_unmet(cast("Queue", self), job, pipeline=pipeline):
            return job
        if unique and self._is_async:
            self._write_unique(job, lambda pipe: self._write_enqueue(job, pipe, at_front=at_front))
            return job
        if unique:
            self._write_unique(job, lambda pipe: job.save(pipeline=pipe))
        if not self._is_async:
            return self.run_sync(job)
        return self._enqueue_job(job, pipeline=pipeline, at_front=at_front)

    @staticmethod
    def _begin_callers_transaction(job: Job, pipeline: "Pipeline") -> None:
        """As upstream RQ: WATCH the job's dependencies on the caller's pipeline, then start its MULTI.

        The writes of this enqueue then wait for the caller's ``execute()`` even when the caller had
        put the pipeline in WATCH mode, and fail with WatchError if a dependency changed meanwhile.
        """
        if pipeline.explicit_transaction or (pipeline.command_stack and not pipeline.watching):
            return
        if job.dependency_ids:
            pipeline.watch(job.dependencies_key, *[layout.job_key(dep) for dep in job.dependency_ids])
        pipeline.multi()

    def _enqueue_job(
        self, job: Job, pipeline: Optional["Pipeline"] = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        """Put ``job`` on this queue without looking at its dependencies (as upstream's private helper)."""
        own = pipeline is None
        pipe: Any = AtomicBatch(self.connection) if own else pipeline
        self._write_enqueue(job, pipe, at_front=at_front)
        pipe.zrem(layout.registry_key("deferred", self.name), job.id)  # a deferred job is deferred no more
        if own:
            pipe.execute(replies=False)
        return job

    def _prepare_for_queue(self, job: Job) -> None:
        """Set what enqueueing sets on ``job`` (origin, enqueued_at, timeout, status), writing nothing."""
        job.origin = self.name
        job.enqueued_at = utcnow()
        if job.timeout is None:
            job.timeout = self._default_timeout
        job._status = JobStatus.QUEUED.value

    def _write_enqueue(self, job: Job, pipe: "Pipeline", at_front: bool = False, push: bool = True) -> None:
        """Queue the writes of one enqueue on ``pipe``: register queue, save job, push its id.

        With ``push=False`` the caller registers the queue and pushes the id itself (batches).
        """
        if push:
            queue_writes.register_queue(pipe, self.name)
        queue_writes.write_queued_job(pipe, job, self.name, self._default_timeout)
        if push:
            self.push_job_id(job.id, pipeline=pipe, at_front=at_front)

    def _write_unique(self, job: Job, write: Callable[[Any], Any]) -> None:
        """Run ``write(pipe)`` in one transaction, only if no job with this id exists yet."""
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(job.key)
                    if pipe.exists(job.key):
                        raise DuplicateJobError(f"Job {job.id} already exists")
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return
                except WatchError:
                    continue

    def enqueue_many(
        self, job_datas: Iterable[EnqueueData], pipeline: Optional["Pipeline"] = None, group_id: Optional[str] = None
    ) -> list[Job]:
        """Enqueue many jobs in one pipeline; a job may depend on another job of the same batch."""
        job_datas = list(job_datas)
        jobs = [
            self.create_job(
                data.func,
                args=data.args,
                kwargs=data.kwargs,
                timeout=data.timeout,
                result_ttl=data.result_ttl,
                ttl=data.ttl,
                failure_ttl=data.failure_ttl,
                description=data.description,
                depends_on=data.depends_on,
                job_id=data.job_id,
                meta=data.meta,
                retry=data.retry,
                repeat=data.repeat,
                on_success=data.on_success,
                on_failure=data.on_failure,
                on_stopped=data.on_stopped,
                webhooks=data.webhooks,
                group_id=group_id,
            )
            for data in job_datas
        ]
        fronts = [bool(data.at_front) for data in job_datas]
        duplicates = sorted({job.id for job in jobs if sum(other.id == job.id for other in jobs) > 1})
        if duplicates:
            raise ValueError(f"enqueue_many() got the same job_id more than once: {', '.join(duplicates)}")
        if not self._is_async:
            return [self.enqueue_job(job) for job in jobs]
        from .dependency import defer_if_unmet

        own = pipeline is None
        pipe: Any = AtomicBatch(self.connection) if own else pipeline
        batch_ids = [job.id for job in jobs]
        pipe.sadd(layout.QUEUES_KEY, self.key)
        to_push = []
        deferred: list[Job] = []
        for job, at_front in zip(jobs, fronts):
            job.origin = self.name
            store_trace_headers(job)  # as Queue.enqueue_job does under Sentry's RQ integration
            if job.dependency_ids and defer_if_unmet(cast("Queue", self), job, pipeline=pipe, pending=batch_ids):
                deferred.append(job)
            else:
                self._write_enqueue(job, pipe, push=False)
                if at_front:
                    pipe.lpush(self.key, job.id)
                else:
                    to_push.append(job.id)
        if to_push:  # one push keeps their order, after the at_front ones went to the head
            pipe.rpush(self.key, *to_push)
        if group_id is not None:
            pipe.sadd(layout.group_key(group_id), *[job.id for job in jobs])
            pipe.sadd(layout.GROUPS_KEY, group_id)
        if own:
            pipe.execute(replies=False)
        # As upstream RQ orders them: without dependencies, then deferred, then released at once.
        return (
            [job for job in jobs if not job.dependency_ids]
            + deferred
            + [job for job in jobs if job.dependency_ids and job not in deferred]
        )

    def enqueue_at(self, datetime: Optional[datetime] = None, f: Any = None, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``f(*args, **kwargs)`` for ``datetime`` (naive = local time).

        ``datetime_=`` is accepted as an older spelling of ``datetime=``.
        """
        if datetime is None:
            datetime = kwargs.pop("datetime_", None)
        if datetime is None:
            raise TypeError("enqueue_at() needs the datetime to run the job at")
        f, args, kwargs, options = self.parse_args(f, *args, **kwargs)
        job = self.create_job(
            f,
            args=args,
            kwargs=kwargs,
            timeout=options["job_timeout"],
            result_ttl=options["result_ttl"],
            ttl=options["ttl"],
            failure_ttl=options["failure_ttl"],
            description=options["description"],
            depends_on=options["depends_on"],
            job_id=options["job_id"],
            meta=options["meta"],
            status=JobStatus.SCHEDULED,
            retry=options["retry"],
            repeat=options["repeat"],
            on_success=options["on_success"],
            on_failure=options["on_failure"],
            on_stopped=options["on_stopped"],
            webhooks=options["webhooks"],
            redeliver_abandoned=options["redeliver_abandoned"],
        )
        if options["at_front"]:
            job.enqueue_at_front = True
        return self.schedule_job(job, datetime, pipeline=options["pipeline"])

    def enqueue_in(self, time_delta: timedelta, f: Any, *args: Any, **kwargs: Any) -> Job:
        """Schedule ``f(*args, **kwargs)`` to run ``time_delta`` from now."""
        return self.enqueue_at(datetime.now(timezone.utc) + time_delta, f, *args, **kwargs)

    def schedule_job(
        self,
        job: Job,
        datetime: Optional[datetime] = None,
        pipeline: Optional["Pipeline"] = None,
        unique: bool = False,
        *,
        datetime_: Optional[datetime] = None,
    ) -> Job:
        """Save ``job`` as scheduled and add it to the scheduled registry, in one transaction.

        ``datetime_=`` is accepted as an older spelling of ``datetime=``.
        """
        datetime_ = datetime if datetime is not None else datetime_
        if datetime_ is None:
            raise TypeError("schedule_job() needs the datetime to run the job at")
        if unique:
            if job._id is None:
                raise ValueError("unique=True needs an explicit job_id")
            self._write_unique(job, lambda pipe: self.schedule_job(job, datetime_, pipeline=pipe))
            return job
        from .registry import ScheduledJobRegistry

        own = pipeline is None
        pipe: Any = self.connection.pipeline() if own else pipeline
        job.origin = self.name
        job._status = JobStatus.SCHEDULED.value
        if job.timeout is None:
            job.timeout = self._default_timeout
        store_trace_headers(job)  # the scheduler later enqueues it with its meta as stored
        pipe.sadd(layout.QUEUES_KEY, self.key)
        job.save(pipeline=pipe)
        if job.ttl:
            pipe.expire(job.key, job.ttl)
        ScheduledJobRegistry(queue=cast("Queue", self)).schedule(job, datetime_, pipeline=pipe)
        if own:
            pipe.execute()
        return job

    def enqueue_dependents(
        self,
        job: Job,
        pipeline: Optional["Pipeline"] = None,
        exclude_job_id: Optional[str] = None,
        refresh_job_status: bool = True,
    ) -> list[Job]:
        """Enqueue the dependents of ``job`` whose dependencies are now all met."""
        from .dependency import release_dependents

        return release_dependents(job, pipeline=pipeline, exclude_job_id=exclude_job_id)

    def setup_dependencies(self, job: Job, pipeline: Optional["Pipeline"] = None) -> Job:
        from .dependency import defer_if_unmet

        defer_if_unmet(cast("Queue", self), job, pipeline=pipeline)
        return job

    # ---- synchronous mode ----------------------------------------------------

    def run_job(self, job: Job) -> Job:
        return self.run_sync(job)

    def run_sync(self, job: Job) -> Job:
        """Run the job in this process (``is_async=False``) and record its outcome like a worker would."""
        from .job_lifecycle import record_failure, record_success

        with self.connection.pipeline() as pipe:
            job._status = JobStatus.STARTED.value
            job.started_at = utcnow()
            job.origin = self.name
            job.save(pipeline=pipe)
            pipe.execute()
        try:
            return_value = job.perform()
        except Exception:
            exc_string = traceback.format_exc()
            job.ended_at = utcnow()
            record_failure(
                job,
                cast("Queue", self),
                exc_string=exc_string,
                exc_info=None,
                worker_name="",
                death_penalty_class=self.death_penalty_class,
                raise_callback_error=True,
            )
            logger.info("Job %s failed in synchronous mode", job.id)
        else:
            job.ended_at = utcnow()
            queue = cast("Queue", self)
            record_success(job, queue, return_value, worker_name="", death_penalty_class=self.death_penalty_class)
        return job
