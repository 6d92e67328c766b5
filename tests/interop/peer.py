"""Upstream RQ as a peer process: a cached virtualenv and functions to run code in it.

The virtualenv lives in ``<repo>/.peer/rq-<version>/`` (override with ``RQ_PEER_DIR``)
and holds ``rq==PEER_VERSION`` from PyPI plus the ``redis`` client version installed
here. A second peer, ``rq==PEER_116_VERSION`` (the 1.x generation), lives next to it in
``.peer/rq-1.16.2/`` (override with ``RQ_PEER_116_DIR``); every function below takes
``version=`` to pick it and defaults to ``PEER_VERSION``. Each virtualenv is built
once, under an exclusive file lock so parallel test processes do not build it twice, and
marked complete only after a successful import check; a half-built directory is removed
and rebuilt.

Peer code never sees this repository's ``rq``: it runs with the peer's interpreter, the
user site disabled (``-s``), the working directory in a temporary folder, and only
``pythonpath/`` (which holds ``interop_jobs.py`` and nothing else) on ``PYTHONPATH``.
Both implementations import the job functions as ``interop_jobs.<name>``, so pickled
references match.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

PEER_VERSION = "2.12.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Holds only ``interop_jobs.py``; on sys.path of every process, ours and the peer's.
JOBS_DIR = Path(__file__).resolve().parent / "pythonpath"
DEFAULT_PEER_DIR = REPO_ROOT / ".peer" / f"rq-{PEER_VERSION}"
# The older generation, checked where its data layout allows (test_mixed_fleet_116.py).
PEER_116_VERSION = "1.16.2"
# Environment variable that moves each peer's virtualenv elsewhere.
_DIR_VARIABLES = {PEER_VERSION: "RQ_PEER_DIR", PEER_116_VERSION: "RQ_PEER_116_DIR"}
# Written into the virtualenv once it is complete and verified.
READY_MARKER = ".interop-ready"
# Seconds allowed for creating the virtualenv and for the pip install.
VENV_TIMEOUT = 120.0
PIP_TIMEOUT = 600.0
# Default limit for one peer snippet or CLI call.
RUN_TIMEOUT = 60.0
# Prefix of the line a peer snippet prints with ``emit(...)``; run_peer_json decodes it.
EMIT_PREFIX = "@@interop@@ "
# Environment variable through which snippets receive the Redis URL.
REDIS_URL_VAR = "INTEROP_REDIS_URL"
# Variables that could make the peer interpreter import something from this repository.
_SCRUBBED_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "PYTHONSAFEPATH")

# Put in front of every snippet: imports upstream rq, checks it is the peer's copy, and
# provides ``conn``, ``REDIS_URL`` and ``emit``.
_PRELUDE = f"""\
import json, os, sys
import redis
import rq
if not os.path.realpath(rq.__file__).startswith(os.path.realpath(sys.prefix)):
    raise SystemExit("peer imported the wrong rq: " + rq.__file__)
REDIS_URL = os.environ[{REDIS_URL_VAR!r}]
conn = redis.Redis.from_url(REDIS_URL)
def emit(value):
    print({EMIT_PREFIX!r} + json.dumps(value, default=str), flush=True)
"""


class PeerUnavailable(RuntimeError):
    """The peer virtualenv could not be built; the message is the installer's last line."""


class PeerError(AssertionError):
    """A peer snippet or command failed; the message carries its output."""


def peer_dir(version: str = PEER_VERSION) -> Path:
    default = REPO_ROOT / ".peer" / f"rq-{version}"
    return Path(os.environ.get(_DIR_VARIABLES.get(version, ""), "") or default).resolve()


def peer_python(directory: Optional[Path] = None, version: str = PEER_VERSION) -> Path:
    return (directory or peer_dir(version)) / "bin" / "python"


