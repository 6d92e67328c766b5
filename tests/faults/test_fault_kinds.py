"""Refusals real Redis deployments produce, against real ``redis-server`` processes.

Each test puts a server in one state that is neither "up" nor "down" (loading its data,
out of memory, busy in a script) while workers drain a burst, and counts where every job
ended (``tests/faults/accounting.py``): none lost, none run twice, no outcome written twice.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from redis import Redis
from redis.exceptions import BusyLoadingError, OutOfMemoryError, ResponseError

from rq import Queue
from rq.layout import job_key
from rq.resilience import describe_redis_error, is_outage
from tests import jobs
from tests.faults.accounting import Ledger, assert_queue_drained, report, stop_workers
from tests.helpers import WorkerProcess, wait_for
from tests.tcp_proxy import TCPProxy

JOB_SECONDS = 0.02
WORKER_OPTIONS = ("--maintenance-interval", "2", "--job-monitoring-interval", "5")
# Keys written before the restart, and the microseconds Redis waits per key while loading
# them (``key-load-delay``): a load of a few seconds whatever the speed of the machine.
BALLAST_KEYS = 50_000
KEY_LOAD_DELAY_US = 25
# Answer clients (with LOADING) every kilobyte loaded, not only every 2 MB.
LOAD_EVENTS = ("--loading-process-events-interval-bytes", "1024")


def _workers(url: str, queue: str, tmp_path, count: int = 2, *extra: str) -> list[WorkerProcess]:
    return [
        WorkerProcess(url, [queue], "--name", f"{queue}-{i}", *WORKER_OPTIONS, *extra, log_path=tmp_path / f"w{i}.log")
        for i in range(count)
    ]


def _enqueue_waiting_out(queue: Queue, ledger: Ledger, count: int) -> list[str]:
    """What an enqueuer does with an outage error: wait a little and send the enqueue again."""
    while True:
        try:
            return ledger.enqueue(queue, count, seconds=JOB_SECONDS)
        except Exception as exc:
            if not is_outage(exc):
                raise
            time.sleep(0.1)


@pytest.mark.timeout(180)
def test_loading_a_large_dataset_after_a_restart_is_waited_out(redis_factory, tmp_path, request):
    server = redis_factory(["--enable-debug-command", "yes"])
    connection = server.client()
    queue = Queue("loading", connection=connection)
    ledger = Ledger(tmp_path / "jobs", "restart loading a large dataset (LOADING)")
    ledger.enqueue(queue, 150, seconds=JOB_SECONDS)
    workers = _workers(server.url, "loading", tmp_path)
    try:
        # The workers wait for work when Redis stops (a job cut off by the shutdown itself is
        # another fault, see test_restarts.py).
        ledger.wait_until_ended(server.client, timeout=60)
        connection.execute_command("DEBUG", "POPULATE", BALLAST_KEYS, "ballast", 100)
        # SHUTDOWN SAVE: every write up to the shutdown is in the snapshot the server reloads.
        try:
            connection.shutdown(save=True)
        except Exception:
            pass
        server.stop()
        server.start_loading(["--key-load-delay", str(KEY_LOAD_DELAY_US), *LOAD_EVENTS])
        probe = server.client(socket_timeout=2)
        with pytest.raises(BusyLoadingError):
            probe.ping()
        loading_began = time.monotonic()
        late: list[str] = []
        enqueuer = threading.Thread(target=lambda: late.extend(_enqueue_waiting_out(queue, ledger, 150)))
        enqueuer.start()
        wait_for(lambda: _answers(probe), timeout=60, interval=0.05, message="the load to end")
        loaded_at = time.monotonic()
        loaded_after = loaded_at - loading_began
        wait_for(lambda: ledger.run_count() > 150, timeout=30, interval=0.01, message="work after the load")
        resumed_after = time.monotonic() - loaded_at
        enqueuer.join(timeout=30)
        assert len(late) == 150
        connection = ledger.wait_until_ended(server.client, timeout=60)
        tally = ledger.tally(connection, f"restart loading {BALLAST_KEYS:,} keys for {loaded_after:.1f}s (LOADING)")
        tally.notes.append(f"first job after the load ended: {resumed_after:.2f}s")
        report(request, tally)
        assert_queue_drained(connection, Queue("loading", connection=connection))
        stop_workers(workers, alive_through="while Redis was loading")
    finally:
        for worker in workers:
            worker.stop()
    assert loaded_after >= 0.5, loaded_after  # the server did answer LOADING for a while
    tally.assert_exact(failed=0, retried=0)
    for worker in workers:
        output = worker.output()
        assert "recovered after" in output
        assert "unhandled exception" not in output


def _answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _job_keys(connection: Redis) -> set[bytes]:
    return set(connection.scan_iter(match=job_key("*"), count=1000))


def _out_of_memory(connection: Redis) -> None:
    """maxmemory below what the server holds, noeviction: every write that needs memory is refused."""
    connection.config_set("maxmemory-policy", "noeviction")
    connection.config_set("maxmemory", 1024 * 1024)
    used = int(connection.info("memory")["used_memory"])
    assert used > 1024 * 1024, used


def test_an_enqueue_refused_for_memory_raises_and_writes_nothing(redis_factory):
    server = redis_factory()
    connection = server.client()
    connection.set("ballast", b"x" * 2 * 1024 * 1024)
    queue = Queue("oom", connection=connection)
    queue.enqueue(jobs.say_hello)
    before = (_job_keys(connection), connection.dbsize(), queue.count)
    _out_of_memory(connection)
    attempts = {
        "enqueue": lambda: queue.enqueue(jobs.say_hello),
        "enqueue_many": lambda: queue.enqueue_many([Queue.prepare_data(jobs.say_hello) for _ in range(5)]),
        "enqueue_in": lambda: queue.enqueue_in(timedelta(seconds=60), jobs.say_hello),
        "enqueue with a dependency": lambda: queue.enqueue(jobs.say_hello, depends_on=queue.get_job_ids()[0]),
    }
    for what, attempt in attempts.items():
        with pytest.raises(OutOfMemoryError) as info:
            attempt()
        assert "command not allowed when used memory" in str(info.value), what
        assert is_outage(info.value)
        assert (_job_keys(connection), connection.dbsize(), queue.count) == before, what
    line = describe_redis_error(info.value, connection)
    assert "out of memory" in line and f"127.0.0.1:{server.port}" in line
    connection.config_set("maxmemory", 0)
    assert queue.enqueue(jobs.say_hello).get_status() == "queued"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_outcomes_refused_for_memory_are_written_once_memory_frees(redis_factory, tmp_path, request, worker_class):
    server = redis_factory()
    connection = server.client()
    connection.set("ballast", b"x" * 2 * 1024 * 1024)
    queue = Queue("oom", connection=connection)
    kind = worker_class.rsplit(".", 1)[1]
    ledger = Ledger(tmp_path / "jobs", f"out of memory (OOM, noeviction) 5s, {kind}")
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    ledger.enqueue(queue, 4, seconds=1.5)
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    workers = _workers(server.url, "oom", tmp_path, 2, "--class", worker_class)
    try:
        # Both workers inside a 1.5 s job: their outcome writes meet the refusal.
        wait_for(lambda: ledger.run_count() >= 102, timeout=60, message="the long jobs to start")
        _out_of_memory(connection)
        refused_at = ledger.run_count()
        time.sleep(5)
        assert ledger.run_count() <= refused_at + len(workers)  # no job starts while writes are refused
        for worker in workers:
            assert "out of memory" in worker.output(), worker.log_path
        connection.delete("ballast")  # memory frees
        connection.config_set("maxmemory", 0)
        connection = ledger.wait_until_ended(server.client, timeout=60)
        tally = ledger.tally(connection)
        report(request, tally)
        assert_queue_drained(connection, Queue("oom", connection=connection))
        stop_workers(workers, alive_through="while Redis was out of memory")
    finally:
        for worker in workers:
            worker.stop()
    tally.assert_exact(failed=0, retried=0)
    assert "never ran" not in tally.ids, tally.describe()
    for worker in workers:
        output = worker.output()
        assert "recovered after" in output
        assert "unhandled exception" not in output


@pytest.mark.timeout(180)
@pytest.mark.parametrize("worker_class", ["rq.worker.Worker", "rq.worker.SimpleWorker"])
def test_a_server_busy_in_a_long_script_is_waited_out(redis_factory, tmp_path, request, worker_class):
    server = redis_factory(["--busy-reply-threshold", "100"])
    queue = Queue("busy", connection=server.client())
    kind = worker_class.rsplit(".", 1)[1]
    ledger = Ledger(tmp_path / "jobs", f"busy in a script 4s (BUSY), then SCRIPT KILL, {kind}")
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    ledger.enqueue(queue, 4, seconds=1.5)
    ledger.enqueue(queue, 196, seconds=JOB_SECONDS)
    workers = _workers(server.url, "busy", tmp_path, 2, "--class", worker_class)
    script_client = server.client(socket_timeout=60)
    outcome: list[BaseException] = []

    def endless_script() -> None:
        try:
            script_client.eval("while true do end", 0)
        except Exception as exc:
            outcome.append(exc)

    try:
        # Both workers inside a 1.5 s job when the script starts: their outcome writes meet BUSY.
        wait_for(lambda: ledger.run_count() >= 102, timeout=60, interval=0.01, message="the long jobs to start")
        spinner = threading.Thread(target=endless_script, daemon=True)
        spinner.start()
        observer = server.client(socket_timeout=5)
        wait_for(lambda: _busy(observer), timeout=10, message="the server to answer BUSY")
        busy_at = ledger.run_count()
        time.sleep(4)
        assert ledger.run_count() <= busy_at + len(workers)  # a horse may end its job; none starts
        observer.script_kill()
        spinner.join(timeout=10)
        assert outcome and "Script killed" in str(outcome[0]), outcome
        killed_at = time.monotonic()
        wait_for(lambda: ledger.run_count() > busy_at + len(workers), timeout=10, interval=0.01, message="work again")
        resumed_after = time.monotonic() - killed_at
        connection = ledger.wait_until_ended(server.client, timeout=60)
        tally = ledger.tally(connection)
        tally.notes.append(f"first job after SCRIPT KILL: {resumed_after:.2f}s")
        report(request, tally)
        assert_queue_drained(connection, Queue("busy", connection=connection))
        stop_workers(workers, alive_through="while Redis was busy in a script")
    finally:
        for worker in workers:
            worker.stop()
    tally.assert_exact(failed=0, retried=0)
    assert resumed_after < 2.0, resumed_after
    for worker in workers:
        output = worker.output()
        assert "busy running a script" in output, worker.log_path
        assert "recovered after" in output
        assert "unhandled exception" not in output


def _busy(client: Redis) -> bool:
    try:
        client.ping()
    except ResponseError as exc:
        return str(exc).startswith("BUSY ")
    return False


def _hog(port: int) -> tuple[socket.socket, int] | None:
    """A raw connection that holds one of the server's client slots; None if the server refused it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"CLIENT ID\r\n")
    reply = sock.recv(256)
    if reply.startswith(b":"):
        return sock, int(reply[1:].strip())
    sock.close()
    return None


