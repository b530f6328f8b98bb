"""`prefbuild mix`: row counts and provenance for given shares and seed, formats, bad configs, the deprecated
`weight` spelling."""

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from prefbuild.build import build_dataset
from prefbuild.cards import check_card
from prefbuild.errors import PrefbuildError
from prefbuild.mix import (
    NORMALISERS,
    THIRD_PARTY,
    MixEntry,
    config_yaml,
    load_config,
    mix_datasets,
    normalise_orca,
    normalise_ultrafeedback,
    parse_config,
)
from tests.conftest import FIXTURES, REPO

MIX = FIXTURES / "mix"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mix-sources")
    folders = {}
    for name in ("arc", "hellaswag"):
        folders[name] = root / name
        build_dataset(name, source=str(FIXTURES / name), out=folders[name], plot=False)
    folders["arc_conversational"] = root / "arc_conversational"
    build_dataset(
        "arc", source=str(FIXTURES / "arc"), out=folders["arc_conversational"], fmt="conversational", plot=False
    )
    return folders


def _config(built, **overrides) -> dict:
    raw = {
        "name": "tiny",
        "seed": 0,
        "sources": [
            {"name": "arc", "source": str(built["arc"]), "fraction": 1.0},
            {"name": "hellaswag", "source": str(built["hellaswag"]), "rows": 5},
            {"name": "orca", "source": str(MIX / "orca"), "schema": "Intel/orca_dpo_pairs", "fraction": 0.5},
            {"name": "truthy", "source": str(MIX / "truthy"), "schema": "jondurbin/truthy-dpo-v0.1"},
            {
                "name": "ultrafeedback",
                "source": str(MIX / "ultrafeedback"),
                "schema": "HuggingFaceH4/ultrafeedback_binarized",
                "rows": 3,
                "eval_fraction": 1.0,
            },
        ],
    }
    raw.update(overrides)
    return raw


def _split(folder: Path, split: str):
    return pq.read_table(next((folder / "data").glob(f"{split}-*.parquet")))


def test_row_counts_and_provenance(built, tmp_path):
    report = mix_datasets(parse_config(_config(built)), out=tmp_path / "mix", plot=False)
    train, evaluation = _split(tmp_path / "mix", "train"), _split(tmp_path / "mix", "eval")
    # arc: all 14; hellaswag: 5 of 11; orca: 0.5 × 4 usable = 2; truthy: all 3 usable; ultrafeedback: 3 of 5
    assert Counter(train.column("source").to_pylist()) == {
        "arc": 14,
        "hellaswag": 5,
        "orca": 2,
        "truthy": 3,
        "ultrafeedback": 3,
    }
    # eval: arc all 8; hellaswag at its train rate 5/11 of 6 → 3; ultrafeedback eval_fraction 1.0 → 2; none elsewhere
    assert Counter(evaluation.column("source").to_pylist()) == {"arc": 8, "hellaswag": 3, "ultrafeedback": 2}
    assert train.column_names == ["prompt", "chosen", "rejected", "source", "edit_distance_char", "edit_distance_word"]

    recorded = json.loads((tmp_path / "mix" / "stats.json").read_text())
    assert recorded == report.stats.to_json()
    orca = next(source for source in recorded["sources"] if source["name"] == "orca")
    assert orca["splits"]["train"] == {**orca["splits"]["train"], "source_rows": 6, "usable_pairs": 4, "selected": 2}
    assert orca["splits"]["train"]["skipped"] == {"chosen_equals_rejected": 1, "empty_rejected": 1}
    assert recorded["splits"]["train"]["sources"]["orca"] == 2
    assert recorded["splits"]["train"]["skipped"]["ultrafeedback:not_single_turn"] == 1

    # every mixed row is a real row of the source its `source` column names
    arc_rows = {
        tuple(row.values())
        for row in _split(built["arc"], "train").select(["prompt", "chosen", "rejected"]).to_pylist()
    }
    for row in train.filter(train.column("source").to_numpy(zero_copy_only=False) == "arc").to_pylist():
        assert (row["prompt"], row["chosen"], row["rejected"]) in arc_rows
    orca_questions = {json.loads(line)["question"] for line in (MIX / "orca" / "train.jsonl").read_text().splitlines()}
    for row in train.to_pylist():
        if row["source"] == "orca":
            assert row["prompt"].split("\n\n")[-1] in orca_questions


