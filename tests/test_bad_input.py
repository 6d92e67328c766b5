"""Bad input gets a clear error and loses nothing: at enqueue, in the worker, on the command line.

Enqueue: every check runs before anything is written, so each refused call leaves Redis
empty. A function given as a dotted path is checked for its syntax only, because the
process that enqueues may not have the job's code; a path that does not import fails the
job in the worker, with the path in its exc_info. As upstream RQ, lambdas, nested functions,
functions of ``__main__`` (as job or callback) and dependencies that do not exist are
accepted with a warning: the job is written whole, and a worker that cannot import its
function fails it with a clear error and goes on.

Worker: a job that cannot be read or run ends failed with an exc_info that says why, and
the worker goes on with the next job. A job id whose hash is gone has nothing left to
fail: the worker drops it. (The corrupt-field and serializer cases of tests/test_worker.py
are not repeated here.)

Command line: a malformed argument gives exactly one ``Error:`` line on stderr (click may
print its usage hint above it), no traceback, and a non-zero exit status.
"""

from __future__ import annotations

import logging
import pickle
import threading
import zlib
from typing import Any, Callable

import pytest
import redis
from click.testing import Result

from rq import Queue, Retry, SimpleWorker, Worker
from rq.cli import main
from rq.dependency import MissingDependencyWarning
from rq.exceptions import SerializationError, TimeoutFormatError
from rq.job import Callback, Dependency, Job, JobStatus
from rq.job_validation import MAX_TTL, UnimportableFunctionWarning
from rq.layout import decode_exc_string
from rq.results import DEFAULT_MAX_BULK_LENGTH
from rq.serializers import JSONSerializer
from tests import jobs
from tests.cli.support import RQ_ENV_VARS, cli_runner, run_rq
from tests.helpers import WorkerProcess

# Seconds a worker process may take to drain its queue in these tests.
WORKER_WAIT = 20
# Seconds the worker of the too-large-result test gets; a fixed worker needs about one.
HUGE_RESULT_WAIT = 10


def _make_local_function() -> Callable[[], None]:
    def local_function() -> None:
        pass

    return local_function


def main_module_function() -> None:
    """Stands in for a function defined in a script run as ``python script.py``."""


main_module_function.__module__ = "__main__"


