"""Edit distances between chosen and rejected, and their summaries.

Definitions (also in the README):

- char: Levenshtein distance between the two completions as character strings, divided by the length of the
  longer one (rapidfuzz's `Levenshtein.normalized_distance`). 0 = identical, 1 = nothing in common.
- word: the same over whitespace-separated words (`str.split()`), so changing one number costs one word.
- token: the same over token ids from a tokenizer (`--tokenizer`), completions tokenised without special tokens.
- first differing token: the index of the first token id at which chosen and rejected differ (the length of
  the shorter one when one is a prefix of the other). Token-level analysis aligns log-probs on it.

Everything here is pure: lists of strings in, NumPy arrays and plain dicts out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein, Postfix, Prefix

if TYPE_CHECKING:
    from prefbuild.folder import FolderStats

HISTOGRAM_BINS = 20  # bins of width 0.05 over [0, 1]
# Log-spaced bins for low-edit sets (MetaMath: nearly every pair below 5 %): [0, 0.1 %), then 10 bins a decade
# from 0.1 % to 100 %.
LOG_HISTOGRAM_EDGES = (0.0, *np.round(np.logspace(-3, 0, 31), 6).tolist())
LOW_EDIT = 0.05  # a level is drawn on a log axis when at least half its pairs are below this distance


def normalised_levenshtein(chosen: Sequence[str], rejected: Sequence[str], workers: int = -1) -> np.ndarray:
    """Character-level normalised Levenshtein distance per pair (rapidfuzz C++ path; `workers` threads, -1: all
    cores). Each pair's value is computed on its own, so it does not depend on `workers` or on the batch."""
    if len(chosen) == 0:
        return np.zeros(0, dtype=np.float64)
    return process.cpdist(chosen, rejected, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=workers)


def word_levenshtein(chosen: Sequence[str], rejected: Sequence[str]) -> np.ndarray:
    """Word-level normalised Levenshtein distance per pair (words = `str.split()`).

    Equal to rapidfuzz's `cpdist(..., processor=str.split)`, bit for bit, without splitting whole texts into
    Python lists of words (for 394,000 MetaMath pairs that took ~13 s and ~3 GB). Pairs share long stretches of
    text, and Levenshtein distance does not change when a common prefix or suffix is removed, so only the words
    between the first and the last difference are split and compared; the normalisation needs the whole word
    counts, which come from a byte count. The cut is made at a space or line break inside the common part, so
    no word is split in two.
    """
    if len(chosen) == 0:
        return np.zeros(0, dtype=np.float64)
    distances = np.empty(len(chosen), dtype=np.float64)
    common_prefix, common_suffix, distance = Prefix.similarity, Postfix.similarity, Levenshtein.distance
    for index, (first, second) in enumerate(zip(chosen, rejected)):
        first_length, second_length = len(first), len(second)
        shared = common_prefix(first, second)
        start = max(first.rfind(" ", 0, shared), first.rfind("\n", 0, shared)) + 1  # first[:start] ends in a space
        tail = first_length - min(common_suffix(first, second), first_length - start, second_length - start)
        end = _next_break(first, tail)  # first[end:] starts with a space or line break, or is empty
        first_words = first[start:end].split()
        second_words = second[start : second_length - (first_length - end)].split()
        words = word_count(first)
        longest = max(words, words - len(first_words) + len(second_words))
        distances[index] = distance(first_words, second_words) / longest if longest else 0.0
    return distances


def _next_break(text: str, position: int) -> int:
    space, newline = text.find(" ", position), text.find("\n", position)
    if space < 0:
        return len(text) if newline < 0 else newline
    return space if newline < 0 else min(space, newline)


# str.split()'s whitespace among ASCII: \t \n \v \f \r, the separators \x1c-\x1f and space. Every byte of a
# non-ASCII character (>= 0x80) is a non-space here; texts that are not ASCII are counted with str.split().
_WORD_BYTES = bytes(0x20 if byte in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32) else 0x61 for byte in range(256))


def word_count(text: str) -> int:
    """`len(text.split())` without building the list: the number of word starts."""
    if not text.isascii():
        return len(text.split())
    marked = text.encode("ascii").translate(_WORD_BYTES)
    return marked.count(b" a") + marked.startswith(b"a")


def first_differing_token(chosen_ids: Sequence[int], rejected_ids: Sequence[int]) -> int:
    """Index of the first position where the two id sequences differ; the shorter length if one is a prefix."""
    limit = min(len(chosen_ids), len(rejected_ids))
    for index in range(limit):
        if chosen_ids[index] != rejected_ids[index]:
            return index
    return limit


