"""``rq info --json``: the table's data as one JSON document, or one JSON line per refresh.

The fleet is real: a burst worker leaves a finished and a failed job behind, a worker
process stays busy with a job until the test releases it, and the other registries get
a job each through the public API.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
import redis
from click.testing import Result

from rq import Queue
from rq.job import Job, JobStatus
from rq.layout import format_ts, parse_ts
from rq.worker import Worker
from tests.cli.support import ROOT, rq_env, run_rq, start_rq, stop_process, wait_for

Cli = Callable[..., Result]

ADD = "tests.cli.cli_jobs.add"
QUEUE_KEYS = {"name", "depth", "paused", "registries"}
REGISTRY_KEYS = {"started", "finished", "failed", "deferred", "scheduled", "canceled"}
WORKER_KEYS = {
    "name",
    "state",
    "current_job_id",
    "queues",
    "pid",
    "hostname",
    "ip_address",
    "version",
    "birth",
    "last_heartbeat",
    "heartbeat_stale",
    "successful_job_count",
    "failed_job_count",
    "total_working_time",
    "connection",
    "pubsub",
}
CONNECTION_KEYS = {"state", "since", "outage_count", "last_error", "last_recovery"}
PUBSUB_KEYS = {
    "state",
    "since",
    "connection_errors",
    "recoveries",
    "bad_messages",
    "listener_errors",
    "listener_restarts",
    "resubscribes",
}
# ``rq info --raw`` queue line: the same counts as the JSON document.
RAW_QUEUE_LINE = re.compile(
    r"^queue (?P<name>\S+) (?P<depth>\d+), (?P<started>\d+) executing, (?P<finished>\d+) finished, "
    r"(?P<failed>\d+) failed, (?P<scheduled>\d+) scheduled, (?P<deferred>\d+) deferred$"
)


@dataclass
class Fleet:
    """Queues ``default`` (a job in every registry) and ``high``, a busy worker and an idle one."""

    worker: subprocess.Popen
    busy_job: Job
    idle_worker: Worker


@pytest.fixture
def fleet(redis_url: str, connection: redis.Redis, tmp_path: Path) -> Iterator[Fleet]:
    default = Queue("default", connection=connection)
    high = Queue("high", connection=connection)
    finished = default.enqueue(ADD, 1, 2)
    failed = default.enqueue("tests.cli.cli_jobs.fail")
    drained = run_rq("worker", "--burst", "--url", redis_url, "--name", "json-burst", "default")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert (finished.get_status(), failed.get_status()) == (JobStatus.FINISHED, JobStatus.FAILED)

    release = tmp_path / "release"
    busy_job = default.enqueue("tests.cli.cli_jobs.wait_for_file", str(release))
    process = start_rq("worker", "--url", redis_url, "--name", "json-busy", "default", output=tmp_path / "worker.out")
    try:
        wait_for(
            lambda: connection.hget("rq:worker:json-busy", "current_job") == busy_job.id.encode(),
            timeout=90,
            message="the worker to start the blocking job",
        )
        default.enqueue(ADD, 3, 4)
        default.enqueue(ADD, 5, 6)
        parent = high.enqueue(ADD, 7, 8)  # no worker listens on "high": its dependent stays deferred
        default.enqueue(ADD, 9, 10, depends_on=parent)
        default.enqueue_in(timedelta(hours=1), ADD, 11, 12)
        default.enqueue(ADD, 13, 14).cancel()

        idle_worker = Worker(["high"], name="json-idle", connection=connection)
        idle_worker.register_birth()
        idle_worker.set_state("idle")
        connection.hset(idle_worker.key, mapping={"pubsub_connection_errors": "2", "pubsub_recoveries": "1"})
        yield Fleet(process, busy_job, idle_worker)
    finally:
        release.touch()
        stop_process(process)


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def check_fleet_document(document: dict[str, Any], fleet: Fleet) -> None:
    assert set(document) == {"timestamp", "queues", "workers"}
    assert abs((parse_ts(document["timestamp"]) - datetime.now(timezone.utc)).total_seconds()) < 3600

    queues = by_name(document["queues"])
    assert set(queues) == {"default", "high"}
    for entry in queues.values():
        assert set(entry) == QUEUE_KEYS
        assert set(entry["registries"]) == REGISTRY_KEYS
    assert queues["default"]["depth"] == 2
    assert queues["default"]["paused"] is False
    assert queues["default"]["registries"] == {
        "started": 1,
        "finished": 1,
        "failed": 1,
        "deferred": 1,
        "scheduled": 1,
        "canceled": 1,
    }
    assert queues["high"]["depth"] == 1

    workers = by_name(document["workers"])
    assert set(workers) == {"json-busy", "json-idle"}
    for entry in workers.values():
        assert set(entry) == WORKER_KEYS
        assert set(entry["connection"]) == CONNECTION_KEYS
        assert set(entry["pubsub"]) == PUBSUB_KEYS
    busy = workers["json-busy"]
    assert busy["state"] == "busy"
    assert busy["current_job_id"] == fleet.busy_job.id
    assert busy["queues"] == ["default"]
    assert busy["pid"] == fleet.worker.pid
    assert busy["hostname"] == socket.gethostname()
    assert parse_ts(busy["birth"]) <= parse_ts(busy["last_heartbeat"])
    assert busy["heartbeat_stale"] is False
    assert (busy["successful_job_count"], busy["failed_job_count"]) == (0, 0)
    assert busy["total_working_time"] == 0.0
    assert busy["connection"] == {
        "state": "ok",
        "since": None,
        "outage_count": 0,
        "last_error": None,
        "last_recovery": None,
    }
    assert busy["pubsub"]["state"] == "ok"
    assert busy["pubsub"]["connection_errors"] == 0

    idle = workers["json-idle"]
    assert (idle["state"], idle["current_job_id"], idle["queues"]) == ("idle", None, ["high"])
    assert (idle["pubsub"]["connection_errors"], idle["pubsub"]["recoveries"]) == (2, 1)


def test_info_json_has_every_registry_and_worker(redis_url: str, fleet: Fleet) -> None:
    result = run_rq("info", "--json", "--url", redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, "one document on one line"
    document = json.loads(result.stdout)
    check_fleet_document(document, fleet)

    # The same numbers as the table.
    raw = run_rq("info", "--raw", "--only-queues", "--url", redis_url)
    assert raw.returncode == 0, raw.stderr
    queues = by_name(document["queues"])
    for line in raw.stdout.splitlines():
        match = RAW_QUEUE_LINE.match(line)
        assert match, line
        counts = {**queues[match["name"]]["registries"], "depth": queues[match["name"]]["depth"]}
        for key in ("depth", "started", "finished", "failed", "scheduled", "deferred"):
            assert int(match[key]) == counts[key], (line, key)


class LineReader:
    """Reads a process's stdout in a thread, so a test can wait for a line with a time limit."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def get(self, timeout: float = 90.0) -> str:
        return self.lines.get(timeout=timeout)

    def rest(self) -> list[str]:
        """The lines printed after the ones taken, once the process has ended."""
        self.thread.join(timeout=30)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return rest


