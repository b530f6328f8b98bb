"""Benchmark evaluation on lm-evaluation-harness: `prefbuild eval` and the training callback use it."""

from prefbuild.evaluation.report import render_table, write_results
from prefbuild.evaluation.run import evaluate_lm, evaluate_models, load_model
from prefbuild.evaluation.tasks import SUITES, EvalPlan, parse_task_list, plan_evaluation

__all__ = [
    "SUITES",
    "EvalPlan",
    "evaluate_lm",
    "evaluate_models",
    "load_model",
    "parse_task_list",
    "plan_evaluation",
    "render_table",
    "write_results",
]
