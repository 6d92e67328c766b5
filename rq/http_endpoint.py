"""The small HTTP server behind ``/livez``, ``/readyz`` and ``/metrics``.

Kept apart from ``rq.health`` so that a worker serving no endpoint never loads
``http.server``. ``HTTPEndpoint`` answers a dict of routes from daemon threads.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .health_checks import DEFAULT_HTTP_HOST, HealthChecker, Route, describe_error, health_routes, logger

__all__ = ["HTTPEndpoint", "HealthServer"]

# Seconds an HTTP client may take to send its request before the connection is dropped.
HTTP_REQUEST_TIMEOUT = 10.0


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}
    timeout = HTTP_REQUEST_TIMEOUT
    server_version = "rq"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        route = self.routes.get(urlsplit(self.path).path)
        if route is None:
            paths = ", ".join(sorted(self.routes))
            status, content_type, body = 404, "text/plain; charset=utf-8", f"Not found; try {paths}\n".encode()
        else:
            try:
                status, content_type, body = route(self.headers)
            except Exception as exc:
                logger.debug("Error answering %s", self.path, exc_info=True)
                status, content_type, body = 500, "text/plain; charset=utf-8", f"{describe_error(exc)}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes come every few seconds: not worth a log line each.
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's full name, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Server6(_Server):
    address_family = socket.AF_INET6


class HTTPEndpoint:
    """A small HTTP server answering ``routes`` from daemon threads; ``close()`` frees the port.

    ``port`` 0 picks a free port; ``.port`` tells which. Raises OSError if it cannot listen.
    """

    def __init__(self, routes: dict[str, Route], host: str = DEFAULT_HTTP_HOST, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"routes": dict(routes)})
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), handler)
        except OSError as exc:
            raise OSError(exc.errno, f"Cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from exc
        self.host = host
        self.port: int = self._server.server_address[1]
        self._on_close: list[Callable[[], None]] = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5}, name=f"rq-http-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def on_close(self, callback: Callable[[], None]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        while self._on_close:
            self._on_close.pop()()

    def __enter__(self) -> "HTTPEndpoint":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class HealthServer(HTTPEndpoint):
    """``/livez`` and ``/readyz`` of one worker; ``.checker`` is its ``HealthChecker``."""

    def __init__(self, checker: HealthChecker, host: str = DEFAULT_HTTP_HOST, port: int = 0) -> None:
        super().__init__(health_routes(checker), host, port)
        self.checker = checker
        self.on_close(checker.stop)
