"""Token-level analysis: alignment on the first differing token, and log-probs checked against plain transformers."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from prefbuild.analysis.analyze import analyze
from prefbuild.analysis.logprobs import PairLogprobs, summarise_logprobs, tokenize_pair
from prefbuild.repro.problems import extract_answer, make_problem, make_problems
from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer

# Hand-made pairs in the builders' shape: same prompt, completions that differ in one number (also in length)
PAIRS = [
    {"prompt": "Question: 3 bags of 4?\nAnswer:", "chosen": " 3 * 4 = 12 apples.", "rejected": " 3 * 4 = 13 apples."},
    {
        "prompt": "Question: add?\nAnswer:",
        "chosen": " 5 + 7 = 12.\nThe answer is: 12",
        "rejected": " 5 + 7 = 1.\nThe answer is: 12",
    },
    {"prompt": "Q: total?\nA:", "chosen": " It is 8 in all.", "rejected": " It is 8 in all, plus 1234 more."},
    {"prompt": "Q: same?\nA:", "chosen": " Yes.", "rejected": " Yes."},
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(DEFAULT_CORPUS, vocab_size=300)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(
        len(tokenizer), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder in `prefbuild build`'s layout holding the hand-made pairs as its eval split."""
    import datasets

    folder = tmp_path_factory.mktemp("pairs")
    (folder / "data").mkdir()
    datasets.Dataset.from_list(PAIRS).to_parquet(str(folder / "data" / "eval-00000-of-00001.parquet"))
    return folder


