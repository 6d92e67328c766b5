"""Job functions used by the tests; importable by forked and spawned workers."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from rq import get_current_job


def say_hello(name: str = "Stranger") -> str:
    return f"Hi there, {name}!"


def add(a: int, b: int) -> int:
    return a + b


def echo(*args: Any, **kwargs: Any) -> tuple:
    return args, kwargs


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def current_job_id() -> str:
    job = get_current_job()
    assert job is not None
    return job.id


def set_meta(key: str, value: Any) -> Any:
    job = get_current_job()
    assert job is not None
    job.meta[key] = value
    job.save_meta()
    return value


def kill_own_process() -> None:
    """A job that dies the hard way (like an out-of-memory kill)."""
    os.kill(os.getpid(), signal.SIGKILL)


def exit_abruptly() -> None:
    os._exit(3)


def write_pid_then_sleep(path: str, seconds: float) -> float:
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def unserializable_result() -> Any:
    return lambda: None


def big_result(size: int) -> bytes:
    return b"x" * size


async def async_add(a: int, b: int) -> int:
    return a + b


class Calculator:
    def __init__(self, base: int) -> None:
        self.base = base

    def add(self, value: int) -> int:
        return self.base + value

    def __call__(self, value: int) -> int:
        return self.base * value


class Counter:
    """Counts calls in a Redis key (so tests can see how often a job ran)."""

    @staticmethod
    def incr(redis_url: str, key: str) -> int:
        from redis import Redis

        return int(Redis.from_url(redis_url).incr(key))


def incr(redis_url: str, key: str) -> int:
    return Counter.incr(redis_url, key)


def record_success(job: Any, connection: Any, result: Any) -> None:
    connection.rpush(f"callbacks:{job.id}", f"success:{result}")


def record_failure(job: Any, connection: Any, exc_type: Any, exc_value: Any, tb: Any) -> None:
    connection.rpush(f"callbacks:{job.id}", f"failure:{exc_type.__name__}")


def record_stopped(job: Any, connection: Any) -> None:
    connection.rpush(f"callbacks:{job.id}", "stopped")


def failing_callback(job: Any, connection: Any, *args: Any) -> None:
    raise RuntimeError("callback failed")


def fail_until(redis_url: str, key: str, succeed_on: int) -> int:
    """Fail until the call numbered ``succeed_on`` (counted in the Redis key ``key``)."""
    calls = incr(redis_url, key)
    if calls < succeed_on:
        raise ValueError(f"attempt {calls} fails")
    return calls


def return_retry(max: int, interval: Any = 0) -> Any:
    """A job that asks to be run again by returning a ``Retry``."""
    from rq import Retry

    return Retry(max=max, interval=interval)


def record_failure_text(job: Any, connection: Any, exc_type: Any, exc_value: Any, tb: Any) -> None:
    connection.rpush(f"callbacks:{job.id}", f"failure:{exc_type.__name__}:{exc_value}")


def slow_callback(job: Any, connection: Any, *args: Any) -> None:
    time.sleep(10)
    connection.rpush(f"callbacks:{job.id}", "slow callback finished")


def record_success_in_meta(job: Any, connection: Any, result: Any) -> None:
    connection.rpush(f"callbacks:{job.id}", f"success:{result}:{job.get_status(refresh=True).value}")


def sleep_until(timestamp: float) -> float:
    """Return at wall-clock ``timestamp`` (so jobs on different workers end together)."""
    time.sleep(max(0.0, timestamp - time.time()))
    return timestamp


def record_run(directory: str, seconds: float = 0.0, fail: str = "", first_run_seconds: float = 0.0) -> str:
    """Append this job's id to ``<directory>/runs.log`` (outside Redis), sleep, and maybe fail.

    ``fail``: "" never, "always", or "once" (the first run fails, later runs succeed).
    ``first_run_seconds``: extra sleep on the first run only (a job killed then retried). The
    fault tests count runs from the log after the fact, even when Redis was away meanwhile.
    """
    job = get_current_job()
    assert job is not None
    descriptor = os.open(os.path.join(directory, "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, f"{job.id}\n".encode())
    finally:
        os.close(descriptor)
    if first_run_seconds and _first_time(directory, f"started-{job.id}"):
        time.sleep(first_run_seconds)
    if seconds:
        time.sleep(seconds)
    if fail == "always":
        raise ValueError(f"job {job.id} always fails")
    if fail == "once" and _first_time(directory, f"failed-once-{job.id}"):
        raise ValueError(f"job {job.id} fails on its first run")
    return job.id


def _first_time(directory: str, marker: str) -> bool:
    """Create the marker file; False if it already existed."""
    try:
        os.close(os.open(os.path.join(directory, marker), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True
