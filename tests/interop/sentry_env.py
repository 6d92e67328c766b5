"""The interpreters the Sentry tests run their driver with, one per sentry-sdk generation.

- ``sentry3``: sentry-sdk 3.x, held to the dev lock (``requirements/dev-py311.txt``);
- ``sentry2``: sentry-sdk 2.x, held to ``requirements/sentry2.txt``.

Where the running environment already has that generation (the dev environment has 3.x),
its own interpreter is used. Otherwise a cached virtualenv (``<repo>/.peer/sentry<N>``, see
``tests/venvs.py``) with this repository's rq installed editable and that sentry-sdk beside
it is built on first use.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

from tests import venvs

# The sentry-sdk major version each interpreter must have, and the lock that pins it.
GENERATIONS = {"sentry3": 3, "sentry2": 2}
LOCKS = {"sentry3": "dev-py311", "sentry2": "sentry2"}


def installed_major() -> Optional[int]:
    try:
        return int(metadata.version("sentry-sdk").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return None


def spec(generation: str) -> venvs.VenvSpec:
    """Our rq (editable, never from PyPI) and one sentry-sdk generation beside it."""
    major = GENERATIONS[generation]
    check = (
        "import os, sys, rq, sentry_sdk\n"
        "from sentry_sdk.integrations.rq import RqIntegration\n"
        f"assert sentry_sdk.VERSION.split('.')[0] == '{major}', sentry_sdk.VERSION\n"
        f"sys.exit(not os.path.realpath(rq.__file__).startswith({str(venvs.REPO_ROOT)!r}))\n"
    )
    return venvs.VenvSpec(
        directory=venvs.peer_root() / generation,
        what=f"the sentry-sdk {major}.x virtualenv",
        # The range keeps latest mode (no lock) on this generation.
        installs=(("-e", str(venvs.REPO_ROOT)), (f"sentry-sdk>={major},<{major + 1}",)),
        lock=LOCKS[generation],
        check=check,
        min_python=(3, 11) if LOCKS[generation] == "dev-py311" else (3, 10),
    )


def interpreter(generation: str) -> Path:
    """The python that runs the driver for ``generation``; builds its virtualenv if needed.

    Raises ``venvs.VenvUnavailable`` when that virtualenv cannot be built.
    """
    if generation not in GENERATIONS:
        raise ValueError(f"unknown sentry-sdk generation {generation!r}")
    if installed_major() == GENERATIONS[generation]:
        return Path(sys.executable)
    return venvs.ensure(spec(generation))
