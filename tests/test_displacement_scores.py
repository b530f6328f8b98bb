"""Pure parts of `prefbuild stats --model` / `prefbuild filter`: which pairs a rule drops, score summaries, the card
section."""

from __future__ import annotations

import numpy as np
import pytest

from prefbuild.displacement.folders import drop_mask
from prefbuild.displacement.scores import (
    CARD_BEGIN,
    CARD_END,
    SCORE_BINS,
    describe_filter,
    insert_card_section,
    split_score_summaries,
)


def test_drop_top_drops_the_floor_of_the_fraction_and_breaks_ties_by_order():
    values = np.array([0.5, 3.0, 1.0, 3.0, -2.0, 0.0, 7.0, 1.0, 2.0, 4.0])
    mask, cut = drop_mask(values, "drop_top", 0.25)  # ⌊2.5⌋ = 2 pairs: 7.0 and 4.0
    assert mask.tolist() == [False, False, False, False, False, False, True, False, False, True]
    assert cut == 4.0
    mask, cut = drop_mask(values, "drop_top", 0.3)  # 3 pairs: 7, 4, then the first of the two 3.0s
    assert np.flatnonzero(mask).tolist() == [1, 6, 9] and cut == 3.0
    mask, cut = drop_mask(values, "drop_bottom", 0.2)  # the two lowest: -2.0 and 0.0
    assert np.flatnonzero(mask).tolist() == [4, 5] and cut == 0.0
    mask, cut = drop_mask(values[:3], "drop_top", 0.1)  # ⌊0.3⌋ = 0: nothing, no cut
    assert not mask.any() and cut is None
    mask, _ = drop_mask(np.arange(10.0), "drop_top", 0.1)  # 0.1 × 10 is 1 despite floating point
    assert mask.sum() == 1


def test_keep_below_and_above_are_strict():
    values = np.array([0.1, 0.2, 0.3])
    assert drop_mask(values, "keep_below", 0.2)[0].tolist() == [False, True, True]
    assert drop_mask(values, "keep_above", 0.2)[0].tolist() == [True, True, False]


def test_summaries_share_histogram_edges_across_splits():
    scores = {
        "train": {"ches": np.array([-3.0, 0.0, 1.0, 5.0]), "ches_normalized": np.array([0.1, 0.2, 0.3, 0.4])},
        "eval": {"ches": np.array([2.0]), "ches_normalized": np.array([0.25])},
        "test": {},  # not scored: left out
    }
    summaries = split_score_summaries(scores)
    assert set(summaries) == {"train", "eval"}
    train, eval_ = summaries["train"]["ches"], summaries["eval"]["ches"]
    assert train["histogram"]["edges"] == eval_["histogram"]["edges"]
    assert len(train["histogram"]["edges"]) == SCORE_BINS + 1
    assert train["histogram"]["edges"][0] == -3.0 and train["histogram"]["edges"][-1] == 5.0
    assert sum(train["histogram"]["counts"]) == 4 and sum(eval_["histogram"]["counts"]) == 1
    assert train["mean"] == pytest.approx(0.75) and train["median"] == pytest.approx(0.5)
    assert train["count"] == 4 and train["min"] == -3.0 and train["max"] == 5.0
    # one value everywhere: a bin of width 1 around it, not a division by zero
    single = split_score_summaries({"train": {"ches": np.array([2.0]), "ches_normalized": np.array([2.0])}})
    assert single["train"]["ches"]["histogram"]["edges"][0] == 1.5


STATS = {
    "displacement": {
        "method": "CHES.",
        "model": {"id": "tiny", "class": "LlamaForCausalLM", "dtype": "float32", "sha256": "ab" * 32},
    },
    "splits": {
        "train": {
            "displacement": {
                name: {"count": 3, "mean": 1.0, "median": 2.0, "p10": -1.0, "p90": 3.5}
                for name in ("ches", "ches_normalized")
            }
        },
    },  # fmt: skip
    "filters": [
        {
            "by": "ches",
            "mode": "drop_top",
            "value": 0.1,
            "reason": "filtered_ches",
            "splits": {"train": {"pairs_before": 30, "pairs_dropped": 3, "pairs_after": 27, "cut": 2.5}},
        }
    ],
    "history": [{"verb": "stats", "command": "prefbuild stats a --model tiny --out b"}],
}


def test_describe_filter():
    assert describe_filter(STATS["filters"][0]) == (
        "by ches, dropped the top 10% of each split: train 30 → 27 (reason `filtered_ches`)"
    )


def test_card_section_is_inserted_before_the_examples_and_replaced_in_place():
    card = "# Title\n\nIntro.\n\n## Examples\n\nA pair.\n"
    once = insert_card_section(card, STATS)
    assert once.index(CARD_BEGIN) < once.index("## Examples") and once.count(CARD_BEGIN) == 1
    assert "| `train` | 3 | 1 | 2 | -1 | 3.5 |" in once
    assert "`abababababababab…`" in once and "![Histograms of CHES and normalised CHES](ches.png)" in once
    assert "prefbuild stats a --model tiny --out b" in once and "filtered_ches" in once
    twice = insert_card_section(once, STATS)
    assert twice == once
    # a card without scores or filters gets nothing; a stale section is removed
    assert insert_card_section(card, {"splits": {}}) == card
    assert CARD_END not in insert_card_section(once, {"splits": {}})
