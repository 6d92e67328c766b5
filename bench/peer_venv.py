"""The cached virtualenv holding upstream RQ for the benchmark.

It lives in ``<repo>/.peer/bench-rq-<version>/`` and holds ``rq==<version>`` from PyPI
plus the ``redis`` client version installed here, so both sides talk to Redis through the
same client code. It is built once, under a file lock, and marked ready only after an
import check; a half-built directory is removed and built again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

# Written into the virtualenv once it is complete and verified.
READY_MARKER = ".bench-ready"
# Seconds allowed for creating the virtualenv and for the pip install.
VENV_TIMEOUT = 120.0
PIP_TIMEOUT = 600.0
# Variables that could make the peer interpreter import something from this repository.
SCRUBBED_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "PYTHONSAFEPATH")


class PeerUnavailable(RuntimeError):
    """The upstream virtualenv could not be built."""


def redis_requirement() -> str:
    try:
        return f"redis=={metadata.version('redis')}"
    except metadata.PackageNotFoundError:
        return "redis"


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that changes the import path."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_VARS}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def venv_python(directory: Path) -> Path:
    return directory / "bin" / "python"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _is_ready(directory: Path) -> bool:
    return (directory / READY_MARKER).is_file() and venv_python(directory).exists()


def _step(cmd: list[str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=clean_environment(), cwd=tempfile.gettempdir()
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise PeerUnavailable(f"{what}: {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        raise PeerUnavailable(f"{what} failed: {lines[-1]}")


def ensure(version: str, directory: Path) -> Path:
    """Build the virtualenv if it is missing or incomplete; return its interpreter."""
    if _is_ready(directory):
        return venv_python(directory)
    with _locked(directory):
        if _is_ready(directory):
            return venv_python(directory)
        shutil.rmtree(directory, ignore_errors=True)
        python = str(venv_python(directory))
        print(f"building {directory} (rq=={version}, {redis_requirement()})", file=sys.stderr, flush=True)
        try:
            _step([sys.executable, "-m", "venv", str(directory)], VENV_TIMEOUT, "creating the virtualenv")
            _step(
                [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"rq=={version}",
                 redis_requirement()],
                PIP_TIMEOUT,
                f"pip install rq=={version}",
            )  # fmt: skip
            _step(
                [python, "-s", "-c", f"import rq, sys; sys.exit(rq.__version__ != {version!r})"],
                VENV_TIMEOUT,
                f"checking that rq {version} imports",
            )
        except PeerUnavailable:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        (directory / READY_MARKER).write_text(f"rq=={version} {redis_requirement()}\n")
    return venv_python(directory)
