"""Drop-in proof: tools RQ users already run, installed from PyPI, on top of this package.

- rq-dashboard lists our queues, workers and failed jobs, in its JSON API and in headless
  Chromium, and requeues a failed job (the browser clicks the button).
- django-rq, in a Django project generated into a temporary folder: a view enqueues, a
  worker started with ``manage.py rqworker`` runs the jobs, and the admin statistics page,
  worker and job pages show our data; requeue and stop work from the admin.
- Every name the tools import from ``rq``, and the class attributes they reach for, exist
  here. The ones that do not are marked ``xfail(strict=True)`` with the gap as the reason,
  so each flips to a failure once it is filled.

sentry-sdk's RQ integration running our workers is tested in ``test_sentry_sdk.py``.

The tools live in their own virtualenv (see ``tools_env.py``), built on first use; the
tests are skipped when it cannot be built, and the browser test when Chromium is missing.
Run with ``python -m pytest -m interop tests/interop/test_tools.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest
import redis
from packaging.requirements import Requirement

import rq
from rq import Queue
from rq.job import Job, JobStatus
from rq.results import Result
from tests import venvs
from tests.interop import django_project, tools_env
from tests.interop.peer import PeerUnavailable, describe_output
from tests.interop.processes import our_env, wait_for
from tests.interop.tools_env import BackgroundProcess, DjangoAdminClient, HttpClient, TableRows, row_for

pytestmark = [
    pytest.mark.interop,
    # The first test also builds the tools virtualenv (several pip installs).
    pytest.mark.timeout(300),
]

DRIVERS = Path(__file__).resolve().parent / "drivers"
# Seconds allowed for one driver script (a browser run, a sentry run) or manage.py command.
DRIVER_TIMEOUT = 90.0

# What each tool imports from ``rq`` (module, name), as found by test_tools_import_these_names.
TOOL_IMPORTS: dict[str, tuple[tuple[str, str], ...]] = {
    "rq-dashboard": (
        ("rq", "Queue"),
        ("rq", "VERSION"),
        ("rq", "Worker"),
        ("rq", "requeue_job"),
        ("rq.exceptions", "NoSuchJobError"),
        ("rq.job", "Job"),
        ("rq.registry", "BaseRegistry"),
        ("rq.registry", "CanceledJobRegistry"),
        ("rq.registry", "DeferredJobRegistry"),
        ("rq.registry", "FailedJobRegistry"),
        ("rq.registry", "FinishedJobRegistry"),
        ("rq.registry", "ScheduledJobRegistry"),
        ("rq.registry", "StartedJobRegistry"),
        ("rq.serializers", "DefaultSerializer"),
        ("rq.serializers", "JSONSerializer"),
        ("rq.utils", "get_call_string"),
    ),
    "django-rq": (
        ("rq", "Queue"),
        ("rq", "Worker"),
        ("rq", "requeue_job"),
        ("rq.command", "send_stop_job_command"),
        ("rq.cron", "CronJob"),
        ("rq.cron", "CronScheduler"),
        ("rq.decorators", "job"),
        ("rq.exceptions", "InvalidJobOperation"),
        ("rq.exceptions", "NoSuchJobError"),
        ("rq.executions", "Execution"),
        ("rq.job", "Job"),
        ("rq.job", "JobStatus"),
        ("rq.logutils", "setup_loghandlers"),
        ("rq.queue", "Queue"),
        ("rq.registry", "BaseRegistry"),
        ("rq.registry", "DeferredJobRegistry"),
        ("rq.registry", "FailedJobRegistry"),
        ("rq.registry", "FinishedJobRegistry"),
        ("rq.registry", "ScheduledJobRegistry"),
        ("rq.registry", "StartedJobRegistry"),
        ("rq.registry", "clean_registries"),
        ("rq.serializers", "resolve_serializer"),
        ("rq.suspension", "resume"),
        ("rq.suspension", "suspend"),
        ("rq.utils", "as_text"),
        ("rq.utils", "import_attribute"),
        ("rq.worker", "Worker"),
        ("rq.worker_pool", "WorkerPool"),
        ("rq.worker_registration", "clean_worker_registry"),
    ),
    "sentry-sdk": (
        ("rq.job", "Job"),
        ("rq.job", "JobStatus"),
        ("rq.queue", "Queue"),
        ("rq.timeouts", "JobTimeoutException"),
        ("rq.version", "VERSION"),
        ("rq.worker", "BaseWorker"),
        ("rq.worker", "Worker"),
    ),
}
# Class attributes the tools call or read (module, dotted attribute), beyond the imports.
TOOL_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "rq-dashboard": (
        ("rq.queue", "Queue.all"),
        ("rq.queue", "Queue.count"),
        ("rq.queue", "Queue.fetch_job"),
        ("rq.queue", "Queue.get_job_ids"),
        ("rq.queue", "Queue.empty"),
        ("rq.queue", "Queue.compact"),
        ("rq.queue", "Queue.failed_job_registry"),
        ("rq.queue", "Queue.__lt__"),
        ("rq.registry", "BaseRegistry.get_job_count"),
        ("rq.registry", "BaseRegistry.get_job_ids"),
        ("rq.registry", "BaseRegistry.remove"),
        ("rq.job", "Job.fetch"),
        ("rq.job", "Job.latest_result"),
        ("rq.job", "Job.return_value"),
        ("rq.job", "Job.get_meta"),
        ("rq.job", "Job.get_status"),
        ("rq.job", "Job.dependency_ids"),
        ("rq.job", "Job.delete"),
        ("rq.job", "Job.get_call_string"),
        ("rq.worker", "Worker.all"),
        ("rq.worker", "Worker.get_state"),
        ("rq.worker", "Worker.get_current_job"),
    ),
    "django-rq": (
        ("rq.queue", "Queue.enqueue_call"),
        ("rq.queue", "Queue.enqueue_job"),
        ("rq.queue", "Queue._enqueue_job"),
        ("rq.queue", "Queue.get_jobs"),
        ("rq.queue", "Queue.scheduler_pid"),
        ("rq.queue", "Queue.started_job_registry"),
        ("rq.queue", "Queue.finished_job_registry"),
        ("rq.queue", "Queue.deferred_job_registry"),
        ("rq.queue", "Queue.scheduled_job_registry"),
        ("rq.registry", "BaseRegistry.count"),
        ("rq.registry", "StartedJobRegistry.get_job_and_execution_ids"),
        ("rq.registry", "ScheduledJobRegistry.get_scheduled_time"),
        ("rq.job", "Job.fetch_many"),
        ("rq.job", "Job.results"),
        ("rq.job", "Job.dependent_ids"),
        ("rq.job", "Job.exc_info"),
        ("rq.job", "Job.is_failed"),
        ("rq.worker", "Worker.count"),
        ("rq.worker", "Worker.find_by_key"),
        ("rq.worker", "Worker.queue_names"),
        ("rq.executions", "Execution.fetch"),
        ("rq.worker_pool", "WorkerPool.start"),
        ("rq.cron", "CronScheduler.register"),
        ("rq.cron", "CronScheduler.get_jobs"),
        ("rq.cron", "CronScheduler.all"),
        ("rq.cron", "CronScheduler.load_config_from_file"),
        ("rq.cron", "CronScheduler.start"),
        ("rq.cron", "CronJob.get_job_ids"),
    ),
    "sentry-sdk": (
        ("rq.worker", "BaseWorker.perform_job"),
        ("rq.worker", "BaseWorker.handle_exception"),
        ("rq.queue", "Queue.enqueue_job"),
        ("rq.job", "Job.is_failed"),
        ("rq.job", "Job.func_name"),
    ),
}
# Names a tool uses that this package lacks ("module" or "module:name" -> reason); each is a strict xfail.
KNOWN_GAPS: dict[str, str] = {}
TOOL_PACKAGES = {"rq-dashboard": "rq_dashboard", "django-rq": "django_rq", "sentry-sdk": "sentry_sdk"}


def _gap_params(table: dict[str, tuple[tuple[str, str], ...]]) -> list[Any]:
    params = []
    for tool, entries in table.items():
        for module, name in entries:
            reason = KNOWN_GAPS.get(f"{module}:{name}") or KNOWN_GAPS.get(module)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(module, name, id=f"{tool}:{module}:{name}", marks=marks))
    return params


@pytest.fixture(scope="session")
def tools() -> Path:
    """The tools virtualenv's python; skips the test (fails it under CI) when it cannot be built."""
    try:
        return tools_env.ensure_tools()
    except PeerUnavailable as exc:
        venvs.unavailable(f"the tools virtualenv is not available: {exc}")


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    found = tools_env.find_chromium()
    if found is None:
        pytest.skip(
            "Chromium is not installed (Debian: apt-get install -y chromium chromium-driver; "
            f"or set {tools_env.CHROMIUM_ENV} and {tools_env.CHROMEDRIVER_ENV})"
        )
    return found


