"""Cached virtualenvs for the peers the tests and benchmarks run beside this package.

Upstream RQ releases, the tools users run around RQ, a second sentry-sdk generation and
the benchmark's peers each live in a virtualenv under ``<repo>/.peer/``. Every install is
held to a lock file in ``requirements/`` (``pip install -c requirements/<lock>.txt``), so
the same commit tests the same releases next month. With ``RQ_TEST_LATEST=1`` the locks
are ignored and the newest releases allowed by the lock's input file (``<lock>.in``) are
installed instead, into ``.peer/latest/``, which is how drift is found before users find
it (``make test-latest``).

A virtualenv is built once, under an exclusive file lock so parallel processes do not
build it twice, and marked ready only after its check passes; the marker records what was
installed (the lock's text included), so a changed pin rebuilds it. In latest mode the
marker carries the date, so the newest releases are fetched again each day.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS_DIR = REPO_ROOT / "requirements"
# Set to 1 to install the newest releases instead of the pinned ones.
LATEST_VAR = "RQ_TEST_LATEST"
READY_MARKER = ".venv-ready"
# Seconds allowed for creating a virtualenv, for one pip step, and for the check.
VENV_TIMEOUT = 120.0
PIP_TIMEOUT = 600.0
# Variables that could make a peer import something from this repository, or hold its
# installs to another environment's lock.
SCRUBBED_VARS = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "VIRTUAL_ENV",
    "PYTHONSAFEPATH",
    "PIP_CONSTRAINT",
)


class VenvUnavailable(RuntimeError):
    """A virtualenv could not be built; the message names the step and the installer's error."""


def latest() -> bool:
    """True when the run tests the newest releases instead of the pinned ones."""
    return os.environ.get(LATEST_VAR, "").strip() not in ("", "0")


def peer_root() -> Path:
    """The folder the cached virtualenvs live in for this mode."""
    root = REPO_ROOT / ".peer"
    return root / "latest" if latest() else root


def lock_path(lock: str) -> Path:
    return REQUIREMENTS_DIR / f"{lock}.txt"


def constraint_args(lock: Optional[str]) -> list[str]:
    """pip arguments that hold an install to ``requirements/<lock>.txt``.

    In latest mode the lock's input file (``<lock>.in``) is the constraint instead: the
    newest releases, within the deliberate limits written there.
    """
    if lock is None:
        return []
    if latest():
        source = REQUIREMENTS_DIR / f"{lock}.in"
        return ["-c", str(source)] if source.is_file() else []
    path = lock_path(lock)
    if not path.is_file():
        raise VenvUnavailable(f"the lock file {path} is missing (make pins writes it)")
    return ["-c", str(path)]


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that changes a peer's import path."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_VARS}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def venv_python(directory: Path) -> Path:
    return directory / "bin" / "python"


@dataclass(frozen=True)
class VenvSpec:
    """What one cached virtualenv holds and how to tell that it is complete.

    ``installs`` are pip argument lists run in order, each held to ``lock``; ``check`` is
    Python code run with the new interpreter that exits 0 when the virtualenv is right.
    """

    directory: Path
    what: str
    installs: tuple[tuple[str, ...], ...]
    lock: Optional[str]
    check: str
    # Extra text for the marker, for inputs the installs do not show (a source tree's path).
    marker_extra: tuple[str, ...] = field(default=())
    # The oldest Python the installs support (the locks, resolved for 3.11, hold releases
    # that need 3.10); an older running Python builds with another.
    min_python: tuple[int, int] = (3, 10)

    def marker_text(self) -> str:
        lines = [" ".join(args) for args in self.installs] + list(self.marker_extra)
        if latest():
            lines.append(f"latest as of {datetime.date.today().isoformat()}")
        elif self.lock is not None:
            path = lock_path(self.lock)
            lines.append(path.read_text() if path.is_file() else f"missing {path}")
        return "\n".join(lines) + "\n"


def is_ready(spec: VenvSpec) -> bool:
    marker = spec.directory / READY_MARKER
    return marker.is_file() and marker.read_text() == spec.marker_text() and venv_python(spec.directory).exists()


@contextlib.contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock beside ``directory``, held while it is built."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def ensure(spec: VenvSpec) -> Path:
    """Build the virtualenv of ``spec`` unless it is ready; return its interpreter."""
    if is_ready(spec):
        return venv_python(spec.directory)
    with build_lock(spec.directory):
        if is_ready(spec):  # another process finished it while we waited
            return venv_python(spec.directory)
        shutil.rmtree(spec.directory, ignore_errors=True)
        python = str(venv_python(spec.directory))
        print(f"building {spec.directory} ({spec.what})", file=sys.stderr, flush=True)
        try:
            constraints = constraint_args(spec.lock)
            base = base_python(spec.min_python)
            run_step([base, "-m", "venv", str(spec.directory)], VENV_TIMEOUT, f"creating {spec.what}")
            for args in spec.installs:
                pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *constraints]
                run_step([*pip, *args], PIP_TIMEOUT, f"pip install {' '.join(args)}")
            run_step([python, "-s", "-c", spec.check], VENV_TIMEOUT, f"checking {spec.what}")
        except VenvUnavailable:
            shutil.rmtree(spec.directory, ignore_errors=True)
            raise
        (spec.directory / READY_MARKER).write_text(spec.marker_text())
    return venv_python(spec.directory)


def base_python(minimum: tuple[int, int]) -> str:
    """This interpreter if it is new enough, else the first ``python3.N`` on PATH that is.

    The locks are resolved for Python 3.11 (what CI runs), so it is preferred.
    """
    if sys.version_info[:2] >= minimum:
        return sys.executable
    for minor in (11, 12, 13, 10):
        found = shutil.which(f"python3.{minor}")
        if found and (3, minor) >= minimum:
            return found
    raise VenvUnavailable(f"needs Python {minimum[0]}.{minimum[1]} or newer, and none was found on PATH")


def run_step(cmd: Sequence[str], timeout: float, what: str) -> None:
    """Run one build step; raise VenvUnavailable with its error line when it fails."""
    try:
        proc = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_environment(),
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        raise VenvUnavailable(f"{what} took longer than {timeout:.0f}s") from None
    except OSError as exc:
        raise VenvUnavailable(f"{what} could not start: {exc}") from None
    if proc.returncode != 0:
        raise VenvUnavailable(f"{what} failed: {error_line(proc.stderr + proc.stdout)}")


def error_line(output: str) -> str:
    """pip's last ``ERROR:`` line (its summary lines come after the real cause), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["no output"])[-1]


def unavailable(message: str) -> NoReturn:
    """Skip the calling test, or fail it under CI, where a missing peer must not pass unseen."""
    import pytest

    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
