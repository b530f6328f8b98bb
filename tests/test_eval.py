"""`prefbuild eval`: offline on the tiny model and tiny local benchmark copies (tests/fixtures/benchmarks)."""

import json

import pytest

from prefbuild.errors import PrefbuildError
from prefbuild.evaluation import plan_evaluation

from .conftest import FIXTURES

BENCHMARKS = FIXTURES / "benchmarks"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two tiny Llama models with different random weights (a stand-in for base vs trained)."""
    from prefbuild.train.tiny_model import write_tiny_model

    root = tmp_path_factory.mktemp("models")
    return [str(write_tiny_model(root / f"tiny-{seed}", seed=seed)) for seed in (0, 1)]


def test_eval_runs_arc_hellaswag_gsm8k_offline_and_writes_three_outputs(run_cli, tiny_models, tmp_path):
    out = tmp_path / "eval"
    code, stdout, stderr = run_cli(
        "eval", "--model", tiny_models[0], "--model", tiny_models[1], "--tasks", "arc_challenge,hellaswag,gsm8k",
        "--num-fewshot", "1", "--limit", "2", "--max-gen-toks", "8", "--batch-size", "4",
        "--data-dir", BENCHMARKS, "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    assert sorted(path.name for path in out.iterdir()) == ["results.json", "results.md", "results.png"]
    results = json.loads((out / "results.json").read_text())
    assert results["lm_eval_version"].startswith("0.4.")
    assert list(results["models"]) == tiny_models
    for model in tiny_models:
        tasks = results["models"][model]["tasks"]
        assert list(tasks) == ["arc_challenge", "hellaswag", "gsm8k"]
        for entry in tasks.values():
            assert 0.0 <= entry["value"] <= 1.0 and entry["stderr"] is not None
            assert entry["num_fewshot"] == 1 and entry["limit"] == 2 and entry["samples"] == 2
            assert entry["version"] is not None
        assert tasks["gsm8k"]["metric"] == "exact_match,strict-match"
        assert tasks["arc_challenge"]["metric"] == "acc_norm"
    table = (out / "results.md").read_text()
    assert table.splitlines()[0] == f"| Task | {tiny_models[0]} | {tiny_models[1]} |"
    assert "| arc_challenge (1-shot, acc_norm) |" in table and "--limit 2" in table
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert table in stdout


def test_leaderboard_suite_uses_table_1_settings():
    plan = plan_evaluation(suite="leaderboard-v1")
    settings = [(task.name, task.num_fewshot, task.metric) for task in plan.tasks]
    assert settings == [
        ("arc_challenge", 25, "acc_norm"),
        ("hellaswag", 10, "acc_norm"),
        ("mmlu", 5, "acc"),
        ("truthfulqa_mc2", 0, "acc"),
        ("winogrande", 5, "acc"),
        ("gsm8k", 5, "exact_match,strict-match"),
    ]
    mmlu = next(task for task in plan.tasks if task.name == "mmlu")
    assert len(mmlu.leaves) == 57  # the leaderboard averaged the 57 subjects without weighting by size
    group = mmlu.specs[0]
    assert group["aggregate_metric_list"][0]["weight_by_size"] is False
    assert all(leaf["num_fewshot"] == 5 for leaf in group["task"])


def test_suite_average_is_the_mean_of_the_six():
    from prefbuild.evaluation.run import suite_average

    plan = plan_evaluation(suite="leaderboard-v1")
    values = [0.6, 0.8, 0.5, 0.4, 0.7, 0.3]
    tasks = {task.name: {"value": value} for task, value in zip(plan.tasks, values)}
    assert suite_average(plan, tasks) == pytest.approx(sum(values) / 6)


def test_data_dir_reads_a_hub_style_config_subfolder(tmp_path):
    """`DIR/arc_challenge/ARC-Challenge/test.jsonl` (the Hub repo's layout) works as well as flat split files."""
    (tmp_path / "arc_challenge" / "ARC-Challenge").mkdir(parents=True)
    for split in ("train", "test"):
        text = (BENCHMARKS / "arc_challenge" / f"{split}.jsonl").read_text()
        (tmp_path / "arc_challenge" / "ARC-Challenge" / f"{split}.jsonl").write_text(text)
    plan = plan_evaluation(tasks=["arc_challenge"], num_fewshot=2, data_dir=tmp_path)
    files = plan.tasks[0].specs[0]["dataset_kwargs"]["data_files"]
    assert sorted(files) == ["test", "train"] and files["test"][0].endswith("ARC-Challenge/test.jsonl")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--tasks", "arc_chalenge"],
            "Error: Unknown task 'arc_chalenge'. Did you mean: arc_challenge",
        ),
        (
            ["--suite", "leaderbord-v1"],
            "Error: Unknown suite 'leaderbord-v1'. Did you mean: leaderboard-v1? Available: leaderboard-v1.",
        ),
        (
            ["--tasks", "arc_challenge", "--suite", "leaderboard-v1"],
            "Error: Give either --tasks (e.g. --tasks arc_challenge,gsm8k) or --suite leaderboard-v1.",
        ),
        (
            ["--tasks", "winogrande", "--data-dir", str(BENCHMARKS)],
            f"Error: --data-dir '{BENCHMARKS}' has no folder 'winogrande'. Put a local copy of the Hub dataset "
            f"allenai/winogrande there",
        ),
        (
            ["--tasks", "hellaswag", "--num-fewshot", "1", "--data-dir", "{tmp}"],
            "Error: --data-dir: task 'hellaswag' needs the split(s) validation of Rowan/hellaswag in {tmp}/hellaswag "
            "(e.g. {tmp}/hellaswag/validation.jsonl in the Hub schema); found: train.jsonl.",
        ),
    ],
)
def test_bad_tasks_give_one_error_line(run_cli, tmp_path, argv, message):
    (tmp_path / "hellaswag").mkdir()
    (tmp_path / "hellaswag" / "train.jsonl").write_text((BENCHMARKS / "hellaswag" / "train.jsonl").read_text())
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    message = message.replace("{tmp}", str(tmp_path))
    code, stdout, stderr = run_cli("eval", "--model", "unused", *argv, "--out", tmp_path / "out")
    assert code == 1 and stdout == ""
    assert stderr.startswith(message) and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "out").exists()


