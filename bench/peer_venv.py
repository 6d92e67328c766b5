"""The cached virtualenv holding upstream RQ for the benchmark.

It lives in ``<repo>/.peer/bench-rq-<version>/`` and is built by ``tests.venvs`` from the
lock ``requirements/bench.txt``, which pins the same redis-py as this package's own lock,
so both sides talk to Redis through the same client code.
"""

from __future__ import annotations

from pathlib import Path

from tests import venvs

# Raised when the virtualenv cannot be built.
PeerUnavailable = venvs.VenvUnavailable
LOCK = "bench"
clean_environment = venvs.clean_environment


def peer_dir(version: str) -> Path:
    return venvs.peer_root() / f"bench-rq-{version}"


def ensure(version: str, directory: Path) -> Path:
    """Build the virtualenv if it is missing or incomplete; return its interpreter."""
    spec = venvs.VenvSpec(
        directory=directory,
        what=f"upstream rq {version} for the benchmark",
        installs=((f"rq=={version}",),),
        lock=LOCK,
        check=f"import rq, sys; sys.exit(rq.__version__ != {version!r})",
    )
    return venvs.ensure(spec)
