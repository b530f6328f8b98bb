"""prefbuild/folder.py: the typed stats.json, write_pairs_folder and open_pairs."""

import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefbuild.build import build_dataset
from prefbuild.errors import PrefbuildError
from prefbuild.folder import (
    PAIR_COLUMNS,
    BuilderInfo,
    CardSpec,
    DistanceSummary,
    FolderStats,
    GroupStats,
    SourceInfo,
    SplitStats,
    open_pairs,
    write_pairs_folder,
)
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    out = tmp_path_factory.mktemp("folder") / "arc"
    report = build_dataset("arc", source=str(FIXTURES / "arc"), out=out, plot=False)
    return out, report


def test_stats_json_round_trips_to_the_same_bytes(arc):
    out, report = arc
    text = (out / "stats.json").read_text(encoding="utf-8")
    loaded = FolderStats.load(out)
    assert loaded.to_text() == text
    assert report.stats.to_text() == text  # what build_dataset returns is what it wrote
    assert loaded == report.stats


def test_stats_are_typed(arc):
    stats = FolderStats.load(arc[0])
    assert stats.kind == "build" and stats.builder_name == "arc" and isinstance(stats.builder, BuilderInfo)
    assert stats.source.id == "arc" and stats.source.local == "folder" and stats.source.is_local
    train = stats.splits["train"]
    assert isinstance(train, SplitStats) and isinstance(train.edit_distance["char"], DistanceSummary)
    assert train.paired_rows == train.input_rows - sum(train.skipped.values())
    assert stats.pairs == sum(split.pairs for split in stats.splits.values())
    assert train.distance("char", "mean") == train.edit_distance["char"].mean
    assert train.distance("token", "mean") is None


def test_unknown_keys_and_key_order_survive_a_round_trip():
    raw = {
        "splits": {
            "train": {
                "pairs": 1,
                "input_rows": 1,
                "future_key": [1, 2],
                "skipped": {},
                "edit_distance": {
                    "char": {
                        "count": 0,
                        "mean": None,
                        "median": None,
                        "p10": None,
                        "p90": None,
                        "min": None,
                        "max": None,
                    }
                },
                "by_type": {"GSM_AnsAug": {"input_rows": 1, "pairs": 1, "skipped": {}, "dropped_pairs": {}}},
            }
        },
        "seed": 3,
        "written_by_a_newer_prefbuild": {"x": 1},
    }
    stats = FolderStats.from_json(raw)
    assert stats.to_json() == raw and list(stats.to_json()) == list(raw)
    assert list(stats.to_json()["splits"]["train"]) == list(raw["splits"]["train"])
    assert stats.extra == {"written_by_a_newer_prefbuild": {"x": 1}}
    assert stats.splits["train"].groups["by_type"]["GSM_AnsAug"] == GroupStats(input_rows=1, pairs=1)
    # a key set later is appended, as assigning it in the dict did
    stats.splits["train"].dropped_pairs = {"benchmark_overlap": 1}
    assert list(stats.to_json()["splits"]["train"])[-1] == "dropped_pairs"


def test_a_new_build_header_writes_every_build_key_in_order():
    stats = FolderStats(
        prefbuild_version="0",
        builder=BuilderInfo(name="arc", version=1),
        source=SourceInfo(id="x"),
        seed=0,
        few_shot=0,
        format="standard",
        options={},
        splits={"train": SplitStats(input_rows=2)},
    )
    assert list(stats.to_json()) == [
        "prefbuild_version",
        "builder",
        "source",
        "seed",
        "few_shot",
        "format",
        "system_prompt",
        "tokenizer",
        "limit",
        "options",
        "command",
        "splits",
    ]
    assert list(stats.to_json()["splits"]["train"]) == [
        "input_rows",
        "pairs",
        "skipped",
        "dropped_pairs",
        "edit_distance",
    ]


def test_dict_style_access_still_reads_but_warns(arc):
    stats = FolderStats.load(arc[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert stats["splits"]["train"]["pairs"] == stats.splits["train"].pairs
    assert caught and issubclass(caught[0].category, DeprecationWarning)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON"),
        ('{"seed": 0}', "has no 'splits' mapping"),
        ('{"splits": {"train": {"pairs": 1}}}', "must be a mapping with an integer 'input_rows'"),
        ('{"splits": {"../x": {"input_rows": 1}}}', "lists a split named"),
    ],
)
def test_a_broken_stats_json_is_one_error(tmp_path, content, message):
    (tmp_path / "stats.json").write_text(content)
    with pytest.raises(PrefbuildError, match=message):
        FolderStats.load(tmp_path)


