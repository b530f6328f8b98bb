"""The output folder: round trip through load_dataset, atomic writes, overwrite rules, shards, stats.json."""

import json

import datasets
import pyarrow as pa
import pytest

from prefbuild.build import build_dataset
from prefbuild.errors import PrefbuildError
from prefbuild.output import load_output_folder, read_output_folder, write_output_folder

from .conftest import FIXTURES


def test_round_trip_through_load_dataset(tmp_path):
    out = tmp_path / "arc"
    build_dataset("arc", source=str(FIXTURES / "arc"), out=out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "edit_distance.png", "stats.json"]
    loaded = datasets.load_dataset(str(out))
    assert load_output_folder(out)["train"].to_list() == loaded["train"].to_list()
    tables, stats = read_output_folder(out)
    for split in ("train", "eval"):
        assert loaded[split].to_list() == tables[split].to_pylist()
        assert loaded[split].num_rows == stats["splits"][split]["pairs"]
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk["splits"]["train"]["edit_distance"]["char"]["mean"] == pytest.approx(
        sum(loaded["train"]["edit_distance_char"]) / loaded["train"].num_rows
    )


def test_load_dataset_never_returns_another_folders_rows(tmp_path):
    # datasets caches a local folder by its name; two different builds named "data" must not collide
    build_dataset("arc", source=str(FIXTURES / "arc"), out=tmp_path / "a" / "data", plot=False)
    build_dataset("hellaswag", source=str(FIXTURES / "hellaswag"), out=tmp_path / "b" / "data", plot=False)
    assert datasets.load_dataset(str(tmp_path / "a" / "data"))["train"][0]["prompt"].startswith("Question:")
    assert not datasets.load_dataset(str(tmp_path / "b" / "data"))["train"][0]["prompt"].startswith("Question:")


def test_existing_folder_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "arc"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(PrefbuildError, match="already exists. Pass --overwrite to replace it."):
        build_dataset("arc", source=str(FIXTURES / "arc"), out=out)
    assert (out / "keep.txt").read_text() == "mine"
    build_dataset("arc", source=str(FIXTURES / "arc"), out=out, overwrite=True, plot=False)
    assert not (out / "keep.txt").exists() and (out / "stats.json").is_file()


def test_failed_write_leaves_nothing_behind(tmp_path):
    def broken_card(folder, shards):
        raise PrefbuildError("card failed")

    with pytest.raises(PrefbuildError, match="card failed"):
        write_output_folder(tmp_path / "out", {"train": pa.table({"prompt": ["p"]})}, {"splits": {}}, broken_card)
    assert list(tmp_path.iterdir()) == []


def test_large_split_is_sharded(tmp_path):
    table = pa.table({"prompt": ["x" * 100] * 1000, "chosen": ["a"] * 1000, "rejected": ["b"] * 1000})
    import prefbuild.output as output

    shards = output.write_shards(tmp_path, "train", table, max_shard_bytes=40_000)
    assert shards == [f"data/train-{i:05d}-of-00003.parquet" for i in range(3)]
    assert sum(pa.parquet.read_table(tmp_path / s).num_rows for s in shards) == 1000


def test_conversational_format(tmp_path):
    out = build_dataset(
        "arc", source=str(FIXTURES / "arc"), out=tmp_path / "c", fmt="conversational", system_prompt="Be brief."
    ).out
    row = datasets.load_dataset(str(out))["train"][0]
    assert row["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert row["prompt"][1]["role"] == "user" and row["prompt"][1]["content"].startswith("Question: ")
    assert row["chosen"] == [{"role": "assistant", "content": " Planetary days will become shorter."}]


def _siblings(folder):
    return sorted(path.name for path in folder.parent.iterdir() if path.name.startswith("."))


def test_output_folder_gets_the_users_mode_not_mkdtemps(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_output_folder(tmp_path / "out", {"train": pa.table({"prompt": ["p"]})}, {"splits": {}}, lambda f, s: "")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_overwrite_leaves_no_backup_and_a_failed_one_puts_the_old_folder_back(tmp_path):
    out = tmp_path / "out"
    table = {"train": pa.table({"prompt": ["p"]})}
    write_output_folder(out, table, {"splits": {"v": 1}}, lambda f, s: "first")
    write_output_folder(out, table, {"splits": {"v": 2}}, lambda f, s: "second", overwrite=True)
    assert (out / "README.md").read_text() == "second" and _siblings(out) == []

    def broken_card(folder, shards):
        raise PrefbuildError("card failed")

    with pytest.raises(PrefbuildError, match="card failed"):
        write_output_folder(out, table, {"splits": {"v": 3}}, broken_card, overwrite=True)
    assert (out / "README.md").read_text() == "second" and _siblings(out) == []


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    import os

    out = tmp_path / "out"
    table = {"train": pa.table({"prompt": ["p"]})}
    write_output_folder(out, table, {"splits": {}}, lambda f, s: "old")
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr("prefbuild.output.os.rename", rename)
    with pytest.raises(PrefbuildError, match="Cannot write --out .* No space left on device"):
        write_output_folder(out, table, {"splits": {}}, lambda f, s: "new", overwrite=True)
    assert (out / "README.md").read_text() == "old" and _siblings(out) == []


def test_two_writers_to_one_out_cannot_both_succeed(tmp_path):
    """The second writer finds the folder the first one put in place meanwhile and leaves it alone."""
    out = tmp_path / "out"
    table = {"train": pa.table({"prompt": ["p"]})}

    def card_while_another_writer_finishes(folder, shards):
        write_output_folder(out, table, {"splits": {}}, lambda f, s: "first writer")
        return "second writer"

    with pytest.raises(PrefbuildError, match="appeared while this command ran"):
        write_output_folder(out, table, {"splits": {}}, card_while_another_writer_finishes)
    assert (out / "README.md").read_text() == "first writer" and _siblings(out) == []
