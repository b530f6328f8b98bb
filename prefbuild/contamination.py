"""Model contamination: has a model seen a benchmark's texts? The test the paper's Table 3 used.

The method of Shi et al.'s detect-pretrain-code-contamination (Shi et al., 2023, "Detecting Pretraining Data
from Large Language Models", and the repository of that name):

1. For each sampled benchmark text, a reference model (one that has not seen the benchmark) writes
   `neighbours` continuations of the text's first `prefix_ratio` of words: texts like the real one that are
   not it.
2. The text's score is the fraction of those neighbours on which the target model's loss (mean token negative
   log-likelihood of the whole text) is lower than on the real text. A model that memorised the text finds the
   real one likelier than almost every neighbour, so its score is near 0.
3. The benchmark's contamination value is the share of texts scoring below 0.1. Above 0.85 indicates likely
   contamination.

Sampling is seeded per text from (seed, text index), so the same --seed gives the same neighbours and scores.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefbuild.decontaminate import read_rows
from prefbuild.errors import PrefbuildError, unknown_name_error
from prefbuild.seeding import row_seed

SCORE_THRESHOLD = 0.1  # a text scoring below this looks memorised
CONTAMINATION_THRESHOLD = 0.85  # a benchmark whose share of such texts is above this is likely contaminated
MAX_NEW_TOKENS = 256
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class TextSource:
    """A benchmark's texts for the test: Hub id, config, split and how a row becomes one text."""

    hub_id: str
    config: str | None
    split: str
    fields: tuple[str, ...]  # joined with a newline; "a.b" reaches into a nested field


SOURCES = {
    "gsm8k": TextSource("openai/gsm8k", "main", "test", ("question", "answer")),
    "arc_challenge": TextSource("allenai/ai2_arc", "ARC-Challenge", "test", ("question",)),
    "truthfulqa": TextSource("truthfulqa/truthful_qa", "generation", "validation", ("question", "best_answer")),
}


def _field(row: dict[str, Any], path: str) -> str:
    value: Any = row
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _arc_text(row: dict[str, Any]) -> str:
    """ARC question followed by its correct answer (what a model that saw the test set saw)."""
    choices = row.get("choices") or {}
    labels, texts = choices.get("label") or [], choices.get("text") or []
    answer = texts[labels.index(row["answerKey"])] if row.get("answerKey") in labels else ""
    return f"{row.get('question', '')}\n{answer}".strip()


def _row_text(row: Any) -> str:
    if isinstance(row, str):
        return row
    if isinstance(row, dict) and isinstance(row.get("text"), str):
        return row["text"]
    if isinstance(row, dict):
        return "\n".join(value for value in row.values() if isinstance(value, str))
    return ""


def load_texts(benchmark: str, data_dir: str | Path | None = None) -> tuple[list[str], str]:
    """(texts, where they came from) for gsm8k, arc_challenge, truthfulqa, or a local .jsonl/.json/.parquet/.txt."""
    path = Path(benchmark).expanduser()
    if benchmark not in SOURCES:
        if not path.is_file():
            raise unknown_name_error("benchmark", benchmark, [*SOURCES, "or a local .jsonl/.json/.parquet/.txt file"])
        if path.suffix == ".txt":
            texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif path.suffix in (".jsonl", ".json", ".parquet"):
            try:
                texts = [_row_text(row) for row in read_rows(path)]
            except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
                raise PrefbuildError(f"--benchmark file '{benchmark}' does not read: {error}") from None
        else:
            raise PrefbuildError(f"--benchmark file '{benchmark}' must be .jsonl, .json, .parquet or .txt.")
        return [text for text in texts if text.split()], str(path)
    source = SOURCES[benchmark]
    if data_dir is not None:
        folder = Path(data_dir).expanduser() / benchmark
        files = [folder / f"{source.split}{suffix}" for suffix in (".jsonl", ".json", ".parquet")]
        files = [file for file in files if file.is_file()]
        if not files:
            raise PrefbuildError(
                f"--data-dir has no {folder}/{source.split}.jsonl for '{benchmark}' (the {source.split} split of "
                f"{source.hub_id} in its Hub schema)."
            )
        rows, where = read_rows(files[0]), str(files[0])
    else:
        import datasets

        try:
            rows = datasets.load_dataset(source.hub_id, source.config, split=source.split).to_list()
        except Exception as error:  # noqa: BLE001 - offline, gated or renamed datasets raise many types
            raise PrefbuildError(
                f"Could not load {source.hub_id} ({source.split}) from the Hub: {str(error).splitlines()[0]} "
                f"Offline, pass --data-dir DIR with DIR/{benchmark}/{source.split}.jsonl."
            ) from None
        where = f"{source.hub_id} ({source.split})"
    if benchmark == "arc_challenge":
        texts = [_arc_text(row) for row in rows]
    else:
        texts = ["\n".join(_field(row, key) for key in source.fields).strip() for row in rows]
    return [text for text in texts if text.split()], where


