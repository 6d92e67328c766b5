"""Sentry: ``rq.contrib.sentry.register_sentry`` and ``rq worker --sentry-dsn`` with sentry-sdk's RQ integration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from rq import Queue
from rq.cli import worker, worker_pool
from rq.cli.helpers import CliConfig
from rq.cli.workers import setup_sentry
from rq.contrib import sentry as rq_sentry
from rq.job import JobStatus
from tests.cli.support import SentryCollector, run_rq, wait_for

FAIL = "tests.cli.cli_jobs.fail"


def test_register_sentry_explains_a_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    with pytest.raises(ImportError, match=r"pip install 'rq\[sentry\]'"):
        rq_sentry.register_sentry("http://key@localhost/1")


def test_register_sentry_initialises_the_sdk_with_the_rq_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.rq import RqIntegration

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda *args, **kwargs: calls.append((args, kwargs)))
    rq_sentry.register_sentry("http://key@localhost/1", ca_certs=None, debug=True)
    [(args, kwargs)] = calls
    assert args == ("http://key@localhost/1",)
    assert [type(i) for i in kwargs.pop("integrations")] == [RqIntegration]
    assert kwargs == {"debug": True}


def test_sentry_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(rq_sentry, "register_sentry", lambda dsn, **opts: calls.append((dsn, opts)))
    (tmp_path / "cli_sentry_settings.py").write_text(
        "SENTRY_DSN = 'http://config@localhost/1'\nSENTRY_CA_CERTS = '/config-ca.pem'\nSENTRY_DEBUG = 'yes'\n"
    )
    config = CliConfig(config="cli_sentry_settings", path=[str(tmp_path)])
    setup_sentry(config, None, None, None)
    setup_sentry(config, "http://option@localhost/1", "/option-ca.pem", "false")
    setup_sentry(CliConfig(), None, None, None)  # no DSN anywhere: nothing to do
    assert calls == [
        ("http://config@localhost/1", {"ca_certs": "/config-ca.pem", "debug": True}),
        ("http://option@localhost/1", {"ca_certs": "/option-ca.pem", "debug": False}),
    ]


def test_sentry_options_read_the_environment() -> None:
    for command in (worker, worker_pool):
        envvars = {param.name: param.envvar for param in command.params}
        assert envvars["sentry_dsn"] == "RQ_SENTRY_DSN"
        assert envvars["sentry_ca_certs"] == "RQ_SENTRY_CA_CERTS"
        assert envvars["sentry_debug"] == "RQ_SENTRY_DEBUG"


def run_failing_job(redis_url: str, connection: redis.Redis, worker_class: str) -> tuple[Any, list[dict]]:
    job = Queue("sentry", connection=connection).enqueue(FAIL, "reported to sentry")
    with SentryCollector() as collector:
        result = run_rq(
            "worker", "--burst", "--url", redis_url, "-w", worker_class, "--sentry-dsn", collector.dsn, "sentry"
        )
        assert result.returncode == 0, result.stderr
        assert job.get_status() == JobStatus.FAILED
        wait_for(lambda: collector.events, timeout=5, message="an event from the worker")
        return job, collector.events


def assert_one_event_for(job: Any, events: list[dict]) -> None:
    assert len(events) == 1
    [event] = events
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("ValueError", "reported to sentry")
    details = event["extra"]["rq-job"]
    assert details["job_id"] == job.id
    assert details["func"] == FAIL
    assert details["description"] == f"{FAIL}('reported to sentry')"


def test_failed_job_reaches_sentry_once(redis_url: str, connection: redis.Redis) -> None:
    job, events = run_failing_job(redis_url, connection, "tests.cli.cli_jobs.FailedFirstWorker")
    assert_one_event_for(job, events)


@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_stock_workers_report_failed_jobs(redis_url: str, connection: redis.Redis, worker_class: str) -> None:
    job, events = run_failing_job(redis_url, connection, worker_class)
    assert_one_event_for(job, events)


def test_worker_pool_workers_report_to_sentry(redis_url: str, connection: redis.Redis) -> None:
    job = Queue("sentry", connection=connection).enqueue(FAIL, "reported to sentry")
    with SentryCollector() as collector:
        result = run_rq(
            "worker-pool",
            "--burst",
            "-n",
            "1",
            "--url",
            redis_url,
            "-w",
            "tests.cli.cli_jobs.FailedFirstWorker",
            "--sentry-dsn",
            collector.dsn,
            "sentry",
        )
        assert result.returncode == 0, result.stderr
        wait_for(lambda: collector.events, timeout=5, message="an event from the pool's worker")
        assert_one_event_for(job, collector.events)
