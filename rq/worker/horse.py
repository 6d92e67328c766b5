"""The forking model: each job runs in a child process (the work horse) that the worker watches.

``WorkHorse`` is the part of ``Worker`` that forks the horse, keeps the job's heartbeats
going while it runs, kills it when asked (or when it overruns its timeout by 60 s), and
records the job as failed when the horse dies without recording an outcome itself.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import random
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Optional, cast

from ..defaults import UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from ..exceptions import StopRequested
from ..layout import format_ts, utcnow
from ..settings import settings
from ..status import JobStatus

if TYPE_CHECKING:
    from redis.client import Pipeline

    from ..executions import Execution
    from ..job import Job
    from ..queue import Queue
    from ..registry import StartedJobRegistry
    from ..resilience import Outage, RetryLoop

logger = logging.getLogger("rq.worker")

# Signal used to kill a work horse (cold shutdown, kill-horse and stop-job commands).
SHUTDOWN_SIGNAL = signal.SIGKILL
# Seconds a horse may run past its job timeout before the worker kills it.
HORSE_OVERRUN_GRACE = settings.horse_overrun_grace
# How often the worker checks on a horse that has not reported yet (heartbeats are less often).
REPORT_POLL_INTERVAL = settings.report_poll_interval


def _own_process_group(pid: int) -> None:
    """Put the horse (``pid``, or 0 for this process) in a process group of its own."""
    try:
        os.setpgid(pid, 0 if pid == 0 else pid)
    except OSError:
        pass  # the child already did it, or already exited


def _die_with_parent() -> None:
    """On Linux, have the kernel kill the horse if the worker dies (e.g. SIGKILL of the worker).

    A horse left without its worker keeps running unwatched, with no heartbeats, and its job is
    then recorded both as abandoned and as finished; dying with the worker keeps it abandoned.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except (ValueError, AttributeError):
        return f"SIG_UNKNOWN({signum})"


