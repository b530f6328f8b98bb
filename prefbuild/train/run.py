"""`prefbuild train --config RECIPE.yaml [--any_field value ...]`: parse a recipe with TRL's parser and train.

The recipe is a flat YAML mapping over three dataclasses: `TrainScriptArguments` (the dataset), `DPOPConfig` (the
loss and every `TrainingArguments` field) and `trl.ModelConfig` (the model, dtype, LoRA). Command-line flags
override the YAML; keys that belong to none of them fail.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from datasets import DatasetDict, IterableDatasetDict, load_dataset
from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from prefbuild.errors import PrefbuildError
from prefbuild.output import load_output_folder
from prefbuild.train.config import DPOPConfig
from prefbuild.train.trainer import DPOPTrainer

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class TrainScriptArguments(ScriptArguments):
    """
    Dataset arguments for `prefbuild train`: TRL's [`~trl.ScriptArguments`] with the split names `prefbuild build`
    writes.

    Args:
        dataset_name (`str`):
            A folder written by `prefbuild build` / `prefbuild mix` (its shards loaded by path) or
            a Hub dataset id. Its rows need string (or conversational) `prompt`, `chosen` and `rejected` columns;
            other columns are dropped before training.
        dataset_test_split (`str`, *optional*, defaults to `"eval"`):
            Split used for evaluation when `eval_strategy` is not `"no"`. `prefbuild build` names it `eval`.
    """

    dataset_test_split: str = field(
        default="eval",
        metadata={
            "help": "Split used for evaluation when `eval_strategy` is not 'no'. `prefbuild build` names it 'eval'."
        },
    )


def make_parser():
    """The `TrlParser` over (TrainScriptArguments, DPOPConfig, ModelConfig) that `prefbuild train` uses."""
    return TrlParser((TrainScriptArguments, DPOPConfig, ModelConfig), prog="prefbuild train")


def parse_recipe(argv: list[str]):
    """Parse `--config RECIPE.yaml` plus overrides into (script_args, training_args, model_args).

    Unknown keys (in the YAML or on the command line) and invalid values raise `PrefbuildError`.
    """
    argv = list(argv)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise PrefbuildError("`--config` needs a path to a recipe YAML, e.g. --config recipes/tiny/dpop.yaml.")
        if not Path(argv[index + 1]).is_file():
            raise PrefbuildError(f"Recipe '{argv[index + 1]}' does not exist. Recipes live under recipes/train/.")
    parser = make_parser()
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(argv)
    except (ValueError, TypeError) as error:  # unknown keys, DPOPConfig / TrainingArguments validation
        raise PrefbuildError(str(error)) from error
    except yaml.YAMLError as error:
        raise PrefbuildError(f"Recipe is not valid YAML: {str(error).splitlines()[0]}") from None
    if training_args.hub_token:
        # transformers pickles the whole config into output_dir/training_args.bin, which push_to_hub uploads
        raise PrefbuildError(
            "`hub_token` would be saved in output_dir/training_args.bin and uploaded with the model. "
            "Set the HF_TOKEN environment variable or run `hf auth login` instead."
        )
    return script_args, training_args, model_args


def _looks_local(name: str) -> bool:
    """Whether `name` is meant as a local path rather than a Hub id `owner/name`."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        return True
    first = name.split("/", 1)[0]
    return "/" in name and Path(first).is_dir()  # e.g. runs/arc when runs/ exists


