"""``rq --help`` lists each command once, and click's shell completion works for bash, zsh and fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rq.cli import main
from tests.cli.support import cli_runner, rq_env

# The ``rq`` console script installed next to this interpreter (completion needs the real program name).
RQ_SCRIPT = shutil.which("rq", path=str(Path(sys.executable).parent))
needs_rq_script = pytest.mark.skipif(RQ_SCRIPT is None, reason="the rq console script is not installed")


def _listed_commands(help_text: str) -> list[str]:
    listing = help_text.split("Commands:", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line.strip()]


def test_help_lists_each_command_once() -> None:
    result = cli_runner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = _listed_commands(result.output)
    assert len(listed) == len(set(listed))
    assert "health" in listed and "worker-health" not in listed
    summaries = [line.split(None, 1)[1] for line in result.output.split("Commands:", 1)[1].splitlines() if line.strip()]
    assert len(summaries) == len(set(summaries)), "two commands with the same help text"
    visible = sorted(name for name, command in main.commands.items() if not command.hidden)
    assert listed == visible


def test_worker_health_still_works_under_its_old_name() -> None:
    result = cli_runner().invoke(main, ["worker-health", "--help"], prog_name="rq")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: rq worker-health [OPTIONS] NAME")
    assert main.commands["worker-health"].callback is main.commands["health"].callback


def _complete(shell: str, words: str, cword: str) -> str:
    assert RQ_SCRIPT is not None
    env = rq_env(_RQ_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=cword)
    result = subprocess.run([RQ_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_rq_script
@pytest.mark.parametrize(
    ("shell", "first_line"),
    [("bash", "_rq_completion() {"), ("zsh", "#compdef rq"), ("fish", "function _rq_completion;")],
)
def test_completion_scripts(shell: str, first_line: str) -> None:
    assert RQ_SCRIPT is not None
    env = rq_env(_RQ_COMPLETE=f"{shell}_source")
    result = subprocess.run([RQ_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().splitlines()[0] == first_line


@needs_rq_script
def test_completion_answers_for_each_shell() -> None:
    assert _complete("bash", "rq worker-p", "1").split() == ["plain,worker-pool"]
    assert "plain,--json" in _complete("bash", "rq info --js", "2").split()
    assert "plain\nworker-pool\n" in _complete("zsh", "rq worker-p", "1")
    fish = _complete("fish", "rq he", "he")
    assert fish.startswith("plain,health\t") and "worker-health" not in fish


@needs_rq_script
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_through_the_sourced_script() -> None:
    assert RQ_SCRIPT is not None
    script = 'eval "$(_RQ_COMPLETE=bash_source rq)"; COMP_WORDS=(rq worker-p); COMP_CWORD=1; _rq_completion rq; '
    script += 'printf "%s\\n" "${COMPREPLY[@]}"'
    env = rq_env()
    env["PATH"] = os.pathsep.join([str(Path(RQ_SCRIPT).parent), env.get("PATH", "")])
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["worker-pool"]