def redis_requirement() -> str:
    """``redis==<version installed here>``, so both sides speak through the same client."""
    try:
        return f"redis=={metadata.version('redis')}"
    except metadata.PackageNotFoundError:
        return "redis"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _build_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_VARS}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _is_ready(directory: Path) -> bool:
    return (directory / READY_MARKER).is_file() and peer_python(directory).exists()


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _run_step(cmd: Sequence[str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, env=_build_env(), cwd=tempfile.gettempdir()
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{what} took longer than {timeout:.0f}s") from None
    except OSError as exc:
        raise PeerUnavailable(f"{what} could not start: {exc}") from None
    if proc.returncode != 0:
        raise PeerUnavailable(f"{what} failed: {_last_line(proc.stderr or proc.stdout)}")


def ensure_peer(version: str = PEER_VERSION) -> Path:
    """Build the virtualenv of peer ``version`` if needed; return its python. Raises PeerUnavailable."""
    directory = peer_dir(version)
    if _is_ready(directory):
        return peer_python(directory)
    with _build_lock(directory):
        if _is_ready(directory):  # another process finished it while we waited
            return peer_python(directory)
        shutil.rmtree(directory, ignore_errors=True)
        python = peer_python(directory)
        try:
            _run_step([sys.executable, "-m", "venv", str(directory)], VENV_TIMEOUT, "creating the peer virtualenv")
            _run_step(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    f"rq=={version}",
                    redis_requirement(),
                ],
                PIP_TIMEOUT,
                f"pip install rq=={version}",
            )
            _run_step(
                [str(python), "-s", "-c", f"import rq, sys; sys.exit(rq.__version__ != {version!r})"],
                VENV_TIMEOUT,
                "checking the peer rq version",
            )
        except PeerUnavailable:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        (directory / READY_MARKER).write_text(f"rq=={version} {redis_requirement()}\n")
    return python


def peer_env(redis_url: Optional[str] = None, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Environment for peer processes: only the job-functions folder on PYTHONPATH."""
    env = _build_env()
    env["PYTHONPATH"] = str(JOBS_DIR)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if redis_url is not None:
        env[REDIS_URL_VAR] = redis_url
    env.update(extra or {})
    return env


def _script_args(script: str, version: str) -> list[str]:
    return [str(peer_python(version=version)), "-s", "-c", _PRELUDE + textwrap.dedent(script)]


def _cli_args(args: Sequence[str], version: str) -> list[str]:
    # ``python -m rq.cli`` is upstream's ``rq`` command without depending on a script shebang.
    return [str(peer_python(version=version)), "-s", "-m", "rq.cli", *args]


@contextlib.contextmanager
def _workdir(cwd: Optional[os.PathLike[str] | str]) -> Iterator[str]:
    if cwd is not None:
        yield str(cwd)
        return
    with tempfile.TemporaryDirectory(prefix="rq-peer-") as tmp:
        yield tmp


def run_peer(
    script: str,
    redis_url: str,
    cwd: Optional[os.PathLike[str] | str] = None,
    timeout: float = RUN_TIMEOUT,
    version: str = PEER_VERSION,
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet with upstream rq; it sees ``conn``, ``REDIS_URL`` and ``emit``."""
    with _workdir(cwd) as workdir:
        return _run(_script_args(script, version), redis_url, workdir, timeout, "peer snippet")


def peer_rq_cli(
    args: Sequence[str],
    redis_url: Optional[str] = None,
    cwd: Optional[os.PathLike[str] | str] = None,
    timeout: float = RUN_TIMEOUT,
    version: str = PEER_VERSION,
) -> subprocess.CompletedProcess[str]:
    """Run upstream's ``rq`` command, e.g. ``["worker", "--burst", "--url", url, "default"]``."""
    with _workdir(cwd) as workdir:
        return _run(_cli_args(args, version), redis_url, workdir, timeout, f"peer `rq {' '.join(args)}`")


def _run(
    cmd: list[str], redis_url: Optional[str], cwd: str, timeout: float, what: str
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=peer_env(redis_url))
    except subprocess.TimeoutExpired as exc:
        raise PeerError(
            f"{what} did not finish within {timeout:.0f}s\n{describe_output(exc.stdout, exc.stderr)}"
        ) from None


def run_peer_json(script: str, redis_url: str, timeout: float = RUN_TIMEOUT, version: str = PEER_VERSION) -> Any:
    """Run a snippet that must succeed and ``emit()`` exactly one value; return that value."""
    proc = run_peer(script, redis_url, timeout=timeout, version=version)
    if proc.returncode != 0:
        raise PeerError(f"peer snippet exited {proc.returncode}\n{describe_output(proc.stdout, proc.stderr)}")
    values = [json.loads(line[len(EMIT_PREFIX) :]) for line in proc.stdout.splitlines() if line.startswith(EMIT_PREFIX)]
    if len(values) != 1:
        raise PeerError(
            f"peer snippet emitted {len(values)} values, expected 1\n{describe_output(proc.stdout, proc.stderr)}"
        )
    return values[0]


def check_cli(
    proc: subprocess.CompletedProcess[str], what: str = "peer rq command"
) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        raise PeerError(f"{what} exited {proc.returncode}\n{describe_output(proc.stdout, proc.stderr)}")
    return proc


def start_peer(
    script: str, redis_url: str, cwd: os.PathLike[str] | str, log_path: Path, version: str = PEER_VERSION
) -> subprocess.Popen[str]:
    """Start a long-running peer snippet, output to ``log_path``; the caller stops and reaps it."""
    return _popen(_script_args(script, version), redis_url, cwd, log_path)


def start_peer_cli(
    args: Sequence[str], redis_url: str, cwd: os.PathLike[str] | str, log_path: Path, version: str = PEER_VERSION
) -> subprocess.Popen[str]:
    """Start upstream's ``rq`` command in the background (e.g. a non-burst worker)."""
    return _popen(_cli_args(args, version), redis_url, cwd, log_path)


def _popen(cmd: list[str], redis_url: str, cwd: os.PathLike[str] | str, log_path: Path) -> subprocess.Popen[str]:
    # Output goes to a file: a pipe nobody reads could fill up and block the process.
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=peer_env(redis_url), stdout=log, stderr=subprocess.STDOUT, text=True)


def describe_output(stdout: Any, stderr: Any) -> str:
    def text(value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value or ""

    return f"--- stdout ---\n{text(stdout)[-4000:]}\n--- stderr ---\n{text(stderr)[-4000:]}"
