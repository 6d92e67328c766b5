"""Job: creation, encoding in the job hash, persistence and status."""

from __future__ import annotations

import threading
import zlib
from datetime import timezone

import pytest

from rq import Queue, Retry, get_current_job
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError, SerializationError
from rq.job import Callback, Dependency, Job, JobStatus, parse_job_id, validate_job_id
from rq.job_validation import UnimportableFunctionWarning
from rq.serializers import JSONSerializer
from tests import jobs


def test_create_from_function_and_call_data(connection):
    job = Job.create(jobs.add, args=(1, 2), kwargs={}, connection=connection)
    assert job.func_name == "tests.jobs.add"
    assert job.func is jobs.add
    assert job.args == (1, 2)
    assert job.kwargs == {}
    assert job.description == "tests.jobs.add(1, 2)"
    assert job.get_status(refresh=False) == JobStatus.CREATED
    assert len(job.id) == 36


def test_create_from_dotted_path_method_and_callable_instance(connection):
    assert Job.create("tests.jobs.say_hello", connection=connection).func is jobs.say_hello
    calc = jobs.Calculator(10)
    bound = Job.create(calc.add, args=(5,), connection=connection)
    assert (bound.func_name, bound.instance.base) == ("add", 10)
    assert bound.perform() == 15
    instance = Job.create(calc, args=(3,), connection=connection)
    assert instance.func_name == "__call__"
    assert instance.perform() == 30


@pytest.mark.parametrize("bad", ["not a path!", "1abc.def"])
def test_refuses_malformed_function_paths(connection, bad):
    with pytest.raises(ValueError, match="not a valid function path"):
        Job.create(bad, connection=connection)


def test_lambdas_and_nested_functions_are_accepted_with_a_warning(connection):
    """As upstream RQ: they run in place (``perform``), but a worker in another process cannot import them."""

    def local():
        return 1

    for func, match in [(lambda: 1, "lambdas"), (local, "nested")]:
        with pytest.warns(UnimportableFunctionWarning, match=match) as record:
            job = Job.create(func, connection=connection)
        assert [warning.filename for warning in record] == [__file__]
        assert job.func_name == f"{__name__}.{func.__qualname__}"
        assert job.perform() == 1


@pytest.mark.parametrize("job_id", ["abc", "A_b-9", "x" * 64])
def test_valid_ids(job_id):
    validate_job_id(job_id)


@pytest.mark.parametrize("job_id", ["a b", "a:b", "", "ä", "a/b"])
def test_invalid_ids_are_refused(connection, job_id):
    with pytest.raises(ValueError, match="Invalid job id"):
        Job.create(jobs.add, args=(1, 2), id=job_id, connection=connection)


def test_id_must_be_text(connection):
    with pytest.raises(TypeError):
        Job.create(jobs.add, args=(1, 2), id=123, connection=connection)


def test_parse_job_id_strips_execution_suffix():
    assert parse_job_id("abc:def") == "abc"
    assert parse_job_id(b"abc") == "abc"


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90), ("90", 90), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), (-1, -1)]
)
def test_timeouts_accept_numbers_and_unit_strings(connection, value, seconds):
    job = Job.create(jobs.add, args=(1, 2), timeout=value, result_ttl=value, failure_ttl=value, connection=connection)
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (seconds, seconds, seconds)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", 0),
        ("timeout", -5),
        ("timeout", "soon"),
        ("ttl", 0),
        ("ttl", -1),
        ("result_ttl", -2),
        ("failure_ttl", "1y"),
    ],
)
def test_nonsense_timeouts_are_refused(connection, name, value):
    with pytest.raises(Exception) as info:
        Job.create(jobs.add, args=(1, 2), connection=connection, **{name: value})
    assert isinstance(info.value, (ValueError, Exception))
    assert str(value) in str(info.value)


def test_save_fetch_roundtrip(connection):
    job = Job.create(
        jobs.echo,
        args=(1, "a"),
        kwargs={"k": [1, 2]},
        connection=connection,
        origin="default",
        meta={"m": 1},
        result_ttl=10,
        failure_ttl=20,
        ttl=30,
        timeout="2m",
        description="desc",
        retry=Retry(max=3, interval=[1, 2]),
        on_success=Callback(jobs.record_success, timeout=5),
    )
    job.save()
    fetched = Job.fetch(job.id, connection=connection)
    assert fetched.func_name == "tests.jobs.echo"
    assert fetched.args == (1, "a") and fetched.kwargs == {"k": [1, 2]}
    assert fetched.meta == {"m": 1}
    assert (fetched.result_ttl, fetched.failure_ttl, fetched.ttl, fetched.timeout) == (10, 20, 30, 120)
    assert fetched.description == "desc"
    assert fetched.origin == "default"
    assert fetched.retries_left == 3 and fetched.retry_intervals == [1, 2]
    assert fetched.success_callback is jobs.record_success and fetched.success_callback_timeout == 5
    assert fetched.created_at.tzinfo is not None
    assert abs((fetched.created_at - job.created_at).total_seconds()) < 0.001


