"""RQ_KEY_PREFIX (as in RQ 3.0): every key the package writes starts with it.

The prefix is read once, when ``rq`` is imported, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

SCRIPT = """
import sys
from datetime import timedelta
from redis import Redis
from rq import Queue, SimpleWorker, Retry
from rq.registry import FailedJobRegistry
from tests import jobs

connection = Redis.from_url(sys.argv[1])
queue = Queue("things", connection=connection)
done = queue.enqueue(jobs.add, 1, 2, result_ttl=600)
failed = queue.enqueue(jobs.fail, retry=Retry(max=1))
later = queue.enqueue(jobs.add, 3, 4, depends_on=done)
queue.enqueue_in(timedelta(hours=1), jobs.add, 5, 6)
SimpleWorker([queue], connection=connection).work(burst=True, with_scheduler=True)
assert done.return_value() == 3 and later.return_value() == 7, (done.get_status(), later.get_status())
assert FailedJobRegistry(queue=queue).get_job_ids() == [failed.id]
print("ok")
"""


def run(redis_url: str, prefix: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RQ_KEY_PREFIX=prefix)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, redis_url], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("prefix", ["{myapp}", "tenant.1:rq"])
def test_every_key_carries_the_prefix(redis_url: str, connection: redis.Redis, prefix: str) -> None:
    proc = run(redis_url, prefix)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
    keys = sorted(key.decode() for key in connection.keys("*"))
    assert keys
    assert [key for key in keys if not key.startswith(prefix + ":")] == []
    assert f"{prefix}:queue:things" not in keys  # drained
    assert f"{prefix}:queues" in keys


def test_a_bad_prefix_is_named(redis_url: str) -> None:
    proc = run(redis_url, "has space")
    assert proc.returncode != 0
    assert "Invalid RQ_KEY_PREFIX 'has space'" in proc.stderr
