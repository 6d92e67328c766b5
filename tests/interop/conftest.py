"""Fixtures for the mixed-fleet suite: the upstream peer and worker processes of both kinds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.interop import peer, processes
from tests.interop.processes import WorkerProcess

# Both implementations import the job functions as ``interop_jobs``.
if str(peer.JOBS_DIR) not in sys.path:
    sys.path.insert(0, str(peer.JOBS_DIR))


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The peer interpreter with upstream RQ; skips the test when it cannot be installed."""
    try:
        return peer.ensure_peer()
    except peer.PeerUnavailable as exc:
        pytest.skip(f"upstream rq {peer.PEER_VERSION} is not available: {exc}")


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
