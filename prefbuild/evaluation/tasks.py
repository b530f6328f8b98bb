"""Which lm-evaluation-harness tasks to run, with which settings, on which data.

A request (`--tasks a,b` or `--suite leaderboard-v1`, plus `--num-fewshot`, `--data-dir`) becomes a list of
`TaskPlan`s. Each plan turns into task specs for the harness's own `TaskManager.load`: the harness's YAML config
of every leaf task, resolved, with our overrides on top (the n-shot, and with `--data-dir` the dataset read from
local files). Groups such as `mmlu` become an inline group over their leaf tasks with the group's aggregate
metric, so the per-task settings reach every leaf.

Local copies (`--data-dir DIR`, one folder per requested task, `DIR/<task>`) come in either of two layouts:

- a snapshot of the Hub dataset repository (its README.md declares `configs:`): read as the Hub would read it;
- split files in the Hub schema: `<split>.jsonl` / `.json` / `.parquet` (or `<split>-*.parquet` shards), either
  directly in `DIR/<task>` or in `DIR/<task>/<config>` where `<config>` is the task's Hub config name
  (`DIR/mmlu/abstract_algebra/test.jsonl`, `DIR/arc_challenge/ARC-Challenge/test.jsonl`).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from prefbuild.errors import PrefbuildError, unknown_name_error


@dataclass(frozen=True)
class SuiteTask:
    """One benchmark of a suite: the harness task, its n-shot and the metric the suite reports."""

    task: str
    num_fewshot: int
    metric: str  # "acc_norm", or "metric,filter" as the harness names it ("exact_match,strict-match")
    label: str
    macro_average: bool = False  # a group averaged over its subtasks without weighting by their size


# The Open LLM Leaderboard (v1) settings of the paper's Table 1; its average is the plain mean of the six.
# MMLU there is the mean over the 57 subjects (hendrycksTest-*), not weighted by subject size.
SUITES: dict[str, list[SuiteTask]] = {
    "leaderboard-v1": [
        SuiteTask("arc_challenge", 25, "acc_norm", "ARC (25-shot)"),
        SuiteTask("hellaswag", 10, "acc_norm", "HellaSwag (10-shot)"),
        SuiteTask("mmlu", 5, "acc", "MMLU (5-shot)", macro_average=True),
        SuiteTask("truthfulqa_mc2", 0, "acc", "TruthfulQA (0-shot, mc2)"),
        SuiteTask("winogrande", 5, "acc", "Winogrande (5-shot)"),
        SuiteTask("gsm8k", 5, "exact_match,strict-match", "GSM8K (5-shot)"),
    ]
}

# The metric a table shows for a task outside a suite; other tasks show the first metric the harness reports.
PRIMARY_METRICS = {
    "arc_challenge": "acc_norm",
    "arc_easy": "acc_norm",
    "hellaswag": "acc_norm",
    "mmlu": "acc",
    "truthfulqa_mc1": "acc",
    "truthfulqa_mc2": "acc",
    "winogrande": "acc",
    "gsm8k": "exact_match,strict-match",
}

# Folders of lm_eval/tasks holding the tasks above: indexing only these takes ~0.05 s instead of ~7 s for all.
_KNOWN_TASK_FOLDERS = {
    "arc_challenge": "arc",
    "arc_easy": "arc",
    "hellaswag": "hellaswag",
    "gsm8k": "gsm8k",
    "mmlu": "mmlu/default",
    "truthfulqa_mc1": "truthfulqa",
    "truthfulqa_mc2": "truthfulqa",
    "winogrande": "winogrande",
}

_SPLIT_FIELDS = ("training_split", "validation_split", "test_split", "fewshot_split")
_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class TaskPlan:
    """One requested task: its name, settings and the harness specs that load it."""

    name: str
    num_fewshot: int | None  # None: the harness config's default
    metric: str
    label: str
    specs: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[str] = field(default_factory=list)
    is_group: bool = False


@dataclass
class EvalPlan:
    """Everything `prefbuild eval` (and the training callback) needs to run the same evaluation again."""

    tasks: list[TaskPlan]
    suite: str | None
    data_dir: str | None
    task_manager: Any

    def specs(self) -> list[dict[str, Any]]:
        """Fresh copies of the harness specs: building a task mutates its config."""
        return [copy.deepcopy(spec) for plan in self.tasks for spec in plan.specs]


def parse_task_list(text: str) -> list[str]:
    """`"arc_challenge, gsm8k"` → `["arc_challenge", "gsm8k"]` (empty items dropped, order and duplicates kept once)."""
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if name and name not in names:
            names.append(name)
    return names


def _task_manager(names: list[str]):
    """A TaskManager that indexes only the harness folders the names need, or everything for other names."""
    from lm_eval.tasks import TaskManager

    if all(name in _KNOWN_TASK_FOLDERS for name in names):
        root = _harness_task_root()
        folders = sorted({_KNOWN_TASK_FOLDERS[name] for name in names})
        return TaskManager(include_defaults=False, include_path=[str(root / folder) for folder in folders])
    return _full_task_manager()


@cache
def _full_task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()


def _harness_task_root() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def _load_task_yaml(path) -> dict[str, Any]:
    # The harness's own loader: resolves `include:` and `!function` exactly as the harness does. A private module,
    # which is why pyproject.toml pins lm-eval to the 0.4 series we built against.
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(path, resolve_func=True)


def _leaf_configs(task_manager, name: str, seen: frozenset[str] = frozenset()) -> tuple[list[dict], dict | None]:
    """The resolved configs of the leaf tasks under `name`, and the group config when `name` is a group."""
    from lm_eval.tasks._index import Kind

    if name in seen:
        raise PrefbuildError(f"Task group '{name}' includes itself.")
    entry = task_manager.task_index[name]
    if entry.kind == Kind.TAG:
        return [
            c for member in sorted(entry.tags) for c in _leaf_configs(task_manager, member, seen | {name})[0]
        ], None
    if entry.kind == Kind.PY_TASK or entry.yaml_path is None:
        raise PrefbuildError(
            f"Task '{name}' is defined in Python, not YAML; prefbuild eval supports YAML tasks (arc_challenge, "
            "hellaswag, gsm8k, mmlu, truthfulqa_mc2, winogrande, ...)."
        )
    config = _load_task_yaml(entry.yaml_path)
    if entry.kind == Kind.TASK:
        for key in ("tag", "group"):
            config.pop(key, None)
        return [config], None
    leaves: list[dict] = []
    for member in config.get("task") or []:
        if isinstance(member, str):
            leaves += _leaf_configs(task_manager, member, seen | {name})[0]
        elif isinstance(member, dict) and isinstance(member.get("task"), str) and "group" not in member:
            for leaf in _leaf_configs(task_manager, member["task"], seen | {name})[0]:
                leaves.append({**leaf, **{k: v for k, v in member.items() if k != "task"}})
        else:
            raise PrefbuildError(
                f"Task group '{name}' defines inline subgroups, which prefbuild eval does not expand."
            )
    return leaves, config


def _suggest_task(name: str, available: list[str]) -> PrefbuildError:
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return PrefbuildError(
        f"Unknown task '{name}'.{hint} Task names are lm-evaluation-harness's (`lm-eval ls tasks` lists them); "
        f"suites: {', '.join(SUITES)}."
    )


def _split_files(folder: Path, split: str) -> list[Path]:
    files = []
    for suffix in _FORMATS:
        files += [folder / f"{split}{suffix}"] if (folder / f"{split}{suffix}").is_file() else []
    files += sorted(folder.glob(f"{split}-*.parquet"))
    return files


def _declares_configs(folder: Path) -> bool:
    """Whether `folder` is a Hub dataset snapshot whose README.md front matter lists its `configs:`."""
    readme = folder / "README.md"
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8", errors="replace")
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    return any(line.startswith("configs:") for line in front.splitlines())


def _fewshot_source(config: dict[str, Any]) -> str | None:
    """The split the harness draws few-shot examples from (its rule: fewshot, else training, else validation)."""
    return config.get("fewshot_split") or config.get("training_split") or config.get("validation_split")


def _point_at_local_copy(config: dict[str, Any], task: str, data_dir: Path, num_fewshot: int) -> None:
    """Rewrite `config` (a resolved harness task config) to read its splits from `data_dir/task`."""
    folder = data_dir / task
    hub_id = config.get("dataset_path")
    if not folder.is_dir():
        raise PrefbuildError(
            f"--data-dir '{data_dir}' has no folder '{task}'. Put a local copy of the Hub dataset {hub_id} there "
            f"(its split files, e.g. {folder}/{config.get('test_split') or config.get('validation_split')}.jsonl), "
            "or drop --data-dir to read the Hub."
        )
    if _declares_configs(folder):
        config["dataset_path"] = str(folder)
        return
    subfolder = folder / str(config.get("dataset_name"))
    where = subfolder if config.get("dataset_name") and subfolder.is_dir() else folder
    splits = {config[key] for key in _SPLIT_FIELDS if config.get(key)}
    data_files = {split: _split_files(where, split) for split in sorted(splits)}
    data_files = {split: files for split, files in data_files.items() if files}
    needed = [config.get("test_split") or config.get("validation_split")]
    if num_fewshot > 0:
        needed.append(_fewshot_source(config))
    missing = [split for split in needed if split and split not in data_files]
    if missing:
        found = sorted(path.name for path in where.iterdir()) if where.is_dir() else []
        raise PrefbuildError(
            f"--data-dir: task '{config['task']}' needs the split(s) {', '.join(missing)} of {hub_id} in {where} "
            f"(e.g. {where}/{missing[0]}.jsonl in the Hub schema); found: {', '.join(found) or 'nothing'}."
        )
    formats = {
        _FORMATS[".parquet" if path.suffix == ".parquet" else path.suffix] for f in data_files.values() for path in f
    }
    if len(formats) > 1:
        raise PrefbuildError(f"--data-dir: {where} mixes JSON and Parquet split files; keep one format per task.")
    config["dataset_path"] = formats.pop()
    config["dataset_name"] = None
    config["dataset_kwargs"] = {
        "data_files": {split: [str(path) for path in files] for split, files in data_files.items()}
    }


def plan_evaluation(
    tasks: list[str] | None = None,
    suite: str | None = None,
    num_fewshot: int | None = None,
    data_dir: str | Path | None = None,
) -> EvalPlan:
    """Resolve task names or a suite into harness specs, checking names and local data before any model loads."""
    if (tasks is None) == (suite is None):
        raise PrefbuildError("Give either --tasks (e.g. --tasks arc_challenge,gsm8k) or --suite leaderboard-v1.")
    if num_fewshot is not None and num_fewshot < 0:
        raise PrefbuildError(f"--num-fewshot must be >= 0, got {num_fewshot}.")
    if suite is not None:
        if suite not in SUITES:
            raise unknown_name_error("suite", suite, SUITES)
        wanted = SUITES[suite]
    else:
        if not tasks:
            raise PrefbuildError("--tasks is empty; name at least one task, e.g. --tasks arc_challenge.")
        wanted = [SuiteTask(name, -1, PRIMARY_METRICS.get(name, ""), name) for name in tasks]
    data_path = None
    if data_dir is not None:
        data_path = Path(data_dir).expanduser()
        if not data_path.is_dir():
            raise PrefbuildError(f"--data-dir '{data_dir}' is not a folder; it holds one folder per task.")

    task_manager = _task_manager([item.task for item in wanted])
    plans = []
    for item in wanted:
        if item.task not in task_manager.task_index:
            task_manager = _full_task_manager()
            if item.task not in task_manager.task_index:
                raise _suggest_task(item.task, task_manager.all_tasks)
        leaves, group = _leaf_configs(task_manager, item.task)
        if not leaves:
            raise PrefbuildError(f"Task '{item.task}' has no subtasks in lm-eval's registry.")
        shots = num_fewshot if num_fewshot is not None else (item.num_fewshot if item.num_fewshot >= 0 else None)
        for leaf in leaves:
            if leaf.get("num_fewshot") == 0:  # the harness never gives few-shot examples to such tasks
                leaf["num_fewshot"] = 0
            elif shots is not None:
                leaf["num_fewshot"] = shots
            if data_path is not None:
                _point_at_local_copy(leaf, item.task, data_path, int(leaf.get("num_fewshot") or 0))
        metric = item.metric or _first_metric(leaves[0], group)
        plan = TaskPlan(
            name=item.task,
            num_fewshot=int(leaves[0].get("num_fewshot") or 0),
            metric=metric,
            label=item.label,
            leaves=[leaf["task"] for leaf in leaves],
            is_group=group is not None,
        )
        if group is None:
            plan.specs = leaves
        else:
            aggregate = copy.deepcopy(group.get("aggregate_metric_list") or [])
            if item.macro_average:
                for entry in aggregate:
                    entry["weight_by_size"] = False
            plan.specs = [
                {
                    "group": item.task,
                    "task": leaves,
                    "aggregate_metric_list": aggregate,
                    "metadata": group.get("metadata") or {},
                }
            ]
            if not aggregate:
                raise PrefbuildError(f"Task group '{item.task}' reports no aggregate score; name its tasks instead.")
        plans.append(plan)
    return EvalPlan(
        tasks=plans, suite=suite, data_dir=None if data_path is None else str(data_path), task_manager=task_manager
    )


def _first_metric(leaf: dict[str, Any], group: dict[str, Any] | None) -> str:
    if group and group.get("aggregate_metric_list"):
        return group["aggregate_metric_list"][0]["metric"]
    metrics = leaf.get("metric_list") or [{"metric": "acc"}]
    return metrics[0]["metric"]
