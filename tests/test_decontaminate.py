"""`prefbuild decontaminate` and `--decontaminate`: 13-gram overlap with benchmark documents, offline."""

import json
import random
import string

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefbuild.decontaminate import (
    DROP_REASON,
    benchmark_split_warning,
    build_index,
    normalise_text,
    text_masks,
)
from prefbuild.errors import PrefbuildError

from .conftest import FIXTURES

BENCHMARKS = FIXTURES / "benchmarks"
ALL = "gsm8k,math,arc_challenge,hellaswag"


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _planted_source(tmp_path):
    """MetaMathQA rows: the fixture's clean rows, plus rows that copy a GSM8K test question, a MATH test
    solution and a HellaSwag context into the query or the response."""
    clean = _rows(FIXTURES / "metamath" / "train.jsonl")
    gsm8k = _rows(BENCHMARKS / "gsm8k" / "test.jsonl")[3]
    math = _rows(BENCHMARKS / "math" / "test.jsonl")[1]
    hellaswag = _rows(BENCHMARKS / "hellaswag" / "validation.jsonl")[2]
    planted = [
        {"query": gsm8k["question"], "response": "So 3 * 12 = 36 and 36 - 20 = 16.\nThe answer is: 16"},
        {"query": "Solve the system, please, in 2 steps.", "response": math["solution"] + "\nThe answer is: 5"},
        {
            "query": "Finish the story in 1 sentence: " + hellaswag["ctx"] + " " + " ".join(hellaswag["endings"]),
            "response": "She mixes 4 + 5 = 9 spoons of sugar into the bowl.\nThe answer is: 12",
        },
    ]
    planted = [{**row, "type": "GSM_AnsAug", "original_question": row["query"]} for row in planted]
    source = tmp_path / "metamath.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in clean + planted))
    return source, len(clean), planted


@pytest.fixture
def planted_folder(tmp_path, run_cli):
    source, clean, planted = _planted_source(tmp_path)
    out = tmp_path / "built"
    code, _, stderr = run_cli("build", "metamath", "--source", source, "--eval-size", "0", "--out", out, "--no-plot")
    assert code == 0, stderr
    split = json.loads((out / "stats.json").read_text())["splits"]["train"]
    assert split["input_rows"] == clean + len(planted)
    return out, split["pairs"] - len(planted), planted  # clean rows that made a pair (the fixture has skips)


