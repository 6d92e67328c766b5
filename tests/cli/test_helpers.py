"""Connection and config resolution of the command line (rq/cli/helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
import redis
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.sentinel import SentinelConnectionPool

from rq.cli.helpers import (
    CliConfig,
    SettingError,
    describe_connection,
    get_redis_from_config,
    mask_url,
    parse_bool,
    read_config_file,
)
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:secret@host/1", "redis://user:***@host/1"),
        ("rediss://user@host", "rediss://user@host"),
        ("unix://:secret@/tmp/redis.sock?db=2", "unix://:***@/tmp/redis.sock?db=2"),
        ("redis://host/0?password=secret&db=1", "redis://host/0?password=***&db=1"),
        ("redis://host:6379", "redis://host:6379"),
    ],
)
def test_mask_url_hides_passwords(url: str, expected: str) -> None:
    assert mask_url(url) == expected
    assert "secret" not in mask_url(url)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("yes", True), ("T", True), ("1", True), (False, False), ("no", False), ("", False), (None, False)],
)
def test_parse_bool(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected


def test_parse_bool_rejects_other_words() -> None:
    with pytest.raises(ValueError, match="REDIS_SSL"):
        parse_bool("maybe", "REDIS_SSL")


def test_settings_redis_url_wins_over_host_settings() -> None:
    client = get_redis_from_config({"REDIS_URL": "redis://example.org:6390/3", "REDIS_HOST": "ignored"})
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("example.org", 6390, 3)


def test_host_settings_accept_environment_strings() -> None:
    client = get_redis_from_config(
        {"REDIS_HOST": "cache", "REDIS_PORT": "6391", "REDIS_DB": "4", "REDIS_PASSWORD": "pw"}
    )
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("cache", 6391, 4, "pw")
    assert client.connection_pool.connection_class is redis.Connection


def test_tls_settings() -> None:
    client = get_redis_from_config(
        {
            "REDIS_HOST": "cache",
            "REDIS_SSL": "true",
            "REDIS_SSL_CA_CERTS": "/ca.pem",
            "REDIS_SSL_CERT_REQS": "none",
            "REDIS_SSL_KEYFILE": "/key.pem",
            "REDIS_SSL_CERTFILE": "/cert.pem",
            "REDIS_SSL_CA_DATA": "DATA",
        }
    )
    pool = client.connection_pool
    assert issubclass(pool.connection_class, SSLConnection)
    kwargs = pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == "/ca.pem"
    assert kwargs["ssl_cert_reqs"] == "none"
    assert (kwargs["ssl_keyfile"], kwargs["ssl_certfile"], kwargs["ssl_ca_data"]) == ("/key.pem", "/cert.pem", "DATA")


def test_bad_redis_ssl_value() -> None:
    with pytest.raises(ValueError, match="REDIS_SSL"):
        get_redis_from_config({"REDIS_SSL": "sometimes"})


def test_rediss_and_unix_urls() -> None:
    tls = get_redis_from_config({"REDIS_URL": "rediss://cache:6380/0"})
    assert issubclass(tls.connection_pool.connection_class, SSLConnection)
    unix = get_redis_from_config({"REDIS_URL": "unix:///tmp/redis.sock?db=2"})
    assert unix.connection_pool.connection_class is UnixDomainSocketConnection
    assert unix.connection_pool.connection_kwargs["path"] == "/tmp/redis.sock"
    assert describe_connection(unix) == "unix:/tmp/redis.sock (db 2)"


def test_sentinel_settings_build_a_master_client() -> None:
    client = get_redis_from_config(
        {
            "SENTINEL": {
                "INSTANCES": [("sentinel-a", 26379), ("sentinel-b", 26380)],
                "MASTER_NAME": "cache",
                "DB": 2,
                "PASSWORD": "pw",
                "SOCKET_TIMEOUT": 3,
                "CONNECTION_KWARGS": {"health_check_interval": 5},
                "SENTINEL_KWARGS": {"password": "sentinel-pw"},
            }
        }
    )
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "cache"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["health_check_interval"] == 5
    hosts = [s.connection_pool.connection_kwargs["host"] for s in pool.sentinel_manager.sentinels]
    assert hosts == ["sentinel-a", "sentinel-b"]
    assert pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs["password"] == "sentinel-pw"
    assert describe_connection(client) == "Sentinel service 'cache'"


def test_sentinel_from_environment_json() -> None:
    client = get_redis_from_config({"SENTINEL": '{"INSTANCES": [["s1", 26379]], "MASTER_NAME": "m"}'})
    assert client.connection_pool.service_name == "m"


def test_describe_connection_never_shows_password() -> None:
    client = redis.Redis.from_url("redis://:secret@cache:6379/5")
    assert describe_connection(client) == "redis://cache:6379/5"


def write_module(directory: Path, name: str, text: str) -> str:
    (directory / f"{name}.py").write_text(text)
    return name


def test_url_option_beats_config_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = write_module(tmp_path, "cfg_url_wins", "REDIS_URL = 'redis://from-config:1/1'\n")
    monkeypatch.setenv("REDIS_URL", "redis://from-env:2/2")
    config = CliConfig(url="redis://from-option:3/3", config=module, path=[str(tmp_path)])
    assert config.connection.connection_pool.connection_kwargs["host"] == "from-option"


def test_config_module_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = write_module(tmp_path, "cfg_beats_env", "REDIS_HOST = 'from-config'\nQUEUES = ['a']\n")
    monkeypatch.setenv("REDIS_URL", "redis://from-env:2/2")
    config = CliConfig(config=module, path=[str(tmp_path)])
    assert config.connection.connection_pool.connection_kwargs["host"] == "from-config"
    assert config.settings["QUEUES"] == ["a"]


def test_environment_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = write_module(tmp_path, "cfg_no_connection", "QUEUES = ['a']\nlowercase = 1\n")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", "from-env")
    monkeypatch.setenv("REDIS_PORT", "6395")
    config = CliConfig(config=module, path=[str(tmp_path)])
    kwargs = config.connection.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"]) == ("from-env", 6395)
    assert "lowercase" not in config.settings


def test_read_config_file_keeps_uppercase_names(tmp_path: Path) -> None:
    module = write_module(tmp_path, "cfg_upper", "NAME = 'w'\nhelper = 2\nDICT_CONFIG = {}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert read_config_file(module) == {"NAME": "w", "DICT_CONFIG": {}}
    finally:
        sys.path.remove(str(tmp_path))


def test_classes_and_serializer_are_resolved() -> None:
    config = CliConfig(worker_class="rq.worker.SimpleWorker", serializer="json")
    assert config.worker_class is SimpleWorker
    assert config.serializer is JSONSerializer


@pytest.mark.parametrize(
    ("options", "option_name"),
    [
        ({"worker_class": "no.such.Worker"}, "--worker-class"),
        ({"worker_class": "rq.Queue"}, "--worker-class"),
        ({"job_class": "rq.job.NoJob"}, "--job-class"),
        ({"queue_class": "rq.job.Job"}, "--queue-class"),
        ({"connection_class": "os.path"}, "--connection-class"),
        ({"serializer": "yaml"}, "--serializer"),
        ({"config": "no_such_config_module"}, "--config"),
    ],
)
def test_bad_settings_are_setting_errors(options: dict, option_name: str) -> None:
    with pytest.raises(SettingError) as caught:
        CliConfig(**options)
    assert caught.value.exit_code == 2
    assert option_name in caught.value.format_message()


def test_bad_url_is_a_setting_error_without_the_password() -> None:
    config = CliConfig(url="http://:secret@host/0")
    with pytest.raises(click.BadParameter) as caught:
        config.connection  # noqa: B018 - building the client is the point
    assert "secret" not in caught.value.format_message()
    assert "--url" in caught.value.format_message()


def test_scrub_masks_known_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    config = CliConfig(url="redis://:hunter2@host:1/0")
    assert config.scrub("auth hunter2 failed") == "auth *** failed"


def test_parse_function_arg_reads_one_enqueue_argument(tmp_path: Path) -> None:
    """Upstream's name for one ``rq enqueue`` argument: ``(keyword or None, value)``."""
    from rq.cli.helpers import parse_function_arg

    data = tmp_path / "data.json"
    data.write_text('{"test": true}\n')
    assert parse_function_arg("abc", 0) == (None, "abc")
    assert parse_function_arg(':{"json": true}', 1) == (None, {"json": True})
    assert parse_function_arg("%1, 2", 2) == (None, (1, 2))
    assert parse_function_arg("key=value", 3) == ("key", "value")
    assert parse_function_arg('jsonkey:=["json", "value"]', 4) == ("jsonkey", ["json", "value"])
    assert parse_function_arg("evalkey%=1.2", 5) == ("evalkey", 1.2)
    assert parse_function_arg(f":@{data}", 6) == (None, {"test": True})
    assert parse_function_arg(f"@{data}", 7) == (None, '{"test": true}\n')
    assert parse_function_arg(f"key:=@{data}", 8) == ("key", {"test": True})
    with pytest.raises(click.BadParameter, match="9. non keyword argument"):
        parse_function_arg(":not json", 9)
    with pytest.raises(click.BadParameter, match="cannot read file"):
        parse_function_arg(f"@{tmp_path / 'missing.txt'}", 10)
