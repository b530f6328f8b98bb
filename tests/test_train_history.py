"""What `prefbuild train` keeps after the run: trainer_state.json, *_results.json, training_curves.png, and resume."""

import json
import re
from pathlib import Path

import pytest

from prefbuild.train.history import CURVES_FILE, curve, plot_training_curves
from prefbuild.train.run import main
from prefbuild.train.tiny_model import write_tiny_model
from tests.conftest_train import write_pair_folder

ROOT = Path(__file__).parents[1]
TINY_RECIPE = ROOT / "recipes" / "tiny" / "dpop.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def pair_folder(tmp_path_factory):
    return write_pair_folder(tmp_path_factory.mktemp("pairs"))


def run_args(tiny_model, pair_folder, output_dir, *overrides):
    """4 steps of the tiny recipe, logging every step, evaluating and checkpointing every 2, nothing reported."""
    return [
        "--config", str(TINY_RECIPE),
        "--model_name_or_path", str(tiny_model),
        "--dataset_name", str(pair_folder),
        "--output_dir", str(output_dir),
        "--max_steps", "4", "--logging_steps", "1", "--eval_steps", "2",
        "--save_strategy", "steps", "--save_steps", "2",
        "--report_to", "none", "--disable_tqdm", "true",
        *overrides,
    ]  # fmt: skip


def log_history(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


def train_steps(history: list[dict]) -> list[int]:
    return [entry["step"] for entry in history if "loss" in entry]


def test_run_writes_history_and_a_resumed_run_continues_the_same_curve(tmp_path, tiny_model, pair_folder):
    first = tmp_path / "first"
    assert main(run_args(tiny_model, pair_folder, first)) == 0

    history = log_history(first)
    assert train_steps(history) == [1, 2, 3, 4]
    assert [entry["step"] for entry in history if "eval_loss" in entry] == [2, 4]
    for entry in (e for e in history if "loss" in e):
        assert {"loss", "logps/chosen", "logps/ref_chosen", "dpop/penalty"} <= entry.keys()
    train_results = json.loads((first / "train_results.json").read_text())
    eval_results = json.loads((first / "eval_results.json").read_text())
    all_results = json.loads((first / "all_results.json").read_text())
    assert train_results["train_samples"] == 8 and "train_loss" in train_results
    # Step 4 was evaluated during training: its metrics are reused, not recomputed (no second eval entry at step 4)
    assert eval_results["eval_loss"] == [e for e in history if "eval_loss" in e][-1]["eval_loss"]
    assert all_results.keys() == train_results.keys() | eval_results.keys()
    assert (first / CURVES_FILE).read_bytes().startswith(PNG_MAGIC)

    # Resume from the first checkpoint into a fresh folder: steps 1-2 come from the checkpoint, 3-4 are trained again
    resumed = tmp_path / "resumed"
    overrides = ("--resume_from_checkpoint", str(first / "checkpoint-2"))
    assert main(run_args(tiny_model, pair_folder, resumed, *overrides)) == 0
    resumed_history = log_history(resumed)
    assert train_steps(resumed_history) == [1, 2, 3, 4]  # no gap, no duplicate
    assert [e["step"] for e in resumed_history if "eval_loss" in e] == [2, 4]
    assert curve(resumed_history, "loss")[:2] == curve(history, "loss")[:2]  # the checkpoint's own history
    assert (resumed / CURVES_FILE).read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{tmp}/nope", "`resume_from_checkpoint` '{tmp}/nope' is not a checkpoint folder"),
        ("true", "`resume_from_checkpoint` is true but `output_dir` '{tmp}/out' holds no checkpoint-N folder"),
    ],
)
def test_resume_from_a_missing_checkpoint_is_one_error(tmp_path, tiny_model, pair_folder, value, message):
    from prefbuild.errors import PrefbuildError

    overrides = ("--resume_from_checkpoint", value.format(tmp=tmp_path))
    with pytest.raises(PrefbuildError, match=re.escape(message.format(tmp=tmp_path))):
        main(run_args(tiny_model, pair_folder, tmp_path / "out", *overrides))


def test_resume_true_picks_the_last_checkpoint(tmp_path):
    from prefbuild.train.run import resolve_checkpoint

    for step in (2, 10, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert resolve_checkpoint("true", str(tmp_path)) == str(tmp_path / "checkpoint-10")
    assert resolve_checkpoint(str(tmp_path / "checkpoint-2"), str(tmp_path)) == str(tmp_path / "checkpoint-2")
    assert resolve_checkpoint(None, str(tmp_path)) is None


def test_final_evaluation_runs_when_the_last_step_was_not_evaluated(tmp_path, tiny_model, pair_folder):
    # transformers evaluates the last step itself for `eval_strategy: steps`; an `eval_delay` past the end skips
    # every evaluation, so eval_results.json must come from one more evaluation at the end
    out = tmp_path / "out"
    overrides = ("--max_steps", "2", "--eval_delay", "5", "--save_strategy", "no")
    assert main(run_args(tiny_model, pair_folder, out, *overrides)) == 0
    history = log_history(out)
    evaluations = [entry for entry in history if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [2]
    assert json.loads((out / "eval_results.json").read_text())["eval_loss"] == evaluations[0]["eval_loss"]


def test_no_eval_split_writes_no_eval_results(tmp_path, tiny_model, pair_folder):
    out = tmp_path / "out"
    overrides = ("--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no")
    assert main(run_args(tiny_model, pair_folder, out, *overrides)) == 0
    assert not (out / "eval_results.json").exists()
    assert (out / "train_results.json").exists() and (out / CURVES_FILE).exists()
    assert train_steps(log_history(out)) == [1, 2]


def test_curve_keeps_one_point_per_step_and_ignores_missing_values():
    history = [
        {"step": 1, "loss": 0.7},
        {"step": 2, "loss": 0.6, "dpop/penalty": 0.1},
        {"step": 2, "eval_loss": 0.65},
        {"step": 2, "train_loss": 0.65},  # the run summary is not a loss point
    ]
    assert curve(history, "loss") == [(1, 0.7), (2, 0.6)]
    assert curve(history, "eval_loss") == [(2, 0.65)]
    assert curve(history, "dpop/penalty") == [(2, 0.1)]
    assert curve(history, "logps/ref_chosen") == []


def test_plot_from_an_old_history_without_reference_logps(tmp_path):
    # A checkpoint written before `logps/ref_chosen` was logged still plots (that panel line is absent)
    history = [{"step": step, "loss": 0.7 - 0.1 * step, "logps/chosen": -50.0 + step} for step in (1, 2, 3)]
    path = plot_training_curves(history, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    plot_training_curves([], tmp_path / "empty.png")  # nothing logged at all: empty panels, no error
