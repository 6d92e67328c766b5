"""rq.health_checks: the checks without HTTP, and rq.health, their public path and composition."""

from __future__ import annotations

import subprocess
import sys

from rq import health, health_checks


def test_rq_health_exports_the_checks():
    for name in health_checks.__all__:
        assert getattr(health, name) is getattr(health_checks, name)


def test_check_worker_record_of_an_unknown_worker(connection):
    result = health_checks.check_worker_record(connection, "rq:worker:nobody")
    assert result.name == "nobody" and not result.found and not result.healthy


def test_the_checks_load_no_http_server():
    code = "import sys, rq.health_checks, rq.health\nprint('http.server' in sys.modules, 'rq.metrics' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["False", "False"]
