"""Worker processes of both implementations, and bounded waiting on Redis state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import redis

from tests.interop import peer

# Seconds a test waits for a worker process to register, pick up a job, or exit.
WAIT_TIMEOUT = 30.0
# Pause between two looks at Redis while waiting.
POLL_INTERVAL = 0.05
# Workers ignore a second stop signal that comes sooner than this after the first.
SECOND_SIGNAL_DELAY = 1.2
# Seconds a worker gets to exit after a cold shutdown before it is killed.
COLD_SHUTDOWN_WAIT = 10.0

# Runs one of our workers in a fresh interpreter.
# argv = url, worker class, name, queues, burst, repo root, with_scheduler.
_OUR_WORKER_SCRIPT = """\
import os, sys
import redis
import rq
from rq import worker as worker_module
if not os.path.realpath(rq.__file__).startswith(sys.argv[6]):
    raise SystemExit("our worker imported the wrong rq: " + rq.__file__)
url, class_name, name, queues, burst, _, with_scheduler = sys.argv[1:8]
worker_class = getattr(worker_module, class_name)
worker = worker_class(queues.split(","), connection=redis.Redis.from_url(url), name=name)
worker.work(burst=burst == "1", with_scheduler=with_scheduler == "1")
"""


def wait_for(
    predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT, details: Callable[[], str] = str
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{details()}")
        time.sleep(POLL_INTERVAL)


class WorkerProcess:
    """A worker of either implementation running in its own process."""

    def __init__(self, process: subprocess.Popen, name: str, log_path: Path, side: str) -> None:
        self.process = process
        self.name = name
        self.log_path = log_path
        self.side = side

    @property
    def key(self) -> str:
        return f"rq:worker:{self.name}"

    def output(self) -> str:
        try:
            return f"--- {self.side} worker output ---\n{self.log_path.read_text()[-6000:]}"
        except OSError:
            return f"--- {self.side} worker output unavailable ---"

    def wait_until_listening(self, connection: redis.Redis) -> None:
        """Registered, idle and subscribed to its command channel (so commands reach it)."""
        channel = f"rq:pubsub:{self.name}"

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"{self.side} worker exited early with {self.process.returncode}\n{self.output()}")
            registered = connection.sismember("rq:workers", self.key)
            state = connection.hget(self.key, "state")
            subscribers = dict(connection.pubsub_numsub(channel))
            return bool(registered and state == b"idle" and subscribers.get(channel.encode()))

        wait_for(ready, f"{self.side} worker {self.name} to register and subscribe", details=self.output)

    def wait_for_exit(self, timeout: float = WAIT_TIMEOUT) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.side} worker {self.name} still running after {timeout:.0f}s\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: the worker records nothing (a forking worker's horse is left running)."""
        self.process.kill()
        self.process.wait(timeout=WAIT_TIMEOUT)

    def stop(self) -> None:
        """Cold shutdown (two SIGINTs), so a forking worker kills its horse too; SIGKILL as a fallback."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=SECOND_SIGNAL_DELAY)
            return
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=COLD_SHUTDOWN_WAIT)
        except subprocess.TimeoutExpired:
            self.kill()


def our_env() -> dict[str, str]:
    """Environment for our processes: this repository and the job-functions folder importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = os.pathsep.join([str(peer.REPO_ROOT), str(peer.JOBS_DIR)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_our_worker(
    redis_url: str,
    workdir: Path,
    name: str,
    queues: tuple[str, ...] = ("interop",),
    worker_class: str = "Worker",
    burst: bool = False,
    with_scheduler: bool = False,
) -> WorkerProcess:
    """One of our workers (``rq.worker.<worker_class>``) in a fresh interpreter."""
    log_path = workdir / f"ours-{name}.log"
    flags = ["1" if burst else "0", str(peer.REPO_ROOT), "1" if with_scheduler else "0"]
    args = [redis_url, worker_class, name, ",".join(queues), *flags]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _OUR_WORKER_SCRIPT, *args],
            cwd=workdir,
            env=our_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, name, log_path, "our")


def start_upstream_worker(
    redis_url: str,
    workdir: Path,
    name: str,
    queues: tuple[str, ...] = ("interop",),
    worker_class: Optional[str] = None,
    burst: bool = False,
    with_scheduler: bool = False,
) -> WorkerProcess:
    """Upstream's ``rq worker`` (``--worker-class rq.worker.<worker_class>`` if given)."""
    args = ["worker", "--url", redis_url, "--name", name]
    if worker_class:
        args += ["--worker-class", f"rq.worker.{worker_class}"]
    if burst:
        args.append("--burst")
    if with_scheduler:
        args.append("--with-scheduler")
    log_path = workdir / f"upstream-{name}.log"
    process = peer.start_peer_cli([*args, *queues], redis_url, workdir, log_path)
    return WorkerProcess(process, name, log_path, "upstream")


def run_our_cli(args: list[str], workdir: Path, timeout: float = peer.RUN_TIMEOUT) -> str:
    """Our ``rq`` command; returns its output, failing the test on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "rq.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=workdir,
        env=our_env(),
    )  # fmt: skip
    assert proc.returncode == 0, f"our `rq {' '.join(args)}` exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
