"""Prefix sharing against the unshared path: tokens per step, step time, loss difference, and the reference cache.

The data are MetaMath pairs with a 4-shot prompt built from real GSM8K text (`../shared/data/gsm8k`, rewritten as
MetaMathQA rows by `benchmarks/_corpus.py`), with

    prefbuild build metamath --source <gsm8k as MetaMathQA jsonl> --few-shot 4 --limit 600 --eval-size 0 --out DIR

and a byte-level BPE tokenizer trained on them (vocabulary 8,192, so a pair is several hundred tokens as with a
real tokenizer). The variants share the model (a random Llama; the policy nudged away from the reference so the
losses are not the trivial log 2), the batches, the seed and the optimiser, and their steps are interleaved in one
process so load drift hits all of them. A step is what `Trainer` does per batch: policy forward + reference forward
(no grad) + loss + backward + AdamW step.

Variants:
  trl-dpo    trl.DPOTrainer, loss_type=sigmoid (what users run today)
  unshared   prefbuild DPOPTrainer, loss_type=dpop, prefix_sharing=false
  shared     prefbuild DPOPTrainer, loss_type=dpop, prefix_sharing=true

    python benchmarks/prefix_sharing.py --json                     # CPU: 4 layers, hidden 256
    python benchmarks/prefix_sharing.py --preset gpu-0.5b --json   # GPU: ~0.5B Llama in bf16, max_length 1024

Timing: `--steps` timed steps after `--warmup` untimed ones, over `--repeats` passes through the same batches
(the warm-up only in the first pass); in each step the three variants run one after the other, in an order that
rotates from step to step, so no variant always follows another.

Reported: `tokens_ratio` (tokens the model processes per step, padding included, unshared ÷ shared),
`step_time_ratio` (median wall step time, unshared ÷ shared; `step_cpu_time_ratio` the same in CPU seconds of the
process, steadier on a busy machine; `*_vs_trl` the same against trl.DPOTrainer), samples/s (and MFU on GPU) per
variant, the reference cache's first (miss: computed and stored) and second (hit: read) precompute times, and the
exactness figures, all at identical weights on every batch:

  max_abs_loss_diff / max_rel_loss_diff   the trainers' own losses, shared vs unshared (float32 forward,
                                          float64 sequence sums, as trained)
  max_abs_loss_diff_float32_sums          the same per-token log-probs summed in float32 (how it was before)
  max_abs_token_logp_diff                 per-token log-probs (policy), shared vs unshared, and the fraction
  token_logp_diff_fraction                of completion tokens whose value is not bit-equal (`_by_side`: chosen
                                          and rejected tokens apart)
  max_abs_sequence_logp_diff              per-sequence log-probs (float64 sums of those tokens)
  max_abs_loss_diff_float64               the same DPOP loss from a plain float64 forward: the packing alone
  unshared_float32_noise_floor            the unshared path against itself, same weights, the larger of:
  unshared_noise_floor_one_pair_at_a_time   each batch's loss vs the mean of its pairs' losses, one pair at a time
  unshared_noise_floor_extra_padding        each batch's loss vs the same batch with 16 / 128 extra padding
                                            columns (other row lengths, so other attention-kernel blocks)

`--attention eager` runs the model with transformers' eager attention instead of sdpa, to see how much of the
float32 difference is the attention kernel's: a float32 reduction over a row (softmax sums, the attention-weighted
sum of values) rounds by an order that follows the padded row length, so neither backend promises that a token's
value is independent of the row it sits in. The float64 check always runs sdpa (eager takes its softmax in
float32 whatever the model's dtype).

Targets on CPU: step_time_ratio >= 1.5, max_abs_loss_diff <= 1e-5.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PRESETS = {
    # A step of a few seconds on 2 busy CPU cores
    "cpu": dict(hidden=128, layers=4, heads=4, intermediate=512, pairs=2, max_length=1024, bf16=False),
    # Qwen2.5-0.5B-like shape in the Llama architecture (vocabulary kept at the trained tokenizer's 8,192)
    "gpu-0.5b": dict(hidden=896, layers=24, heads=14, intermediate=4864, pairs=8, max_length=1024, bf16=True),
}
VARIANTS = ("trl-dpo", "unshared", "shared")
VOCAB = 8192
H100_BF16_DENSE_FLOPS = 989e12
BUILD_ROWS = 600
# Extra right-padding columns for the unshared path's own noise floor
PADDING_FLOOR_COLUMNS = (16, 128)


def build_pairs(work: Path) -> tuple[Path, list[str]]:
    """Build (once) the 4-shot MetaMath pairs from GSM8K; return the folder and the command that built it."""
    from _corpus import GSM8K_DIR, gsm8k_rows, write_jsonl

    if not GSM8K_DIR.is_dir():
        sys.exit(f"Error: {GSM8K_DIR} not found; this benchmark needs the GSM8K files under ../shared/data/gsm8k.")
    out = work / "metamath-4shot"
    source = work / "gsm8k-as-metamathqa.jsonl"
    command = [sys.executable, "-m", "prefbuild", "build", "metamath", "--source", str(source), "--few-shot", "4",
               "--limit", str(BUILD_ROWS), "--eval-size", "0", "--out", str(out)]  # fmt: skip
    if not (out / "stats.json").is_file():
        write_jsonl(gsm8k_rows(GSM8K_DIR), source)
        subprocess.run(command, check=True, capture_output=True, cwd=HERE.parent)
    return out, command


def pair_log_probs(model, batch, shared: bool):
    """Summed chosen and rejected log-probs per pair from a plain forward (full logits), packed or not."""
    import torch

    from prefbuild.train import prefix_sharing as ps

    with torch.no_grad():
        if shared:
            packed = ps.pack_pairs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"], 0)
            mask = ps.dense_attention_mask(packed, model.config._attn_implementation, model.dtype)
            logits = model(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids).logits
            labels = packed.labels
        else:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
        if shared:
            return packed.sequence_log_probs(logps)
        return (logps * (labels[:, 1:] != -100)).sum(dim=1).chunk(2)


def fused_log_probs(model, batch, shared: bool):
    """Per-token log-probs from TRL's fused LM head (as the trainers compute them), packed or not, and the packing."""
    import torch

    from prefbuild.train import prefix_sharing as ps

    with torch.no_grad():
        if shared:
            packed = ps.pack_pairs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"], 0)
            mask = ps.dense_attention_mask(packed, model.config._attn_implementation, model.dtype)
            kwargs = dict(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids)
            return model(**kwargs, labels=packed.labels, fused_lm_head=True).log_probs, packed
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return model(**kwargs, labels=labels, fused_lm_head=True).log_probs, None