def test_hash_encoding_matches_the_upstream_layout(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection, timeout=180)
    job.save()
    raw = connection.hgetall(job.key)
    assert raw[b"data"][:2] == b"\x78\x9c"  # zlib
    assert raw[b"status"] == b"created"
    assert raw[b"timeout"] == b"180"
    for field in (
        b"started_at",
        b"ended_at",
        b"last_heartbeat",
        b"worker_name",
        b"group_id",
        b"success_callback_name",
        b"failure_callback_name",
        b"stopped_callback_name",
    ):
        assert raw[field] == b""
    assert raw[b"created_at"].endswith(b"Z") and len(raw[b"created_at"]) == 27
    assert b"meta" not in raw  # omitted when empty


def test_fetch_missing_raises(connection):
    with pytest.raises(NoSuchJobError):
        Job.fetch("does-not-exist", connection=connection)


def test_fetch_many_and_exists(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    assert Job.exists(job.id, connection=connection)
    assert not Job.exists("nope", connection=connection)
    fetched = Job.fetch_many([job.id, "nope"], connection=connection)
    assert fetched[0] == job and fetched[1] is None


def test_uncompressed_data_is_accepted(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    connection.hset(job.key, "data", zlib.decompress(connection.hget(job.key, "data")))
    assert Job.fetch(job.id, connection=connection).args == (1, 2)


def test_unreadable_data_raises_on_use(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    connection.hset(job.key, "data", b"garbage")
    fetched = Job.fetch(job.id, connection=connection)
    with pytest.raises(DeserializationError):
        _ = fetched.func_name


def test_unserializable_arguments_fail_before_anything_is_written(connection):
    queue = Queue(connection=connection)
    with pytest.raises(SerializationError, match="tests.jobs.echo"):
        queue.enqueue(jobs.echo, threading.Lock())
    assert connection.keys("*") == []


def test_json_serializer_rejects_non_json_arguments(connection):
    queue = Queue(connection=connection, serializer=JSONSerializer)
    with pytest.raises(SerializationError, match="JSONSerializer"):
        queue.enqueue(jobs.echo, {1, 2})
    assert connection.keys("*") == []
    job = queue.enqueue(jobs.echo, [1, 2], key="v")
    fetched = Job.fetch(job.id, connection=connection, serializer=JSONSerializer)
    assert fetched.args == [[1, 2]] and fetched.kwargs == {"key": "v"}


def test_meta_save_and_refresh(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    job.meta["progress"] = 50
    job.save_meta()
    assert Job.fetch(job.id, connection=connection).get_meta() == {"progress": 50}


def test_unreadable_meta_is_kept_raw(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    connection.hset(job.key, "meta", b"not pickle")
    assert Job.fetch(job.id, connection=connection).meta == {"unserialized": b"not pickle"}


def test_status(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    job.save()
    job.set_status(JobStatus.STARTED)
    assert job.get_status() == JobStatus.STARTED and job.is_started
    connection.hdel(job.key, "status")
    with pytest.raises(InvalidJobOperation, match=f"status for job {job.id}"):
        job.get_status()  # as upstream RQ
    assert job.get_status(refresh=False) == JobStatus.STARTED
    connection.delete(job.key)
    with pytest.raises(InvalidJobOperation, match=f"status for job {job.id}"):
        job.get_status()


def test_perform_sets_current_job_and_runs_coroutines(connection):
    job = Job.create(jobs.current_job_id, connection=connection)
    assert job.perform() == job.id
    assert get_current_job() is None
    assert Job.create(jobs.async_add, args=(2, 3), connection=connection).perform() == 5


def test_dependency_spec(connection):
    parent = Job.create(jobs.add, args=(1, 2), connection=connection)
    job = Job.create(
        jobs.add,
        args=(1, 2),
        connection=connection,
        depends_on=Dependency(jobs=[parent, "other"], allow_failure=True, enqueue_at_front=True),
    )
    assert job.dependency_ids == [parent.id, "other"]
    assert job.allow_dependency_failures and job.enqueue_at_front
    with pytest.raises(ValueError):
        Dependency(jobs=[])
    with pytest.raises(ValueError):
        Dependency(jobs=[1])


def test_callback_validation():
    assert Callback("tests.jobs.record_success").timeout == 60
    assert Callback(jobs.record_success, timeout="1m").name == "tests.jobs.record_success"
    with pytest.raises(ValueError):
        Callback(object())


def test_deprecated_bare_callback_warns(connection):
    with pytest.warns(DeprecationWarning):
        job = Job.create(jobs.add, args=(1, 2), connection=connection, on_success=jobs.record_success)
    assert job.success_callback is jobs.record_success


def test_retry_validation():
    assert Retry(max=3, interval=[1, 2]).intervals == [1, 2]
    for bad in (dict(max=0), dict(max=2, interval=-1), dict(max=2, interval=[1, -2])):
        with pytest.raises(ValueError):
            Retry(**bad)


def test_connection_is_required():
    with pytest.raises(TypeError, match="connection"):
        Job.create(jobs.add, args=(1, 2))


def test_timestamps_are_aware_utc(connection):
    job = Job.create(jobs.add, args=(1, 2), connection=connection)
    assert job.created_at.tzinfo == timezone.utc
