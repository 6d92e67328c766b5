"""Workers on a real Redis: running jobs, registration, timeouts, signals, suspension."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest

from rq import Queue, SimpleWorker, SpawnWorker, Worker
from rq.job import Job, JobStatus
from rq.results import Result
from rq.suspension import resume, suspend
from rq.worker import DequeueStrategy, RandomWorker, RoundRobinWorker, WorkerStatus
from tests import jobs
from tests.helpers import WorkerProcess, wait_for

WORKER_CLASSES = [SimpleWorker, Worker, SpawnWorker]


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_burst_runs_jobs_and_records_outcomes(connection, worker_class):
    queue = Queue(connection=connection)
    ok = queue.enqueue(jobs.say_hello, "Ann")
    bad = queue.enqueue(jobs.fail, "nope")
    worker = worker_class([queue], connection=connection)
    assert worker.work(burst=True) is True

    assert ok.get_status() == JobStatus.FINISHED
    assert ok.return_value() == "Hi there, Ann!"
    assert ok.latest_result().type == Result.Type.SUCCESSFUL
    assert ok.id in queue.finished_job_registry
    assert bad.get_status() == JobStatus.FAILED
    assert "ValueError: nope" in bad.exc_info
    assert bad.id in queue.failed_job_registry
    assert queue.started_job_registry.count == 0
    assert connection.llen(queue.intermediate_queue_key) == 0
    ok.refresh()
    assert ok.worker_name == worker.name and ok.started_at <= ok.ended_at


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_counts_and_working_time_add_up(connection, worker_class):
    queue = Queue(connection=connection)
    for _ in range(3):
        queue.enqueue(jobs.sleep_for, 0.05)
    queue.enqueue(jobs.fail)
    worker = worker_class([queue], connection=connection)
    worker.work(burst=True)
    worker.refresh()  # a forking worker's counters are written by its work horses
    assert (worker.successful_job_count, worker.failed_job_count) == (3, 1)
    assert worker.total_working_time >= 0.15
    raw = connection.hgetall(worker.key)
    assert raw[b"successful_job_count"] == b"3" and raw[b"failed_job_count"] == b"1"
    assert float(raw[b"total_working_time"]) == pytest.approx(worker.total_working_time, abs=0.01)


def test_unimportable_function_fails_with_its_name_and_worker_goes_on(connection):
    queue = Queue(connection=connection)
    missing = queue.enqueue("tests.no_such_module.func")
    ok = queue.enqueue(jobs.add, 1, 2)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert missing.get_status() == JobStatus.FAILED
    assert "tests.no_such_module.func" in missing.exc_info
    assert ok.return_value() == 3


@pytest.mark.parametrize("worker_class", [Worker, SpawnWorker])
def test_job_timeout_fails_with_job_timeout_exception(connection, worker_class):
    queue = Queue(connection=connection)
    slow = queue.enqueue(jobs.sleep_for, 10, job_timeout=1)
    after = queue.enqueue(jobs.add, 1, 1)
    worker_class([queue], connection=connection).work(burst=True)
    assert slow.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in slow.exc_info
    assert "Task exceeded maximum timeout value (1 seconds)" in slow.exc_info
    assert after.get_status() == JobStatus.FINISHED


@pytest.mark.parametrize("worker_class", [Worker, SpawnWorker])
@pytest.mark.parametrize("func", [jobs.kill_own_process, jobs.exit_abruptly])
def test_horse_dying_on_its_own_leaves_job_failed(connection, func, worker_class):
    queue = Queue(connection=connection)
    job = queue.enqueue(func)
    after = queue.enqueue(jobs.add, 1, 1)
    killed = []
    worker = Worker(
        [queue], connection=connection, work_horse_killed_handler=lambda job, pid, status, rusage: killed.append(job.id)
    )
    worker.work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert "Work-horse terminated unexpectedly" in job.exc_info
    assert job.id in queue.failed_job_registry
    assert queue.started_job_registry.count == 0
    assert killed == [job.id]
    assert after.get_status() == JobStatus.FINISHED


def test_result_ttl_zero_keeps_nothing_and_minus_one_keeps_forever(connection):
    queue = Queue(connection=connection)
    gone = queue.enqueue(jobs.add, 1, 1, result_ttl=0)
    forever = queue.enqueue(jobs.add, 2, 2, result_ttl=-1)
    default = queue.enqueue(jobs.add, 3, 3)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert not Job.exists(gone.id, connection)
    assert gone.id not in queue.finished_job_registry
    assert connection.ttl(forever.key) == -1
    assert queue.finished_job_registry.get_expiration_time(forever) is None
    assert 0 < connection.ttl(default.key) <= 500


def test_failure_ttl(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail, failure_ttl=100)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert 0 < connection.ttl(job.key) <= 100
    assert 0 < connection.ttl(f"rq:results:{job.id}") <= 100


def test_exception_handler_chain(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail)
    calls = []

    def first(job, exc_type, exc_value, tb):
        calls.append(("first", exc_type.__name__))
        return False

    def second(job, *exc_info):
        calls.append(("second", None))

    worker = SimpleWorker([queue], connection=connection, exception_handlers=[first])
    worker.push_exc_handler(second)
    worker.work(burst=True)
    assert calls == [("first", "ValueError")]
    assert job.get_status() == JobStatus.FAILED


def test_disable_default_exception_handler_skips_failed_registry(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.fail)
    SimpleWorker([queue], connection=connection, disable_default_exception_handler=True).work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert job.id not in queue.failed_job_registry
    assert job.latest_result() is None


def test_registration_birth_death_and_lookup(connection):
    queue = Queue("q1", connection=connection)
    worker = SimpleWorker([queue, "q2"], name="w1", connection=connection)
    worker.register_birth()
    assert Worker.count(connection=connection) == 1
    assert Worker.all_keys(connection=connection) == ["rq:worker:w1"]
    assert Worker.count(queue=queue) == 1
    found = Worker.find_by_key("rq:worker:w1", connection=connection)
    assert found.name == "w1" and found.queue_names() == ["q1", "q2"]
    assert found.pid == os.getpid() and found.hostname
    assert 420 < connection.ttl(worker.key) <= 480
    with pytest.raises(ValueError, match="active worker named 'w1'"):
        SimpleWorker([queue], name="w1", connection=connection).register_birth()
    worker.register_death()
    assert Worker.count(connection=connection) == 0
    assert connection.hget(worker.key, "death")
    assert 0 < connection.ttl(worker.key) <= 60
    assert Worker.find_by_key("rq:worker:gone", connection=connection) is None
    with pytest.raises(ValueError):
        Worker.find_by_key("bad:key", connection=connection)


def test_default_names_are_unique(connection):
    assert SimpleWorker(["q"], connection=connection).name != SimpleWorker(["q"], connection=connection).name


def test_heartbeat_rewrites_a_lost_record(connection):
    worker = SimpleWorker(["q"], name="lost", connection=connection)
    worker.register_birth()
    connection.flushall()
    worker.heartbeat()
    raw = connection.hgetall(worker.key)
    assert raw[b"queues"] == b"q" and raw[b"birth"]
    assert connection.sismember("rq:workers", worker.key)
    assert connection.sismember("rq:workers:q", worker.key)


def test_max_jobs_and_max_idle_time(connection):
    queue = Queue(connection=connection)
    for i in range(3):
        queue.enqueue(jobs.add, i, i)
    SimpleWorker([queue], connection=connection).work(max_jobs=2)
    assert queue.count == 1
    worker = SimpleWorker([queue], connection=connection)
    assert worker.work(max_idle_time=1) is True
    assert queue.count == 0


def test_burst_worker_exits_when_suspended(connection):
    queue = Queue(connection=connection)
    queue.enqueue(jobs.add, 1, 1)
    suspend(connection)
    assert SimpleWorker([queue], connection=connection).work(burst=True) is False
    assert queue.count == 1
    resume(connection)
    assert SimpleWorker([queue], connection=connection).work(burst=True) is True


def test_suspended_worker_waits_and_resumes(connection, redis_url, tmp_path):
    queue = Queue("susp", connection=connection)
    suspend(connection)
    worker = WorkerProcess(
        redis_url, ["susp"], "--name", "sleepy", "--class", "rq.worker.SimpleWorker", log_path=tmp_path / "worker.log"
    )
    try:
        wait_for(lambda: connection.hget("rq:worker:sleepy", "state") == b"suspended", message="suspended state")
        job = queue.enqueue(jobs.add, 1, 2)
        assert job.get_status() == JobStatus.QUEUED
        resume(connection)
        wait_for(lambda: job.get_status() == JobStatus.FINISHED, message="job to run after resume")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert "suspended" in worker.output()


def test_dequeue_strategies(connection):
    high, low = Queue("high", connection=connection), Queue("low", connection=connection)
    for i in range(2):
        high.enqueue(jobs.add, i, 0, job_id=f"h{i}")
        low.enqueue(jobs.add, i, 0, job_id=f"l{i}")

    def run(worker):
        worker.work(burst=True)
        return sorted(
            Job.fetch_many([f"h{i}" for i in range(2)] + [f"l{i}" for i in range(2)], connection),
            key=lambda job: job.started_at,
        )

    order = [job.id for job in run(SimpleWorker([high, low], connection=connection))]
    assert order == ["h0", "h1", "l0", "l1"]
    for i in range(2):
        high.enqueue(jobs.add, i, 0, job_id=f"h{i}")
        low.enqueue(jobs.add, i, 0, job_id=f"l{i}")
    worker = SimpleWorker([high, low], connection=connection)
    worker.work(burst=True, dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
    order = [job.id for job in sorted(Job.fetch_many(["h0", "h1", "l0", "l1"], connection), key=lambda j: j.started_at)]
    assert order == ["h0", "l0", "h1", "l1"]
    with pytest.raises(ValueError):
        SimpleWorker([high], connection=connection).work(burst=True, dequeue_strategy="bogus")
    assert issubclass(RoundRobinWorker, Worker) and issubclass(RandomWorker, Worker)


def test_warm_shutdown_finishes_the_current_job(connection, redis_url, tmp_path):
    queue = Queue("warm", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 2)
    worker = WorkerProcess(redis_url, ["warm"], "--name", "warm", log_path=tmp_path / "worker.log")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, message="job to start")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert job.get_status() == JobStatus.FINISHED
    assert "warm shut down requested" in worker.output()
    assert not connection.sismember("rq:workers", "rq:worker:warm")


def test_cold_shutdown_kills_the_job_and_records_it_failed(connection, redis_url, tmp_path):
    queue = Queue("cold", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 30)
    worker = WorkerProcess(redis_url, ["cold"], "--name", "cold", log_path=tmp_path / "worker.log")
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, message="job to start")
        worker.signal(signal.SIGTERM)
        wait_for(lambda: "warm shut down requested" in worker.output(), message="warm shutdown log")
        import time

        time.sleep(1.2)  # a second signal within 1 s of the first is ignored
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert job.get_status() == JobStatus.FAILED
    assert "cold shutdown" in job.exc_info
    assert queue.started_job_registry.count == 0


def test_started_registry_entry_carries_execution_id(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.current_job_id)
    worker = SimpleWorker([queue], connection=connection)
    seen = {}

    def spy(job_, *args):
        seen["members"] = connection.zrange("rq:wip:default", 0, -1)
        seen["state"] = connection.hget(worker.key, "state")
        seen["current"] = connection.hget(worker.key, "current_job")

    original = worker.perform_job

    def perform(job_, queue_):
        spy(job_)
        return original(job_, queue_)

    worker.perform_job = perform
    worker.work(burst=True)
    member = seen["members"][0].decode()
    assert member.startswith(job.id + ":") and len(member.split(":")[1]) == 32
    assert seen["state"] == b"busy" and seen["current"] == job.id.encode()
    assert connection.hget(worker.key, "current_job") is None


def test_worker_state_values():
    assert [s.value for s in WorkerStatus] == ["started", "suspended", "busy", "idle"]


def test_job_ttl_expired_before_dequeue_is_skipped(connection):
    queue = Queue(connection=connection)
    job = queue.enqueue(jobs.add, 1, 1, ttl=10)
    connection.delete(job.key)
    assert SimpleWorker([queue], connection=connection).work(burst=True) is False
    assert connection.llen(queue.intermediate_queue_key) == 0


def test_heartbeat_ttl_is_bounded_by_timeout(connection):
    worker = Worker(["q"], connection=connection, job_monitoring_interval=30)
    job = Job.create(jobs.add, args=(1, 1), connection=connection, timeout=10)
    from rq.layout import utcnow

    job.started_at = utcnow() - timedelta(seconds=5)
    assert worker.get_heartbeat_ttl(job) == 64  # int(10 - 5.x) + 60
    job.timeout = -1
    assert worker.get_heartbeat_ttl(job) == 90


class TaggedJob(Job):
    """A custom job class, as users define to add behaviour."""

    def perform(self):
        self.meta["tagged"] = True
        return super().perform()


def test_custom_job_class_and_json_serializer(connection):
    from rq.serializers import JSONSerializer

    queue = Queue("custom", connection=connection, job_class=TaggedJob, serializer=JSONSerializer)
    job = queue.enqueue(jobs.echo, 1, key="v")
    worker = SimpleWorker([queue], connection=connection, job_class=TaggedJob, serializer="json")
    worker.work(burst=True)
    fetched = TaggedJob.fetch(job.id, connection=connection, serializer=JSONSerializer)
    assert fetched.get_status() == JobStatus.FINISHED
    assert fetched.return_value() == [[1], {"key": "v"}]


def test_a_payload_from_another_serializer_fails_the_job_clearly(connection):
    from rq.serializers import JSONSerializer

    job = Queue("mixed", connection=connection).enqueue(jobs.add, 1, 2)  # pickled
    worker = SimpleWorker(["mixed"], connection=connection, serializer=JSONSerializer)
    worker.work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert "Could not decode the data of job" in job.exc_info


def test_timer_death_penalty_enforces_the_timeout(connection):
    from rq.timeouts import TimerDeathPenalty

    class ThreadSafeWorker(SimpleWorker):
        death_penalty_class = TimerDeathPenalty

    queue = Queue("timer", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 5, job_timeout=1)
    ThreadSafeWorker([queue], connection=connection).work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in job.exc_info


def test_no_timeout_with_minus_one(connection):
    queue = Queue("forever", connection=connection)
    job = queue.enqueue(jobs.sleep_for, 1.5, job_timeout=-1)
    Worker([queue], connection=connection).work(burst=True)
    assert job.get_status() == JobStatus.FINISHED


def test_heroku_worker_warns_the_job_before_shutdown(connection, redis_url, tmp_path):
    queue = Queue("heroku", connection=connection)
    started = tmp_path / "horse.pid"
    job = queue.enqueue(jobs.write_pid_then_sleep, str(started), 30)
    worker = WorkerProcess(
        redis_url,
        ["heroku"],
        "--name",
        "heroku",
        "--class",
        "tests.test_worker.QuickHerokuWorker",
        log_path=tmp_path / "worker.log",
    )
    try:
        # The job's status says started before the horse exists; the file says the job runs.
        wait_for(started.exists, message="job to run in the horse")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        worker.stop()
    assert job.get_status() == JobStatus.FAILED
    assert "ShutDownImminentException" in job.exc_info


from rq.worker import HerokuWorker  # noqa: E402


class QuickHerokuWorker(HerokuWorker):
    imminent_shutdown_delay = 0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("data", None, "no data field"),
        ("timeout", b"not-a-number", "ValueError"),
        ("created_at", b"junk", "ValueError"),
    ],
)
def test_corrupt_job_hash_fails_clearly_and_worker_goes_on(connection, field, value, reason):
    queue = Queue("corrupt", connection=connection)
    broken = queue.enqueue(jobs.add, 1, 1)
    if value is None:
        connection.hdel(broken.key, field)
    else:
        connection.hset(broken.key, field, value)
    after = queue.enqueue(jobs.add, 2, 2)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert connection.hget(broken.key, "status") == b"failed"
    assert broken.id in queue.failed_job_registry
    from rq.results import Result as _Result

    entries = connection.xrevrange(f"rq:results:{broken.id}", count=1)
    from rq.layout import decode_exc_string

    assert entries and entries[0][1][b"type"] == str(_Result.Type.FAILED.value).encode()
    assert reason in decode_exc_string(entries[0][1][b"exc_string"])
    assert after.get_status() == JobStatus.FINISHED


def test_unserializable_and_large_results(connection):
    queue = Queue("results", connection=connection)
    odd = queue.enqueue(jobs.unserializable_result)
    big = queue.enqueue(jobs.big_result, 5 * 1024 * 1024)
    Worker([queue], connection=connection).work(burst=True)
    assert odd.get_status() == JobStatus.FINISHED
    assert odd.return_value() == "Unserializable return value"
    assert len(big.return_value()) == 5 * 1024 * 1024