def test_model_that_does_not_load_gives_one_error_line(run_cli, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "not-a-model"}')
    for model, message in [
        (tmp_path / "missing", f"Error: --model '{tmp_path / 'missing'}' does not exist."),
        (broken, f"Error: --model '{broken}' does not load ("),
    ]:
        code, _, stderr = run_cli(
            "eval", "--model", model, "--tasks", "arc_challenge", "--data-dir", BENCHMARKS, "--out", tmp_path / "o"
        )
        assert code == 1 and stderr.startswith(message) and stderr.count("\n") == 1, stderr


def test_plan_rejects_missing_fewshot_split(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text((BENCHMARKS / "gsm8k" / "test.jsonl").read_text())
    plan_evaluation(tasks=["gsm8k"], num_fewshot=0, data_dir=tmp_path)  # zero-shot needs no train split
    with pytest.raises(PrefbuildError, match="needs the split\\(s\\) train of openai/gsm8k"):
        plan_evaluation(tasks=["gsm8k"], num_fewshot=5, data_dir=tmp_path)


@pytest.mark.slow
def test_training_callback_logs_benchmark_scores_every_n_steps(tiny_models, tmp_path):
    """Recipe fields benchmark_* evaluate at step 0, every N steps and at the end (the paper's Fig. 2)."""
    from prefbuild.train.run import main
    from tests.conftest_train import write_pair_folder

    from .conftest import REPO

    output_dir = tmp_path / "run"
    code = main(
        [
            "--config", str(REPO / "recipes" / "tiny" / "dpop.yaml"),
            "--model_name_or_path", tiny_models[0],
            "--dataset_name", str(write_pair_folder(tmp_path / "pairs")),
            "--output_dir", str(output_dir),
            "--max_steps", "3", "--eval_strategy", "no", "--logging_steps", "1", "--disable_tqdm", "true",
            "--benchmark_tasks", "arc_challenge", "--benchmark_every_steps", "2", "--benchmark_limit", "2",
            "--benchmark_num_fewshot", "0", "--benchmark_data_dir", str(BENCHMARKS),
        ]
    )  # fmt: skip
    assert code == 0
    history = [json.loads(line) for line in (output_dir / "benchmark_scores.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in history] == [0, 2, 3]
    assert all(0.0 <= entry["arc_challenge"] <= 1.0 for entry in history)
    assert (output_dir / "benchmark_scores.png").is_file()


def test_training_callback_fields_are_validated_and_checked_before_training(tiny_models, tmp_path):
    from prefbuild.train.run import main

    from .conftest import REPO

    base = ["--config", str(REPO / "recipes" / "tiny" / "dpop.yaml"), "--model_name_or_path", tiny_models[0]]
    with pytest.raises(PrefbuildError, match="`benchmark_every_steps` must be >= 1, got 0."):
        main([*base, "--benchmark_tasks", "gsm8k", "--benchmark_every_steps", "0"])


def test_mmlu_offline_reads_one_subfolder_per_subject(tmp_path):
    from prefbuild.evaluation.tasks import _harness_task_root

    # the harness's one YAML per subject: mmlu/default/mmlu_<subject>.yaml
    subjects = sorted(
        path.stem[len("mmlu_") :] for path in (_harness_task_root() / "mmlu" / "default").glob("mmlu_*.yaml")
    )
    row = {"question": "2 + 2 =", "subject": "", "choices": ["3", "4", "5", "6"], "answer": 1}
    for subject in subjects:
        (tmp_path / "mmlu" / subject).mkdir(parents=True)
        for split in ("dev", "test"):
            (tmp_path / "mmlu" / subject / f"{split}.jsonl").write_text(json.dumps({**row, "subject": subject}) + "\n")
    plan = plan_evaluation(tasks=["mmlu"], data_dir=tmp_path, num_fewshot=1)
    group = plan.tasks[0].specs[0]
    assert len(group["task"]) == 57 == len(subjects)
    leaf = next(leaf for leaf in group["task"] if leaf["task"] == "mmlu_anatomy")
    assert leaf["dataset_kwargs"]["data_files"]["test"] == [str(tmp_path / "mmlu" / "anatomy" / "test.jsonl")]
    assert group["aggregate_metric_list"][0]["weight_by_size"] is True  # lm-eval's default outside the suite


def test_peft_adapter_folder_is_evaluated_on_its_base(tiny_models, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefbuild.evaluation import evaluate_models

    base = AutoModelForCausalLM.from_pretrained(tiny_models[0])
    adapter = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    adapter.save_pretrained(tmp_path / "adapter")
    AutoTokenizer.from_pretrained(tiny_models[0]).save_pretrained(tmp_path / "adapter")
    plan = plan_evaluation(tasks=["arc_challenge"], num_fewshot=0, data_dir=BENCHMARKS)
    results = evaluate_models([str(tmp_path / "adapter")], plan, limit=2, batch_size=2, device="cpu", progress=False)
    assert results["models"][str(tmp_path / "adapter")]["tasks"]["arc_challenge"]["samples"] == 2
