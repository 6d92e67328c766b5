"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent


def wait_for(
    predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05, message: str = "condition"
) -> object:
    """Poll until ``predicate()`` is truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class WorkerProcess:
    """A worker started with ``python -m tests.worker_process`` and its captured output."""

    def __init__(self, url: str, queues: list[str], *extra: str, log_path: Optional[Path] = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process", url, *queues, *extra],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._close_log()

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()  # type: ignore[union-attr]


class ThreadWorker:
    """Runs ``worker.work()`` in a thread of the test process (no signal handlers there).

    Lets a test look inside a live worker: its listener thread, counters and logs.
    """

    def __init__(self, worker, check_interval: float = 0.3, **work_kwargs) -> None:
        import threading

        self.worker = worker
        worker.command_channel.check_interval = check_interval
        self.thread = threading.Thread(target=worker.work, kwargs=work_kwargs, daemon=True, name="test-worker")

    def __enter__(self) -> "ThreadWorker":
        self.thread.start()
        connection = self.worker.connection
        wait_for(lambda: connection.exists(self.worker.key), message="worker registration")
        wait_for(lambda: self.subscribers() == 1, message="command channel subscription")
        # Start-up ends when the main loop sets the first state of its own (idle, busy, ...).
        worker = self.worker
        wait_for(
            lambda: worker.get_state() not in ("starting", "started") or not self.thread.is_alive(),
            message="the worker's main loop",
        )
        return self

    def subscribers(self) -> int:
        reply = self.worker.connection.pubsub_numsub(self.worker.pubsub_channel_name)
        return int(reply[0][1]) if reply else 0

    def __exit__(self, *exc_info: object) -> None:
        self.worker.request_stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "worker thread did not stop"
