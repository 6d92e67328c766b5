"""Import paths users rely on, and what an idle worker process does not load."""

from __future__ import annotations

import subprocess
import sys


def test_upstream_2x_worker_module_paths_import() -> None:
    from rq import SimpleWorker, Worker
    from rq.worker import BaseWorker, HerokuWorker, RandomWorker, RoundRobinWorker, SpawnWorker
    from rq.worker.base import BaseWorker as Base
    from rq.worker.worker_classes import SimpleWorker as Simple
    from rq.worker.worker_classes import SpawnWorker as Spawn

    assert (Base, Simple, Spawn) == (BaseWorker, SimpleWorker, SpawnWorker)
    assert issubclass(SimpleWorker, BaseWorker) and not issubclass(SimpleWorker, Worker)
    assert all(issubclass(cls, Worker) for cls in (HerokuWorker, RandomWorker, RoundRobinWorker, SpawnWorker))
    assert repr(SimpleWorker) == "<class 'rq.worker.SimpleWorker'>"


def test_the_command_line_loads_no_http_server_cron_or_webhook_client() -> None:
    """Endpoints, cron and webhooks load their modules when used: an idle worker stays small."""
    code = (
        "import sys, rq.cli, rq.worker\n"
        "heavy = ['http.server', 'urllib.request', 'logging.config', 'rq.cron', 'rq.http_endpoint']\n"
        "print(' '.join(name for name in heavy if name in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
