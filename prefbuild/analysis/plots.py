"""Figures in the paper's style: token log-prob by offset (Fig. 4 right), trajectories (Fig. 5), accuracy (Fig. 2).

Every function takes plain dicts (as stored in analysis.json / results.json) and writes one PNG with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

METHOD_COLOURS = {
    "reference": "black",
    "dpo": "tab:red",
    "dpop": "tab:blue",
    "ipo": "tab:green",
    "slic": "tab:orange",
    "rpo": "tab:purple",
    "dpop_sft": "tab:cyan",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_token_curve(curves: Mapping[str, Mapping[str, float | None]], path: str | Path, *, title: str = "") -> Path:
    """Mean chosen log-prob by token offset from the first differing token, one line per model (Fig. 4 right)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, by_offset in curves.items():
        points = sorted((int(offset), value) for offset, value in by_offset.items() if value is not None)
        if not points:
            continue
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, label=label, color=METHOD_COLOURS.get(label.lower()))
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("token offset from the first differing token (0 = the edit)")
    ax.set_ylabel("mean log-prob of the chosen token (nats)")
    ax.set_title(title or "Chosen completion, aligned on the first difference")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_trajectories(
    trajectories: Mapping[str, list[dict[str, Any]]], reference: Mapping[str, float], path: str | Path
) -> Path:
    """Chosen and rejected log-probs of the low-edit eval (solid) and train (dotted) pairs over training (Fig. 5).

    `reference` holds the reference model's eval values, drawn as dashed horizontal lines.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), sharex=True)
    for ax, key, label in ((axes[0], "chosen_logp", "chosen"), (axes[1], "rejected_logp", "rejected")):
        for method, points in trajectories.items():
            steps = [point["step"] for point in points]
            colour = METHOD_COLOURS.get(method)
            values = [point["eval"][key] for point in points]
            ax.plot(steps, values, marker="o", markersize=3, label=f"{method.upper()} (eval)", color=colour)
            values = [point["train"][key] for point in points if "train" in point]
            if len(values) == len(steps):
                ax.plot(steps, values, linestyle=":", color=colour, label=f"{method.upper()} (train)")
        if key in reference:
            ax.axhline(reference[key], color="black", linestyle="--", linewidth=1, label="reference")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"mean summed log-prob of {label} (nats)")
        ax.set_title(f"{label.capitalize()} completions, low-edit pairs")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_accuracy(
    accuracy: Mapping[str, float],
    path: str | Path,
    *,
    baseline: str = "reference",
    errors: Mapping[str, float | None] | None = None,
) -> Path:
    """Exact-match accuracy of greedy answers per model, bars (Fig. 2 style); `errors` (fractions, e.g. the sd over
    seeds) are drawn as error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    labels = list(accuracy)
    values = [100.0 * accuracy[label] for label in labels]
    colours = [METHOD_COLOURS.get(label, "grey") for label in labels]
    spread = None
    if errors is not None:
        spread = [100.0 * (errors.get(label) or 0.0) for label in labels]
    ax.bar(
        [label.upper() if label != baseline else "SFT (ref)" for label in labels],
        values,
        color=colours,
        yerr=spread,
        capsize=3 if spread else 0,
    )
    for index, value in enumerate(values):
        ax.text(index, value, f"{value:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_title("Held-out problems, greedy decoding")
    ax.set_ylim(0, max(values + [1.0]) * 1.15)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