def _prompts(folder):
    return [
        row["prompt"]
        for path in sorted((folder / "data").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def test_normalisation_is_lm_evals_janitor():
    from lm_eval.decontamination.janitor import Janitor

    janitor = Janitor(ngram_n=13)
    text = "Natalia sold 48/2 = 24 clips in MAY, and $7.50 (each) — l'été!\nTotal: 72."
    assert normalise_text(text) == janitor.normalize_string(text).split()
    assert normalise_text("48/2 = <<48/2=24>>24 clips") == ["482", "24", "clips"]  # annotations removed first


def test_vectorised_lookup_matches_a_plain_python_check():
    rng = random.Random(0)
    vocabulary = [rng.choice(string.ascii_lowercase) * rng.randint(1, 3) for _ in range(30)]
    documents = [" ".join(rng.choices(vocabulary, k=rng.randint(5, 40))) for _ in range(40)]
    path_texts = [" ".join(rng.choices(vocabulary + ["zzzz"], k=rng.randint(0, 60))) for _ in range(300)]
    path_texts += [documents[i][:200] + " tail" for i in range(10)]
    index = _index_from_documents(documents, ngram=5)
    masks = text_masks(pa.array(path_texts, pa.large_string()), index)
    grams = {tuple(doc.split()[i : i + 5]) for doc in documents for i in range(len(doc.split()) - 4)}
    for text, mask in zip(path_texts, masks):
        words = text.split()
        expected = any(tuple(words[i : i + 5]) in grams for i in range(len(words) - 4))
        assert bool(mask) == expected, text


def _index_from_documents(documents, ngram):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    (folder / "docs.txt").write_text("\n".join(documents))
    return build_index([str(folder / "docs.txt")], ngram=ngram)


def test_finds_planted_rows_and_nothing_in_clean_rows(planted_folder, run_cli, tmp_path):
    folder, clean, planted = planted_folder
    out = tmp_path / "checked"
    code, stdout, stderr = run_cli(
        "decontaminate", folder, "--benchmarks", ALL, "--data-dir", BENCHMARKS, "--out", out
    )
    assert code == 0, stderr
    stats = json.loads((out / "stats.json").read_text())
    report = stats["decontamination"]["splits"]["train"]
    assert report["checked_pairs"] == clean + len(planted)
    assert report["overlapping_pairs"] == len(planted)
    counts = {name: facts["pairs"] for name, facts in report["by_benchmark"].items()}
    assert counts == {"gsm8k": 1, "math": 1, "arc_challenge": 0, "hellaswag": 1}
    gsm8k_example = report["by_benchmark"]["gsm8k"]["examples"][0]
    assert gsm8k_example["field"] == "prompt" and len(gsm8k_example["ngram"].split()) == 13
    assert gsm8k_example["benchmark_document"] == planted[0]["query"]
    assert report["by_benchmark"]["math"]["examples"][0]["field"] in ("chosen", "rejected")
    total = clean + len(planted)
    assert f"train: 3 of {total} pairs overlapping (gsm8k 1, math 1, arc_challenge 0, hellaswag 1)" in stdout
    card = (out / "README.md").read_text()
    assert "## Benchmark contamination" in card and f"| `train` | {total} | 3 | 1 | 1 | 0 | 1 |" in card
    assert len(_prompts(out)) == clean + len(planted)  # no --drop: every pair stays


def test_drop_removes_pairs_and_keeps_the_accounting(planted_folder, run_cli):
    folder, clean, planted = planted_folder
    code, stdout, stderr = run_cli("decontaminate", folder, "--benchmarks", ALL, "--data-dir", BENCHMARKS, "--drop")
    assert code == 0, stderr
    stats = json.loads((folder / "stats.json").read_text())
    split = stats["splits"]["train"]
    assert split["pairs"] == clean and split["skipped"][DROP_REASON] == len(planted)
    assert split["input_rows"] == split["pairs"] + sum(split["skipped"].values())
    assert split["edit_distance"]["char"]["count"] == clean
    assert sum(split["tiers"].values()) == clean  # the corruption tiers of the pairs that remain
    prompts = _prompts(folder)
    assert len(prompts) == clean and planted[0]["query"] not in prompts
    card = (folder / "README.md").read_text()
    assert f"`{DROP_REASON}`" in card and "removed (`--drop`)" in card


def test_drop_on_several_pairs_per_row_counts_rows_and_pairs(tmp_path, run_cli):
    """ARC makes one pair per wrong answer: a contaminated question takes all its pairs with it as one row."""
    out = tmp_path / "arc"
    assert run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", out, "--no-plot")[0] == 0
    before = json.loads((out / "stats.json").read_text())["splits"]["train"]
    question = _rows(FIXTURES / "arc" / "train.jsonl")[0]["question"]
    local = tmp_path / "leak.txt"
    local.write_text(question + "\n")
    code, _, stderr = run_cli("decontaminate", out, "--benchmarks", local, "--ngram", "5", "--drop")
    assert code == 0, stderr
    after = json.loads((out / "stats.json").read_text())["splits"]["train"]
    removed = before["pairs"] - after["pairs"]
    assert removed >= 2 and after["skipped"] == {**before["skipped"], DROP_REASON: 1}
    assert after["dropped_pairs"].get(DROP_REASON, 0) == 0


def test_build_hook_reports_and_says_when_eval_is_a_benchmark_test_set(tmp_path, run_cli):
    out = tmp_path / "gsm8k"
    code, _, stderr = run_cli(
        "build", "gsm8k", "--source", FIXTURES / "gsm8k", "--out", out, "--no-plot",
        "--decontaminate", ALL, "--decontaminate-data-dir", BENCHMARKS,
    )  # fmt: skip
    assert code == 0, stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["benchmark_splits"] == {"eval": "GSM8K test (openai/gsm8k, split `test`)"}
    assert stats["decontamination"]["splits"]["eval"]["by_benchmark"]["gsm8k"]["pairs"] >= 1
    card = (out / "README.md").read_text()
    assert "**The `eval` split is GSM8K test" in card and "| `eval` |" in card
    warning = benchmark_split_warning(str(out), "eval")
    assert warning.startswith(f"Warning: training on split 'eval' of {out}, which is GSM8K test")
    assert benchmark_split_warning(str(out), "train") is None


def test_build_without_the_flag_still_marks_a_benchmark_eval_split(tmp_path, run_cli):
    out = tmp_path / "gsm8k"
    assert run_cli("build", "gsm8k", "--source", FIXTURES / "gsm8k", "--out", out, "--no-plot")[0] == 0
    stats = json.loads((out / "stats.json").read_text())
    assert "decontamination" not in stats and stats["benchmark_splits"]["eval"].startswith("GSM8K test")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--benchmarks", "gsm8", "--data-dir", str(BENCHMARKS)],
            "Error: Unknown benchmark 'gsm8'. Did you mean: gsm8k?",
        ),
        (
            ["--benchmarks", "gsm8k", "--data-dir", str(FIXTURES / "mix")],
            f"Error: --data-dir has no GSM8K test for 'gsm8k': expected {FIXTURES / 'mix'}/gsm8k/test.jsonl",
        ),
        (["--benchmarks", "gsm8k", "--ngram", "0"], "Error: --ngram must be >= 1, got 0."),
    ],
)
def test_bad_input_gives_one_error_line(planted_folder, run_cli, argv, message):
    folder, _, _ = planted_folder
    code, stdout, stderr = run_cli("decontaminate", folder, *argv)
    assert code == 1 and stdout == ""
    assert stderr.startswith(message) and stderr.count("\n") == 1, stderr