class Unpicklable:
    """A callable object whose instances cannot be pickled (it holds a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def run(self) -> None:
        pass


def _json_queue(queue: Queue) -> Queue:
    return Queue(queue.name, connection=queue.connection, serializer=JSONSerializer)


def assert_nothing_written(connection: redis.Redis) -> None:
    assert connection.dbsize() == 0, sorted(connection.keys("*"))


# ---- enqueue -----------------------------------------------------------------------------

REFUSED_AT_ENQUEUE = [
    pytest.param(lambda q: q.enqueue(jobs.echo, threading.Lock()), SerializationError, "cannot pickle",
                 id="unpicklable-arg"),
    pytest.param(lambda q: q.enqueue(jobs.echo, x=(i for i in ())), SerializationError, "generator",
                 id="unpicklable-kwarg"),
    pytest.param(lambda q: q.enqueue(jobs.echo, lambda: 1), SerializationError, "jobs.echo", id="lambda-arg"),
    pytest.param(lambda q: q.enqueue(Unpicklable().run), SerializationError, "cannot pickle",
                 id="unpicklable-instance"),
    pytest.param(lambda q: _json_queue(q).enqueue(jobs.echo, {1, 2}), SerializationError, "JSONSerializer",
                 id="json-set"),
    pytest.param(lambda q: _json_queue(q).enqueue(jobs.echo, b"raw"), SerializationError, "bytes", id="json-bytes"),
    pytest.param(lambda q: _json_queue(q).enqueue(jobs.echo, {(1, 2): 3}), SerializationError, "keys", id="json-key"),
    pytest.param(lambda q: _json_queue(q).enqueue(jobs.echo, x=object()), SerializationError, "object",
                 id="json-object"),
    pytest.param(lambda q: q.enqueue("not a path!"), ValueError, "not a valid function path", id="path-spaces"),
    pytest.param(lambda q: q.enqueue(""), ValueError, "not a valid function path", id="path-empty"),
    pytest.param(lambda q: q.enqueue("tests..jobs.add"), ValueError, "not a valid function path", id="path-empty-part"),
    pytest.param(lambda q: q.enqueue("tests.jobs.add("), ValueError, "not a valid function path", id="path-call"),
    pytest.param(lambda q: q.enqueue("1st.module"), ValueError, "not a valid function path", id="path-digit"),
    pytest.param(lambda q: q.enqueue(42), TypeError, "Expected a function", id="not-callable"),
    pytest.param(lambda q: q.enqueue(None), TypeError, "Expected a function", id="none"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id="has space"), ValueError, "Invalid job id", id="id-space"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id="a:b"), ValueError, "Invalid job id", id="id-colon"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id=""), ValueError, "Invalid job id", id="id-empty"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id="../x"), ValueError, "Invalid job id", id="id-path"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id="caf\u00e9"), ValueError, "Invalid job id",
                 id="id-unicode"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id="x\n"), ValueError, "Invalid job id", id="id-newline"),
    pytest.param(lambda q: q.enqueue("tests.jobs.add\n"), ValueError, "not a valid function path", id="path-newline"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, job_id=5), TypeError, "must be a string", id="id-int"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, depends_on="bad id"), ValueError, "Invalid job id",
                 id="depends-on-bad-id"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, depends_on=42), ValueError, "depends_on", id="depends-on-int"),
    pytest.param(lambda q: q.enqueue_call(jobs.add, args="ab"), TypeError, "args", id="args-string"),
    pytest.param(lambda q: q.enqueue_call(jobs.add, kwargs=[1]), TypeError, "kwargs", id="kwargs-list"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, meta="m"), TypeError, "meta", id="meta-string"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, retry=3), TypeError, "Retry", id="retry-int"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, retry=Retry(max=0)), ValueError, "max", id="retry-zero"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, unique=True), ValueError, "job_id", id="unique-without-id"),
    pytest.param(lambda q: q.enqueue(jobs.add, 1, 2, on_success=Callback(42)), ValueError, "Callback",
                 id="callback-int"),
    pytest.param(lambda q: q.enqueue_many([Queue.prepare_data(jobs.add, (1, 2)),
                                           Queue.prepare_data(jobs.add, (threading.Lock(),))]),
                 SerializationError, "cannot pickle", id="batch-with-one-bad-job"),
]  # fmt: skip


@pytest.mark.parametrize(("enqueue", "error", "match"), REFUSED_AT_ENQUEUE)
def test_refused_before_anything_is_written(
    connection: redis.Redis, enqueue: Callable[[Queue], Any], error: type[Exception], match: str
) -> None:
    queue = Queue("bad-input", connection=connection)
    with pytest.raises(error, match=match):
        enqueue(queue)
    assert_nothing_written(connection)


def _import_failure(job: Job) -> str:
    """The exc_info of a job whose function a worker could not import."""
    assert job.get_status() == JobStatus.FAILED
    return job.exc_info or ""


UNIMPORTABLE_FUNCTIONS = [
    pytest.param(lambda: None, "lambdas", id="lambda"),
    pytest.param(_make_local_function(), "nested functions", id="local-function"),
    pytest.param(main_module_function, "__main__", id="main-module-function"),
]


@pytest.mark.parametrize(("func", "match"), UNIMPORTABLE_FUNCTIONS)
def test_unimportable_functions_are_written_whole_with_a_warning(
    connection: redis.Redis, func: Callable[[], None], match: str
) -> None:
    """As upstream RQ they are accepted; the warning names the caller's line, the worker fails the job."""
    queue = Queue("bad-input", connection=connection)
    with pytest.warns(UnimportableFunctionWarning, match=match) as record:
        job = queue.enqueue(func)
    assert [warning.filename for warning in record] == [__file__]
    stored = Job.fetch(job.id, connection=connection)
    assert stored.func_name == f"{func.__module__}.{func.__qualname__}"
    assert stored.get_status() == JobStatus.QUEUED and queue.job_ids == [job.id]
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue)
    assert f"Cannot import the function {stored.func_name!r} of job {job.id}" in _import_failure(job)
    assert job.id in queue.failed_job_registry
    assert after.return_value() == 4