@pytest.mark.timeout(180)
def test_maxclients_reached_while_workers_reconnect(redis_factory, tmp_path, request):
    server = redis_factory()
    admin = server.client()
    admin_id = admin.client_id()
    queue = Queue("crowded", connection=admin)
    ledger = Ledger(tmp_path / "jobs", "maxclients reached while reconnecting, 4s")
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    ledger.enqueue(queue, 2, seconds=3.0)  # one for each worker
    ledger.enqueue(queue, 198, seconds=JOB_SECONDS)
    workers = _workers(server.url, "crowded", tmp_path)
    hogs: dict[int, socket.socket] = {}
    try:
        # Both workers inside a 3 s job while their connections are dropped: the horses'
        # outcome writes and the workers' next dequeue meet the refusal.
        wait_for(lambda: ledger.run_count() >= 102, timeout=60, interval=0.01, message="the long jobs to start")
        admin.config_set("maxclients", int(admin.info("clients")["connected_clients"]) + 5)
        # Take every free slot, drop the workers' connections, take the slots they freed.
        deadline = time.monotonic() + 20
        while True:
            while (held := _hog(server.port)) is not None:
                hogs[held[1]] = held[0]
            others = [
                int(c["id"]) for c in admin.client_list() if int(c["id"]) not in hogs and int(c["id"]) != admin_id
            ]
            if not others:
                break
            for client_id in others:
                admin.client_kill_filter(_id=client_id)
            assert time.monotonic() < deadline, "the workers' connections kept coming back"
        crowded_at = ledger.run_count()
        time.sleep(4)
        assert ledger.run_count() <= crowded_at + len(workers)
        for worker in workers:
            assert worker.process.poll() is None, worker.output()
            assert "reached maxclients" in worker.output(), worker.log_path
        for sock in hogs.values():
            sock.close()
        hogs.clear()
        freed_at = time.monotonic()
        wait_for(
            lambda: ledger.run_count() > crowded_at + len(workers), timeout=10, interval=0.01, message="work again"
        )
        resumed_after = time.monotonic() - freed_at
        connection = ledger.wait_until_ended(server.client, timeout=60)
        tally = ledger.tally(connection)
        tally.notes.append(f"first job after the slots freed: {resumed_after:.2f}s")
        report(request, tally)
        assert_queue_drained(connection, Queue("crowded", connection=connection))
        stop_workers(workers, alive_through="while maxclients was reached")
    finally:
        for sock in hogs.values():
            sock.close()
        for worker in workers:
            worker.stop()
    tally.assert_exact(failed=0, retried=0)
    assert resumed_after < 2.0, resumed_after
    for worker in workers:
        output = worker.output()
        assert "recovered after" in output
        assert "unhandled exception" not in output
        # Waiting on the probe, not a crash loop: a bounded number of warnings.
        assert output.count("WARNING") < 20, worker.log_path


