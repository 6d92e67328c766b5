"""Webhooks: an HTTP call when a job finishes or fails (a local server records them)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rq import Queue, SimpleWorker, Webhook
from rq.job import Job
from tests import jobs


@pytest.fixture
def hook_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length", 0))
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length) or b"{}")})
            self.send_response(204)
            self.end_headers()

        def do_GET(self):  # noqa: N802 - http.server API
            received.append({"path": self.path, "body": None})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_webhooks_are_called_on_finish_and_failure(connection, hook_server):
    url, received = hook_server
    queue = Queue("hooks", connection=connection)
    ok = queue.enqueue(
        jobs.add, 1, 2, webhooks=[Webhook(f"{url}/done", "finished", method="POST"), Webhook(f"{url}/never", "failed")]
    )
    bad = queue.enqueue(jobs.fail, webhooks=[Webhook(f"{url}/failed", "failed", method="POST")])
    SimpleWorker([queue], connection=connection).work(burst=True)
    by_path = {item["path"]: item["body"] for item in received}
    assert set(by_path) == {"/done", "/failed"}
    assert by_path["/done"]["job_id"] == ok.id and by_path["/done"]["status"] == "finished"
    assert by_path["/failed"]["job_id"] == bad.id and "ValueError: boom" in by_path["/failed"]["exc_info"]
    assert Job.fetch(ok.id, connection=connection).webhooks[0].url == f"{url}/done"


def test_webhook_validation():
    with pytest.raises(ValueError):
        Webhook("ftp://x", "finished")
    with pytest.raises(ValueError):
        Webhook("http://x", "started")
    with pytest.raises(ValueError):
        Webhook("http://x", "finished", method="PUT")
