"""On a real local Redis Cluster (three primaries): what works so far.

Every key must share one hash slot, so the processes run with ``RQ_KEY_PREFIX={rq}`` (read
at import, hence a fresh interpreter per case).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.cluster_harness import RedisClusterUnderTest
from tests.redis_harness import RedisUnavailable

ENQUEUE = """
import sys
from redis.cluster import RedisCluster
from rq import Queue
from rq.job import Job
from tests import jobs

connection = RedisCluster.from_url(sys.argv[1])
queue = Queue("things", connection=connection)
one = queue.enqueue(jobs.add, 1, 2)
many = queue.enqueue_many([Queue.prepare_data(jobs.add, (i, i)) for i in range(3)])
assert queue.count == 4, queue.count
assert queue.job_ids == [one.id] + [job.id for job in many]
assert Job.fetch(one.id, connection=connection).args == (1, 2)
print("ok")
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterUnderTest]:
    try:
        with RedisClusterUnderTest(primaries=3) as running:
            yield running
    except RedisUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def test_enqueue_on_a_cluster_with_a_hash_tag_prefix(cluster: RedisClusterUnderTest) -> None:
    env = dict(os.environ, RQ_KEY_PREFIX="{rq}")
    proc = subprocess.run(
        [sys.executable, "-c", ENQUEUE, cluster.url], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
    client = cluster.client()
    try:
        keys = {key.decode() for key in client.keys(target_nodes=RedisClusterUnderTest.ALL)}
    finally:
        client.close()
    assert "{rq}:queue:things" in keys
    assert all(key.startswith("{rq}:") for key in keys)