@pytest.mark.timeout(180)
def test_a_partition_that_drops_packets_is_seen_by_timeouts_and_healed(redis_factory, tmp_path, request):
    server = redis_factory()
    queue = Queue("partition", connection=server.client())
    ledger = Ledger(tmp_path / "jobs", "partition dropping packets 8s, workers idle")
    ledger.enqueue(queue, 100, seconds=JOB_SECONDS)
    with TCPProxy(server.host, server.port) as proxy:
        url = f"{proxy.url}?socket_timeout=2&socket_connect_timeout=2"
        workers = _workers(url, "partition", tmp_path)
        try:
            ledger.wait_until_ended(server.client, timeout=60)  # idle: blocked in a read for the next job
            proxy.stall()  # nothing is relayed and nothing is closed: no reset reaches anyone
            ledger.enqueue(queue, 100, seconds=JOB_SECONDS)  # straight to the server, behind the partition
            time.sleep(8)
            assert ledger.run_count() == 100
            for worker in workers:
                assert worker.process.poll() is None, worker.output()
                assert "TimeoutError" in worker.output(), worker.log_path  # only a timeout reveals it
            proxy.resume()
            healed_at = time.monotonic()
            wait_for(lambda: ledger.run_count() > 100, timeout=30, interval=0.01, message="work after the partition")
            resumed_after = time.monotonic() - healed_at
            connection = ledger.wait_until_ended(server.client, timeout=60)
            tally = ledger.tally(connection)
            tally.notes.append(f"first job after the partition healed: {resumed_after:.2f}s")
            report(request, tally)
            assert_queue_drained(connection, Queue("partition", connection=connection))
            stop_workers(workers, alive_through="during the partition")
        finally:
            for worker in workers:
                worker.stop()
    tally.assert_exact(failed=0, retried=0)
    assert resumed_after < 3.0, resumed_after
    for worker in workers:
        output = worker.output()
        assert "recovered after" in output
        assert "unhandled exception" not in output


def test_which_refusals_are_waited_out(redis_factory):
    from redis.exceptions import ExecAbortError, ReadOnlyError

    server = redis_factory()
    annotated = "Command # 2 (EXPIRE rq:worker:w 61) of pipeline caused error: NOREPLICAS Not enough good replicas"
    for exc in (
        ResponseError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
        ResponseError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
        ResponseError(annotated),
        ExecAbortError("Transaction discarded because of previous errors."),
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        ReadOnlyError("You can't write against a read only replica."),
        BusyLoadingError("Redis is loading the dataset in memory"),
    ):
        assert is_outage(exc), exc
    for exc in (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), ValueError("x")):
        assert not is_outage(exc), exc
    line = describe_redis_error(ReadOnlyError("You can't write against a read only replica."), server.client())
    assert line.startswith(f"the server at redis://127.0.0.1:{server.port}/0 is a read-only replica")