@pytest.fixture
def background() -> Iterator[list[BackgroundProcess]]:
    """Every background process a test starts; all stopped (process group and all) at teardown."""
    started: list[BackgroundProcess] = []
    yield started
    for process in reversed(started):
        process.stop()


@pytest.fixture
def start_background(background: list[BackgroundProcess], tmp_path: Path) -> Callable[..., BackgroundProcess]:
    """``start_background(what, args, cwd=tmp_path, env=None)``: a process stopped at teardown."""

    def start(what: str, args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None):
        log_path = tmp_path / f"{what.replace(' ', '-')}.log"
        process = BackgroundProcess(args, cwd or tmp_path, env or tools_env.tools_env(), log_path, what)
        background.append(process)
        return process

    return start


def wait_for_worker(connection: redis.Redis, name: str, process: BackgroundProcess) -> None:
    """The worker has registered and is idle."""

    def idle() -> bool:
        process.check_running()
        return connection.hget(f"rq:worker:{name}", "state") == b"idle"

    wait_for(idle, f"worker {name} to register", details=process.output)


def wait_for_status(connection: redis.Redis, job_id: str, status: JobStatus, *processes: BackgroundProcess) -> Job:
    def reached() -> Job | None:
        job = Job.fetch(job_id, connection=connection)
        return job if job.get_status() == status else None

    return wait_for(
        reached, f"job {job_id} to be {status.value}", details=lambda: "\n".join(p.output() for p in processes)
    )


