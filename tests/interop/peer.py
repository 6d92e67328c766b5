"""Upstream RQ as a peer process: a cached virtualenv and functions to run code in it.

Each upstream release the tests run beside (``PEER_VERSION``, the 1.x generation
``PEER_116_VERSION`` and RQ 3's ``PEER_30_VERSION``) gets a virtualenv built by
``tests.venvs`` from its lock file, ``requirements/peer-rq-<version>.txt``, which also pins
the redis-py that release was built for. ``RQ_PEER_DIR`` (and ``RQ_PEER_116_DIR``,
``RQ_PEER_30_DIR``) move a peer's virtualenv elsewhere; every function below takes
``version=`` to pick the peer and defaults to ``PEER_VERSION``.

Peer code never sees this repository's ``rq``: it runs with the peer's interpreter, the
user site disabled (``-s``), the working directory in a temporary folder, and only
``pythonpath/`` (which holds ``interop_jobs.py`` and nothing else) on ``PYTHONPATH``.
Both implementations import the job functions as ``interop_jobs.<name>``, so pickled
references match.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Optional

from tests import venvs

PEER_VERSION = "2.12.0"
REPO_ROOT = venvs.REPO_ROOT
# Holds only ``interop_jobs.py``; on sys.path of every process, ours and the peer's.
JOBS_DIR = Path(__file__).resolve().parent / "pythonpath"
# The older generation, checked where its data layout allows (test_mixed_fleet_116.py).
PEER_116_VERSION = "1.16.2"
# The newer generation.
PEER_30_VERSION = "3.0.0"
# Environment variable that moves each peer's virtualenv elsewhere.
_DIR_VARIABLES = {PEER_VERSION: "RQ_PEER_DIR", PEER_116_VERSION: "RQ_PEER_116_DIR", PEER_30_VERSION: "RQ_PEER_30_DIR"}
# Default limit for one peer snippet or CLI call.
RUN_TIMEOUT = 60.0
# What upstream's burst worker logs once it has nothing left to do, and the seconds it
# then gets to exit before it counts as hung.
FINISHED_MARKERS = ("done, quitting",)
EXIT_GRACE = 5.0
# Prefix of the line a peer snippet prints with ``emit(...)``; run_peer_json decodes it.
EMIT_PREFIX = "@@interop@@ "
# Environment variable through which snippets receive the Redis URL.
REDIS_URL_VAR = "INTEROP_REDIS_URL"

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

# Raised when a peer's virtualenv cannot be built.
PeerUnavailable = venvs.VenvUnavailable


class PeerError(AssertionError):
    """A peer snippet or command failed; the message carries its output."""


def peer_dir(version: str = PEER_VERSION) -> Path:
    default = venvs.peer_root() / f"rq-{version}"
    return Path(os.environ.get(_DIR_VARIABLES.get(version, ""), "") or default).resolve()


def peer_python(directory: Optional[Path] = None, version: str = PEER_VERSION) -> Path:
    return venvs.venv_python(directory or peer_dir(version))


def peer_spec(version: str = PEER_VERSION) -> venvs.VenvSpec:
    """Upstream ``rq==version`` with the dependencies its lock file pins."""
    return venvs.VenvSpec(
        directory=peer_dir(version),
        what=f"upstream rq {version}",
        installs=((f"rq=={version}",),),
        lock=f"peer-rq-{version}",
        check=f"import rq, sys; sys.exit(rq.__version__ != {version!r})",
    )


def ensure_peer(version: str = PEER_VERSION) -> Path:
    """Build the virtualenv of peer ``version`` if needed; return its python. Raises PeerUnavailable."""
    return venvs.ensure(peer_spec(version))


def peer_env(redis_url: Optional[str] = None, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Environment for peer processes: only the job-functions folder on PYTHONPATH."""
    env = venvs.clean_environment()
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
    """Run ``cmd`` to completion; a process that hangs is killed, and its output shown.

    A burst worker that has logged its last line (``FINISHED_MARKERS``) but is still running
    ``EXIT_GRACE`` seconds later is hung on its way out: it is killed then, not at ``timeout``.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            cmd, cwd=cwd, env=peer_env(redis_url), stdout=out, stderr=err, text=True, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        finished_at: Optional[float] = None
        problem = ""
        while process.poll() is None:
            now = time.monotonic()
            if finished_at is None and _says_finished(err):
                finished_at = now
            if finished_at is not None and now - finished_at > EXIT_GRACE:
                problem = f"{what} finished its work but did not exit within {EXIT_GRACE:.0f}s"
            elif now > deadline:
                problem = f"{what} did not finish within {timeout:.0f}s"
            if problem:
                _kill_group(process)
                break
            time.sleep(0.05)
        stdout, stderr = _read(out), _read(err)
    if problem:
        raise PeerError(f"{problem}\n{describe_output(stdout, stderr)}")
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)


def _says_finished(stream: IO[str]) -> bool:
    text = _read(stream)
    return any(marker in text for marker in FINISHED_MARKERS)


def _read(stream: IO[str]) -> str:
    stream.flush()
    stream.seek(0)
    return stream.read()


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
