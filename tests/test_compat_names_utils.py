"""Names user code imports from ``rq.utils``, ``rq.scripts`` and ``rq.worker_registration``, on a real Redis."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.scripts import acquire_or_refresh_lock, release_lock, save_unique_job, schedule_unique_job
from rq.utils import (
    Platform,
    as_text,
    decode_redis_hash,
    ensure_job_list,
    ensure_list,
    first,
    get_platform,
    get_version,
    import_attribute,
    is_nonstring_iterable,
    missing_keys,
    normalize_config_path,
    parse_composite_key,
    resolve_function_reference,
    str_to_date,
    utcparse,
    validate_absolute_path,
)
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY, clean_worker_registry, register
from tests import jobs


def test_as_text_refuses_what_is_not_text():
    assert as_text(b"caf\xc3\xa9") == "café"
    for value in (3, None):
        with pytest.raises(ValueError):
            as_text(value)  # type: ignore[arg-type]


def test_list_helpers():
    assert ensure_job_list("id") == ["id"] and ensure_job_list({}) == [] and ensure_job_list(("a",)) == ["a"]
    assert ensure_list({}) == {} and ensure_list("id") == ["id"]
    assert is_nonstring_iterable([]) and not is_nonstring_iterable("text")
    assert (
        first([0, None, "", 7]) == 7 and first([0], default="x") == "x" and first([1, 2, 3], key=lambda n: n > 1) == 2
    )


def test_decode_redis_hash_values_on_request():
    raw = {b"a": b"1", "b": b"2"}
    assert decode_redis_hash(raw) == {"a": b"1", "b": b"2"}
    assert decode_redis_hash(raw, decode_values=True) == {"a": "1", "b": "2"}


def test_dates_are_aware_and_empty_text_is_refused():
    assert utcparse("2017-08-31T10:14:02Z") == datetime(2017, 8, 31, 10, 14, 2, tzinfo=timezone.utc)
    assert str_to_date(b"2023-01-01T12:00:00.000000Z") == datetime(2023, 1, 1, 12, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        str_to_date("")


def test_import_attribute_names_nothing_is_a_value_error():
    assert import_attribute("rq.worker.SimpleWorker") is SimpleWorker
    for path in ("no.such.module", "rq.worker.NoSuchWorker", "no_such_builtin"):
        with pytest.raises(ValueError):
            import_attribute(path)


def test_resolve_function_reference():
    assert resolve_function_reference(jobs.add) == (None, "tests.jobs.add")
    assert resolve_function_reference("tests.jobs.add") == (None, "tests.jobs.add")
    calculator = jobs.Calculator(2)
    assert resolve_function_reference(calculator) == (calculator, "__call__")
    assert resolve_function_reference(calculator.add) == (calculator, "add")
    with pytest.raises(TypeError):
        resolve_function_reference(42)


def test_platform_and_config_paths(tmp_path):
    assert get_platform() is Platform.LINUX or sys.platform != "linux"
    with mock.patch.object(sys, "platform", "darwin"):
        assert get_platform() is Platform.MAC
    with mock.patch.object(sys, "platform", "sunos5"):
        assert get_platform() is Platform.OTHERS
    assert normalize_config_path("app.config") == "app.config"
    assert normalize_config_path("/app/sub/config.py") == "app.sub.config"
    config = tmp_path / "config.py"
    config.write_text("")
    assert validate_absolute_path(str(config)) == str(config)
    with pytest.raises(FileNotFoundError):
        validate_absolute_path(str(tmp_path / "missing.py"))
    with pytest.raises(IsADirectoryError):
        validate_absolute_path(str(tmp_path))


def test_parse_composite_key_warns_on_a_bare_id():
    assert parse_composite_key("job:exec") == ("job", "exec")
    with pytest.warns(DeprecationWarning):
        assert parse_composite_key("job") == ("job", "")


def test_get_version_reads_float_versions_and_caches(connection):
    assert len(get_version(connection)) == 3
    client = mock.Mock(spec=["info"])
    client.info.return_value = {"redis_version": 7.1}
    assert get_version(client) == (7, 1, 0) == get_version(client)
    client.info.assert_called_once()


def test_missing_keys(connection):
    connection.set("present", 1)
    assert missing_keys(connection, []) == []
    assert missing_keys(connection, ["present"]) == []
    assert missing_keys(connection, ["present", "absent"]) == ["absent"]


def test_clean_worker_registry_drops_dead_workers_in_chunks(connection):
    queue = Queue("foo", connection=connection)
    workers = [SimpleWorker([queue], connection=connection) for _ in range(5)]
    for worker in workers:
        register(worker)
    connection.hset(workers[0].key, "state", "idle")
    assert WORKERS_BY_QUEUE_KEY % "foo" == "rq:workers:foo" and REDIS_WORKER_KEYS == "rq:workers"
    with mock.patch("rq.worker_registration.MAX_KEYS", 2):
        clean_worker_registry(queue)
    assert {as_text(key) for key in connection.smembers(REDIS_WORKER_KEYS)} == {workers[0].key}
    assert {as_text(key) for key in connection.smembers("rq:workers:foo")} == {workers[0].key}


def _prepared(queue: Queue, job_id: str, ttl=None) -> Job:
    job = queue.create_job(jobs.add, args=(1, 2), job_id=job_id, ttl=ttl)
    job.origin = queue.name
    job._status = JobStatus.QUEUED.value
    return job


def test_save_unique_job(connection):
    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 0, 0, job_id="first")
    assert save_unique_job(connection, queue.key, _prepared(queue, "back", ttl=60))
    save_unique_job(connection, queue.key, _prepared(queue, "front"), at_front=True)
    save_unique_job(connection, queue.key, _prepared(queue, "unpushed"), enqueue=False)
    assert queue.get_job_ids() == ["front", "first", "back"]
    assert 50 < connection.ttl("rq:job:back") <= 60 and connection.ttl("rq:job:front") == -1
    assert Job.fetch("unpushed", connection=connection).args == (1, 2)
    with pytest.raises(DuplicateJobError, match="back"):
        save_unique_job(connection, queue.key, _prepared(queue, "back"))
    assert queue.count == 3


def test_schedule_unique_job(connection):
    queue = Queue(connection=connection)
    due = datetime.now(timezone.utc) + timedelta(hours=1)
    job = _prepared(queue, "later", ttl=60)
    job._status = JobStatus.SCHEDULED.value
    assert schedule_unique_job(connection, queue.key, "rq:scheduled:default", job, due)
    assert int(connection.zscore("rq:scheduled:default", "later")) == int(due.timestamp())
    assert Job.fetch("later", connection=connection).get_status() == JobStatus.SCHEDULED
    assert queue.key.encode() in connection.smembers("rq:queues")
    with pytest.raises(DuplicateJobError):
        schedule_unique_job(connection, queue.key, "rq:scheduled:default", job, due)


def test_owned_locks(connection):
    assert acquire_or_refresh_lock(connection, "lock", "me", 60) == "acquired"
    connection.expire("lock", 5)
    assert acquire_or_refresh_lock(connection, "lock", "me", 60) == "refreshed"
    assert connection.ttl("lock") > 50
    assert acquire_or_refresh_lock(connection, "lock", "other", 60) == "taken"
    assert not release_lock(connection, "lock", "other")
    assert release_lock(connection, "lock", "me")
    assert not connection.exists("lock") and not release_lock(connection, "lock", "me")
