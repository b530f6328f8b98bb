"""Contract tests over every registered builder, on the fixtures we wrote in each source's real schema."""

import hashlib
from pathlib import Path

import datasets
import pytest

from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.formats import SYSTEM

from .conftest import FIXTURES

# Options that make each builder fit its small fixture (MetaMath's default eval hold-out is 1,000 rows).
CONTRACT_OPTIONS = {"metamath": {"eval_size": 2}}


def build(name: str, out: Path, **kwargs):
    options = CONTRACT_OPTIONS.get(name, {})
    return build_dataset(name, source=str(FIXTURES / name), out=out, options=options, plot=False, **kwargs)


def shard_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_has_fixture(name):
    assert (FIXTURES / name).is_dir(), f"every builder needs fixtures in tests/fixtures/{name}/"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_columns_and_nothing_empty(name, tmp_path):
    build(name, tmp_path / "out")
    loaded = datasets.load_dataset(str(tmp_path / "out"))
    assert set(loaded) <= {"train", "eval"} and "train" in loaded
    for split in loaded.values():
        assert split.column_names[:3] == ["prompt", "chosen", "rejected"]
        assert {"edit_distance_char", "edit_distance_word"} <= set(split.column_names)
        for column in ("prompt", "chosen", "rejected"):
            assert split.features[column].dtype == "string"
        for row in split:
            assert row["prompt"].strip() and row["chosen"].strip() and row["rejected"].strip()
            assert row["chosen"] != row["rejected"]
            assert 0.0 < row["edit_distance_char"] <= 1.0


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_row_accounting(name, tmp_path):
    report = build(name, tmp_path / "out")
    for split in report.stats["splits"].values():
        assert split["input_rows"] >= 1
        assert split["pairs"] >= 1
        assert 0.0 <= split["edit_distance"]["char"]["mean"] <= 1.0


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_seed_same_bytes_and_num_proc_invariant(name, tmp_path, monkeypatch):
    monkeypatch.setattr("prefbuild.build.MIN_ROWS_PER_PROCESS", 1)  # worker processes even for a fixture's rows
    build(name, tmp_path / "a", seed=7)
    build(name, tmp_path / "b", seed=7, num_proc=2)
    assert shard_digests(tmp_path / "a") == shard_digests(tmp_path / "b")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_few_shot_prefixes_examples_never_the_row_itself(name, tmp_path):
    # A builder whose rows carry their own system message (ORCA, Truthy) puts it first in a standard prompt, before
    # the examples; the user's turn of the conversational format holds exactly examples + the row's prompt.
    fmt = "conversational" if SYSTEM in BUILDERS[name].metadata_schema else "standard"
    plain = datasets.load_dataset(str(build(name, tmp_path / "plain", fmt=fmt).out))
    shots = datasets.load_dataset(str(build(name, tmp_path / "shots", few_shot=2, fmt=fmt).out))

    def user_text(row) -> str:
        return row["prompt"] if fmt == "standard" else row["prompt"][-1]["content"]

    for split in plain:
        for before, after in zip(map(user_text, plain[split]), map(user_text, shots[split])):
            assert after.endswith(before)
            prefix = after[: -len(before)]
            assert prefix.endswith("\n\n") and prefix.count("\n\n") >= 2
            assert before not in prefix  # the row's own question is never one of its examples