@pytest.mark.parametrize(("func", "match"), UNIMPORTABLE_FUNCTIONS)
def test_unimportable_functions_run_in_place_without_a_warning(
    connection: redis.Redis, func: Callable[[], None], match: str
) -> None:
    """A queue with ``is_async=False`` runs the function itself: nothing has to import it."""
    job = Queue("bad-input", connection=connection, is_async=False).enqueue(func)
    assert job.get_status() == JobStatus.FINISHED


@pytest.mark.parametrize(
    ("depends_on", "named"),
    [
        pytest.param("missing-job", "missing-job", id="id"),
        pytest.param(["missing-a", "missing-b"], "missing-a, missing-b", id="list"),
        pytest.param(Dependency("missing-job"), "missing-job", id="dependency"),
    ],
)
def test_missing_dependency_counts_as_ended_with_a_warning(
    connection: redis.Redis, depends_on: Any, named: str
) -> None:
    """As upstream RQ (the dependency's hash may have expired); the warning catches a mistyped id."""
    queue = Queue("bad-input", connection=connection)
    with pytest.warns(MissingDependencyWarning, match=named):
        job = queue.enqueue(jobs.add, 1, 2, depends_on=depends_on)
    assert job.get_status() == JobStatus.QUEUED and queue.job_ids == [job.id]
    assert job.id not in queue.deferred_job_registry
    _run_burst(connection, queue)
    assert job.return_value() == 3


def test_missing_dependency_beside_a_pending_one_waits_for_that_one(connection: redis.Redis) -> None:
    queue = Queue("bad-input", connection=connection)
    parent = queue.enqueue(jobs.add, 1, 1)
    with pytest.warns(MissingDependencyWarning, match="missing-job"):
        child = queue.enqueue(jobs.add, 1, 2, depends_on=[parent, "missing-job"])
    assert child.get_status() == JobStatus.DEFERRED and child.id in queue.deferred_job_registry
    _run_burst(connection, queue)
    assert (parent.return_value(), child.return_value()) == (2, 3)


def test_batch_with_a_missing_dependency_is_enqueued_whole(connection: redis.Redis) -> None:
    queue = Queue("bad-input", connection=connection)
    with pytest.warns(MissingDependencyWarning, match="missing-job"):
        first, second = queue.enqueue_many(
            [Queue.prepare_data(jobs.add, (1, 2)), Queue.prepare_data(jobs.add, (2, 2), depends_on="missing-job")]
        )
    assert queue.job_ids == [first.id, second.id]
    _run_burst(connection, queue)
    assert (first.return_value(), second.return_value()) == (3, 4)


TIME_OPTIONS = [
    ("job_timeout", 0),
    ("job_timeout", -5),
    ("job_timeout", "abc"),
    ("job_timeout", "10x"),
    ("job_timeout", "1.5h"),
    ("job_timeout", True),
    ("job_timeout", []),
    ("ttl", 0),
    ("ttl", -1),
    ("ttl", "soon"),
    ("result_ttl", -2),
    ("result_ttl", "later"),
    ("failure_ttl", -2),
    ("failure_ttl", "1.5d"),
]


@pytest.mark.parametrize(("option", "value"), TIME_OPTIONS)
def test_nonsense_timeouts_and_ttls_are_refused(connection: redis.Redis, option: str, value: Any) -> None:
    queue = Queue("bad-input", connection=connection)
    with pytest.raises((ValueError, TimeoutFormatError), match=rf"{option}|Timeout"):
        queue.enqueue(jobs.add, 1, 2, **{option: value})
    assert_nothing_written(connection)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *[pytest.param(option, 10**20, id=option) for option in ("job_timeout", "ttl", "result_ttl", "failure_ttl")],
        pytest.param("result_ttl", MAX_TTL + 1, id="result_ttl-max-plus-one"),
        pytest.param("job_timeout", float("nan")),
        pytest.param("job_timeout", float("inf")),
        pytest.param("ttl", "1" * 5000, id="ttl-5000-digits"),
    ],
)
def test_out_of_range_timeouts_and_ttls_are_refused(connection: redis.Redis, option: str, value: Any) -> None:
    queue = Queue("bad-input", connection=connection)
    with pytest.raises((ValueError, TimeoutFormatError), match=rf"{option}|Timeout"):
        queue.enqueue(jobs.add, 1, 2, **{option: value})
    assert_nothing_written(connection)


