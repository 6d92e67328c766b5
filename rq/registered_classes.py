"""The base ``Job`` and ``Queue`` classes, for modules below them that need them at run time.

Primitives layer. ``rq.job`` and ``rq.queue`` register their class here when they load
(importing any ``rq`` module loads ``rq/__init__``, which loads both), so a registry, an
execution or a helper can build a ``Job`` or recognise a ``Queue`` without importing the
module above it: imports point down only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue

__all__ = ["job_class", "queue_class", "register_job_class", "register_queue_class"]

_job_class: Optional[type["Job"]] = None
_queue_class: Optional[type["Queue"]] = None


def register_job_class(cls: type["Job"]) -> None:
    """Called once by ``rq.job`` with ``Job``."""
    global _job_class
    _job_class = cls


def register_queue_class(cls: type["Queue"]) -> None:
    """Called once by ``rq.queue`` with ``Queue``."""
    global _queue_class
    _queue_class = cls


def job_class() -> type["Job"]:
    """``rq.job.Job``."""
    if _job_class is None:
        raise RuntimeError("rq.job has not been imported yet")
    return _job_class


def queue_class() -> type["Queue"]:
    """``rq.queue.Queue``."""
    if _queue_class is None:
        raise RuntimeError("rq.queue has not been imported yet")
    return _queue_class