def test_tokenize_pair_matches_trl_and_finds_the_first_difference(tokenizer):
    for pair in PAIRS:
        tokenized = tokenize_pair(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"])
        prompt_ids = tokenizer(pair["prompt"])["input_ids"]
        # the prompt tokenises on a boundary here, so the completion is exactly what follows it, ending in EOS
        assert tokenized.prompt_ids == prompt_ids
        assert (
            tokenized.chosen_ids
            == tokenizer(pair["prompt"] + pair["chosen"] + "<|end|>")["input_ids"][len(prompt_ids) :]
        )
        assert tokenized.chosen_ids[-1] == tokenizer.eos_token_id
        # the first differing token decodes to where the text first differs
        first = tokenized.first_diff
        assert tokenized.chosen_ids[:first] == tokenized.rejected_ids[:first]
        if pair["chosen"] == pair["rejected"]:
            assert first == len(tokenized.chosen_ids)
        else:
            assert tokenized.chosen_ids[first] != tokenized.rejected_ids[first]
            prefix = tokenizer.decode(tokenized.chosen_ids[:first])
            assert pair["chosen"].startswith(prefix) and pair["rejected"].startswith(prefix)


def test_first_differing_token_holds_the_first_differing_character(tokenizer):
    for pair in PAIRS[:3]:
        chosen, rejected = pair["chosen"] + "<|end|>", pair["rejected"] + "<|end|>"
        char = next(i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b)
        tokenized = tokenize_pair(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"])
        first = tokenized.first_diff
        before = len(tokenizer.decode(tokenized.chosen_ids[:first]))
        through = len(tokenizer.decode(tokenized.chosen_ids[: first + 1]))
        assert before <= char < through, (pair, first)


def test_summary_aligns_pairs_of_different_lengths_on_the_edit():
    # chosen[i] = i - first so each token's value is its offset; rejected = offset - 100
    results = [
        PairLogprobs(np.arange(6, dtype=np.float32) - 2, np.arange(9, dtype=np.float32) - 2 - 100, 2),
        PairLogprobs(np.arange(4, dtype=np.float32) - 3, np.arange(3, dtype=np.float32) - 3 - 100, 3),
        PairLogprobs(np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float32), 3),  # identical completions
    ]
    summary = summarise_logprobs(results, window=4)
    assert summary["pairs"] == 3 and summary["pairs_without_difference"] == 1
    for offset in range(-3, 4):
        assert summary["by_offset"][str(offset)] == pytest.approx(offset)
    assert summary["by_offset"]["4"] is None and summary["by_offset"]["-4"] is None
    assert summary["offset_counts"] == {"-4": 0, "-3": 1, "-2": 2, "-1": 2, "0": 2, "1": 1, "2": 1, "3": 1, "4": 0}
    # only the 9-token rejected reaches offsets 0..4; the 3-token one ends just before its edit
    assert [summary["rejected_by_offset"][str(offset)] for offset in range(0, 5)] == [-100, -99, -98, -97, -96]
    assert summary["rejected_by_offset"]["-3"] == pytest.approx(-103)
    assert summary["before_edit_mean"] == pytest.approx(np.mean([-2, -1, -3, -2, -1]))
    assert summary["at_edit_mean"] == pytest.approx(0)
    assert summary["after_edit_mean"] == pytest.approx(np.mean([1, 2, 3]))
    assert summary["chosen_logp"] == pytest.approx(np.mean([3.0, -6.0, 0.0]))
    # per-pair sums by region, over the two pairs that differ
    assert (summary["before_edit_sum"], summary["at_edit_sum"], summary["after_edit_sum"]) == pytest.approx(
        (-4.5, 0.0, 3.0)
    )


def test_analyze_matches_plain_transformers(model_dir, data_dir, tmp_path):
    analysis = analyze(str(model_dir), data_dir, out=tmp_path / "out", window=3, batch_size=3, progress=False)
    assert (tmp_path / "out" / "token_logprobs.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "analysis.json").read_text())["by_offset"] == analysis["by_offset"]

    # Independently: one sequence at a time, prompt + completion + EOS, no padding
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    chosen_sums, by_offset, after = [], {}, []
    for pair in PAIRS:
        prompt_len = len(tok(pair["prompt"])["input_ids"])
        scored = {}
        for key in ("chosen", "rejected"):
            ids = tok(pair["prompt"] + pair[key] + tok.eos_token)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            logps = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
            scored[key] = (ids[prompt_len:], logps[prompt_len - 1 :].numpy())
        (chosen_ids, chosen_logps), (rejected_ids, _) = scored["chosen"], scored["rejected"]
        chosen_sums.append(chosen_logps.sum())
        first = next((i for i, (a, b) in enumerate(zip(chosen_ids, rejected_ids)) if a != b), None)
        if first is None and len(chosen_ids) == len(rejected_ids):
            continue  # identical: no edit
        first = min(len(chosen_ids), len(rejected_ids)) if first is None else first
        after.extend(chosen_logps[first + 1 :])
        for index, value in enumerate(chosen_logps):
            if abs(index - first) <= 3:
                by_offset.setdefault(str(index - first), []).append(value)

    assert analysis["pairs"] == 4 and analysis["pairs_without_difference"] == 1
    assert analysis["chosen_logp"] == pytest.approx(np.mean(chosen_sums), abs=1e-4)
    assert analysis["after_edit_mean"] == pytest.approx(np.mean(after), abs=1e-5)
    for offset, values in by_offset.items():
        assert analysis["by_offset"][offset] == pytest.approx(np.mean(values), abs=1e-5)


def test_analyze_cli(run_cli, model_dir, data_dir, tmp_path):
    code, out, err = run_cli(
        "analyze", "--model", model_dir, "--data", data_dir, "--limit", "2", "--window", "2", "--out", tmp_path / "a"
    )
    assert code == 0, err
    assert "after the edit" in out
    analysis = json.loads((tmp_path / "a" / "analysis.json").read_text())
    assert analysis["pairs"] == 2 and set(analysis["by_offset"]) == {"-2", "-1", "0", "1", "2"}
    # a second run replaces its own two files, each in one rename, and leaves the user's other files alone
    (tmp_path / "a" / "notes.txt").write_text("mine")
    code, out, err = run_cli(
        "analyze", "--model", model_dir, "--data", data_dir, "--limit", "3", "--window", "2", "--out", tmp_path / "a"
    )
    assert code == 0, err
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == [
        "analysis.json",
        "notes.txt",
        "token_logprobs.png",
    ]
    assert json.loads((tmp_path / "a" / "analysis.json").read_text())["pairs"] == 3
    code, out, err = run_cli(
        "analyze", "--model", model_dir, "--data", data_dir, "--split", "train", "--out", tmp_path
    )
    assert code == 1
    assert err == f"Error: --split 'train' is not in '{data_dir}'; its splits are: eval.\n"


def test_problems_are_seeded_and_their_arithmetic_is_right():
    assert make_problems(3, 5) == make_problems(3, 5)
    assert make_problems(3, 5, start=2)[0] == make_problem(3, 2)
    assert make_problems(3, 5) != make_problems(4, 5)
    for problem in make_problems(0, 200):
        assert problem.query.endswith("\nAnswer:") and problem.response.startswith(" ")
        assert problem.response.endswith(f"\n#### {problem.answer}\nThe answer is: {problem.answer}")
        assert extract_answer(problem.response) == problem.answer
        for line in problem.response.splitlines():
            for left, op, right, result in __import__("re").findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", line):
                assert eval(f"{left} {op} {right}") == int(result)  # noqa: S307 - digits and one operator