def token_statistics(chosen: Sequence[str], rejected: Sequence[str], tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Token-level normalised Levenshtein distance and first differing token index per pair."""
    chosen_ids = tokenizer(list(chosen), add_special_tokens=False)["input_ids"]
    rejected_ids = tokenizer(list(rejected), add_special_tokens=False)["input_ids"]
    distances = np.array(
        [Levenshtein.normalized_distance(c, r) for c, r in zip(chosen_ids, rejected_ids)], dtype=np.float64
    )
    first = np.array([first_differing_token(c, r) for c, r in zip(chosen_ids, rejected_ids)], dtype=np.int64)
    return distances, first


def summarise(values: np.ndarray, *, unit_interval: bool = True) -> dict[str, Any]:
    """Mean, median, p10, p90, min, max and two histograms; all plain floats/ints so they serialise to JSON.

    `histogram`: 20 bins of 5 % over [0, 1].  `histogram_log`: [0, 0.1 %) then 30 log-spaced bins up to 100 %,
    which show the shape of low-edit sets whose pairs all fall in the first 5 % bin.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean": None, "median": None, "p10": None, "p90": None, "min": None, "max": None}
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    summary = {
        "count": int(values.size),
        "mean": float(values.mean()),
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
        "min": float(values.min()),
        "max": float(values.max()),
    }
    if unit_interval:
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        summary["histogram"] = {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()}
        counts, _ = np.histogram(values, bins=np.array(LOG_HISTOGRAM_EDGES))
        summary["histogram_log"] = {"edges": list(LOG_HISTOGRAM_EDGES), "counts": counts.tolist()}
    return summary


def completion_text(value: Any) -> str:
    """A completion as text: standard format is a string; conversational is a list of messages."""
    if isinstance(value, str):
        return value
    return "\n".join(message["content"] for message in value)


def format_table(rows: list[list[str]]) -> str:
    """A plain left/right aligned text table: first column left, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_header(has_tokens: bool = False) -> list[str]:
    """Column names of `render_summary`'s table; each distance column names its level and its statistic."""
    header = ["split", "input rows", "pairs", "skipped", "char mean", "char median", "char p10", "char p90"]
    header.append("word mean")
    if has_tokens:
        header.append("token mean")
    return header


def render_summary(stats: FolderStats | dict[str, Any]) -> str:
    """The table printed after a build and by `prefbuild stats`: counts, skips and edit distances per split, then
    each split's skip reasons, dropped pairs, tiers and per-group counts (MetaMathQA's `by_type`)."""
    from prefbuild.folder import FolderStats

    stats = FolderStats.coerce(stats)
    has_tokens = any("token" in split.edit_distance for split in stats.splits.values())
    rows = [summary_header(has_tokens)]
    for name, split in stats.splits.items():
        row = [
            name,
            f"{split.input_rows:,}",
            f"{split.pairs:,}",
            f"{split.skipped_rows:,}",
            _percent(split.distance("char", "mean")),
            _percent(split.distance("char", "median")),
            _percent(split.distance("char", "p10")),
            _percent(split.distance("char", "p90")),
            _percent(split.distance("word", "mean")),
        ]
        if has_tokens:
            row.append(_percent(split.distance("token", "mean")))
        rows.append(row)
    text = [format_table(rows)]
    for name, split in stats.splits.items():
        for label, counts in (
            ("skipped rows", split.skipped),
            ("dropped pairs", split.dropped_pairs),
            ("tiers", split.tiers),
        ):
            if counts:
                listed = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items()))
                text.append(f"{name} {label}: {listed}")
        for key, groups in split.groups.items():  # "by_type": {group: counts}
            if groups:
                listed = ", ".join(
                    f"{group} {facts.pairs:,} pairs from {facts.input_rows:,} rows" for group, facts in groups.items()
                )
                text.append(f"{name} by {key[len('by_') :]}: {listed}")
    text.append("edit distance: normalised Levenshtein between chosen and rejected (0 = same, 100% = disjoint)")
    return "\n".join(text)


LEVEL_NAMES = {"char": "characters", "word": "words", "token": "tokens"}


def _levels(stats: FolderStats) -> list[str]:
    """Levels that have a histogram in some split, in the order char, word, token."""
    splits = stats.splits.values()
    return [
        level
        for level in ("char", "word", "token")
        if any(level in split.edit_distance and split.edit_distance[level].histogram for split in splits)
    ]


def mostly_low(stats: FolderStats | dict[str, Any], level: str) -> bool:
    """Whether at least half of a level's pairs (all splits together) lie below LOW_EDIT, where the 20 linear bins
    put them in the first bar and a log axis is needed to see their shape."""
    from prefbuild.folder import FolderStats

    low = total = 0
    for split in FolderStats.coerce(stats).splits.values():
        summary = split.edit_distance.get(level)
        if summary is None or summary.histogram is None:
            continue
        if summary.histogram_log is None:
            return False  # folders written before the log histogram existed: linear axis only
        edges, counts = summary.histogram["edges"], summary.histogram["counts"]
        low += sum(count for count, upper in zip(counts, edges[1:]) if upper <= LOW_EDIT + 1e-9)
        total += sum(counts)
    return total > 0 and low >= total / 2


