"""Fault tests stop, kill and restart real Redis servers; each gets its own server."""

from __future__ import annotations

import pytest

# Arguments that make a private server keep its data across a restart (append-only file,
# synced on every write), so tests can tell "lost by Redis" from "lost by the worker".
PERSISTENT = ["--appendonly", "yes", "--appendfsync", "always"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def persistent_redis(redis_factory):
    """A private server whose data survives ``restart()``."""
    return redis_factory(PERSISTENT)
