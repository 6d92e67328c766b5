"""Shared fixtures: one Redis server for the run, private servers on demand.

The backend comes from the environment (see ``tests/redis_harness.py``): a private
``redis-server`` by default, Docker containers with ``RQ_TEST_REDIS=docker`` (a local
``redis-server`` if Docker is not usable, or an error with ``RQ_TEST_REDIS_STRICT=1``),
or an existing server with ``REDIS_URL``. The header line ``redis: ...`` names it and
its version. If none can be had, the run stops before the first test with one message
saying how to get Redis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from tests.redis_harness import (
    HOW_TO_GET_REDIS,
    Backend,
    BaseRedisServer,
    RedisFactory,
    RedisUnavailable,
    select_backend,
)

_BACKEND = pytest.StashKey["Backend | None"]()
_BACKEND_ERROR = pytest.StashKey["str | None"]()
_SERVER_VERSION = pytest.StashKey["str | None"]()
# Exit status of a run whose Redis server fails to start (pytest's "usage error").
NO_REDIS_EXIT_STATUS = pytest.ExitCode.USAGE_ERROR


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_BACKEND] = select_backend()
        config.stash[_BACKEND_ERROR] = None
    except RedisUnavailable as exc:
        config.stash[_BACKEND] = None
        config.stash[_BACKEND_ERROR] = str(exc)


def pytest_report_header(config: pytest.Config) -> str:
    """``redis: <where the servers come from>, Redis <version>`` (the version once preflight ran)."""
    backend = config.stash.get(_BACKEND, None)
    if backend is None:
        return "redis: none available"
    return backend.header(config.stash.get(_SERVER_VERSION, None))


def pytest_sessionstart(session: pytest.Session) -> None:
    # Runs before the terminal reporter prints the header, so the header can name the version.
    config = session.config
    if config.option.collectonly:
        return
    backend = _backend(config)
    if backend.warning:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"WARNING: {backend.warning}", yellow=True, bold=True)
    try:
        config.stash[_SERVER_VERSION] = backend.preflight()
    except RedisUnavailable as exc:
        # A UsageError ends the run before any test with exactly one "ERROR: ..." line.
        raise pytest.UsageError(str(exc)) from None


def _backend(config: pytest.Config) -> Backend:
    backend = config.stash.get(_BACKEND, None)
    if backend is None:
        raise pytest.UsageError(config.stash.get(_BACKEND_ERROR, None) or HOW_TO_GET_REDIS)
    return backend


@pytest.fixture(scope="session")
def redis_server(pytestconfig: pytest.Config) -> Iterator[BaseRedisServer]:
    """The Redis server shared by the whole run: started once, stopped at the end."""
    server = _backend(pytestconfig).shared_server()
    try:
        server.start()
    except RedisUnavailable as exc:
        pytest.exit(f"Could not start the test Redis server: {exc}", returncode=NO_REDIS_EXIT_STATUS)
    yield server
    server.close()


@pytest.fixture
def _fresh_redis_server(redis_server: BaseRedisServer) -> BaseRedisServer:
    """The shared server, started again if a test stopped it, with no data in it."""
    if not redis_server.is_running:
        redis_server.start()
    redis_server.flush()
    return redis_server


@pytest.fixture
def redis_url(_fresh_redis_server: BaseRedisServer) -> str:
    """URL of the shared server (running and flushed, like ``connection``)."""
    return _fresh_redis_server.url


@pytest.fixture
def connection(_fresh_redis_server: BaseRedisServer) -> Iterator[redis.Redis]:
    """A client of the shared server; the server is flushed before each test."""
    client = _fresh_redis_server.client()
    yield client
    client.close()


@pytest.fixture
def redis_factory(pytestconfig: pytest.Config) -> Iterator[RedisFactory]:
    """Start extra private servers: ``redis_factory(extra_args=None, **options)``.

    ``options`` go to the server class (``port``, ``client_kwargs``). Every server
    started here is stopped and removed when the test ends. Skips the test when only a
    shared ``REDIS_URL`` server is available.
    """
    backend = _backend(pytestconfig)
    servers: list[BaseRedisServer] = []

    def start_server(extra_args: Sequence[str] | None = None, **options: Any) -> BaseRedisServer:
        try:
            server = backend.private_server(extra_args, **options)
        except RedisUnavailable as exc:
            pytest.skip(str(exc))
        servers.append(server)
        server.start()
        return server

    yield start_server
    for server in reversed(servers):
        server.close()


@pytest.fixture
def restartable_redis(redis_factory: RedisFactory) -> BaseRedisServer:
    """A private server for this test alone, free to be killed and restarted."""
    return redis_factory()
