"""scripts/check_import_cycles.py: runtime import cycles of a package, and the check on rq itself."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_import_cycles.py"


def load_script():
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    script = load_script()
    package = make_package(
        tmp_path,
        {
            "a.py": "from .b import thing\n",
            "b.py": "def thing():\n    from . import a\n",
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n",
        },
    )
    modules, edges = script.edges_of(package)
    assert {"pkg", "pkg.a", "pkg.b", "pkg.c"} == modules
    assert script.cycles(modules, edges) == [["pkg.a", "pkg.b"]]


def test_type_checking_imports_and_downward_imports_are_no_cycle(tmp_path):
    script = load_script()
    package = make_package(
        tmp_path,
        {
            "low.py": "import typing\nif typing.TYPE_CHECKING:\n    from .high import High\n",
            "high.py": "from . import low\nimport pkg.sub.leaf\n",
            "sub/__init__.py": "",
            "sub/leaf.py": "from ..low import x\n",
        },
    )
    modules, edges = script.edges_of(package)
    assert ("pkg.high", "pkg.sub.leaf") in {(a, b) for a, b, _ in edges}
    assert ("pkg.sub.leaf", "pkg.low") in {(a, b) for a, b, _ in edges}
    assert script.cycles(modules, edges) == []


def test_exit_status(tmp_path):
    package = make_package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "import pkg.a\n"})
    failing = subprocess.run([sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True)
    assert failing.returncode == 1
    assert "cycle of 2: pkg.a, pkg.b" in failing.stdout
    (package / "b.py").write_text("")
    passing = subprocess.run([sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True)
    assert passing.returncode == 0, passing.stdout


def test_the_model_and_queue_modules_of_rq_are_in_no_cycle():
    script = load_script()
    modules, edges = script.edges_of(SCRIPT.parent.parent / "rq")
    in_cycles = {module for group in script.cycles(modules, edges) for module in group}
    layered = {
        "rq.layout", "rq.queue_writes", "rq.registered_classes", "rq.utils", "rq.serializers", "rq.job",
        "rq.job_lifecycle", "rq.registry", "rq.dependency", "rq.executions", "rq.results", "rq.group",
        "rq.queue", "rq.enqueue", "rq.intermediate_queue", "rq.queue_ref", "rq.health", "rq.health_checks",
        "rq.http_endpoint", "rq.metrics",
    }  # fmt: skip
    assert not in_cycles & layered


def test_an_allowed_cycle_is_reported_but_passes(tmp_path, monkeypatch, capsys):
    script = load_script()
    package = make_package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "import pkg.a\n"})
    monkeypatch.setattr(script, "ALLOWED", {frozenset({"pkg.a", "pkg.b"}): "until b stops importing a"})
    assert script.main(["check_import_cycles.py", str(package)]) == 0
    assert "allowed cycle (until b stops importing a) of 2: pkg.a, pkg.b" in capsys.readouterr().out
