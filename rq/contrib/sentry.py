"""Report failed jobs to Sentry through sentry-sdk's RQ integration.

Needs sentry-sdk (``pip install sentry-sdk``); 1.40+, 2.x and 3.x work.
``register_sentry`` only initialises the SDK with ``RqIntegration``; the integration
itself wraps the worker's ``perform_job`` and ``handle_exception`` and sends one event per
job that ends failed (not per retry), and wraps ``Queue.enqueue_job`` to store the trace
active at enqueue time in ``job.meta["_sentry_trace_headers"]``.

``store_trace_headers`` (from ``rq.tracing``) does that for the enqueue paths that do not
go through ``Queue.enqueue_job`` (``enqueue_many``, ``enqueue_at``/``enqueue_in``/
``schedule_job``); every later path (the scheduler, released dependents, retries) keeps
the job's meta.
"""

from __future__ import annotations

from typing import Any

from ..tracing import TRACE_HEADERS_META_KEY, store_trace_headers

__all__ = ["TRACE_HEADERS_META_KEY", "register_sentry", "store_trace_headers"]

INSTALL_HINT = "Sentry support needs the sentry-sdk package: pip install sentry-sdk"


def register_sentry(sentry_dsn: str, **opts: Any) -> None:
    """Initialise sentry-sdk with the RQ integration; options set to None are left at the SDK's defaults."""
    try:
        import sentry_sdk
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    try:
        from sentry_sdk.integrations.rq import RqIntegration
    except Exception as exc:  # ImportError, or sentry_sdk's DidNotEnable
        raise ImportError(f"{INSTALL_HINT} (its RQ integration could not be loaded: {exc})") from exc
    options = {name: value for name, value in opts.items() if value is not None}
    sentry_sdk.init(sentry_dsn, integrations=[RqIntegration()], **options)
