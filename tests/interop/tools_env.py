"""The tools RQ users already run (rq-dashboard, django-rq, sentry-sdk) in a cached virtualenv.

The virtualenv lives in ``<repo>/.peer/tools/`` (override with ``RQ_TOOLS_DIR``) and is built
by ``tests.venvs`` from the lock ``requirements/tools.txt``. It holds this repository's ``rq``
as an editable install, the tools installed with ``--no-deps`` (so pip never gets a chance to
swap our ``rq`` for upstream's), and the tools' other dependencies installed explicitly.
While building, pip is also asked to resolve the tools with their declared dependencies in
a dry run; the report it writes shows whether a plain ``pip install <tool>`` would replace
our ``rq``.

The module also holds what the tool tests share: background processes that are always
stopped, free ports, bounded waits for HTTP servers, and a logged-in Django admin client.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Optional

import pytest

from tests import venvs
from tests.interop import peer

# The tools, and what they need besides ``rq``; versions come from requirements/tools.txt.
# rq-dashboard 0.9.0 imports ``six`` without declaring it; selenium drives Chromium.
TOOLS = ("rq-dashboard", "django-rq", "sentry-sdk")
TOOL_DEPENDENCIES = (
    "Flask",
    "arrow",
    "redis-sentinel-url",
    "six",
    "Django",
    "urllib3",
    "certifi",
    "selenium",
)
LOCK = "tools"
# pip's report of a full dependency resolution of the tools (``pip install --dry-run``).
RESOLUTION_REPORT = "tools-resolution.json"

# Seconds a test waits for a server to answer, or for a process to exit after a signal.
SERVER_START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Seconds allowed for one HTTP request to a local server.
HTTP_TIMEOUT = 15.0
POLL_INTERVAL = 0.05

# Debian's ``chromium`` and ``chromium-driver`` packages; overridable for other systems.
CHROMIUM_ENV = "RQ_TEST_CHROMIUM"
CHROMEDRIVER_ENV = "RQ_TEST_CHROMEDRIVER"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_NAME = "chromedriver"


def tools_dir() -> Path:
    return Path(os.environ.get("RQ_TOOLS_DIR") or venvs.peer_root() / "tools").resolve()


def tools_python(directory: Optional[Path] = None) -> Path:
    return venvs.venv_python(directory or tools_dir())


def tools_spec() -> venvs.VenvSpec:
    """This repository's rq (editable), the tools without their own dependencies (so pip never
    swaps our rq for upstream's), then those dependencies, all held to the tools lock."""
    directory = tools_dir()
    # ``sentry-sdk[rq]`` adds the integration's own ``rq`` requirement, where it declares one.
    resolved = [*TOOLS[:-1], "sentry-sdk[rq]"]
    # django_rq reads Django settings on import, so it is only located here.
    check = (
        "import importlib.util, os, sys, rq, rq_dashboard.web, sentry_sdk, selenium, django\n"
        "assert importlib.util.find_spec('django_rq')\n"
        f"sys.exit(not os.path.realpath(rq.__file__).startswith({str(peer.REPO_ROOT)!r}))\n"
    )
    return venvs.VenvSpec(
        directory=directory,
        what="the tools virtualenv",
        installs=(
            ("-e", str(peer.REPO_ROOT)),
            ("--no-deps", *TOOLS),
            TOOL_DEPENDENCIES,
            ("--dry-run", "--report", str(directory / RESOLUTION_REPORT), *resolved),
        ),
        lock=LOCK,
        check=check,
        # The editable install's metadata carries the package version: rebuild when it changes.
        marker_extra=(f"rq {_package_version()}",),
    )


def _package_version() -> str:
    """``VERSION`` as rq/version.py of this checkout says (without importing the package)."""
    text = (peer.REPO_ROOT / "rq" / "version.py").read_text(encoding="utf-8")
    match = re.search(r"^VERSION\s*=\s*[\"']([^\"']+)", text, re.MULTILINE)
    return match.group(1) if match else "?"


def ensure_tools() -> Path:
    """Build the tools virtualenv if needed; return its python. Raises ``peer.PeerUnavailable``."""
    return venvs.ensure(tools_spec())


