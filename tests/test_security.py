"""Security: TLS, passwords and ACL users, what a writer to Redis can make a worker do, and
passwords kept out of everything RQ prints or stores.

The ACL rule sets and the allowlist job class are read from docs/security.md, so the
documentation is what is tested. TLS tests make their own certificates (tests/tls.py) and
need a local redis-server built with TLS (Debian's is); they skip with the reason when
either is missing.
"""

from __future__ import annotations

import base64
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
import redis
from redis.exceptions import NoPermissionError

from rq import Queue, SimpleWorker
from rq.cli import main
from rq.cli.helpers import get_redis_from_config
from rq.command import send_shutdown_command
from rq.job import Job, JobStatus, get_current_job
from rq.serializers import JSONSerializer
from tests import jobs
from tests.cli.support import RQ_ENV_VARS, cli_runner, rq_env, run_rq, start_rq, stop_process
from tests.helpers import wait_for
from tests.redis_harness import BaseRedisServer, RedisUnavailable, find_free_port, select_backend
from tests.tls import Certificates, CertificatesUnavailable, make_certificates, tls_server_args

ROOT = Path(__file__).resolve().parent.parent
SECURITY_DOC = ROOT / "docs" / "security.md"
# Distinctive, so that finding it anywhere is never a coincidence.
PASSWORD = "Pw-7c1e9f-NEVER-PRINT-ME"
WRONG_PASSWORD = "Wrong-3b8d2a-NEVER-PRINT-ME"
ADMIN_PASSWORD = "Admin-5e2f0c-NEVER-PRINT-ME"
# Seconds a worker process may take to start, run a few jobs and stop in these tests.
WORKER_WAIT = 20.0
# Seconds between command-channel checks in workers started here (10 by default).
CHANNEL_CHECK_INTERVAL = "0.5"


@pytest.fixture(autouse=True)
def _no_connection_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands under test must take their connection from the test, not from the developer's shell."""
    for name in (*RQ_ENV_VARS, "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_SSL"):
        monkeypatch.delenv(name, raising=False)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _rq_background(tmp_path: Path, name: str, *args: str, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    return start_rq(*args, output=log, env=rq_env(**env)), log


def _wait_exit(process: subprocess.Popen, timeout: float = WORKER_WAIT) -> int:
    try:
        return process.wait(timeout=timeout)
    finally:
        stop_process(process)


def _stop(process: subprocess.Popen) -> int:
    """Warm shutdown (SIGTERM), bounded; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return _wait_exit(process)


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    try:
        return make_certificates(tmp_path_factory.mktemp("tls"))
    except CertificatesUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def other_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A second CA that signed nothing the test server uses."""
    try:
        return make_certificates(tmp_path_factory.mktemp("other-tls"))
    except CertificatesUnavailable as exc:
        pytest.skip(str(exc))


def _start_tls_server(redis_factory: Callable, certs: Certificates, auth_clients: str = "optional") -> BaseRedisServer:
    """A private server that speaks only TLS, with a client that trusts its CA and shows a certificate."""
    if select_backend().kind != "local":
        pytest.skip("TLS tests give the server certificate files: they need a local redis-server")
    port = find_free_port()
    client_kwargs = {
        "ssl": True,
        "ssl_ca_certs": str(certs.ca_cert),
        "ssl_certfile": str(certs.client_cert),
        "ssl_keyfile": str(certs.client_key),
    }
    try:
        return redis_factory(tls_server_args(certs, port, auth_clients), port=port, client_kwargs=client_kwargs)
    except RedisUnavailable as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"redis-server could not start with TLS: {str(exc).splitlines()[0]}")
        raise


@pytest.fixture
def tls_server(redis_factory: Callable, certificates: Certificates) -> Callable[..., BaseRedisServer]:
    """``tls_server(auth_clients="optional")``: start a TLS-only server with the module's certificates."""
    return lambda auth_clients="optional": _start_tls_server(redis_factory, certificates, auth_clients)