def start_our_worker(
    start_background: Callable[..., BackgroundProcess], connection: redis.Redis, redis_url: str, name: str, queue: str
) -> BackgroundProcess:
    """Our forking ``Worker`` in a fresh interpreter of this environment."""
    script = (
        "import sys, redis\nfrom rq import Worker\n"
        "Worker([sys.argv[2]], connection=redis.Redis.from_url(sys.argv[1]), name=sys.argv[3]).work()\n"
    )
    process = start_background(f"our worker {name}", [sys.executable, "-c", script, redis_url, queue, name],
                               env=our_env())  # fmt: skip
    wait_for_worker(connection, name, process)
    return process


def kill_leftover_browsers(profile_dir: Path) -> None:
    """Kill (by pid) any browser process still using ``profile_dir`` after its driver ended."""
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(str(profile_dir) in part for part in process.info["cmdline"] or ()):
            try:
                process.kill()
            except psutil.Error:
                pass


def last_json_line(proc: subprocess.CompletedProcess[str]) -> Any:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON output\n{describe_output(proc.stdout, proc.stderr)}"
    return json.loads(lines[-1])


def test_pip_check_is_happy(tools: Path, tmp_path: Path) -> None:
    proc = tools_env.run_tools(["-m", "pip", "check", "--disable-pip-version-check"], cwd=tmp_path)
    assert proc.returncode == 0, describe_output(proc.stdout, proc.stderr)
    assert "No broken requirements found." in proc.stdout


