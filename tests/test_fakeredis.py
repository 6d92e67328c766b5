"""The testing recipe RQ users follow: fakeredis, with its Lua extra and without it.

In this process fakeredis runs with Lua (``fakeredis[lua]``), whose Lua lacks the ``struct``
library that the batch script uses. ``test_without_lua`` runs this same module again in a
fresh interpreter where ``lupa`` cannot be imported, so fakeredis refuses ``EVALSHA`` as a
server without scripting does. Either way the package falls back to MULTI/EXEC and writes the
same data; on a real Redis the scripts stay in use (``test_real_redis_keeps_the_scripts``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

WITHOUT_LUA = os.environ.get("RQ_TEST_FAKEREDIS_WITHOUT_LUA") == "1"
if WITHOUT_LUA:
    sys.modules["lupa"] = None  # type: ignore[assignment]  # fakeredis then has no scripting

fakeredis = pytest.importorskip("fakeredis")

from rq import Queue, Retry, SimpleWorker  # noqa: E402
from rq.batch import runs_scripts  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry  # noqa: E402
from tests import jobs  # noqa: E402


@pytest.fixture
def fake() -> Iterator[object]:
    """A client of a fresh fakeredis server, as upstream's docs set one up."""
    client = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


def drain(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_is_async_false_runs_in_place(fake: object) -> None:
    queue = Queue(is_async=False, connection=fake)
    job = queue.enqueue(jobs.add, 2, 3)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 5
    failed = queue.enqueue(jobs.fail, "nope")
    assert failed.get_status() == JobStatus.FAILED
    assert "ValueError: nope" in (failed.latest_result().exc_string or "")


def test_worker_drains_the_queue(fake: object) -> None:
    queue = Queue(connection=fake)
    done = [queue.enqueue(jobs.say_hello, str(i)) for i in range(5)]
    bad = queue.enqueue(jobs.fail)
    drain(queue)
    assert [job.return_value() for job in done] == [f"Hi there, {i}!" for i in range(5)]
    assert bad.get_status() == JobStatus.FAILED
    assert queue.count == 0
    assert FinishedJobRegistry(queue=queue).count == 5
    assert FailedJobRegistry(queue=queue).get_job_ids() == [bad.id]
    assert queue.started_job_registry.count == 0


def test_enqueue_many_and_dependencies(fake: object) -> None:
    queue = Queue(connection=fake)
    first, second = queue.enqueue_many([Queue.prepare_data(jobs.add, (1, 1)), Queue.prepare_data(jobs.add, (2, 2))])
    after = queue.enqueue(jobs.say_hello, "after", depends_on=[first, second])
    assert after.get_status() == JobStatus.DEFERRED
    drain(queue)
    assert (first.return_value(), second.return_value()) == (2, 4)
    assert after.get_status() == JobStatus.FINISHED


def test_retry_and_results(fake: object) -> None:
    queue = Queue(connection=fake)
    job = queue.enqueue(jobs.fail, retry=Retry(max=1))
    drain(queue)
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert len(job.results()) == 2
    assert Job.fetch(job.id, connection=fake).retries_left == 0


def test_scheduled_job_is_registered(fake: object) -> None:
    queue = Queue(connection=fake)
    job = queue.enqueue_in(timedelta(minutes=5), jobs.add, 1, 2)
    assert job.get_status() == JobStatus.SCHEDULED
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [job.id]


def test_due_scheduled_job_runs_with_the_scheduler(fake: object) -> None:
    queue = Queue(connection=fake)
    due = queue.enqueue_at(datetime.now(timezone.utc) - timedelta(seconds=1), jobs.add, 2, 2)
    later = queue.enqueue_in(timedelta(hours=1), jobs.add, 3, 3)
    SimpleWorker([queue], connection=fake).work(burst=True, with_scheduler=True)
    assert due.return_value() == 4
    assert later.get_status() == JobStatus.SCHEDULED


def test_real_redis_keeps_the_scripts(connection: object) -> None:
    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 1, 2)
    drain(queue)
    assert runs_scripts(connection)


@pytest.mark.skipif(WITHOUT_LUA, reason="already the run without Lua")
def test_without_lua() -> None:
    """This module again, in an interpreter where fakeredis has no Lua."""
    env = dict(os.environ, RQ_TEST_FAKEREDIS_WITHOUT_LUA="1")
    command = [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", "not real_redis"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