def load_causal_lm(name: str, flag: str, device: str):
    """(model, tokenizer) for a Hub id, a local model folder or a PEFT adapter folder, in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(name).expanduser()
    if (name.startswith((".", "/", "~")) or name.count("/") > 1) and not path.exists():
        raise PrefbuildError(f"{flag} '{name}' does not exist. Give a Hub id or a local model folder.")
    try:
        if (path / "adapter_config.json").is_file():
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(str(path))
            base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
            has_tokenizer = (path / "tokenizer_config.json").is_file()
            tokenizer = AutoTokenizer.from_pretrained(str(path) if has_tokenizer else base)
        else:
            model = AutoModelForCausalLM.from_pretrained(str(path) if path.exists() else name)
            tokenizer = AutoTokenizer.from_pretrained(str(path) if path.exists() else name)
    except PrefbuildError:
        raise
    except Exception as error:  # noqa: BLE001 - transformers / hub raise many types for an unloadable model
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PrefbuildError(f"{flag} '{name}' does not load ({type(error).__name__}: {first_line}).") from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def sequence_losses(model, tokenizer, texts: list[str], device: str, batch_size: int = 16) -> list[float]:
    """Mean token negative log-likelihood of each whole text under `model` (padding ignored)."""
    import torch

    tokenizer.padding_side = "right"
    losses: list[float] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            logits = model(**batch).logits[:, :-1].float()
        targets = batch["input_ids"][:, 1:]
        mask = batch["attention_mask"][:, 1:].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        per_text = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
        losses += per_text.tolist()
    return losses


def neighbours_of(
    text: str, model, tokenizer, count: int, prefix_ratio: float, seed: int, device: str, batch_size: int
) -> list[str]:
    """`count` texts: the first `prefix_ratio` of the words of `text`, continued by the reference model (sampled)."""
    import torch

    words = text.split()
    keep = min(len(words) - 1, max(1, int(len(words) * prefix_ratio))) if len(words) > 1 else 1
    prefix = " ".join(words[:keep])
    rest = " " + " ".join(words[keep:])
    new_tokens = min(MAX_NEW_TOKENS, max(1, len(tokenizer(rest, add_special_tokens=False)["input_ids"])))
    inputs = tokenizer(prefix, return_tensors="pt").to(device)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    neighbours: list[str] = []
    try:
        while len(neighbours) < count:
            take = min(batch_size, count - len(neighbours))
            with torch.no_grad():
                output = model.generate(
                    **inputs,
                    do_sample=True,
                    top_k=0,
                    top_p=1.0,
                    temperature=1.0,
                    max_new_tokens=new_tokens,
                    min_new_tokens=1,
                    num_return_sequences=take,
                    pad_token_id=tokenizer.pad_token_id,
                )
            continuations = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            neighbours += [prefix + continuation for continuation in continuations]
    finally:
        torch.random.set_rng_state(generator_state)
    return neighbours


def contamination_test(
    model: str,
    ref_model: str,
    benchmark: str,
    *,
    examples: int = 100,
    neighbours: int = 100,
    prefix_ratio: float = 0.4,
    seed: int = 0,
    data_dir: str | Path | None = None,
    device: str | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the test; returns what OUT/contamination.json holds."""
    for flag, value, least in (
        ("--examples", examples, 1),
        ("--neighbours", neighbours, 1),
        ("--batch-size", batch_size, 1),
    ):
        if value < least:
            raise PrefbuildError(f"{flag} must be >= {least}, got {value}.")
    if not 0.0 < prefix_ratio < 1.0:
        raise PrefbuildError(f"--prefix-ratio must be between 0 and 1 (exclusive), got {prefix_ratio}.")
    texts, where = load_texts(benchmark, data_dir)
    if not texts:
        raise PrefbuildError(f"--benchmark '{benchmark}' has no texts in {where}.")
    import torch
    from tqdm.auto import tqdm

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    indices = sorted(
        random.Random(row_seed(seed, "contamination", "sample")).sample(range(len(texts)), min(examples, len(texts)))
    )
    target, target_tokenizer = load_causal_lm(model, "--model", device)
    reference, reference_tokenizer = load_causal_lm(ref_model, "--ref-model", device)

    scored = []
    for index in tqdm(indices, desc="contamination", unit="text", disable=not progress):
        text = " ".join(texts[index].split())
        near = neighbours_of(
            text,
            reference,
            reference_tokenizer,
            neighbours,
            prefix_ratio,
            row_seed(seed, "contamination", str(index)),
            device,
            batch_size,
        )
        losses = sequence_losses(target, target_tokenizer, [text, *near], device, batch_size)
        real, others = losses[0], losses[1:]
        score = sum(loss < real for loss in others) / len(others)
        scored.append(
            {
                "index": index,
                "text": text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " […]",
                "loss": real,
                "neighbour_loss_mean": sum(others) / len(others),
                "score": score,
                "example_neighbour": near[0] if len(near[0]) <= EXCERPT_CHARS else near[0][:EXCERPT_CHARS] + " […]",
            }
        )
    value = sum(item["score"] < SCORE_THRESHOLD for item in scored) / len(scored)
    return {
        "method": "Shi et al. detect-pretrain-code-contamination: share of texts whose loss is lower than on "
        f"{100 * (1 - SCORE_THRESHOLD):.0f}% or more of the reference model's neighbours",
        "model": model,
        "ref_model": ref_model,
        "benchmark": benchmark,
        "source": where,
        "examples": len(scored),
        "neighbours": neighbours,
        "prefix_ratio": prefix_ratio,
        "seed": seed,
        "score_threshold": SCORE_THRESHOLD,
        "contamination_threshold": CONTAMINATION_THRESHOLD,
        "contamination": value,
        "likely_contaminated": value > CONTAMINATION_THRESHOLD,
        "texts": scored,
    }


def write_report(report: dict[str, Any], out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "contamination.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def render_report(report: dict[str, Any]) -> str:
    verdict = "likely contaminated" if report["likely_contaminated"] else "no sign of contamination"
    return (
        f"{report['benchmark']}: contamination {report['contamination']:.2f} ({verdict}; threshold "
        f"{report['contamination_threshold']}) — {report['examples']} texts x {report['neighbours']} neighbours, "
        f"{report['model']} vs reference {report['ref_model']}"
    )