def test_same_seed_same_bytes_other_seed_other_sample(built, tmp_path):
    config = parse_config(_config(built))
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        mix_datasets(config, out=tmp_path / name, seed=seed, plot=False)
    shard = "data/train-00000-of-00001.parquet"
    assert (tmp_path / "a" / shard).read_bytes() == (tmp_path / "b" / shard).read_bytes()
    assert (tmp_path / "a" / "README.md").read_text() == (tmp_path / "b" / "README.md").read_text()
    a, c = _split(tmp_path / "a", "train"), _split(tmp_path / "c", "train")
    assert Counter(a.column("source").to_pylist()) == Counter(c.column("source").to_pylist())
    assert a.column("prompt").to_pylist() != c.column("prompt").to_pylist()


def test_card_lists_the_composition_and_round_trips(built, tmp_path):
    mix_datasets(
        parse_config(_config(built)), out=tmp_path / "mix", command="prefbuild mix --config tiny.yaml --out mix"
    )
    card = (tmp_path / "mix" / "README.md").read_text()
    data = check_card(card)
    assert sorted(data.license) == ["apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "mit"]
    assert "Intel/orca_dpo_pairs" in data.source_datasets and "allenai/ai2_arc" in data.source_datasets
    assert "| `orca` | `Intel/orca_dpo_pairs` | apache-2.0 | 50% of the rows | 2 of 4 | – |" in card
    assert "| `hellaswag` | `Rowan/hellaswag` (prefbuild build) | mit | 5 rows | 5 of 11 | 3 of 6 |" in card
    assert "prefbuild mix --config tiny.yaml --out mix" in card
    assert "ShareAlike" in card and "![Histogram of edit distances" in card
    assert (tmp_path / "mix" / "edit_distance.png").is_file()


def test_a_mixture_is_a_prefbuild_folder_for_stats_and_push(built, tmp_path, run_cli):
    from prefbuild.hub import plan_push

    mix_datasets(parse_config(_config(built)), out=tmp_path / "mix", plot=False)
    assert plan_push(tmp_path / "mix", "org/tiny-mix").commit_message == (
        "Upload tiny preference pairs built with prefbuild 0.1.0"
    )
    code, out, err = run_cli("stats", tmp_path / "mix")
    assert (code, err) == (0, "")
    assert out.splitlines()[2].split()[:3] == ["train", "41", "27"]  # source rows read, pairs mixed


def test_conversational_mix(built, tmp_path):
    config = parse_config(_config(built))
    mix_datasets(config, out=tmp_path / "mix", fmt="conversational", system_prompt="Be brief.", plot=False)
    rows = _split(tmp_path / "mix", "train").to_pylist()
    by_source = {row["source"]: row for row in rows}
    assert by_source["arc"]["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert by_source["arc"]["chosen"][0]["role"] == "assistant" and len(by_source["arc"]["chosen"]) == 1
    # Truthy rows carry their own system message, which wins over --system-prompt
    assert by_source["truthy"]["prompt"][0]["role"] == "system"
    assert by_source["truthy"]["prompt"][0]["content"] != "Be brief."
    assert by_source["truthy"]["prompt"][-1]["role"] == "user"


def test_third_party_sets_are_builders_and_the_old_normalisers_warn(caplog):
    assert {hub_id: builder.name for hub_id, builder in THIRD_PARTY.items()} == {
        "Intel/orca_dpo_pairs": "orca",
        "jondurbin/truthy-dpo-v0.1": "truthy",
        "HuggingFaceH4/ultrafeedback_binarized": "ultrafeedback",
    }
    assert NORMALISERS is THIRD_PARTY  # the deprecated name
    with caplog.at_level(logging.WARNING, logger="prefbuild.mix"):
        orca = normalise_orca({"system": " ", "question": "Q?", "chosen": "A", "rejected": "B"})
    assert orca == {"system": None, "prompt": "Q?", "chosen": "A", "rejected": "B"}
    assert caplog.messages == [
        "prefbuild.mix.normalise_orca is deprecated; use prefbuild.builders.orca.build_row (a RowOutcome)."
    ]
    turn = lambda reply: [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": reply}]  # noqa: E731
    assert normalise_ultrafeedback({"prompt": "Hi", "chosen": turn("Go"), "rejected": turn("Same")})["chosen"] == "Go"
    assert normalise_ultrafeedback({"prompt": "Hi", "chosen": turn("X"), "rejected": turn("X")}) == (
        "chosen_equals_rejected"
    )


def _error(built, tmp_path, run_cli, raw) -> tuple[int, str]:
    config = tmp_path / "mix.yaml"
    config.write_text(yaml.safe_dump(raw))
    code, out, err = run_cli("mix", "--config", config, "--out", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    return code, err.replace(str(config), "CONFIG")


def _with_entry(built, index: int, **changes) -> dict:
    raw = _config(built)
    raw["sources"][index] = {**raw["sources"][index], **changes}
    return raw


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (
            2,
            {"fraction": 0},
            "Error: Mixture entry 3 ('orca'): `fraction` 0 is not a fraction in (0, 1]. Use 1.0 for every row, or `rows` for a count.\n",
        ),
        (
            2,
            {"fraction": 1.5},
            "Error: Mixture entry 3 ('orca'): `fraction` 1.5 is not a fraction in (0, 1]. Use 1.0 for every row, or `rows` for a count.\n",
        ),
        (
            2,
            {"fraction": "half"},
            "Error: Mixture entry 3 ('orca'): `fraction` must be a fraction in (0, 1], got 'half'. Use `rows` for a count.\n",
        ),
        (
            1,
            {"rows": 0},
            "Error: Mixture entry 2 ('hellaswag'): `rows` 0 must be >= 1 (a row count). Use `fraction` for a share.\n",
        ),
        (
            1,
            {"rows": 2.5},
            "Error: Mixture entry 2 ('hellaswag'): `rows` must be a row count >= 1, got 2.5. Use `fraction` for a share.\n",
        ),
        (
            2,
            {"rows": 2},
            "Error: Mixture entry 3 ('orca'): `fraction` and `rows` are both set; give one: `fraction` (a share of the rows) or `rows` (a count).\n",
        ),
        (
            4,
            {"eval_rows": 1},
            "Error: Mixture entry 5 ('ultrafeedback'): `eval_fraction` and `eval_rows` are both set; give one: `eval_fraction` (a share of the rows) or `eval_rows` (a count).\n",
        ),
        (
            1,
            {"rows": 50},
            "Error: Mixture entry 2 ('hellaswag'): `rows` asks for 50 train rows but the source has 11 usable ones.\n",
        ),
        (
            4,
            {"eval_fraction": None, "eval_rows": 5},
            "Error: Mixture entry 5 ('ultrafeedback'): `eval_rows` asks for 5 eval rows but the source has 2 usable ones.\n",
        ),
        (
            2,
            {"schema": "Intel/orca_dpo_pair"},
            "Error: Mixture entry 3 ('orca'): unknown `schema` 'Intel/orca_dpo_pair'. Did you mean: Intel/orca_dpo_pairs? Available: Intel/orca_dpo_pairs, jondurbin/truthy-dpo-v0.1, HuggingFaceH4/ultrafeedback_binarized, pairs, prefbuild.\n",
        ),
        (
            2,
            {"fractions": 1.0},
            "Error: Mixture entry 3 ('orca'): unknown key(s) fractions. Allowed: eval_fraction, eval_rows, eval_weight, fraction, name, rows, schema, source, weight.\n",
        ),
        (
            2,
            {"name": "arc"},
            "Error: Mixture entry 3 ('arc'): the name 'arc' is used twice; names label the `source` column.\n",
        ),
        (
            3,
            {"schema": "Intel/orca_dpo_pairs"},
            "Error: Mixture entry 4 ('truthy'): split 'train' has no field question; is ",
        ),
    ],
)
def test_bad_entries_name_the_entry(built, tmp_path, run_cli, index, changes, message):
    raw = _with_entry(built, index, **changes)
    raw["sources"][index] = {key: value for key, value in raw["sources"][index].items() if value is not None}
    code, err = _error(built, tmp_path, run_cli, raw)
    assert code == 1
    assert err.startswith(message) if not message.endswith("\n") else err == message


def test_unknown_source_suggests_a_known_one(built, tmp_path, run_cli):
    raw = _with_entry(built, 3, source="jondurbin/truthy-dpo", schema=None)
    del raw["sources"][3]["schema"]
    code, err = _error(built, tmp_path, run_cli, raw)
    assert code == 1
    assert err.startswith(
        "Error: Mixture entry 4 ('truthy'): unknown source 'jondurbin/truthy-dpo': no such folder, and not a "
        "third-party set prefbuild can normalise. Did you mean: jondurbin/truthy-dpo-v0.1?"
    )


def test_local_copy_without_schema(built, tmp_path, run_cli):
    raw = _config(built)
    del raw["sources"][2]["schema"]
    code, err = _error(built, tmp_path, run_cli, raw)
    assert code == 1 and err.startswith(
        f"Error: Mixture entry 3 ('orca'): '{MIX / 'orca'}' is not a folder written by `prefbuild build` (no stats.json)."
    )


def test_mismatched_formats(built, tmp_path, run_cli):
    raw = _with_entry(built, 0, source=str(built["arc_conversational"]))
    code, err = _error(built, tmp_path, run_cli, raw)
    assert (code, err) == (
        1,
        f"Error: Mixture entry 1 ('arc'): '{built['arc_conversational']}' was built with --format conversational but "
        "the mixture is standard. Rebuild it with --format standard, or mix with --format conversational.\n",
    )
    # a conversational mixture takes it
    mix_datasets(parse_config(raw), out=tmp_path / "ok", fmt="conversational", plot=False)


def test_config_level_errors(built, tmp_path, run_cli):
    assert _error(built, tmp_path, run_cli, _config(built, format="chat"))[1] == (
        "Error: Mixture config 'CONFIG': unknown `format` 'chat'. Available: standard, conversational.\n"
    )
    assert _error(built, tmp_path, run_cli, _config(built, system_prompt="Hi"))[1] == (
        "Error: Mixture config 'CONFIG': `system_prompt` applies only to format conversational (format is standard).\n"
    )
    code, _, err = run_cli("mix", "--config", tmp_path / "nope.yaml", "--out", tmp_path / "out")
    assert (code, err) == (
        1,
        f"Error: Mixture config '{tmp_path / 'nope.yaml'}' does not exist. Mixture recipes live under recipes/mix/.\n",
    )


def test_smaug_recipe_is_the_six_sets():
    config = load_config(REPO / "recipes" / "mix" / "smaug.yaml")
    assert [entry.name for entry in config.sources] == [
        "metamath",
        "arc",
        "hellaswag",
        "orca",
        "truthy",
        "ultrafeedback",
    ]
    assert [entry.source for entry in config.sources[3:]] == list(NORMALISERS)
    assert [entry.source for entry in config.sources[:3]] == ["data/metamath", "data/arc", "data/hellaswag"]


def test_tiny_recipe_runs_from_the_repository_layout(tmp_path, monkeypatch, run_cli):
    """The commands in recipes/mix/tiny.yaml's header, run in a copy of the layout they expect."""
    (tmp_path / "tests").mkdir()
    shutil.copytree(FIXTURES, tmp_path / "tests" / "fixtures")
    monkeypatch.chdir(tmp_path)
    for name in ("arc", "hellaswag"):
        assert (
            run_cli("build", name, "--source", f"tests/fixtures/{name}", "--out", f"runs/{name}", "--no-plot")[0] == 0
        )
    code, out, err = run_cli("mix", "--config", REPO / "recipes/mix/tiny.yaml", "--out", "runs/tiny-mix", "--no-plot")
    assert (code, err) == (0, "")
    assert out.splitlines()[:6] == [
        "Wrote runs/tiny-mix",
        "  arc: train 14/14, eval 8/8",
        "  hellaswag: train 6/11, eval 3/6",
        "  orca: train 2/4",
        "  truthy: train 3/3",
        "  ultrafeedback: train 3/5, eval 2/2",
    ]


@pytest.mark.slow  # ~10 s of torch / TRL import before two steps of training
def test_conversational_mixture_trains_with_the_tiny_recipe(built, tmp_path):
    """A conversational mixture (system prompts included) goes through DPOP training on the tiny model."""
    from prefbuild.train.run import main as train
    from prefbuild.train.tiny_model import write_tiny_model

    mix_datasets(parse_config(_config(built)), out=tmp_path / "mix", fmt="conversational", system_prompt="Be brief.")
    model = write_tiny_model(tmp_path / "tiny-model")
    argv = [
        "--config", str(REPO / "recipes" / "tiny" / "dpop.yaml"),
        "--model_name_or_path", str(model),
        "--dataset_name", str(tmp_path / "mix"),
        "--output_dir", str(tmp_path / "run"),
        "--max_steps", "2", "--eval_steps", "2", "--logging_steps", "1", "--disable_tqdm", "true",
    ]  # fmt: skip
    assert train(argv) == 0
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_missing_built_folder_says_how_to_build_it(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("mix", "--config", REPO / "recipes" / "mix" / "smaug.yaml", "--out", "mix")
    assert (code, err) == (
        1,
        "Error: Mixture entry 1 ('metamath'): folder 'data/metamath' does not exist. Build it first: "
        "`prefbuild build metamath --out data/metamath`.\n",
    )


def _old_spelling(raw: dict) -> dict:
    """The same config with the deprecated `weight` / `eval_weight` keys."""
    renamed = {"fraction": "weight", "rows": "weight", "eval_fraction": "eval_weight", "eval_rows": "eval_weight"}
    raw = {**raw, "sources": [{renamed.get(k, k): v for k, v in entry.items()} for entry in raw["sources"]]}
    return raw


def test_deprecated_weight_warns_once_per_key_with_the_new_spelling(built, caplog):
    with caplog.at_level(logging.WARNING, logger="prefbuild.mix"):
        config = parse_config(_old_spelling(_config(built)))
    assert caplog.messages == [
        "Mixture entry 1 ('arc'): `weight: 1.0` is deprecated; write `fraction: 1.0` (`fraction` is a share of the "
        "rows, `rows` a count).",
        "Mixture entry 2 ('hellaswag'): `weight: 5` is deprecated; write `rows: 5` (`fraction` is a share of the "
        "rows, `rows` a count).",
        "Mixture entry 3 ('orca'): `weight: 0.5` is deprecated; write `fraction: 0.5` (`fraction` is a share of the "
        "rows, `rows` a count).",
        "Mixture entry 5 ('ultrafeedback'): `weight: 3` is deprecated; write `rows: 3` (`fraction` is a share of the "
        "rows, `rows` a count).",
        "Mixture entry 5 ('ultrafeedback'): `eval_weight: 1.0` is deprecated; write `eval_fraction: 1.0` "
        "(`eval_fraction` is a share of the rows, `eval_rows` a count).",
    ]
    assert all(record.levelno == logging.WARNING and "\n" not in record.getMessage() for record in caplog.records)
    assert [(entry.fraction, entry.rows) for entry in config.sources] == [
        (1.0, None),
        (None, 5),
        (0.5, None),
        (1.0, None),  # no share given: every row
        (None, 3),
    ]
    assert (config.sources[4].eval_fraction, config.sources[4].eval_rows) == (1.0, None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="prefbuild.mix"):
        parse_config(_config(built))
    assert caplog.messages == []  # the new spelling is quiet


def test_old_and_new_spelling_give_the_same_rows_and_stats(built, tmp_path):
    new = mix_datasets(parse_config(_config(built)), out=tmp_path / "new", plot=False)
    old = mix_datasets(parse_config(_old_spelling(_config(built))), out=tmp_path / "old", plot=False)
    assert new.stats == old.stats  # stats.json records each share as `weight` (a fraction or a count) either way
    for split in ("train", "eval"):
        assert _split(tmp_path / "new", split).equals(_split(tmp_path / "old", split))
    # the card records the config in the spelling it was written in
    new_card, old_card = (tmp_path / "new" / "README.md").read_text(), (tmp_path / "old" / "README.md").read_text()
    assert (
        "  rows: 3\n  eval_fraction: 1.0\n" in new_card
        and "weight" not in new_card.split("```yaml")[1].split("```")[0]
    )
    assert "  weight: 3\n  eval_weight: 1.0\n" in old_card


def test_fraction_and_rows_are_explicit(built, tmp_path):
    raw = _config(built)
    raw["sources"][0] = {"name": "arc", "source": str(built["arc"]), "fraction": 1}  # an int fraction: every row
    raw["sources"][1] = {"name": "hellaswag", "source": str(built["hellaswag"]), "rows": 1}  # one row
    raw["sources"][4] = {**raw["sources"][4], "rows": 2, "eval_fraction": None, "eval_rows": 1}
    raw["sources"][4] = {key: value for key, value in raw["sources"][4].items() if value is not None}
    config = parse_config(raw)
    assert (config.sources[0].fraction, config.sources[0].rows) == (1.0, None)
    stats = mix_datasets(config, out=tmp_path / "mix", plot=False).stats
    taken = {s["name"]: {split: f["selected"] for split, f in s["splits"].items()} for s in stats["sources"]}
    # hellaswag: 1 of 11 train rows, so eval follows that rate: round(1/11 × 6) = 1 (at least one)
    assert taken == {
        "arc": {"train": 14, "eval": 8},
        "hellaswag": {"train": 1, "eval": 1},
        "orca": {"train": 2},
        "truthy": {"train": 3},
        "ultrafeedback": {"train": 2, "eval": 1},
    }
    yaml_text = config_yaml(config, stats)
    recorded = yaml.safe_load(yaml_text)["sources"]
    assert recorded[0] == {"name": "arc", "source": "arc", "fraction": 1.0}  # an absolute path is recorded by name
    assert recorded[4]["rows"] == 2 and recorded[4]["eval_rows"] == 1
    rerun = parse_config(yaml.safe_load(yaml_text)).sources  # the recorded config parses back to the same shares
    assert [(e.fraction, e.rows, e.eval_fraction, e.eval_rows) for e in rerun] == [
        (e.fraction, e.rows, e.eval_fraction, e.eval_rows) for e in config.sources
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight": 0}, "Error: Mixture entry 3 ('orca'): `weight` 0 must be >= 1 as a row count, or a fraction in (0, 1].\n"),
        ({"weight": 1.5}, "Error: Mixture entry 3 ('orca'): `weight` 1.5 is not a fraction in (0, 1]. Use 1.0 for every row, or an integer row count.\n"),
        ({"weight": "half"}, "Error: Mixture entry 3 ('orca'): `weight` must be a fraction in (0, 1] or a row count >= 1, got 'half'.\n"),
        ({"weight": 50}, "Error: Mixture entry 3 ('orca'): `weight` asks for 50 train rows but the source has 4 usable ones.\n"),
        ({"weight": 0.5, "fraction": 0.5}, "Error: Mixture entry 3 ('orca'): `fraction` and `weight` are both set; give one: `fraction` (a share of the rows) or `rows` (a count).\n"),
    ],
)  # fmt: skip
def test_deprecated_weight_errors_still_name_the_entry(built, tmp_path, run_cli, changes, message):
    raw = _config(built)
    raw["sources"][2] = {key: value for key, value in raw["sources"][2].items() if key != "fraction"} | changes
    code, err = _error(built, tmp_path, run_cli, raw)
    assert code == 1
    assert err.splitlines()[-1] + "\n" == message and err.count("Error:") == 1


def test_entries_made_in_python_are_checked_too():
    with pytest.raises(PrefbuildError, match=r"^Mixture entry 'x': `rows` 0 must be >= 1"):
        MixEntry("x", "somewhere", rows=0)
    assert MixEntry("x", "somewhere").share == 1.0
    assert MixEntry("x", "somewhere", rows=4).share == 4


def test_bad_rows_stop_the_mixture_or_are_counted(tmp_path, run_cli):
    source = tmp_path / "pairs"
    source.mkdir()
    (source / "train.jsonl").write_bytes(
        b'{"prompt": "p1", "chosen": "a", "rejected": "b"}\n{"prompt": "p2\xff", "chosen": "a", "rejected": "c"}\n'
    )
    config = tmp_path / "mix.yaml"
    config.write_text(
        yaml.safe_dump({"name": "m", "sources": [{"name": "x", "source": str(source), "schema": "pairs"}]})
    )
    code, _, err = run_cli("mix", "--config", config, "--out", tmp_path / "out", "--no-plot")
    assert code == 1 and not (tmp_path / "out").exists()
    assert err == (
        f"Error: Mixture entry 1 ('x'): '{source / 'train.jsonl'}', row 2, field 'prompt': text that is not valid "
        "UTF-8. Fix the row, or pass --on-bad-rows skip to count such rows as skipped (undecodable_text) and build "
        "the rest.\n"
    )
    code, _, err = run_cli("mix", "--config", config, "--out", tmp_path / "out", "--no-plot", "--on-bad-rows", "skip")
    assert (code, err) == (0, "")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["splits"]["train"]["skipped"] == {"x:undecodable_text": 1}
    assert stats["splits"]["train"]["input_rows"] == 2 and stats["splits"]["train"]["pairs"] == 1


def test_a_local_copy_without_the_sets_splits_names_what_it_found(tmp_path):
    copy = tmp_path / "uf"
    copy.mkdir()
    shutil.copy(MIX / "ultrafeedback" / "test_prefs.jsonl", copy / "validation.jsonl")
    entry = {"name": "uf", "source": str(copy), "schema": "HuggingFaceH4/ultrafeedback_binarized"}
    with pytest.raises(PrefbuildError) as error:
        mix_datasets(parse_config({"name": "m", "sources": [entry]}), out=tmp_path / "out")
    assert str(error.value) == (
        f"Mixture entry 1 ('uf'): '{copy}' has none of the splits HuggingFaceH4/ultrafeedback_binarized uses "
        "(train_prefs, test_prefs); found: validation."
    )
