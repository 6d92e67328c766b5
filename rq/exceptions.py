"""Exceptions raised by rq, importable from ``rq.exceptions`` as in upstream RQ."""

from __future__ import annotations


class NoSuchJobError(Exception):
    """The job hash does not exist in Redis (or has no ``data`` field)."""


class DeserializationError(Exception):
    """A stored payload could not be decoded with the configured serializer."""


class SerializationError(ValueError):
    """Job data could not be encoded with the configured serializer; nothing was written."""


class InvalidJobDependency(Exception):
    """A dependency names a job that cannot be depended on."""


class InvalidJobOperationError(Exception):
    """Kept for code written against RQ 1.x."""


class InvalidJobOperation(Exception):
    """The operation does not fit the job's current state."""


class DequeueTimeout(Exception):
    """A blocking dequeue returned nothing within its timeout."""


class ShutDownImminentException(BaseException):
    """Raised in a work horse that is about to be killed (HerokuWorker)."""

    def __init__(self, msg: str, extra_info: dict | None = None) -> None:
        self.extra_info = extra_info or {}
        super().__init__(msg)


class TimeoutFormatError(Exception):
    """A timeout or TTL value is neither a number nor ``<int><d|h|m|s>``."""


class AbandonedJobError(Exception):
    """A started job whose worker stopped heartbeating."""


class NoSuchGroupError(Exception):
    """The group does not exist in Redis."""


class DuplicateJobError(Exception):
    """``unique=True`` and a job with that id already exists."""


class SchedulerNotFound(Exception):
    """No scheduler metadata exists under that name."""


class DuplicateSchedulerError(Exception):
    """A scheduler with that name is already registered."""


class StopRequested(Exception):
    """Raised inside the worker loop when a stop was requested."""