def tools_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Environment for processes of the tools virtualenv: only the job-functions folder on PYTHONPATH."""
    env = venvs.clean_environment()
    env["PYTHONPATH"] = str(peer.JOBS_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run_tools(
    args: Sequence[str], cwd: Path, env: Optional[dict[str, str]] = None, timeout: float = peer.RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``<tools python> args...`` to completion, output captured."""
    try:
        return subprocess.run(
            [str(tools_python()), *args], cwd=cwd, env=env or tools_env(), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        output = peer.describe_output(exc.stdout, exc.stderr)
        pytest.fail(f"`{' '.join(args)}` did not finish within {timeout:.0f}s\n{output}")


def check_run(proc: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        pytest.fail(f"{what} exited {proc.returncode}\n{peer.describe_output(proc.stdout, proc.stderr)}")
    return proc


def find_chromium() -> Optional[tuple[str, str]]:
    """``(chromium, chromedriver)`` paths, or None when either is missing."""
    browser = os.environ.get(CHROMIUM_ENV) or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver = os.environ.get(CHROMEDRIVER_ENV) or shutil.which(CHROMEDRIVER_NAME)
    if browser and driver and os.access(browser, os.X_OK) and os.access(driver, os.X_OK):
        return browser, driver
    return None


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BackgroundProcess:
    """A long-running process a test started, in its own process group, output in a log file."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str], log_path: Path, what: str) -> None:
        self.what = what
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                list(args), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        try:
            return f"--- {self.what} output ---\n{self.log_path.read_text()[-6000:]}"
        except OSError:
            return f"--- {self.what} output unavailable ---"

    def check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.what} exited early with {self.process.returncode}\n{self.output()}")

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)  # the group this process leads, nothing else
        except ProcessLookupError:
            pass

    def stop(self, first_signal: int = signal.SIGTERM) -> None:
        """``first_signal`` to the process group, then SIGKILL if it is still there; always reaped."""
        if self.process.poll() is None:
            self._signal_group(first_signal)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Children (a worker's horse, a browser) may outlive the leader; the group goes with it.
        self._signal_group(signal.SIGKILL)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.what} (pid {self.process.pid}) survived SIGKILL")


def wait_for_http(url: str, server: BackgroundProcess, timeout: float = SERVER_START_TIMEOUT) -> None:
    """Wait until ``url`` answers with any HTTP status; fail early if ``server`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        server.check_running()
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{server.what} did not answer {url} within {timeout:.0f}s\n{server.output()}")
        time.sleep(POLL_INTERVAL)


class HttpClient:
    """urllib with a cookie jar; responses are ``(status, body text)``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: Optional[dict[str, str]] = None) -> tuple[int, str]:
        url = self.base_url + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, headers={"Referer": url})
        try:
            with self.opener.open(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def get(self, path: str) -> str:
        status, body = self.request(path)
        assert status == 200, f"GET {path} answered {status}\n{body[-3000:]}"
        return body

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def post(self, path: str, data: Optional[dict[str, str]] = None) -> str:
        status, body = self.request(path, data=dict(data or {}))
        assert status == 200, f"POST {path} answered {status}\n{body[-3000:]}"
        return body

    def cookie(self, name: str) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == name)


class DjangoAdminClient(HttpClient):
    """An HttpClient logged in to the Django admin; POSTs carry the CSRF token."""

    def login(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        status, body = self.request(
            "/admin/login/",
            {"csrfmiddlewaretoken": self.cookie("csrftoken"), "username": username, "password": password,
             "next": "/admin/"},
        )  # fmt: skip
        assert status == 200 and "Log out" in body, f"admin login failed ({status})\n{body[-3000:]}"

    def post(self, path: str, data: Optional[dict[str, str]] = None) -> str:
        return super().post(path, {"csrfmiddlewaretoken": self.cookie("csrftoken"), **(data or {})})


class TableRows(HTMLParser):
    """Text of every table row in an HTML page, one list of cell texts per ``<tr>``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: Optional[list[str]] = None

    @classmethod
    def parse(cls, page: str) -> list[list[str]]:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser.rows

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def row_for(rows: list[list[str]], first_cell: str) -> list[str]:
    """The table row whose first cell is ``first_cell``."""
    matches = [row for row in rows if row and row[0] == first_cell]
    assert len(matches) == 1, f"expected one row for {first_cell!r}, found {len(matches)} in {rows}"
    return matches[0]


def run_driver(
    args: list[str], env: dict[str, str], cwd: Path, what: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a driver script in its own process group; the whole group is killed if it hangs or leaves children."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{what} did not finish within {timeout:.0f}s\n{peer.describe_output(stdout, stderr)}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything the script left behind in its group
        except ProcessLookupError:
            pass
    if process.returncode != 0:
        pytest.fail(f"{what} exited {process.returncode}\n{peer.describe_output(stdout, stderr)}")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


# A second virtualenv, ``<repo>/.peer/integrations/`` (override with ``RQ_INTEGRATIONS_DIR``),
# for rq-scheduler and Flask-RQ2, held to the same lock. They stay out of the tools
# virtualenv because django-rq changes behaviour when rq-scheduler is importable (its
# statistics then report ``scheduler_pid`` as False instead of RQ's scheduler's pid).
# It also holds sentry-sdk with fakeredis (and lua), as sentry-sdk's own RQ tests run it.
INTEGRATIONS = ("rq-scheduler", "Flask-RQ2")
INTEGRATION_DEPENDENCIES = ("Flask", "crontab", "freezegun", "python-dateutil", "sentry-sdk", "fakeredis[lua]")
INTEGRATIONS_REPORT = "integrations-resolution.json"


def integrations_dir() -> Path:
    return Path(os.environ.get("RQ_INTEGRATIONS_DIR") or venvs.peer_root() / "integrations").resolve()


def integrations_spec() -> venvs.VenvSpec:
    """This repository's rq (editable), rq-scheduler and Flask-RQ2 without their own dependencies
    (so pip never swaps our rq), then those dependencies, sentry-sdk and fakeredis, all held to the tools lock."""
    directory = integrations_dir()
    check = (
        "import os, sys, rq, rq_scheduler, flask_rq2, flask, sentry_sdk, fakeredis, lupa\n"
        f"sys.exit(not os.path.realpath(rq.__file__).startswith({str(peer.REPO_ROOT)!r}))\n"
    )
    return venvs.VenvSpec(
        directory=directory,
        what="the integrations virtualenv",
        installs=(
            ("-e", str(peer.REPO_ROOT)),
            ("--no-deps", *INTEGRATIONS),
            INTEGRATION_DEPENDENCIES,
            ("--dry-run", "--report", str(directory / INTEGRATIONS_REPORT), *INTEGRATIONS),
        ),
        lock=LOCK,
        check=check,
        marker_extra=(f"rq {_package_version()}",),
    )


def integrations_or_skip() -> Path:
    """The integrations virtualenv's python, built if needed; skips the test (fails it under CI) when it cannot be."""
    try:
        return venvs.ensure(integrations_spec())
    except peer.PeerUnavailable as exc:
        venvs.unavailable(f"the integrations virtualenv is not available: {exc}")


def integrations_script(name: str) -> Path:
    """A console script the integrations virtualenv installed (``rqscheduler``, ``flask``)."""
    return venvs.venv_python(integrations_dir()).parent / name
