"""``Dependency``: which jobs a job waits for, and what happens when they end."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from .registered_classes import job_class
from .utils import stacklevel_outside_rq

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue

__all__ = ["Dependency", "MissingDependencyWarning"]


class MissingDependencyWarning(UserWarning):
    """A job was enqueued depending on a job that does not exist; that dependency counts as ended."""


class Dependency:
    """Wait for ``jobs`` (Job objects or ids); ``allow_failure`` also releases on failure."""

    def __init__(
        self,
        jobs: Union["Job", str, Sequence[Union["Job", str]]],
        allow_failure: bool = False,
        enqueue_at_front: bool = False,
    ) -> None:
        job_cls = job_class()
        items: list[Any] = list(jobs) if isinstance(jobs, (list, tuple)) else [jobs]
        if not items:
            raise ValueError("Dependency(jobs=...) needs at least one job or job id")
        for item in items:
            if not isinstance(item, (job_cls, str)):
                raise ValueError(f"Dependency jobs must be Job objects or job ids, got {item!r}")
        self.dependencies = items
        self.allow_failure = allow_failure
        self.enqueue_at_front = enqueue_at_front

    def __repr__(self) -> str:
        return f"Dependency({self.dependencies!r}, allow_failure={self.allow_failure})"


# Pickles name the class by upstream's path, so either implementation can load them.
Dependency.__module__ = "rq.job"


def parse_depends_on(depends_on: Any) -> tuple[list[str], Optional[Dependency]]:
    """Dependency ids of a ``depends_on`` value, and its options as one ``Dependency`` (or None).

    Options given by several ``Dependency`` objects are combined: any that is set wins, as
    in upstream RQ.
    """
    from .job_validation import validate_job_id

    job_cls = job_class()
    pending = list(depends_on) if isinstance(depends_on, (list, tuple)) else [depends_on]
    specs = []
    ids: list[str] = []
    while pending:
        item = pending.pop(0)
        if isinstance(item, Dependency):
            specs.append(item)
            pending[:0] = item.dependencies
        elif isinstance(item, job_cls):
            ids.append(item.id)
        elif isinstance(item, str):
            validate_job_id(item)
            ids.append(item)
        else:
            raise ValueError(f"depends_on items must be Job objects, job ids or Dependency, got {item!r}")
    if not specs:
        return ids, None
    combined = Dependency(
        ids,
        allow_failure=any(spec.allow_failure for spec in specs),
        enqueue_at_front=any(spec.enqueue_at_front for spec in specs),
    )
    return ids, combined


def _met_statuses(job: "Job") -> set[str]:
    from .status import JobStatus

    met = {JobStatus.FINISHED.value}
    if job.allow_dependency_failures:
        met.add(JobStatus.FAILED.value)
    return met


def _statuses(connection: Any, job_ids: list[str]) -> list[Optional[str]]:
    from .layout import as_text, job_key

    if not job_ids:
        return []
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(job_key(job_id), "status")
        return [as_text(status) for status in pipe.execute()]


def dependencies_are_met(
    job: "Job",
    parent_job: Optional["Job"] = None,
    pipeline: Any = None,
    exclude_job_id: Optional[str] = None,
    refresh_job_status: bool = True,
) -> bool:
    """True when every dependency of ``job`` is finished (or failed, with ``allow_failure``).

    A dependency whose hash is gone counts as met: it existed when the dependent was
    enqueued (that is checked), so it ended and was cleaned up.
    """
    from .layout import job_key

    ids = [dep for dep in job.dependency_ids if dep != exclude_job_id]
    met = _met_statuses(job)
    known: dict[str, Optional[str]] = {}
    if parent_job is not None and not refresh_job_status:
        known[parent_job.id] = parent_job._status
    to_read = [dep for dep in ids if dep not in known]
    if pipeline is not None and to_read and not getattr(pipeline, "explicit_transaction", False):
        # As upstream RQ: WATCH the dependencies on the caller's pipeline, whose transaction then
        # fails if one of them changes before it commits.
        pipeline.watch(*[job_key(dep) for dep in to_read])
    if pipeline is not None and getattr(pipeline, "watching", False):
        # A pipeline in WATCH mode runs commands at once: these reads are part of the watched view.
        statuses = [_as_status(pipeline.hget(job_key(dep), "status")) for dep in to_read]
    else:
        statuses = _statuses(job.connection, to_read)
    known.update(zip(to_read, statuses))
    return all(status is None or status in met for status in (known[dep] for dep in ids))


def _as_status(value: Any) -> Optional[str]:
    from .layout import as_text

    return as_text(value)


def defer_if_unmet(queue: "Queue", job: "Job", pipeline: Any = None, pending: Iterable[str] = ()) -> bool:
    """Defer ``job`` (deferred registry, dependents sets) if a dependency has not ended yet.

    Returns True when the job was deferred. A dependency that does not exist (and is not
    being enqueued in the same batch) counts as ended, as upstream RQ has it (its hash may have
    expired), with a ``MissingDependencyWarning`` since it may also be a mistyped id.
    """
    from redis import WatchError

    from .layout import QUEUES_KEY, job_key
    from .status import JobStatus

    pending_ids = set(pending)
    connection = queue.connection

    def unmet(reader: Any) -> bool:
        ids = [dep for dep in job.dependency_ids if dep not in pending_ids]
        statuses = [_as_status(reader.hget(job_key(dep), "status")) for dep in ids]
        missing = [dep for dep, status in zip(ids, statuses) if status is None and not reader.exists(job_key(dep))]
        if missing:
            warnings.warn(
                f"Job {job.id} depends on {', '.join(missing)}, which does not exist (any more): counted as ended",
                MissingDependencyWarning,
                stacklevel=stacklevel_outside_rq(),
            )
        met = _met_statuses(job)
        return len(ids) < len(job.dependency_ids) or any(
            status not in met for dep, status in zip(ids, statuses) if dep not in missing
        )

    def write_deferred(pipe: Any) -> None:
        job._status = JobStatus.DEFERRED.value
        if job.timeout is None:
            job.timeout = queue._default_timeout
        pipe.sadd(QUEUES_KEY, queue.key)
        job.save(pipeline=pipe)
        job.register_dependency(pipeline=pipe)
        if job.ttl:  # after the sets are written, so that they expire too
            for key in (job.key, job.dependents_key, job.dependencies_key):
                pipe.expire(key, job.ttl)

    if pipeline is not None:
        if not unmet(connection):
            return False
        write_deferred(pipeline)
        return True

    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(job.dependencies_key, *[job_key(dep) for dep in job.dependency_ids])
                if not unmet(pipe):
                    pipe.reset()
                    return False
                pipe.multi()
                write_deferred(pipe)
                pipe.execute()
                return True
            except WatchError:
                continue


def release_dependents(parent: "Job", pipeline: Any = None, exclude_job_id: Optional[str] = None) -> list["Job"]:
    """Enqueue the dependents of ``parent`` whose dependencies have all ended as required.

    Everything read is WATCHed (the dependents set, each dependent and its other
    dependencies), so two parents ending at once enqueue a shared dependent once.
    """
    from redis import WatchError

    from .layout import as_text, job_key

    connection = parent.connection
    if pipeline is not None:
        return _release_onto(parent, pipeline, exclude_job_id)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(parent.dependents_key)
                dependent_ids = sorted(as_text(member) for member in pipe.smembers(parent.dependents_key))
                if not dependent_ids:
                    pipe.reset()
                    return []
                pipe.watch(*[job_key(dep) for dep in dependent_ids])
                ready, done = _sort_dependents(parent, dependent_ids, exclude_job_id, watching=pipe)
                pipe.multi()
                _write_release(parent, pipe, ready, done, dependent_ids)
                pipe.execute()
                return ready
            except WatchError:
                continue


def _sort_dependents(
    parent: "Job", dependent_ids: list[str], exclude_job_id: Optional[str], watching: Any = None
) -> tuple[list["Job"], list[str]]:
    """The dependents to enqueue now, and the ids to drop from the parent's set (those and the gone).

    With ``watching`` (a pipeline in WATCH mode), each dependent's other dependencies are
    watched and read through it.
    """
    from .layout import job_key
    from .status import JobStatus

    dependents = type(parent).fetch_many(dependent_ids, parent.connection, serializer=parent.serializer)
    ready: list[Job] = []
    done: list[str] = []
    for dependent_id, dependent in zip(dependent_ids, dependents):
        if dependent is None or dependent._status != JobStatus.DEFERRED.value:
            done.append(dependent_id)
            continue
        if watching is not None:
            others = [dep for dep in dependent.dependency_ids if dep != exclude_job_id]
            if others:
                watching.watch(*[job_key(dep) for dep in others])
        if dependencies_are_met(dependent, pipeline=watching, exclude_job_id=exclude_job_id):
            ready.append(dependent)
            done.append(dependent_id)
    return ready, done


def _write_release(parent: "Job", pipe: Any, ready: list["Job"], done: list[str], dependent_ids: list[str]) -> None:
    """Queue the writes that enqueue ``ready`` and drop ``done`` from the parent's dependents set."""
    from .queue_ref import QueueRef
    from .registry import DeferredJobRegistry

    for dependent in ready:
        queue = QueueRef(dependent.origin, parent.connection, job_class=type(parent), serializer=parent.serializer)
        DeferredJobRegistry(queue=queue).remove(dependent, pipeline=pipe)
        queue._write_enqueue(dependent, pipe, at_front=bool(dependent.enqueue_at_front))
    if dependent_ids and len(done) == len(dependent_ids):
        pipe.delete(parent.dependents_key)
    elif done:
        pipe.srem(parent.dependents_key, *done)


def _release_onto(parent: "Job", pipeline: Any, exclude_job_id: Optional[str]) -> list["Job"]:
    """``release_dependents`` onto the caller's pipeline: the caller's transaction (and WATCH) decides."""
    from .layout import as_text

    dependent_ids = sorted(as_text(member) for member in parent.connection.smembers(parent.dependents_key))
    ready, done = _sort_dependents(parent, dependent_ids, exclude_job_id)
    if getattr(pipeline, "watching", False) and not pipeline.explicit_transaction:
        pipeline.multi()  # as upstream RQ: the writes wait for the caller's execute()
    _write_release(parent, pipeline, ready, done, dependent_ids)
    return ready
