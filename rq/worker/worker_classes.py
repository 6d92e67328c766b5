"""The worker variants: ``SimpleWorker`` (no fork), ``SpawnWorker`` (a fresh interpreter per
job), ``RoundRobinWorker`` and ``RandomWorker`` (a fixed dequeue strategy) and
``HerokuWorker`` (warns the job before the platform kills it). Import them from ``rq.worker``
or ``rq``; the main loop they share is in ``rq.worker.base``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any, Optional

from ..executions import Execution
from ..job import Job
from ..queue import Queue
from .base import BaseWorker, Worker, WorkerStatus, logger
from .dequeuer import DequeueStrategy
from .horse import signal_name
from .registration import NO_HEARTBEATS_WHILE_RUNNING

__all__ = ["HerokuWorker", "RandomWorker", "RoundRobinWorker", "SimpleWorker", "SpawnWorker"]


class SpawnWorker(Worker):
    """Runs each job in a freshly started interpreter instead of a fork (for code that is not fork-safe)."""

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        from ..spawn_horse import spawn_request

        read_end, write_end = os.pipe()
        env = {**os.environ, "RQ_WORKER_ID": self.name, "RQ_JOB_ID": job.id}
        if self.execution is not None:
            env["RQ_EXECUTION_ID"] = self.execution.id
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "rq.spawn_horse", str(write_end)],
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
                env=env,
                start_new_session=True,  # its own process group, like a forked horse
            )
        finally:
            os.close(write_end)
        self._report_fd = read_end
        process.returncode = 0  # reaped by wait_for_horse, not by Popen
        self.procline(f"Spawned {process.pid} at {time.time():.0f}")
        self.horse_started(job, process.pid)
        try:
            process.stdin.write(spawn_request(self, job, queue))  # type: ignore[union-attr]
            process.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # killed before it read its job (stop-job or kill-horse): the monitor records that


class SimpleWorker(BaseWorker):
    """Runs jobs in the worker's own process (no fork): faster, but a crashing job takes it down."""

    _current: Optional[tuple[Job, Queue]] = None

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.start_job(job)
        self._current = (job, queue)
        try:
            self.perform_job(job, queue)
        finally:
            self._current = None
        self._state = WorkerStatus.IDLE.value

    # No heartbeats while the job runs in this process: the entries must outlive the job.
    heartbeat_ttl_rule = NO_HEARTBEATS_WHILE_RUNNING

    # On RQ 1.x SimpleWorker subclasses Worker, so integrations that wrap Worker's methods
    # (sentry-sdk's RQ integration replaces Worker.perform_job and handle_exception) cover it:
    # a replacement found on Worker is called here too.
    def perform_job(self, job: Job, queue: Queue, execution: Optional[Execution] = None) -> bool:
        """Run the job and record its outcome (through a wrapper installed on ``Worker``, if any)."""
        if execution is not None:
            self.execution = execution
        wrapper = Worker.__dict__.get("perform_job")
        if wrapper is not None:
            return bool(wrapper(self, job, queue))
        return super().perform_job(job, queue)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """Call the exception handlers (through a wrapper installed on ``Worker``, if any)."""
        wrapper = Worker.__dict__.get("handle_exception")
        if wrapper is not None:
            wrapper(self, job, *exc_info)
            return
        super().handle_exception(job, *exc_info)

    def handle_cold_shutdown(self) -> None:
        if self._current is not None:
            job, queue = self._current
            self._current = None
            self._record_cold_shutdown(job, queue)


class RoundRobinWorker(Worker):
    """Takes from each queue in turn (same as ``--dequeue-strategy round_robin``)."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs["dequeue_strategy"] = DequeueStrategy.ROUND_ROBIN
        return super().work(*args, **kwargs)


class RandomWorker(Worker):
    """Takes from the queues in random order (same as ``--dequeue-strategy random``)."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs["dequeue_strategy"] = DequeueStrategy.RANDOM
        return super().work(*args, **kwargs)


class HerokuWorker(Worker):
    """On warm shutdown, warns the running job with ``ShutDownImminentException`` before the platform kills it."""

    imminent_shutdown_delay = 6
    frame_properties = ["f_code", "f_lasti", "f_lineno", "f_locals", "f_trace"]

    def setup_work_horse_signals(self) -> None:
        signal.signal(signal.SIGRTMIN, self.request_stop_sigrtmin)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def handle_warm_shutdown_request(self) -> None:
        """Record the request, then send the horse SIGRTMIN so its job gets ``ShutDownImminentException``."""
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            logger.info("Worker %s: warning horse %s of the imminent shutdown", self.name, self.horse_pid)
            self.kill_horse(sig=signal.SIGRTMIN)
        else:
            logger.warning("Worker %s: warm shut down requested, no horse found", self.name)

    def request_stop_sigrtmin(self, signum: Any, frame: Any) -> None:
        if self.imminent_shutdown_delay == 0:
            self.raise_shutdown_imminent(signum, frame)
        else:
            signal.signal(signal.SIGALRM, self.raise_shutdown_imminent)
            signal.alarm(self.imminent_shutdown_delay)

    def raise_shutdown_imminent(self, signum: Any, frame: Any) -> None:
        from ..exceptions import ShutDownImminentException

        details = {prop: getattr(frame, prop, None) for prop in self.frame_properties}
        raise ShutDownImminentException(f"shut down imminent (signal: {signal_name(signum)})", details)
