"""Edit-distance definitions, checked against values computed by hand."""

import numpy as np
import pytest

from prefbuild import stats


def test_char_level_is_distance_over_longer_length():
    # "kitten" → "sitting": 3 edits, longer length 7
    assert stats.normalised_levenshtein(["kitten"], ["sitting"])[0] == pytest.approx(3 / 7)
    assert stats.normalised_levenshtein(["same"], ["same"])[0] == 0.0
    assert stats.normalised_levenshtein(["abc"], ["xyz"])[0] == 1.0


def test_word_level_counts_words():
    chosen = "So 16 * 3 = 48 eggs are sold."
    rejected = "So 16 * 3 = 46 eggs are sold."
    assert stats.word_levenshtein([chosen], [rejected])[0] == pytest.approx(1 / 9)
    assert stats.normalised_levenshtein([chosen], [rejected])[0] == pytest.approx(1 / 29)


def test_first_differing_token():
    assert stats.first_differing_token([1, 2, 3, 4], [1, 2, 9, 4]) == 2
    assert stats.first_differing_token([1, 2], [1, 2, 3]) == 2  # one is a prefix of the other
    assert stats.first_differing_token([5], [6]) == 0


def test_summary_fields_and_histogram():
    summary = stats.summarise(np.array([0.0, 0.1, 0.2, 0.3, 1.0]))
    assert summary["mean"] == pytest.approx(0.32)
    assert summary["median"] == pytest.approx(0.2)
    assert summary["p10"] == pytest.approx(0.04)
    assert sum(summary["histogram"]["counts"]) == 5
    assert len(summary["histogram"]["edges"]) == stats.HISTOGRAM_BINS + 1
    assert stats.summarise(np.array([]))["mean"] is None


def test_token_statistics_with_a_tokenizer():
    vocab: dict[str, int] = {}

    class WordTokenizer:
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[vocab.setdefault(w, len(vocab)) for w in t.split()] for t in texts]}

    distance, first = stats.token_statistics(["a b c d"], ["a b x d e"], WordTokenizer())
    assert distance[0] == pytest.approx(2 / 5) and first[0] == 2
