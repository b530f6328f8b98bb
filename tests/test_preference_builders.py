"""The builders of existing preference sets (ORCA DPO pairs, Truthy DPO, UltraFeedback binarized), on the fixture
rows in tests/fixtures/<name>/ (their Hub schemas, with the ugly cases: blank or null system messages, empty
replies, replies equal up to whitespace, multi-turn conversations, a user turn that is not the prompt)."""

import json

import pyarrow.parquet as pq
import pytest

from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.mix import mix_datasets, parse_config

from .conftest import FIXTURES

EXPECTED = {
    # name: {split: (source rows, pairs, skipped)}
    "orca": {"train": (7, 4, {"chosen_equals_rejected": 1, "empty_prompt": 1, "empty_rejected": 1})},
    "truthy": {"train": (5, 3, {"chosen_equals_rejected": 1, "empty_prompt": 1})},
    "ultrafeedback": {
        "train": (7, 3, {"chosen_equals_rejected": 1, "empty_prompt": 1, "not_single_turn": 2}),
        "eval": (3, 2, {"empty_rejected": 1}),
    },
}


def _rows(folder, split="train"):
    return pq.read_table(next((folder / "data").glob(f"{split}-*.parquet"))).to_pylist()


def _source_rows(name, split="train"):
    return [json.loads(line) for line in (FIXTURES / name / f"{split}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_and_skip_reasons(name, tmp_path):
    stats = build_dataset(name, source=str(FIXTURES / name), out=tmp_path / name, plot=False).stats
    got = {split: (facts["input_rows"], facts["pairs"], facts["skipped"]) for split, facts in stats["splits"].items()}
    assert got == EXPECTED[name]
    assert _rows(tmp_path / name)[0].keys() == {
        "prompt",
        "chosen",
        "rejected",
        "edit_distance_char",
        "edit_distance_word",
    }  # the `system` column is placed in the prompt, not shipped


def test_system_message_is_the_prompts_first_paragraph_in_standard(tmp_path):
    build_dataset("orca", source=str(FIXTURES / "orca"), out=tmp_path / "orca", plot=False)
    source = _source_rows("orca")
    rows = {row["chosen"]: row for row in _rows(tmp_path / "orca")}
    # a real system message: "{system}\n\n{question}"; a blank ("   ") or null one: the question alone
    assert rows[source[1]["chosen"]]["prompt"] == f"{source[1]['system']}\n\n{source[1]['question']}"
    assert rows[source[2]["chosen"]]["prompt"] == source[2]["question"]  # system null
    assert rows[source[3]["chosen"]]["prompt"] == source[3]["question"]  # system "   "
    assert rows[source[2]["chosen"]]["chosen"].startswith("```python\n")  # texts are kept exactly


def test_own_system_message_wins_over_system_prompt_in_conversational(tmp_path):
    build_dataset(
        "truthy",
        source=str(FIXTURES / "truthy"),
        out=tmp_path / "truthy",
        fmt="conversational",
        system_prompt="Be brief.",
        plot=False,
    )
    source = {row["chosen"]: row for row in _source_rows("truthy")}
    for row in _rows(tmp_path / "truthy"):
        own = source[row["chosen"][0]["content"]]
        system, user = row["prompt"]
        assert system == {"role": "system", "content": own["system"] or "Be brief."}
        assert user == {"role": "user", "content": own["prompt"]}
        assert row["rejected"] == [{"role": "assistant", "content": own["rejected"]}]


def test_ultrafeedback_reads_its_own_split_names_and_ignores_the_others(tmp_path):
    stats = build_dataset(
        "ultrafeedback", source=str(FIXTURES / "ultrafeedback"), out=tmp_path / "uf", plot=False
    ).stats
    assert list(stats["splits"]) == ["train", "eval"]  # train_prefs → train, test_prefs → eval; train_sft unused
    assert {row["prompt"] for row in _rows(tmp_path / "uf", "eval")} == {
        "How many sides does a hexagon have?",
        "What is the capital of Canada?",
    }


def test_cli_builds_from_a_local_copy(tmp_path, run_cli):
    code, out, err = run_cli("build", "orca", "--source", FIXTURES / "orca", "--out", tmp_path / "orca", "--no-plot")
    assert code == 0, err
    stats = json.loads((tmp_path / "orca" / "stats.json").read_text())
    assert stats["builder"] == {"name": "orca", "version": BUILDERS["orca"].version}
    card = (tmp_path / "orca" / "README.md").read_text()
    assert "license: apache-2.0" in card and "- Intel/orca_dpo_pairs" in card


def test_few_shot_examples_follow_the_system_message(tmp_path):
    build_dataset("orca", source=str(FIXTURES / "orca"), out=tmp_path / "orca", few_shot=1, plot=False)
    source = _source_rows("orca")
    row = next(row for row in _rows(tmp_path / "orca") if row["chosen"] == source[1]["chosen"])
    system, example, question = row["prompt"].split("\n\n", 2)
    assert (system, question) == (source[1]["system"], source[1]["question"])
    solved = {f"{r['question']}\n{r['chosen']}" for r in source}
    assert example in solved and source[1]["question"] not in example


@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_the_mixture_takes_the_builders_rows(tmp_path, fmt):
    """`prefbuild mix` and `prefbuild build` run the same builder: a mixed entry's rows are the built ones."""
    build_dataset("orca", source=str(FIXTURES / "orca"), out=tmp_path / "built", fmt=fmt, plot=False)
    config = parse_config(
        {
            "name": "m",
            "format": fmt,
            "sources": [{"name": "orca", "source": str(FIXTURES / "orca"), "schema": "Intel/orca_dpo_pairs"}],
        }
    )
    stats = mix_datasets(config, out=tmp_path / "mix", plot=False).stats
    key = lambda row: json.dumps([row["prompt"], row["chosen"], row["rejected"]])  # noqa: E731
    assert sorted(map(key, _rows(tmp_path / "mix"))) == sorted(map(key, _rows(tmp_path / "built")))
    assert stats["sources"][0]["splits"]["train"]["skipped"] == EXPECTED["orca"]["train"][2]
