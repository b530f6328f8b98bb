"""`prefbuild contamination`: Shi et al.'s neighbour test on tiny models, offline on CPU."""

import json

import pytest

from prefbuild.contamination import contamination_test

from .conftest import FIXTURES

BENCHMARKS = FIXTURES / "benchmarks"


def _questions() -> list[str]:
    rows = [json.loads(line) for line in (BENCHMARKS / "gsm8k" / "test.jsonl").read_text().splitlines()]
    return [" ".join(row["question"].split()) for row in rows]


def memorise(base: str, texts: list[str], out, steps: int = 50):
    """Train `base` on `texts` until it has memorised them (a few seconds for the tiny model)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    assert loss.item() < 0.5, f"the tiny model did not memorise the texts (loss {loss.item():.2f})"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """reference (random, seed 0), untrained (random, seed 1) and memorised (seed 1 trained on the benchmark)."""
    import torch

    from prefbuild.train.tiny_model import write_tiny_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("contamination")
    reference = str(write_tiny_model(root / "reference", seed=0))
    untrained = str(write_tiny_model(root / "untrained", seed=1))
    memorised = memorise(untrained, _questions(), root / "memorised")
    benchmark = root / "benchmark.jsonl"
    benchmark.write_text("".join(json.dumps({"text": text}) + "\n" for text in _questions()))
    return {"reference": reference, "untrained": untrained, "memorised": memorised, "benchmark": str(benchmark)}


def _run(models, target, **kwargs):
    settings = {"examples": 6, "neighbours": 10, "seed": 0, "device": "cpu", "progress": False, **kwargs}
    return contamination_test(models[target], models["reference"], models["benchmark"], **settings)


def test_memorised_model_scores_as_contaminated_and_untrained_does_not(models):
    memorised = _run(models, "memorised")
    untrained = _run(models, "untrained")
    assert memorised["contamination"] > 0.85 and memorised["likely_contaminated"]
    assert untrained["contamination"] < 0.5 and not untrained["likely_contaminated"]
    assert all(item["score"] < 0.1 for item in memorised["texts"])


def test_cli_writes_contamination_json_and_is_deterministic_under_seed(models, run_cli, tmp_path):
    outputs = []
    for name in ("a", "b"):
        code, stdout, stderr = run_cli(
            "contamination", "--model", models["untrained"], "--ref-model", models["reference"],
            "--benchmark", models["benchmark"], "--examples", "4", "--neighbours", "6", "--seed", "3",
            "--device", "cpu", "--out", tmp_path / name,
        )  # fmt: skip
        assert code == 0, stderr
        assert "contamination" in stdout and f"Wrote {tmp_path / name}/contamination.json" in stdout
        outputs.append(json.loads((tmp_path / name / "contamination.json").read_text()))
    assert outputs[0] == outputs[1]
    report = outputs[0]
    assert report["examples"] == 4 and report["neighbours"] == 6 and report["seed"] == 3
    assert report["score_threshold"] == 0.1 and report["contamination_threshold"] == 0.85
    assert len(report["texts"]) == 4 and all(0.0 <= item["score"] <= 1.0 for item in report["texts"])
    share = sum(item["score"] < 0.1 for item in report["texts"]) / 4
    assert report["contamination"] == share


def test_gsm8k_from_data_dir(models):
    report = contamination_test(
        models["untrained"], models["reference"], "gsm8k", examples=2, neighbours=2,
        data_dir=BENCHMARKS, device="cpu", progress=False,
    )  # fmt: skip
    assert report["source"].endswith("gsm8k/test.jsonl") and report["examples"] == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--benchmark", "gsm8"], "Error: Unknown benchmark 'gsm8'. Did you mean: gsm8k?"),
        (["--benchmark", "gsm8k", "--prefix-ratio", "1.5"], "Error: --prefix-ratio must be between 0 and 1"),
        (["--benchmark", "gsm8k", "--neighbours", "0"], "Error: --neighbours must be >= 1, got 0."),
        (["--benchmark", "truthfulqa", "--data-dir", str(BENCHMARKS)], "Error: --data-dir has no "),
    ],
)
def test_bad_input_gives_one_error_line(run_cli, tmp_path, argv, message):
    code, stdout, stderr = run_cli("contamination", "--model", "x", "--ref-model", "y", *argv, "--out", tmp_path)
    assert code == 1 and stdout == "" and stderr.startswith(message) and stderr.count("\n") == 1, stderr


def test_model_that_does_not_load_gives_one_error_line(run_cli, tmp_path, models):
    code, _, stderr = run_cli(
        "contamination", "--model", tmp_path / "missing", "--ref-model", models["reference"],
        "--benchmark", models["benchmark"], "--out", tmp_path / "out",
    )  # fmt: skip
    assert (
        code == 1
        and stderr
        == f"Error: --model '{tmp_path / 'missing'}' does not exist. Give a Hub id or a local model folder.\n"
    )
