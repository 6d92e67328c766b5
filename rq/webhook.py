"""``Webhook``: an HTTP(S) call made when a job finishes or fails.

A webhook is plain data (stored as JSON in the job hash, as upstream RQ stores it), checked
when it is built; sending it never raises, so an unreachable endpoint cannot fail a job.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

if TYPE_CHECKING:
    from .job import Job

__all__ = ["Webhook"]

logger = logging.getLogger("rq.webhook")


def __getattr__(name: str) -> Any:
    """``rq.webhook.urlopen`` and ``rq.webhook.Request``, as upstream RQ has them, imported on first use.

    Most processes send no webhook, so ``urllib.request`` is not loaded with this module.
    """
    if name in ("Request", "urlopen"):
        import urllib.request

        return getattr(urllib.request, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _http() -> tuple[Any, Any]:
    """(Request, urlopen): the module's own if set (tests replace ``urlopen``), else urllib's."""
    names = globals()
    return names.get("Request") or __getattr__("Request"), names.get("urlopen") or __getattr__("urlopen")


_STATUSES = ("finished", "failed")
_METHODS = ("GET", "POST")


@dataclass(init=False)
class Webhook:
    """Call ``url`` with ``method`` when the job ends with ``job_status`` (``finished`` or ``failed``)."""

    url: str
    job_status: str
    method: str
    headers: Optional[dict]
    timeout: int

    def __init__(
        self,
        url: str,
        job_status: str,
        *,
        method: str = "GET",
        headers: Optional[dict] = None,
        timeout: int = 10,
    ) -> None:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"Webhook url must be an http:// or https:// URL, got {url!r}")
        if job_status not in _STATUSES:
            raise ValueError(f"Webhook job_status must be one of {_STATUSES}, got {job_status!r}")
        if method not in _METHODS:
            raise ValueError(f"Webhook method must be 'GET' or 'POST', got {method!r}")
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"Webhook headers must be a dict or None, got {type(headers).__name__}")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(f"Webhook timeout must be a positive integer, got {timeout!r}")
        self.url = url
        self.job_status = job_status
        self.method = method
        self.headers = headers
        self.timeout = timeout

    def to_dict(self) -> dict:
        """The JSON object stored in the job hash's ``webhooks`` list."""
        return {
            "url": self.url,
            "job_status": self.job_status,
            "method": self.method,
            "headers": self.headers,
            "timeout": self.timeout,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Webhook":
        return cls(
            data["url"],
            data["job_status"],
            method=data.get("method", "GET"),
            headers=data.get("headers"),
            timeout=data.get("timeout", 10),
        )

    def get_payload(self, job: "Job", *, exc_string: Optional[str] = None) -> dict:
        """The JSON body of a POST: the job's id, function, status and ISO 8601 times."""
        payload: dict[str, Any] = {
            "job_id": job.id,
            "func_name": job.func_name,
            "status": self.job_status,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
            "ended_at": job.ended_at.isoformat() if job.ended_at else None,
        }
        if self.job_status == "failed":
            payload["exc_info"] = exc_string
        return payload

    def send(self, job: "Job", *, exc_string: Optional[str] = None) -> None:
        """Make the call; errors are logged, never raised into the worker."""
        try:
            Request, urlopen = _http()  # noqa: N806 - the names of urllib.request
            if self.method == "POST":
                body = json.dumps(self.get_payload(job, exc_string=exc_string)).encode("utf-8")
                headers = {"Content-Type": "application/json", **(self.headers or {})}
                request = Request(self.url, data=body, headers=headers, method="POST")
            else:
                request = Request(self.url, headers=dict(self.headers or {}), method="GET")
            with urlopen(request, timeout=self.timeout):  # noqa: S310 - user-configured URL
                pass
        except Exception as exc:
            logger.warning("Webhook %s %s for job %s failed: %s", self.method, self.url, job.id, exc)
