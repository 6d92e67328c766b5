"""Throwaway Redis servers for the test suite and the demo.

Three backends share one small interface (``start``, ``stop``, ``kill``, ``restart``,
``is_running``, ``host``, ``port``, ``url``, ``client``, ``flush``, ``close``):

* :class:`RedisServer` runs a private ``redis-server`` process on a free local port;
* :class:`DockerRedisServer` runs the same inside a ``redis:7`` container;
* :class:`ExternalRedis` wraps an existing server named by ``REDIS_URL``; it cannot be
  stopped, so tests that need to stop it are skipped.

:func:`select_backend` picks one from the environment. ``RQ_TEST_REDIS=docker`` falls
back to a local ``redis-server`` when Docker is not usable, unless
``RQ_TEST_REDIS_STRICT=1`` makes that an error. Private servers never persist anything
(``--save "" --appendonly no``), so a restart always comes back empty.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Seconds start() waits for a freshly launched server to answer PING.
START_TIMEOUT = float(os.environ.get("RQ_TEST_REDIS_START_TIMEOUT", "20"))
# Seconds stop() waits after SIGTERM before it falls back to SIGKILL.
STOP_TIMEOUT = 10.0
# Pause between readiness probes while a server boots.
PROBE_INTERVAL = 0.05
# Lines of server output quoted when a server does not come up.
LOG_TAIL_LINES = 25
# Fresh ports tried when an automatically picked port turns out to be taken.
PORT_ATTEMPTS = 3
# Image used by the Docker backend.
DOCKER_IMAGE = os.environ.get("RQ_TEST_REDIS_IMAGE", "redis:7")
# Upper bound for one docker CLI call; the first ``docker run`` may pull the image.
DOCKER_TIMEOUT = 300.0
# Label put on every test container so leftovers are easy to find and remove.
DOCKER_LABEL = "rq-test-redis"
# Set to 1 (true, yes) to fail the run instead of falling back to a local redis-server
# when RQ_TEST_REDIS=docker and Docker is not usable: for CI jobs meant to test on Docker.
STRICT_VARIABLE = "RQ_TEST_REDIS_STRICT"

HOW_TO_GET_REDIS = (
    "No Redis server is available for the tests: install redis-server "
    "(apt-get install redis-server, brew install redis) "
    "or set REDIS_URL=redis://host:port/db"
)
NEEDS_PRIVATE_SERVER = (
    "this test needs a private server it can stop and restart; REDIS_URL points at a "
    "shared one and no redis-server binary is installed"
)

# Servers started by this process that are still running; stopped at interpreter exit.
_LIVE_SERVERS: set[BaseRedisServer] = set()
# Linux prctl option that delivers a signal to a child when its parent thread exits.
_PR_SET_PDEATHSIG = 1


class RedisUnavailable(RuntimeError):
    """A Redis server could not be started or reached."""


class _PortTaken(RedisUnavailable):
    """Another process already listens on the port chosen for a private server."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_server_binary(environ: Mapping[str, str] | None = None) -> str | None:
    """Locate ``redis-server``: ``REDIS_SERVER_BIN`` if set, else the one on PATH."""
    env = os.environ if environ is None else environ
    search_path = env.get("PATH")
    return shutil.which(env.get("REDIS_SERVER_BIN") or "redis-server", path=search_path)


