"""Job functions and hooks used by the command-line tests; importable by worker processes."""

from __future__ import annotations

import os
import time
from typing import Any

from rq.job import JobStatus
from rq.worker import Worker


def add(a: Any, b: Any) -> Any:
    return a + b


def echo(*args: Any, **kwargs: Any) -> tuple:
    return args, kwargs


def fail(message: str = "cli job failed") -> None:
    raise ValueError(message)


def report_pid() -> int:
    return os.getpid()


def wait_for_file(path: str, timeout: float = 120.0) -> bool:
    """Keep the worker busy until ``path`` exists (or ``timeout`` seconds passed)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def record_exception(job: Any, exc_type: type, exc_value: BaseException, traceback: Any) -> bool:
    """Exception handler: leaves a mark in the job's meta, then lets the chain go on."""
    job.meta["handled_by"] = "tests.cli.cli_jobs.record_exception"
    job.save_meta()
    return True


def on_command_channel_event(worker: Any, event: str, exc: Any) -> None:
    """Command-channel handler; only needs to be importable."""


not_callable = 42


class FailedFirstWorker(Worker):
    """Marks a failing job failed before the exception handlers run, as upstream RQ's worker does.

    sentry-sdk's RQ integration reports a failure only if the job already looks failed when
    ``handle_exception`` is called.
    """

    def handle_exception(self, job: Any, *exc_info: Any) -> None:
        job._status = JobStatus.FAILED.value
        super().handle_exception(job, *exc_info)
