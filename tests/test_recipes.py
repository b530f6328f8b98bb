"""Every training recipe parses with the real parser (unknown keys fail); accelerate configs load with accelerate."""

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig

from prefbuild.errors import PrefbuildError
from prefbuild.train import SUPPORTED_LOSS_TYPES
from prefbuild.train.run import parse_recipe

RECIPES = Path(__file__).parents[1] / "recipes"
# recipes/mix/*.yaml are mixture configs in another format, parsed by prefbuild.mix's own tests
TRAIN_RECIPES = sorted((RECIPES / "train").glob("*.yaml")) + sorted((RECIPES / "tiny").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((RECIPES / "accelerate").glob("*.yaml"))


def parse(recipe, *overrides):
    # The GPU recipes ask for bf16, which TrainingArguments refuses on a machine without a GPU: parse them as a CPU
    # run. Every other key is still checked by the real parser.
    return parse_recipe(["--config", str(recipe), "--use_cpu", "true", "--bf16", "false", *overrides])


def test_recipes_exist():
    names = {path.stem for path in TRAIN_RECIPES}
    for dataset in ("metamath", "arc"):
        for loss in ("dpo", "ipo", "slic", "dpop", "rpo", "dpop-sft"):
            assert f"{dataset}-mistral7b-{loss}" in names
        assert {f"{dataset}-mistral7b-dpop-beta{b}" for b in ("0.1", "1.0")} <= names
        assert {f"{dataset}-mistral7b-dpop-lambda{lam}" for lam in ("5", "500")} <= names
    assert {"smaug-7b", "dpop", "dpop-sft"} <= names
    assert {path.stem for path in ACCELERATE_CONFIGS} == {"multi_gpu", "deepspeed_zero3", "fsdp"}


@pytest.mark.parametrize("recipe", TRAIN_RECIPES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_train_recipe_parses(recipe):
    script_args, training_args, model_args = parse(recipe)
    raw = yaml.safe_load(recipe.read_text())
    assert model_args.model_name_or_path == raw["model_name_or_path"]
    assert script_args.dataset_name == raw["dataset_name"]
    assert script_args.dataset_test_split == "eval"
    assert set(training_args.loss_type) <= set(SUPPORTED_LOSS_TYPES)
    assert len(training_args.loss_weights or training_args.loss_type) == len(training_args.loss_type)
    assert training_args.report_to in ("none", [], ["none"])


def test_paper_hyperparameters():
    _, smaug, model = parse(RECIPES / "train" / "smaug-7b.yaml")
    assert model.model_name_or_path == "meta-llama/Llama-2-7b-chat-hf"
    assert (smaug.loss_type, smaug.beta, smaug.dpop_lambda) == (["dpop"], 0.3, 50.0)
    assert (smaug.learning_rate, smaug.max_steps, smaug.optim) == (5e-5, 1000, "adamw_torch")
    for lam in (5, 500):
        _, args, _ = parse(RECIPES / "train" / f"arc-mistral7b-dpop-lambda{lam}.yaml")
        assert args.dpop_lambda == lam and args.beta == 0.3
    # The loss comparison differs in the loss alone
    for dataset in ("metamath", "arc"):
        parsed = {
            loss: vars(parse(RECIPES / "train" / f"{dataset}-mistral7b-{loss}.yaml")[1])
            for loss in ("dpo", "ipo", "slic", "dpop", "rpo", "dpop-sft")
        }
        differing = {key for key in parsed["dpop"] if len({repr(args[key]) for args in parsed.values()}) > 1}
        assert differing <= {"loss_type", "loss_weights", "output_dir", "logging_dir", "run_name"}, differing
        # RPO (Pang et al. 2024) is DPO plus the chosen NLL at weight 1; [dpop, sft] adds the same NLL term to DPOP
        assert (parsed["rpo"]["loss_type"], parsed["rpo"]["loss_weights"]) == (["sigmoid", "sft"], [1.0, 1.0])
        assert (parsed["dpop-sft"]["loss_type"], parsed["dpop-sft"]["loss_weights"]) == (["dpop", "sft"], [1.0, 1.0])


def test_unknown_key_fails(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text((RECIPES / "tiny" / "dpop.yaml").read_text() + "dpop_lamda: 5\n")
    with pytest.raises(PrefbuildError, match="dpop_lamda"):
        parse(recipe)


def test_bad_value_names_field(tmp_path):
    with pytest.raises(PrefbuildError, match="`dpop_lambda` must be >= 0, got -1.0"):
        parse(RECIPES / "tiny" / "dpop.yaml", "--dpop_lambda", "-1")


def test_command_line_overrides_yaml():
    _, args, _ = parse(RECIPES / "tiny" / "dpop.yaml", "--loss_type", "ipo", "--beta", "0.1")
    assert args.loss_type == ["ipo"] and args.beta == 0.1


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda path: path.name)
def test_accelerate_config_loads(path):
    raw = yaml.safe_load(path.read_text())
    config = ClusterConfig(**raw)  # unknown keys raise TypeError
    assert config.num_processes >= 2 and config.mixed_precision == "bf16" and not config.use_cpu
    assert config.distributed_type.value in {"MULTI_GPU", "DEEPSPEED", "FSDP"}
    if config.distributed_type.value == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3
    if config.distributed_type.value == "FSDP":
        assert config.fsdp_config["fsdp_reshard_after_forward"] == "FULL_SHARD"
