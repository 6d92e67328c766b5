"""``Webhook``: an HTTP(S) call made when a job finishes or fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .layout import format_ts

if TYPE_CHECKING:
    from .job import Job

__all__ = ["Webhook"]

logger = logging.getLogger("rq.webhook")

_STATUSES = ("finished", "failed")
_METHODS = ("GET", "POST")


@dataclass
class Webhook:
    url: str
    job_status: str
    method: str = "GET"
    headers: Optional[dict] = None
    timeout: int = 10
    _extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"Webhook url must start with http:// or https://, got {self.url!r}")
        if self.job_status not in _STATUSES:
            raise ValueError(f"Webhook job_status must be one of {_STATUSES}, got {self.job_status!r}")
        self.method = self.method.upper()
        if self.method not in _METHODS:
            raise ValueError(f"Webhook method must be GET or POST, got {self.method!r}")

    def to_dict(self) -> dict:
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
            url=data["url"],
            job_status=data["job_status"],
            method=data.get("method", "GET"),
            headers=data.get("headers"),
            timeout=int(data.get("timeout", 10)),
        )

    def get_payload(self, job: "Job", *, exc_string: Optional[str] = None) -> dict:
        payload: dict[str, Any] = {
            "job_id": job.id,
            "func_name": job.func_name,
            "status": self.job_status,
            "enqueued_at": format_ts(job.enqueued_at),
            "ended_at": format_ts(job.ended_at),
        }
        if exc_string is not None:
            payload["exc_info"] = exc_string
        return payload

    def send(self, job: "Job", *, exc_string: Optional[str] = None) -> None:
        """Make the call; errors are logged, never raised into the worker."""
        headers = dict(self.headers or {})
        data = None
        if self.method == "POST":
            data = json.dumps(self.get_payload(job, exc_string=exc_string)).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        import urllib.request  # loaded on the first webhook: most workers send none

        request = urllib.request.Request(self.url, data=data, headers=headers, method=self.method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):  # noqa: S310 - user-configured URL
                pass
        except Exception as exc:
            logger.warning("Webhook %s %s for job %s failed: %s", self.method, self.url, job.id, exc)
