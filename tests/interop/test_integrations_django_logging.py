"""django-rq's README logging configuration, with this package's ``rq.logutils``, against real Redis.

The README tells Django users to log the worker through an ``rq_console`` handler of class
``rq.logutils.ColorizingStreamHandler`` that takes ``exclude=["%(asctime)s"]``. Django
hands ``settings.LOGGING`` to ``logging.config.dictConfig``, which builds the handler with
that keyword: the handler class must accept it. ``manage.py rqworker --burst`` must start
with that configuration, run the jobs, and log through that handler (stderr, the README's
format) instead of the stdout handler ``setup_loghandlers`` would otherwise attach.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from rq import Queue
from rq.job import Job, JobStatus
from tests import venvs
from tests.interop import django_project, tools_env
from tests.interop.peer import PeerUnavailable

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

DRIVER_TIMEOUT = 90.0
# The README's configuration, as printed there, except the ``sentry`` handler its logger also
# names: the README leaves that handler's definition out, and dictConfig refuses an undefined one.
README_LOGGING = """
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "rq_console": {
            "format": "%(asctime)s %(message)s",
            "datefmt": "%H:%M:%S",
        },
    },
    "handlers": {
        "rq_console": {
            "level": "DEBUG",
            "class": "rq.logutils.ColorizingStreamHandler",
            "formatter": "rq_console",
            "exclude": ["%(asctime)s"],
        },
    },
    "loggers": {
        "rq.worker": {
            "handlers": ["rq_console"],
            "level": "DEBUG",
        },
    },
}
"""
# A line the README's formatter writes: the time (``%H:%M:%S``), a space, the message.
README_LINE = re.compile(r"^\d\d:\d\d:\d\d \S")


@pytest.fixture(scope="module")
def tools() -> Path:
    """The tools virtualenv (django-rq) python; skips the test (fails it under CI) when it cannot be built."""
    try:
        return tools_env.ensure_tools()
    except PeerUnavailable as exc:
        venvs.unavailable(f"the tools virtualenv is not available: {exc}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = django_project.write_project(tmp_path / "site", cron_standin=False)
    settings = directory / django_project.PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + README_LOGGING)
    return directory


def test_rqworker_logs_through_the_readme_handler(
    tools: Path, project: Path, redis_url: str, connection: redis.Redis
) -> None:
    queue = Queue(django_project.JOB_QUEUE, connection=connection)
    finished = queue.enqueue("interop_jobs.add", 20, 22, job_id="django-logging-add")
    failed = queue.enqueue("interop_jobs.fail", "logged by rq_console", job_id="django-logging-fail")

    env = tools_env.tools_env({django_project.REDIS_URL_VAR: redis_url})
    proc = tools_env.run_driver(
        [str(tools), "manage.py", "rqworker", "--burst", django_project.JOB_QUEUE],
        env, project, "manage.py rqworker --burst with the README's LOGGING", DRIVER_TIMEOUT,
    )  # fmt: skip
    assert Job.fetch(finished.id, connection=connection).get_status() == JobStatus.FINISHED
    assert Job.fetch(failed.id, connection=connection).get_status() == JobStatus.FAILED

    # Everything the worker logged went to the README's handler (stderr), in its format.
    assert "Successfully completed interop_jobs.add(20, 22)" in proc.stderr, proc.stderr
    assert "logged by rq_console" in proc.stderr
    assert "Successfully completed" not in proc.stdout, proc.stdout
    worker_lines = [line for line in proc.stderr.splitlines() if "Successfully completed" in line]
    assert len(worker_lines) == 1, proc.stderr  # no second handler wrote it again
    assert README_LINE.match(worker_lines[0]), worker_lines[0]
    assert "--- Logging error ---" not in proc.stderr, proc.stderr  # what logging prints when a handler raises


def test_the_readme_handler_keeps_exclude(tools: Path, project: Path, redis_url: str) -> None:
    """The handler dictConfig built from the README takes ``exclude`` and keeps it."""
    snippet = (
        "import logging, django\ndjango.setup()\n"
        "[handler] = logging.getLogger('rq.worker').handlers\n"
        "print(type(handler).__module__, type(handler).__name__, handler.exclude, handler.level)\n"
    )
    env = tools_env.tools_env({django_project.REDIS_URL_VAR: redis_url,
                               "DJANGO_SETTINGS_MODULE": f"{django_project.PACKAGE}.settings"})  # fmt: skip
    proc = tools_env.run_driver([str(tools), "-c", snippet], env, project, "django.setup()", DRIVER_TIMEOUT)
    assert proc.stdout.split() == ["rq.logutils", "ColorizingStreamHandler", "['%(asctime)s']", "10"]
