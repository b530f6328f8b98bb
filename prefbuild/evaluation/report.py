"""results.json, results.md (models side by side) and results.png (grouped bars) for `prefbuild eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _percent(value: float | None, stderr: float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.1f}"
    return f"{text} ± {100 * stderr:.1f}" if stderr is not None else text


def render_table(results: dict[str, Any]) -> str:
    """A Markdown table: one row per task (with n-shot and metric), one column per model, scores in %."""
    models = list(results["models"])
    header = "| Task | " + " | ".join(models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 1)]
    for task in results["tasks"]:
        name = task["task"] if task["label"] == task["task"] else task["label"]
        row = f"| {name} ({task['num_fewshot']}-shot, {task['metric'].split(',')[0]}) |"
        for model in models:
            entry = results["models"][model]["tasks"][task["task"]]
            row += f" {_percent(entry['value'], entry['stderr'])} |"
        lines.append(row)
    if results.get("suite"):
        row = "| **Average** |" + "".join(f" {_percent(results['models'][m]['average'])} |" for m in models)
        lines.append(row)
    limit = results.get("limit")
    notes = [f"lm-eval {results['lm_eval_version']}"]
    if limit is not None:
        notes.append(f"--limit {limit}: at most {limit} examples per task, so these are not benchmark scores")
    if results.get("data_dir"):
        notes.append(f"data from {results['data_dir']}")
    return "\n".join(lines) + "\n\nScores in % ± standard error. " + "; ".join(notes) + ".\n"


def plot_results(results: dict[str, Any], path: str | Path) -> None:
    """Grouped bars: tasks on the x axis, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results["models"])
    tasks = [task["task"] for task in results["tasks"]]
    width = 0.8 / max(len(models), 1)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.4 * len(tasks) * max(1, len(models)) ** 0.5), 4))
    for index, model in enumerate(models):
        entries = [results["models"][model]["tasks"][task] for task in tasks]
        values = [100 * (entry["value"] or 0.0) for entry in entries]
        errors = [100 * (entry["stderr"] or 0.0) for entry in entries]
        positions = [x + (index - (len(models) - 1) / 2) * width for x in range(len(tasks))]
        axis.bar(positions, values, width, yerr=errors, capsize=2, label=model)
    axis.set_xticks(range(len(tasks)))
    axis.set_xticklabels(tasks, rotation=20, ha="right")
    axis.set_ylabel("score (%)")
    axis.set_ylim(0, 100)
    axis.set_title("prefbuild eval" + (f" — {results['suite']}" if results.get("suite") else ""))
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_results(results: dict[str, Any], out: str | Path) -> Path:
    """Write OUT/results.json, OUT/results.md and OUT/results.png; returns OUT."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "results.md").write_text(render_table(results), encoding="utf-8")
    plot_results(results, out / "results.png")
    return out
