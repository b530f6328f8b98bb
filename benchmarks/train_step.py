"""Time one DPOP training step against one DPO step: same model, same batch, same seed; only the loss differs.

Step times come from one process that interleaves the variants step by step (so drift in machine load hits all of
them); peak memory from one process per variant (so each peak is its own). A step is what `Trainer` does per batch: policy forward + reference forward
(no grad) + loss + backward + AdamW step.

Variants:
  trl-dpo    trl.DPOTrainer, loss_type=sigmoid (the baseline users run today)
  dpo        prefbuild DPOPTrainer, loss_type=sigmoid (TRL's own loss, through DPOPTrainer's hooks)
  dpop       prefbuild DPOPTrainer, loss_type=dpop, λ=50
  trl-rpo    trl.DPOTrainer, loss_type=[sigmoid, sft] (RPO)
  dpop-sft   prefbuild DPOPTrainer, loss_type=[dpop, sft], λ=50

    python benchmarks/train_step.py                      # CPU: random Llama, 4 layers, hidden 256, seq 128
    python benchmarks/train_step.py --preset gpu-0.5b    # GPU: ~0.5B random Llama in bf16, seq 1024, tokens/s, MFU

Target: DPOP step time <= 1.02x DPO, equal peak memory. Median CPU seconds a step (`cpu_s`) are printed too: steadier
than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

PRESETS = {
    # Big enough that a step takes a few hundred ms on 2 CPU cores, so the loss's few scalar ops are not noise
    "cpu": dict(hidden=256, layers=4, heads=4, intermediate=1024, vocab=8192, pairs=2, seq=128, bf16=False),
    # Qwen2.5-0.5B-like shape in the Llama architecture (~0.5B parameters with the untied LM head)
    "gpu-0.5b": dict(hidden=896, layers=24, heads=14, intermediate=4864, vocab=151936, pairs=8, seq=1024, bf16=True),
}
VARIANTS = ("trl-dpo", "dpo", "dpop", "trl-rpo", "dpop-sft")
# variant: (TRL's trainer?, loss_type)
VARIANT_LOSSES = {
    "trl-dpo": (True, ["sigmoid"]),
    "dpo": (False, ["sigmoid"]),
    "dpop": (False, ["dpop"]),
    "trl-rpo": (True, ["sigmoid", "sft"]),
    "dpop-sft": (False, ["dpop", "sft"]),
}
H100_BF16_DENSE_FLOPS = 989e12


def build_step(variant: str, preset: dict, seed: int):
    """Build the trainer for `variant` on a fixed batch; return (one training step as a function, facts)."""
    import torch
    from datasets import Dataset
    from transformers import LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    from prefbuild.train import DPOPConfig, DPOPTrainer
    from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer

    cuda = torch.cuda.is_available()
    tokenizer = train_tokenizer(DEFAULT_CORPUS, vocab_size=400)
    config = tiny_llama_config(
        preset["vocab"],
        hidden_size=preset["hidden"],
        num_layers=preset["layers"],
        num_heads=preset["heads"],
        intermediate_size=preset["intermediate"],
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    dtype = torch.bfloat16 if preset["bf16"] and cuda else torch.float32
    torch.manual_seed(seed)
    policy = LlamaForCausalLM(config).to(dtype)
    reference = LlamaForCausalLM(config).to(dtype)
    reference.load_state_dict(policy.state_dict())
    n_params = sum(p.numel() for p in policy.parameters())

    common = dict(
        output_dir=tempfile.mkdtemp(prefix="bench-"),
        use_cpu=not cuda,
        bf16=preset["bf16"] and cuda,
        report_to="none",
        max_length=preset["seq"],
        per_device_train_batch_size=preset["pairs"],
        gradient_checkpointing=False,
        learning_rate=1e-6,
        seed=seed,
        disable_tqdm=True,
    )
    placeholder = Dataset.from_list([{"prompt": "q", "chosen": " a", "rejected": " b"}])
    is_trl, loss_type = VARIANT_LOSSES[variant]
    if is_trl:
        trainer_cls, args = DPOTrainer, DPOConfig(loss_type=loss_type, beta=0.3, **common)
    else:
        trainer_cls = DPOPTrainer
        args = DPOPConfig(loss_type=loss_type, beta=0.3, dpop_lambda=50.0, **common)
    trainer = trainer_cls(
        model=policy, ref_model=reference, args=args, train_dataset=placeholder, processing_class=tokenizer
    )
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's own loop, which the benchmark bypasses

    # One fixed batch: `pairs` chosen rows then `pairs` rejected rows, prompt = first quarter, all tokens real
    generator = torch.Generator().manual_seed(seed)
    rows, seq = 2 * preset["pairs"], preset["seq"]
    completion_mask = torch.ones(rows, seq, dtype=torch.long)
    completion_mask[:, : seq // 4] = 0
    batch = {
        "input_ids": torch.randint(0, preset["vocab"], (rows, seq), generator=generator),
        "attention_mask": torch.ones(rows, seq, dtype=torch.long),
        "completion_mask": completion_mask,
    }

    def step() -> None:
        trainer.training_step(trainer.model, batch)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)

    facts = {
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "params": n_params,
        "tokens": rows * seq,
        "cuda": cuda,
    }
    return step, facts


def measure_peak_memory(variant: str, preset: dict, steps: int, seed: int) -> float:
    """Peak memory (MiB) of `steps` steps of `variant` alone in this process: CUDA allocator peak on GPU, the
    process's peak resident set on CPU (which includes Python and torch themselves)."""
    import torch

    step, facts = build_step(variant, preset, seed)
    if facts["cuda"]:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        step()
    return (torch.cuda.max_memory_allocated() if facts["cuda"] else _peak_rss_bytes()) / 2**20


