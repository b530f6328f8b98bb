"""Helpers shared by the tests/test_train_*.py files (imported, not a pytest conftest: tests/conftest.py is shared)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures" / "train"

# Small, CPU-only, nothing saved, nothing reported: the settings every training test starts from.
CPU_TRAINING_ARGS = {
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
    "max_length": 64,
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 2,
    "gradient_checkpointing": False,
    "save_strategy": "no",
    "logging_steps": 1,
    "dataloader_num_workers": 0,
    "disable_tqdm": True,
    "seed": 0,
}


def read_rows(split: str) -> list[dict]:
    """The fixture pairs of `split` ('train' or 'eval'), with their metadata columns."""
    with open(FIXTURES / f"{split}.jsonl") as f:
        return [json.loads(line) for line in f]


def write_pair_folder(out: Path) -> Path:
    """Write the fixture pairs as a folder shaped like `prefbuild build` output (parquet shards + README configs)."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    for split in ("train", "eval"):
        pd.DataFrame(read_rows(split)).to_parquet(out / "data" / f"{split}-00000-of-00001.parquet", index=False)
    (out / "README.md").write_text(
        "---\n"
        "configs:\n"
        "- config_name: default\n"
        "  data_files:\n"
        "  - split: train\n"
        "    path: data/train-*\n"
        "  - split: eval\n"
        "    path: data/eval-*\n"
        "---\n"
        "# Fixture preference pairs\n"
    )
    return out


def nudged_copy(model, scale: float = 0.05, seed: int = 1):
    """A deep copy of `model` with every weight moved by `scale` × N(0, 1) (seeded): a policy away from its reference."""
    import copy

    import torch

    policy = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return policy


def offline_env() -> dict[str, str]:
    """Environment for subprocesses: no Hub, no telemetry, single-threaded BLAS so two ranks fit on two cores."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    env.update(TOKENIZERS_PARALLELISM="false", WANDB_DISABLED="true", HF_HUB_DISABLE_TELEMETRY="1")
    return env
