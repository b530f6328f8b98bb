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
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein, Postfix, Prefix

HISTOGRAM_BINS = 20  # bins of width 0.05 over [0, 1]


def normalised_levenshtein(chosen: Sequence[str], rejected: Sequence[str]) -> np.ndarray:
    """Character-level normalised Levenshtein distance per pair (rapidfuzz C++ path, all cores)."""
    if len(chosen) == 0:
        return np.zeros(0, dtype=np.float64)
    return process.cpdist(chosen, rejected, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=-1)


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
    """Mean, median, p10, p90, min, max and a histogram; all plain floats/ints so they serialise to JSON."""
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


def render_summary(stats: dict[str, Any]) -> str:
    """The table printed after a build and by `prefbuild stats`: counts, skips and edit distances per split."""
    header = ["split", "input rows", "pairs", "skipped", "char mean", "char median", "word mean", "p10", "p90"]
    has_tokens = any("token" in split["edit_distance"] for split in stats["splits"].values())
    if has_tokens:
        header.append("token mean")
    rows = [header]
    for name, split in stats["splits"].items():
        char = split["edit_distance"]["char"]
        row = [
            name,
            f"{split['input_rows']:,}",
            f"{split['pairs']:,}",
            f"{sum(split['skipped'].values()):,}",
            _percent(char["mean"]),
            _percent(char["median"]),
            _percent(split["edit_distance"]["word"]["mean"]),
            _percent(char["p10"]),
            _percent(char["p90"]),
        ]
        if has_tokens:
            row.append(_percent(split["edit_distance"].get("token", {}).get("mean")))
        rows.append(row)
    text = [format_table(rows)]
    for name, split in stats["splits"].items():
        for label, key in (("skipped rows", "skipped"), ("dropped pairs", "dropped_pairs"), ("tiers", "tiers")):
            counts = split.get(key) or {}
            if counts:
                listed = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items()))
                text.append(f"{name} {label}: {listed}")
    text.append("edit distance: normalised Levenshtein between chosen and rejected (0 = same, 100% = disjoint)")
    return "\n".join(text)


def plot_histograms(stats: dict[str, Any], path: str, title: str = "") -> None:
    """A PNG with one char-level edit-distance histogram per split (word level dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, split in stats["splits"].items():
        for level, style in (("char", "-"), ("word", "--")):
            summary = split["edit_distance"].get(level, {})
            if "histogram" not in summary:
                continue
            edges = np.array(summary["histogram"]["edges"])
            counts = np.array(summary["histogram"]["counts"], dtype=float)
            share = counts / max(counts.sum(), 1)
            ax.step(edges[:-1], share, where="post", linestyle=style, label=f"{name} ({level})")
    ax.set_xlabel("normalised Levenshtein distance (chosen vs rejected)")
    ax.set_ylabel("share of pairs")
    ax.set_xlim(0, 1)
    ax.set_title(title or "Edit distance between chosen and rejected")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
