"""Turn benchmark medians into the printed table, the JSON file and the chart."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

# Label used for rows whose runs all failed.
MISSING = "error"


@dataclass(frozen=True)
class Row:
    """One line of the table: a metric of a workload, compared ours / upstream."""

    label: str
    workload: str
    metric: str
    unit: str
    higher_is_better: bool
    # Required ratio ours/upstream (at least it when higher is better, at most otherwise).
    target: Optional[float] = None


@dataclass
class RowResult:
    row: Row
    ours: Optional[float]
    upstream: Optional[float]
    commands: tuple[Optional[float], Optional[float]] = (None, None)
    round_trips: tuple[Optional[float], Optional[float]] = (None, None)
    reads: tuple[Optional[float], Optional[float]] = (None, None)
    # Set for rows checked against an absolute limit instead of a ratio.
    absolute_limit: Optional[float] = None

    @property
    def ratio(self) -> Optional[float]:
        if self.ours is None or self.upstream is None or self.upstream == 0:
            return None
        return self.ours / self.upstream

    @property
    def target_text(self) -> str:
        if self.absolute_limit is not None:
            return f"<= {self.absolute_limit:g}"
        if self.row.target is None:
            return ""
        return f"{'>=' if self.row.higher_is_better else '<='} {self.row.target:g}x"

    @property
    def verdict(self) -> str:
        if self.absolute_limit is not None:
            if self.ours is None:
                return "FAIL"
            return "PASS" if self.ours <= self.absolute_limit else "FAIL"
        if self.row.target is None:
            return ""
        ratio = self.ratio
        if ratio is None:
            return "FAIL"
        passed = ratio >= self.row.target if self.row.higher_is_better else ratio <= self.row.target
        return "PASS" if passed else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.row.label,
            "workload": self.row.workload,
            "metric": self.row.metric,
            "unit": self.row.unit,
            "higher_is_better": self.row.higher_is_better,
            "ours": self.ours,
            "upstream": self.upstream,
            "ratio": self.ratio,
            "target": self.target_text or None,
            "verdict": self.verdict or None,
            "commands_per_job": {"ours": self.commands[0], "upstream": self.commands[1]},
            "round_trips_per_job": {"ours": self.round_trips[0], "upstream": self.round_trips[1]},
            "reads_per_job": {"ours": self.reads[0], "upstream": self.reads[1]},
        }


def fmt(value: Optional[float]) -> str:
    if value is None:
        return MISSING
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _pair(values: tuple[Optional[float], Optional[float]]) -> str:
    if values == (None, None):
        return ""
    return f"{fmt(values[0])} / {fmt(values[1])}"


def render_table(results: list[RowResult]) -> str:
    header = [
        "workload",
        "unit",
        "ours",
        "upstream",
        "ours/up",
        "target",
        "result",
        "cmds/job o/u",
        "RT/job o/u",
        "reads/job o/u",
    ]
    lines = [header]
    for result in results:
        ratio = result.ratio
        lines.append(
            [
                result.row.label,
                result.row.unit,
                fmt(result.ours),
                fmt(result.upstream),
                "" if ratio is None else f"{ratio:.2f}x",
                result.target_text,
                result.verdict,
                _pair(result.commands),
                _pair(result.round_trips),
                _pair(result.reads),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 3, 4}
    out = []
    for index, line in enumerate(lines):
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(line)]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def render_change(current: list[RowResult], previous: Optional[dict[str, Any]], config: dict[str, Any]) -> str:
    """Our side now against our side in the previous run, one line per row."""
    if previous is None:
        return "No previous run to compare with."
    before = {row["label"]: row for row in previous.get("rows", [])}
    lines = [f"Our side against the previous run ({previous.get('timestamp', 'unknown time')}):"]
    old_config = previous.get("config", {})
    if any(old_config.get(key) != config.get(key) for key in ("jobs", "rounds", "quick")):
        lines.append(
            f"  note: the previous run used jobs={old_config.get('jobs')} rounds={old_config.get('rounds')}"
            f" quick={old_config.get('quick')}; sizes differ, so rates are not strictly comparable"
        )
    for result in current:
        old = before.get(result.row.label)
        if old is None or old.get("ours") is None or result.ours is None or not old["ours"]:
            continue
        change = (result.ours / old["ours"] - 1) * 100
        better = (change > 0) == result.row.higher_is_better
        mark = "better" if better and abs(change) >= 1 else "worse" if abs(change) >= 1 else "same"
        lines.append(
            f"  {result.row.label:<28} {fmt(old['ours']):>10} -> {fmt(result.ours):>10} {result.row.unit:<9}"
            f" {change:+6.1f}%  {mark}"
        )
    return "\n".join(lines)


def rotate_and_write(directory: Path, payload: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Move ``latest.json`` to ``previous.json``, write the new one; return the previous run."""
    directory.mkdir(parents=True, exist_ok=True)
    latest, previous_path = directory / "latest.json", directory / "previous.json"
    previous = None
    if latest.exists():
        try:
            previous = json.loads(latest.read_text())
        except (OSError, ValueError):
            previous = None
        shutil.move(str(latest), str(previous_path))
    latest.write_text(json.dumps(payload, indent=1, sort_keys=False, default=_json_default) + "\n")
    return previous


def _json_default(value: Any) -> Any:
    return str(value)


def write_chart(results: list[RowResult], path: Path) -> str:
    """Bar chart of the ratios ours/upstream with a line at 1.0; returns a note for the log."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -r bench/requirements.txt): chart skipped"
    plotted = [result for result in results if result.ratio is not None]
    if not plotted:
        return "no ratios to plot: chart skipped"
    colours = {"PASS": "#2e7d32", "FAIL": "#c62828", "": "#78909c"}
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    positions = range(len(plotted))
    axes.bar(
        positions,
        [result.ratio for result in plotted],
        color=[colours[result.verdict] for result in plotted],
    )
    for position, result in zip(positions, plotted):
        if result.row.target is not None:
            axes.hlines(result.row.target, position - 0.4, position + 0.4, colors="black", linestyles="dashed")
        axes.annotate(f"{result.ratio:.2f}", (position, result.ratio), ha="center", va="bottom", fontsize=8)
    axes.axhline(1.0, color="black", linewidth=1)
    labels = [f"{result.row.label}\n({'higher' if result.row.higher_is_better else 'lower'} is better)"
              for result in plotted]  # fmt: skip
    axes.set_xticks(list(positions))
    axes.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
    axes.set_ylabel("ours / upstream")
    axes.set_title("rq vs upstream RQ 2.12.0 (dashed: target; green pass, red fail)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return f"chart written to {path}"
