"""The metamath builder on our fixture rows and end to end through the engine."""

import json

import datasets
import pyarrow.parquet as pq
import pytest

from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.errors import PrefbuildError

from .conftest import FIXTURES

SOURCE = FIXTURES / "metamath"
BUILDER = BUILDERS["metamath"]


def fixture_rows():
    return [json.loads(line) for line in (SOURCE / "train.jsonl").read_text().splitlines()]


def build_fixture(index: int, seed: int = 0):
    row = fixture_rows()[index]
    return BUILDER.build_row(row, BUILDER.row_id(row, index), seed, dict(BUILDER.options))


def test_row_without_numbers_is_skipped_under_a_named_reason():
    outcome = build_fixture(7)  # "A mile is longer than a kilometre."
    assert outcome.pairs == [] and outcome.skip_reason == "no_number_to_corrupt"


def test_empty_response_is_skipped():
    outcome = BUILDER.build_row({"query": "q", "response": " "}, "id", 0, {})
    assert outcome.skip_reason == "empty_query_or_response"


@pytest.mark.parametrize("seed", range(5))
def test_latex_row_changes_a_verified_result_never_the_boxed_answer(seed):
    (pair,) = build_fixture(3, seed).pairs  # $\frac{12}{4} = 3$ and $2^5 = 32$ ... \boxed{35}
    assert pair["tier"] == "verified" and pair["original_value"] in {"3", "32"}
    assert "\\boxed{35}" in pair["rejected"] and pair["rejected"].endswith("The answer is: 35")


def test_fallback_tiers():
    (unverified,) = build_fixture(8).pairs  # x / 2 = 12, so x = 24
    assert unverified["tier"] == "unverified"
    (any_number,) = build_fixture(11).pairs  # no `=`: "which makes 210 pages"
    assert any_number["tier"] == "any_number" and any_number["original_value"] == "210"  # 30 and 7 are givens


def test_step_labels_and_years_are_not_results():
    for seed in range(20):
        (pair,) = build_fixture(6, seed).pairs  # "Step 1: 40% * 250 = 100 ...", "In 1998"
        assert pair["original_value"] in {"100", "150"}


def test_eval_hold_out_is_seeded_and_sized():
    dataset = datasets.Dataset.from_list(fixture_rows())
    first = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 0)
    again = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 0)
    other = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 1)
    assert len(first["eval"]) == 3 and len(first["train"]) == len(dataset) - 3
    assert first["eval"]["query"] == again["eval"]["query"]
    assert first["eval"]["query"] != other["eval"]["query"]
    assert set(first["eval"]["query"]).isdisjoint(first["train"]["query"])
    assert set(BUILDER.prepare({"train": dataset}, {"eval_size": 0}, 0)) == {"train"}


@pytest.mark.parametrize(("size", "message"), [(-1, "must be an integer >= 0"), (12, "leaves no train rows")])
def test_bad_eval_size_is_refused(size, message):
    dataset = datasets.Dataset.from_list(fixture_rows())
    with pytest.raises(PrefbuildError, match=message):
        BUILDER.prepare({"train": dataset}, {"eval_size": size}, 0)


def test_end_to_end_build(tmp_path):
    report = build_dataset(
        "metamath", source=str(SOURCE), out=tmp_path / "out", options={"eval_size": 2}, seed=3, plot=False
    )
    splits = report.stats["splits"]
    assert set(splits) == {"train", "eval"}
    assert sum(s["input_rows"] for s in splits.values()) == len(fixture_rows())
    for split in splits.values():
        assert split["input_rows"] == split["pairs"] + sum(split["skipped"].values())
        assert set(split.get("tiers", {})) <= {"verified", "unverified", "any_number"}
    table = pq.read_table(next((tmp_path / "out" / "data").glob("train*.parquet")))
    assert {"tier", "slip", "original_value", "new_value", "span_start", "span_end", "type"} <= set(table.column_names)
    assert str(table.schema.field("span_start").type) == "int32"


def test_eval_size_zero_gives_no_eval_split(tmp_path):
    report = build_dataset("metamath", source=str(SOURCE), out=tmp_path / "out", options={"eval_size": 0}, plot=False)
    assert set(report.stats["splits"]) == {"train"}


@pytest.mark.slow
def test_generated_rows_num_proc_invariant(tmp_path):
    rows = [
        {"query": f"Q{i}", "response": f"Take {i} * 3 = {i * 3} and {i} + 7 = {i + 7}.\nThe answer is: {i}"}
        for i in range(200)
    ]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tables = []
    for num_proc in (1, 2):
        out = tmp_path / f"out{num_proc}"
        build_dataset(
            "metamath", source=str(source), out=out, options={"eval_size": 10}, num_proc=num_proc, plot=False
        )
        tables.append({p.name: pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))})
    assert tables[0].keys() == tables[1].keys()
    for name in tables[0]:
        assert tables[0][name].equals(tables[1][name])
