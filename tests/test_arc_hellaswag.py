"""Exact pair counts and formats for ARC and HellaSwag on fixtures with the ugly cases."""

import datasets

from prefbuild.build import build_dataset
from prefbuild.builders import arc, hellaswag

from .conftest import FIXTURES


def test_arc_counts_on_ugly_fixture(tmp_path):
    stats = build_dataset("arc", source=str(FIXTURES / "arc"), out=tmp_path / "arc", plot=False).stats
    train, eval_ = stats["splits"]["train"], stats["splits"]["eval"]
    # 4 letters → 3, digits → 3, 3 choices → 2, 5 choices → 4, one duplicate of the correct choice → 2
    assert train["pairs"] == 14
    assert train["input_rows"] == 8
    assert train["skipped"] == {"answer_key_not_in_labels": 1, "no_distinct_wrong_choice": 1, "unlabeled": 1}
    assert train["dropped_pairs"] == {"wrong_choice_equals_correct": 3}
    assert eval_ == eval_ | {"input_rows": 3, "pairs": 8, "skipped": {}, "dropped_pairs": {}}
    assert set(stats["splits"]) == {"train", "eval"}  # the unlabeled test split is not used


def test_arc_format_matches_the_evaluation_harness():
    row = {
        "id": "x",
        "question": "Which is a liquid?",
        "choices": {"text": ["iron", "water", "salt"], "label": ["1", "2", "3"]},
        "answerKey": "2",
    }
    outcome = arc.build_row(row, "x", 0, {})
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in outcome.pairs] == [
        ("Question: Which is a liquid?\nAnswer:", " water", " iron"),
        ("Question: Which is a liquid?\nAnswer:", " water", " salt"),
    ]
    assert arc.format_example(row) == "Question: Which is a liquid?\nAnswer: water"


def test_arc_bad_rows_are_skipped_with_reasons():
    base = {"id": "x", "question": "Q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "A"}
    assert arc.build_row({**base, "answerKey": None}, "x", 0, {}).skip_reason == "unlabeled"
    assert arc.build_row({**base, "answerKey": "C"}, "x", 0, {}).skip_reason == "answer_key_not_in_labels"
    assert arc.build_row({**base, "question": " "}, "x", 0, {}).skip_reason == "empty_question"
    assert arc.build_row({**base, "choices": {"text": ["a"], "label": ["A", "B"]}}, "x", 0, {}).skip_reason == (
        "malformed_choices"
    )


def test_hellaswag_counts_on_ugly_fixture(tmp_path):
    stats = build_dataset("hellaswag", source=str(FIXTURES / "hellaswag"), out=tmp_path / "hs", plot=False).stats
    train = stats["splits"]["train"]
    assert (train["input_rows"], train["pairs"]) == (6, 11)
    assert train["skipped"] == {"label_out_of_range": 1, "unlabeled": 1}
    assert train["dropped_pairs"] == {"wrong_ending_equals_correct": 1}
    assert (stats["splits"]["eval"]["input_rows"], stats["splits"]["eval"]["pairs"]) == (2, 6)


def test_hellaswag_cleanup_matches_the_evaluation_harness(tmp_path):
    build_dataset("hellaswag", source=str(FIXTURES / "hellaswag"), out=tmp_path / "hs", plot=False)
    train = datasets.load_dataset(str(tmp_path / "hs"))["train"]
    wikihow = [row for row in train if row["source_id"] == "10"]
    assert wikihow[0]["prompt"] == "Home and Garden: How to grow tomatoes. Choose a sunny spot. tomatoes need"
    assert wikihow[0]["chosen"] == " six to eight hours of direct sun each day.. Water deeply."
    assert all("[" not in row["prompt"] + row["chosen"] + row["rejected"] for row in train)


def test_hellaswag_label_as_integer_or_string():
    row = {"ind": 1, "activity_label": "A", "ctx_a": "x.", "ctx_b": "y", "endings": ["p", "q", "r"], "label": 2}
    assert [p["chosen"] for p in hellaswag.build_row(row, "1", 0, {}).pairs] == [" r", " r"]
    assert [p["chosen"] for p in hellaswag.build_row({**row, "label": "2"}, "1", 0, {}).pairs] == [" r", " r"]
    assert hellaswag.clean("a [title] b [step] c  d") == "a. b c d"
