#!/usr/bin/env python3
"""Run upstream RQ's own test suites against upstream RQ and against this package.

For each upstream version the sdist is downloaded from PyPI, its ``tests/`` folder is
unpacked under ``.peer/conformance/<version>/``, and the suite runs twice: in a virtualenv
with ``rq==<version>`` ("upstream") and in one with this working tree ("ours"), both with
the pins of ``requirements/conformance-<version>.txt``. Each run gets a private network
namespace with its own ``redis-server`` on localhost:6379. The report compares the tests
that pass on upstream with those that pass here. Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".peer" / "conformance"
REQUIREMENTS = ROOT / "requirements"
FLOORS = ROOT / "scripts" / "conformance" / "floors.json"
VERSIONS = ("2.12.0", "1.16.2", "3.0.0")
SIDES = ("upstream", "ours")
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
EXIT_HUNG = 97  # the inner runner's exit code when pytest had to be killed after its session ended
EXIT_GRACE = 30.0  # seconds pytest has to exit once it has written its junit XML
# Environment variables that would leak this repository's setup into upstream's runs.
DROPPED_ENV = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTEST_PLUGINS", "PYTHONSTARTUP")


@dataclass
class SideRun:
    """The outcome of one pytest run: per-test results and how the run went."""

    side: str
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # test id -> (outcome, message)
    returncode: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    hung_at_exit: bool = False
    source: str = "junitxml"


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"conformance: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs: object) -> None:
    """Run a command, failing loudly with its output when it does not succeed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"conformance: command failed ({proc.returncode}): {' '.join(cmd)}")


# --- upstream's tests ----------------------------------------------------------------


def fetch_tests(version: str) -> Path:
    """Download upstream's sdist (once) and unpack its tests/ into the version's cache dir."""
    sdists = CACHE / "sdists"
    sdist = sdists / f"rq-{version}.tar.gz"
    if not sdist.exists():
        log(f"downloading the rq {version} sdist from PyPI")
        sdists.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
            + ["--dest", str(sdists), f"rq=={version}"])  # fmt: skip
    src = CACHE / version / "src"
    stamp = src / ".sdist-sha256"
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    prefix = f"rq-{version}/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix + "tests/") and (m.isfile() or m.isdir())]
        for member in members:
            member.name = member.name[len(prefix) :]
        tar.extractall(src, members=members)  # noqa: S202 (regular files and dirs of a PyPI sdist)
        config = {name: read_member(tar, prefix + name) for name in ("pyproject.toml", "tox.ini")}
    (src / "pytest.ini").write_text(pytest_ini(config["pyproject.toml"], config["tox.ini"]))
    stamp.write_text(digest)
    return src


def read_member(tar: tarfile.TarFile, name: str) -> str:
    """The text of one sdist member, or "" when it is missing."""
    try:
        handle = tar.extractfile(name)
    except KeyError:
        return ""
    return handle.read().decode() if handle else ""


def pytest_ini(pyproject: str, tox_ini: str) -> str:
    """Upstream's pytest settings (pyproject's tool.pytest.ini_options, tox.ini's [pytest]) as a pytest.ini.

    Without one, pytest would walk up to this repository's pytest.ini and apply it.
    """
    options: dict[str, str] = {}
    try:
        import tomllib

        table = tomllib.loads(pyproject).get("tool", {}).get("pytest", {}).get("ini_options", {}) if pyproject else {}
        for key, value in table.items():
            options[key] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    except ImportError:  # Python < 3.11: upstream's pyproject settings are left out
        pass
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(tox_ini)
    if parser.has_section("pytest"):
        options.update(parser.items("pytest"))
    lines = ["# upstream's pytest settings, written by scripts/conformance.py", "[pytest]"]
    for key, value in options.items():
        body = value.strip().replace("\n", "\n    ")
        lines.append(f"{key} = {body}" if "\n" not in body else f"{key} =\n    {body}")
    return "\n".join(lines) + "\n"


# --- virtualenvs ---------------------------------------------------------------------