def test_not_a_folder_gives_one_error_line(run_cli, tmp_path):
    code, _, stderr = run_cli("decontaminate", tmp_path / "nothing", "--benchmarks", "gsm8k")
    assert (
        code == 1
        and stderr == f"Error: '{tmp_path / 'nothing'}' is not a prefbuild output folder: it has no stats.json.\n"
    )


def test_build_index_rejects_an_empty_list():
    with pytest.raises(PrefbuildError, match="--benchmarks is empty"):
        build_index([])


def test_arrow_normalisation_matches_the_python_one():
    from prefbuild.decontaminate import _normalised_word_lists

    texts = [
        "Natalia sold 48/2 = <<48/2=24>>24 clips\u00a0in MAY;\tthen\u2009more <<<x>> é É",
        "  LaTeX: $\\frac{1}{2}$ and \\boxed{5}.\u3000Done\n\n",
        "",
        "no-punctuation here",
    ]
    arrow = _normalised_word_lists(pa.array(texts, pa.large_string())).to_pylist()
    arrow = [[word for word in words if word] for words in arrow]  # Arrow keeps "" at the ends; it never matches
    assert arrow == [normalise_text(text) for text in texts]


def test_mix_hook_finds_an_overlap_that_runs_from_prompt_into_completion(tmp_path):
    """HellaSwag contexts are shorter than 13 words: the shared 13-gram starts in the prompt and ends in chosen."""
    from prefbuild.build import build_dataset
    from prefbuild.decontaminate import DecontaminationRequest
    from prefbuild.mix import mix_datasets, parse_config

    build_dataset("hellaswag", source=str(FIXTURES / "hellaswag"), out=tmp_path / "hellaswag", plot=False)
    config = parse_config(
        {"name": "m", "sources": [{"name": "h", "source": str(tmp_path / "hellaswag"), "weight": 1.0}]}
    )
    request = DecontaminationRequest(("hellaswag",), data_dir=str(BENCHMARKS), drop=True)
    report = mix_datasets(config, out=tmp_path / "mix", plot=False, decontaminate=request)
    facts = report.stats["decontamination"]["splits"]["eval"]["by_benchmark"]["hellaswag"]
    assert facts["pairs"] >= 1 and facts["examples"][0]["field"] == "prompt+chosen"
    assert facts["examples"][0]["ngram"].startswith("a man is sitting on a roof he ")  # context, then the ending
    assert (
        report.stats["splits"]["eval"]["pairs"]
        == report.stats["decontamination"]["splits"]["eval"]["checked_pairs"]
        - report.stats["decontamination"]["splits"]["eval"]["overlapping_pairs"]
    )
    assert report.stats["splits"]["eval"]["sources"] == {"h": report.stats["splits"]["eval"]["pairs"]}
    assert "## Benchmark contamination" in (tmp_path / "mix" / "README.md").read_text()


