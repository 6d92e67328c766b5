"""Fixtures for the mixed-fleet suite: the upstream peers and worker processes of each kind."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests import venvs
from tests.interop import peer, processes
from tests.interop.processes import WorkerProcess

# Both implementations import the job functions as ``interop_jobs``.
if str(peer.JOBS_DIR) not in sys.path:
    sys.path.insert(0, str(peer.JOBS_DIR))


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The peer interpreter with upstream RQ; skips the test (fails it under CI) when it cannot be built."""
    try:
        return peer.ensure_peer()
    except peer.PeerUnavailable as exc:
        venvs.unavailable(f"upstream rq {peer.PEER_VERSION} is not available: {exc}")


@pytest.fixture
def worker_processes() -> Iterator[list[WorkerProcess]]:
    """Every worker process a test starts; stopped at teardown if still running."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def start_our_worker(
    redis_url: str, tmp_path: Path, worker_processes: list[WorkerProcess]
) -> Callable[..., WorkerProcess]:
    """``start_our_worker(name, queues=("interop",), worker_class="Worker", burst=False, with_scheduler=False)``."""

    def start(name: str, **options) -> WorkerProcess:
        worker = processes.start_our_worker(redis_url, tmp_path, name, **options)
        worker_processes.append(worker)
        return worker

    return start


@pytest.fixture
def start_upstream_worker(
    upstream: Path, redis_url: str, tmp_path: Path, worker_processes: list[WorkerProcess]
) -> Callable[..., WorkerProcess]:
    """``start_upstream_worker(name, queues=("interop",), worker_class=None, burst=False, with_scheduler=False)``."""

    def start(name: str, **options) -> WorkerProcess:
        worker = processes.start_upstream_worker(redis_url, tmp_path, name, **options)
        worker_processes.append(worker)
        return worker

    return start


@pytest.fixture(scope="session")
def upstream_116() -> Path:
    """The peer interpreter with RQ 1.16; skips the test (fails it under CI) when it cannot be built."""
    try:
        return peer.ensure_peer(peer.PEER_116_VERSION)
    except peer.PeerUnavailable as exc:
        venvs.unavailable(f"upstream rq {peer.PEER_116_VERSION} is not available: {exc}")


@pytest.fixture
def start_116_worker(
    upstream_116: Path, redis_url: str, tmp_path: Path, worker_processes: list[WorkerProcess]
) -> Callable[..., WorkerProcess]:
    """``start_116_worker(name, queues=("interop",), worker_class=None, burst=False, with_scheduler=False)``:
    RQ 1.16's ``rq worker`` (``--worker-class rq.worker.<worker_class>`` if given)."""

    def start(
        name: str,
        queues: tuple[str, ...] = ("interop",),
        worker_class: Optional[str] = None,
        burst: bool = False,
        with_scheduler: bool = False,
    ) -> WorkerProcess:
        args = ["worker", "--url", redis_url, "--name", name]
        if worker_class:
            args += ["--worker-class", f"rq.worker.{worker_class}"]
        if burst:
            args.append("--burst")
        if with_scheduler:
            args.append("--with-scheduler")
        log_path = tmp_path / f"rq116-{name}.log"
        process = peer.start_peer_cli([*args, *queues], redis_url, tmp_path, log_path, version=peer.PEER_116_VERSION)
        worker = WorkerProcess(process, name, log_path, "rq 1.16")
        worker_processes.append(worker)
        return worker

    return start
