"""The hand labels behind benchmarks/judge_audit.py are well formed, and its figures count them as documented."""

import sys

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import judge_audit  # noqa: E402

LEGEND = {"R", "Rp", "Rg", "F", "G", "O", "?"}


def test_every_label_is_in_the_legend_and_marks_its_number():
    items = judge_audit.read_labels()
    assert len(items) == 140
    assert {item["stratum"] for item in items} == {"uniform", "after_equals"}
    for item in items:
        assert item["label"] in LEGEND
        assert item["end"] - item["start"] == len(item["number"])
        assert f"⟦{item['number']}⟧" in item["context"]


def test_figures_count_precision_and_recall_by_label():
    items = [{"label": label} for label in ("R", "R", "Rp", "O", "G", "F", "?")]
    verdicts = [True, False, True, True, False, False, True]  # the unsure one counts nowhere
    data = judge_audit.figures(items, verdicts)
    assert data["judge_says_intermediate"] == 3
    assert data["precision"] == 2 / 3
    assert data["false_positives"] == {"O": 1}
    assert data["recall_R"] == (1, 2)
    assert data["recall_R_Rp"] == (2, 3)