class WorkHorse:
    """Fork-per-job execution; mixed into ``Worker``."""

    _horse_pid: int = 0
    _is_horse: bool = False
    _stopped_job_id: Optional[str] = None  # stop-job received for this job
    _killed_job_id: Optional[str] = None  # kill-horse received while this job had no horse yet
    _report_fd: int = -1
    name: str
    connection: Any
    job_monitoring_interval: int
    work_horse_killed_handler: Any
    execution: Optional["Execution"]
    connection_outage: "Outage"
    redis_loop: "RetryLoop"
    outcome_writes: "RetryLoop"
    last_loop_at: float

    if TYPE_CHECKING:  # defined by the other parts of the worker classes

        @property
        def key(self) -> str: ...

        def procline(self, message: str) -> None: ...

        def start_job(self, job: "Job") -> None: ...

        def perform_job(self, job: "Job", queue: "Queue", execution: Optional["Execution"] = None) -> bool: ...

        def get_heartbeat_ttl(self, job: "Job", working_time: Optional[float] = None) -> int: ...

        def _started_registry(self, job: "Job") -> "StartedJobRegistry": ...

        def handle_stopped_job(self, job: "Job", queue: "Queue") -> None: ...

        def heartbeat(self, timeout: Optional[int] = None, pipeline: Optional["Pipeline"] = None) -> None: ...

        def reregister(self) -> None: ...

        def get_current_job_id(self, pipeline: Optional["Pipeline"] = None) -> Optional[str]: ...

    @property
    def horse_pid(self) -> int:
        return self._horse_pid

    @property
    def is_horse(self) -> bool:
        return self._is_horse

    def execute_job(self, job: "Job", queue: "Queue") -> None:
        """Start the job (in this process, one transaction), then fork the horse and watch it."""
        self.start_job(job)
        self.fork_work_horse(job, queue)
        self.monitor_work_horse(job, queue)
        self._state = "idle"  # the horse wrote it with the job's outcome

    def fork_work_horse(self, job: "Job", queue: "Queue") -> None:
        os.environ["RQ_WORKER_ID"] = self.name
        os.environ["RQ_JOB_ID"] = job.id
        read_end, write_end = os.pipe()
        child_pid = os.fork()
        if child_pid == 0:
            os.close(read_end)
            self._report_fd = write_end
            _own_process_group(0)
            self.main_work_horse(job, queue)
            os._exit(0)  # pragma: no cover - main_work_horse exits itself
        os.close(write_end)
        self._report_fd = read_end
        # Both sides set the group, so a kill right after the fork can never reach ours.
        _own_process_group(child_pid)
        self.procline(f"Forked {child_pid} at {time.time():.0f}")
        self.horse_started(job, child_pid)

    def horse_started(self, job: "Job", pid: int) -> None:
        """Note the new horse, and kill it at once if a command for its job came before it existed."""
        self._horse_pid = pid
        # The command handlers set their flag before they look at the pid, and this looks at
        # the flags after setting it: whichever runs second sees the other.
        if job.id in (self._stopped_job_id, self._killed_job_id):
            self.kill_horse()

    def setup_work_horse_signals(self) -> None:
        """The horse ignores SIGINT (the worker decides) and dies on SIGTERM."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def main_work_horse(self, job: "Job", queue: "Queue") -> None:
        """Entry point of the child process: perform the job, then exit without cleanup handlers."""
        random.seed()
        self._is_horse = True
        exit_code = 0
        try:
            # Inside the try: whatever raises here must end this child, never return into the worker's code.
            _die_with_parent()
            self.setup_work_horse_signals()
            self.perform_job(job, queue)
        except BaseException:
            logger.exception("Worker %s: work horse failed while recording job %s", self.name, job.id)
            exit_code = 1
        finally:
            os._exit(exit_code)

    def wait_for_horse(self) -> tuple[Optional[int], Optional[int], Any]:
        """Wait for the horse to exit: (pid, wait status, rusage); (None, None, None) if already reaped."""
        try:
            pid, status, rusage = os.wait4(self._horse_pid, 0)
        except ChildProcessError:
            return None, None, None
        return pid, status, rusage

    def kill_horse(self, sig: int = SHUTDOWN_SIGNAL) -> None:
        """Kill the horse's whole process group (it may have children of its own)."""
        if not self._horse_pid:
            return
        try:
            if os.getpgid(self._horse_pid) == self._horse_pid:
                os.killpg(self._horse_pid, sig)
            else:  # not (yet) in its own group: never signal the group it shares with us
                os.kill(self._horse_pid, sig)
            logger.info("Worker %s: killed horse pid %s", self.name, self._horse_pid)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
            logger.debug("Worker %s: horse already dead", self.name)

    def maintain_heartbeats(self, job: "Job", execution: Optional["Execution"] = None) -> None:
        """Refresh the worker, execution and started-registry TTLs while the horse runs.

        ``execution``: the run to refresh (RQ 3.x passes it); by default the worker's current one.
        """
        if execution is not None:
            self.execution = execution
        ttl = self.get_heartbeat_ttl(job)
        now = utcnow()
        working = (now - job.started_at).total_seconds() if job.started_at else 0.0
        with self.connection.pipeline() as pipe:
            self.heartbeat(ttl, pipeline=pipe)
            pipe.hset(self.key, "current_job_working_time", working)
            execution = self.execution
            if execution is not None:
                execution.heartbeat(self._started_registry(job), ttl, pipeline=pipe)
            pipe.hset(job.key, "last_heartbeat", format_ts(now))
            results = pipe.execute()
        if not results[0]:
            self.reregister()
        if results[-1] == 1:  # the HSET created the hash: the job was deleted meanwhile
            self.connection.delete(job.key)

    # ---- the horse reports its outcome; the worker writes it ----------------------------------

    def handle_job_success(
        self, job: "Job", queue: "Queue", started_job_registry: Any = None, execution: Optional["Execution"] = None
    ) -> None:
        """In the horse, report the success to the worker; in the worker, record it."""
        if self.is_horse:
            self.report_success(job)
        else:
            cast(Any, super()).handle_job_success(job, queue, started_job_registry, execution)

    def handle_job_failure(
        self,
        job: "Job",
        queue: "Queue",
        started_job_registry: Any = None,
        exc_string: str = "",
        status: JobStatus = JobStatus.FAILED,
        execution: Optional["Execution"] = None,
    ) -> None:
        """In the horse, report the failure to the worker; in the worker, record it."""
        if self.is_horse:
            self.report_failure(job, exc_string, status)
        else:
            cast(Any, super()).handle_job_failure(job, queue, started_job_registry, exc_string, status, execution)

    def report_success(self, job: "Job") -> None:
        """In the horse: send the job's success (and return value) to the worker, which records it."""
        self._report(job, {"outcome": "success", "ended_at": job.ended_at, "return_value": job._cached_return_value})

    def report_failure(self, job: "Job", exc_string: str, status: JobStatus) -> None:
        """In the horse: send the job's failure to the worker, which records it."""
        self._report(
            job, {"outcome": "failure", "ended_at": job.ended_at, "exc_string": exc_string, "status": status.value}
        )

    def _report(self, job: "Job", message: dict) -> None:
        """Send the job's outcome to the worker; the horse itself needs no Redis connection."""
        try:
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            logger.warning(
                "Worker %s: the return value of job %s cannot be serialized (%s: %s); storing %r instead",
                self.name,
                job.id,
                type(exc).__name__,
                exc,
                UNSERIALIZABLE_RETURN_VALUE_PAYLOAD,
            )
            message["return_value"] = UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(self._report_fd, view) :]
        os.close(self._report_fd)

    def _read_report(self, job: "Job", queue: "Queue") -> tuple[Optional[dict], Any, Any, Any]:
        """Read the horse's report until it exits, heartbeating; returns (report, pid, status, rusage)."""
        chunks: list[bytes] = []
        reaped: Optional[tuple] = None
        limit = job.timeout or queue.DEFAULT_TIMEOUT
        last_heartbeat = time.monotonic()
        fd = self._report_fd
        try:
            while True:
                self.last_loop_at = time.monotonic()
                readable, _, _ = select.select([fd], [], [], REPORT_POLL_INTERVAL)
                if readable:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        chunks.append(chunk)
                        continue
                    break  # the horse closed its end: it reported, or it died
                status = os.wait4(self._horse_pid, os.WNOHANG)
                if status[0]:
                    reaped = status  # exited without closing (its end was inherited by a child of the job)
                    break
                elapsed = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
                if limit != -1 and elapsed > limit + HORSE_OVERRUN_GRACE:
                    logger.warning(
                        "Worker %s: horse of job %s ran %ds past its timeout; killing it",
                        self.name,
                        job.id,
                        HORSE_OVERRUN_GRACE,
                    )
                    self.kill_horse()
                    break
                if time.monotonic() - last_heartbeat >= self.job_monitoring_interval:
                    last_heartbeat = time.monotonic()
                    # One attempt per interval: the horse must be watched even while Redis is away.
                    self.redis_loop.attempt(lambda: self.maintain_heartbeats(job))
        finally:
            os.close(fd)
        retpid, ret_val, rusage = reaped or self.wait_for_horse()
        report = None
        if chunks:
            try:
                report = pickle.loads(b"".join(chunks))
            except Exception:
                logger.warning("Worker %s: unreadable report from the horse of job %s", self.name, job.id)
        return report, retpid, ret_val, rusage

    def monitor_work_horse(self, job: "Job", queue: "Queue") -> None:
        """Wait for the horse, heartbeating every job_monitoring_interval; record what it reports."""
        job.started_at = job.started_at or utcnow()
        report, retpid, ret_val, rusage = self._read_report(job, queue)
        self._horse_pid = 0
        try:
            if report is not None and self._stopped_job_id != job.id:
                job.ended_at = report["ended_at"]
                if report["outcome"] == "success":
                    job._cached_return_value = report["return_value"]
                    self.handle_job_success(job, queue, self._started_registry(job))
                else:
                    status = JobStatus(report["status"])
                    self.handle_job_failure(job, queue, exc_string=report["exc_string"], status=status)
                return
            self._handle_abnormal_exit(job, queue, retpid, ret_val, rusage)
        finally:
            # Commands that came while the outcome was written concern this job only.
            if self._stopped_job_id == job.id:
                self._stopped_job_id = None
            if self._killed_job_id == job.id:
                self._killed_job_id = None

    def _handle_abnormal_exit(self, job: "Job", queue: "Queue", retpid: Any, ret_val: Any, rusage: Any) -> None:
        if self._stopped_job_id == job.id:  # cleared by monitor_work_horse once this returns
            self.handle_stopped_job(job, queue)
            return
        status = self._job_status(job)
        if status in (JobStatus.FINISHED, JobStatus.FAILED):
            return  # the horse recorded the outcome before it died
        signum = os.WTERMSIG(ret_val) if ret_val is not None and os.WIFSIGNALED(ret_val) else 0
        self.handle_work_horse_killed(job, retpid, ret_val, rusage)
        description = f"waitpid returned {ret_val}"
        if signum:
            description += f" (signal {signum}, {signal_name(signum)})"
        exc_string = f"Work-horse terminated unexpectedly; {description}; "
        logger.warning("Worker %s: job %s: %s", self.name, job.id, exc_string)
        self.handle_job_failure(job, queue=queue, exc_string=exc_string)

    def _job_status(self, job: "Job") -> Any:
        """The job's status, read on the outcome-write loop (it waits out an outage); None if unreadable."""
        try:
            return self.outcome_writes.call(job.get_status)
        except StopRequested:
            raise
        except Exception:
            return None

    def handle_work_horse_killed(self, job: "Job", retpid: Any, ret_val: Any, rusage: Any) -> None:
        if self.work_horse_killed_handler is None:
            return
        try:
            self.work_horse_killed_handler(job, retpid, ret_val, rusage)
        except Exception:
            logger.exception("Worker %s: work_horse_killed_handler failed", self.name)

    def kill_horse_by_command(self) -> None:
        """Handle kill-horse: kill the running horse, or the one about to start for the job just taken."""
        if self._horse_pid:
            self.kill_horse()
            return
        job_id = self.get_current_job_id()
        if job_id is None:
            logger.info("Worker %s: no work horse to kill", self.name)
            return
        self._killed_job_id = job_id
        self._kill_now_or_at_start(f"the horse of job {job_id} will be killed as soon as it starts")

    def stop_job_by_command(self, job_id: str) -> None:
        """Handle the stop-job command: only the job this worker is running is stopped."""
        if self.get_current_job_id() != job_id:
            logger.info("Worker %s: not running job %s; ignoring stop-job", self.name, job_id)
            return
        self._stopped_job_id = job_id
        self._kill_now_or_at_start(f"job {job_id} will be stopped as soon as its horse starts")

    def _kill_now_or_at_start(self, pending: str) -> None:
        """Kill the running horse; with none yet, ``horse_started`` does it (the caller set its flag)."""
        if self._horse_pid:
            self.kill_horse()
        else:
            logger.info("Worker %s: %s", self.name, pending)
