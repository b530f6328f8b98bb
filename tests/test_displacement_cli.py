"""`prefbuild stats DIR --model M` (CHES per pair, annotated copy) and `prefbuild filter` on built folders, with the
tiny offline model: the columns, stats.json, card and figure, the accounting of filtered pairs and the errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from prefbuild.train.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """MetaMathQA fixture rows: one pair per row, a `type` group column and tiers; 7 train pairs, 4 eval."""
    from prefbuild.build import build_dataset

    out = tmp_path_factory.mktemp("built") / "mm"
    build_dataset("metamath", source=str(FIXTURES / "metamath"), out=out, options={"eval_size": 4}, plot=True)
    return out


@pytest.fixture(scope="module")
def scored(built, tiny, tmp_path_factory):
    from prefbuild.displacement.folders import score_folder

    out = tmp_path_factory.mktemp("scored") / "mm_scored"
    score_folder(built, str(tiny), out=out, batch_size=3, command="prefbuild stats mm --model tiny --out mm_scored")
    return out


def table(folder, split):
    return pq.read_table(sorted((folder / "data").glob(f"{split}-*.parquet")))


def stats_of(folder):
    return json.loads((folder / "stats.json").read_text())


def test_annotated_copy_has_the_scores_of_its_pairs(built, scored, tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefbuild.displacement import ches_for_rows

    model = AutoModelForCausalLM.from_pretrained(tiny)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    for split in ("train", "eval"):
        before, after = table(built, split), table(scored, split)
        assert after.column_names == [*before.column_names, "ches", "ches_normalized"]
        assert after.select(before.column_names).equals(before)  # same pairs, same order, nothing else changed
        rows = before.select(["prompt", "chosen", "rejected"]).to_pylist()
        ches, normalised = ches_for_rows(model, tokenizer, rows, batch_size=1)
        np.testing.assert_allclose(after.column("ches").to_numpy(), ches, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(after.column("ches_normalized").to_numpy(), normalised, rtol=1e-4, atol=1e-6)


def test_annotated_copy_records_the_scores_and_their_provenance(built, scored):
    stats, original = stats_of(scored), stats_of(built)
    facts = stats["displacement"]
    assert facts["model"]["id"] == "tiny" and len(facts["model"]["sha256"]) == 64
    assert facts["model"]["class"] == "LlamaForCausalLM" and facts["splits"] == ["train", "eval"]
    assert stats["history"] == [{"verb": "stats", "command": "prefbuild stats mm --model tiny --out mm_scored"}]
    assert stats["command"] == original["command"]  # the build command stays the folder's origin
    for split in ("train", "eval"):
        summary = stats["splits"][split]["displacement"]["ches"]
        values = table(scored, split).column("ches").to_numpy()
        assert summary["count"] == len(values) == original["splits"][split]["pairs"]
        assert summary["mean"] == pytest.approx(values.mean()) and summary["median"] == pytest.approx(
            np.median(values)
        )
        assert sum(summary["histogram"]["counts"]) == len(values)
        # everything else about the split is as built
        rest = {k: v for k, v in stats["splits"][split].items() if k != "displacement"}
        assert rest == original["splits"][split]
    card = (scored / "README.md").read_text()
    assert "## Displacement risk" in card and "![Histograms of CHES and normalised CHES](ches.png)" in card
    assert "prefbuild stats mm --model tiny --out mm_scored" in card
    assert (scored / "ches.png").stat().st_size > 10_000 and (scored / "edit_distance.png").is_file()


def test_stats_model_prints_scores_without_writing(built, tiny, run_cli):
    listing = sorted(path.name for path in built.rglob("*"))
    code, out, err = run_cli("stats", built, "--model", tiny, "--split", "eval", "--limit", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["splits"]["eval"]["displacement"]["ches"]["count"] == 2
    assert "displacement" not in result["splits"]["train"]
    assert result["displacement"]["limit"] == 2 and result["displacement"]["splits"] == ["eval"]
    code, out, err = run_cli("stats", built, "--model", tiny, "--batch-size", "2")
    assert code == 0, err
    assert "CHES mean" in out and "CHES under model tiny" in out
    assert sorted(path.name for path in built.rglob("*")) == listing  # nothing written without --out


def test_plain_stats_of_a_scored_folder_shows_its_scores(scored, run_cli):
    code, out, err = run_cli("stats", scored)
    assert code == 0, err
    assert "CHES mean" in out
    code, out, _ = run_cli("stats", scored, "--json")
    assert json.loads(out)["splits"]["train"]["displacement"] == stats_of(scored)["splits"]["train"]["displacement"]


def accounting_holds(split_stats):
    """input_rows = rows paired + skipped rows, for the split and for each of its groups (one pair per row here)."""
    assert split_stats["input_rows"] == split_stats["pairs"] + sum(split_stats["skipped"].values())
    for groups in (value for key, value in split_stats.items() if key.startswith("by_")):
        assert sum(group["pairs"] for group in groups.values()) == split_stats["pairs"]
        for group in groups.values():
            assert group["input_rows"] == group["pairs"] + sum(group["skipped"].values())


def test_filter_drops_the_top_ches_pairs_and_counts_them(scored, tmp_path, run_cli):
    out = tmp_path / "filtered"
    code, stdout, err = run_cli("filter", scored, "--by", "ches", "--drop-top", "0.3", "--out", out)
    assert code == 0, err
    assert "filter: by ches, dropped the top 30% of each split: train 7 → 5, eval 4 → 3" in stdout
    before, after = stats_of(scored), stats_of(out)
    for split, dropped in (("train", 2), ("eval", 1)):  # ⌊0.3 × 7⌋ = 2, ⌊0.3 × 4⌋ = 1
        values = table(scored, split).column("ches").to_numpy()
        kept = table(out, split)
        assert kept.num_rows == len(values) - dropped
        assert np.sort(kept.column("ches").to_numpy()).tolist() == np.sort(values)[: len(values) - dropped].tolist()
        facts = after["splits"][split]
        assert facts["skipped"] == {**before["splits"][split]["skipped"], "filtered_ches": dropped}
        accounting_holds(facts)
        assert facts["displacement"]["ches"]["count"] == kept.num_rows
        assert sum(facts["tiers"].values()) == kept.num_rows
    entry = after["filters"][0]
    assert entry["by"] == "ches" and entry["mode"] == "drop_top" and entry["value"] == 0.3
    assert entry["splits"]["train"]["pairs_dropped"] == 2 and entry["input"] == scored.name
    assert [step["verb"] for step in after["history"]] == ["stats", "filter"]
    card = (out / "README.md").read_text()
    assert "by ches, dropped the top 30% of each split" in card and "`filtered_ches`" in card
    assert after["history"][1]["command"].startswith("prefbuild filter ") and after["history"][1]["command"] in card


def test_filter_by_edit_distance_keeps_below_a_bound(built, tmp_path, run_cli):
    out = tmp_path / "low"
    code, _, err = run_cli("filter", built, "--by", "edit_distance_char", "--keep-below", "0.015", "--out", out)
    assert code == 0, err
    for split in ("train", "eval"):
        values = table(built, split).column("edit_distance_char").to_numpy()
        assert (table(out, split).column("edit_distance_char").to_numpy() < 0.015).all()
        assert stats_of(out)["splits"][split]["pairs"] == int((values < 0.015).sum())
        accounting_holds(stats_of(out)["splits"][split])
    assert "displacement" not in stats_of(out) and not (out / "ches.png").exists()


def test_filter_counts_rows_and_pairs_when_a_row_makes_several_pairs(tmp_path, run_cli):
    """ARC: one pair per wrong choice. A question whose pairs all go is a skipped row, others are dropped pairs."""
    built = tmp_path / "arc"
    assert run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", built, "--no-plot")[0] == 0
    out = tmp_path / "arc_filtered"
    code, _, err = run_cli("filter", built, "--by", "edit_distance_word", "--drop-bottom", "0.5", "--out", out)
    assert code == 0, err
    before, after = stats_of(built)["splits"]["train"], stats_of(out)["splits"]["train"]
    pairs = table(built, "train")
    dropped = np.zeros(pairs.num_rows, dtype=bool)
    dropped[np.argsort(pairs.column("edit_distance_word").to_numpy(), kind="stable")[: pairs.num_rows // 2]] = True
    prompts = np.array(pairs.column("prompt").to_pylist(), dtype=object)
    emptied = [p for p in set(prompts) if dropped[prompts == p].all()]
    partly = int(sum(dropped[prompts == p].sum() for p in set(prompts) if p not in emptied))
    assert after["pairs"] == before["pairs"] - pairs.num_rows // 2
    assert after["skipped"].get("filtered_edit_distance_word", 0) == len(emptied)
    assert after["dropped_pairs"].get("filtered_edit_distance_word", 0) == partly
    assert after["input_rows"] == before["input_rows"]
    # rows paired + skipped rows = source rows
    assert (
        len(set(table(out, "train").column("prompt").to_pylist())) + sum(after["skipped"].values())
        == (after["input_rows"])
    )


def test_filter_only_one_split(scored, tmp_path, run_cli):
    out = tmp_path / "train_only"
    code, _, err = run_cli("filter", scored, "--by", "ches_normalized", "--keep-above", "-1000", "--split", "train",
                           "--out", out)  # fmt: skip
    assert code == 0, err
    assert table(out, "eval").equals(table(scored, "eval"))
    assert list(stats_of(out)["filters"][0]["splits"]) == ["train"]


def test_scoring_one_split_leaves_the_other_empty(built, tiny, tmp_path, run_cli):
    out = tmp_path / "eval_scored"
    code, _, err = run_cli("stats", built, "--model", tiny, "--split", "eval", "--out", out)
    assert code == 0, err
    assert table(out, "train").column("ches").null_count == table(out, "train").num_rows
    assert "displacement" not in stats_of(out)["splits"]["train"]
    code, _, err = run_cli("filter", out, "--by", "ches", "--drop-top", "0.5", "--out", tmp_path / "x")
    assert code == 1
    assert err == (
        f"Error: Split 'train' of '{out}' has 7 pairs without a `ches` value (that split was not scored); score it "
        f"with `prefbuild stats {out} --model M --out DIR2`, or pass --split with a scored split.\n"
    )
    code, _, err = run_cli(
        "filter", out, "--by", "ches", "--drop-top", "0.5", "--split", "eval", "--out", tmp_path / "y"
    )
    assert code == 0, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["filter", "{built}", "--by", "ches", "--drop-top", "0.1", "--out", "{tmp}/o"],
            "Split 'train' of '{built}' has no `ches` column: score the folder first with "
            "`prefbuild stats {built} --model M --out DIR2`, then filter DIR2.",
        ),
        (
            ["filter", "{built}", "--by", "edit_distance_token", "--keep-below", "0.1", "--out", "{tmp}/o"],
            "Split 'train' of '{built}' has no `edit_distance_token` column: it was built without --tokenizer. "
            "Rebuild it with `--tokenizer T`, or filter --by edit_distance_char or edit_distance_word.",
        ),
        (
            ["filter", "{built}", "--by", "chess", "--keep-below", "0.1", "--out", "{tmp}/o"],
            "Unknown --by 'chess'. Did you mean: ches? Available: ches, ches_normalized, edit_distance_char, "
            "edit_distance_word, edit_distance_token.",
        ),
        (
            ["filter", "{built}", "--by", "ches", "--drop-top", "1.5", "--out", "{tmp}/o"],
            "--drop-top is the fraction of each split's pairs to drop, in (0, 1); got 1.5 (0.1 drops 10%).",
        ),
        (
            ["filter", "{built}", "--by", "ches", "--keep-below", "nan", "--out", "{tmp}/o"],
            "--keep-below must be a finite number, got nan.",
        ),
        (
            ["filter", "{built}", "--by", "edit_distance_char", "--keep-below", "0", "--out", "{tmp}/o"],
            "The filter drops every pair of train, eval; loosen it.",
        ),
        (
            ["filter", "{built}", "--by", "edit_distance_char", "--keep-below", "0.5", "--out", "{built}"],
            "--out '{built}' is the folder being read; give another folder, or add --overwrite.",
        ),
        (
            ["stats", "{built}", "--split", "train"],
            "--split: only with --model M (CHES scoring); add --model or drop them.",
        ),
        (
            ["stats", "{built}", "--model", "{tmp}/none", "--limit", "2", "--out", "{tmp}/o"],
            "--limit 2 scores only part of each split, but --out writes every pair; drop --limit to write an "
            "annotated copy, or --out to print the scores of the first pairs.",
        ),
        (
            ["stats", "{built}", "--model", "{tmp}/none", "--split", "test"],
            "--split 'test' is not in '{built}'; its splits are: train, eval.",
        ),
        (
            ["stats", "{built}", "--model", "{tmp}/none", "--device", "gpu"],
            "--device 'gpu' is not a device; use cpu, cuda, cuda:N or mps.",
        ),
        (["stats", "{built}", "--model", "{tmp}/none", "--batch-size", "0"], "--batch-size must be >= 1, got 0."),
        (
            ["stats", "{tmp}", "--model", "{tmp}/none"],
            "'{tmp}' is not a prefbuild output folder: it has no stats.json.",
        ),
    ],
    ids=["no-ches", "no-token", "unknown-by", "fraction", "nan", "empty", "same-out", "split-alone", "limit-out",
         "bad-split", "bad-device", "batch-size", "not-a-folder"],
)  # fmt: skip
def test_errors_are_one_line(built, tmp_path, run_cli, argv, message):
    values = {"built": str(built), "tmp": str(tmp_path)}
    code, out, err = run_cli(*[arg.format(**values) for arg in argv])
    assert code == 1 and out == ""
    assert err.startswith(f"Error: {message.format(**values)}") and err.count("\n") == 1, err


def test_push_sends_the_scores_figure_and_decontaminate_keeps_the_section(scored, tmp_path, run_cli):
    dry = tmp_path / "dry"
    code, _, err = run_cli("push", scored, "--repo-id", "someone/mm", "--dry-run", dry)
    assert code == 0, err
    assert (dry / "ches.png").read_bytes() == (scored / "ches.png").read_bytes()
    out = tmp_path / "checked"
    local = tmp_path / "bench.txt"
    local.write_text("nothing in common with any of these pairs at all\n")
    code, _, err = run_cli("decontaminate", scored, "--benchmarks", local, "--out", out)
    assert code == 0, err
    assert "## Displacement risk" in (out / "README.md").read_text() and (out / "ches.png").is_file()
    assert stats_of(out)["splits"]["train"]["displacement"] == stats_of(scored)["splits"]["train"]["displacement"]


def test_filter_a_mixture_keeps_its_accounting_and_card(tmp_path, run_cli):
    from prefbuild.build import build_dataset
    from prefbuild.mix import mix_datasets, parse_config

    build_dataset("arc", source=str(FIXTURES / "arc"), out=tmp_path / "arc", plot=False)
    config = {
        "name": "tiny",
        "seed": 0,
        "sources": [
            {"name": "arc", "source": str(tmp_path / "arc"), "weight": 1.0},
            {"name": "truthy", "source": str(FIXTURES / "mix" / "truthy"), "schema": "jondurbin/truthy-dpo-v0.1"},
        ],
    }
    mix_datasets(parse_config(config), out=tmp_path / "mix", plot=False)
    out = tmp_path / "mix_filtered"
    code, _, err = run_cli(
        "filter", tmp_path / "mix", "--by", "edit_distance_word", "--drop-bottom", "0.5", "--out", out
    )
    assert code == 0, err
    before, after = stats_of(tmp_path / "mix")["splits"]["train"], stats_of(out)["splits"]["train"]
    assert after["pairs"] == before["pairs"] - before["pairs"] // 2
    assert after["input_rows"] == after["pairs"] + sum(after["skipped"].values())  # a mixture: one pair per row
    assert after["skipped"]["filtered_edit_distance_word"] == before["pairs"] // 2
    assert sum(after["sources"].values()) == after["pairs"]
    assert f"{after['pairs']:,}" in (out / "README.md").read_text()


def test_python_calls_record_the_equivalent_command(scored, tmp_path):
    from prefbuild.displacement.folders import filter_folder

    stats = filter_folder(scored, "ches_normalized", out=tmp_path / "f", keep_below=0.5, split="train")
    expected = "prefbuild filter mm_scored --by ches_normalized --keep-below 0.5 --split train --out f"
    assert stats.extra["history"][-1] == {"verb": "filter", "command": expected}
    assert expected in (tmp_path / "f" / "README.md").read_text()
