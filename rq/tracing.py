"""The enqueuer's trace, carried in ``job.meta`` to the worker for monitoring integrations.

sentry-sdk's RQ integration stores the trace active at enqueue time in
``job.meta["_sentry_trace_headers"]`` from its wrapper of ``Queue.enqueue_job``, and its
worker side continues that trace. ``store_trace_headers`` does the same for the enqueue
paths that do not pass through ``Queue.enqueue_job``. It only looks at modules already
imported, so nothing here loads sentry-sdk.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .job import Job

__all__ = ["TRACE_HEADERS_META_KEY", "store_trace_headers"]

logger = logging.getLogger("rq.tracing")

# Where sentry-sdk's RQ integration keeps the enqueuer's trace; its worker side continues it.
TRACE_HEADERS_META_KEY = "_sentry_trace_headers"


def store_trace_headers(job: "Job") -> None:
    """Store the active Sentry trace in ``job.meta``, as the RQ integration's ``enqueue_job`` does.

    Does nothing (and imports nothing) unless sentry-sdk's RQ integration is loaded, enabled
    on the current client, and a span or transaction is active. Never raises: an enqueue
    must not fail because of monitoring.
    """
    integration_module = sys.modules.get("sentry_sdk.integrations.rq")
    if integration_module is None:
        return
    try:
        headers = _active_trace_headers(sys.modules["sentry_sdk"], integration_module.RqIntegration)
    except Exception:
        logger.debug("Could not read the active Sentry trace for job %s", job.id, exc_info=True)
        return
    if headers:
        job.meta[TRACE_HEADERS_META_KEY] = headers


def _active_trace_headers(sentry_sdk: Any, integration: type) -> Optional[dict[str, str]]:
    """The propagation headers of the active span when the RQ integration is enabled, else None."""
    if hasattr(sentry_sdk, "get_client") and hasattr(sentry_sdk, "get_current_scope"):  # sentry-sdk 2.x and 3.x
        if sentry_sdk.get_client().get_integration(integration) is None:
            return None
        scope = sentry_sdk.get_current_scope()
        # 2.x keeps a streamed span (its span-streaming mode) apart from a transaction's span.
        span = scope.span if scope.span is not None else getattr(scope, "streamed_span", None)
        return dict(scope.iter_trace_propagation_headers()) if span is not None else None
    hub = sentry_sdk.Hub.current  # sentry-sdk 1.x
    if hub.get_integration(integration) is None or hub.scope.span is None:
        return None
    return dict(hub.iter_trace_propagation_headers())
