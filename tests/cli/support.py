"""Helpers for the command-line tests: running ``python -m rq``, waiting, a stand-in Sentry server."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
# Environment variables that would change what the commands under test do.
RQ_ENV_VARS = (
    "RQ_REDIS_URL",
    "RQ_CONFIG",
    "RQ_WORKER_CLASS",
    "RQ_JOB_CLASS",
    "RQ_QUEUE_CLASS",
    "RQ_CONNECTION_CLASS",
    "RQ_SENTRY_DSN",
    "RQ_SENTRY_CA_CERTS",
    "RQ_SENTRY_DEBUG",
)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Poll until ``predicate()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def rq_env(**extra: str) -> dict[str, str]:
    """The environment for an ``rq`` subprocess: ours, minus RQ_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in RQ_ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_rq(
    *args: str, timeout: float = 60.0, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None
) -> subprocess.CompletedProcess:
    """Run ``python -m rq ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "rq", *args],
        cwd=cwd or ROOT,
        env=env or rq_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_rq(*args: str, output: Path, env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    """Start ``python -m rq ARGS`` in the background, its output going to ``output``."""
    with open(output, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "rq", *args],
            cwd=ROOT,
            env=env or rq_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_process reaches its children too
        )


def stop_process(process: subprocess.Popen) -> None:
    """Kill ``process`` and whatever is left of its process group (a pool's workers, a horse)."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def parse_envelope(body: bytes) -> list[tuple[dict, bytes]]:
    """Items ``(header, payload)`` of a Sentry envelope."""
    items = []
    pos = body.find(b"\n") + 1 if b"\n" in body else len(body)
    while pos < len(body):
        end = body.find(b"\n", pos)
        end = len(body) if end == -1 else end
        line = body[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:
            end = body.find(b"\n", pos)
            end = len(body) if end == -1 else end
            payload, pos = body[pos:end], end + 1
        else:
            payload, pos = body[pos : pos + length], pos + length + 1
        items.append((header, payload))
    return items


class SentryCollector:
    """A local HTTP server that accepts Sentry envelopes (and 1.x store requests) and keeps their events."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path.rstrip("/").endswith("/store"):  # sentry-sdk 1.x posts an event alone
                    collector.events.append(json.loads(body))
                else:
                    for header, payload in parse_envelope(body):
                        if header.get("type") == "event":
                            collector.events.append(json.loads(payload))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"

    def __enter__(self) -> "SentryCollector":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def cli_runner() -> CliRunner:
    """A CliRunner with ``result.stderr`` captured apart, on every click version (8.0-8.1 mix it in)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 always keeps stderr apart
        return CliRunner()