def test_unserializable_meta_is_a_serialization_error(connection: redis.Redis) -> None:
    queue = Queue("bad-input", connection=connection)
    with pytest.raises(SerializationError, match="meta"):
        queue.enqueue(jobs.add, 1, 2, meta={"lock": threading.Lock()})
    assert_nothing_written(connection)


def test_repeat_of_the_wrong_type_is_a_type_error(connection: redis.Redis) -> None:
    with pytest.raises(TypeError, match="[Rr]epeat"):
        Queue("bad-input", connection=connection).enqueue(jobs.add, 1, 2, repeat=3)
    assert_nothing_written(connection)


def test_webhooks_must_be_webhook_objects(connection: redis.Redis) -> None:
    with pytest.raises(TypeError, match="Webhook"):
        Queue("bad-input", connection=connection).enqueue(jobs.add, 1, 2, webhooks=["https://example.invalid/hook"])
    assert_nothing_written(connection)


def _success_callback(job: Any, connection: Any, result: Any) -> None:
    pass


@pytest.mark.parametrize(
    "callback",
    [lambda job, connection, result: None, _make_local_function()],
    ids=["lambda", "local"],
)
def test_callbacks_a_worker_cannot_import_are_written_whole_with_a_warning(
    connection: redis.Redis, callback: Any
) -> None:
    """As upstream RQ they are accepted; a worker fails the job (its success callback cannot run)."""
    queue = Queue("bad-input", connection=connection)
    with pytest.warns(UnimportableFunctionWarning, match="callback") as record:
        job = queue.enqueue(jobs.add, 1, 2, on_success=Callback(callback))
    assert [warning.filename for warning in record] == [__file__]
    name = f"{callback.__module__}.{callback.__qualname__}"
    assert connection.hget(job.key, "success_callback_name") == name.encode()
    assert queue.job_ids == [job.id]
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue)
    failure = _import_failure(job)
    assert "Cannot import" in failure and name in failure
    assert job.id in queue.failed_job_registry
    assert after.return_value() == 4


def test_callback_of_the_main_module_is_accepted_with_a_warning(connection: redis.Redis) -> None:
    _success_callback.__module__ = "__main__"
    try:
        with pytest.warns(UnimportableFunctionWarning, match="__main__"):
            job = Queue("bad-input", connection=connection).enqueue(
                jobs.add, 1, 2, on_success=Callback(_success_callback)
            )
    finally:
        _success_callback.__module__ = __name__
    assert connection.hget(job.key, "success_callback_name") == b"__main__._success_callback"


def test_callback_path_that_is_malformed_is_refused(connection: redis.Redis) -> None:
    with pytest.raises(ValueError, match="not a valid function path"):
        Queue("bad-input", connection=connection).enqueue(jobs.add, 1, 2, on_success=Callback("not a path!"))
    assert_nothing_written(connection)


def test_a_dotted_path_is_checked_for_syntax_only(connection: redis.Redis) -> None:
    """The enqueuer may not have the job's code, so a path that does not import is accepted."""
    queue = Queue("bad-input", connection=connection)
    job = queue.enqueue("some_service_only_the_worker_has.tasks.run", 1)
    assert job.func_name == "some_service_only_the_worker_has.tasks.run"
    assert queue.job_ids == [job.id]


# ---- in the worker -----------------------------------------------------------------------


def _failure_text(connection: redis.Redis, job_id: str) -> str:
    entries = connection.xrevrange(f"rq:results:{job_id}", count=1)
    assert entries, f"no result recorded for job {job_id}"
    return decode_exc_string(entries[0][1][b"exc_string"]) or ""


