"""Status values of jobs, stored as text in the job hash's ``status`` field."""

from __future__ import annotations

from enum import Enum


class JobStatus(str, Enum):
    CREATED = "created"
    QUEUED = "queued"
    FINISHED = "finished"
    FAILED = "failed"
    STARTED = "started"
    DEFERRED = "deferred"
    SCHEDULED = "scheduled"
    STOPPED = "stopped"
    CANCELED = "canceled"

    def __str__(self) -> str:
        return self.value


# Pickles name the class by upstream's path, so either implementation can load them.
JobStatus.__module__ = "rq.job"
