"""`prefbuild repro`: the paper's failure mode (arXiv 2402.13228, Figs. 2, 4, 5) at toy scale, fully offline, as a
measurement over seeds.

For each of `config.seeds` seeds (each seeds the problems, the tokenizer's data, every initialisation and data order):

1. Seeded multi-step arithmetic word problems with MetaMath-style solutions (`prefbuild.repro.problems`); a byte-
   level BPE tokenizer and a small Llama trained from scratch on them (SFT on the solutions) → the reference model.
2. Low-edit pairs from held-apart problems with the project's own `metamath` builder (one intermediate result
   corrupted, answer untouched); as a control, high-edit pairs (the correct solution against another problem's).
3. From the same reference, DPO, DPOP, IPO, SLiC, RPO (`[sigmoid, sft]`) and `[dpop, sft]` with
   `prefbuild.train.DPOPTrainer` (only `loss_type` differs), logging the chosen / rejected log-probs of fixed train
   and eval pairs along the way.
4. Exact-match accuracy of greedy answers on held-out problems for the reference and each method.
5. The predictor study (`prefbuild.repro.predictor`): which per-pair signal, computed with the reference, predicts
   how far DPO lowers each eval pair's chosen log-prob; and DPO retrained without the top 10 % of pairs by CHES.

Then every figure is summarised over seeds (mean, sd, 95 % t-interval: `prefbuild.repro.measure`), the paper's
claims are checked with explicit tolerances (`prefbuild.repro.claims`), and `results.json` (a contract: see
`run_repro`), the figures and `report.md` are written.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import logging
import math
import multiprocessing
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prefbuild.analysis.logprobs import tokenize_pair

# REGIONS and region_split are not used here: re-exported for the deprecated `prefbuild.analysis.repro` path
from prefbuild.analysis.scoring import REGIONS, region_split, score_pairs, score_pairs_with_results  # noqa: F401
from prefbuild.errors import PrefbuildError
from prefbuild.log import setup_logging
from prefbuild.output import atomic_folder
from prefbuild.repro.problems import Problem, extract_answer, make_problems

logger = logging.getLogger(__name__)

# Method name → DPOPConfig's (`loss_type`, `loss_weights`); TRL's own list form for the combinations.
# RPO (Pang et al. 2024) is DPO plus an NLL term on the chosen completion, TRL's `[sigmoid, sft]`.
METHOD_LOSSES: dict[str, tuple[str | list[str], list[float] | None]] = {
    "dpo": ("sigmoid", None),
    "dpop": ("dpop", None),
    "ipo": ("ipo", None),
    "slic": ("hinge", None),
    "rpo": (["sigmoid", "sft"], [1.0, 1.0]),
    "dpop_sft": (["dpop", "sft"], [1.0, 1.0]),
}
# Deprecated name (one loss type per method, before the list forms): kept for old imports
METHOD_LOSS_TYPES = {method: loss for method, (loss, _) in METHOD_LOSSES.items() if isinstance(loss, str)}


@dataclass
class ReproConfig:
    """Sizes and hyperparameters of one toy reproduction. `QUICK`, `FULL` and `CI` are the presets.

    Parameters:
        seed: the first seed; seed `seed + k` seeds run k's problems, tokenizer data, initialisations and data order.
        seeds: independent runs; every figure is reported as mean ± sd over them with a 95 % t-interval.
        sft_problems / pref_train_pairs / pref_eval_pairs / test_problems: disjoint ranges of the problem stream:
            SFT data, problems held apart for preference pairs (train / eval split by the metamath builder's
            `eval_size`), and problems for the accuracy evaluation.
        vocab_size / hidden_size / num_layers / num_heads / intermediate_size: the tokenizer and the Llama model.
        sft_steps / sft_batch_size / sft_learning_rate: supervised fine-tuning on the solutions (AdamW, warmup then
            cosine decay, loss on the completion tokens only).
        pref_steps / pref_batch_size / pref_learning_rate: each preference run (TRL's linear decay, 10 % warmup).
        beta / dpop_lambda: the paper's β = 0.3 and λ = 50, the same for every method (IPO reads β as τ).
        methods: preference methods trained on the low-edit pairs, from `METHOD_LOSSES`.
        control_methods: methods also trained on the high-edit control pairs.
        predictor_study: run the predictor study (needs "dpo" in `methods`); `drop_top_fraction` of the train pairs
            with the highest CHES are dropped before DPO is trained again; `bootstrap_resamples` for Spearman's ρ.
        trajectory_every / trajectory_pairs: score that many fixed train and eval pairs every so many steps.
        max_new_tokens / generation_batch_size: greedy decoding for the accuracy evaluation.
        threads: torch CPU threads per process; 1 avoids the large slow-down of oversubscribing a 2-core machine.
        jobs: seeds run at once, each in its own process with `threads` threads (at most the number of seeds and
            of CPU cores); 1 runs them one after the other in this process.
    """

    seed: int = 0
    seeds: int = 3
    sft_problems: int = 6000
    pref_train_pairs: int = 1000
    pref_eval_pairs: int = 200
    test_problems: int = 200
    vocab_size: int = 600
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 192
    sft_steps: int = 400
    sft_batch_size: int = 32
    sft_learning_rate: float = 2e-3
    pref_steps: int = 40
    pref_batch_size: int = 16
    pref_learning_rate: float = 2e-4
    beta: float = 0.3
    dpop_lambda: float = 50.0
    methods: tuple[str, ...] = ("dpo", "dpop", "ipo", "slic", "rpo", "dpop_sft")
    control_methods: tuple[str, ...] = ("dpo",)
    predictor_study: bool = True
    drop_top_fraction: float = 0.1
    bootstrap_resamples: int = 2000
    trajectory_every: int = 10
    trajectory_pairs: int = 32
    max_new_tokens: int = 112
    generation_batch_size: int = 64
    threads: int = 1
    jobs: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [method for method in (*self.methods, *self.control_methods) if method not in METHOD_LOSSES]
        if unknown:
            raise PrefbuildError(f"Unknown method(s) {', '.join(unknown)}. Available: {', '.join(METHOD_LOSSES)}.")
        if self.pref_eval_pairs < 1 or self.pref_train_pairs < 1:
            raise PrefbuildError("`pref_train_pairs` and `pref_eval_pairs` must be >= 1.")
        if self.seeds < 1:
            raise PrefbuildError(f"`seeds` must be >= 1, got {self.seeds}. Use 2 or more for an interval.")
        if self.jobs < 1:
            raise PrefbuildError(f"`jobs` must be >= 1, got {self.jobs}. Use 1 to run the seeds one after another.")
        if not 0 < self.drop_top_fraction < 1:
            raise PrefbuildError(f"`drop_top_fraction` must be in (0, 1), got {self.drop_top_fraction}.")
        if self.predictor_study and "dpo" not in self.methods:
            raise PrefbuildError("The predictor study needs 'dpo' in `methods`; add it or set predictor_study=False.")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed, self.seed + self.seeds))


# 3 seeds, 6 methods, the control and the predictor study in under 10 minutes on 2 idle CPU cores (2 seeds at once,
# 1 thread each): a smaller model and fewer steps than the one-seed version of issue 8 (hidden 96, 3 layers, 500 SFT
# and 60 preference steps), not fewer seeds. See BENCHMARKS.md for the measured time.
QUICK = ReproConfig()
# Larger model and more data. One seed with 4 methods took 24 minutes on the 2-core CPU machine (1 thread); with 3
# seeds, 6 methods and the predictor study it has not been timed or run since.
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
    trajectory_pairs=64,
    max_new_tokens=128,
    control_methods=("dpo", "dpop"),
)
CI = replace(
    QUICK,
    seeds=2,
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
    bootstrap_resamples=200,
    jobs=1,
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
    """Pairs from the project's `metamath` builder (eval split of `pref_eval_pairs` rows); returns the DatasetDict
    and the build's `FolderStats`."""
    from prefbuild.build import build_dataset
    from prefbuild.folder import open_pairs

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
    return open_pairs(out).datasets(), report.stats


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
    loss_type, loss_weights = METHOD_LOSSES[method]
    args = DPOPConfig(
        output_dir=str(out),
        loss_type=copy.copy(loss_type),
        **({"loss_weights": list(loss_weights)} if loss_weights is not None else {}),
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


# The scalar log-prob figures of one model on one set of pairs, under the names `summarise_logprobs` gives them
LOGPROB_FIGURES = (
    "chosen_logp",
    "rejected_logp",
    "chosen_token_logp",
    "before_edit_mean",
    "at_edit_mean",
    "after_edit_mean",
    "before_edit_sum",
    "at_edit_sum",
    "after_edit_sum",
)


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of one model on one set of pairs: the scalars, and the per-region and per-offset tables."""
    return {key: summary.get(key) for key in (*LOGPROB_FIGURES, "by_region", "by_offset")}


def _evaluate(model, tokenizer, pairs, test_problems, config: ReproConfig) -> tuple[dict[str, Any], list]:
    """Low-edit eval figures (split by region) + accuracy, and the per-pair log-probs behind them."""
    summary, scored = score_pairs_with_results(model, tokenizer, pairs["eval"], split=True)
    accuracy = exact_match_accuracy(model, tokenizer, test_problems, config)
    return {
        **_headline(summary),
        "accuracy": accuracy["accuracy"],
        "answered": accuracy["answered"],
        "examples": accuracy["examples"],
    }, scored


def run_repro(out: str | Path, config: ReproConfig = QUICK, *, overwrite: bool = False, progress: bool = True):
    """Run the toy reproduction over `config.seeds` seeds into `out`; return what `out/results.json` holds.

    `results.json` (schema 2; log-probs in nats on the low-edit eval pairs unless the key says otherwise). Every
    figure is a *measured* dict `{"mean", "sd", "ci95": [low, high] (95 % t-interval over seeds), "n", "values"}`:

        {"schema": 2, "seeds": [...], "interval": "...",
         "reference": {figure: measured}, "methods": {method: {figure: measured}},
         "changes": {method: {figure: measured}}          # method − reference, paired by seed
         "control": {"high_edit": {method: {"chosen_logp_change": measured}}},  # on the high-edit eval pairs
         "predictor": {...}                               # see prefbuild.repro.predictor.summarise_predictor
         "claims": [...]                                  # see prefbuild.repro.claims.evaluate_claims
         "per_seed": [{"seed", "reference", "methods", "control", "predictor", "data", "seconds", "cpu_seconds",
                       "sft_log"}],
         "config", "seconds", "device"}

    Figures: `chosen_logp` / `rejected_logp` (mean over pairs of the summed completion log-prob, what the losses
    see), `chosen_token_logp`, `before_edit_mean` / `at_edit_mean` / `after_edit_mean` (mean chosen per-token
    log-prob before / at / after the first differing token; Fig. 4 is `after_edit_mean`), `before_edit_sum` /
    `at_edit_sum` / `after_edit_sum` (the same regions summed per pair), `accuracy` and `answered`. The names are
    those of `prefbuild analyze`'s analysis.json.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise PrefbuildError(f"'{out}' exists and is not empty. Use --overwrite to replace it.")
    # Minutes of training go into a temporary sibling that replaces `out` in one rename at the end: a failed or
    # interrupted run leaves the old folder (or none), never half of a new one, and no temporary sibling.
    with atomic_folder(out, overwrite=overwrite) as work:
        return _run_repro_into(work, config, progress=progress)


def _run_repro_into(out: Path, config: ReproConfig, *, progress: bool) -> dict[str, Any]:
    from prefbuild.repro.claims import evaluate_claims
    from prefbuild.repro.report import write_report

    if not torch.cuda.is_available() and config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    per_seed = _run_seeds(out, config, progress=progress)
    results = summarise_seeds(per_seed)
    results["claims"] = evaluate_claims(results)
    results.update(
        {
            "config": asdict(config),
            "seconds": {
                "total": round(time.perf_counter() - started, 1),
                "cpu": round(_cpu_seconds() - cpu_started, 1),
            },
            "device": str(_device()),
            "per_seed": per_seed,
        }
    )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out)
    return results


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished child processes (the seeds run with `jobs` > 1)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _run_seeds(out: Path, config: ReproConfig, *, progress: bool) -> list[dict[str, Any]]:
    """`run_seed` for every seed, in order of seed; `config.jobs` at a time in separate processes."""
    jobs = min(config.jobs, config.seeds, os.cpu_count() or 1)
    folders = {seed: out / "seeds" / f"seed-{seed}" for seed in config.seed_list}
    if jobs == 1:
        per_seed = []
        for seed in config.seed_list:
            logger.info("[repro] seed %d (%d of %d)", seed, len(per_seed) + 1, config.seeds)
            per_seed.append(run_seed(folders[seed], replace(config, seed=seed), progress=progress))
        return per_seed
    # Each seed is independent and single-threaded: on a 2-core machine two at once halve the wall time. Spawned
    # (not forked) processes, so no torch or tokenizer thread state is copied; progress bars would interleave.
    logger.info("[repro] %d seeds, %d at a time in separate processes", config.seeds, jobs)
    level = logging.getLogger("prefbuild").getEffectiveLevel()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [
            pool.submit(_run_seed_in_process, folders[seed], replace(config, seed=seed), level)
            for seed in config.seed_list
        ]
        return [future.result() for future in futures]


def _run_seed_in_process(out: Path, config: ReproConfig, log_level: int) -> dict[str, Any]:
    # A spawned process starts without the parent's console handler: the same one, at the parent's level
    setup_logging(debug=log_level <= logging.DEBUG).setLevel(log_level)
    if not torch.cuda.is_available() and config.threads:
        torch.set_num_threads(config.threads)
    return run_seed(out, config, progress=False)


def run_seed(out: Path, config: ReproConfig, *, progress: bool = True) -> dict[str, Any]:
    """One seed of the experiment into `out` (models, pairs, logs); returns its raw figures."""
    # Wall and CPU seconds per stage: on a shared machine the wall time depends on the load, the CPU time of this
    # single-threaded process much less (it is close to the wall time on an idle machine)
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        seconds[name], cpu_seconds[name] = round(now - clock, 1), round(cpu_now - cpu_clock, 1)
        clock, cpu_clock = now, cpu_now
        logger.info("[repro] seed %d, %s: %.1f s (CPU %.1f s)", config.seed, name, seconds[name], cpu_seconds[name])

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
        "low_edit_skipped": {split: dict(stats.skipped) for split, stats in build_stats.splits.items()},
        "low_edit_tiers": {split: dict(stats.tiers or {}) for split, stats in build_stats.splits.items()},
        "sft_problems": len(sft_problems),
        "test_problems": len(test_problems),
    }
    lap("pairs")

    # Reference scores
    reference_row, reference_scored = _evaluate(reference, tokenizer, low_edit, test_problems, config)
    reference_row["high_edit"] = _headline(score_pairs(reference, tokenizer, high_edit["eval"]))
    lap("reference eval")

    # 3-4. Preference methods on the low-edit pairs
    methods: dict[str, Any] = {}
    scored_by_method: dict[str, list] = {}
    for method in config.methods:
        model, trajectory, history = train_preference(
            method, reference, tokenizer, low_edit, config, out / "runs" / method, progress=progress
        )
        row, scored_by_method[method] = _evaluate(model, tokenizer, low_edit, test_problems, config)
        row["trajectory"] = trajectory
        row["high_edit"] = _headline(score_pairs(model, tokenizer, high_edit["eval"]))
        methods[method] = row
        (out / "runs" / method).mkdir(parents=True, exist_ok=True)
        (out / "runs" / method / "log_history.json").write_text(json.dumps(history, indent=1))
        model.save_pretrained(out / "models" / method)
        tokenizer.save_pretrained(out / "models" / method)
        lap(f"{method} (low-edit)")

    # Control: the same methods on high-edit pairs
    control: dict[str, Any] = {"high_edit": {}}
    for method in config.control_methods:
        model, trajectory, _ = train_preference(
            method, reference, tokenizer, high_edit, config, out / "runs" / f"{method}-high-edit", progress=progress
        )
        # (chosen completions and prompts are those of the low-edit pairs: only the rejected ones differ)
        control["high_edit"][method] = {
            **_headline(score_pairs(model, tokenizer, high_edit["eval"])),
            "trajectory": trajectory,
        }
        lap(f"{method} (high-edit control)")

    # 5. Predictor study: which signal of the reference predicts DPO's per-pair fall; DPO without the riskiest pairs
    predictor = None
    if config.predictor_study:
        from prefbuild.repro.predictor import drop_top_by, pair_predictors, predictor_correlations

        eval_predictors = pair_predictors(reference, tokenizer, low_edit["eval"])
        predictor = predictor_correlations(
            reference_scored,
            scored_by_method["dpo"],
            eval_predictors,
            seed=config.seed,
            resamples=config.bootstrap_resamples,
        )
        lap("predictors")
        train_predictors = pair_predictors(reference, tokenizer, low_edit["train"], edit_distances=False)
        kept, dropped = drop_top_by(train_predictors["ches"], config.drop_top_fraction)
        filtered = {"train": low_edit["train"].select(kept), "eval": low_edit["eval"]}
        model, trajectory, _ = train_preference(
            "dpo", reference, tokenizer, filtered, config, out / "runs" / "dpo-drop-top-ches", progress=progress
        )
        row, _ = _evaluate(model, tokenizer, low_edit, test_problems, config)
        predictor["drop_top_ches"] = {
            "fraction": config.drop_top_fraction,
            "train_pairs": len(kept),
            "dropped_pairs": len(dropped),
            "dropped_ches_min": float(min(train_predictors["ches"][index] for index in dropped)) if dropped else None,
            "chosen_logp": row["chosen_logp"],
            "after_edit_mean": row["after_edit_mean"],
            "accuracy": row["accuracy"],
            "trajectory": trajectory,
        }
        lap("dpo without the top CHES pairs")

    return {
        "seed": config.seed,
        "reference": reference_row,
        "methods": methods,
        "control": control,
        "predictor": predictor,
        "data": data,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "sft_log": sft_log,
    }


