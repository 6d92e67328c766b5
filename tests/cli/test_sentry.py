"""Sentry: ``rq.contrib.sentry.register_sentry`` and ``rq worker --sentry-dsn`` with sentry-sdk's RQ integration."""

from __future__ import annotations

import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import redis

from rq import Queue
from rq.cli import worker, worker_pool
from rq.cli.helpers import CliConfig
from rq.cli.workers import setup_sentry
from rq.contrib import sentry as rq_sentry
from rq.job import Job, JobStatus
from tests.cli.support import SentryCollector, run_rq, wait_for

FAIL = "tests.cli.cli_jobs.fail"


def test_register_sentry_explains_a_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    # The hint names sentry-sdk itself: `pip install 'rq[sentry]'` would install PyPI's rq over this package.
    with pytest.raises(ImportError, match=r"pip install sentry-sdk$"):
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


class FakeScope:
    """Stands in for a sentry-sdk scope (2.x/3.x) or hub (1.x): one span, or none."""

    def __init__(self, span: object) -> None:
        self.span = span
        self.scope = self

    def iter_trace_propagation_headers(self) -> Any:
        yield "sentry-trace", "0123456789abcdef0123456789abcdef-0123456789abcdef-1"
        yield "baggage", "sentry-trace_id=0123456789abcdef0123456789abcdef"


def fake_sdk(monkeypatch: pytest.MonkeyPatch, generation: int, enabled: bool, span: object) -> None:
    """Fake ``sentry_sdk`` and ``sentry_sdk.integrations.rq`` modules in ``sys.modules``."""
    integration = type("RqIntegration", (), {})
    scope = FakeScope(span)
    client = types.SimpleNamespace(get_integration=lambda cls: cls() if enabled and cls is integration else None)
    if generation >= 2:
        sdk = types.SimpleNamespace(get_client=lambda: client, get_current_scope=lambda: scope)
    else:
        scope.get_integration = client.get_integration  # type: ignore[attr-defined]
        sdk = types.SimpleNamespace(Hub=types.SimpleNamespace(current=scope))
    monkeypatch.setitem(sys.modules, "sentry_sdk", sdk)
    monkeypatch.setitem(sys.modules, "sentry_sdk.integrations.rq", types.SimpleNamespace(RqIntegration=integration))


@pytest.mark.parametrize("generation", [1, 2, 3])
@pytest.mark.parametrize(
    ("enabled", "span", "stored"), [(True, "span", True), (True, None, False), (False, "span", False)]
)
def test_store_trace_headers_follows_the_integration(
    monkeypatch: pytest.MonkeyPatch, generation: int, enabled: bool, span: object, stored: bool
) -> None:
    """As the integration's ``enqueue_job``: headers only with the integration on and a span active."""
    fake_sdk(monkeypatch, generation, enabled, span)
    job = Job.create(FAIL, connection=redis.Redis(), meta={"kept": 1})
    rq_sentry.store_trace_headers(job)
    expected = {"kept": 1}
    if stored:
        expected["_sentry_trace_headers"] = dict(FakeScope(span).iter_trace_propagation_headers())
    assert job.meta == expected


def test_store_trace_headers_never_breaks_an_enqueue(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("sentry-sdk is having a bad day")

    monkeypatch.setitem(sys.modules, "sentry_sdk", types.SimpleNamespace(get_client=broken, get_current_scope=broken))
    monkeypatch.setitem(sys.modules, "sentry_sdk.integrations.rq", types.SimpleNamespace(RqIntegration=object))
    job = Job.create(FAIL, connection=redis.Redis())
    rq_sentry.store_trace_headers(job)
    assert job.meta == {}


def test_store_trace_headers_without_sentry_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sentry_sdk.integrations.rq", raising=False)
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # an import attempt would raise ImportError
    job = Job.create(FAIL, connection=redis.Redis())
    rq_sentry.store_trace_headers(job)
    assert job.meta == {}


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


def sentry_sdk_major() -> int:
    return int(metadata.version("sentry-sdk").split(".")[0])


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
    if worker_class.endswith("SimpleWorker") and sentry_sdk_major() < 2:
        pytest.skip("sentry-sdk 1.x patches only rq.worker.Worker; SimpleWorker is a BaseWorker, as upstream's")
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
