"""Tests of the Redis test harness itself (tests/redis_harness.py and the fixtures)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.redis_harness import (
    HOW_TO_GET_REDIS,
    BaseRedisServer,
    DockerRedisServer,
    ExternalRedis,
    RedisFactory,
    RedisServer,
    RedisUnavailable,
    find_free_port,
    redact_url,
    redis_server_binary,
    redis_version,
    select_backend,
)

NO_RETRY = Retry(NoBackoff(), 0)

needs_local_binary = pytest.mark.skipif(redis_server_binary() is None, reason="needs a local redis-server binary")


def test_connection_answers_ping(connection: redis.Redis) -> None:
    assert connection.ping() is True


def test_redis_url_points_at_the_shared_server(redis_url: str, redis_server: BaseRedisServer) -> None:
    assert redis_url == redis_server.url
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping() is True


def test_url_host_and_port_agree(redis_server: BaseRedisServer) -> None:
    if not isinstance(redis_server, ExternalRedis):
        assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert f":{redis_server.port}/" in redis_server.url


def test_flush_part_one_leaves_data_behind(connection: redis.Redis) -> None:
    connection.set("harness:leftover", "from an earlier test")
    assert connection.dbsize() == 1


def test_flush_part_two_starts_from_an_empty_database(connection: redis.Redis) -> None:
    assert connection.get("harness:leftover") is None
    assert connection.dbsize() == 0


@pytest.mark.faults
def test_stopping_the_shared_server_part_one(redis_server: BaseRedisServer, connection: redis.Redis) -> None:
    redis_server.stop()
    assert not redis_server.is_running
    with pytest.raises(redis.ConnectionError):
        redis_server.client(retry=NO_RETRY).ping()


@pytest.mark.faults
def test_stopping_the_shared_server_part_two(redis_server: BaseRedisServer, connection: redis.Redis) -> None:
    assert redis_server.is_running
    assert connection.ping() is True


@pytest.mark.faults
def test_restart_keeps_the_port_and_loses_the_data(restartable_redis: BaseRedisServer) -> None:
    client = restartable_redis.client()
    client.set("harness:key", "value")
    port = restartable_redis.port

    restartable_redis.restart(downtime=0.2)

    assert restartable_redis.is_running
    assert restartable_redis.port == port
    assert client.ping() is True
    assert client.get("harness:key") is None


@pytest.mark.faults
def test_kill_takes_the_server_down_until_started_again(
    restartable_redis: BaseRedisServer,
) -> None:
    client = restartable_redis.client(retry=NO_RETRY)
    restartable_redis.kill()

    assert not restartable_redis.is_running
    with pytest.raises(redis.ConnectionError):
        client.ping()

    restartable_redis.start()
    assert restartable_redis.client().ping() is True


def test_stop_is_idempotent(restartable_redis: BaseRedisServer) -> None:
    restartable_redis.stop()
    restartable_redis.stop()
    assert not restartable_redis.is_running


def test_second_server_is_independent(
    redis_factory: RedisFactory, connection: redis.Redis, redis_server: BaseRedisServer
) -> None:
    other = redis_factory()
    assert other.port != redis_server.port or other.host != redis_server.host

    other_client = other.client()
    connection.set("harness:key", "shared")
    other_client.set("harness:key", "private")

    assert connection.get("harness:key") == b"shared"
    assert other_client.get("harness:key") == b"private"


def test_extra_args_reach_the_server(redis_factory: RedisFactory) -> None:
    server = redis_factory(["--requirepass", "s3cret"], client_kwargs={"password": "s3cret"})

    assert server.client().ping() is True
    with pytest.raises(redis.AuthenticationError):
        server.client(password=None, retry=NO_RETRY).ping()


def test_private_server_has_persistence_off(restartable_redis: BaseRedisServer) -> None:
    config = restartable_redis.client(decode_responses=True).config_get("save", "appendonly")
    assert config == {"save": "", "appendonly": "no"}


@needs_local_binary
def test_context_manager_cleans_up() -> None:
    with RedisServer() as server:
        assert server.client().ping() is True
        directory = server.directory
    assert not server.is_running
    assert not directory.exists()


@needs_local_binary
def test_start_failure_reports_the_server_output() -> None:
    server = RedisServer(["--no-such-directive", "x"])
    try:
        with pytest.raises(RedisUnavailable, match="Bad directive"):
            server.start()
        assert not server.is_running
    finally:
        server.close()


@needs_local_binary
def test_taken_port_is_reported_not_shared(restartable_redis: BaseRedisServer) -> None:
    intruder = RedisServer(port=restartable_redis.port)
    try:
        with pytest.raises(RedisUnavailable):
            intruder.start()
    finally:
        intruder.close()
    assert restartable_redis.client().ping() is True


def test_find_free_port_is_bindable() -> None:
    port = find_free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_docker_container_keeps_its_port_across_restarts() -> None:
    server = DockerRedisServer(["--maxmemory", "10mb"], port=12345, image="redis:7")
    command = server.run_command()

    assert command[:3] == ["container", "run", "--detach"]
    assert "--rm" not in command
    assert command[command.index("--publish") + 1] == "127.0.0.1:12345:6379"
    assert command[command.index("redis:7") + 1 :] == [
        "redis-server", "--save", "", "--appendonly", "no", "--maxmemory", "10mb",
    ]  # fmt: skip
    assert server.url == "redis://127.0.0.1:12345/0"
    assert not server.is_running


def test_external_server_cannot_be_stopped() -> None:
    server = ExternalRedis("redis://:hunter2@127.0.0.1:1/3")
    assert (server.host, server.port, server.db) == ("127.0.0.1", 1, 3)
    assert server.is_running
    assert "hunter2" not in repr(server)
    with pytest.raises(pytest.skip.Exception, match="needs a private server"):
        server.restart()
    with pytest.raises(pytest.skip.Exception, match="needs a private server"):
        server.kill()


def test_unreachable_external_server_is_reported() -> None:
    server = ExternalRedis(f"redis://127.0.0.1:{find_free_port()}/0")
    with pytest.raises(RedisUnavailable, match="does not answer"):
        server.start()


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://user:pw@host:1/2") == "redis://user:***@host:1/2"
    assert redact_url("redis://:pw@host:1/2") == "redis://:***@host:1/2"
    assert redact_url("redis://host:1/2") == "redis://host:1/2"


def test_backend_prefers_redis_url() -> None:
    backend = select_backend({"REDIS_URL": "redis://h:1/0", "RQ_TEST_REDIS": "docker"})
    assert backend.kind == "external"
    assert isinstance(backend.shared_server(), ExternalRedis)


@needs_local_binary
def test_backend_falls_back_to_local_when_docker_is_unusable() -> None:
    backend = select_backend({"RQ_TEST_REDIS": "docker"}, docker_check=lambda: "no daemon")
    assert backend.kind == "local"
    assert backend.warning is not None and "no daemon" in backend.warning


def test_backend_uses_docker_when_it_works() -> None:
    backend = select_backend({"RQ_TEST_REDIS": "docker"}, docker_check=lambda: None)
    assert backend.kind == "docker"
    assert isinstance(backend.private_server(), DockerRedisServer)


def test_backend_explains_how_to_get_redis() -> None:
    env = {"PATH": "/nonexistent"}
    with pytest.raises(RedisUnavailable) as excinfo:
        select_backend(env, docker_check=lambda: "no daemon")
    assert str(excinfo.value) == HOW_TO_GET_REDIS
    assert "apt-get install redis-server" in HOW_TO_GET_REDIS
    assert "REDIS_URL=redis://host:port/db" in HOW_TO_GET_REDIS


def test_backend_rejects_unknown_choice() -> None:
    with pytest.raises(RedisUnavailable, match="not supported"):
        select_backend({"RQ_TEST_REDIS": "podman"})


# Docker asked for with a Docker that cannot answer: a real daemon address with nothing behind it.
UNUSABLE_DOCKER = {"RQ_TEST_REDIS": "docker", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_strict_mode_fails_instead_of_falling_back(value: str) -> None:
    env = {"RQ_TEST_REDIS": "docker", "RQ_TEST_REDIS_STRICT": value, "PATH": os.environ.get("PATH", "")}
    with pytest.raises(RedisUnavailable) as excinfo:
        select_backend(env, docker_check=lambda: "no daemon")
    message = str(excinfo.value)
    assert "Docker is not usable (no daemon)" in message
    assert f"RQ_TEST_REDIS_STRICT={value}" in message and "unset RQ_TEST_REDIS_STRICT" in message


def test_strict_mode_uses_docker_when_it_works() -> None:
    env = {"RQ_TEST_REDIS": "docker", "RQ_TEST_REDIS_STRICT": "1", "RQ_TEST_REDIS_IMAGE": "redis:7.4"}
    backend = select_backend(env, docker_check=lambda: None)
    assert backend.kind == "docker" and backend.image == "redis:7.4"
    server = backend.private_server()
    assert isinstance(server, DockerRedisServer) and server.image == "redis:7.4"
    assert (
        backend.header("7.4.1") == "redis: Docker containers from image redis:7.4 (RQ_TEST_REDIS=docker), Redis 7.4.1"
    )


@needs_local_binary
def test_strict_mode_off_or_without_docker_changes_nothing() -> None:
    path = os.environ.get("PATH", "")
    fallback = select_backend(
        {"RQ_TEST_REDIS": "docker", "RQ_TEST_REDIS_STRICT": "0", "PATH": path}, docker_check=lambda: "no daemon"
    )
    assert fallback.kind == "local" and fallback.docker_problem == "no daemon"
    local = select_backend({"RQ_TEST_REDIS_STRICT": "1", "PATH": path}, docker_check=lambda: "no daemon")
    assert local.kind == "local" and local.warning is None and local.docker_problem is None


@needs_local_binary
def test_header_names_the_local_binary_its_version_and_a_fallback() -> None:
    backend = select_backend({"RQ_TEST_REDIS": "docker", "PATH": os.environ.get("PATH", "")}, lambda: "no daemon")
    version = backend.preflight()
    assert version is not None and re.fullmatch(r"\d+\.\d+\.\d+", version)
    header = backend.header(version)
    assert header.startswith(f"redis: local redis-server binary {backend.binary}, private processes, Redis {version}")
    assert header.endswith("(fallback: RQ_TEST_REDIS=docker but Docker is not usable: no daemon)")


def test_redis_version_is_read_from_the_version_line() -> None:
    line = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0"
    assert redis_version(line) == "7.0.15"
    assert redis_version("no version here") is None


def _run_pytest(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    """A nested pytest run of one test that needs no server, to see what the harness does at start."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RQ_TEST_REDIS", "RQ_TEST_REDIS_STRICT")}
    env.update(env_overrides)
    command = [sys.executable, "-m", "pytest", "tests/test_harness.py::test_find_free_port_is_bindable"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_strict_run_stops_before_the_first_test_when_docker_is_unusable() -> None:
    result = _run_pytest({**UNUSABLE_DOCKER, "RQ_TEST_REDIS_STRICT": "1"})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "RQ_TEST_REDIS=docker and RQ_TEST_REDIS_STRICT=1, but Docker is not usable" in result.stderr
    assert "passed" not in result.stdout


@needs_local_binary
def test_run_without_strict_mode_falls_back_and_says_so_in_the_header() -> None:
    result = _run_pytest(UNUSABLE_DOCKER)
    assert result.returncode == 0, result.stdout + result.stderr
    header = [line for line in result.stdout.splitlines() if line.startswith("redis: ")]
    assert len(header) == 1, result.stdout
    assert re.match(
        r"redis: local redis-server binary .+, private processes, Redis \d+\.\d+\.\d+ \(fallback: ", header[0]
    )
    assert "WARNING: RQ_TEST_REDIS=docker but Docker is not usable" in result.stdout
