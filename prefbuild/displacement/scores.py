"""Per-pair displacement scores of a pairs folder: their summaries, table, figure and card section.

`prefbuild stats DIR --model M` adds two columns per pair, `ches` and `ches_normalized` (see `ches.py`), and
stats.json keeps, per split, `displacement: {ches: summary, ches_normalized: summary}` (count, mean, median, p10,
p90, min, max and a 20-bin histogram whose edges are shared by all splits, so the splits overlay in `ches.png`),
and at the top `displacement` (the model, its content hash, how the pairs were tokenised, the command) and
`filters` (one entry per `prefbuild filter` run). Everything here is pure: arrays and stats.json's typed records
(`prefbuild.folder`: `FolderStats.displacement`, `.filters`, `.history`, `SplitStats.displacement`) in, text out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from prefbuild.folder import DistanceSummary, FilterEntry, FolderStats, ScoringModel

logger = logging.getLogger(__name__)

SCORE_COLUMNS = ("ches", "ches_normalized")
SCORE_NAMES = {"ches": "CHES", "ches_normalized": "normalised CHES"}
FILTER_COLUMNS = ("ches", "ches_normalized", "edit_distance_char", "edit_distance_word", "edit_distance_token")
SCORE_BINS = 20
FIGURE = "ches.png"
CARD_BEGIN = "<!-- prefbuild:displacement -->"
CARD_END = "<!-- /prefbuild:displacement -->"
METHOD = (
    "CHES (Razin et al. 2024, arXiv 2410.08847): ⟨Σh⁺, Σh⁻⟩ − ‖Σh⁺‖² over the model's last hidden layer at the "
    "positions that predict each completion's tokens (last prompt position included, final completion position "
    "excluded); normalised: the same with means. Pairs tokenised as TRL's DPOTrainer does."
)


def score_edges(values: Mapping[str, np.ndarray]) -> list[float]:
    """SCORE_BINS + 1 equal-width bin edges over the range of all splits' values (so split histograms overlay)."""
    present = [np.asarray(v, dtype=np.float64) for v in values.values() if len(v)]
    if not present:
        return []
    everything = np.concatenate(present)
    low, high = float(everything.min()), float(everything.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, SCORE_BINS + 1).tolist()


def summarise_scores(values: np.ndarray, edges: list[float]) -> dict[str, Any]:
    """`stats.summarise` (count, mean, median, p10, p90, min, max) plus `histogram` over the shared `edges`."""
    from prefbuild.stats import summarise

    values = np.asarray(values, dtype=np.float64)
    summary = summarise(values, unit_interval=False)
    if values.size and edges:
        counts, _ = np.histogram(values, bins=np.asarray(edges))
        summary["histogram"] = {"edges": list(edges), "counts": counts.tolist()}
    return summary