def completion_masks(batch):
    """(rows, mask over the fused head's positions) of the chosen and of the rejected completions in TRL's batch."""
    mask = batch["completion_mask"][:, 1:].bool()
    pairs = mask.size(0) // 2
    return [(slice(None, pairs), mask[:pairs]), (slice(pairs, None), mask[pairs:])]


def build_trainer(variant, preset, policy, reference, tokenizer, dataset, seed, **overrides):
    import torch
    from trl import DPOConfig, DPOTrainer

    from prefbuild.train import DPOPConfig, DPOPTrainer

    cuda = torch.cuda.is_available()
    common = dict(
        output_dir=tempfile.mkdtemp(prefix="bench-prefix-"),
        use_cpu=not cuda,
        bf16=preset["bf16"] and cuda,
        report_to="none",
        max_length=preset["max_length"],
        per_device_train_batch_size=preset["pairs"],
        gradient_checkpointing=False,
        learning_rate=1e-6,
        seed=seed,
        disable_tqdm=True,
        beta=0.3,
        **overrides,
    )
    if variant == "trl-dpo":
        trainer_cls, args = DPOTrainer, DPOConfig(loss_type="sigmoid", **common)
    else:
        trainer_cls = DPOPTrainer
        args = DPOPConfig(loss_type="dpop", dpop_lambda=50.0, prefix_sharing=variant == "shared", **common)
    return trainer_cls(
        model=copy.deepcopy(policy),
        ref_model=None if reference is None else copy.deepcopy(reference),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant and pass (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the timed steps (default 1)")
    parser.add_argument("--cache-pairs", type=int, default=32, help="pairs in the reference-cache timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--attention",
        choices=("sdpa", "eager"),
        default="sdpa",
        help="the model's attn_implementation (default sdpa; on CUDA the packed path switches sdpa to flex_attention)",
    )
    parser.add_argument("--work", type=Path, default=HERE.parent / "runs" / "bench-prefix-sharing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args()
    preset = PRESETS[options.preset]
    # Trainers print (the reference cache's hit / miss lines): keep stdout for the result alone
    stdout = sys.stdout
    sys.stdout = sys.stderr

    import torch
    from datasets import Dataset
    from transformers import LlamaForCausalLM

    from prefbuild.output import load_output_folder
    from prefbuild.train import prefix_sharing as ps
    from prefbuild.train.losses import dpop_loss
    from prefbuild.train.tiny_model import tiny_llama_config, train_tokenizer

    folder, build_command = build_pairs(options.work)
    rows = load_output_folder(folder)["train"].shuffle(seed=options.seed)
    rows = [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows]
    tokenizer = train_tokenizer([row["prompt"] + row["chosen"] for row in rows], vocab_size=VOCAB)

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if preset["bf16"] and cuda else torch.float32
    config = tiny_llama_config(
        len(tokenizer),
        hidden_size=preset["hidden"],
        num_layers=preset["layers"],
        num_heads=preset["heads"],
        intermediate_size=preset["intermediate"],
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.max_position_embeddings = max(config.max_position_embeddings, preset["max_length"])
    config._attn_implementation = options.attention
    torch.manual_seed(options.seed)
    reference = LlamaForCausalLM(config).to(dtype)
    policy = copy.deepcopy(reference)
    generator = torch.Generator().manual_seed(options.seed + 1)
    with torch.no_grad():  # move the policy away from the reference so the losses are not log 2
        for parameter in policy.parameters():
            parameter.add_((0.02 * torch.randn(parameter.shape, generator=generator)).to(dtype))
    n_params = sum(p.numel() for p in policy.parameters())

    n_batches = options.warmup + options.steps
    train = Dataset.from_list(rows[: n_batches * preset["pairs"]])
    trainers = {v: build_trainer(v, preset, policy, reference, tokenizer, train, options.seed) for v in VARIANTS}
    prepared = trainers["shared"].train_dataset
    batches = [
        trainers["shared"].data_collator([prepared[i * preset["pairs"] + j] for j in range(preset["pairs"])])
        for i in range(n_batches)
    ]
    for trainer in trainers.values():
        trainer.create_optimizer()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's own loop, which the benchmark bypasses

    # Tokens the model processes per step (padded tensors) for both layouts
    unshared_tokens = shared_tokens = unshared_real = shared_real = shared_prefix = 0
    for batch in batches:
        packed = ps.pack_pairs(batch["input_ids"], batch["attention_mask"], batch["completion_mask"], 0)
        unshared_tokens += batch["input_ids"].numel()
        shared_tokens += packed.input_ids.numel()
        unshared_real += packed.unshared_tokens
        shared_real += packed.packed_tokens
        shared_prefix += int((packed.segment_ids == ps.SHARED).sum())

    times = {variant: [] for variant in VARIANTS}
    cpu_times = {variant: [] for variant in VARIANTS}  # CPU seconds of this process: robust to a busy machine
    losses = {variant: [] for variant in VARIANTS}
    # The first pass with its warm-up, then `repeats - 1` more passes over the timed batches
    schedule = batches + [batch for _ in range(options.repeats - 1) for batch in batches[options.warmup :]]
    for step, batch in enumerate(schedule):
        for variant in VARIANTS[step % 3 :] + VARIANTS[: step % 3]:
            trainer = trainers[variant]
            if cuda:
                torch.cuda.synchronize()
            start, cpu_start = time.perf_counter(), time.process_time()
            loss = trainer.training_step(trainer.model, batch)
            trainer.optimizer.step()
            trainer.optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            if step >= options.warmup:
                times[variant].append(time.perf_counter() - start)
                cpu_times[variant].append(time.process_time() - cpu_start)
                losses[variant].append(float(loss))

    # Reference cache: first run computes and stores, second run reads (prefix sharing on for both)
    cache_dir = Path(tempfile.mkdtemp(prefix="bench-ref-cache-"))
    cache_data = Dataset.from_list(rows[: options.cache_pairs])
    cache_times = []
    from prefbuild.train import DPOPTrainer

    precompute = DPOPTrainer._precompute_ref_logps

    def timed_precompute(self, *args, **kwargs):
        start = time.perf_counter()
        result = precompute(self, *args, **kwargs)
        cache_times.append(time.perf_counter() - start)
        return result

    DPOPTrainer._precompute_ref_logps = timed_precompute
    try:
        for _ in range(2):  # the trainer precomputes in __init__
            build_trainer("shared", preset, policy, None, tokenizer, cache_data, options.seed,
                          precompute_ref_log_probs=True, ref_logps_cache_dir=str(cache_dir))  # fmt: skip
    finally:
        DPOPTrainer._precompute_ref_logps = precompute

    # Exactness at identical weights (the timed runs drift apart by rounding once they take optimiser steps).
    # float32: the trainers' own losses on every batch. float64: the same per-pair log-probs and DPOP loss from a
    # plain float64 forward (TRL's fused LM head computes in float32 whatever the model's dtype), which isolates the
    # packing from float32 rounding.
    exact = {
        v: build_trainer(v, preset, policy, reference, tokenizer, train, options.seed) for v in ("unshared", "shared")
    }
    float32_diffs = []
    for batch in batches:
        with torch.no_grad():
            values = [float(exact[v].compute_loss(exact[v].model, batch)) for v in ("unshared", "shared")]
        float32_diffs.append((abs(values[0] - values[1]), abs(values[0] - values[1]) / abs(values[0]), values[0]))
    # Where the float32 difference comes from: per-token log-probs, their sums, float32 vs float64 summation
    policy32, reference32 = exact["unshared"].model, exact["unshared"].ref_model
    token_diffs, sequence_diffs, float32_sum_diffs = [], [], []
    token_counts = {"chosen": [0, 0], "rejected": [0, 0]}  # per side: tokens not bit-equal, tokens
    for batch in batches:
        per_token = {}
        for shared in (False, True):
            per_token[shared] = [fused_log_probs(model, batch, shared) for model in (policy32, reference32)]
        masks = completion_masks(batch)
        for model_index in (0, 1):
            (unshared_logps, _), (shared_logps, packed) = per_token[False][model_index], per_token[True][model_index]
            for side, (rows, mask) in enumerate(masks):
                packed_mask = packed.chosen_mask if side == 0 else packed.rejected_mask
                for pair in range(packed_mask.size(0)):
                    u = unshared_logps[rows][pair][mask[pair]]
                    v = shared_logps[pair][packed_mask[pair]]
                    if model_index == 0:
                        token_diffs.append(float((u - v).abs().max()))
                        counts = token_counts["chosen" if side == 0 else "rejected"]
                        counts[0] += int((u != v).sum())
                        counts[1] += u.numel()
                    sequence_diffs.append(abs(float(u.double().sum() - v.double().sum())))
        losses32 = []
        for shared in (False, True):
            sums = []
            for logps, packed in per_token[shared]:
                if shared:
                    sums += [(logps * packed.chosen_mask).sum(dim=1), (logps * packed.rejected_mask).sum(dim=1)]
                else:
                    sums += list(logps.sum(dim=1).chunk(2))
            losses32.append(float(dpop_loss(*sums, beta=0.3, lam=50.0).mean()))
        float32_sum_diffs.append(abs(losses32[0] - losses32[1]))
    # The float32 noise floor of the unshared path itself: each batch's loss against the mean of its pairs' losses
    # computed one pair at a time (no padding, so other kernel shapes), same weights
    collate = exact["unshared"].data_collator
    noise_floor = []
    for index, batch in enumerate(batches):
        pairs = [prepared[index * preset["pairs"] + j] for j in range(preset["pairs"])]
        with torch.no_grad():
            alone = [float(exact["unshared"].compute_loss(exact["unshared"].model, collate([pair]))) for pair in pairs]
            together = float(exact["unshared"].compute_loss(exact["unshared"].model, batch))
        noise_floor.append(abs(together - sum(alone) / len(alone)))
    # ... and each batch's loss with only extra padding columns on the right (what packing does to the row length)
    padding_floor = {}
    for extra in PADDING_FLOOR_COLUMNS:
        padding_floor[extra] = 0.0
        for batch in batches:
            padded = dict(batch)
            for key, value in (("input_ids", tokenizer.pad_token_id), ("attention_mask", 0), ("completion_mask", 0)):
                padded[key] = torch.nn.functional.pad(batch[key], (0, extra), value=value)
            with torch.no_grad():
                values = [float(exact["unshared"].compute_loss(exact["unshared"].model, b)) for b in (batch, padded)]
            padding_floor[extra] = max(padding_floor[extra], abs(values[0] - values[1]))
    float64_diffs = []
    policy64, reference64 = copy.deepcopy(policy).double(), copy.deepcopy(reference).double()
    for model in (policy64, reference64):  # eager attention takes its softmax in float32 whatever the model's dtype
        model.set_attn_implementation("sdpa")
    for batch in batches:
        losses64 = []
        for shared in (False, True):
            logps = [*pair_log_probs(policy64, batch, shared), *pair_log_probs(reference64, batch, shared)]
            losses64.append(float(dpop_loss(logps[0], logps[1], logps[2], logps[3], beta=0.3, lam=50.0).mean()))
        float64_diffs.append(abs(losses64[0] - losses64[1]))

    median = {variant: statistics.median(values) for variant, values in times.items()}
    cpu_median = {variant: statistics.median(values) for variant, values in cpu_times.items()}
    pairs_per_step = preset["pairs"]
    result = {
        "tokens_ratio": unshared_tokens / shared_tokens,
        "tokens_ratio_without_padding": unshared_real / shared_real,
        "step_time_ratio": median["unshared"] / median["shared"],
        "step_time_ratio_vs_trl": median["trl-dpo"] / median["shared"],
        "step_cpu_time_ratio": cpu_median["unshared"] / cpu_median["shared"],
        "step_cpu_time_ratio_vs_trl": cpu_median["trl-dpo"] / cpu_median["shared"],
        "step_times_s": times,
        "step_cpu_times_s": cpu_times,
        "max_abs_loss_diff": max(d[0] for d in float32_diffs),
        "max_rel_loss_diff": max(d[1] for d in float32_diffs),
        "max_abs_loss_diff_float32_sums": max(float32_sum_diffs),
        "max_abs_token_logp_diff": max(token_diffs),
        "token_logp_diff_fraction": sum(c[0] for c in token_counts.values())
        / sum(c[1] for c in token_counts.values()),
        "token_logp_diff_fraction_by_side": {side: c[0] / c[1] for side, c in token_counts.items()},
        "max_abs_sequence_logp_diff": max(sequence_diffs),
        "max_abs_loss_diff_float64": max(float64_diffs),
        "unshared_float32_noise_floor": max(max(noise_floor), *padding_floor.values()),
        "unshared_noise_floor_one_pair_at_a_time": max(noise_floor),
        "unshared_noise_floor_extra_padding": padding_floor,
        "loss_range": [min(d[2] for d in float32_diffs), max(d[2] for d in float32_diffs)],
        "max_abs_loss_diff_while_training": max(
            abs(a - b) for a, b in zip(losses["unshared"], losses["shared"], strict=True)
        ),
        "median_step_s": median,
        "median_step_cpu_s": cpu_median,
        "samples_per_s": {variant: pairs_per_step / value for variant, value in median.items()},
        "mean_tokens_per_pair_unshared": unshared_real / (n_batches * pairs_per_step),
        "shared_fraction_of_packed_tokens": shared_prefix / shared_real,
        "ref_cache_first_run_s": cache_times[0],
        "ref_cache_second_run_s": cache_times[1],
        "ref_cache_pairs": options.cache_pairs,
        "ref_cache_read_speedup": cache_times[0] / cache_times[1],
        "preset": options.preset,
        "params": n_params,
        "steps": options.steps,
        "warmup": options.warmup,
        "repeats": options.repeats,
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "attention": trainers["shared"]._prefix_sharing_backend(),
        "data": " ".join(build_command[1:]),
    }
    if cuda:
        # Policy forward + backward ≈ 6·N FLOPs per token, reference forward ≈ 2·N (attention left out), counted on
        # the tokens of the unshared layout: the useful work, so sharing shows up as higher MFU
        useful_flops = 8 * n_params * unshared_tokens / n_batches
        result["mfu"] = {v: useful_flops / value / H100_BF16_DENSE_FLOPS for v, value in median.items()}
        result["tokens_per_s"] = {v: unshared_tokens / n_batches / value for v, value in median.items()}
    sys.stdout = stdout
    if options.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