@pytest.mark.parametrize("method", ["cryptography", "openssl"])
def test_certificates_made_either_way_are_accepted(redis_factory: Callable, tmp_path: Path, method: str) -> None:
    try:
        certs = make_certificates(tmp_path, method)
    except CertificatesUnavailable as exc:
        pytest.skip(str(exc))
    server = _start_tls_server(redis_factory, certs, auth_clients="yes")
    assert server.client().ping()


def _tls_url(server: BaseRedisServer, **query: str) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"rediss://127.0.0.1:{server.port}/0" + (f"?{params}" if params else "")


def test_worker_with_a_rediss_url_runs_a_job(tls_server: Callable, certificates: Certificates) -> None:
    server = tls_server()
    job = Queue("tls", connection=server.client()).enqueue(jobs.add, 2, 3)
    url = _tls_url(server, ssl_ca_certs=str(certificates.ca_cert))
    result = run_rq("worker", "--burst", "--url", url, "tls", timeout=WORKER_WAIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job.return_value(refresh=True) == 5
    info = run_rq("info", "--url", url, "-Q", timeout=WORKER_WAIT)
    assert info.returncode == 0 and "tls" in info.stdout


def test_config_module_tls_settings_with_a_client_certificate(
    tls_server: Callable, certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_server(auth_clients="yes")  # mutual TLS: the client must show a certificate
    job = Queue("mtls", connection=server.client()).enqueue(jobs.add, 4, 5)
    settings = {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": server.port,
        "REDIS_SSL": True,
        "REDIS_SSL_CA_CERTS": str(certificates.ca_cert),
        "REDIS_SSL_CERT_REQS": "required",
        "REDIS_SSL_CERTFILE": str(certificates.client_cert),
        "REDIS_SSL_KEYFILE": str(certificates.client_key),
    }
    (tmp_path / "tls_settings.py").write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    result = run_rq("worker", "--burst", "-c", "tls_settings", "-P", str(tmp_path), "mtls", timeout=WORKER_WAIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job.return_value(refresh=True) == 9

    without_certificate = {k: v for k, v in settings.items() if k not in ("REDIS_SSL_CERTFILE", "REDIS_SSL_KEYFILE")}
    (tmp_path / "tls_no_client_cert.py").write_text("".join(f"{k} = {v!r}\n" for k, v in without_certificate.items()))
    refused = run_rq("info", "-c", "tls_no_client_cert", "-P", str(tmp_path), timeout=WORKER_WAIT)
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: Could not connect to Redis at rediss://127.0.0.1:")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_certificate_checks_are_on_by_default(
    tls_server: Callable, certificates: Certificates, other_certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_server()
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(_tls_url(server)).ping()
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(_tls_url(server, ssl_ca_certs=str(other_certificates.ca_cert))).ping()

    refused = run_rq("info", "--url", _tls_url(server), timeout=WORKER_WAIT)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "certificate verify failed" in refused.stderr

    (tmp_path / "tls_without_ca.py").write_text(
        f"REDIS_PORT = {server.port}\nREDIS_HOST = '127.0.0.1'\nREDIS_SSL = 'yes'\n"
    )
    from_config = run_rq("info", "-c", "tls_without_ca", "-P", str(tmp_path), timeout=WORKER_WAIT)
    assert from_config.returncode == 1 and "certificate verify failed" in from_config.stderr

    # The check can be turned off, and only explicitly.
    unchecked = get_redis_from_config(
        {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": server.port, "REDIS_SSL": True, "REDIS_SSL_CERT_REQS": "none"}
    )
    assert unchecked.ping()
    unchecked.close()


def test_worker_that_does_not_trust_the_server_says_why(tls_server: Callable, tmp_path: Path) -> None:
    server = tls_server()
    job = Queue("tls", connection=server.client()).enqueue(jobs.add, 1, 1)
    worker, log = _rq_background(tmp_path, "worker", "worker", "--url", _tls_url(server), "tls")
    try:
        wait_for(lambda: "certificate verify failed" in _read(log), timeout=WORKER_WAIT, message="the TLS warning")
    finally:
        assert _stop(worker) == 0, _read(log)
    assert "Traceback" not in _read(log)
    assert job.get_status() == JobStatus.QUEUED


# ---- ACL users ---------------------------------------------------------------------------------


def documented_acl_rules() -> dict[str, list[str]]:
    """The ``user rq-...`` lines of docs/security.md: user name -> rules (password token kept)."""
    rules = {}
    for line in SECURITY_DOC.read_text().splitlines():
        if line.startswith("user rq-"):
            _, name, *user_rules = line.split()
            rules[name] = user_rules
    assert set(rules) == {"rq-worker", "rq-enqueuer", "rq-admin"}, rules
    return rules


def create_acl_user(admin: redis.Redis, name: str, password: str, rules: list[str]) -> None:
    """``ACL SETUSER name reset <rules>``, with the documented password placeholder replaced."""
    rules = [f">{password}" if rule.startswith(">") else rule for rule in rules]
    admin.execute_command("ACL", "SETUSER", name, "reset", *rules)


@pytest.fixture
def acl_server(redis_factory: Callable) -> BaseRedisServer:
    """A private server whose default user needs ADMIN_PASSWORD; its log of refusals starts empty."""
    server = redis_factory(["--requirepass", ADMIN_PASSWORD], client_kwargs={"password": ADMIN_PASSWORD})
    version = server.client().info("server")["redis_version"]
    if int(str(version).split(".")[0]) < 6:
        pytest.skip(f"ACL users need Redis 6 or later, this is {version}")
    return server


def _user_url(server: BaseRedisServer, user: str, password: str = PASSWORD) -> str:
    return f"redis://{user}:{password}@127.0.0.1:{server.port}/0"


def _user_client(server: BaseRedisServer, user: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, username=user, password=PASSWORD)


def _refusals(admin: redis.Redis) -> list[str]:
    return [f"{entry.get('username')}: {entry.get('reason')} {entry.get('object')}" for entry in admin.acl_log()]


def test_documented_acl_rule_sets_do_everything_rq_needs(acl_server: BaseRedisServer, tmp_path: Path) -> None:
    admin = acl_server.client()
    for name, rules in documented_acl_rules().items():
        create_acl_user(admin, name, PASSWORD, rules)
    admin.acl_log_reset()
    enqueuer = _user_client(acl_server, "rq-enqueuer")
    queue = Queue("acl", connection=enqueuer)
    first = queue.enqueue(jobs.add, 1, 2)
    dependent = queue.enqueue(jobs.add, 3, 4, depends_on=first)
    unique = queue.enqueue(jobs.say_hello, "acl", job_id="acl-unique", unique=True)
    later = queue.enqueue_in(timedelta(seconds=1), jobs.add, 5, 6)
    batch = queue.enqueue_many([Queue.prepare_data(jobs.add, (7, 8)), Queue.prepare_data(jobs.fail, ("no",))])

    worker, log = _rq_background(
        tmp_path, "worker", "worker", "--with-scheduler", "--name", "acl-worker", "--url",
        _user_url(acl_server, "rq-worker"), "acl", RQ_COMMAND_CHANNEL_CHECK_INTERVAL=CHANNEL_CHECK_INTERVAL,
    )  # fmt: skip
    try:
        assert first.latest_result(timeout=WORKER_WAIT) is not None, _read(log)
        wait_for(lambda: later.get_status() == JobStatus.FINISHED, timeout=WORKER_WAIT, message="the scheduled job")
        wait_for(lambda: batch[1].get_status() == JobStatus.FAILED, timeout=WORKER_WAIT, message="the batch")
        assert (first.return_value(), dependent.return_value(), later.return_value()) == (3, 7, 11)
        assert unique.return_value() == "Hi there, acl!" and batch[0].return_value() == 15
        assert Job.fetch(first.id, connection=enqueuer).get_status() == JobStatus.FINISHED

        admin_url = _user_url(acl_server, "rq-admin")
        for args in (["info"], ["suspend"], ["resume"], ["requeue", "--queue", "acl", "--all"]):
            result = run_rq(*args, "--url", admin_url, timeout=WORKER_WAIT)
            assert result.returncode == 0, result.stdout + result.stderr
            assert PASSWORD not in result.stdout + result.stderr
        assert send_shutdown_command(_user_client(acl_server, "rq-admin"), "acl-worker") == 1
        assert _wait_exit(worker) == 0
    finally:
        stop_process(worker)
    output = _read(log)
    assert "NoPermissionError" not in output and "no permissions" not in output, output
    assert PASSWORD not in output
    assert _refusals(admin) == []

    # What the rule sets keep each user from doing.
    worker_client = _user_client(acl_server, "rq-worker")
    other_app = redis.Redis(host="127.0.0.1", port=acl_server.port, username="cache-app", password=PASSWORD)
    create_acl_user(admin, "cache-app", PASSWORD, ["on", ">x", "~cache:*", "-@all", "+@read", "+@write"])
    refused: list[Callable[[], Any]] = [
        lambda: enqueuer.flushall(),
        lambda: enqueuer.keys("*"),
        lambda: enqueuer.publish("rq:pubsub:acl-worker", '{"command": "shutdown"}'),
        lambda: enqueuer.set("cache:x", 1),
        lambda: worker_client.config_get("*"),
        lambda: worker_client.publish("rq:pubsub:acl-worker", '{"command": "shutdown"}'),
        lambda: other_app.hset("rq:job:forged", "data", b"..."),
        lambda: other_app.lpush("rq:queue:acl", "forged"),
    ]
    for call in refused:
        with pytest.raises(NoPermissionError):
            call()


def test_worker_rule_set_also_serves_cron_and_worker_pool(acl_server: BaseRedisServer, tmp_path: Path) -> None:
    admin = acl_server.client()
    create_acl_user(admin, "rq-worker", PASSWORD, documented_acl_rules()["rq-worker"])
    admin.acl_log_reset()
    url = _user_url(acl_server, "rq-worker")
    (tmp_path / "acl_cron.py").write_text(
        "from rq import cron\nfrom tests.jobs import add\ncron.register(add, 'acl', args=(1, 2), interval=1)\n"
    )
    cron, log = _rq_background(tmp_path, "cron", "cron", "--url", url, str(tmp_path / "acl_cron.py"))
    try:
        wait_for(lambda: admin.llen("rq:queue:acl") >= 1, timeout=WORKER_WAIT, message="a cron job")
    finally:
        assert _stop(cron) == 0, _read(log)
    pool = run_rq("worker-pool", "--burst", "-n", "2", "--url", url, "acl", timeout=WORKER_WAIT)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    assert admin.llen("rq:queue:acl") == 0
    assert _refusals(admin) == []
    assert_no_password(_read(log) + pool.stdout + pool.stderr)


def _run_worker_as(acl_server: BaseRedisServer, rules: list[str], *args: str) -> subprocess.CompletedProcess:
    admin = acl_server.client()
    create_acl_user(admin, "limited", PASSWORD, rules)
    return run_rq("worker", "--url", _user_url(acl_server, "limited"), *args, timeout=WORKER_WAIT)


def _without(rules: list[str], *removed: str) -> list[str]:
    return [rule for rule in rules if rule not in removed]


def test_worker_without_evalsha_names_the_command_and_loses_nothing(acl_server: BaseRedisServer) -> None:
    queue = Queue("acl", connection=acl_server.client())
    job = queue.enqueue(jobs.add, 1, 2)
    rules = _without(documented_acl_rules()["rq-worker"], "+evalsha")
    result = _run_worker_as(acl_server, rules, "--burst", "acl")
    assert "no permissions to run the 'evalsha' command" in result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert queue.job_ids == [job.id] and job.get_status() == JobStatus.QUEUED


# Every key pattern of an RQ worker but the execution hashes rq:execution:<job id>:<execution id>.
ALL_KEYS_BUT_EXECUTIONS = [f"~rq:{pattern}" for pattern in (
    "queue*", "job:*", "worker*", "suspended", "paused:*", "wip:*", "finished:*", "failed:*", "deferred:*",
    "scheduled:*", "canceled:*", "results:*", "executions:*", "clean_registries:*", "scheduler*", "abandoned:*",
    "group*", "cron*",
)]  # fmt: skip


def test_worker_refused_a_write_of_the_job_start_leaves_the_job_queued(acl_server: BaseRedisServer) -> None:
    """The take script pops the id before the refused write: it puts the id where maintenance finds it."""
    queue = Queue("acl", connection=acl_server.client())
    job = queue.enqueue(jobs.add, 1, 2)
    rules = [rule for rule in documented_acl_rules()["rq-worker"] if rule != "~rq:*"] + ALL_KEYS_BUT_EXECUTIONS
    result = _run_worker_as(acl_server, rules, "--burst", "acl")
    assert f"while starting job {job.id} of queue acl" in result.stdout + result.stderr
    assert job.get_status() == JobStatus.QUEUED
    assert acl_server.client().lrange(queue.intermediate_queue_key, 0, -1) == [job.id.encode()]
    assert PASSWORD not in result.stdout + result.stderr


def test_worker_that_quits_on_a_refused_command_exits_with_a_failure_status(acl_server: BaseRedisServer) -> None:
    Queue("acl", connection=acl_server.client()).enqueue(jobs.add, 1, 2)
    rules = _without(documented_acl_rules()["rq-worker"], "+evalsha")
    result = _run_worker_as(acl_server, rules, "--burst", "acl")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_enqueuer_without_script_permissions_writes_nothing(acl_server: BaseRedisServer) -> None:
    admin = acl_server.client()
    create_acl_user(admin, "limited", PASSWORD, _without(documented_acl_rules()["rq-enqueuer"], "+evalsha"))
    with pytest.raises(NoPermissionError, match="'evalsha'"):
        Queue("acl", connection=_user_client(acl_server, "limited")).enqueue(jobs.add, 1, 2)
    assert admin.dbsize() == 0


def test_worker_without_info_keeps_waiting_for_jobs(acl_server: BaseRedisServer, tmp_path: Path) -> None:
    admin = acl_server.client()
    create_acl_user(admin, "limited", PASSWORD, _without(documented_acl_rules()["rq-worker"], "+info"))
    job = Queue("acl", connection=admin).enqueue(jobs.add, 1, 2)
    worker, log = _rq_background(tmp_path, "worker", "worker", "--url", _user_url(acl_server, "limited"), "acl")
    try:
        assert job.latest_result(timeout=WORKER_WAIT) is not None, _read(log)
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=2)  # an idle worker waits for jobs; it must not have quit
    finally:
        _stop(worker)


NOPERM_KEYS = "this user has no permissions to access one of the keys used as arguments"


def test_worker_without_its_keys_stops_at_start_and_says_which(acl_server: BaseRedisServer) -> None:
    """Redis's NOPERM reply does not name the key: the worker adds the keys it was writing."""
    rules = [rule if rule != "~rq:*" else "~rq:queue:*" for rule in documented_acl_rules()["rq-worker"]]
    result = _run_worker_as(acl_server, [*rules, "~rq:job:*"], "--burst", "acl")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Redis error: {NOPERM_KEYS} (reading rq:suspended: a worker needs the keys '~rq:*')"
    ]

    result = _run_worker_as(acl_server, [*rules, "~rq:job:*", "~rq:suspended"], "--burst", "--name", "w1", "acl")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Worker w1: {NOPERM_KEYS} (registering the worker in rq:worker:w1, rq:workers, rq:workers:acl: "
        "a worker needs the keys '~rq:*')"
    ]


def _run_deaf_worker(
    acl_server: BaseRedisServer, tmp_path: Path, seconds: float, while_running: Callable[[], Any] = lambda: None
) -> tuple[str, Job]:
    """A worker whose user may not subscribe to its channel, run for ``seconds`` then stopped."""
    admin = acl_server.client()
    rules = _without(documented_acl_rules()["rq-worker"], "&rq:pubsub:*")
    create_acl_user(admin, "deaf", PASSWORD, rules)
    job = Queue("acl", connection=admin).enqueue(jobs.add, 1, 2)
    worker, log = _rq_background(
        tmp_path, "deaf", "worker", "--name", "deaf-worker", "--url", _user_url(acl_server, "deaf"), "acl",
        RQ_COMMAND_CHANNEL_CHECK_INTERVAL=CHANNEL_CHECK_INTERVAL,
    )  # fmt: skip
    try:
        assert job.latest_result(timeout=WORKER_WAIT) is not None, _read(log)
        wait_for(lambda: "no permissions" in _read(log), timeout=WORKER_WAIT, message="the refused SUBSCRIBE")
        time.sleep(seconds)  # let the listener and its watchdog show what they do over a few checks
        while_running()
    finally:
        assert _stop(worker) == 0, _read(log)
    return _read(log), job


def test_worker_that_may_not_subscribe_still_runs_jobs(acl_server: BaseRedisServer, tmp_path: Path) -> None:
    admin = acl_server.client()

    def listener_errors_are_shown() -> None:
        wait_for(
            lambda: int(admin.hget("rq:worker:deaf-worker", "pubsub_listener_errors") or 0) > 0,
            timeout=WORKER_WAIT,
            message="the listener errors in the worker hash",
        )
        info = run_rq("info", "-W", "--url", _password_url(acl_server, ADMIN_PASSWORD), timeout=WORKER_WAIT)
        assert "listener errors" in info.stdout, info.stdout + info.stderr

    output, job = _run_deaf_worker(acl_server, tmp_path, seconds=0, while_running=listener_errors_are_shown)
    assert job.return_value() == 3
    assert "no permissions to access one of the channels" in output
    assert PASSWORD not in output


def test_worker_that_may_not_subscribe_says_so_once(acl_server: BaseRedisServer, tmp_path: Path) -> None:
    output, _ = _run_deaf_worker(acl_server, tmp_path, seconds=2.5)
    assert "subscribed again" not in output
    assert output.count("no permissions") == 1
    refusal = next(line for line in output.splitlines() if "no permissions" in line or "rq:pubsub:deaf-worker" in line)
    assert "rq:pubsub:deaf-worker" in refusal


# ---- what a writer to Redis can make a worker do -----------------------------------------------------


class RunsOnUnpickle:
    """Unpickling this creates a directory: any code could run in its place."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def _forge_job(connection: redis.Redis, queue: Queue, data: bytes) -> str:
    """Write a job hash and queue entry by hand, as anyone with write access to Redis could."""
    job_id = "forged"
    connection.hset(f"rq:job:{job_id}", mapping={"data": data, "origin": queue.name, "status": "queued",
                                                 "created_at": "2024-01-01T00:00:00.000000Z"})  # fmt: skip
    connection.sadd("rq:queues", queue.key)
    connection.rpush(queue.key, job_id)
    return job_id


def test_a_pickled_job_hash_runs_code_in_a_pickle_worker(connection: redis.Redis, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    queue = Queue("forged", connection=connection)
    job_id = _forge_job(connection, queue, zlib.compress(pickle.dumps(RunsOnUnpickle(marker))))
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert marker.exists()  # the worker ran the writer's code just by reading the job
    assert Job.fetch(job_id, connection=connection).get_status() == JobStatus.FAILED


def test_a_json_worker_does_not_unpickle(connection: redis.Redis, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    queue = Queue("forged", connection=connection, serializer=JSONSerializer)
    job_id = _forge_job(connection, queue, zlib.compress(pickle.dumps(RunsOnUnpickle(marker))))
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    assert not marker.exists()
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    assert "Could not decode the data of job forged" in (job.exc_info or "")


def test_reading_a_pickled_result_runs_code_in_the_reader(connection: redis.Redis, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = Queue("results", connection=connection).enqueue(jobs.add, 1, 2)
    forged = base64.b64encode(pickle.dumps(RunsOnUnpickle(marker))).decode()
    connection.xadd(f"rq:results:{job.id}", {"type": "1", "worker_name": "", "return_value": forged})
    job.return_value(refresh=True)  # what a dashboard does to show the result
    assert marker.exists()

    marker.rmdir()
    reader = Job.fetch(job.id, connection=connection, serializer=JSONSerializer)
    with pytest.raises(ValueError):
        reader.return_value(refresh=True)
    assert not marker.exists()


def documented_allowlist_job_class(allowed: set[str]) -> type[Job]:
    """Run the AllowlistJob recipe of docs/security.md with its ALLOWED_FUNCTIONS replaced."""
    text = SECURITY_DOC.read_text()
    block = next(code for code in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "class AllowlistJob" in code)
    namespace: dict[str, Any] = {"__name__": "tests.allowlist_recipe"}
    exec(compile(block, str(SECURITY_DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    namespace["ALLOWED_FUNCTIONS"] = allowed
    return namespace["AllowlistJob"]


def test_json_workers_run_any_named_function_unless_the_job_class_allows_it(connection: redis.Redis) -> None:
    queue = Queue("json", connection=connection, serializer=JSONSerializer)
    # A writer names any importable function (tests.jobs.say_hello stands in for os.system).
    unexpected = queue.enqueue("tests.jobs.say_hello", "writer")
    SimpleWorker(["json"], connection=connection, serializer=JSONSerializer).work(burst=True)
    assert unexpected.return_value() == "Hi there, writer!"

    # As `rq worker --serializer json --job-class ...` does: queue names, the job class given to the worker.
    allowlist_job = documented_allowlist_job_class({"tests.jobs.add"})
    allowed = queue.enqueue("tests.jobs.add", 1, 2)
    refused = queue.enqueue("tests.jobs.say_hello", "writer")
    SimpleWorker(["json"], connection=connection, serializer=JSONSerializer, job_class=allowlist_job).work(burst=True)
    assert allowed.return_value() == 3
    assert refused.get_status() == JobStatus.FAILED
    assert "'tests.jobs.say_hello' is not an allowed job function" in (refused.exc_info or "")

    # Methods of stored objects are refused too (they need pickle, which unpickles before any check).
    method = Queue("pickled", connection=connection).enqueue(jobs.Calculator(2).add, 1)
    SimpleWorker(["pickled"], connection=connection, job_class=allowlist_job).work(burst=True)
    assert method.get_status() == JobStatus.FAILED
    assert "is not an allowed job function" in (method.exc_info or "")


def test_the_worker_job_class_applies_to_queue_objects(connection: redis.Redis) -> None:
    allowlist_job = documented_allowlist_job_class({"tests.jobs.add"})
    queue = Queue("json", connection=connection, serializer=JSONSerializer)
    refused = queue.enqueue("tests.jobs.say_hello", "writer")
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer, job_class=allowlist_job).work(burst=True)
    assert refused.get_status() == JobStatus.FAILED


def test_the_worker_serializer_applies_to_queue_objects(connection: redis.Redis, tmp_path: Path) -> None:
    """A JSON worker handed a pickle Queue object still reads jobs as JSON: it unpickles nothing."""
    marker = tmp_path / "ran"
    queue = Queue("forged", connection=connection)
    job_id = _forge_job(connection, queue, zlib.compress(pickle.dumps(RunsOnUnpickle(marker))))
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    assert not marker.exists()
    assert connection.hget(f"rq:job:{job_id}", "status") == b"failed"


# ---- passwords ---------------------------------------------------------------------------------------


def reveal_connection() -> None:
    """A job whose failure message includes the client and its connection pool."""
    connection = get_current_job().connection
    raise RuntimeError(f"cannot go on with {connection!r} and {connection.connection_pool}")


@pytest.fixture
def password_server(redis_factory: Callable) -> BaseRedisServer:
    return redis_factory(["--requirepass", PASSWORD], client_kwargs={"password": PASSWORD})


def _password_url(server: BaseRedisServer, password: str = PASSWORD) -> str:
    return f"redis://:{password}@127.0.0.1:{server.port}/0"


def _everything_in_redis(connection: redis.Redis) -> Iterator[bytes]:
    """Every key name and value, also decompressed and base64-decoded where that works."""
    for key in connection.scan_iter("*"):
        yield key
        kind = connection.type(key)
        if kind == b"hash":
            values = [v for pair in connection.hgetall(key).items() for v in pair]
        elif kind == b"list":
            values = connection.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(connection.smembers(key))
        elif kind == b"zset":
            values = [member for member, _ in connection.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            values = [v for _, fields in connection.xrange(key) for pair in fields.items() for v in pair]
        else:
            values = [connection.get(key) or b""]
        for value in values:
            yield value
            for decode in (zlib.decompress, lambda v: zlib.decompress(base64.b64decode(v)), base64.b64decode):
                try:
                    yield decode(value)
                except Exception:  # not encoded that way
                    pass
    yield repr(connection.client_list()).encode()


def assert_no_password(text: str, *secrets: str) -> None:
    for secret in secrets or (PASSWORD,):
        assert secret not in text, f"{secret!r} found in:\n{text}"


def test_password_stays_out_of_output_logs_titles_and_redis(
    password_server: BaseRedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    connection = password_server.client()
    url = _password_url(password_server)
    queue = Queue("secret", connection=connection)
    done = queue.enqueue(jobs.add, 1, 2)
    revealing = queue.enqueue(reveal_connection)

    # A worker given the URL in the environment (as the docs advise): its command line, hash and logs.
    worker, log = _rq_background(
        tmp_path, "worker", "worker", "--name", "secret-worker", "-v", "secret", RQ_REDIS_URL=url
    )
    try:
        wait_for(lambda: revealing.get_status() == JobStatus.FAILED, timeout=WORKER_WAIT, message="the jobs")
        if sys.platform.startswith("linux"):
            assert_no_password(Path(f"/proc/{worker.pid}/cmdline").read_bytes().decode(errors="replace"))
        running = b"\n".join(_everything_in_redis(connection)).decode(errors="replace")
        assert "secret-worker" in running
        assert_no_password(running)
    finally:
        assert _stop(worker) == 0, _read(log)
    assert done.return_value() == 3
    assert "cannot go on with" in (revealing.exc_info or "")
    assert_no_password(revealing.exc_info or "")
    assert_no_password(_read(log))

    # The same with --url, and every view of rq info.
    for args in (["worker", "--burst", "-v", "secret"], ["info"], ["info", "-R"], ["info", "--raw", "secret"]):
        result = run_rq(*args, "--url", url, timeout=WORKER_WAIT)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_no_password(result.stdout + result.stderr)

    # In this process: the titles a worker would set, and every log record.
    titles: list[str] = []
    monkeypatch.setattr("rq.worker.base._setproctitle", titles.append)
    queue.enqueue(jobs.add, 3, 4)
    for name in ("rq", "rq.worker", "rq.job", "rq.queue"):
        caplog.set_level(logging.DEBUG, logger=name)
    worker_in_process = SimpleWorker([queue], connection=connection)
    worker_in_process.work(burst=True)
    assert "Successfully completed" in caplog.text
    assert titles and any("Processing" in title for title in titles)
    assert_no_password("\n".join(titles) + caplog.text + repr(worker_in_process) + repr(queue))
    assert_no_password(b"\n".join(_everything_in_redis(connection)).decode(errors="replace"))


def test_wrong_or_unusable_credentials_are_reported_without_them(
    password_server: BaseRedisServer, tmp_path: Path
) -> None:
    wrong_url = _password_url(password_server, WRONG_PASSWORD)
    info = run_rq("info", "--url", wrong_url, timeout=WORKER_WAIT)
    assert info.returncode == 1 and len(info.stderr.strip().splitlines()) == 1
    assert "invalid username-password pair" in info.stderr or "invalid password" in info.stderr
    assert_no_password(info.stdout + info.stderr, WRONG_PASSWORD)

    job = Queue("secret", connection=password_server.client()).enqueue(jobs.add, 1, 2)
    worker, log = _rq_background(tmp_path, "worker", "worker", "secret", RQ_REDIS_URL=wrong_url)
    try:
        wait_for(lambda: "AuthenticationError" in _read(log), timeout=WORKER_WAIT, message="the refused login")
    finally:
        assert _stop(worker) == 0, _read(log)
    assert_no_password(_read(log), WRONG_PASSWORD)
    assert job.get_status() == JobStatus.QUEUED

    for bad_url in (
        f"redis://:{PASSWORD}@127.0.0.1:notaport/0",
        f"redis://:{PASSWORD}@127.0.0.1:6379/0?socket_timeout=soon",
        f"http://:{PASSWORD}@127.0.0.1:6379/0",
        f"redis://user:{PASSWORD}@[127.0.0.1/0",
    ):
        result = cli_runner().invoke(main, ["info", "--url", bad_url])
        assert result.exit_code == 2, result.output
        assert_no_password(result.stdout + result.stderr)
