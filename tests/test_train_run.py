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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--beta", "inf"], "`beta` must be > 0 and finite, got inf"),
        (["--beta", "nan"], "`beta` must be > 0 and finite, got nan"),
        (["--beta", "0"], "`beta` must be > 0 and finite, got 0.0"),
        (["--dpop_lambda", "inf"], "`dpop_lambda` must be finite, got inf"),
        (["--dpop_lambda", "nan"], "`dpop_lambda` must be >= 0, got nan"),
        (["--per_device_train_batch_size", "0"], "`per_device_train_batch_size` must be an integer >= 1, got 0"),
        (["--per_device_eval_batch_size", "0"], "`per_device_eval_batch_size` must be an integer >= 1, got 0"),
        (["--gradient_accumulation_steps", "0"], "`gradient_accumulation_steps` must be an integer >= 1, got 0"),
        (["--max_length", "1"], "`max_length` must be >= 2 \\(or null for no truncation\\), got 1"),
        (["--max_length", "0"], "`max_length` must be >= 2"),
        # TRL 1.16's DPOConfig has no separate prompt budget: the key is unknown, not silently ignored
        (["--max_prompt_length", "10"], "not used by the HfArgumentParser: \\['--max_prompt_length', '10'\\]"),
    ],
)  # fmt: skip
def test_nonsense_values_are_refused_at_start_up(tmp_path, tiny_model, pair_folder, overrides, message):
    with pytest.raises(PrefbuildError, match=message):
        main(quick_run(tiny_model, pair_folder, tmp_path / "out", *overrides))
    assert not (tmp_path / "out").exists()  # refused before anything was loaded or written


def test_cli_prints_one_error_line(tmp_path, tiny_model, pair_folder, capsys):
    from prefbuild.cli import main as cli_main

    assert cli_main(["train", *quick_run(tiny_model, pair_folder, tmp_path / "out", "--beta", "inf")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: `beta` must be > 0 and finite, got inf. The paper uses 0.3 (ablation: 0.1, 0.3, 1.0)."]


def test_max_length_that_every_prompt_fills_is_refused_before_training(tmp_path, tiny_model, pair_folder, capsys):
    # The fixture prompts are 10-60 tokens: max_length 10 leaves no pair a completion token, 20 keeps some
    with pytest.raises(PrefbuildError, match="`max_length` is 10, but the prompt of every pair in the train split "
                       "'train' of .* fills it \\(8 pairs\\), leaving no completion token. Raise `max_length`"):  # fmt: skip
        main(quick_run(tiny_model, pair_folder, tmp_path / "out", "--max_length", "10"))
    assert not (tmp_path / "out" / "model.safetensors").exists()
    assert main(quick_run(tiny_model, pair_folder, tmp_path / "out", "--max_length", "20", "--max_steps", "1")) == 0
    assert "Dropped 6 of 8 train pairs (split 'train' of " in capsys.readouterr().err


GOOD = {"prompt": "Q: 1+1?", "chosen": "2", "rejected": "3"}


def write_pairs(folder: Path, train_rows: list[dict], eval_rows: list[dict] | None = None) -> Path:
    """A prefbuild-shaped folder of parquet shards holding exactly these rows."""
    from datasets import Dataset

    (folder / "data").mkdir(parents=True)
    for split, rows in (("train", train_rows), ("eval", eval_rows or [GOOD, GOOD])):
        Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def chat(content):
    return [{"role": "assistant", "content": content}]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({**GOOD, "chosen": None}, "Split 'train' of '.*', row 2: `chosen` is null. Every pair needs a non-empty "
                                   "text chosen; fix or drop that row"),
        ({**GOOD, "chosen": ""}, "row 2: `chosen` is an empty string"),
        ({**GOOD, "rejected": ""}, "row 2: `rejected` is an empty string"),
        ({**GOOD, "prompt": None}, "row 2: `prompt` is null"),
        ({"prompt": [{"role": "user", "content": "1+1?"}], "chosen": [], "rejected": chat("3")},
         "row 2: `chosen` is an empty conversation"),
        ({"prompt": [{"role": "user", "content": "1+1?"}], "chosen": chat(None), "rejected": chat("3")},
         "row 2: `chosen` is a conversation with a null message content"),
    ],
)  # fmt: skip
def test_null_or_empty_text_names_split_row_and_column(tmp_path, tiny_model, bad_row, message):
    # Two good rows, then the bad one (conversational rows need conversational neighbours)
    good = GOOD if not any(isinstance(value, list) for value in bad_row.values()) else {
        "prompt": [{"role": "user", "content": "1+1?"}], "chosen": chat("2"), "rejected": chat("3")}  # fmt: skip
    folder = write_pairs(tmp_path / "pairs", [good, good, bad_row], [good, good])
    with pytest.raises(PrefbuildError, match=message):
        main(quick_run(tiny_model, folder, tmp_path / "out"))


def test_non_text_column_is_refused(tmp_path, tiny_model):
    folder = write_pairs(tmp_path / "pairs", [{**GOOD, "chosen": 2}, {**GOOD, "chosen": 4}])
    with pytest.raises(PrefbuildError, match="Split 'train' of '.*': column `chosen` holds int64, not text"):
        main(quick_run(tiny_model, folder, tmp_path / "out"))


def test_bad_row_in_eval_split_is_named(tmp_path, tiny_model):
    folder = write_pairs(tmp_path / "pairs", [GOOD] * 4, [GOOD, {**GOOD, "rejected": None}])
    with pytest.raises(PrefbuildError, match="Split 'eval' of '.*', row 1: `rejected` is null"):
        main(quick_run(tiny_model, folder, tmp_path / "out"))
    # Only the splits the run uses are checked: without evaluation the eval split is never read
    assert main(quick_run(tiny_model, folder, tmp_path / "out", "--eval_strategy", "no", "--max_steps", "1")) == 0


def test_empty_train_split_is_refused():
    # An empty parquet shard does not load at all (datasets' own error); a Hub split can be empty, so check directly
    from types import SimpleNamespace

    from datasets import Dataset

    from prefbuild.train.run import _check_truncation

    empty = Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []})
    trainer = SimpleNamespace(train_dataset=empty, eval_dataset=None, args=SimpleNamespace(max_length=64))
    script_args = SimpleNamespace(dataset_train_split="train", dataset_test_split="eval", dataset_name="me/pairs")
    with pytest.raises(PrefbuildError, match="^The train split 'train' of 'me/pairs' has no rows; there is nothing"):
        _check_truncation(trainer, "train", empty, script_args)
