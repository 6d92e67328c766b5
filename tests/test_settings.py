"""The settings object (rq.settings) and its docs page, which must not drift from it."""

from __future__ import annotations

from pathlib import Path

from rq import settings as settings_module
from rq.settings import Settings, settings

ROOT = Path(__file__).resolve().parent.parent


def test_docs_page_matches_the_settings_object() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert page == settings_module.render_markdown(), (
        "docs/settings.md is out of date: run `python -m rq.settings > docs/settings.md`"
    )


def test_docs_page_is_in_the_nav_and_on_the_front_page() -> None:
    assert "settings.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "settings.md" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def test_every_setting_has_a_meaning_and_unique_environment_variable() -> None:
    described = Settings.describe()
    assert described and all(s.meaning.strip() for s in described)
    envs = [s.env for s in described if s.env]
    assert len(envs) == len(set(envs)) and all(env.startswith("RQ_") for env in envs)


def test_environment_overrides_and_bad_values_fall_back() -> None:
    read = Settings.from_env({"RQ_BACKOFF_MAX": "7.5", "RQ_DEQUEUE_POLL_MAX": "not a number"})
    assert read.backoff_max == 7.5
    assert read.dequeue_poll_max == Settings().dequeue_poll_max
    assert Settings.from_env({}) == Settings()


def test_modules_read_their_tunables_from_the_settings() -> None:
    from rq import health, resilience, scheduler, worker, worker_pool
    from rq.worker import command_channel, dequeuer

    assert settings.backoff_max == resilience.BACKOFF_MAX
    assert settings.dequeue_poll_max == dequeuer.DEQUEUE_POLL_MAX
    assert settings.command_channel_check_interval == command_channel.COMMAND_CHANNEL_CHECK_INTERVAL
    assert settings.liveness_window == health.LIVENESS_WINDOW
    assert settings.pool_shutdown_timeout == worker_pool.SHUTDOWN_TIMEOUT
    assert settings.scheduler_interval == scheduler.DEFAULT_SCHEDULER_INTERVAL
    assert worker.Worker.scheduler_interval == settings.scheduler_interval
    assert worker.Worker.max_connection_wait_time == settings.backoff_max
