"""Benchmark scores during training: the paper's Fig. 2 (GSM8K / ARC accuracy against training steps) by itself.

Recipe fields (`BenchmarkEvalArguments`, part of `prefbuild train`'s script arguments) name lm-eval tasks; the
`BenchmarkEvalCallback` runs the same evaluation as `prefbuild eval` on the model being trained, before the first
step, every `benchmark_every_steps` steps and after the last, and logs each score as a metric
(`benchmark/<task>`, so TensorBoard / W&B / trainer_state.json plot it against the step). It also appends every
evaluation to `output_dir/benchmark_scores.jsonl` and draws `output_dir/benchmark_scores.png` at the end.

```yaml
benchmark_tasks: gsm8k,arc_challenge
benchmark_every_steps: 100
benchmark_limit: 200          # examples per task and evaluation; leave unset for the whole test set
benchmark_data_dir: data/benchmarks   # offline local copies, as `prefbuild eval --data-dir`
```

With several processes only the main one evaluates; the others wait at their next synchronisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from prefbuild.errors import PrefbuildError


@dataclass
class BenchmarkEvalArguments:
    """
    Benchmark evaluation during training (lm-evaluation-harness), logged as `benchmark/<task>` metrics.

    Args:
        benchmark_tasks (`str` or `None`, *optional*, defaults to `None`):
            Comma-separated lm-eval task names (e.g. `gsm8k,arc_challenge`). Unset: no benchmark evaluation.
        benchmark_every_steps (`int`, *optional*, defaults to `100`):
            Evaluate every this many optimiser steps (and before the first and after the last step).
        benchmark_limit (`int` or `None`, *optional*, defaults to `None`):
            Examples per task and evaluation; unset evaluates the whole split.
        benchmark_num_fewshot (`int` or `None`, *optional*, defaults to `None`):
            Few-shot examples; unset uses each task's default.
        benchmark_data_dir (`str` or `None`, *optional*, defaults to `None`):
            Offline local copies of the benchmarks, one folder per task (as `prefbuild eval --data-dir`).
        benchmark_batch_size (`int`, *optional*, defaults to `8`):
            Batch size of the evaluation.
        benchmark_max_gen_toks (`int` or `None`, *optional*, defaults to `None`):
            Cap on generated tokens for generative tasks (gsm8k); unset uses the task's.
    """

    benchmark_tasks: str | None = field(
        default=None,
        metadata={"help": "Comma-separated lm-eval tasks (e.g. gsm8k,arc_challenge) evaluated during training."},
    )
    benchmark_every_steps: int = field(
        default=100, metadata={"help": "Evaluate the benchmarks every this many steps (and at start and end)."}
    )
    benchmark_limit: int | None = field(
        default=None, metadata={"help": "Examples per task and evaluation; unset evaluates the whole split."}
    )
    benchmark_num_fewshot: int | None = field(
        default=None, metadata={"help": "Few-shot examples for the benchmarks; unset uses each task's default."}
    )
    benchmark_data_dir: str | None = field(
        default=None, metadata={"help": "Offline local benchmark copies, one folder per task."}
    )
    benchmark_batch_size: int = field(default=8, metadata={"help": "Batch size of the benchmark evaluation."})
    benchmark_max_gen_toks: int | None = field(
        default=None, metadata={"help": "Cap on generated tokens for generative benchmark tasks."}
    )

    def __post_init__(self):
        for name in ("benchmark_every_steps", "benchmark_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}.")
        for name in ("benchmark_limit", "benchmark_max_gen_toks"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"`{name}` must be >= 1 or unset, got {value}. Unset it to use the whole split.")
        if self.benchmark_num_fewshot is not None and self.benchmark_num_fewshot < 0:
            raise ValueError(f"`benchmark_num_fewshot` must be >= 0, got {self.benchmark_num_fewshot}.")


class BenchmarkEvalCallback(TrainerCallback):
    """Runs an `EvalPlan` on the model in training and logs `benchmark/<task>` through `trainer.log`.

    Overrides `on_train_begin`, `on_step_end` and `on_train_end` only; the model is put in eval mode for the
    evaluation and back in train mode after it.
    """

    def __init__(self, trainer, plan, every_steps: int, limit: int | None, batch_size: int, gen_kwargs=None):
        self.trainer = trainer
        self.plan = plan
        self.every_steps = every_steps
        self.limit = limit
        self.batch_size = batch_size
        self.gen_kwargs = gen_kwargs
        self.history: list[dict[str, Any]] = []
        self._last_step: int | None = None

    def evaluate(self, model, step: int) -> dict[str, float]:
        from lm_eval.models.huggingface import HFLM

        from prefbuild.evaluation.run import evaluate_lm

        was_training = model.training
        model.eval()
        try:
            tokenizer = getattr(self.trainer, "processing_class", None)
            tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=self.batch_size)
            tasks = evaluate_lm(lm, self.plan, limit=self.limit, gen_kwargs=self.gen_kwargs)
        finally:
            if was_training:
                model.train()
        scores = {f"benchmark/{name}": entry["value"] for name, entry in tasks.items()}
        self.history.append({"step": step, **{name: entry["value"] for name, entry in tasks.items()}})
        self._last_step = step
        output_dir = Path(self.trainer.args.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(output_dir / "benchmark_scores.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps(self.history[-1]) + "\n")
        self.trainer.log(scores)
        return scores

    def _run(self, state, model, step: int) -> None:
        if state.is_world_process_zero and model is not None and self._last_step != step:
            self.evaluate(model, step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._run(state, model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self._run(state, model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._run(state, model, state.global_step)
        if state.is_world_process_zero and self.history:
            plot_history(self.history, Path(args.output_dir) / "benchmark_scores.png")


def plot_history(history: list[dict[str, Any]], path: Path) -> None:
    """Score against training step, one line per task (the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    tasks = [key for key in history[0] if key != "step"]
    steps = [entry["step"] for entry in history]
    for task in tasks:
        axis.plot(steps, [100 * (entry[task] or 0.0) for entry in history], marker="o", label=task)
    axis.set_xlabel("training step")
    axis.set_ylabel("score (%)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def benchmark_callback(arguments: BenchmarkEvalArguments, trainer) -> BenchmarkEvalCallback | None:
    """The callback the recipe asks for (None without `benchmark_tasks`); task names and local data are checked
    here, before training starts."""
    if not arguments.benchmark_tasks:
        return None
    from prefbuild.evaluation.tasks import parse_task_list, plan_evaluation

    names = parse_task_list(arguments.benchmark_tasks)
    if not names:
        raise PrefbuildError("`benchmark_tasks` is empty; name lm-eval tasks, e.g. gsm8k,arc_challenge.")
    try:
        plan = plan_evaluation(
            tasks=names, num_fewshot=arguments.benchmark_num_fewshot, data_dir=arguments.benchmark_data_dir
        )
    except PrefbuildError as error:  # its messages name `prefbuild eval`'s flags; say which recipe fields
        raise PrefbuildError(f"benchmark_tasks / benchmark_data_dir: {error}") from None
    gen_kwargs = (
        None if arguments.benchmark_max_gen_toks is None else {"max_gen_toks": arguments.benchmark_max_gen_toks}
    )
    return BenchmarkEvalCallback(
        trainer,
        plan,
        every_steps=arguments.benchmark_every_steps,
        limit=arguments.benchmark_limit,
        batch_size=arguments.benchmark_batch_size,
        gen_kwargs=gen_kwargs,
    )