def plot_histograms(stats: FolderStats | dict[str, Any], path: str, title: str = "") -> None:
    """Write `histogram_figure` as a PNG at `path`."""
    import matplotlib.pyplot as plt

    fig = histogram_figure(stats, title)
    fig.savefig(path)
    plt.close(fig)


def histogram_figure(stats: FolderStats | dict[str, Any], title: str = "") -> Any:
    """The card's figure: one panel per level (char, word, token when computed), one coloured outline per split.

    Every bin is drawn, [0.95, 1] included. Heights are each split's share of its pairs, so splits of different
    sizes compare. A level where at least half the pairs differ by less than 5 % (MetaMath, GSM8K) gets a log
    distance axis from 0.1 % up to the decade holding its largest distances, so its shape shows instead of one bar
    at 0. Each split's mean (dashed) and
    median (dotted) are marked in its colour. 8 inches wide at 130 dpi: about 1,040 px, crisp on the Hub's card
    page, which scales it to the text width.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from prefbuild.folder import FolderStats

    stats = FolderStats.coerce(stats)
    levels = _levels(stats) or ["char"]
    fig, axes = plt.subplots(len(levels), 1, figsize=(8, 0.7 + 2.9 * len(levels)), dpi=130, squeeze=False)
    percent = FuncFormatter(lambda value, _: f"{100 * value:g}%")
    for ax, level in zip(axes[:, 0], levels):
        log = mostly_low(stats, level)
        handles, highest, tallest = [], 0.0, 0.0
        for index, (name, split) in enumerate(stats.splits.items()):
            summary = split.edit_distance.get(level)
            if summary is None or summary.histogram is None or not summary.count:
                continue
            histogram = summary.histogram_log if log else summary.histogram
            edges = np.array(histogram["edges"], dtype=float)
            counts = np.array(histogram["counts"], dtype=float)
            share = 100 * counts / counts.sum()
            colour = f"C{index}"
            if log:  # the first bin, [0, 0.1 %), has no width on a log axis: say how many pairs it holds
                below, edges, share = int(counts[0]), edges[1:], share[1:]
            # The first split's outline is the widest, so a later split's outline on top of it leaves it visible
            width = 2.8 if index == 0 else 1.6
            ax.stairs(share, edges, fill=True, color=colour, alpha=0.15)
            ax.stairs(share, edges, color=colour, linewidth=width)
            if share.any():
                highest = max(highest, edges[1:][share > 0].max())
                tallest = max(tallest, share.max())
            floor = edges[0] if log else 0.0
            for value, style in ((summary.mean, "--"), (summary.median, ":")):
                ax.axvline(max(value, floor), color=colour, linestyle=style, linewidth=1.6)
            label = (
                f"{name}: {summary.count:,} pairs, mean {100 * summary.mean:.1f}%, median {100 * summary.median:.1f}%"
            )
            if log and below:
                label += f", {below:,} below 0.1%"
            handles.append(Line2D([], [], color=colour, linewidth=width, label=label))
        handles += [
            Line2D([], [], color="0.3", linestyle="--", linewidth=1.6, label="mean"),
            Line2D([], [], color="0.3", linestyle=":", linewidth=1.6, label="median"),
        ]
        if log:
            ax.set_xscale("log")
            # up to the decade holding the highest non-empty bin: 10 % for MetaMath's characters, not 100 %
            ax.set_xlim(LOG_HISTOGRAM_EDGES[1], min(1.0, 10 ** np.ceil(np.log10(max(highest, 0.01)) - 1e-9)))
            scale = "log scale: at least half the pairs differ by less than 5%"
        else:
            ax.set_xlim(0.0, 1.01)  # a little past 100 %: the last bin's edge and lines at 1.0 stay visible
            scale = "bins of 5%"
        ax.xaxis.set_major_formatter(percent)
        # Head room so that the legend sits above the bars, but no tick above 100 % of the pairs
        ax.set_ylim(0, min(1.6 * tallest, 105.0) or 1.0)
        ax.set_title(f"{LEVEL_NAMES.get(level, level)} ({scale})", fontsize=11, loc="left")
        ax.set_ylabel("% of the split's pairs")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(handles=handles, fontsize=8.5, loc="best", framealpha=0.9)
    axes[-1, 0].set_xlabel("normalised Levenshtein distance between chosen and rejected (0 = same, 100% = disjoint)")
    fig.suptitle(title or "Edit distance between chosen and rejected", fontsize=13)
    fig.tight_layout()
    return fig