def _run_burst(connection: redis.Redis, queue: Queue, worker_class: type = SimpleWorker) -> None:
    worker_class([queue], connection=connection).work(burst=True)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x00not zlib, not pickle", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(zlib.compress(b"not a pickle"), id="zlib-of-garbage"),
        pytest.param(zlib.compress(pickle.dumps(42)), id="pickle-of-int"),
        pytest.param(zlib.compress(pickle.dumps(("tests.jobs.add", None, (1, 2)))), id="pickle-of-3-tuple"),
    ],
)
def test_corrupt_call_data_fails_the_job_and_the_worker_goes_on(connection: redis.Redis, data: bytes) -> None:
    queue = Queue("bad-data", connection=connection)
    broken = queue.enqueue(jobs.add, 1, 1)
    connection.hset(broken.key, "data", data)
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue)
    assert connection.hget(broken.key, "status") == b"failed"
    assert broken.id in queue.failed_job_registry
    assert f"Could not decode the data of job {broken.id}" in _failure_text(connection, broken.id)
    assert after.return_value() == 4


@pytest.mark.parametrize(
    ("field", "value", "worker_class"),
    [
        pytest.param("dependency_ids", b"[1]", SimpleWorker, id="dependency-ids-of-ints"),
        pytest.param("dependency_ids", b"5", SimpleWorker, id="dependency-ids-not-a-list"),
        pytest.param("retry_intervals", b"[" * 100_000, SimpleWorker, id="deeply-nested-json"),
        pytest.param("origin", b"\xff\xfe", SimpleWorker, id="origin-not-utf8"),
        pytest.param("timeout", b"inf", Worker, id="timeout-infinite"),
        pytest.param("timeout", b"nan", Worker, id="timeout-nan"),
    ],
)
def test_unreadable_fields_fail_the_job_and_the_worker_goes_on(
    connection: redis.Redis, field: str, value: bytes, worker_class: type
) -> None:
    queue = Queue("bad-fields", connection=connection)
    broken = queue.enqueue(jobs.add, 1, 1)
    connection.hset(broken.key, field, value)
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue, worker_class)
    assert connection.hget(broken.key, "status") == b"failed"
    assert broken.id in queue.failed_job_registry
    assert f"Job {broken.id} could not be read from Redis" in _failure_text(connection, broken.id)
    assert after.return_value() == 4
    assert connection.llen(queue.intermediate_queue_key) == 0


@pytest.mark.parametrize("value", [b"[1]", b"[{}]", b"{", b"5"])
def test_unreadable_webhooks_are_ignored_with_a_logged_warning(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture, value: bytes
) -> None:
    """As upstream RQ, a webhooks field that cannot be read means no webhooks: the job itself still runs."""
    queue = Queue("bad-fields", connection=connection)
    job = queue.enqueue(jobs.add, 1, 1)
    connection.hset(job.key, "webhooks", value)
    caplog.set_level(logging.WARNING, logger="rq.job")
    assert Job.fetch(job.id, connection=connection).webhooks == []
    assert any(job.id in r.getMessage() and "webhooks" in r.getMessage() for r in caplog.records), caplog.text
    _run_burst(connection, queue)
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == 2


@pytest.mark.parametrize("value", [b"inf", b"1e300"])
def test_out_of_range_timeout_in_the_hash_fails_the_job_in_a_simple_worker(
    connection: redis.Redis, value: bytes
) -> None:
    queue = Queue("bad-timeout", connection=connection)
    broken = queue.enqueue(jobs.add, 1, 1)
    connection.hset(broken.key, "timeout", value)
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue)
    assert after.get_status() == JobStatus.FINISHED
    assert connection.hget(broken.key, "status") == b"failed"
    assert broken.id in queue.failed_job_registry


@pytest.mark.parametrize("worker_class", [SimpleWorker, Worker])
def test_job_whose_start_redis_refuses_fails_and_the_worker_goes_on(
    connection: redis.Redis, worker_class: type
) -> None:
    """A write of the take script that fails after the pop leaves the job failed, not lost."""
    queue = Queue("refused-start", connection=connection)
    broken = queue.enqueue(jobs.add, 1, 1)
    connection.set(f"rq:executions:{broken.id}", "not a sorted set")
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue, worker_class)
    assert after.return_value() == 4
    assert connection.hget(broken.key, "status") == b"failed"
    assert broken.id in queue.failed_job_registry
    assert "WRONGTYPE" in _failure_text(connection, broken.id)
    assert connection.llen(queue.intermediate_queue_key) == 0
    assert queue.started_job_registry.get_job_ids() == []


