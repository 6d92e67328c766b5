"""Job functions for the benchmark, imported as ``bench_jobs`` by both implementations.

The module imports nothing from ``rq``, so the same file serves this package and the
upstream release, and the pickled function references (``bench_jobs.noop``) match.
"""

from __future__ import annotations

# Size of the value returned by :func:`large_result`.
PAYLOAD_BYTES = 100 * 1024

_PAYLOAD = b"x" * PAYLOAD_BYTES


def noop() -> None:
    """A trivial job: the time spent in it is nothing next to the queue machinery."""


def large_result() -> bytes:
    """Return a 100 KB value, so the result write dominates the job's Redis traffic."""
    return _PAYLOAD