def load_pairs(script_args):
    """Load the preference dataset named by `script_args.dataset_name` as a `DatasetDict` of pair columns."""
    name = script_args.dataset_name
    if not name:
        raise PrefbuildError(
            "`dataset_name` is not set. Point it at a folder from `prefbuild build` (e.g. --dataset_name runs/arc) "
            "or a Hub dataset id."
        )
    path = Path(name).expanduser()
    if path.exists() and not path.is_dir():
        raise PrefbuildError(f"`dataset_name` '{name}' is a file; expected a folder written by `prefbuild build`.")
    if not path.exists() and _looks_local(name):
        raise PrefbuildError(
            f"Dataset folder '{name}' does not exist. Build it first, e.g. "
            f"`prefbuild build arc --source tests/fixtures/arc --out {name}`."
        )
    try:
        if (path / "stats.json").is_file() and not script_args.dataset_streaming:
            # A prefbuild folder: load its shards by path, never a stale cache entry of another folder's name
            dataset = load_output_folder(path)
        else:
            dataset = load_dataset(
                str(path) if path.exists() else name,
                name=script_args.dataset_config,
                streaming=script_args.dataset_streaming,
            )
    except Exception as error:  # noqa: BLE001 - datasets raises many types (offline, missing files, bad schema)
        if path.exists():
            raise PrefbuildError(f"Could not load folder '{name}': {error}") from error
        raise PrefbuildError(
            f"Could not load Hub dataset '{name}' (no local folder has that name either): {error}"
        ) from error
    if not isinstance(dataset, DatasetDict | IterableDatasetDict):
        raise PrefbuildError(f"Dataset '{name}' has no named splits; expected 'train' and 'eval'.")

    kept = {}
    for split_name, split in dataset.items():
        columns = split.column_names or []
        missing = [column for column in PAIR_COLUMNS if column not in columns]
        if missing:
            raise PrefbuildError(
                f"Split '{split_name}' of '{name}' lacks the column(s) {', '.join(missing)}; a preference dataset "
                f"needs {', '.join(PAIR_COLUMNS)}. Columns found: {', '.join(columns)}."
            )
        # Metadata columns (edit distances, source ids …) are not model inputs; TRL only needs the pair
        kept[split_name] = split.select_columns(list(PAIR_COLUMNS))
    return type(dataset)(kept)


def _check_split(dataset, split: str, field_name: str, dataset_name: str):
    if split not in dataset:
        raise PrefbuildError(
            f"`{field_name}` is '{split}' but '{dataset_name}' has the splits: {', '.join(dataset)}. Set "
            f"--{field_name} to one of them."
        )
    return dataset[split]


def _check_model(name: str | None) -> None:
    if not name:
        raise PrefbuildError(
            "`model_name_or_path` is not set. Use a Hub id, or a local folder such as one written by "
            "`prefbuild tiny-model --out runs/tiny-model`."
        )
    path = Path(name).expanduser()
    if not path.exists() and _looks_local(name):
        raise PrefbuildError(
            f"Model folder '{name}' does not exist. For an offline tiny model run `prefbuild tiny-model --out {name}`."
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `prefbuild train`. Returns 0 on success; user errors raise `PrefbuildError`."""
    script_args, training_args, model_args = parse_recipe(sys.argv[1:] if argv is None else argv)

    _check_model(model_args.model_name_or_path)
    dataset = load_pairs(script_args)
    train_dataset = _check_split(
        dataset, script_args.dataset_train_split, "dataset_train_split", script_args.dataset_name
    )
    eval_dataset = None
    if training_args.eval_strategy != "no":
        eval_dataset = _check_split(
            dataset, script_args.dataset_test_split, "dataset_test_split", script_args.dataset_name
        )

    dataset_folder = Path(script_args.dataset_name).expanduser()
    if (
        training_args.precompute_ref_log_probs
        and training_args.ref_logps_cache_dir is None
        and dataset_folder.is_dir()
    ):
        # Beside the dataset, hidden so `prefbuild push` leaves it out; keyed, so runs on other models never collide
        training_args.ref_logps_cache_dir = str(dataset_folder / ".ref_logps")

    model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    model_init_kwargs.update(training_args.model_init_kwargs or {})
    training_args.model_init_kwargs = model_init_kwargs

    try:
        trainer = DPOPTrainer(
            model=model_args.model_name_or_path,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            quantization_config=get_quantization_config(model_args),
            peft_config=get_peft_config(model_args),
        )
    except (ValueError, TypeError, OSError) as error:  # unsupported options, unloadable model
        raise PrefbuildError(f"Could not set up training: {error}") from error

    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.print(f"Model saved to {training_args.output_dir}.")
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
    if hasattr(trainer, "end"):  # transformers >= 5.18: finish trackers and destroy the process group
        trainer.end()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