def test_installing_the_tools_keeps_our_rq(tools: Path, tmp_path: Path) -> None:
    """A full ``pip install`` of each tool would not replace our rq, and our version meets their ranges."""
    report = json.loads((tools_env.tools_dir() / tools_env.RESOLUTION_REPORT).read_text())
    to_install = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    assert "rq" not in to_install, f"pip would install rq {to_install['rq']} over this package"

    snippet = (
        "import json, rq\nfrom importlib import metadata\n"
        "print(json.dumps({'rq': [rq.VERSION, metadata.version('rq'), rq.__file__], 'requires': "
        "{name: metadata.requires(name) or [] for name in ('rq-dashboard', 'django-rq', 'sentry-sdk')}}))\n"
    )
    found = last_json_line(tools_env.check_run(tools_env.run_tools(["-c", snippet], cwd=tmp_path), "metadata probe"))
    version, distribution_version, location = found["rq"]
    assert version == rq.VERSION
    # pip checks the tools' ranges against the installed distribution: its version is rq.VERSION too
    # (an older one means the editable install predates the last version change: reinstall it).
    assert distribution_version == rq.VERSION, (distribution_version, rq.VERSION)
    assert rq.version.BUILD.startswith(rq.VERSION)
    assert Path(location).resolve().is_relative_to(Path(rq.__file__).resolve().parents[1])
    ranges = {}
    for tool, requires in found["requires"].items():
        for requirement in map(Requirement, requires):
            if requirement.name == "rq":
                ranges.setdefault(tool, []).append(str(requirement))
                environment = {"extra": "rq"} if requirement.marker else None
                if requirement.marker is None or requirement.marker.evaluate(environment):
                    assert requirement.specifier.contains(rq.VERSION, prereleases=True), (tool, str(requirement))
    # sentry-sdk 3 dropped its ``rq`` extra: its range is checked above only where it declares one.
    assert set(ranges) - {"sentry-sdk"} == {"rq-dashboard", "django-rq"}, ranges


def test_tools_import_these_names(tools: Path, tmp_path: Path) -> None:
    """The installed tools import exactly the names listed in TOOL_IMPORTS (keeps the list honest)."""
    snippet = """\
import ast, json, pathlib, importlib.util
found = {}
for tool, package in %r.items():
    root = pathlib.Path(importlib.util.find_spec(package).origin).parent
    files = [root / "integrations" / "rq.py"] if package == "sentry_sdk" else sorted(root.rglob("*.py"))
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "rq" or node.module.startswith("rq."):
                    names.update((node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update((a.name, "") for a in node.names if a.name == "rq" or a.name.startswith("rq."))
    found[tool] = sorted(names)
print(json.dumps(found))
""" % (TOOL_PACKAGES,)
    found = last_json_line(tools_env.check_run(tools_env.run_tools(["-c", snippet], cwd=tmp_path), "import scan"))
    assert {tool: [tuple(pair) for pair in pairs] for tool, pairs in found.items()} == {
        tool: sorted(pairs) for tool, pairs in TOOL_IMPORTS.items()
    }


@pytest.mark.parametrize(("module", "name"), _gap_params(TOOL_IMPORTS))
def test_name_imported_by_a_tool_exists(module: str, name: str) -> None:
    assert hasattr(import_module(module), name)


@pytest.mark.parametrize(("module", "attribute"), _gap_params(TOOL_ATTRIBUTES))
def test_attribute_used_by_a_tool_exists(module: str, attribute: str) -> None:
    target: Any = import_module(module)
    for part in attribute.split("."):
        assert hasattr(target, part), f"{module}.{attribute}: no {part!r} on {target!r}"
        target = getattr(target, part)


DASHBOARD_WORKER = "dashboard-worker"
REQUEUED_JOB = "dash-requeued"
ALWAYS_FAILS_JOB = "dash-always-fails"
# The dashboard's pages render their tables on load and then every this many milliseconds;
# long enough that a table is not redrawn under the browser while it reads or clicks.
DASHBOARD_POLL_INTERVAL_MS = 60_000


