"""The gsm8k builder: calculator annotations give the results; the `#### X` line never changes."""

import json

import pytest

from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.builders.gsm8k import annotated_results, strip_annotations

from .conftest import FIXTURES

SOURCE = FIXTURES / "gsm8k"
BUILDER = BUILDERS["gsm8k"]


def rows(split="train"):
    return [json.loads(line) for line in (SOURCE / f"{split}.jsonl").read_text().splitlines()]


def test_strip_annotations():
    assert strip_annotations("She earns 12/60 = $<<12/60=0.2>>0.2 per minute.") == "She earns 12/60 = $0.2 per minute."


def test_annotations_give_verified_results_in_the_stripped_text():
    text, results, spans = annotated_results(rows()[2]["answer"], keep_annotations=False)
    assert spans == []
    assert [(text[r.start : r.end], r.tier) for r in results] == [("180", "verified"), ("1,020", "verified")]


def test_wrong_annotation_is_unverified():
    text, results, _ = annotated_results("So 2+2 = <<2+2=5>>5 pens.\n#### 5", keep_annotations=False)
    assert [(text[r.start : r.end], r.tier) for r in results] == [("5", "unverified")]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("keep", [False, True])
def test_one_result_changes_and_the_answer_line_stays(seed, keep):
    for index, row in enumerate(rows()[:5]):
        (pair,) = BUILDER.build_row(row, BUILDER.row_id(row, index), seed, {"keep_annotations": keep}).pairs
        expected_chosen = row["answer"] if keep else strip_annotations(row["answer"])
        assert pair["chosen"] == expected_chosen
        assert ("<<" in pair["rejected"]) is keep
        # rows 0 and 4 have no result but the answer (48 - 24 = 24, 2.5 * 4 = 10): the final result is the fallback
        assert pair["tier"] == ("final_result" if index in (0, 4) else "verified")
        assert pair["rejected"].splitlines()[-1] == pair["chosen"].splitlines()[-1]
        start, end = pair["span_start"], pair["span_end"]
        assert pair["rejected"][start:end] == pair["new_value"]
        assert pair["chosen"][:start] == pair["rejected"][:start]
        assert pair["chosen"][start + len(pair["original_value"]) :] == pair["rejected"][end:]
        if keep:  # the annotation itself is untouched: only the visible result changed
            assert pair["rejected"].count("<<") == row["answer"].count("<<")


def test_unannotated_results_fall_back_to_the_text():
    answer = "Not red: 120 - 40 = 80 cars, and 80 / 2 = 40 per lot.\n#### 40"
    (pair,) = BUILDER.build_row(rows("test")[1] | {"answer": answer}, "x", 0, {}).pairs
    assert pair["original_value"] == "80" and pair["tier"] == "verified"


def test_row_without_numbers_is_skipped():
    outcome = BUILDER.build_row(rows()[5], "x", 0, {})
    assert outcome.skip_reason == "no_number_to_corrupt"


def test_end_to_end_build_with_test_split_as_eval(tmp_path):
    report = build_dataset("gsm8k", source=str(SOURCE), out=tmp_path / "out", plot=False)
    splits = report.stats["splits"]
    assert splits["train"]["input_rows"] == 6 and splits["train"]["skipped"] == {"no_number_to_corrupt": 1}
    assert splits["eval"]["input_rows"] == 3 and splits["eval"]["pairs"] == 3
    kept = build_dataset(
        "gsm8k", source=str(SOURCE), out=tmp_path / "kept", plot=False, options={"keep_annotations": True}
    )
    assert kept.stats["options"] == {"keep_annotations": True, "final_result_fallback": True, "slip_model": "small"}


def test_few_shot_examples_are_stripped_solutions():
    example = BUILDER.format_example(rows()[0])
    assert example.startswith(rows()[0]["question"] + "\n") and "<<" not in example and example.endswith("#### 24")