def split_score_summaries(columns: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """{split: {column: summary}} from {split: {column: values}} (non-null values only); splits without scores
    are left out. Each column's histogram edges are shared by all splits."""
    result: dict[str, dict[str, Any]] = {split: {} for split, scores in columns.items() if scores}
    for column in SCORE_COLUMNS:
        per_split = {split: scores[column] for split, scores in columns.items() if column in scores}
        edges = score_edges(per_split)
        for split, values in per_split.items():
            result[split][column] = summarise_scores(values, edges)
    return {split: summaries for split, summaries in result.items() if summaries}


def score_records(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, DistanceSummary]:
    """One split's `split_score_summaries` as `SplitStats.displacement`: {column: DistanceSummary}."""
    return {column: DistanceSummary.from_json(summary) for column, summary in summaries.items()}


def summarise_score_columns(tables: Mapping[str, Any], stats: FolderStats) -> None:
    """Set each split's `displacement` summaries (`SplitStats.displacement`) from its `ches` and
    `ches_normalized` columns, over the pairs that have a score; remove them from splits without scores."""
    values = {}
    for split, table in tables.items():
        if all(column in table.column_names for column in SCORE_COLUMNS):
            columns = {column: table.column(column).drop_null() for column in SCORE_COLUMNS}
            if len(columns["ches"]):
                values[split] = {name: column.to_numpy().astype(np.float64) for name, column in columns.items()}
    summaries = split_score_summaries(values)
    for split in tables:
        if split in summaries:
            stats.splits[split].displacement = score_records(summaries[split])
        else:
            stats.splits[split].unset("displacement")


def has_scores(stats: FolderStats) -> bool:
    """Whether some split of a FolderStats has CHES summaries (then the folder gets FIGURE)."""
    return any(split.displacement is not None for split in stats.splits.values())


def model_facts(model: str, loaded: Any) -> ScoringModel:
    """stats.json's record of the scoring model: its public name, content hash (a local folder: SHA-256 of every
    visible file, `cards.content_hash`) or Hub revision, class and dtype."""
    from prefbuild import cards

    path = Path(model).expanduser()
    local = path.is_dir()
    config = getattr(loaded, "config", None)
    parameter = next(iter(loaded.parameters()), None) if hasattr(loaded, "parameters") else None
    return ScoringModel(
        id=cards.public_path(model),
        local=local,
        sha256=cards.content_hash(path) if local else None,
        revision=None if local else getattr(config, "_commit_hash", None),
        class_name=type(loaded).__name__,
        dtype=None if parameter is None else str(parameter.dtype).removeprefix("torch."),
        hidden_size=getattr(config, "hidden_size", None),
    )


def software_versions() -> dict[str, str]:
    import torch
    import transformers
    import trl

    from prefbuild import __version__

    return {
        "prefbuild": __version__,
        "trl": trl.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _model_id(stats: FolderStats) -> str | None:
    """The scoring model's public name, None when the folder records no model."""
    facts = stats.displacement
    return None if facts is None or facts.model is None else facts.model.id


def score_rows(stats: FolderStats | Mapping[str, Any]) -> list[list[str]]:
    """Header and one row per scored split: pairs scored, then mean / median / p10 / p90 of each score."""
    stats = FolderStats.coerce(stats)
    header = ["split", "pairs scored"]
    for column in SCORE_COLUMNS:
        header += [f"{SCORE_NAMES[column]} {key}" for key in ("mean", "median", "p10", "p90")]
    rows = [header]
    for name, split in stats.splits.items():
        scores = split.displacement or {}
        if not scores:
            continue
        row = [name, f"{scores[SCORE_COLUMNS[0]].count:,}"]
        for column in SCORE_COLUMNS:
            row += [_number(getattr(scores[column], key)) for key in ("mean", "median", "p10", "p90")]
        rows.append(row)
    return rows


def render_scores_summary(stats: FolderStats | Mapping[str, Any]) -> str:
    """The plain-text CHES table `prefbuild stats --model` prints under the edit-distance table ("" if none)."""
    from prefbuild.stats import format_table

    stats = FolderStats.coerce(stats)
    rows = score_rows(stats)
    if len(rows) == 1:
        return ""
    model = _model_id(stats) or "?"
    lines = [format_table(rows), f"CHES under model {model}: higher = more likely to lower the chosen likelihood"]
    for entry in stats.filters or []:
        lines.append(f"filter: {describe_filter(entry)}")
    return "\n".join(lines)


def describe_filter(entry: FilterEntry | Mapping[str, Any]) -> str:
    """One line: what a filter kept, e.g. "by ches, dropped the top 10% (ches >= 1.23): train 900 → 810"."""
    entry = FilterEntry.coerce(entry)
    mode, value, by = entry.mode, entry.value, entry.by
    rule = {
        "drop_top": f"dropped the top {100 * value:g}% of each split",
        "drop_bottom": f"dropped the bottom {100 * value:g}% of each split",
        "keep_below": f"kept {by} < {value:g}",
        "keep_above": f"kept {by} > {value:g}",
    }[mode]
    counts = ", ".join(
        f"{split} {facts.pairs_before:,} → {facts.pairs_after:,}" for split, facts in entry.splits.items()
    )
    return f"by {by}, {rule}: {counts} (reason `{entry.reason}`)"


def score_figure(stats: FolderStats | Mapping[str, Any], title: str = "") -> Any:
    """Histograms of CHES and normalised CHES: one panel per score, one outline per scored split (share of the
    split's pairs per bin, the bins shared by all splits), each split's mean (dashed) and median (dotted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = FolderStats.coerce(stats)
    fig, axes = plt.subplots(len(SCORE_COLUMNS), 1, figsize=(8, 0.7 + 2.9 * len(SCORE_COLUMNS)), dpi=130)
    for ax, column in zip(axes, SCORE_COLUMNS):
        for index, (name, split) in enumerate(stats.splits.items()):
            summary = (split.displacement or {}).get(column)
            if summary is None or summary.histogram is None:
                continue
            edges = np.asarray(summary.histogram["edges"], dtype=float)
            counts = np.asarray(summary.histogram["counts"], dtype=float)
            share = 100 * counts / max(counts.sum(), 1)
            colour = f"C{index}"
            label = f"{name}: {summary.count:,} pairs, mean {summary.mean:.4g}, median {summary.median:.4g}"
            ax.stairs(share, edges, fill=True, color=colour, alpha=0.15)
            ax.stairs(share, edges, color=colour, linewidth=2.8 if index == 0 else 1.6, label=label)
            ax.axvline(summary.mean, color=colour, linestyle="--", linewidth=1.6)
            ax.axvline(summary.median, color=colour, linestyle=":", linewidth=1.6)
        ax.set_title(SCORE_NAMES[column], fontsize=11, loc="left")
        ax.set_ylabel("% of the split's pairs")
        ax.grid(axis="y", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8.5, loc="best", framealpha=0.9)
    axes[-1].set_xlabel("higher = more displacement risk (dashed: mean, dotted: median)")
    model = _model_id(stats) or ""
    fig.suptitle(title or f"CHES of chosen vs rejected under {model}", fontsize=13)
    fig.tight_layout()
    return fig


def plot_scores(stats: FolderStats | Mapping[str, Any], path: str | Path, title: str = "") -> None:
    import matplotlib.pyplot as plt

    fig = score_figure(stats, title)
    fig.savefig(path)
    plt.close(fig)


def render_card_section(stats: FolderStats | Mapping[str, Any], plot: bool = True) -> str:
    """The card's "Displacement risk" section: the scores' table, figure and provenance, and every filter applied
    with the commands that rebuild the folder ("" when the folder was neither scored nor filtered)."""
    from prefbuild import cards

    stats = FolderStats.coerce(stats)
    facts = stats.displacement
    filters = stats.filters or []
    if facts is None and not filters:
        return ""
    lines = [CARD_BEGIN, "## Displacement risk", ""]
    if facts is not None:
        model = facts.model
        identity = f"SHA-256 `{model.sha256[:16]}…` of its files" if model.sha256 else ""
        identity = identity or (f"revision `{model.revision}`" if model.revision else "no recorded revision")
        lines += [
            f"Per-pair columns `ches` and `ches_normalized`: {facts.method} Model: `{model.id}` "
            f"({model.class_name}, {model.dtype}, {identity}). Higher scores mark the pairs on which DPO is more "
            "likely to lower the chosen completion's likelihood (likelihood displacement).",
            "",
        ]
        rows = score_rows(stats)
        if len(rows) > 1:
            table = [rows[0], *[[f"`{row[0]}`", *row[1:]] for row in rows[1:]]]
            lines += [cards.markdown_table(table, numeric=len(rows[0]) - 1), ""]
        if plot:
            lines += [f"![Histograms of CHES and normalised CHES]({FIGURE})", ""]
    if filters:
        lines += ["Filters applied to this folder, in order:", ""]
        lines += [f"- {describe_filter(entry)}" for entry in filters]
        lines.append("")
    commands = [entry.command for entry in stats.history if entry.command]
    if commands:
        lines += [
            "This folder is a copy of a folder built by the command in Build facts, then changed by the commands "
            "below; run them in order to rebuild it (CHES values may differ in the last digits across devices):",
            "",
            "```bash",
            *commands,
            "```",
            "",
        ]
    lines.append(CARD_END)
    return "\n".join(lines) + "\n"


def insert_card_section(card: str, stats: FolderStats | Mapping[str, Any], plot: bool = True) -> str:
    """`card` with its displacement section replaced (or added before "## Examples", else at the end)."""
    from prefbuild.cards import replace_card_section

    return replace_card_section(card, render_card_section(stats, plot), CARD_BEGIN, CARD_END)