# Scalar figures summarised over seeds (the log-prob figures, plus accuracy)
FIGURES = (*LOGPROB_FIGURES, "accuracy", "answered")


def summarise_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Every figure of the per-seed runs as mean ± sd with a 95 % t-interval (changes paired by seed)."""
    from prefbuild.repro.measure import measured
    from prefbuild.repro.predictor import summarise_predictor

    def over_seeds(get) -> dict[str, Any]:
        return measured([get(run) for run in per_seed])

    def change(a, b):
        return None if a is None or b is None else a - b

    first = per_seed[0]
    methods = list(first["methods"])
    results: dict[str, Any] = {
        "schema": 2,
        "seeds": [run["seed"] for run in per_seed],
        "interval": "95 % Student t-interval over seeds (n - 1 degrees of freedom)",
        "reference": {figure: over_seeds(lambda run, f=figure: run["reference"][f]) for figure in FIGURES},
        "methods": {},
        "changes": {},
        "control": {"high_edit": {}},
    }
    results["reference"]["high_edit_chosen_logp"] = over_seeds(
        lambda run: run["reference"]["high_edit"]["chosen_logp"]
    )
    for method in methods:
        results["methods"][method] = {
            figure: over_seeds(lambda run, m=method, f=figure: run["methods"][m][f]) for figure in FIGURES
        }
        results["changes"][method] = {
            figure: over_seeds(lambda run, m=method, f=figure: change(run["methods"][m][f], run["reference"][f]))
            for figure in FIGURES
        }
    for method in first["control"]["high_edit"]:
        results["control"]["high_edit"][method] = {
            "chosen_logp_change": over_seeds(
                lambda run, m=method: change(
                    run["control"]["high_edit"][m]["chosen_logp"], run["reference"]["high_edit"]["chosen_logp"]
                )
            ),
        }
    results["data"] = {
        "low_edit_distance_char": over_seeds(lambda run: run["data"]["low_edit_distance"]["char"]),
        "high_edit_distance_char": over_seeds(lambda run: run["data"]["high_edit_distance"]["char"]),
        "low_edit_pairs": first["data"]["low_edit"],
        "test_problems": first["data"]["test_problems"],
        "sft_problems": first["data"]["sft_problems"],
    }
    if first.get("predictor") is not None:
        results["predictor"] = summarise_predictor(per_seed)
    return results