def start_info(*args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rq", "info", *args],
        cwd=ROOT,
        env=rq_env(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def test_info_json_interval_prints_one_document_per_refresh(redis_url: str, fleet: Fleet) -> None:
    with start_info("--json", "--interval", "0.2", "--url", redis_url) as process:
        reader = LineReader(process)
        try:
            documents = [json.loads(reader.get()) for _ in range(2)]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
            rest = reader.rest()
            assert process.stderr is not None and process.stderr.read() == ""
        finally:
            stop_process(process)
    for document in documents:
        check_fleet_document(document, fleet)
    assert parse_ts(documents[0]["timestamp"]) < parse_ts(documents[1]["timestamp"])
    for line in rest:  # whatever else was printed before Ctrl+C is a whole document too
        check_fleet_document(json.loads(line), fleet)


def test_info_json_interval_without_redis_keeps_reporting() -> None:
    with start_info(
        "--json", "-i", "0.2", "--url", "redis://:s3cret@127.0.0.1:1/0", stderr=subprocess.DEVNULL
    ) as process:
        reader = LineReader(process)
        try:
            documents = [json.loads(reader.get()) for _ in range(2)]
        finally:
            stop_process(process)
            reader.rest()
    for document in documents:
        assert set(document) == {"error", "timestamp"}
        assert document["error"].startswith("Could not connect to Redis at redis://127.0.0.1:1/0")
        assert "s3cret" not in document["error"]


def _register(connection: redis.Redis, name: str, queues: list[str]) -> Worker:
    worker = Worker(queues, name=name, connection=connection)
    worker.register_birth()
    worker.set_state("idle")
    return worker


def test_info_json_filters(cli: Cli, connection: redis.Redis) -> None:
    for name in ("default", "high", "low"):
        Queue(name, connection=connection).enqueue(ADD, 1, 2)
    _register(connection, "w-high", ["high"])
    _register(connection, "w-both", ["high", "low"])

    only_queues = json.loads(cli("info", "--json", "-Q").stdout)
    assert set(only_queues) == {"timestamp", "queues"}
    assert [q["name"] for q in only_queues["queues"]] == ["default", "high", "low"]

    only_workers = json.loads(cli("info", "--json", "-W").stdout)
    assert set(only_workers) == {"timestamp", "workers"}
    assert [w["name"] for w in only_workers["workers"]] == ["w-both", "w-high"]

    on_low = json.loads(cli("info", "--json", "low").stdout)
    assert [q["name"] for q in on_low["queues"]] == ["low"]
    assert [w["name"] for w in on_low["workers"]] == ["w-both"]

    # --raw and --by-queue shape the table only.
    assert json.loads(cli("info", "--json", "--raw", "--by-queue", "low").stdout)["workers"] == on_low["workers"]


def test_info_json_marks_what_a_worker_does_not_record(cli: Cli, connection: redis.Redis) -> None:
    """An upstream RQ worker has no telemetry fields: they are null, not zero or "ok"."""
    stale = format_ts(datetime.now(timezone.utc) - timedelta(seconds=612))
    connection.hset(
        "rq:worker:upstream",
        mapping={
            "birth": stale,
            "last_heartbeat": stale,
            "queues": "default",
            "pid": "4242",
            "hostname": "web-3",
            "ip_address": "10.0.0.7:53422",
            "version": "2.12.0",
            "state": "busy",
            "current_job": "some-job",
            "successful_job_count": "5",
            "failed_job_count": "1",
            "total_working_time": "2.5",
        },
    )
    connection.sadd("rq:workers", "rq:worker:upstream")
    connection.sadd("rq:workers:default", "rq:worker:upstream")
    reconnecting = _register(connection, "reconnecting", ["default"])
    connection.hset(reconnecting.key, "pubsub_state", "reconnecting since 1700000000")

    workers = by_name(json.loads(cli("info", "--json", "-W").stdout)["workers"])
    upstream = workers["upstream"]
    assert upstream["connection"] == dict.fromkeys(CONNECTION_KEYS)
    assert upstream["pubsub"] == dict.fromkeys(PUBSUB_KEYS)
    assert upstream["heartbeat_stale"] is True
    assert (upstream["pid"], upstream["hostname"], upstream["ip_address"]) == (4242, "web-3", "10.0.0.7:53422")
    assert (upstream["current_job_id"], upstream["version"], upstream["total_working_time"]) == (
        "some-job",
        "2.12.0",
        2.5,
    )
    assert (upstream["successful_job_count"], upstream["failed_job_count"]) == (5, 1)
    assert workers["reconnecting"]["pubsub"]["state"] == "reconnecting"
    assert workers["reconnecting"]["pubsub"]["since"] == "2023-11-14T22:13:20.000000Z"
