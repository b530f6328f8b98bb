"""Edit-distance definitions, checked against values computed by hand."""

import re

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


def _stats(**levels_by_split):
    """A stats.json-like dict: split -> {level: values}."""
    return {
        "splits": {
            split: {
                "input_rows": len(next(iter(levels.values()))),
                "pairs": len(next(iter(levels.values()))),
                "skipped": {},
                "edit_distance": {level: stats.summarise(np.array(values)) for level, values in levels.items()},
            }
            for split, levels in levels_by_split.items()
        }
    }


def test_summary_header_names_the_level_of_every_column():
    summary = _stats(train={"char": [0.1, 0.2], "word": [0.3, 0.4]}, eval={"char": [0.5], "word": [1.0]})
    header, rule, train, *_ = stats.render_summary(summary).splitlines()
    assert re.split(r"\s{2,}", header.strip()) == [
        "split", "input rows", "pairs", "skipped", "char mean", "char median", "char p10", "char p90", "word mean",
    ]  # fmt: skip
    assert stats.summary_header() == re.split(r"\s{2,}", header.strip())
    assert stats.summary_header(has_tokens=True)[-1] == "token mean"
    # p10 / p90 are the char level's: 10th percentile of [0.1, 0.2] is 11 %, of the words 31 %
    assert train.split() == ["train", "2", "2", "0", "15.0%", "15.0%", "11.0%", "19.0%", "35.0%"]


def _panels(summary):
    import matplotlib.pyplot as plt
    from matplotlib.patches import StepPatch

    fig = stats.histogram_figure(summary, "test")
    panels = []
    for ax in fig.axes:
        steps = [artist for artist in ax.patches if isinstance(artist, StepPatch)]
        lines = sorted(round(line.get_xdata()[0], 6) for line in ax.lines)
        panels.append((ax.get_title(loc="left"), ax.get_xscale(), steps, lines))
    plt.close(fig)
    return panels


def test_histogram_draws_every_bin_one_panel_per_level_and_marks_mean_and_median():
    # ARC-like: most word distances exactly 1.0, in the last bin [0.95, 1]
    summary = _stats(
        train={"char": [0.6, 0.7, 0.97, 1.0], "word": [1.0, 1.0, 1.0, 0.5], "token": [0.9, 1.0, 1.0, 1.0]},
        eval={"char": [0.8, 0.9], "word": [1.0, 1.0], "token": [1.0, 1.0]},
    )
    panels = _panels(summary)
    assert [title.split(" (")[0] for title, *_ in panels] == ["characters", "words", "tokens"]
    for _, scale, steps, _ in panels:
        assert scale == "linear"
        assert len(steps) == 4  # per split: a filled area and its outline, in the split's own colour
        values, edges = steps[1].get_data()[:2]
        assert len(values) == stats.HISTOGRAM_BINS and edges[-1] == 1.0
        assert steps[1].get_edgecolor() != steps[3].get_edgecolor()
    word_train = panels[1][2][1].get_data()[0]
    assert word_train[-1] == 75.0  # the [0.95, 1] bin holds 3 of 4 pairs and is drawn with its width
    # mean and median of each split: train word mean 0.875, median 1.0; eval both 1.0
    assert panels[1][3] == [0.875, 1.0, 1.0, 1.0]


def test_histogram_of_a_low_edit_set_uses_a_log_axis():
    # MetaMath-like: every char distance below 5 %, all in the first linear bin
    summary = _stats(train={"char": [0.004, 0.006, 0.01, 0.012, 0.03], "word": [0.03, 0.04, 0.05, 0.08, 0.2]})
    (char_title, char_scale, char_steps, _), (_, word_scale, _, _) = _panels(summary)
    assert char_scale == "log" and "log scale" in char_title
    values, edges = char_steps[1].get_data()[:2]
    assert edges[0] == pytest.approx(0.001) and edges[-1] == 1.0
    assert np.count_nonzero(values) >= 3  # the shape shows: several bars, not one
    assert word_scale == "linear"  # only 2 of 5 word distances below 5 % (0.05 itself is in the second bin)
