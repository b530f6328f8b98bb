"""`prefbuild train` (prefbuild.train.run.main) end to end on the tiny offline model, its errors, and the tiny model."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prefbuild.errors import PrefbuildError
from prefbuild.train.run import main
from prefbuild.train.tiny_model import tiny_llama_config, train_tokenizer, write_tiny_model
from tests.conftest_train import write_pair_folder

ROOT = Path(__file__).parents[1]
TINY_RECIPE = ROOT / "recipes" / "tiny" / "dpop.yaml"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory):
    return write_pair_folder(tmp_path_factory.mktemp("pairs"))


def quick_run(tiny_model, dataset, output_dir, *overrides):
    """The tiny recipe, pointed at our folders, for a few steps (the recipe itself runs 20)."""
    return [
        "--config", str(TINY_RECIPE),
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(dataset),
        "--output_dir", str(output_dir),
        "--max_steps", "4", "--eval_steps", "2", "--logging_steps", "2", "--disable_tqdm", "true",
        *overrides,
    ]  # fmt: skip


def test_tiny_model_loads_offline_and_is_seeded(tmp_path, tiny_model):
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert model.config.hidden_size == 64
    assert tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    text = "Ünïcode, LaTeX \\frac{1}{2}, emoji 🙂 and 1,234.5 all encode"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: nothing is <unk>
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], tokenize=False
    )
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.startswith(prompt)
    again = AutoModelForCausalLM.from_pretrained(write_tiny_model(tmp_path / "again", seed=0))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_reusable_helpers():
    tokenizer = train_tokenizer(["a b c", "1 + 1 = 2"], vocab_size=300)
    config = tiny_llama_config(len(tokenizer), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                               max_position_embeddings=128)  # fmt: skip
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (len(tokenizer), 32, 1)
    with pytest.raises(ValueError, match="divisible"):
        tiny_llama_config(300, hidden_size=30, num_heads=4)


def test_train_on_prefbuild_folder(tmp_path, tiny_model, pair_folder, capsys):
    assert main(quick_run(tiny_model, pair_folder, tmp_path / "out")) == 0
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    initial = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not torch.equal(trained.model.embed_tokens.weight, initial.model.embed_tokens.weight)


def test_train_on_real_build_output(tmp_path, tiny_model):
    from prefbuild.cli import main as cli_main

    assert (
        cli_main(
            ["build", "arc", "--source", str(ROOT / "tests" / "fixtures" / "arc"), "--out", str(tmp_path / "arc")]
        )
        == 0
    )
    assert main(quick_run(tiny_model, tmp_path / "arc", tmp_path / "out", "--loss_type", "sigmoid")) == 0
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_conversational_pairs_use_the_chat_template(tmp_path, tiny_model):
    from datasets import Dataset

    def row(question, good, bad):
        prompt = [{"role": "user", "content": question}]
        return {"prompt": prompt, "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}]}  # fmt: skip

    rows = [row("2+2?", "4", "5"), row("Capital of France?", "Paris", "Rome")] * 2
    # A folder of parquet shards, as `prefbuild build` writes, but with conversational columns
    for split in ("train", "eval"):
        (tmp_path / "chat" / "data").mkdir(parents=True, exist_ok=True)
        Dataset.from_list(rows if split == "train" else rows[:2]).to_parquet(
            tmp_path / "chat" / "data" / f"{split}-00000-of-00001.parquet"
        )
    assert main(quick_run(tiny_model, tmp_path / "chat", tmp_path / "out", "--max_steps", "2")) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--dataset_name", "runs/does-not-exist"], "Dataset folder 'runs/does-not-exist' does not exist. Build it first"),
        (["--dataset_name", "./nope"], "Dataset folder './nope' does not exist"),
        (["--model_name_or_path", "./no-model"], "Model folder './no-model' does not exist. For an offline tiny model run `prefbuild tiny-model --out ./no-model`"),
        (["--dataset_train_split", "training"], "`dataset_train_split` is 'training' but"),
        (["--dataset_test_split", "test"], "`dataset_test_split` is 'test' but .* has the splits: train, eval"),
        (["--dpop_lambda", "-2"], "`dpop_lambda` must be >= 0, got -2.0"),
        (["--loss_type", "slic"], "Unknown `loss_type` 'slic'"),
        (["--no_such_field", "1"], "no_such_field"),
    ],
)  # fmt: skip
def test_errors_are_prefbuild_errors(tmp_path, tiny_model, pair_folder, overrides, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(PrefbuildError, match=message):
        main(quick_run(tiny_model, pair_folder, tmp_path / "out", *overrides))


def test_missing_recipe_and_columns(tmp_path, tiny_model):
    with pytest.raises(PrefbuildError, match="Recipe 'nope.yaml' does not exist"):
        main(["--config", "nope.yaml"])
    from datasets import Dataset

    (tmp_path / "bad" / "data").mkdir(parents=True)
    Dataset.from_list([{"prompt": "p", "answer": "a"}]).to_parquet(
        tmp_path / "bad" / "data" / "train-00000-of-00001.parquet"
    )
    with pytest.raises(PrefbuildError, match="lacks the column\\(s\\) chosen, rejected"):
        main(quick_run(tiny_model, tmp_path / "bad", tmp_path / "out"))


def test_tiny_recipe_as_written_trains_in_seconds(tmp_path, tiny_model, pair_folder, monkeypatch):
    # The newcomer path: the recipe's own relative paths and step count, from a working directory holding runs/
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tiny-model").symlink_to(tiny_model)
    (tmp_path / "runs" / "arc").symlink_to(pair_folder)
    assert main(["--config", str(TINY_RECIPE), "--disable_tqdm", "true"]) == 0
    assert (tmp_path / "runs" / "tiny-dpop" / "model.safetensors").stat().st_size > 0
