"""On-disk cache of precomputed reference log-probs, shared by every run on the same data and reference.

An ablation sweep (β, λ, loss type: 12 runs on one dataset) recomputes the same reference log-probs in every run.
With `precompute_ref_log_probs: true` and `ref_logps_cache_dir` set, the first run stores them in that folder and
later runs read them, as long as everything that determines them is unchanged. The key covers:

- the reference model: name or path, revision, dtype and a SHA-256 of its weights (TRL's `hash_module`, which it
  computes for `precompute_ref_log_probs` anyway), so a local folder whose weights changed is a miss;
- the dataset's content: a SHA-256 of the tokenized pairs the reference reads (`prompt_ids`, `chosen_ids`,
  `rejected_ids`, in order);
- the tokenizer (its serialised vocabulary and special tokens) and its chat template;
- `max_length`, `truncation_mode` and the mixed-precision setting of the forward.

A changed component gives another key, hence another file: a stale cache is never read. Each file sits next to a
JSON sidecar listing the key's components, so a miss can be explained by diffing two sidecars.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

# Bump when the file layout or the meaning of a key component changes
# 2: the log-probs are float64 sums (1 stored float32 sums, rounded to ≈ 6e-5 at -1,000 nats)
CACHE_FORMAT = 2
TOKEN_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def dataset_content_hash(dataset) -> str:
    """SHA-256 of the tokenized pairs of a prepared (tokenized) `datasets.Dataset`, independent of its chunking."""
    table = dataset.with_format("arrow")[:]  # applies any indices mapping (select, shuffle)
    digest = hashlib.sha256(f"rows={table.num_rows}".encode())
    for name in TOKEN_COLUMNS:
        if name not in table.column_names:
            raise KeyError(f"dataset has no '{name}' column; the reference cache needs TRL's tokenized dataset")
        lengths, values = hashlib.sha256(), hashlib.sha256()
        for chunk in table.column(name).chunks:
            lengths.update(pc.list_value_length(chunk).to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
            flat = pc.list_flatten(chunk).to_numpy(zero_copy_only=False)
            values.update(flat.astype(np.int64).tobytes())
        digest.update(f"{name}:{lengths.hexdigest()}:{values.hexdigest()}".encode())
    return digest.hexdigest()


def tokenizer_identity(tokenizer) -> dict[str, Any]:
    """What in the tokenizer decides the token ids: its vocabulary/merges, special tokens and chat template."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        vocabulary = _sha256(backend.to_str())
    else:  # slow tokenizer: the vocabulary is what we can see
        vocabulary = _sha256(json.dumps(sorted(tokenizer.get_vocab().items())))
    template = getattr(tokenizer, "chat_template", None)
    return {
        "name_or_path": str(getattr(tokenizer, "name_or_path", "")),
        "vocabulary_sha256": vocabulary,
        "special_tokens": {
            name: str(getattr(tokenizer, name, None)) for name in ("bos_token", "eos_token", "pad_token", "unk_token")
        },
        "chat_template_sha256": _sha256(json.dumps(template, sort_keys=True)) if template is not None else None,
    }


def reference_identity(trainer) -> dict[str, Any]:
    """The reference model: where it came from (name or path, revision) and what it is (dtype, weights hash)."""
    model = trainer.ref_model if trainer.ref_model is not None else trainer.model
    model = trainer.accelerator.unwrap_model(model)
    config = model.config
    init_kwargs = trainer.args.model_init_kwargs if isinstance(trainer.args.model_init_kwargs, dict) else {}
    return {
        "name_or_path": str(getattr(config, "_name_or_path", "")),
        "revision": init_kwargs.get("revision") or getattr(config, "_commit_hash", None),
        "dtype": str(model.dtype),
        # With PEFT and no `ref_model`, the hash covers the adapter too: a new adapter is a (safe) miss
        "weights_sha256": trainer._precompute_model_hash,
        "peft": type(model).__name__ if hasattr(model, "peft_config") else None,
    }


def cache_components(trainer, dataset) -> dict[str, Any]:
    """Every input the reference log-probs depend on, as a JSON-serialisable dict."""
    args = trainer.args
    return {
        "format": CACHE_FORMAT,
        "reference": reference_identity(trainer),
        "dataset_sha256": dataset_content_hash(dataset),
        "tokenizer": tokenizer_identity(trainer._tokenizer),
        "max_length": args.max_length,
        "truncation_mode": args.truncation_mode,
        "mixed_precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "no",
    }


def cache_key(components: dict[str, Any]) -> str:
    """SHA-256 of the components, order-independent."""
    return _sha256(json.dumps(components, sort_keys=True, default=str))


def cache_path(cache_dir: str | os.PathLike, name: str, key: str) -> Path:
    """`<cache_dir>/<split>-<key>.npz`; its sidecar is the same path with `.json`."""
    return Path(cache_dir) / f"{name}-{key[:32]}.npz"


def read_cache(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (chosen, rejected) reference log-probs, or None if absent or not for `rows` rows."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            chosen, rejected = data["ref_chosen_logps"], data["ref_rejected_logps"]
    except (OSError, ValueError, KeyError):  # truncated or foreign file: recompute
        return None
    if chosen.shape != (rows,) or rejected.shape != (rows,):
        return None
    return chosen, rejected


def write_cache(path: Path, chosen: np.ndarray, rejected: np.ndarray, components: dict[str, Any]) -> None:
    """Write atomically (temporary sibling, then rename), with the components in a JSON sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, ref_chosen_logps=chosen, ref_rejected_logps=rejected)
    sidecar = path.with_suffix(".json")
    sidecar.write_text(json.dumps(components, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def precompute_with_cache(trainer, dataset, name: str, batch_size: int, compute):
    """`DPOTrainer._precompute_ref_logps` through the cache: read on a hit, `compute` then store on a miss.

    All processes take rank 0's key and decision, so they read the same file or all join the (distributed)
    computation.
    """
    from accelerate.utils import broadcast_object_list
    from datasets import Dataset, concatenate_datasets

    accelerator = trainer.accelerator
    start = time.perf_counter()
    components = cache_components(trainer, dataset)
    decision = [cache_key(components), None]
    if accelerator.is_main_process:
        path = cache_path(trainer.args.ref_logps_cache_dir, name, decision[0])
        decision[1] = read_cache(path, len(dataset)) is not None
    broadcast_object_list(decision, from_process=0)
    key, hit = decision
    path = cache_path(trainer.args.ref_logps_cache_dir, name, key)

    cached = read_cache(path, len(dataset)) if hit else None
    if cached is not None:
        chosen, rejected = cached
        columns = Dataset.from_dict({"ref_chosen_logps": chosen, "ref_rejected_logps": rejected})
        result = concatenate_datasets([dataset, columns], axis=1)
        logger.info(
            f"Reference log-probs cache hit for the {name} split: read {len(dataset)} pairs from {path} "
            f"in {time.perf_counter() - start:.2f} s (key {key[:12]})."
        )
        return result

    logger.info(
        f"Reference log-probs cache miss for the {name} split (key {key[:12]}): computing them, then storing to {path}."
    )
    result = compute(dataset, name, batch_size)
    if accelerator.is_main_process:
        columns = result.select_columns(["ref_chosen_logps", "ref_rejected_logps"]).with_format("numpy")
        write_cache(
            path, np.asarray(columns["ref_chosen_logps"]), np.asarray(columns["ref_rejected_logps"]), components
        )
        logger.info(
            f"Reference log-probs for the {name} split computed in {time.perf_counter() - start:.2f} s and stored."
        )
    accelerator.wait_for_everyone()
    return result
