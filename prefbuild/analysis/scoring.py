"""Scoring pairs with a model: the summary of `summarise_logprobs`, optionally split by region and token kind.

Shared by `prefbuild analyze`-style tools and `prefbuild repro` (which scores the same pairs under several models).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefbuild.analysis.logprobs import PairLogprobs, pair_logprobs, summarise_logprobs, tokenize_pair

REGIONS = ("before", "at", "after")


def region_split(results: Sequence[PairLogprobs], tokenizer, pairs) -> dict[str, dict[str, float]]:
    """Chosen log-prob summed per pair by region (before / at / after the first difference) and token kind.

    `number` tokens contain a digit (results, operands, the answer); `other` tokens are the template's words and
    punctuation. Means over the pairs that differ, in nats per pair; the six values add up to the chosen log-prob.
    """
    totals = {region: {"number": 0.0, "other": 0.0} for region in REGIONS}
    counted = 0
    for result, pair in zip(results, pairs):
        ids = tokenize_pair(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"]).chosen_ids
        first = result.first_diff
        if first >= len(result.chosen) and first >= len(result.rejected):
            continue  # identical completions
        counted += 1
        for index, (token_id, logp) in enumerate(zip(ids, result.chosen)):
            region = "before" if index < first else "at" if index == first else "after"
            kind = "number" if any(char.isdigit() for char in tokenizer.decode([token_id])) else "other"
            totals[region][kind] += float(logp)
    return {
        region: {kind: value / max(counted, 1) for kind, value in kinds.items()} for region, kinds in totals.items()
    }


def score_pairs_with_results(
    model, tokenizer, rows: Iterable[dict[str, Any]], *, batch_size: int = 32, window: int = 10, split: bool = False
) -> tuple[dict[str, Any], list[PairLogprobs]]:
    """`score_pairs` and the per-pair log-probs behind it (for per-pair studies)."""
    pairs = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    results = pair_logprobs(model, tokenizer, pairs, batch_size=batch_size)
    summary = summarise_logprobs(results, window=window)
    if split:
        summary["by_region"] = region_split(results, tokenizer, pairs)
    return summary, results


def score_pairs(model, tokenizer, rows, *, batch_size: int = 32, window: int = 10, split: bool = False):
    """`summarise_logprobs` of `rows` under `model`; with `split`, also `by_region` (see `region_split`)."""
    return score_pairs_with_results(model, tokenizer, rows, batch_size=batch_size, window=window, split=split)[0]