def venv_python(version: str, side: str) -> Path:
    """The python of the version's virtualenv for one side, built or rebuilt when its pins change."""
    lock = REQUIREMENTS / f"conformance-{version}.txt"
    inputs = REQUIREMENTS / f"conformance-{version}.in"
    if not lock.exists() or not inputs.exists():
        raise SystemExit(f"conformance: missing {inputs} or {lock}")
    venv = CACHE / version / f"venv-{side}"
    python = venv / "bin" / "python"
    key = "\n".join([side, sys.version, inputs.read_text(), lock.read_text()])
    stamp = venv / ".pins-sha256"
    digest = hashlib.sha256(key.encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    log(f"building the {side} virtualenv for rq {version}")
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if side == "upstream":
        run(pip + ["-c", str(lock), "-r", str(inputs)])
    else:
        constraints, requirements = CACHE / version / "constraints-ours.txt", CACHE / version / "requirements-ours.txt"
        constraints.write_text(without_rq(lock.read_text()))
        requirements.write_text(without_rq(inputs.read_text()))
        run(pip + ["-c", str(constraints), "-r", str(requirements)])
    stamp.write_text(digest)
    return python


def without_rq(text: str) -> str:
    """A requirements or constraints text without its rq line."""
    return "".join(line for line in text.splitlines(keepends=True) if not re.match(r"\s*rq\s*[=<>!~]", line))


def install_ours(version: str, python: Path) -> None:
    """Install a snapshot of the working tree (tracked and untracked, not ignored files) into the venv."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rq-conformance-") as tmp:
        for name in filter(None, listing.split("\0")):
            path = ROOT / name
            if path.is_file():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, Path(tmp) / name)
        constraints = CACHE / version / "constraints-ours.txt"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run(pip + ["-c", str(constraints), tmp])  # pip always reinstalls a local directory


def installed_version(python: Path, dist: str) -> str:
    """The installed version of a distribution in a virtualenv."""
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    # From / and isolated, so that a checkout's rq.egg-info is not taken for an installed rq.
    proc = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, cwd="/")
    return proc.stdout.strip() or "?"


# --- running a suite in a private network namespace ----------------------------------


def namespace_prefix() -> list[str]:
    """The unshare command that gives a run its own network (and pid, so nothing outlives it)."""
    if shutil.which("unshare") is None:
        raise SystemExit("conformance: unshare (util-linux) is needed")
    if shutil.which("ip") is None:
        log("installing iproute2 for `ip`")
        run(["bash", str(ROOT / "scripts" / "apt-install.sh"), "iproute2"])
    if shutil.which("redis-server") is None:
        raise SystemExit("conformance: redis-server is needed (make setup installs it)")
    prefix = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    return prefix


def run_side(version: str, side: str, python: Path, src: Path, args: argparse.Namespace, prefix: list[str]) -> SideRun:
    """Run upstream's suite with one side's virtualenv inside a fresh namespace."""
    out = CACHE / version
    xml, logfile = out / f"{side}.xml", out / f"{side}.log"
    xml.unlink(missing_ok=True)
    redis_log = out / f"redis-{side}.log" if args.keep else None
    pytest = [str(python), "-m", "pytest", "-c", str(src / "pytest.ini"), "--rootdir", str(src)]
    pytest += ["-p", "timeout", f"--timeout={args.timeout}", "-p", "no:cacheprovider", "-v"]
    pytest += ["--continue-on-collection-errors"]
    pytest += ["-o", "junit_family=xunit1", f"--junitxml={xml}", *args.pytest_args, "tests"]
    script = str(Path(__file__).resolve())
    inner = [sys.executable, script, "--inside", str(src), str(xml), str(redis_log or ""), "--", *pytest]
    result = SideRun(side)
    start = time.monotonic()
    with logfile.open("w") as handle:
        proc = subprocess.Popen(prefix + inner, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            result.returncode = proc.wait(timeout=args.time_limit)
            result.hung_at_exit = result.returncode == EXIT_HUNG
        except subprocess.TimeoutExpired:
            result.timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # --kill-child takes the namespace's processes with it
            proc.wait()
    result.seconds = time.monotonic() - start
    if xml.exists():
        result.outcomes = parse_junit(xml)
    else:
        result.source = "log"
        result.outcomes = parse_log(logfile.read_text(errors="replace"))
    return result


def inside(argv: list[str]) -> int:
    """In the namespace: bring up lo, start a private Redis on 6379, run pytest, stop Redis."""
    src, xml, redis_log = Path(argv[0]), Path(argv[1]), argv[2]
    pytest = argv[argv.index("--") + 1 :]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with tempfile.TemporaryDirectory(prefix="rq-conformance-redis-") as tmp:
        server_cmd = ["redis-server", "--port", "6379", "--save", "", "--appendonly", "no", "--dir", tmp]
        server_cmd += ["--logfile", redis_log or os.path.join(tmp, "redis.log")]
        server = subprocess.Popen(server_cmd)
        if not wait_for_redis(10.0):
            print("conformance: redis-server did not answer on localhost:6379", file=sys.stderr)
            server.kill()
            return 3
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        bindir = str(Path(pytest[0]).parent)
        path = os.pathsep.join(filter(None, [os.environ.get("RQ_CONFORMANCE_TREE", ""), str(src)]))
        env.update(PYTHONPATH=path, VIRTUAL_ENV=str(Path(bindir).parent), PATH=bindir + os.pathsep + env["PATH"])
        tests = subprocess.Popen(pytest, cwd=src, env=env, start_new_session=True)
        returncode = reap_until(tests.pid, xml, EXIT_GRACE)
        server.terminate()
        try:
            server.wait(timeout=10)
        except (subprocess.TimeoutExpired, ChildProcessError):
            server.kill()
    return returncode


def reap_until(pid: int, xml: Path, grace: float) -> int:
    """As the namespace's init, reap every child (orphans too) until ``pid`` exits; its exit code.

    Once pytest has written its junit XML it has only ``grace`` seconds left to exit; a suite
    that leaves processes behind (pytest waits for multiprocessing children at exit) is then
    killed with everything else in the namespace.
    """
    finished_at: float | None = None
    while True:
        try:
            done, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 1
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        if done:
            continue
        if finished_at is None and xml.exists():
            finished_at = time.monotonic()
        if finished_at is not None and time.monotonic() - finished_at > grace:
            print(f"conformance: pytest did not exit {grace:g}s after its session ended; killing", file=sys.stderr)
            if os.getpid() == 1:
                os.kill(-1, signal.SIGKILL)  # every process of this pid namespace but its init
            else:
                os.killpg(pid, signal.SIGKILL)
            return EXIT_HUNG
        time.sleep(0.2)


def wait_for_redis(seconds: float) -> bool:
    """Whether a Redis on localhost:6379 answers PING within the given time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", 6379), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# --- results --------------------------------------------------------------------------


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    """Test id -> (outcome, first line of the failure message) from an xunit1 junit XML file."""
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        file = case.get("file") or classname.rsplit(".", 1)[0].replace(".", "/") + ".py"
        module = file[:-3].replace("/", ".")
        cls = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        # A module that failed to import is one entry named after the module: keep it under the file.
        test_id = file if not classname and name == module else "::".join(p for p in (file, cls, name) if p)
        outcome, message = PASSED, ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = FAILED
                message = message or failure_message(child)
            elif child.tag == "skipped" and outcome == PASSED:
                outcome, message = SKIPPED, first_line(child.get("message") or "")
        if not (outcome == PASSED and outcomes.get(test_id, (PASSED,))[0] != PASSED):
            outcomes[test_id] = (outcome, message)
    return outcomes


def parse_log(text: str) -> dict[str, tuple[str, str]]:
    """Outcomes from pytest's -v lines, for a run killed before it wrote its junit XML."""
    outcomes: dict[str, tuple[str, str]] = {}
    words = {"PASSED": PASSED, "XFAIL": SKIPPED, "SKIPPED": SKIPPED, "FAILED": FAILED, "ERROR": FAILED}
    for match in re.finditer(r"^(tests/\S+::\S+) .*?\b(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", text, re.M):
        outcomes[match[1]] = (words.get(match[2], FAILED), "" if match[2] == "PASSED" else "(from the log)")
    return outcomes


def failure_message(element: ET.Element) -> str:
    """The exception line of a junit failure or error: its message, or the first ``E`` line of its text."""
    message, text = element.get("message") or "", element.text or ""
    error_line = next((line[1:].strip() for line in text.splitlines() if line.startswith("E ")), "")
    if error_line and (message in ("", "collection failure") or message.startswith("failed on ")):
        return first_line(error_line)
    return first_line(message or text or element.tag)


def first_line(text: str) -> str:
    """The first non-empty line of a message, shortened, without site-packages paths."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return re.sub(r"/\S*/site-packages/", "", line)[:200]


def module_of(test_id: str) -> str:
    """The test file of a test id."""
    return test_id.split("::", 1)[0]


def normalized(message: str) -> str:
    """A failure message with addresses and ids blanked, to group alike failures."""
    message = re.sub(r"0x[0-9a-fA-F]+", "0x…", message)
    return re.sub(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", "<id>", message)


@dataclass
class ModuleStats:
    """One test module: upstream-passing tests, how many pass here, and the commonest failure."""

    upstream: int = 0
    ours: int = 0
    rate: float = 0.0
    lost: int = 0
    top_error: str = ""


@dataclass
class Summary:
    """The comparison of one version's two runs; written as summary.json."""

    version: str
    upstream_passing: int
    ours_passing: int
    rate: float
    modules: dict[str, ModuleStats]
    runs: dict[str, dict[str, object]]
    lost: list[tuple[str, str]]
    ours_only: list[str]
    upstream_not_passing: list[tuple[str, str, str]]
    seconds: float = 0.0
    redis_py: dict[str, str] = field(default_factory=dict)
    floor: float = 0.0
    goal: float = 100.0


def compare(version: str, upstream: SideRun, ours: SideRun) -> Summary:
    """Per-module and total counts of upstream-passing tests that pass here too."""
    baseline = sorted(t for t, (outcome, _) in upstream.outcomes.items() if outcome == PASSED)
    lost: list[tuple[str, str]] = []
    modules: dict[str, ModuleStats] = {}
    errors: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for test_id in baseline:
        stats = modules.setdefault(module_of(test_id), ModuleStats())
        stats.upstream += 1
        collected = ours.outcomes.get(module_of(test_id), ("", ""))[1]
        outcome, message = ours.outcomes.get(test_id, ("missing", f"not run: {collected}" if collected else "not run"))
        if outcome == PASSED:
            stats.ours += 1
        else:
            lost.append((test_id, message or outcome))
            errors[module_of(test_id)][normalized(message or outcome)] += 1
    for name, stats in modules.items():
        stats.rate = round(100.0 * stats.ours / stats.upstream, 1)
        stats.lost = stats.upstream - stats.ours
        stats.top_error = errors[name].most_common(1)[0][0] if errors[name] else ""
    passing = len(baseline) - len(lost)
    return Summary(
        version=version,
        upstream_passing=len(baseline),
        ours_passing=passing,
        rate=round(100.0 * passing / len(baseline), 1) if baseline else 0.0,
        modules=dict(sorted(modules.items())),
        runs={run.side: side_summary(run) for run in (upstream, ours)},
        lost=lost,
        ours_only=sorted(
            t for t, (o, _) in ours.outcomes.items() if o == PASSED and upstream.outcomes.get(t, ("",))[0] != PASSED
        ),
        upstream_not_passing=sorted((t, o, m) for t, (o, m) in upstream.outcomes.items() if o == FAILED),
    )


def side_summary(result: SideRun) -> dict[str, object]:
    """Counts and timing of one run, for the JSON summary."""
    counts = collections.Counter(outcome for outcome, _ in result.outcomes.values())
    return {
        "returncode": result.returncode,
        "seconds": round(result.seconds, 1),
        "timed_out": result.timed_out,
        "hung_at_exit": result.hung_at_exit,
        "results_from": result.source,
        **{name: counts.get(name, 0) for name in (PASSED, FAILED, SKIPPED)},
    }


def report(summary: Summary) -> None:
    """Print the per-module table and the total line of one version."""
    print(f"\n== rq {summary.version}")
    for side, info in summary.runs.items():
        note = " TIMED OUT" if info["timed_out"] else ""
        note += " (did not exit after its session ended: killed)" if info["hung_at_exit"] else ""
        note += " (junit XML missing: results from the log)" if info["results_from"] == "log" else ""
        print(
            f"   {side:8} {info[PASSED]} passed, {info[FAILED]} failed or errored, {info[SKIPPED]} skipped"
            f" in {info['seconds']}s (exit {info['returncode']}){note}"
        )
    print(f"   {'module':36} {'upstream':>8} {'ours':>5} {'rate':>7} {'lost':>5}  most common failure here")
    for name, m in summary.modules.items():
        print(f"   {name:36} {m.upstream:>8} {m.ours:>5} {m.rate:>6.1f}% {m.lost:>5}  {m.top_error[:90]}")
    print(
        f"rq {summary.version}: {summary.ours_passing} of {summary.upstream_passing} upstream-passing tests "
        f"pass here ({summary.rate}%) goal {summary.goal:g}% floor {summary.floor:g}%"
    )


def write_outputs(summary: Summary) -> None:
    """The JSON summary and the failing test ids of one version, under .peer/conformance/<version>/."""
    out = CACHE / summary.version
    (out / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
    (out / "failing.txt").write_text("".join(f"{test_id}\t{message}\n" for test_id, message in summary.lost))
    lines = (f"{t}\t{o}\t{m}\n" for t, o, m in summary.upstream_not_passing)
    (out / "upstream-failing.txt").write_text("".join(lines))


# --- main -------------------------------------------------------------------------------


def load_floors() -> dict[str, dict[str, float]]:
    """Floors and goals per version from scripts/conformance/floors.json."""
    data = json.loads(FLOORS.read_text())
    return {version: values for version, values in data.items() if not version.startswith("_")}


def run_version(version: str, args: argparse.Namespace, prefix: list[str]) -> Summary:
    """Prepare and run both sides of one version, concurrently unless --serial."""
    src = fetch_tests(version)
    pythons = {side: venv_python(version, side) for side in SIDES}
    install_ours(version, pythons["ours"])
    log(f"rq {version}: running upstream's suite on upstream and on this tree")
    start = time.monotonic()
    results: dict[str, SideRun] = {}

    def one(side: str) -> None:
        results[side] = run_side(version, side, pythons[side], src, args, prefix)

    if args.serial:
        for side in SIDES:
            one(side)
    else:
        threads = [threading.Thread(target=one, args=(side,)) for side in SIDES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    summary = compare(version, results["upstream"], results["ours"])
    summary.seconds = round(time.monotonic() - start, 1)
    summary.redis_py = {side: installed_version(pythons[side], "redis") for side in SIDES}
    return summary


def run_tree(args: argparse.Namespace, prefix: list[str]) -> int:
    """Run some of upstream's tests against the working tree as it is, output to the terminal.

    For work on one module: nothing is installed or written under .peer/ except the cached
    virtualenv, so several of these can run at once, each in its own namespace.
    """
    version = (args.version or ["2.12.0"])[0]
    src = fetch_tests(version)
    python = venv_python(version, "ours")
    if installed_version(python, "rq") == "?":
        install_ours(version, python)  # for the `rq` script; the tree itself comes first on PYTHONPATH
    pytest = [str(python), "-m", "pytest", "-c", str(src / "pytest.ini"), "--rootdir", str(src)]
    pytest += ["-p", "timeout", f"--timeout={args.timeout}", "-p", "no:cacheprovider"]
    pytest += args.pytest_args or ["tests"]
    with tempfile.TemporaryDirectory(prefix="rq-conformance-tree-") as tmp:
        xml = Path(tmp) / "tree.xml"
        pytest.insert(-len(args.pytest_args or ["tests"]), f"--junitxml={xml}")
        inner = [sys.executable, str(Path(__file__).resolve()), "--inside", str(src), str(xml), "", "--", *pytest]
        env = dict(os.environ, RQ_CONFORMANCE_TREE=str(ROOT))
        return subprocess.run(prefix + inner, env=env).returncode


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; unknown options go to pytest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="append", choices=VERSIONS, help="run only this version (repeatable)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument("--keep", action="store_true", help="keep the Redis server logs next to the results")
    parser.add_argument("--serial", action="store_true", help="run upstream and ours one after the other")
    parser.add_argument("--timeout", type=int, default=60, help="per-test limit in seconds (default 60)")
    parser.add_argument(
        "--tree", action="store_true", help="run only ours, from the working tree, output to the terminal"
    )
    parser.add_argument("--time-limit", type=int, default=1500, help="per-run limit in seconds (default 1500)")
    args, rest = parser.parse_known_args(argv)
    args.pytest_args = [arg for arg in rest if arg != "--"] + (["-k", args.keyword] if args.keyword else [])
    return args


def main(argv: list[str]) -> int:
    """Run the chosen versions, print the report, and exit non-zero below a floor."""
    if argv[:1] == ["--inside"]:
        return inside(argv[1:])
    args = parse_args(argv)
    floors = load_floors()
    prefix = namespace_prefix()
    if args.tree:
        return run_tree(args, prefix)
    start, failed, summaries = time.monotonic(), [], []
    for version in args.version or VERSIONS:
        summary = run_version(version, args, prefix)
        summary.floor = floors.get(version, {}).get("floor", 0.0)
        summary.goal = floors.get(version, {}).get("goal", 100.0)
        write_outputs(summary)
        summaries.append(summary)
        log(f"rq {version} took {summary.seconds}s")
    print(f"\nupstream RQ's own suites, run on upstream and on this tree (results in {CACHE.relative_to(ROOT)}/)")
    for summary in summaries:
        report(summary)
        name = f"rq {summary.version}"
        for side in (side for side, info in summary.runs.items() if info["timed_out"]):
            failed.append(f"{name}: the {side} run hit the time limit of {args.time_limit}s")
        if not summary.upstream_passing:
            failed.append(f"{name}: no test passed on upstream itself")
        elif summary.rate < summary.floor and not args.pytest_args:
            failed.append(f"{name}: {summary.rate}% is below the floor of {summary.floor:g}%")
    print(f"\ntotal time {time.monotonic() - start:.0f}s")
    for s in summaries:
        print(f"rq {s.version}: {s.ours_passing} of {s.upstream_passing} ({s.rate}%) in {s.seconds}s")
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
