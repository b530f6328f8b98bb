"""Run an `EvalPlan` on one or more models through lm-evaluation-harness's Python API and collect the scores.

A model is a Hub id, a folder written by `prefbuild train` (a saved model and tokenizer) or a PEFT adapter folder
(`adapter_config.json`; its base model comes from the adapter config). Each model is scored with the same plan,
seeds and limit, so the numbers sit side by side in one table.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from prefbuild.errors import PrefbuildError
from prefbuild.evaluation.tasks import EvalPlan, TaskPlan


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists()


def load_model(name: str, device: str | None = None, batch_size: int = 8):
    """An lm-eval `HFLM` for a Hub id, a `prefbuild train` folder or a PEFT adapter folder."""
    from lm_eval.models.huggingface import HFLM

    path = Path(name).expanduser()
    if _looks_local(name) and not path.exists():
        raise PrefbuildError(
            f"--model '{name}' does not exist. Give a Hub id, a folder written by `prefbuild train`, or a PEFT "
            "adapter folder."
        )
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs: dict[str, Any] = {"pretrained": str(path) if path.exists() else name}
    adapter_config = path / "adapter_config.json"
    if adapter_config.is_file():
        base = json.loads(adapter_config.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if not base:
            raise PrefbuildError(f"--model '{name}': adapter_config.json names no base_model_name_or_path.")
        has_tokenizer = (path / "tokenizer_config.json").is_file() or (path / "tokenizer.json").is_file()
        kwargs = {"pretrained": base, "peft": str(path), "tokenizer": str(path) if has_tokenizer else base}
    try:
        return HFLM(device=device, batch_size=batch_size, **kwargs)
    except PrefbuildError:
        raise
    except Exception as error:  # noqa: BLE001 - transformers / hub raise many types for an unloadable model
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PrefbuildError(
            f"--model '{name}' does not load ({type(error).__name__}: {first_line}). Give a Hub id, a folder "
            "written by `prefbuild train`, or a PEFT adapter folder."
        ) from error


def _score(result: dict[str, Any], metric: str) -> tuple[float | None, float | None]:
    key = metric if "," in metric else f"{metric},none"
    if key not in result and "," not in metric:  # a task with filters reports "metric,<filter>": take the first
        key = next((name for name in result if name.startswith(f"{metric},") and "_stderr" not in name), key)
    name, _, filter_name = key.partition(",")
    value = result.get(key)
    stderr = result.get(f"{name}_stderr,{filter_name}")
    as_float = lambda x: float(x) if isinstance(x, int | float) else None  # noqa: E731 - "N/A" stderr → None
    return as_float(value), as_float(stderr)


def _task_entry(raw: dict[str, Any], plan: TaskPlan, limit: int | float | None) -> dict[str, Any]:
    result = raw["results"].get(plan.name)
    if result is None:
        raise PrefbuildError(f"lm-eval returned no result for task '{plan.name}'.")
    value, stderr = _score(result, plan.metric)
    metrics = {
        key: val
        for key, val in result.items()
        if "," in key and "_stderr," not in key and isinstance(val, int | float)
    }
    leaves = plan.leaves if plan.is_group else [plan.name]
    samples = sum(raw.get("n-samples", {}).get(leaf, {}).get("effective", 0) for leaf in leaves)
    versions = raw.get("versions", {})
    return {
        "metric": plan.metric,
        "value": value,
        "stderr": stderr,
        "num_fewshot": plan.num_fewshot,
        "limit": limit,
        "samples": samples,
        "version": versions.get(plan.name),
        "subtask_versions": {leaf: versions.get(leaf) for leaf in plan.leaves} if plan.is_group else None,
        "metrics": metrics,
    }


def evaluate_lm(lm, plan: EvalPlan, limit: int | float | None = None, gen_kwargs: dict | None = None) -> dict:
    """Run `plan` on an lm-eval model object; returns {task: entry} as results.json records it."""
    import lm_eval

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    raw = lm_eval.simple_evaluate(
        model=lm,
        tasks=plan.specs(),
        task_manager=plan.task_manager,
        limit=limit,
        log_samples=False,
        gen_kwargs=gen_kwargs,
    )
    return {task.name: _task_entry(raw, task, limit) for task in plan.tasks}


def suite_average(plan: EvalPlan, tasks: dict[str, dict]) -> float | None:
    """The Open LLM Leaderboard average: the plain mean of the suite's scores (None when one is missing)."""
    values = [tasks[task.name]["value"] for task in plan.tasks]
    if plan.suite is None or any(value is None for value in values):
        return None
    return sum(values) / len(values)


def evaluate_models(
    models: list[str],
    plan: EvalPlan,
    limit: int | float | None = None,
    batch_size: int = 8,
    device: str | None = None,
    gen_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every model with the same plan; the dictionary results.json holds."""
    from tqdm.auto import tqdm

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    scores: dict[str, Any] = {}
    bar = None  # started once the first model loads, so a model that does not load prints only its error
    for name in models:
        lm = load_model(name, device=device, batch_size=batch_size)
        if bar is None:
            bar = tqdm(total=len(models), desc="prefbuild eval", unit="model", disable=not progress)
        bar.set_postfix_str(name)
        tasks = evaluate_lm(lm, plan, limit=limit, gen_kwargs=gen_kwargs)
        scores[name] = {"tasks": tasks, "average": suite_average(plan, tasks)}
        bar.update()
        del lm
    if bar is not None:
        bar.close()
    from prefbuild import __version__

    return {
        "lm_eval_version": lm_eval_version(),
        "prefbuild_version": __version__,
        "suite": plan.suite,
        "data_dir": plan.data_dir,
        "limit": limit,
        "gen_kwargs": gen_kwargs,
        "tasks": [
            {"task": task.name, "label": task.label, "metric": task.metric, "num_fewshot": task.num_fewshot}
            for task in plan.tasks
        ],
        "models": scores,
    }