def redact_url(url: str) -> str:
    """Hide the password of a Redis URL so it can be printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{netloc}"))


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the child exit when the test run dies hard.

    pytest-timeout ends a hung run with ``os._exit``, which skips every cleanup; this
    Linux-only hook keeps such a run from leaving orphaned servers behind. The signal is
    tied to the thread that forks, so it is only used from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return hook


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_LIVE_SERVERS):
        with contextlib.suppress(Exception):
            server.kill()


_Server = TypeVar("_Server", bound="BaseRedisServer")


class BaseRedisServer:
    """What every backend offers: address, clients, readiness wait, flush and cleanup."""

    host: str = "127.0.0.1"
    db: int = 0

    def __init__(self, client_kwargs: Mapping[str, Any] | None = None) -> None:
        #: Extra ``redis.Redis`` arguments used by :meth:`client` and the readiness probe.
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self._port = 0
        self._clients: weakref.WeakSet[redis.Redis] = weakref.WeakSet()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "rediss" if self.client_kwargs.get("ssl") else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @property
    def is_running(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def restart(self, downtime: float = 0.0) -> None:
        """Stop the server, stay down for ``downtime`` seconds, start it on the same port."""
        self.stop()
        if downtime > 0:
            time.sleep(downtime)
        self.start()

    def client(self, **kwargs: Any) -> redis.Redis:
        """Return a new client for this server; it is closed again by :meth:`close`."""
        client = self._new_client(**kwargs)
        self._clients.add(client)
        return client

    def flush(self) -> None:
        """Remove all data (every database) from the server."""
        with self._new_client() as client:
            client.flushall()

    def close(self) -> None:
        """Stop the server for good and release everything it holds."""
        self._shutdown()
        for client in list(self._clients):
            client.close()

    def _new_client(self, **kwargs: Any) -> redis.Redis:
        options: dict[str, Any] = {"host": self.host, "port": self.port, "db": self.db}
        options.update(self.client_kwargs)
        options.update(kwargs)
        return redis.Redis(**options)

    def _shutdown(self) -> None:
        self.stop()

    def _diagnostics(self) -> str:
        return ""

    def _answers(self) -> bool:
        """Whether the server answers at all; an authentication refusal counts as up."""
        probe = self._new_client(socket_connect_timeout=1.0, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))
        try:
            probe.ping()
        except (redis.AuthenticationError, redis.ResponseError):
            return True
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
        finally:
            probe.close()
        return True

    def _wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running:
                raise RedisUnavailable(f"{self!r} exited while starting.{self._diagnostics()}")
            if self._answers():
                return
            if time.monotonic() >= deadline:
                raise RedisUnavailable(f"{self!r} did not answer PING within {timeout:g}s.{self._diagnostics()}")
            time.sleep(PROBE_INTERVAL)

    def __enter__(self: _Server) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port}>"


#: Type of the ``redis_factory`` fixture: ``(extra_args=None, **options) -> server``.
RedisFactory = Callable[..., BaseRedisServer]


class RedisServer(BaseRedisServer):
    """A private ``redis-server`` process on 127.0.0.1 with persistence turned off.

    ``extra_args`` are appended to the command line (for TLS or ACL setups); later
    options override earlier ones. ``client_kwargs`` are passed to every client, which
    is how a password or TLS settings reach :meth:`client` and the readiness probe.
    """

    def __init__(
        self,
        extra_args: Sequence[str] | None = None,
        *,
        port: int | None = None,
        binary: str | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(client_kwargs)
        self.extra_args = list(extra_args or [])
        self._port = port or find_free_port()
        # A port chosen by the caller, or one already served once, is never changed.
        self._port_pinned = port is not None
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def directory(self) -> Path:
        """Working directory of the server (holds its log); created on first start."""
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="rq-test-redis-"))
        return self._directory

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def output_path(self) -> Path:
        """Where stdout/stderr go; start-up errors such as a bad option land here."""
        return self.directory / "redis.out"

    def command(self, binary: str) -> list[str]:
        return [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it answers; no-op if it is running."""
        if self.is_running:
            return
        binary = self._binary or redis_server_binary()
        if binary is None:
            raise RedisUnavailable(HOW_TO_GET_REDIS)
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._launch(binary)
            except _PortTaken:
                if self._port_pinned or attempt + 1 == PORT_ATTEMPTS:
                    raise
                self._port = find_free_port()
                # Start the next attempt with clean logs so its errors are not mixed up.
                for path in (self.output_path, self.log_path):
                    path.unlink(missing_ok=True)
            else:
                self._port_pinned = True
                return

    def start_loading(self, extra_args: Sequence[str] = ()) -> None:
        """Start the server (with ``extra_args`` for this start only) and return as soon as it
        accepts connections, possibly still answering ``LOADING`` while it reads its data from disk."""
        if self.is_running:
            return
        binary = self._binary or redis_server_binary()
        if binary is None:
            raise RedisUnavailable(HOW_TO_GET_REDIS)
        with open(self.output_path, "ab") as output:
            self._process = subprocess.Popen(
                [*self.command(binary), *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        _LIVE_SERVERS.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.is_running:
                raise RedisUnavailable(f"{self!r} exited while starting.{self._diagnostics()}")
            probe = self._new_client(socket_connect_timeout=1.0, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))
            try:
                probe.ping()
                return
            except (redis.BusyLoadingError, redis.AuthenticationError, redis.ResponseError):
                return
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass
            finally:
                probe.close()
            if time.monotonic() >= deadline:
                raise RedisUnavailable(f"{self!r} did not accept connections within {START_TIMEOUT:g}s.")
            time.sleep(PROBE_INTERVAL)

    def stop(self) -> None:
        """Shut down with SIGTERM, falling back to SIGKILL after ``STOP_TIMEOUT``."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the server, as in a crash."""
        self._terminate(signal.SIGKILL)

    def _launch(self, binary: str) -> None:
        with open(self.output_path, "ab") as output:
            self._process = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        _LIVE_SERVERS.add(self)
        try:
            self._wait_until_ready()
            self._check_identity()
        except RedisUnavailable as exc:
            self.kill()
            if isinstance(exc, _PortTaken) or "Address already in use" in str(exc):
                raise _PortTaken(str(exc)) from exc
            raise

    def _check_identity(self) -> None:
        """Fail if the PING came from another process that already held the port."""
        assert self._process is not None
        try:
            with self._new_client(socket_timeout=2.0) as client:
                pid = int(client.info("server")["process_id"])
        except redis.RedisError:
            return  # INFO refused (ACL): the liveness check below has to do
        if pid != self._process.pid:
            raise _PortTaken(f"port {self.port} is already served by process {pid}")
        if not self.is_running:
            raise RedisUnavailable(f"{self!r} exited while starting.{self._diagnostics()}")

    def _terminate(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        _LIVE_SERVERS.discard(self)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def _shutdown(self) -> None:
        self.stop()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _diagnostics(self) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            tail = _tail(path)
            if tail:
                parts.append(f"\n--- last lines of {path} ---\n{tail}")
        return "".join(parts)


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DOCKER_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise RedisUnavailable(f"'docker {' '.join(args)}' failed ({result.returncode}): {result.stderr.strip()}")
    return result


def docker_problem() -> str | None:
    """Return why Docker cannot run test containers, or None if it can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        result = _docker("info", "--format", "{{.ServerVersion}}", check=False)
    except subprocess.TimeoutExpired:
        return "'docker info' timed out"
    if result.returncode != 0 or not result.stdout.strip():
        lines = result.stderr.strip().splitlines()
        return lines[0] if lines else "'docker info' failed"
    return None


class DockerRedisServer(BaseRedisServer):
    """A Redis server in a Docker container published on a fixed 127.0.0.1 port.

    The container is created without ``--rm`` so ``docker stop`` / ``docker start`` can
    take it down and bring it back: its port binding is part of the container's
    configuration, so the server returns on the same host port. :meth:`close` removes
    the container. ``extra_args`` go to ``redis-server`` inside the container, so any
    file they name must exist inside the container too.
    """

    def __init__(
        self,
        extra_args: Sequence[str] | None = None,
        *,
        port: int | None = None,
        image: str = DOCKER_IMAGE,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(client_kwargs)
        self.extra_args = list(extra_args or [])
        self.image = image
        self.container = f"rq-test-redis-{uuid.uuid4().hex[:12]}"
        self._port = port or find_free_port()
        self._port_pinned = port is not None
        self._created = False

    @property
    def is_running(self) -> bool:
        if not self._created:
            return False
        result = _docker("container", "inspect", "--format", "{{.State.Running}}", self.container, check=False)
        return result.returncode == 0 and result.stdout.strip() == "true"

    def run_command(self) -> list[str]:
        """The ``docker run`` arguments that create and start the container."""
        return [
            "container", "run", "--detach",
            "--name", self.container,
            "--label", DOCKER_LABEL,
            "--publish", f"127.0.0.1:{self.port}:6379",
            self.image,
            "redis-server", "--save", "", "--appendonly", "no",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> None:
        """Create the container on first use, start it again after a stop."""
        if self._created:
            if not self.is_running:
                _docker("container", "start", self.container)
        else:
            self._create()
        _LIVE_SERVERS.add(self)
        self._wait_until_ready()

    def stop(self) -> None:
        if self._created:
            _docker("container", "stop", "-t", str(int(STOP_TIMEOUT)), self.container, check=False)
        _LIVE_SERVERS.discard(self)

    def kill(self) -> None:
        """SIGKILL the server process inside the container, as in a crash."""
        if self._created:
            _docker("container", "kill", self.container, check=False)
        _LIVE_SERVERS.discard(self)

    def _create(self) -> None:
        for attempt in range(PORT_ATTEMPTS):
            result = _docker(*self.run_command(), check=False)
            self._created = True
            if result.returncode == 0:
                self._port_pinned = True
                return
            # A failed start still leaves the container behind; remove it before retrying.
            _docker("container", "rm", "--force", self.container, check=False)
            self._created = False
            message = result.stderr.strip()
            port_taken = "already allocated" in message or "address already in use" in message
            if not port_taken or self._port_pinned or attempt + 1 == PORT_ATTEMPTS:
                raise RedisUnavailable(f"could not start a Redis container: {message}")
            self._port = find_free_port()

    def _shutdown(self) -> None:
        if self._created:
            _docker("container", "rm", "--force", self.container, check=False)
            self._created = False
        _LIVE_SERVERS.discard(self)

    def _diagnostics(self) -> str:
        if not self._created:
            return ""
        result = _docker("container", "logs", "--tail", str(LOG_TAIL_LINES), self.container, check=False)
        logs = (result.stdout + result.stderr).strip()
        return f"\n--- last lines of docker logs {self.container} ---\n{logs}" if logs else ""

    def __repr__(self) -> str:
        return f"<DockerRedisServer {self.container} on {self.host}:{self.port}>"


class ExternalRedis(BaseRedisServer):
    """An existing server given by URL; stopping it is not ours to do.

    :meth:`flush` empties only the URL's database (FLUSHDB) so that pointing the suite
    at a shared server does not wipe its other databases.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        options = redis.connection.parse_url(url)
        self.host = str(options.get("host", "localhost"))
        self._port = int(options.get("port", 6379))
        self.db = int(options.get("db", 0))

    @property
    def url(self) -> str:
        return self._url

    @property
    def is_running(self) -> bool:
        return True

    def start(self) -> None:
        """Check that the server answers."""
        try:
            with self._new_client(socket_connect_timeout=5.0, socket_timeout=5.0) as client:
                client.ping()
        except redis.RedisError as exc:
            raise RedisUnavailable(
                f"REDIS_URL={redact_url(self._url)} does not answer ({exc}); start that server "
                "or unset REDIS_URL to let the tests run their own redis-server"
            ) from exc

    def stop(self) -> None:
        self._needs_private_server("stop")

    def kill(self) -> None:
        self._needs_private_server("kill")

    def restart(self, downtime: float = 0.0) -> None:
        self._needs_private_server("restart")

    def flush(self) -> None:
        with self._new_client() as client:
            client.flushdb()

    def _new_client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self._url, **kwargs)

    def _shutdown(self) -> None:
        pass

    def _needs_private_server(self, action: str) -> None:
        import pytest

        pytest.skip(f"cannot {action} the server at REDIS_URL: this test needs a private server")

    def __repr__(self) -> str:
        return f"<ExternalRedis {redact_url(self._url)}>"


def redis_version(output: str) -> str | None:
    """The version in ``redis-server --version`` output (``Redis server v=7.0.15 ...``)."""
    match = re.search(r"\bv=(\S+)", output)
    return match.group(1) if match else None


def _strict(env: Mapping[str, str]) -> bool:
    return env.get(STRICT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Backend:
    """Where the test suite gets its Redis servers from."""

    kind: str  # "local", "docker" or "external"
    description: str
    warning: str | None = None
    url: str | None = None
    binary: str | None = None
    image: str | None = None
    #: Why Docker was asked for (RQ_TEST_REDIS=docker) but not used.
    docker_problem: str | None = None

    def shared_server(self) -> BaseRedisServer:
        """The server shared by the whole run (not started yet)."""
        if self.kind == "external":
            assert self.url is not None
            return ExternalRedis(self.url)
        return self.private_server()

    def private_server(self, extra_args: Sequence[str] | None = None, **options: Any) -> BaseRedisServer:
        """A new server of this backend's kind that a test may stop and restart."""
        if self.kind == "docker":
            if self.image is not None:
                options.setdefault("image", self.image)
            return DockerRedisServer(extra_args, **options)
        binary = self.binary or redis_server_binary()
        if binary is None:
            raise RedisUnavailable(NEEDS_PRIVATE_SERVER)
        return RedisServer(extra_args, binary=binary, **options)

    def preflight(self) -> str | None:
        """Fail fast, with a clear message, if this backend cannot give a server.

        Returns the Redis version the run will test against, when it can be found out.
        """
        if self.kind == "external":
            server = self.shared_server()
            server.start()
            try:
                with server._new_client(socket_timeout=5.0) as client:
                    return str(client.info("server")["redis_version"])
            except (redis.RedisError, KeyError):
                return None  # INFO refused (ACL): the version stays unknown
        if self.kind == "docker":
            image = self.image or DOCKER_IMAGE
            # Also pulls the image, so a missing one fails here rather than in the first test.
            result = _docker("container", "run", "--rm", "--label", DOCKER_LABEL, image, "redis-server", "--version")
            return redis_version(result.stdout)
        assert self.binary is not None
        try:
            result = subprocess.run(
                [self.binary, "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise RedisUnavailable(f"{self.binary} does not run: {exc}") from exc
        return redis_version(result.stdout)

    def header(self, version: str | None = None) -> str:
        """The pytest header line: which Redis the run uses, and its version when known."""
        line = f"redis: {self.description}"
        if version:
            line += f", Redis {version}"
        if self.docker_problem:
            line += f" (fallback: RQ_TEST_REDIS=docker but Docker is not usable: {self.docker_problem})"
        return line


def select_backend(
    environ: Mapping[str, str] | None = None,
    docker_check: Callable[[], str | None] = docker_problem,
) -> Backend:
    """Choose the backend from ``REDIS_URL``, ``RQ_TEST_REDIS`` and ``REDIS_SERVER_BIN``.

    ``REDIS_URL`` wins; ``RQ_TEST_REDIS=docker`` asks for containers and falls back to a
    local ``redis-server`` (with a warning) when Docker is not usable, or raises
    :class:`RedisUnavailable` instead when ``RQ_TEST_REDIS_STRICT=1``. Raises
    :class:`RedisUnavailable` with instructions when no Redis can be had.
    """
    env = os.environ if environ is None else environ
    url = env.get("REDIS_URL")
    if url:
        return Backend("external", f"existing server at {redact_url(url)} (REDIS_URL)", url=url)

    choice = env.get("RQ_TEST_REDIS", "").strip().lower() or "local"
    warning = problem = None
    if choice == "docker":
        image = env.get("RQ_TEST_REDIS_IMAGE") or DOCKER_IMAGE
        problem = docker_check()
        if problem is None:
            return Backend("docker", f"Docker containers from image {image} (RQ_TEST_REDIS=docker)", image=image)
        if _strict(env):
            raise RedisUnavailable(
                f"RQ_TEST_REDIS=docker and {STRICT_VARIABLE}={env[STRICT_VARIABLE]}, but Docker is not usable "
                f"({problem}); start Docker, or unset {STRICT_VARIABLE} to fall back to a local redis-server"
            )
        warning = f"RQ_TEST_REDIS=docker but Docker is not usable ({problem}); using a local redis-server instead"
    elif choice != "local":
        raise RedisUnavailable(f"RQ_TEST_REDIS={choice!r} is not supported; use 'local' or 'docker'")

    binary = redis_server_binary(env)
    if binary is None:
        configured = env.get("REDIS_SERVER_BIN")
        if configured:
            raise RedisUnavailable(
                f"REDIS_SERVER_BIN={configured} is not an executable program; point it at redis-server or unset it"
            )
        raise RedisUnavailable(HOW_TO_GET_REDIS)
    description = f"local redis-server binary {binary}, private processes"
    return Backend("local", description, warning, binary=binary, docker_problem=problem)
