"""`prefbuild repro`: the paper's failure mode (arXiv 2402.13228, Figs. 2, 4, 5) at toy scale, fully offline.

1. Seeded multi-step arithmetic word problems with MetaMath-style solutions (`prefbuild.analysis.problems`); a byte-
   level BPE tokenizer and a small Llama trained from scratch on them (SFT on the solutions) → the reference model.
2. Low-edit pairs from held-apart problems with the project's own `metamath` builder (one intermediate result
   corrupted, answer untouched); as a control, high-edit pairs (the correct solution against another problem's).
3. From the same reference, DPO, DPOP, IPO and SLiC with `prefbuild.train.DPOPTrainer` (only `loss_type` differs),
   logging the chosen / rejected log-probs of fixed train and eval pairs along the way.
4. Exact-match accuracy of greedy answers on held-out problems for the reference and each method.
5. `results.json` (a contract: see `run_repro`), figures and `report.md`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prefbuild.analysis.logprobs import pair_logprobs, summarise_logprobs, tokenize_pair
from prefbuild.analysis.problems import Problem, extract_answer, make_problems
from prefbuild.errors import PrefbuildError
from prefbuild.output import atomic_folder

logger = logging.getLogger(__name__)

# The paper's names → DPOPConfig.loss_type
METHOD_LOSS_TYPES = {"dpo": "sigmoid", "dpop": "dpop", "ipo": "ipo", "slic": "hinge"}


@dataclass
class ReproConfig:
    """Sizes and hyperparameters of one toy reproduction. `QUICK`, `FULL` and `CI` are the presets.

    Parameters:
        seed: seeds the problems, the tokenizer's data, every initialisation and every data order.
        sft_problems / pref_train_pairs / pref_eval_pairs / test_problems: disjoint ranges of the problem stream:
            SFT data, problems held apart for preference pairs (train / eval split by the metamath builder's
            `eval_size`), and problems for the accuracy evaluation.
        vocab_size / hidden_size / num_layers / num_heads / intermediate_size: the tokenizer and the Llama model.
        sft_steps / sft_batch_size / sft_learning_rate: supervised fine-tuning on the solutions (AdamW, warmup then
            cosine decay, loss on the completion tokens only).
        pref_steps / pref_batch_size / pref_learning_rate: each preference run (TRL's linear decay, 10 % warmup).
        beta / dpop_lambda: the paper's β = 0.3 and λ = 50, the same for every method (IPO reads β as τ).
        methods: preference methods trained on the low-edit pairs, from `METHOD_LOSS_TYPES`.
        control_methods: methods also trained on the high-edit control pairs.
        trajectory_every / trajectory_pairs: score that many fixed train and eval pairs every so many steps.
        max_new_tokens / generation_batch_size: greedy decoding for the accuracy evaluation.
        threads: torch CPU threads; 1 avoids the large slow-down of oversubscribing a shared 2-core machine.
    """

    seed: int = 0
    sft_problems: int = 6000
    pref_train_pairs: int = 1000
    pref_eval_pairs: int = 200
    test_problems: int = 300
    vocab_size: int = 600
    hidden_size: int = 96
    num_layers: int = 3
    num_heads: int = 4
    intermediate_size: int = 256
    sft_steps: int = 500
    sft_batch_size: int = 32
    sft_learning_rate: float = 2e-3
    pref_steps: int = 60
    pref_batch_size: int = 16
    pref_learning_rate: float = 2e-4
    beta: float = 0.3
    dpop_lambda: float = 50.0
    methods: tuple[str, ...] = ("dpo", "dpop", "ipo", "slic")
    control_methods: tuple[str, ...] = ("dpo",)
    trajectory_every: int = 10
    trajectory_pairs: int = 64
    max_new_tokens: int = 128
    generation_batch_size: int = 64
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [method for method in (*self.methods, *self.control_methods) if method not in METHOD_LOSS_TYPES]
        if unknown:
            raise PrefbuildError(f"Unknown method(s) {', '.join(unknown)}. Available: {', '.join(METHOD_LOSS_TYPES)}.")
        if self.pref_eval_pairs < 1 or self.pref_train_pairs < 1:
            raise PrefbuildError("`pref_train_pairs` and `pref_eval_pairs` must be >= 1.")


QUICK = ReproConfig()
# Larger model and more data: 24 minutes on the shared 2-core CPU machine (1 thread); not run on a GPU.
FULL = replace(
    QUICK,
    sft_problems=12000,
    pref_train_pairs=2000,
    pref_eval_pairs=300,
    test_problems=500,
    hidden_size=128,
    num_layers=4,
    intermediate_size=384,
    sft_steps=1500,
    pref_steps=150,
    trajectory_every=15,
    control_methods=("dpo", "dpop"),
)
CI = replace(
    QUICK,
    sft_problems=400,
    pref_train_pairs=64,
    pref_eval_pairs=16,
    test_problems=16,
    vocab_size=400,
    hidden_size=32,
    num_layers=1,
    num_heads=2,
    intermediate_size=64,
    sft_steps=30,
    sft_batch_size=16,
    pref_steps=4,
    pref_batch_size=4,
    trajectory_every=2,
    trajectory_pairs=8,
    max_new_tokens=48,
)
PRESETS = {"quick": QUICK, "full": FULL, "ci": CI}


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------------------------------------------------
# 1. Reference model: tokenizer + SFT
# ---------------------------------------------------------------------------------------------------------------


def build_reference(problems: list[Problem], config: ReproConfig, out: Path, *, progress: bool = True):
    """Train the tokenizer and SFT a fresh Llama on `problems`; save both to `out`; return (model, tokenizer, log)."""
    from tqdm.auto import tqdm
    from transformers import LlamaForCausalLM

    from prefbuild.train.tiny_model import tiny_llama_config, train_tokenizer

    tokenizer = train_tokenizer([p.query + p.response for p in problems], vocab_size=config.vocab_size)
    model_config = tiny_llama_config(
        len(tokenizer),
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(config.seed)
    device = _device()
    model = LlamaForCausalLM(model_config).to(device)
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    # Tokenised exactly as the preference trainer does it (prompt ids, then completion ids ending in EOS)
    examples = []
    for problem in problems:
        pair = tokenize_pair(tokenizer, problem.query, problem.response, problem.response)
        examples.append((pair.prompt_ids, pair.chosen_ids))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.sft_learning_rate, weight_decay=0.01)
    warmup = max(1, config.sft_steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.sft_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = random.Random(config.seed)
    order: list[int] = []
    log = []
    model.train()
    for step in tqdm(range(config.sft_steps), desc="SFT", disable=not progress, unit="step"):
        if len(order) < config.sft_batch_size:
            order.extend(rng.sample(range(len(examples)), len(examples)))
        batch = [examples[order.pop()] for _ in range(config.sft_batch_size)]
        width = max(len(prompt) + len(completion) for prompt, completion in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (prompt, completion) in enumerate(batch):
            ids = torch.tensor(prompt + completion, dtype=torch.long)
            input_ids[row, : len(ids)] = ids
            labels[row, len(prompt) : len(ids)] = ids[len(prompt) :]
            attention_mask[row, : len(ids)] = 1
        loss = model(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), labels=labels.to(device)
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == config.sft_steps - 1:
            log.append({"step": step, "loss": round(loss.item(), 4)})
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model, tokenizer, log


# ---------------------------------------------------------------------------------------------------------------
# 2. Pairs
# ---------------------------------------------------------------------------------------------------------------


def build_low_edit_pairs(problems: list[Problem], config: ReproConfig, out: Path):
    """Pairs from the project's `metamath` builder (eval split of `pref_eval_pairs` rows); returns the DatasetDict."""
    from prefbuild.build import build_dataset
    from prefbuild.output import load_output_folder

    out.parent.mkdir(parents=True, exist_ok=True)
    source = out.parent / "held_apart_problems.jsonl"
    with source.open("w") as handle:
        for problem in problems:
            handle.write(json.dumps(problem.as_metamath_row()) + "\n")
    report = build_dataset(
        "metamath",
        source=str(source),
        out=out,
        seed=config.seed,
        overwrite=True,
        options={"eval_size": config.pref_eval_pairs},
        plot=False,
    )
    return load_output_folder(out), report.stats


def build_high_edit_pairs(low_edit, out: Path):
    """Control: the same prompts and chosen, rejected = the solution of another problem of the same split."""
    import datasets

    splits = {}
    (out / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in low_edit.items():
        chosen = list(rows["chosen"])
        rejected = chosen[1:] + chosen[:1]  # a different problem's solution (the next row's)
        table = datasets.Dataset.from_dict({"prompt": list(rows["prompt"]), "chosen": chosen, "rejected": rejected})
        table.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
        splits[split] = table
    return datasets.DatasetDict(splits)


def edit_distance_summary(rows) -> dict[str, float]:
    from prefbuild.stats import normalised_levenshtein, word_levenshtein

    chosen, rejected = list(rows["chosen"]), list(rows["rejected"])
    return {
        "char": float(np.mean(normalised_levenshtein(chosen, rejected))),
        "word": float(np.mean(word_levenshtein(chosen, rejected))),
    }


# ---------------------------------------------------------------------------------------------------------------
# 3. Preference runs
# ---------------------------------------------------------------------------------------------------------------


REGIONS = ("before", "at", "after")


def region_split(results, tokenizer, pairs) -> dict[str, dict[str, float]]:
    """Chosen log-prob summed per pair by region (before / at / after the first difference) and token kind.

    `number` tokens contain a digit (results, operands, the answer); `other` tokens are the template's words and
    punctuation. Means over the pairs that differ, in nats per pair; the six values add up to the chosen log-prob.
    """
    totals = {region: {"number": 0.0, "other": 0.0} for region in REGIONS}
    counted = 0
    for result, pair in zip(results, pairs):
        ids = tokenize_pair(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"]).chosen_ids
        first = result.first_diff
        if first >= len(result.chosen) and first >= len(result.rejected):
            continue  # identical completions
        counted += 1
        for index, (token_id, logp) in enumerate(zip(ids, result.chosen)):
            region = "before" if index < first else "at" if index == first else "after"
            kind = "number" if any(char.isdigit() for char in tokenizer.decode([token_id])) else "other"
            totals[region][kind] += float(logp)
    return {
        region: {kind: value / max(counted, 1) for kind, value in kinds.items()} for region, kinds in totals.items()
    }


def score_pairs(model, tokenizer, rows, *, batch_size: int = 32, window: int = 10, split: bool = False):
    """`summarise_logprobs` of `rows` under `model`; with `split`, also `by_region` (see `region_split`)."""
    pairs = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    results = pair_logprobs(model, tokenizer, pairs, batch_size=batch_size)
    summary = summarise_logprobs(results, window=window)
    if split:
        summary["by_region"] = region_split(results, tokenizer, pairs)
    return summary


_TRAJECTORY_KEYS = ("chosen_logp", "rejected_logp", "before_edit_mean", "after_edit_mean")


def _trajectory_callback(tokenizer, train_rows, eval_rows, every: int):
    from transformers import TrainerCallback

    class TrajectoryCallback(TrainerCallback):
        """Scores fixed train and eval pairs at step 0 and every `every` steps (the paper's Fig. 5)."""

        def __init__(self):
            self.points: list[dict[str, Any]] = []

        def _record(self, step: int, model) -> None:
            point: dict[str, Any] = {"step": step}
            for name, rows in (("train", train_rows), ("eval", eval_rows)):
                summary = score_pairs(model, tokenizer, rows)
                point[name] = {key: summary[key] for key in _TRAJECTORY_KEYS}
            self.points.append(point)

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self._record(0, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                self._record(state.global_step, model)

    return TrajectoryCallback()


def train_preference(
    method: str, reference, tokenizer, pairs, config: ReproConfig, out: Path, *, progress: bool = True
):
    """Train a copy of `reference` on `pairs["train"]` with `method`; return (model, trajectory, log_history)."""
    from prefbuild.train import DPOPConfig, DPOPTrainer

    model = copy.deepcopy(reference).train()
    ref_model = copy.deepcopy(reference).eval()
    args = DPOPConfig(
        output_dir=str(out),
        loss_type=METHOD_LOSS_TYPES[method],
        beta=config.beta,
        dpop_lambda=config.dpop_lambda,
        learning_rate=config.pref_learning_rate,
        warmup_steps=max(1, config.pref_steps // 10),
        max_steps=config.pref_steps,
        per_device_train_batch_size=config.pref_batch_size,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=max(1, config.trajectory_every // 2),
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        gradient_checkpointing=False,
        seed=config.seed,
    )
    rng = random.Random(config.seed)
    train_rows = pairs["train"].select(
        sorted(rng.sample(range(len(pairs["train"])), min(config.trajectory_pairs, len(pairs["train"]))))
    )
    eval_rows = pairs["eval"].select(range(min(config.trajectory_pairs, len(pairs["eval"]))))
    callback = _trajectory_callback(tokenizer, train_rows, eval_rows, config.trajectory_every)
    trainer = DPOPTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=pairs["train"].select_columns(["prompt", "chosen", "rejected"]),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.train()
    model.eval()
    return model, callback.points, trainer.state.log_history


# ---------------------------------------------------------------------------------------------------------------
# 4. Accuracy
# ---------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def exact_match_accuracy(model, tokenizer, problems: list[Problem], config: ReproConfig) -> dict[str, Any]:
    """Greedy answers to `problems`; accuracy = share whose `The answer is: N` equals the true answer."""
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    correct = answered = 0
    examples = []
    for start in range(0, len(problems), config.generation_batch_size):
        batch = problems[start : start + config.generation_batch_size]
        encoded = tokenizer([p.query for p in batch], return_tensors="pt", padding=True).to(device)
        generated = model.generate(
            **encoded,
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(generated[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        for problem, text in zip(batch, texts):
            answer = extract_answer(text)
            answered += answer is not None
            correct += answer == problem.answer
            if len(examples) < 3:
                examples.append({"query": problem.query, "generated": text, "answer": problem.answer})
    return {
        "accuracy": correct / len(problems) if problems else 0.0,
        "answered": answered / len(problems) if problems else 0.0,
        "problems": len(problems),
        "examples": examples,
    }


# ---------------------------------------------------------------------------------------------------------------
# 5. Orchestration
# ---------------------------------------------------------------------------------------------------------------


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "chosen_logp": summary["chosen_logp"],
        "rejected_logp": summary["rejected_logp"],
        "before_edit_logp": summary["before_edit_mean"],
        "at_edit_logp": summary["at_edit_mean"],
        "after_edit_logp": summary["after_edit_mean"],
        "chosen_token_logp": summary["chosen_token_logp"],
        "before_edit_sum": summary["before_edit_sum"],
        "at_edit_sum": summary["at_edit_sum"],
        "after_edit_sum": summary["after_edit_sum"],
        "by_region": summary.get("by_region"),
        "by_offset": summary["by_offset"],
    }


def run_repro(
    out: str | Path, config: ReproConfig = QUICK, *, overwrite: bool = False, progress: bool = True, log=None
) -> dict[str, Any]:
    """Run the toy reproduction into `out`; return what `out/results.json` holds.

    `results.json` (all log-probs in nats, on the low-edit eval pairs unless the key says otherwise):

        {"reference": {"chosen_logp", "after_edit_logp", "accuracy", "rejected_logp", "before_edit_logp",
                       "at_edit_logp", "chosen_token_logp", "before_edit_sum", "at_edit_sum", "after_edit_sum",
                       "by_region", "by_offset", "high_edit": {...}},
         "methods": {"dpo" | "dpop" | "ipo" | "slic": {same keys as the reference, "trajectory": [{"step",
                     "train": {...}, "eval": {...}}], "high_edit": {...}}},
         "control": {"high_edit": {method: {...}}}, "config", "data", "seconds", "device", "sft_log"}

    `chosen_logp` is the mean over pairs of the summed completion log-prob (what the losses see);
    `after_edit_logp` the mean per-token log-prob of the chosen tokens after the first differing token (Fig. 4).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise PrefbuildError(f"'{out}' exists and is not empty. Use --overwrite to replace it.")
    # Minutes of training go into a temporary sibling that replaces `out` in one rename at the end: a failed or
    # interrupted run leaves the old folder (or none), never half of a new one, and no temporary sibling.
    with atomic_folder(out, overwrite=overwrite) as work:
        return _run_repro_into(work, config, progress=progress, log=log or logger.info)


def _run_repro_into(out: Path, config: ReproConfig, *, progress: bool, log) -> dict[str, Any]:
    from prefbuild.analysis.report import write_report

    if not torch.cuda.is_available() and config.threads:
        torch.set_num_threads(config.threads)
    seconds: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 1)
        clock = now
        log(f"[repro] {name}: {seconds[name]:.1f} s")

    # 1. Problems (disjoint ranges of one seeded stream) and the reference model
    n_pref = config.pref_train_pairs + config.pref_eval_pairs
    sft_problems = make_problems(config.seed, config.sft_problems)
    pref_problems = make_problems(config.seed, n_pref, start=config.sft_problems)
    seen = {p.query for p in sft_problems}
    test_candidates = make_problems(config.seed, config.test_problems * 2, start=config.sft_problems + n_pref)
    test_problems = [p for p in test_candidates if p.query not in seen][: config.test_problems]
    reference, tokenizer, sft_log = build_reference(
        sft_problems, config, out / "models" / "reference", progress=progress
    )
    lap("sft")

    # 2. Pairs
    low_edit, build_stats = build_low_edit_pairs(pref_problems, config, out / "data" / "low_edit")
    high_edit = build_high_edit_pairs(low_edit, out / "data" / "high_edit")
    data = {
        "low_edit": {split: len(rows) for split, rows in low_edit.items()},
        "high_edit": {split: len(rows) for split, rows in high_edit.items()},
        "low_edit_distance": edit_distance_summary(low_edit["eval"]),
        "high_edit_distance": edit_distance_summary(high_edit["eval"]),
        "low_edit_skipped": {split: s.get("skipped", {}) for split, s in build_stats.get("splits", {}).items()},
        "sft_problems": len(sft_problems),
        "test_problems": len(test_problems),
    }
    lap("pairs")

    # Reference scores
    results: dict[str, Any] = {"reference": {}, "methods": {}, "control": {"high_edit": {}}}
    reference_low = score_pairs(reference, tokenizer, low_edit["eval"], split=True)
    reference_high = score_pairs(reference, tokenizer, high_edit["eval"])
    reference_accuracy = exact_match_accuracy(reference, tokenizer, test_problems, config)
    results["reference"] = {
        **_headline(reference_low),
        "accuracy": reference_accuracy["accuracy"],
        "answered": reference_accuracy["answered"],
        "examples": reference_accuracy["examples"],
        "high_edit": _headline(reference_high),
    }
    lap("reference eval")

    # 3-4. Preference methods on the low-edit pairs
    for method in config.methods:
        model, trajectory, history = train_preference(
            method, reference, tokenizer, low_edit, config, out / "runs" / method, progress=progress
        )
        low = score_pairs(model, tokenizer, low_edit["eval"], split=True)
        high = score_pairs(model, tokenizer, high_edit["eval"])
        accuracy = exact_match_accuracy(model, tokenizer, test_problems, config)
        results["methods"][method] = {
            **_headline(low),
            "accuracy": accuracy["accuracy"],
            "answered": accuracy["answered"],
            "examples": accuracy["examples"],
            "trajectory": trajectory,
            "high_edit": _headline(high),
        }
        (out / "runs" / method).mkdir(parents=True, exist_ok=True)
        (out / "runs" / method / "log_history.json").write_text(json.dumps(history, indent=1))
        model.save_pretrained(out / "models" / method)
        tokenizer.save_pretrained(out / "models" / method)
        lap(f"{method} (low-edit)")

    # Control: the same methods on high-edit pairs
    for method in config.control_methods:
        model, trajectory, _ = train_preference(
            method, reference, tokenizer, high_edit, config, out / "runs" / f"{method}-high-edit", progress=progress
        )
        high = score_pairs(model, tokenizer, high_edit["eval"])
        low = score_pairs(model, tokenizer, low_edit["eval"])
        results["control"]["high_edit"][method] = {
            **_headline(high),
            "low_edit": _headline(low),
            "trajectory": trajectory,
        }
        lap(f"{method} (high-edit control)")

    seconds["total"] = round(time.perf_counter() - started, 1)
    results.update(
        {
            "config": asdict(config),
            "data": data,
            "seconds": seconds,
            "device": str(_device()),
            "sft_log": sft_log,
        }
    )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out)
    return results