def test_id_whose_key_is_not_a_hash_is_dropped_and_the_worker_goes_on(connection: redis.Redis) -> None:
    queue = Queue("not-a-hash", connection=connection)
    connection.rpush(queue.key, "stray")
    connection.set("rq:job:stray", "a string")
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue, Worker)
    assert after.return_value() == 4
    assert queue.count == 0 and connection.llen(queue.intermediate_queue_key) == 0
    assert connection.get("rq:job:stray") == b"a string"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.jobs.no_such_function", "tests.jobs.no_such_function"),
        ("tests.jobs.time", "not callable"),
    ],
)
def test_function_path_that_does_not_resolve_fails_in_the_worker(
    connection: redis.Redis, path: str, message: str
) -> None:
    queue = Queue("bad-path", connection=connection)
    broken = queue.enqueue(path)
    after = queue.enqueue(jobs.add, 2, 2)
    _run_burst(connection, queue)
    assert broken.get_status() == JobStatus.FAILED
    assert message in (broken.exc_info or "")
    assert after.return_value() == 4


def test_ids_whose_hash_expired_are_dropped_and_the_worker_goes_on(connection: redis.Redis) -> None:
    queue = Queue("expired", connection=connection)
    first = queue.enqueue(jobs.add, 1, 1)
    gone = queue.enqueue(jobs.add, 5, 5, ttl=60)
    last = queue.enqueue(jobs.add, 2, 2)
    connection.delete(gone.key)  # as if its ttl had run out while it waited
    _run_burst(connection, queue, Worker)
    assert (first.return_value(), last.return_value()) == (2, 4)
    assert gone.id not in queue.failed_job_registry
    assert not connection.exists(gone.key)
    assert queue.count == 0 and connection.llen(queue.intermediate_queue_key) == 0


def test_result_the_json_serializer_cannot_encode_is_replaced(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """As upstream RQ: the job ends finished, its return value replaced by a marker text (with a warning)."""
    queue = Queue("json-results", connection=connection, serializer=JSONSerializer)
    odd = queue.enqueue(jobs.unserializable_result)
    after = queue.enqueue(jobs.add, 2, 2)
    caplog.set_level(logging.WARNING, logger="rq.worker")
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    assert odd.get_status() == JobStatus.FINISHED
    assert odd.return_value() == "Unserializable return value"
    assert after.return_value() == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and odd.id in r.getMessage()]
    assert len(warnings) == 1 and "cannot be serialized" in warnings[0], warnings


@pytest.mark.slow
def test_result_too_large_for_redis_fails_the_job_and_the_worker_goes_on(redis_factory: Callable, tmp_path) -> None:
    server = redis_factory(["--proto-max-bulk-len", "1mb"])
    connection = server.client()
    queue = Queue("huge", connection=connection)
    huge = queue.enqueue(jobs.big_result, 1536 * 1024)
    after = queue.enqueue(jobs.add, 2, 2)
    worker = WorkerProcess(server.url, ["huge"], "--burst", log_path=tmp_path / "worker.log")
    try:
        worker.wait(timeout=HUGE_RESULT_WAIT)
    finally:
        worker.stop()
    assert huge.get_status() == JobStatus.FAILED
    assert "large" in (huge.exc_info or "")
    assert after.return_value() == 4


