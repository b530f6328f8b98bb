"""What a `prefbuild train` run keeps besides the model: its log history, final metrics and training curves.

With `report_to: none` the Trainer's log history (loss, `logps/chosen`, `dpop/penalty` at every logging step) only
lives in memory, so `save_training_history` writes it to `output_dir` the way TRL's and alignment-handbook's
scripts do:

- `trainer_state.json` (`Trainer.save_state`): the whole `log_history`, one entry per logging or evaluation step;
- `train_results.json`, `eval_results.json`, `all_results.json` (`Trainer.save_metrics`): the final metrics;
- `training_curves.png`: loss, `logps/chosen` against the reference's (`logps/ref_chosen`) and `dpop/penalty`
  over steps, train and eval.

A run resumed with `--resume_from_checkpoint` starts from the checkpoint's `trainer_state.json`, so its history, and
its curves, continue the interrupted run's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CURVES_FILE = "training_curves.png"

# (title, y label, [(metric in log_history, legend label, train line style)]); eval entries carry the same names
# with an `eval_` prefix and are drawn dotted with markers in the same colour.
PANELS = [
    ("Loss", "loss", [("loss", "loss", "-")]),
    (
        "Chosen completion vs the reference",
        "summed log-prob (nats)",
        [("logps/chosen", "policy logps/chosen", "-"), ("logps/ref_chosen", "reference logps/ref_chosen", "--")],
    ),
    ("DPOP penalty max(0, ref − policy)", "nats", [("dpop/penalty", "dpop/penalty", "-")]),
]


def save_training_history(trainer, train_result, *, train_samples: int | None = None) -> dict[str, Path]:
    """Write trainer_state.json, the *_results.json files and training_curves.png to `trainer.args.output_dir`.

    Call it on every process after `trainer.train()`: the final evaluation (run only when the last step was not
    evaluated already) is collective; the files are written by the main process alone. Returns the written paths.
    """
    output_dir = Path(trainer.args.output_dir)
    metrics = dict(train_result.metrics)
    if train_samples is not None:
        metrics["train_samples"] = train_samples
    trainer.save_metrics("train", metrics)
    written = {"train_results": output_dir / "train_results.json"}
    if trainer.eval_dataset is not None:
        trainer.save_metrics("eval", final_eval_metrics(trainer))
        written["eval_results"] = output_dir / "eval_results.json"
    written["all_results"] = output_dir / "all_results.json"
    trainer.save_state()  # after the final evaluation, so its entry is in the history
    written["trainer_state"] = output_dir / "trainer_state.json"
    if trainer.is_world_process_zero():
        plot_training_curves(trainer.state.log_history, output_dir / CURVES_FILE)
    written["curves"] = output_dir / CURVES_FILE
    return written


def final_eval_metrics(trainer) -> dict[str, Any]:
    """The eval metrics at the last step: reused when the run evaluated there (transformers does for `steps`), else run."""
    step = trainer.state.global_step
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry and entry.get("step") == step:
            return {key: value for key, value in entry.items() if key.startswith("eval_") or key == "epoch"}
    return trainer.evaluate()  # also appends an eval entry at the last step to log_history


def curve(log_history: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[int, float]]:
    """(step, value) of `metric` over the history, one point per step (the last logged value wins)."""
    points: dict[int, float] = {}
    for entry in log_history:
        value = entry.get(metric)
        if isinstance(value, int | float) and "step" in entry:
            points[int(entry["step"])] = float(value)
    return sorted(points.items())


def plot_training_curves(log_history: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """One PNG with a panel per quantity of `PANELS` over steps (train: lines, eval: dotted with markers)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training nodes
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.0 * len(PANELS), 3.8))
    for ax, (title, ylabel, lines) in zip(axes, PANELS):
        drawn = False
        for index, (metric, label, style) in enumerate(lines):
            colour = f"C{index}"
            train_points = curve(log_history, metric)
            eval_points = curve(log_history, f"eval_{metric}")
            if train_points:
                xs, ys = zip(*train_points)
                ax.plot(xs, ys, style, color=colour, label=f"train {label}")
            if eval_points:
                xs, ys = zip(*eval_points)
                ax.plot(xs, ys, ":", color=colour, marker="o", markersize=4, label=f"eval {label}")
            drawn = drawn or bool(train_points or eval_points)
        if drawn:
            ax.legend(fontsize=8)
        else:  # e.g. a history written before `logps/ref_chosen` was logged
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
