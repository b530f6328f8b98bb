"""The on-disk reference log-prob cache: a hit reads, a miss computes, and every key component invalidates."""

import json
import shutil

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer
from trl import DPOTrainer

from prefbuild.train import DPOPConfig, DPOPTrainer
from prefbuild.train import ref_cache as rc
from prefbuild.train.tiny_model import write_tiny_model
from tests.conftest_train import CPU_TRAINING_ARGS, read_rows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def rows():
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in read_rows("train")]


@pytest.fixture
def count_computes(monkeypatch):
    calls = []
    original = DPOTrainer._precompute_ref_logps

    def counting(self, dataset, name, batch_size):
        calls.append(name)
        return original(self, dataset, name, batch_size)

    monkeypatch.setattr(DPOTrainer, "_precompute_ref_logps", counting)
    return calls


def make_trainer(output_dir, model, cache_dir, data=None, tokenizer=None, **overrides):
    args = DPOPConfig(
        output_dir=str(output_dir),
        **{**CPU_TRAINING_ARGS, "precompute_ref_log_probs": True, "ref_logps_cache_dir": str(cache_dir), **overrides},
    )
    return DPOPTrainer(
        model=str(model),
        args=args,
        train_dataset=Dataset.from_list(data or rows()),
        processing_class=tokenizer or AutoTokenizer.from_pretrained(model),
    )


def ref_columns(trainer):
    columns = trainer.train_dataset.with_format("torch")
    return columns["ref_chosen_logps"], columns["ref_rejected_logps"]


def test_second_run_reads_what_the_first_computed(tmp_path, model_dir, count_computes, capsys):
    cache = tmp_path / "cache"
    first = make_trainer(tmp_path / "a", model_dir, cache)
    assert count_computes == ["train"]
    assert "cache miss for the train split" in capsys.readouterr().err
    stored = sorted(p.name for p in cache.iterdir())
    assert len(stored) == 2 and stored[0].endswith(".json") and stored[1].endswith(".npz")

    second = make_trainer(tmp_path / "b", model_dir, cache)
    assert count_computes == ["train"]  # no second reference pass
    assert "cache hit for the train split" in capsys.readouterr().err
    for computed, read in zip(ref_columns(first), ref_columns(second), strict=True):
        torch.testing.assert_close(read, computed, rtol=0, atol=0)
    # The sidecar says what the key was made of
    sidecar = json.loads((cache / stored[0]).read_text())
    assert sidecar["reference"]["name_or_path"] == str(model_dir)
    assert sidecar["max_length"] == CPU_TRAINING_ARGS["max_length"]


@pytest.mark.parametrize(
    "component",
    ["weights", "dataset", "chat_template", "vocabulary", "max_length", "truncation_mode"],
)
def test_each_key_component_invalidates(tmp_path, model_dir, count_computes, capsys, component):
    # A private copy of the model, so changing its weights in place keeps its path (and name) the same
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    cache = tmp_path / "cache"
    make_trainer(tmp_path / "first", model, cache)
    capsys.readouterr()

    data, tokenizer, overrides = rows(), AutoTokenizer.from_pretrained(model), {}
    if component == "weights":
        weights = load_file(model / "model.safetensors")
        name = sorted(weights)[0]
        weights[name] = weights[name] + 0.01
        save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    elif component == "dataset":
        data[3]["rejected"] = data[3]["rejected"].replace("14", "15")
    elif component == "chat_template":
        tokenizer.chat_template = tokenizer.chat_template + "{# another template #}"
    elif component == "vocabulary":
        tokenizer.add_tokens(["<|new|>"])
    elif component == "max_length":
        overrides["max_length"] = 48
    elif component == "truncation_mode":
        overrides["truncation_mode"] = "keep_end"
    changed = make_trainer(tmp_path / "changed", model, cache, data=data, tokenizer=tokenizer, **overrides)
    assert count_computes == ["train", "train"], "a changed key must recompute"
    assert "cache miss for the train split" in capsys.readouterr().err
    assert len(list(cache.glob("*.npz"))) == 2  # a new entry; the old one stays for runs with the old key
    assert len(changed.train_dataset) == len(data)


def test_cache_key_changes_with_each_component():
    base = {
        "format": 1,
        "reference": {"name_or_path": "m", "revision": None, "dtype": "torch.float32", "weights_sha256": "a"},
        "dataset_sha256": "d",
        "tokenizer": {"vocabulary_sha256": "v", "chat_template_sha256": "t"},
        "max_length": 64,
        "truncation_mode": "keep_start",
        "mixed_precision": "no",
    }
    key = rc.cache_key(base)
    assert rc.cache_key(json.loads(json.dumps(base))) == key  # stable
    changes = [
        ("reference", "name_or_path", "other"),
        ("reference", "revision", "abc123"),
        ("reference", "dtype", "torch.bfloat16"),
        ("reference", "weights_sha256", "b"),
        ("tokenizer", "vocabulary_sha256", "w"),
        ("tokenizer", "chat_template_sha256", "u"),
    ]
    for section, field, value in changes:
        changed = json.loads(json.dumps(base))
        changed[section][field] = value
        assert rc.cache_key(changed) != key, (section, field)
    for field, value in [("dataset_sha256", "e"), ("max_length", 65), ("truncation_mode", "keep_end")]:
        assert rc.cache_key({**base, field: value}) != key, field
    assert rc.cache_key({**base, "mixed_precision": "bf16"}) != key


def test_dataset_hash_ignores_chunking_and_sees_order():
    data = Dataset.from_dict(
        {"prompt_ids": [[1, 2], [3]], "chosen_ids": [[4], [5, 6]], "rejected_ids": [[7], [8, 9]], "x": ["a", "b"]}
    )
    same_rows_other_chunks = Dataset.from_list([data[0]]).add_item(data[1])
    assert rc.dataset_content_hash(data) == rc.dataset_content_hash(same_rows_other_chunks)
    assert rc.dataset_content_hash(data) != rc.dataset_content_hash(data.select([1, 0]))
    # ids moved from one row to the next are a different dataset, though the flattened values are the same
    moved = Dataset.from_dict(
        {"prompt_ids": [[1], [2, 3]], "chosen_ids": [[4], [5, 6]], "rejected_ids": [[7], [8, 9]], "x": ["a", "b"]}
    )
    assert rc.dataset_content_hash(data) != rc.dataset_content_hash(moved)


def test_unreadable_or_wrong_length_cache_is_a_miss(tmp_path):
    path = tmp_path / "train-x.npz"
    path.write_bytes(b"not an npz")
    assert rc.read_cache(path, 2) is None
    rc.write_cache(path, torch.zeros(3).numpy(), torch.zeros(3).numpy(), {"format": 1})
    assert rc.read_cache(path, 2) is None
    assert rc.read_cache(path, 3) is not None


def test_cache_dir_without_precompute_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`ref_logps_cache_dir` is .* but `precompute_ref_log_probs` is False"):
        DPOPConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, ref_logps_cache_dir=str(tmp_path / "cache"))