@pytest.mark.slow
def test_result_refused_by_redis_fails_the_job_when_its_limit_is_unknown(
    redis_factory: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the server's proto-max-bulk-len (CONFIG refused), the refused write itself is detected."""
    monkeypatch.setattr("rq.results.max_bulk_length", lambda connection: DEFAULT_MAX_BULK_LENGTH)
    server = redis_factory(["--proto-max-bulk-len", "1mb"])
    connection = server.client()
    queue = Queue("huge", connection=connection)
    huge = queue.enqueue(jobs.big_result, 1536 * 1024)
    after = queue.enqueue(jobs.add, 2, 2)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert huge.get_status() == JobStatus.FAILED
    assert "OutcomeWriteRefused" in (huge.exc_info or "")
    assert after.return_value() == 4


# ---- on the command line -----------------------------------------------------------------


@pytest.fixture
def cli(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``cli("enqueue", ...)`` runs ``rq enqueue --url <test redis> ...`` in this process."""
    for name in RQ_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    runner = cli_runner()

    def invoke(command: str, *args: str) -> Result:
        return runner.invoke(main, [command, "--url", redis_url, *args])

    return invoke


def assert_one_line_error(exit_code: int, stderr: str, expected: str) -> None:
    assert exit_code not in (0, None), stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    assert [line for line in lines if line.startswith("Error:")] == [lines[-1]], stderr
    assert expected in lines[-1], stderr


DEEP_JSON = ":" + "[" * 100_000
CLI_ERRORS = [
    pytest.param("info", ["--interval", "abc"], "--interval", id="info-interval-text"),
    pytest.param("info", ["--interval", "-1"], "--interval", id="info-interval-negative"),
    pytest.param("suspend", ["--duration", "abc"], "--duration", id="suspend-duration-text"),
    pytest.param("enqueue", ["not a path!"], "not a valid function path", id="enqueue-function-path"),
    pytest.param("enqueue", ["--depends-on", "bad id", "tests.jobs.add"], "Invalid job id",
                 id="enqueue-depends-on-bad-id"),
    pytest.param("enqueue", ["--job-id", "", "tests.jobs.add"], "Invalid job id", id="enqueue-empty-job-id"),
    pytest.param("enqueue", ["--result-ttl", "-5", "tests.jobs.add"], "result_ttl", id="enqueue-result-ttl-negative"),
    pytest.param("enqueue", ["--ttl", "0", "tests.jobs.add"], "ttl", id="enqueue-ttl-zero"),
    pytest.param("enqueue", ["--failure-ttl", "soon", "tests.jobs.add"], "--failure-ttl",
                 id="enqueue-failure-ttl-text"),
    pytest.param("enqueue", ["--timeout", "1.5h", "tests.jobs.add"], "--timeout", id="enqueue-timeout-fraction"),
    pytest.param("enqueue", ["--retry-max", "abc", "tests.jobs.add"], "--retry-max", id="enqueue-retry-max-text"),
    pytest.param("enqueue", ["--schedule-at", "2030-13-45T00:00:00", "tests.jobs.add"], "--schedule-at",
                 id="enqueue-schedule-at-impossible-date"),
    pytest.param("enqueue", ["tests.jobs.add", "@"], "cannot read file", id="enqueue-at-sign-alone"),
    pytest.param("enqueue", ["tests.jobs.add", "%"], "not a Python literal", id="enqueue-percent-alone"),
    pytest.param("enqueue", ["tests.jobs.add", ":"], "not valid JSON", id="enqueue-colon-alone"),
    pytest.param("enqueue", ["tests.jobs.add", ":" + "1" * 5000], "not valid JSON", id="enqueue-json-huge-int"),
    pytest.param("enqueue", ["tests.jobs.add", "%" + "[" * 100_000], "not a Python literal",
                 id="enqueue-deep-literal"),
    pytest.param("enqueue", ["-S", "json", "tests.jobs.add", "%{1, 2}"], "JSONSerializer", id="enqueue-json-set"),
    pytest.param("enqueue", ["--queue", "", "tests.jobs.add"], "--queue", id="enqueue-empty-queue-name"),
    pytest.param("enqueue", ["tests.jobs.add", DEEP_JSON], "not valid JSON", id="enqueue-deep-json"),
    pytest.param("enqueue", ["--schedule-in", "99999999999d", "tests.jobs.add"], "--schedule-in",
                 id="enqueue-schedule-in-overflow"),
    pytest.param("enqueue", ["--schedule-at", "0001-01-01T00:00:00", "tests.jobs.add"], "--schedule-at",
                 id="enqueue-schedule-at-year-1"),
    pytest.param("enqueue", ["--ttl", "100000000000000000000", "tests.jobs.add"], "too large",
                 id="enqueue-ttl-oversized"),
    pytest.param("empty", [""], "Queue name", id="empty-empty-queue-name"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "args", "expected"), CLI_ERRORS)
def test_malformed_arguments_are_one_line_errors(
    cli: Callable[..., Result], connection: redis.Redis, command: str, args: list[str], expected: str
) -> None:
    result = cli(command, *args)
    assert isinstance(result.exception, SystemExit), result.exception
    assert_one_line_error(result.exit_code, result.stderr, expected)
    assert connection.keys("rq:job:*") == []


def test_url_with_a_database_that_is_not_a_number_is_refused(redis_url: str) -> None:
    """redis-py ignores such a path and connects to database 0: the commands would act on the wrong one."""
    url = redis_url.rsplit("/", 1)[0] + "/notadb"
    result = cli_runner().invoke(main, ["info", "--url", url])
    assert_one_line_error(result.exit_code, result.stderr, "--url")
    assert "'notadb'" in result.stderr
    assert cli_runner().invoke(main, ["info", "--url", redis_url.rsplit("/", 1)[0] + "/1"]).exit_code == 0


WORKER_CLI_ERRORS = [
    pytest.param(["worker", "--max-jobs", "abc"], 2, "--max-jobs", id="worker-max-jobs-text"),
    pytest.param(["worker", "--scheduler-interval", "0"], 2, "--scheduler-interval", id="worker-scheduler-interval"),
    pytest.param(["worker", "--sentry-dsn", "http://key@127.0.0.1:1/1", "--sentry-debug", "maybe"], 2,
                 "--sentry-debug", id="worker-sentry-debug"),
    pytest.param(["worker", ""], 1, "Queue name", id="worker-empty-queue-name"),
    pytest.param(["worker-pool", "-n", "abc"], 2, "--num-workers", id="worker-pool-num-workers-text"),
    pytest.param(["cron", "/nonexistent/cron_config.py"], 1, "not found", id="cron-missing-config"),
    pytest.param(["cron", "-l", "NOPE", "config"], 2, "--logging-level", id="cron-logging-level"),
    pytest.param(["worker", "--pid", "/nonexistent/dir/worker.pid"], 2, "--pid", id="worker-pid-dir"),
    pytest.param(["worker", "--worker-ttl", "-5"], 2, "--worker-ttl", id="worker-ttl-negative"),
    pytest.param(["worker", "--job-monitoring-interval", "0"], 2, "--job-monitoring-interval",
                 id="worker-monitoring-zero"),
    pytest.param(["worker", "--maintenance-interval", "0"], 2, "--maintenance-interval",
                 id="worker-maintenance-zero"),
    pytest.param(["worker", "--results-ttl", "100000000000"], 2, "--results-ttl", id="worker-results-ttl-oversized"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "expected"), WORKER_CLI_ERRORS)
def test_malformed_worker_arguments_are_one_line_errors(
    redis_url: str, args: list[str], code: int, expected: str
) -> None:
    """Run as subprocesses: these commands set up logging and signals in the process that runs them."""
    command, *rest = args
    burst = ["--burst"] if command in ("worker", "worker-pool") else []
    result = run_rq(command, "--url", redis_url, *burst, *rest, timeout=WORKER_WAIT)
    assert_one_line_error(result.returncode, result.stderr, expected)
    assert result.returncode == code


def test_forked_horse_warns_when_a_return_value_cannot_be_sent(
    connection: redis.Redis, redis_url: str, tmp_path
) -> None:
    """The horse pickles the outcome for the worker; a value pickle refuses is replaced, with a warning."""
    queue = Queue("pickle-results", connection=connection)
    odd = queue.enqueue(jobs.unserializable_result)
    worker = WorkerProcess(redis_url, ["pickle-results"], "--burst", log_path=tmp_path / "worker.log")
    assert worker.wait() == 0, worker.output()
    assert odd.get_status() == JobStatus.FINISHED
    assert odd.return_value() == "Unserializable return value"
    assert f"the return value of job {odd.id} cannot be serialized" in worker.output(), worker.output()


@pytest.mark.parametrize("value", [MAX_TTL + 1, -5, "forever"])
def test_queue_default_timeout_out_of_range_is_refused(connection: redis.Redis, value: Any) -> None:
    with pytest.raises((ValueError, TimeoutFormatError), match="default_timeout|Timeout"):
        Queue("bounds", connection=connection, default_timeout=value)


def test_worker_default_result_ttl_above_the_maximum_is_refused(connection: redis.Redis) -> None:
    with pytest.raises(ValueError, match="default_result_ttl"):
        SimpleWorker(["bounds"], connection=connection, default_result_ttl=MAX_TTL + 1)
    assert SimpleWorker(["bounds"], connection=connection, default_result_ttl=-1).default_result_ttl == -1
