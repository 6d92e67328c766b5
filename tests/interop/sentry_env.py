"""The interpreters the Sentry tests run their driver with, one per sentry-sdk generation.

- ``sentry3``: this environment's own interpreter, with sentry-sdk 3.x from the dev lock.
- ``sentry2``: a cached virtualenv (``<repo>/.peer/sentry2``, see ``tests/venvs.py``) with
  this repository's rq installed editable and sentry-sdk 2.x held to
  ``requirements/sentry2.txt``; built on first use.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests import venvs

SENTRY2_LOCK = "sentry2"
# The sentry-sdk major version each interpreter must have.
GENERATIONS = {"sentry3": 3, "sentry2": 2}


def sentry2_spec() -> venvs.VenvSpec:
    """Our rq (editable, never from PyPI) and sentry-sdk 2.x beside it, both held to the sentry2 lock."""
    check = (
        "import os, sys, rq, sentry_sdk\n"
        "from sentry_sdk.integrations.rq import RqIntegration\n"
        "assert sentry_sdk.VERSION.split('.')[0] == '2', sentry_sdk.VERSION\n"
        f"sys.exit(not os.path.realpath(rq.__file__).startswith({str(venvs.REPO_ROOT)!r}))\n"
    )
    return venvs.VenvSpec(
        directory=venvs.peer_root() / "sentry2",
        what="the sentry-sdk 2.x virtualenv",
        # The range keeps latest mode (RQ_TEST_LATEST=1, no lock) on the 2.x generation.
        installs=(("-e", str(venvs.REPO_ROOT)), ("sentry-sdk>=2,<3",)),
        lock=SENTRY2_LOCK,
        check=check,
    )


def interpreter(generation: str) -> Path:
    """The python that runs the driver for ``generation``; builds the sentry2 virtualenv if needed.

    Raises ``venvs.VenvUnavailable`` when that virtualenv cannot be built.
    """
    if generation == "sentry3":
        return Path(sys.executable)
    if generation == "sentry2":
        return venvs.ensure(sentry2_spec())
    raise ValueError(f"unknown sentry-sdk generation {generation!r}")