def test_write_pairs_folder_adds_distances_summarises_and_writes(tmp_path):
    table = pa.table({"prompt": ["p", "q"], "chosen": ["a b c", "same"], "rejected": ["a b d", "same"]})
    header = FolderStats(prefbuild_version="0", seed=0, splits={"train": SplitStats(input_rows=3, skipped={"x": 1})})
    card = CardSpec(kept="---\nlicense: mit\n---\n\n# A test folder\n")
    written = write_pairs_folder(tmp_path / "out", {"train": table}, header, card=card, plot=False)
    train = written.splits["train"]
    assert train.pairs == 2 and train.edit_distance["word"].mean == pytest.approx(1 / 6)
    shard = pq.read_table(tmp_path / "out" / "data" / "train-00000-of-00001.parquet")
    assert shard.column_names == [*PAIR_COLUMNS, "edit_distance_char", "edit_distance_word"]
    assert FolderStats.load(tmp_path / "out") == written
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "# A test folder" in readme and "dataset_info" in readme
    with pytest.raises(PrefbuildError, match="exists"):
        write_pairs_folder(tmp_path / "out", {"train": table}, header, card=card, plot=False)


def test_open_pairs_reads_a_folder(arc):
    out, report = arc
    pairs = open_pairs(out)
    assert pairs.stats == report.stats and pairs.splits == list(report.stats.splits)
    table = pairs.table("train")
    assert set(PAIR_COLUMNS) <= set(table.column_names) and table.num_rows == report.stats.splits["train"].pairs
    assert len(pairs.dataset("eval")) == report.stats.splits["eval"].pairs
    limited = open_pairs(out, split="train", limit=2)
    assert limited.table("train").num_rows == 2 and len(limited.dataset("train")) == 2


def test_open_pairs_errors_name_the_problem(arc, tmp_path):
    with pytest.raises(PrefbuildError, match=r"--split 'test' is not in .*its splits are: train, eval"):
        open_pairs(arc[0], split="test")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PrefbuildError, match="is a file; expected a folder"):
        open_pairs(tmp_path / "file.txt")
    with pytest.raises(PrefbuildError, match="has no stats.json"):
        open_pairs(tmp_path, hub=False)
    with pytest.raises(PrefbuildError, match="--limit must be >= 1"):
        open_pairs(arc[0], limit=0)


def test_mixture_sources_are_typed_and_round_trip():
    raw = {
        "prefbuild_version": "0",
        "mix": {"name": "tiny", "config": None, "seed": 0},
        "seed": 0,
        "format": "standard",
        "system_prompt": None,
        "command": None,
        "sources": [
            {
                "name": "arc",
                "source": "arc",
                "schema": "prefbuild",
                "hub_id": "allenai/ai2_arc",
                "license": "cc-by-sa-4.0",
                "weight": 1.0,
                "eval_weight": None,
                "builder": {"name": "arc", "version": 1},
                "splits": {
                    "train": {
                        "source_rows": 3,
                        "usable_pairs": 3,
                        "skipped": {},
                        "selected": 2,
                        "not_selected": 1,
                        "edit_distance": {
                            "char": {
                                "count": 0,
                                "mean": None,
                                "median": None,
                                "p10": None,
                                "p90": None,
                                "min": None,
                                "max": None,
                            }
                        },
                    }
                },
            }
        ],
        "splits": {
            "train": {
                "input_rows": 3,
                "pairs": 2,
                "skipped": {"arc:not_selected": 1},
                "dropped_pairs": {},
                "edit_distance": {},
                "sources": {"arc": 2},
            }
        },
    }
    stats = FolderStats.from_json(raw)
    assert stats.kind == "mix" and stats.to_json() == raw
    assert stats.sources[0].splits["train"].selected == 2 and stats.sources[0].extra["builder"]["name"] == "arc"
    assert stats.splits["train"].sources == {"arc": 2}


def test_source_locality_of_folders_written_before_local_was_recorded(tmp_path):
    assert SourceInfo.from_json({"id": str(tmp_path), "config": None}).is_local  # no `local` key: the path exists
    assert not SourceInfo.from_json({"id": "allenai/ai2_arc", "config": None}).is_local
    assert not SourceInfo(id=str(tmp_path), local=None).is_local  # written by this version: `local` says it
    assert list(SourceInfo.from_json({"id": "x", "config": None}).to_json()) == ["id", "config"]
