"""Job functions run by both implementations in the mixed-fleet tests.

Both sides import this file under the same top-level name, ``interop_jobs`` (its folder,
which holds nothing else, is put on ``sys.path`` / ``PYTHONPATH``), so a job enqueued by
one implementation stores ``interop_jobs.<function>`` and the other can import it. It imports nothing but the
standard library and, lazily, whichever ``rq`` the running process has.
"""

from __future__ import annotations

import time

# Size of the value returned by ``big_value`` (characters).
BIG_VALUE_SIZE = 256 * 1024


def add(x, y):
    return x + y


def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


class InteropError(Exception):
    """The exception raised by ``fail``; its name shows up in exc_info on both sides."""


def fail(message="interop failure"):
    raise InteropError(message)


def sleep_and_return(seconds, value=None):
    time.sleep(seconds)
    return value


def big_value(size=BIG_VALUE_SIZE):
    return "x" * size


def current_job_info():
    """What ``rq.get_current_job()`` sees inside the job, whichever ``rq`` runs it."""
    import rq

    job = rq.get_current_job()
    return {
        "id": job.id,
        "origin": job.origin,
        "meta": dict(job.meta),
        "worker_name": job.worker_name,
    }


def touch_meta(key, value):
    """Stores ``meta[key] = value`` from inside the job, then returns the new meta."""
    import rq

    job = rq.get_current_job()
    job.meta[key] = value
    job.save_meta()
    return dict(job.meta)


def block_until(key, timeout=60.0, value="done"):
    """Waits until Redis key ``key`` exists (set by the test), then returns ``value``.

    Lets a test hold a job in the started state for as long as it needs, without sleeping
    for a guessed time. Raises after ``timeout`` seconds so a broken test cannot hang a worker.
    """
    import rq

    connection = rq.get_current_job().connection
    deadline = time.monotonic() + timeout
    while not connection.exists(key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"key {key!r} was not set within {timeout}s")
        time.sleep(0.02)
    return value


def fail_first_attempts(counter_key, failures=1):
    """Fails while the attempt counter (a Redis key) is at most ``failures``, then succeeds."""
    import rq

    attempt = rq.get_current_job().connection.incr(counter_key)
    if attempt <= failures:
        raise InteropError(f"attempt {attempt} fails on purpose")
    return attempt


def request_retry(max_retries=2):
    """Asks for a retry by returning ``rq.Retry`` (RQ 2.x), every time it runs."""
    import rq

    return rq.Retry(max=max_retries)
