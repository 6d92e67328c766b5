"""Benchmark this package against upstream RQ 2.12.0 in the same run.

Usage: ``python bench/run.py [--jobs N] [--rounds R] [--out DIR] [--quick] [--only a,b]``

Starts a private ``redis-server``, builds (once) a virtualenv with upstream RQ, then runs
every workload in a fresh process per implementation, alternating ours / upstream for R
rounds, and reports medians. See ``bench/README.md`` for what each workload measures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))

import peer_venv  # noqa: E402
import redis  # noqa: E402
import report  # noqa: E402
import roundtrips  # noqa: E402
from report import Row, RowResult  # noqa: E402

from tests.redis_harness import RedisServer  # noqa: E402

UPSTREAM_VERSION = "2.12.0"
PEER_DIR = peer_venv.peer_dir(UPSTREAM_VERSION)
WORKLOAD_SCRIPT = BENCH_DIR / "workloads.py"
DEFAULT_OUT = BENCH_DIR / "results"
# Defaults of a full run, and of --quick (sized so CI can smoke-test the harness).
DEFAULT_JOBS = 5000
DEFAULT_ROUNDS = 5
QUICK_JOBS = 300
QUICK_ROUNDS = 2
# Jobs in the extra MONITOR pass that counts round trips (MONITOR slows Redis down).
MONITOR_JOBS = 200
QUICK_MONITOR_JOBS = 40
# Upper bound for one workload process.
RUN_TIMEOUT = 900.0
# Idle memory: wait this long for the worker to register, then this long before reading RSS.
IDLE_START_TIMEOUT = 30.0
IDLE_SETTLE = 1.0
IDLE_STOP_TIMEOUT = 10.0
# Prefix of the result line printed by workloads.py.
RESULT_PREFIX = "@@bench@@ "

# Workload name -> size as a fraction of --jobs (the forking and per-job-waiting ones are slow).
WORKLOAD_SIZES = {
    "enqueue": 1.0,
    "enqueue_many": 1.0,
    "simple_worker": 1.0,
    "worker": 0.1,
    "latency": 0.1,
    "dependency_chains": 0.1,
    "large_result": 0.1,
}
IDLE_MEMORY = "idle_memory"
ALL_WORKLOADS = [*WORKLOAD_SIZES, IDLE_MEMORY]

ROWS = [
    Row("enqueue", "enqueue", "rate", "jobs/s", True, 2.0),
    Row("enqueue_many (x100)", "enqueue_many", "rate", "jobs/s", True, 1.5),
    Row("SimpleWorker drain", "simple_worker", "rate", "jobs/s", True, 4.0),
    Row("Worker (fork) drain", "worker", "rate", "jobs/s", True, 1.5),
    Row("latency p50", "latency", "p50_ms", "ms", False, 0.5),
    Row("latency p95", "latency", "p95_ms", "ms", False),
    Row("dependency chains", "dependency_chains", "rate", "chains/s", True),
    Row("100 KB result drain", "large_result", "rate", "jobs/s", True),
    Row("idle worker memory", IDLE_MEMORY, "rss_mb", "MB RSS", False, 1.0),
]
COMMANDS_ROW = Row("commands/job enq+drain", "enqueue+simple_worker", "commands_per_job", "commands", False, 0.5)
ROUND_TRIPS_ROW = Row("round trips/processed job", "simple_worker", "round_trips_per_job", "RT", False)
# Our SimpleWorker may spend at most this many round trips on one job.
ROUND_TRIPS_LIMIT = 5.0
MEDIAN_METRICS = ("rate", "p50_ms", "p95_ms", "commands_per_job", "reads_per_job", "rss_mb", "uss_mb")


class BenchError(RuntimeError):
    """A workload run failed; the message carries its output."""


@dataclass
class Side:
    """One implementation: the interpreter, its flags and environment, and where its rq must live."""

    key: str
    python: str
    flags: list[str]
    env: dict[str, str]
    rq_root: Path

    def command(self, *args: str) -> list[str]:
        return [self.python, *self.flags, *args]


def make_sides(peer_python: Path) -> list[Side]:
    ours_env = peer_venv.clean_environment()
    ours_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(BENCH_DIR)])
    upstream_env = peer_venv.clean_environment()
    upstream_env["PYTHONPATH"] = str(BENCH_DIR)
    return [
        Side("ours", sys.executable, [], ours_env, REPO_ROOT / "rq"),
        Side("upstream", str(peer_python), ["-s"], upstream_env, PEER_DIR),
    ]


class Bench:
    """Runs workload processes against one Redis server and turns their output into samples."""

    def __init__(self, server: RedisServer, sides: list[Side], workdir: str) -> None:
        self.server = server
        self.sides = sides
        self.workdir = workdir
        self.admin = server.client()
        self.calibration: dict[str, dict[str, Any]] = {}
        self.identity: dict[str, dict[str, str]] = {}
        self.errors: list[str] = []

    def prepare(self) -> None:
        self.admin.flushall()
        self.admin.config_resetstat()

    def _run_process(self, side: Side, workload: str, count: int, marker: Optional[str] = None) -> dict[str, Any]:
        args = [str(WORKLOAD_SCRIPT), workload, "--url", self.server.url, "--count", str(count)]
        if marker:
            args += ["--marker", marker]
        # Its own process group, so a timeout also ends the latency worker and work horses it started.
        process = subprocess.Popen(
            side.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.workdir,
            env=side.env,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise BenchError(f"{workload} ({side.key}) did not finish within {RUN_TIMEOUT:.0f}s") from None
        except BaseException:
            _kill_group(process)
            raise
        lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if process.returncode != 0 or len(lines) != 1:
            tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
            raise BenchError(f"{workload} ({side.key}) exited {process.returncode}:\n{tail}")
        outcome = json.loads(lines[0][len(RESULT_PREFIX) :])
        rq_file = Path(outcome["rq_file"])
        if side.rq_root.resolve() not in rq_file.resolve().parents:
            raise BenchError(f"{side.key} imported rq from {rq_file}, expected it under {side.rq_root}")
        self.identity.setdefault(side.key, {"rq_file": str(rq_file), "rq_version": outcome["rq_version"]})
        return outcome

    def calibrate(self) -> None:
        """Record what the measurement itself adds to the Redis counters, per side."""
        for side in self.sides:
            self.prepare()
            outcome = self._run_process(side, "calibrate", 0)
            self.calibration[side.key] = {"commands": outcome["commands"], "reads": outcome["reads"]}

    def run(self, side: Side, workload: str, count: int) -> dict[str, Any]:
        self.prepare()
        outcome = self._run_process(side, workload, count)
        calibration = self.calibration[side.key]
        commands = dict(outcome["commands"])
        for name, calls in calibration["commands"].items():
            commands[name] = commands.get(name, 0) - calls
        commands = {name: calls for name, calls in commands.items() if calls > 0}
        jobs = outcome["jobs"]
        sample = {
            "elapsed": outcome["elapsed"],
            "jobs": jobs,
            "units": outcome["units"],
            "rate": outcome["units"] / outcome["elapsed"],
            "commands_per_job": sum(commands.values()) / jobs,
            "reads_per_job": (outcome["reads"] - calibration["reads"]) / jobs,
            "commands": dict(sorted(commands.items(), key=lambda item: -item[1])),
        }
        for key in ("p50_ms", "p95_ms", "latencies_ms"):
            if key in outcome:
                sample[key] = outcome[key]
        return sample

    def count_round_trips(self, side: Side, workload: str, count: int) -> dict[str, Any]:
        """One extra pass under MONITOR; see roundtrips.py for what counts as a round trip."""
        self.prepare()
        token = uuid.uuid4().hex
        stream = roundtrips.MonitorStream(self.server.host, self.server.port, token)
        try:
            outcome = self._run_process(side, workload, count, marker=token)
            counts = stream.wait()
        finally:
            stream.close()
        jobs = outcome["jobs"]
        return {
            "jobs": jobs,
            **counts,
            "round_trips_per_job": counts["round_trips"] / jobs,
            "monitor_commands_per_job": counts["commands"] / jobs,
        }

    def idle_memory(self, side: Side) -> dict[str, Any]:
        """RSS of an idle ``rq worker`` process shortly after it registered."""
        import psutil

        self.prepare()
        name = f"bench-idle-{side.key}-{uuid.uuid4().hex[:8]}"
        command = side.command("-m", "rq.cli", "worker", "--url", self.server.url, "--name", name, "bench")
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                command, cwd=self.workdir, env=side.env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
            try:
                deadline = time.monotonic() + IDLE_START_TIMEOUT
                while not self.admin.exists(f"rq:worker:{name}"):
                    if process.poll() is not None or time.monotonic() > deadline:
                        output.seek(0)
                        tail = "\n".join(output.read().decode(errors="replace").splitlines()[-15:])
                        raise BenchError(f"idle worker ({side.key}) did not register:\n{tail}")
                    time.sleep(0.05)
                time.sleep(IDLE_SETTLE)
                info = psutil.Process(process.pid).memory_full_info()
            finally:
                _stop(process)
        return {"rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20}


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL a workload process and everything in its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.communicate(timeout=IDLE_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass  # a grandchild that left the group still holds the pipes; it exits on its own


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(IDLE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    good = [sample for sample in samples if "error" not in sample]
    result = {}
    for metric in MEDIAN_METRICS:
        values = [sample[metric] for sample in good if metric in sample]
        if values:
            result[metric] = statistics.median(values)
    return result


def describe(sample: dict[str, Any], workload: str) -> str:
    if "error" in sample:
        return "ERROR " + sample["error"].splitlines()[0]
    if workload == IDLE_MEMORY:
        return f"{sample['rss_mb']:.1f} MB RSS"
    if workload == "latency":
        return (
            f"p50 {sample['p50_ms']:.2f} ms, p95 {sample['p95_ms']:.2f} ms, {sample['commands_per_job']:.1f} cmds/job"
        )
    return f"{sample['rate']:,.0f} /s, {sample['commands_per_job']:.1f} cmds/job"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_info(admin: redis.Redis) -> dict[str, Any]:
    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu_model": cpu_model,
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "redis_server": admin.info("server").get("redis_version"),
        "redis_py": metadata.version("redis"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        info["psutil"] = metadata.version("psutil")
    except metadata.PackageNotFoundError:
        info["psutil"] = None
    return info


def build_rows(results: dict[str, Any], round_trips: dict[str, Any]) -> list[RowResult]:
    def median_of(workload: str, side: str, metric: str) -> Optional[float]:
        return results.get(workload, {}).get(side, {}).get("median", {}).get(metric)

    def trips(workload: str, side: str) -> Optional[float]:
        return round_trips.get(workload, {}).get(side, {}).get("round_trips_per_job")

    rows = []
    for row in ROWS:
        if row.workload not in results:
            continue
        rows.append(
            RowResult(
                row,
                median_of(row.workload, "ours", row.metric),
                median_of(row.workload, "upstream", row.metric),
                commands=(
                    median_of(row.workload, "ours", "commands_per_job"),
                    median_of(row.workload, "upstream", "commands_per_job"),
                ),
                round_trips=(trips(row.workload, "ours"), trips(row.workload, "upstream")),
                reads=(
                    median_of(row.workload, "ours", "reads_per_job"),
                    median_of(row.workload, "upstream", "reads_per_job"),
                ),
            )
        )
    if "enqueue" in results and "simple_worker" in results:
        lifecycle = []
        for side in ("ours", "upstream"):
            enqueue = median_of("enqueue", side, "commands_per_job")
            drain = median_of("simple_worker", side, "commands_per_job")
            lifecycle.append(None if enqueue is None or drain is None else enqueue + drain)
        rows.append(RowResult(COMMANDS_ROW, lifecycle[0], lifecycle[1]))
    if "simple_worker" in round_trips:
        rows.append(
            RowResult(
                ROUND_TRIPS_ROW,
                trips("simple_worker", "ours"),
                trips("simple_worker", "upstream"),
                absolute_limit=ROUND_TRIPS_LIMIT,
            )
        )
    return rows


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark rq against upstream RQ " + UPSTREAM_VERSION)
    parser.add_argument("--jobs", type=int, help=f"jobs per workload (default {DEFAULT_JOBS}, --quick {QUICK_JOBS})")
    parser.add_argument(
        "--rounds", type=int, help=f"rounds per side (default {DEFAULT_ROUNDS}, --quick {QUICK_ROUNDS})"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default bench/results)")
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 rounds: a smoke test")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(ALL_WORKLOADS)}")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (QUICK_JOBS if args.quick else DEFAULT_JOBS)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    args.monitor_jobs = min(args.jobs, QUICK_MONITOR_JOBS if args.quick else MONITOR_JOBS)
    selected = args.only.split(",") if args.only else ALL_WORKLOADS
    unknown = set(selected) - set(ALL_WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    args.workloads = [name for name in ALL_WORKLOADS if name in selected]
    if args.jobs < 10 or args.rounds < 1:
        parser.error("--jobs must be at least 10 and --rounds at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        peer_python = peer_venv.ensure(UPSTREAM_VERSION, PEER_DIR)
    except peer_venv.PeerUnavailable as exc:
        log(f"cannot build the upstream virtualenv: {exc}")
        return 2
    sides = make_sides(peer_python)
    sizes = {name: max(1, int(args.jobs * fraction)) for name, fraction in WORKLOAD_SIZES.items()}
    notes = []
    if IDLE_MEMORY in args.workloads and not _has_psutil():
        args.workloads.remove(IDLE_MEMORY)
        notes.append("psutil is not installed: idle worker memory skipped (pip install psutil)")
    results: dict[str, Any] = {}
    round_trips: dict[str, Any] = {}
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="rq-bench-") as workdir:
        bench = Bench(server, sides, workdir)
        try:
            bench.calibrate()
        except BenchError as exc:
            log(f"the calibration run failed: {exc}")
            return 2
        machine = machine_info(bench.admin)
        log(f"redis {machine['redis_server']} on port {server.port}; jobs={args.jobs} rounds={args.rounds}")
        for workload in args.workloads:
            entry: dict[str, Any] = {"size": sizes.get(workload), "ours": {"samples": []}, "upstream": {"samples": []}}
            results[workload] = entry
            for round_number in range(1, args.rounds + 1):
                for side in sides:
                    try:
                        if workload == IDLE_MEMORY:
                            sample = bench.idle_memory(side)
                        else:
                            sample = bench.run(side, workload, sizes[workload])
                    except (BenchError, roundtrips.MonitorError) as exc:
                        sample = {"error": str(exc)}
                        bench.errors.append(f"{workload} {side.key} round {round_number}: {exc}")
                    sample["round"] = round_number
                    entry[side.key]["samples"].append(sample)
                    log(f"{workload:<18} round {round_number}/{args.rounds} {side.key:<8} {describe(sample, workload)}")
            for side in sides:
                entry[side.key]["median"] = medians(entry[side.key]["samples"])
            if workload == IDLE_MEMORY:
                continue
            monitor_count = args.monitor_jobs // 2 if workload == "dependency_chains" else args.monitor_jobs
            round_trips[workload] = {}
            for side in sides:
                try:
                    counted = bench.count_round_trips(side, workload, max(1, monitor_count))
                except (BenchError, roundtrips.MonitorError) as exc:
                    counted = {"error": str(exc)}
                    bench.errors.append(f"{workload} {side.key} MONITOR pass: {exc}")
                round_trips[workload][side.key] = counted
                if "error" not in counted:
                    log(f"{workload:<18} MONITOR  {side.key:<8} {counted['round_trips_per_job']:.2f} round trips/job")

    rows = build_rows(results, round_trips)
    config = {
        "jobs": args.jobs,
        "rounds": args.rounds,
        "quick": args.quick,
        "monitor_jobs": args.monitor_jobs,
        "sizes": {name: sizes[name] for name in args.workloads if name in sizes},
    }
    payload = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "config": config,
        "machine": machine,
        "implementations": {
            "ours": {"python": sys.executable, **bench.identity.get("ours", {})},
            "upstream": {"python": str(peer_python), **bench.identity.get("upstream", {})},
        },
        "calibration": bench.calibration,
        "rows": [row.as_dict() for row in rows],
        "workloads": results,
        "round_trips": round_trips,
        "errors": bench.errors,
        "notes": notes,
    }
    previous = report.rotate_and_write(args.out, payload)
    chart_note = report.write_chart(rows, args.out / "latest.png")

    print()
    print(f"rq {bench.identity.get('ours', {}).get('rq_version')} vs upstream rq {UPSTREAM_VERSION}: "
          f"medians of {args.rounds} rounds, jobs={args.jobs}; {machine['cpu_model']}, {machine['cpu_cores']} cores, "
          f"{machine['python']}, redis {machine['redis_server']}, redis-py {machine['redis_py']}")  # fmt: skip
    print(report.render_table(rows))
    print()
    print(report.render_change(rows, previous, config))
    print()
    for note in notes:
        print(note)
    print(f"results written to {args.out / 'latest.json'}; {chart_note}")
    if bench.errors:
        print(f"\n{len(bench.errors)} run(s) failed:")
        for error in bench.errors:
            print("  " + error.replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