def test_conversational_folders_are_checked_on_message_text(tmp_path, run_cli):
    out = tmp_path / "arc"
    assert (
        run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", out, "--format", "conversational", "--no-plot")[
            0
        ]
        == 0
    )
    local = tmp_path / "leak.txt"
    local.write_text(_rows(FIXTURES / "arc" / "train.jsonl")[0]["question"] + "\n")
    code, stdout, stderr = run_cli("decontaminate", out, "--benchmarks", local, "--ngram", "5")
    assert code == 0, stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["decontamination"]["splits"]["train"]["by_benchmark"][str(local)]["pairs"] >= 2


def test_pair_check_equals_a_plain_python_check_of_prompt_plus_completion():
    from prefbuild.decontaminate import pair_masks

    rng = random.Random(1)
    vocabulary = [rng.choice(string.ascii_lowercase) * rng.randint(1, 2) for _ in range(12)]
    documents = [" ".join(rng.choices(vocabulary, k=rng.randint(5, 30))) for _ in range(30)]
    index = _index_from_documents(documents, ngram=4)

    def text():  # with stray whitespace at either end now and then, as real prompts have
        words = " ".join(rng.choices(vocabulary + ["zz"], k=rng.randint(0, 8)))
        return rng.choice(["", " ", "\n"]) + words + rng.choice(["", " ", "\n\n"])

    rows = [{"prompt": text(), "chosen": text(), "rejected": text()} for _ in range(400)]
    masks = pair_masks(pa.Table.from_pylist(rows), index)
    flagged = masks["prompt"] | masks["chosen"] | masks["rejected"] | masks["prompt+chosen"] | masks["prompt+rejected"]
    grams = {tuple(doc.split()[i : i + 4]) for doc in documents for i in range(len(doc.split()) - 3)}

    def shares(words):
        return any(tuple(words[i : i + 4]) in grams for i in range(len(words) - 3))

    for row, mask in zip(rows, flagged):
        expected = shares((row["prompt"] + " " + row["chosen"]).split()) or shares(
            (row["prompt"] + " " + row["rejected"]).split()
        )
        assert bool(mask) == expected, row


def test_drop_on_a_mixture_folder_redraws_the_cards_counts(tmp_path, run_cli):
    """A mixture's card keeps its text (no config to render it from), but the counts --drop changes are redrawn."""
    from prefbuild.build import build_dataset
    from prefbuild.cards import edit_distance_table
    from prefbuild.folder import FolderStats
    from prefbuild.mix import mix_datasets, parse_config
    from prefbuild.mix.write import mix_counts_table

    build_dataset("hellaswag", source=str(FIXTURES / "hellaswag"), out=tmp_path / "hellaswag", plot=False)
    config = parse_config(
        {"name": "m", "sources": [{"name": "h", "source": str(tmp_path / "hellaswag"), "fraction": 1.0}]}
    )
    mix_datasets(config, out=tmp_path / "mix", plot=False)
    before = FolderStats.load(tmp_path / "mix")
    code, _, _ = run_cli(
        "decontaminate", tmp_path / "mix", "--benchmarks", "hellaswag", "--data-dir", BENCHMARKS, "--drop"
    )
    after = FolderStats.load(tmp_path / "mix")
    assert code == 0 and after.pairs < before.pairs
    card = (tmp_path / "mix" / "README.md").read_text()
    splits = {name: split.to_json() for name, split in after.splits.items()}
    assert f"{after.pairs:,} pairs in this folder" in card
    assert mix_counts_table(splits) in card and edit_distance_table(after.splits) in card
    assert mix_counts_table({name: split.to_json() for name, split in before.splits.items()}) not in card
    assert "## Composition" in card and "## Benchmark contamination" in card  # the rest of the card is kept


def test_a_decontaminated_build_rebuilds_byte_for_byte_and_names_no_local_path(tmp_path, run_cli):
    """The report once held wall-clock timings and the absolute --data-dir path: both broke the rebuild promise."""
    folders = []
    for name in ("one", "two"):
        out = tmp_path / name / "gsm8k"
        argv = ["build", "gsm8k", "--source", FIXTURES / "gsm8k", "--out", out, "--no-plot"]
        assert run_cli(*argv, "--decontaminate", ALL, "--decontaminate-data-dir", BENCHMARKS.resolve())[0] == 0
        folders.append(out)
    for file in ("stats.json", "README.md"):
        first, second = ((folder / file).read_text() for folder in folders)
        assert first == second and str(BENCHMARKS.resolve()) not in first
    report = json.loads((folders[0] / "stats.json").read_text())["decontamination"]
    assert "seconds" not in report and report["benchmarks"]["gsm8k"]["source"] == "gsm8k"
