"""Per-type statistics: a source with a `type` column (MetaMathQA) gets coverage and tier mix per type."""

import dataclasses
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from prefbuild.build import MISSING_GROUP, build_dataset
from prefbuild.builders import BUILDERS

from .conftest import FIXTURES

SOURCE = FIXTURES / "metamath_types" / "train.jsonl"  # 12 rows: all eight types, a null type, two unpairable rows


def source_types() -> list[str]:
    return [json.loads(line)["type"] or MISSING_GROUP for line in SOURCE.read_text().splitlines()]


def build(tmp_path: Path, name: str = "out", **kwargs) -> dict:
    report = build_dataset("metamath", source=str(SOURCE), out=tmp_path / name, plot=False, **kwargs)
    return report.stats.to_json()  # what stats.json holds


@pytest.fixture(scope="module")
def stats(tmp_path_factory) -> dict:
    return build(tmp_path_factory.mktemp("by_type"), options={"eval_size": 0})


def test_every_type_is_reported_with_its_input_rows(stats):
    by_type = stats["splits"]["train"]["by_type"]
    expected = {kind: source_types().count(kind) for kind in set(source_types())}
    assert {kind: counts["input_rows"] for kind, counts in by_type.items()} == expected
    assert MISSING_GROUP in by_type  # a row whose type is null is counted, not dropped


def test_input_rows_equal_pairs_plus_skipped_per_type(stats):
    for kind, counts in stats["splits"]["train"]["by_type"].items():
        assert counts["input_rows"] == counts["pairs"] + sum(counts["skipped"].values()), kind
        assert sum(counts["tiers"].values()) == counts["pairs"], kind


def test_types_add_up_to_the_split(stats):
    split = stats["splits"]["train"]
    by_type = split["by_type"].values()
    assert sum(counts["input_rows"] for counts in by_type) == split["input_rows"]
    assert sum(counts["pairs"] for counts in by_type) == split["pairs"]
    skipped: dict[str, int] = {}
    tiers: dict[str, int] = {}
    for counts in by_type:
        for reason, count in counts["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + count
        for tier, count in counts["tiers"].items():
            tiers[tier] = tiers.get(tier, 0) + count
    assert skipped == split["skipped"]
    assert tiers == split["tiers"]


def test_skipped_rows_keep_their_type(stats):
    by_type = stats["splits"]["train"]["by_type"]
    # "Is a mile longer than a kilometre?" (GSM_Rephrased) and "Why is the sky blue?" (MATH_AnsAug) have no number
    assert sum(by_type["GSM_Rephrased"]["skipped"].values()) == 1
    assert sum(by_type["MATH_AnsAug"]["skipped"].values()) == 1
    assert sum(by_type["GSM_AnsAug"]["skipped"].values()) == 0


def test_group_column_is_not_written_to_the_shards(tmp_path):
    build(tmp_path, options={"eval_size": 0})
    for shard in (tmp_path / "out").rglob("*.parquet"):
        assert "_group" not in pq.read_schema(shard).names


def test_per_type_counts_do_not_depend_on_num_proc_and_cover_the_eval_split(tmp_path, monkeypatch):
    monkeypatch.setattr("prefbuild.build.MIN_ROWS_PER_PROCESS", 1)  # worker processes even for a fixture's rows
    one = build(tmp_path, "one", options={"eval_size": 3})
    two = build(tmp_path, "two", options={"eval_size": 3}, num_proc=2)
    assert one["splits"]["train"]["by_type"] == two["splits"]["train"]["by_type"]
    assert one["splits"]["eval"]["by_type"] == two["splits"]["eval"]["by_type"]
    eval_rows = one["splits"]["eval"]["input_rows"]  # about 3: the hold-out may take whole question groups
    assert eval_rows > 0
    assert sum(counts["input_rows"] for counts in one["splits"]["eval"]["by_type"].values()) == eval_rows


def test_prefbuild_stats_keeps_the_recorded_per_type_counts(tmp_path):
    from prefbuild.build import folder_statistics

    recorded = build(tmp_path, options={"eval_size": 0})
    assert (
        folder_statistics(tmp_path / "out").to_json()["splits"]["train"]["by_type"]
        == recorded["splits"]["train"]["by_type"]
    )


def test_the_summary_lists_pairs_and_rows_per_type(stats):
    from prefbuild.folder import FolderStats
    from prefbuild.stats import render_summary

    typed = FolderStats.from_json(stats)
    lines = [line for line in render_summary(typed).splitlines() if line.startswith("train by type: ")]
    assert len(lines) == 1
    for kind, counts in typed.splits["train"].groups["by_type"].items():
        assert f"{kind} {counts.pairs:,} pairs from {counts.input_rows:,} rows" in lines[0]


def test_sources_without_the_column_build_byte_identical(tmp_path, monkeypatch):
    """ARC has no `type` column: the grouping machinery must leave its folder exactly as without it."""
    source = str(FIXTURES / "arc")
    build_dataset("arc", source=source, out=tmp_path / "default", plot=False)
    monkeypatch.setitem(BUILDERS, "arc", dataclasses.replace(BUILDERS["arc"], group_column=None))
    build_dataset("arc", source=source, out=tmp_path / "ungrouped", plot=False)
    default = sorted(p.relative_to(tmp_path / "default") for p in (tmp_path / "default").rglob("*") if p.is_file())
    ungrouped = sorted(
        p.relative_to(tmp_path / "ungrouped") for p in (tmp_path / "ungrouped").rglob("*") if p.is_file()
    )
    assert default == ungrouped
    for relative in default:
        assert (tmp_path / "default" / relative).read_bytes() == (tmp_path / "ungrouped" / relative).read_bytes()
    assert not any(
        key.startswith("by_")
        for key in json.loads((tmp_path / "default" / "stats.json").read_text())["splits"]["train"]
    )