@pytest.fixture
def dashboard(tools: Path, redis_url: str, start_background: Callable[..., BackgroundProcess]) -> str:
    """rq-dashboard serving ``redis_url`` on a free port; returns its base URL."""
    port = tools_env.free_port()
    server = start_background(
        "rq-dashboard",
        [str(tools), "-m", "rq_dashboard", "--redis-url", redis_url, "--bind", "127.0.0.1", "--port", str(port),
         "--poll-interval", str(DASHBOARD_POLL_INTERVAL_MS)],
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    tools_env.wait_for_http(f"{base_url}/0/data/queues.json", server)
    return base_url


def populate_dashboard_data(
    connection: redis.Redis, redis_url: str, start_background: Callable[..., BackgroundProcess]
) -> BackgroundProcess:
    """Queue 'emails' with our worker (1 finished, 2 failed) and queue 'reports' with no worker."""
    worker = start_our_worker(start_background, connection, redis_url, DASHBOARD_WORKER, "emails")
    emails = Queue("emails", connection=connection)
    emails.enqueue("interop_jobs.add", 1, 2, job_id="dash-finished")
    # Fails on its first run only, so a requeue from the dashboard ends with a finished job.
    emails.enqueue("interop_jobs.fail_first_attempts", "dash-attempts", job_id=REQUEUED_JOB)
    emails.enqueue("interop_jobs.fail", "always", job_id=ALWAYS_FAILS_JOB)
    reports = Queue("reports", connection=connection)
    queued = reports.enqueue("interop_jobs.add", 3, 4, job_id="dash-queued")
    reports.enqueue_in(timedelta(hours=1), "interop_jobs.add", 5, 6, job_id="dash-scheduled")
    reports.enqueue("interop_jobs.add", 7, 8, job_id="dash-deferred", depends_on=queued)
    wait_for_status(connection, "dash-finished", JobStatus.FINISHED, worker)
    wait_for_status(connection, REQUEUED_JOB, JobStatus.FAILED, worker)
    wait_for_status(connection, ALWAYS_FAILS_JOB, JobStatus.FAILED, worker)
    wait_for_worker(connection, DASHBOARD_WORKER, worker)
    return worker


def test_dashboard_api_lists_our_queues_workers_and_failed_jobs(
    dashboard: str, connection: redis.Redis, redis_url: str, start_background: Callable[..., BackgroundProcess]
) -> None:
    worker = populate_dashboard_data(connection, redis_url, start_background)
    client = HttpClient(dashboard)

    queues = {queue.pop("name"): queue for queue in client.get_json("/0/data/queues.json")["queues"]}
    counts = {
        name: {key: value for key, value in queue.items() if not key.endswith("_url")} for name, queue in queues.items()
    }
    empty = {f"{registry}_job_registry_count": 0 for registry in ("started", "deferred", "scheduled", "canceled")}
    assert counts == {
        "emails": {**empty, "count": 0, "finished_job_registry_count": 1, "failed_job_registry_count": 2},
        "reports": {
            **empty, "count": 1, "deferred_job_registry_count": 1, "scheduled_job_registry_count": 1,
            "finished_job_registry_count": 0, "failed_job_registry_count": 0,
        },
    }  # fmt: skip

    def worker_listed() -> dict | None:
        workers = client.get_json("/0/data/workers.json")["workers"]
        return workers[0] if len(workers) == 1 and workers[0]["failed_job_count"] == 2 else None

    listed = wait_for(worker_listed, "the worker's counters in workers.json", details=worker.output)
    assert listed["name"] == DASHBOARD_WORKER
    assert listed["pid"] == worker.pid
    assert (listed["queues"], listed["state"], listed["current_job"]) == (["emails"], "idle", "idle")
    assert (listed["successful_job_count"], listed["failed_job_count"]) == (1, 2)
    assert listed["version"] == rq.VERSION
    assert listed["python_version"] == sys.version

    failed = client.get_json("/0/data/jobs/emails/failed/8/asc/1.json")
    failed_jobs = {job["id"]: job for job in failed["jobs"]}
    assert sorted(failed_jobs) == sorted([REQUEUED_JOB, ALWAYS_FAILS_JOB])
    assert "InteropError: attempt 1 fails on purpose" in failed_jobs[REQUEUED_JOB]["exc_info"]
    assert failed["pagination"]["num_pages"] == 1
    assert [job["id"] for job in client.get_json("/0/data/jobs/reports/queued/8/asc/1.json")["jobs"]] == ["dash-queued"]

    detail = client.get_json(f"/0/data/job/{ALWAYS_FAILS_JOB}.json")
    assert (detail["status"], detail["origin"], detail["description"]) == (
        "failed", "emails", "interop_jobs.fail('always')",
    )  # fmt: skip
    assert detail["exc_info"].rstrip().endswith("InteropError: always")
    assert json.loads(detail["metadata"]) == {}

    page = client.get("/0/view/queues")
    assert f"Python RQ</a><span> version: {rq.VERSION}" in page

    assert json.loads(client.post(f"/job/{REQUEUED_JOB}/requeue")) == {"status": "OK"}
    requeued = wait_for_status(connection, REQUEUED_JOB, JobStatus.FINISHED, worker)
    assert [result.type for result in requeued.results()] == [Result.Type.SUCCESSFUL, Result.Type.FAILED]

    assert json.loads(client.post("/requeue/emails")) == {"status": "OK", "count": 1}
    wait_for(
        lambda: len(Job.fetch(ALWAYS_FAILS_JOB, connection=connection).results()) == 2,
        "the requeued job to fail a second time",
        details=worker.output,
    )
    wait_for_status(connection, ALWAYS_FAILS_JOB, JobStatus.FAILED, worker)

    assert json.loads(client.post("/job/dash-finished/delete")) == {"status": "OK"}
    assert not Job.exists("dash-finished", connection=connection)
    assert json.loads(client.post("/queue/reports/compact")) == {"status": "OK"}
    assert json.loads(client.post("/queue/reports/queued/empty")) == {"status": "OK"}
    assert Queue("reports", connection=connection).count == 0
    assert not Job.exists("dash-queued", connection=connection)


def test_dashboard_in_a_browser(
    dashboard: str,
    chromium: tuple[str, str],
    connection: redis.Redis,
    redis_url: str,
    start_background: Callable[..., BackgroundProcess],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    worker = populate_dashboard_data(connection, redis_url, start_background)
    browser, driver = chromium
    profile_dir = tmp_path / "chromium-profile"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    config = {
        "base_url": dashboard,
        "chromium": browser,
        "chromedriver": driver,
        "profile_dir": str(profile_dir),
        "artifacts_dir": str(artifacts),
        "queue": "emails",
        "job_id": REQUEUED_JOB,
        "worker": DASHBOARD_WORKER,
        "queues": ["emails", "reports"],
    }
    try:
        proc = tools_env.run_driver(
            [str(tools_env.tools_python()), str(DRIVERS / "dashboard_browser.py"), json.dumps(config)],
            tools_env.tools_env(),
            tmp_path,
            "the browser driving rq-dashboard",
            DRIVER_TIMEOUT,
        )
    finally:
        kill_leftover_browsers(profile_dir)
    seen = last_json_line(proc)

    with capsys.disabled():
        for path in seen["screenshots"]:
            print(f"\nrq-dashboard screenshot: {path}")
    for path in map(Path, seen["screenshots"]):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path

    # Columns: name, queued, deferred, scheduled, started, finished, failed, canceled.
    assert row_for(seen["queues"], "emails") == ["emails", "0", "0", "0", "0", "1", "2", "0"]
    assert row_for(seen["queues"], "reports") == ["reports", "1", "1", "1", "0", "0", "0", "0"]
    [worker_row] = seen["workers"]
    assert worker_row[0] == DASHBOARD_WORKER
    assert "idle" in worker_row and "emails" in worker_row
    assert seen["failed_row"]["description"] == "interop_jobs.fail_first_attempts('dash-attempts')"
    assert "InteropError: attempt 1 fails on purpose" in seen["failed_row"]["exc_info"]
    assert seen["requeued"] is True
    assert REQUEUED_JOB in seen["finished_ids"]
    job = wait_for_status(connection, REQUEUED_JOB, JobStatus.FINISHED, worker)
    assert job.return_value() == 2


DJANGO_WORKER = "django-rq-worker"
JOB_QUEUE_INDEX = list(django_project.QUEUES).index(django_project.JOB_QUEUE)


def manage(site: Path, *args: str, redis_url: str = "", timeout: float = DRIVER_TIMEOUT):
    env = tools_env.tools_env({django_project.REDIS_URL_VAR: redis_url} if redis_url else {})
    env["DJANGO_SUPERUSER_PASSWORD"] = django_project.ADMIN_PASSWORD
    return tools_env.run_tools(["manage.py", *args], cwd=site, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def django_site(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated project, with the rq.cron stand-in, migrated and with an admin user."""
    site = django_project.write_project(tmp_path_factory.mktemp("django-site"), cron_standin=True)
    tools_env.check_run(manage(site, "migrate", "--noinput", "-v", "0"), "manage.py migrate")
    tools_env.check_run(
        manage(site, "createsuperuser", "--noinput", "--username", django_project.ADMIN_USER,
               "--email", django_project.ADMIN_EMAIL),
        "manage.py createsuperuser",
    )  # fmt: skip
    return site


@pytest.fixture
def django_admin(
    django_site: Path, redis_url: str, start_background: Callable[..., BackgroundProcess]
) -> DjangoAdminClient:
    """``manage.py runserver`` for the project on a free port, and a client logged in as admin."""
    port = tools_env.free_port()
    server = start_background(
        "django runserver",
        [str(tools_env.tools_python()), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=django_site,
        env=tools_env.tools_env({django_project.REDIS_URL_VAR: redis_url}),
    )
    base_url = f"http://127.0.0.1:{port}"
    tools_env.wait_for_http(f"{base_url}/admin/login/", server)
    client = DjangoAdminClient(base_url)
    client.login(django_project.ADMIN_USER, django_project.ADMIN_PASSWORD)
    return client


def start_rqworker(
    django_site: Path, redis_url: str, connection: redis.Redis, start_background: Callable[..., BackgroundProcess]
) -> BackgroundProcess:
    """``manage.py rqworker --with-scheduler`` on both queues of the project."""
    worker = start_background(
        "manage.py rqworker",
        [str(tools_env.tools_python()), "manage.py", "rqworker", *django_project.QUEUES, "--name", DJANGO_WORKER,
         "--with-scheduler"],
        cwd=django_site,
        env=tools_env.tools_env({django_project.REDIS_URL_VAR: redis_url}),
    )  # fmt: skip
    wait_for_worker(connection, DJANGO_WORKER, worker)
    return worker


def test_django_rq_as_released_starts(tools: Path, tmp_path: Path, redis_url: str, connection: redis.Redis) -> None:
    """Without the stand-in: the project passes ``manage.py check`` and ``rqworker --burst`` runs a job."""
    site = django_project.write_project(tmp_path / "site", cron_standin=False)
    tools_env.check_run(manage(site, "check", redis_url=redis_url), "manage.py check")
    Queue(django_project.JOB_QUEUE, connection=connection).enqueue("interop_jobs.add", 1, 1, job_id="as-released")
    tools_env.check_run(
        manage(site, "rqworker", django_project.JOB_QUEUE, "--burst", redis_url=redis_url), "manage.py rqworker"
    )
    assert Job.fetch("as-released", connection=connection).return_value() == 2


def test_django_rq_view_enqueues_rqworker_runs_admin_shows_statistics(
    django_site: Path,
    django_admin: DjangoAdminClient,
    redis_url: str,
    connection: redis.Redis,
    start_background: Callable[..., BackgroundProcess],
) -> None:
    enqueued = json.loads(django_admin.get("/enqueue/"))
    assert enqueued == {"failing": django_project.FAILING_JOB_ID, "decorated": django_project.DECORATED_JOB_ID}
    decorated = Job.fetch(django_project.DECORATED_JOB_ID, connection=connection)
    assert decorated.result_ttl == django_project.QUEUE_RESULT_TTL  # set by django-rq's Queue subclass
    assert decorated.func_name == f"{django_project.PACKAGE}.tasks.multiply"

    worker = start_rqworker(django_site, redis_url, connection, start_background)
    assert wait_for_status(connection, django_project.DECORATED_JOB_ID, JobStatus.FINISHED, worker).return_value() == 42
    failing = wait_for_status(connection, django_project.FAILING_JOB_ID, JobStatus.FAILED, worker)
    assert failing.exc_info.rstrip().endswith(f"InteropError: {django_project.FAILURE_MESSAGE}")

    def statistics() -> dict | None:
        queues = {queue["name"]: queue for queue in django_admin.get_json("/django-rq/stats.json")["queues"]}
        ready = queues["emails"]["failed_jobs"] == 1 and queues["emails"]["scheduler_pid"] is not None
        return queues if ready else None

    queues = wait_for(statistics, "django-rq statistics with our worker's scheduler", details=worker.output)
    scheduler_pid = queues["emails"]["scheduler_pid"]
    assert isinstance(scheduler_pid, int) and psutil.pid_exists(scheduler_pid)
    counts = ("jobs", "started_jobs", "deferred_jobs", "finished_jobs", "failed_jobs", "scheduled_jobs", "workers")
    assert {key: queues["emails"][key] for key in counts} == dict(zip(counts, (0, 0, 0, 1, 1, 0, 1)))
    assert {key: queues["default"][key] for key in counts} == dict(zip(counts, (0, 0, 0, 0, 0, 0, 1)))

    # The statistics page of the admin: name, queued, active, deferred, finished, failed, scheduled,
    # workers, scheduler pid.
    rows = TableRows.parse(django_admin.get("/admin/django_rq/dashboard/"))
    assert row_for(rows, "emails") == ["emails", "0", "0", "0", "1", "1", "0", "1", str(scheduler_pid)]
    assert row_for(rows, "default") == ["default", "0", "0", "0", "0", "0", "0", "1", str(scheduler_pid)]

    workers = TableRows.parse(django_admin.get(f"/django-rq/workers/{JOB_QUEUE_INDEX}/"))
    assert row_for(workers, DJANGO_WORKER)[1] == "idle"
    details = django_admin.get(f"/django-rq/workers/{JOB_QUEUE_INDEX}/rq:worker:{DJANGO_WORKER}/")
    assert "Successful job count" in details and f"{worker.pid}" in details

    failed_page = django_admin.get(f"/django-rq/queues/{JOB_QUEUE_INDEX}/failed/")
    assert django_project.FAILING_JOB_ID in failed_page
    job_page = django_admin.get(f"/django-rq/queues/{JOB_QUEUE_INDEX}/{django_project.FAILING_JOB_ID}/")
    assert "interop_jobs.fail" in job_page and "FAILED" in job_page
    [result] = failing.results()
    result_page = django_admin.get(
        f"/django-rq/queues/{JOB_QUEUE_INDEX}/{django_project.FAILING_JOB_ID}/results/{result.id}/"
    )
    assert f"InteropError: {django_project.FAILURE_MESSAGE}" in result_page


def test_django_rq_admin_requeues_and_stops_jobs(
    django_site: Path,
    django_admin: DjangoAdminClient,
    redis_url: str,
    connection: redis.Redis,
    start_background: Callable[..., BackgroundProcess],
) -> None:
    queue = Queue(django_project.JOB_QUEUE, connection=connection)
    queue.enqueue("interop_jobs.fail_first_attempts", "django-attempts", job_id="django-requeued")
    worker = start_rqworker(django_site, redis_url, connection, start_background)
    wait_for_status(connection, "django-requeued", JobStatus.FAILED, worker)

    page = django_admin.post(f"/django-rq/queues/{JOB_QUEUE_INDEX}/django-requeued/requeue/")
    assert "You have successfully requeued django-requeued" in page
    assert wait_for_status(connection, "django-requeued", JobStatus.FINISHED, worker).return_value() == 2

    queue.enqueue("interop_jobs.block_until", "never-set", 60, job_id="django-stopped")
    wait_for_status(connection, "django-stopped", JobStatus.STARTED, worker)
    started = TableRows.parse(django_admin.get(f"/django-rq/queues/{JOB_QUEUE_INDEX}/started/"))
    assert any("interop_jobs.block_until" in row for row in started), started
    page = django_admin.post(f"/django-rq/queues/{JOB_QUEUE_INDEX}/django-stopped/stop/")
    assert "You have successfully stopped django-stopped" in page
    wait_for_status(connection, "django-stopped", JobStatus.STOPPED, worker)
    wait_for_worker(connection, DJANGO_WORKER, worker)


def test_django_rq_enqueues_a_deferred_job(django_admin: DjangoAdminClient, connection: redis.Redis) -> None:
    """The admin's 'Enqueue' button on a deferred job queues it whatever its dependencies."""
    dependency = Queue("default", connection=connection).enqueue("interop_jobs.add", 1, 1)
    queue = Queue(django_project.JOB_QUEUE, connection=connection)
    queue.enqueue("interop_jobs.add", 2, 2, job_id="django-deferred", depends_on=dependency)
    assert Job.fetch("django-deferred", connection=connection).get_status() == JobStatus.DEFERRED

    page = django_admin.post(f"/django-rq/queues/{JOB_QUEUE_INDEX}/django-deferred/enqueue/")
    assert "You have successfully enqueued django-deferred" in page
    assert queue.job_ids == ["django-deferred"]
    assert Job.fetch("django-deferred", connection=connection).get_status() == JobStatus.QUEUED
