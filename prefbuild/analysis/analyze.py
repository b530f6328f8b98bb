"""`prefbuild analyze`: does a model hold the chosen completion's likelihood after the edit? (the paper's Fig. 4)

For any causal LM and any preference dataset, score the chosen and rejected completions token by token, align them
on the first differing token and write `OUT/analysis.json` plus `OUT/token_logprobs.png`.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from prefbuild.analysis.logprobs import pair_logprobs, summarise_logprobs
from prefbuild.analysis.plots import plot_token_curve
from prefbuild.errors import PrefbuildError
from prefbuild.hub_access import hub_access, is_local


def load_pairs_split(data: str | Path, split: str = "eval", limit: int | None = None):
    """One split of a folder written by `prefbuild build` (or a Hub dataset id), at most `limit` rows, as a
    `datasets.Dataset` (`prefbuild.folder.open_pairs(data, split, limit).dataset(split)`)."""
    from prefbuild.folder import PAIR_COLUMNS, open_pairs

    rows = open_pairs(data, split, limit).dataset(split)
    missing = [column for column in PAIR_COLUMNS if column not in rows.column_names]
    if missing:
        raise PrefbuildError(f"Split '{split}' of '{data}' lacks the column(s) {', '.join(missing)}.")
    return rows


def load_model(model: str | Path, device: str | None = None, dtype: str = "auto"):
    """Model and tokenizer from a Hub id or a local folder, on `device` (default: CUDA if available, else CPU)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    hint = (
        "Pass --model a local folder (one written by `save_pretrained`, `prefbuild train` or `prefbuild tiny-model`)"
    )
    try:
        with hub_access("model", str(model), hint) if not is_local(model) else nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(str(model))
            torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
            lm = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype).to(device)
    except (OSError, ValueError) as error:
        raise PrefbuildError(f"Could not load model '{model}': {error}") from error
    return lm, tokenizer


def analyze(
    model: Any,
    data: str | Path,
    *,
    out: str | Path,
    split: str = "eval",
    limit: int | None = None,
    window: int = 10,
    batch_size: int = 16,
    tokenizer: Any = None,
    device: str | None = None,
    progress: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """Score `data`'s `split` with `model` (Hub id, folder or a loaded model with `tokenizer`); write `out`.

    Writes `out/analysis.json` (see `summarise_logprobs` for the keys, plus `model`, `data`, `split`, `seconds`) and
    `out/token_logprobs.png`; returns the JSON's contents.
    """
    if window < 0:
        raise PrefbuildError(f"--window must be >= 0, got {window}.")
    if batch_size < 1:
        raise PrefbuildError(f"--batch-size must be >= 1, got {batch_size}.")
    started = time.perf_counter()
    rows = load_pairs_split(data, split, limit)  # before the model: a wrong --data or --split fails fast
    if isinstance(model, str | Path):
        name = str(model)
        model, tokenizer = load_model(model, device=device)
    else:
        if tokenizer is None:
            raise PrefbuildError("analyze() needs `tokenizer` when `model` is a loaded model.")
        name = getattr(model.config, "_name_or_path", "") or type(model).__name__
    results = pair_logprobs(model, tokenizer, rows, batch_size=batch_size, progress=progress)
    summary = summarise_logprobs(results, window=window)
    analysis = {"model": name, "data": str(data), "split": split, **summary}
    analysis["seconds"] = round(time.perf_counter() - started, 2)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curve = {label or Path(name).name or name: summary["by_offset"]}
    writers = {
        "analysis.json": lambda path: path.write_text(json.dumps(analysis, indent=2) + "\n"),
        "token_logprobs.png": lambda path: plot_token_curve(curve, path),
    }
    # Each file is written beside its final name and renamed over it: an interrupted or failed run leaves the old
    # file or the new one, never half of one, and no partial file (other files in `out` are left alone).
    for file_name, write in writers.items():
        partial = out / f".partial-{os.getpid()}-{file_name}"  # same suffix: matplotlib picks the format by it
        try:
            write(partial)
            os.replace(partial, out / file_name)
        finally:
            partial.unlink(missing_ok=True)
    return analysis


def render_analysis(analysis: dict[str, Any]) -> str:
    """A few lines for the terminal."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return "\n".join(
        [
            f"{analysis['pairs']} pairs of '{analysis['data']}' ({analysis['split']}) scored with {analysis['model']}",
            f"  chosen log-prob (summed, mean over pairs): {fmt(analysis['chosen_logp'])}",
            f"  rejected log-prob (summed):                {fmt(analysis['rejected_logp'])}",
            f"  chosen per-token log-prob before the edit: {fmt(analysis['before_edit_mean'])}",
            f"  at the first differing token:              {fmt(analysis['at_edit_mean'])}",
            f"  after the edit:                            {fmt(analysis['after_edit_mean'])}",
        ]
    )
