"""Fixtures of the command-line tests: a clean environment and an in-process ``rq`` runner."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from click.testing import Result

from rq.cli import main
from tests.cli.support import RQ_ENV_VARS, cli_runner

_LOGGERS = ("rq.worker", "rq.job", "rq.worker_pool", "rq.scheduler")


@pytest.fixture(autouse=True)
def _no_rq_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands under test must not pick up RQ_* settings of the developer's shell."""
    for name in RQ_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restore_process_state() -> Iterator[None]:
    """Undo what an in-process worker leaves behind: signal handlers and log handlers."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    loggers = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in _LOGGERS}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    for name, (saved, level) in loggers.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = saved
        logger.setLevel(level)


@pytest.fixture
def cli(redis_url: str) -> Callable[..., Result]:
    """``cli("info", "-Q")`` runs ``rq info -u <test redis> -Q`` in-process with click's CliRunner."""
    runner = cli_runner()

    def invoke(*args: str, url: bool = True, command: Any = main, **kwargs: Any) -> Result:
        argv = list(args)
        if url:
            position = 1 if command is main else 0
            argv[position:position] = ["--url", redis_url]
        return runner.invoke(command, argv, **kwargs)

    return invoke