def time_interleaved(preset: dict, steps: int, warmup: int, seed: int) -> dict:
    """Median step time per variant, the variants' steps interleaved in one process so load drift hits all."""
    import torch

    built = {variant: build_step(variant, preset, seed) for variant in VARIANTS}
    times = {variant: [] for variant in VARIANTS}
    cpu_times = {variant: [] for variant in VARIANTS}
    for index in range(warmup + steps):
        for variant, (step, facts) in built.items():
            if facts["cuda"]:
                torch.cuda.synchronize()
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            if facts["cuda"]:
                torch.cuda.synchronize()
            if index >= warmup:
                times[variant].append(time.perf_counter() - start)
                cpu_times[variant].append(time.process_time() - cpu_start)
    facts = built["dpop"][1]
    summary = {"device": facts["device"], "params": facts["params"]}
    for variant, values in times.items():
        median = statistics.median(values)
        summary[variant] = {
            "median_step_s": median,
            "median_cpu_s": statistics.median(cpu_times[variant]),
            "tokens_per_s": facts["tokens"] / median,
        }
        if facts["cuda"]:
            # Policy forward + backward ≈ 6·N FLOPs per token, reference forward ≈ 2·N (attention left out)
            summary[variant]["mfu"] = 8 * facts["params"] * facts["tokens"] / median / H100_BF16_DENSE_FLOPS
    return summary


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps per peak-memory run (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # internal: peak memory of one
    options = parser.parse_args()
    preset = PRESETS[options.preset]

    if options.variant:
        print(json.dumps(measure_peak_memory(options.variant, preset, options.memory_steps, options.seed)))
        return

    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    peak = {}
    for variant in VARIANTS:  # one process each, so each peak is its own
        command = [sys.executable, __file__, "--preset", options.preset, "--memory-steps", str(options.memory_steps),
                   "--seed", str(options.seed), "--variant", variant]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"{variant} failed:\n{result.stderr[-3000:]}")
        peak[variant] = json.loads(result.stdout.strip().splitlines()[-1])
    summary = time_interleaved(preset, options.steps, options.warmup, options.seed)

    print(f"device: {summary['device']}  preset: {options.preset} {preset}  params: {summary['params'] / 1e6:.1f}M")
    print(f"{options.steps} timed steps per variant after {options.warmup} warm-up, interleaved in one process")
    print(f"{'variant':<10}{'median step (ms)':>18}{'cpu_s (ms)':>12}{'tokens/s':>12}{'peak mem (MiB)':>16}{'MFU':>8}")
    for variant in VARIANTS:
        figures = summary[variant]
        print(
            f"{variant:<10}{figures['median_step_s'] * 1e3:>18.1f}{figures['median_cpu_s'] * 1e3:>12.1f}"
            f"{figures['tokens_per_s']:>12.0f}{peak[variant]:>16.0f}{figures.get('mfu', float('nan')):>8.1%}"
        )
    for variant, baseline in (("dpop", "dpo"), ("dpop", "trl-dpo"), ("dpo", "trl-dpo"), ("dpop-sft", "trl-rpo")):
        time_ratio = summary[variant]["median_step_s"] / summary[baseline]["median_step_s"]
        cpu_ratio = summary[variant]["median_cpu_s"] / summary[baseline]["median_cpu_s"]
        print(
            f"{variant} / {baseline}: step time {time_ratio:.3f}x (cpu {cpu_ratio:.3f}x), "
            f"peak memory {peak[variant] / peak[baseline]:.3f}x"
        )


if __name__ == "__main__":
    main()
