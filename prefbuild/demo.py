"""`prefbuild demo`: the whole job on small sample sources shipped inside the package, offline, on the CPU.

Builds MetaMath, ARC and HellaSwag preference sets from prefbuild/samples/ (rows we wrote, in the real Hub
schemas), prints their statistics, checks and shows their cards, dry-runs a push of each, mixes them, and trains
a few DPOP steps on a tiny randomly initialised model. Everything lands under one folder (default `runs/demo/`,
which .gitignore already ignores). Settings are passed as arguments, so nothing outside the package is needed.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefbuild.errors import PrefbuildError

SAMPLES = Path(__file__).parent / "samples"
DEMO_SETS = ("metamath", "arc", "hellaswag")
DEMO_OPTIONS = {"metamath": {"eval_size": 5}}  # MetaMathQA has one split: hold 5 of the 24 sample rows out
DEMO_REPO_ORG = "your-name"  # only printed in the dry-run push; nothing is sent
TRAIN_SET = "metamath"  # small edit distances: the case DPOP was made for
# The mixture is made in code, so the command that rebuilds it (into demo/mix) is the demo itself
DEMO_COMMAND = "prefbuild demo --no-train --out demo"

# DPOP on the tiny model, as in recipes/tiny/dpop.yaml (β = 0.3, λ = 50), cut to a few steps.
TRAIN_SETTINGS = {
    "loss_type": "dpop",
    "beta": "0.3",
    "dpop_lambda": "50.0",
    "dtype": "float32",
    "use_cpu": "true",
    "bf16": "false",
    "max_length": "256",
    "per_device_train_batch_size": "4",
    "gradient_accumulation_steps": "1",
    "learning_rate": "1.0e-3",
    "lr_scheduler_type": "constant",
    "logging_steps": "1",
    "eval_strategy": "no",
    "save_strategy": "no",
    "report_to": "none",
    "disable_tqdm": "true",
    "seed": "42",
}


@dataclass
class DemoReport:
    """out: the demo folder.  sets: builder name -> built folder.  dry_runs: name -> dry-run folder.
    mix: the mixed folder.  model: the trained model's folder (None without training).  seconds: per step."""

    out: Path
    sets: dict[str, Path] = field(default_factory=dict)
    dry_runs: dict[str, Path] = field(default_factory=dict)
    mix: Path | None = None
    model: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def sample_name(name: str) -> str:
    """How cards name a sample source: its path in a prefbuild checkout (and in the installed package)."""
    return f"prefbuild/samples/{name}"


def sample_source(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_dir():
        raise PrefbuildError(f"The package has no sample source for '{name}' (looked in {path}).")
    return path


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise PrefbuildError(f"Demo folder '{out}' already exists. Pass --overwrite or choose --out.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def train_arguments(model: Path, dataset: Path, output_dir: Path, max_steps: int) -> list[str]:
    """The `prefbuild train` command line the demo runs (no recipe file: wheels do not ship recipes/)."""
    settings = {
        "model_name_or_path": str(model),
        "dataset_name": str(dataset),
        "output_dir": str(output_dir),
        "max_steps": str(max_steps),
        **TRAIN_SETTINGS,
    }
    return [item for key, value in settings.items() for item in (f"--{key}", value)]


def run_demo(
    out: str | Path = "runs/demo",
    *,
    overwrite: bool = False,
    train: bool = True,
    max_steps: int = 3,
    echo: Callable[[str], Any] = print,
) -> DemoReport:
    """Run the demo into `out` and narrate each step through `echo`."""
    from prefbuild.build import build_dataset
    from prefbuild.builders import BUILDERS
    from prefbuild.cards import check_card
    from prefbuild.folder import FolderStats
    from prefbuild.hub import push_folder
    from prefbuild.mix import MixConfig, MixEntry, mix_datasets
    from prefbuild.stats import render_summary

    begun = time.perf_counter()
    out = Path(out)
    _prepare(out, overwrite)
    report = DemoReport(out=out)
    names = [name for name in DEMO_SETS if name in BUILDERS]

    for number, name in enumerate(names, 1):
        started = time.perf_counter()
        source, folder = sample_source(name), out / name
        options = DEMO_OPTIONS.get(name, {})
        flags = [item for key, value in options.items() for item in ("--" + key.replace("_", "-"), str(value))]
        command = shlex.join(["prefbuild", "build", name, "--source", str(source), "--out", str(folder), *flags])
        echo(f"\n== {number}. Build {name} from the package's sample rows\n$ {command}")
        # What the card and stats.json record: the samples' path in a prefbuild checkout, no local paths
        recorded = shlex.join(["prefbuild", "build", name, "--source", sample_name(name), "--out", name, *flags])
        built = build_dataset(
            name, source=str(source), out=folder, options=options, command=recorded, source_name=sample_name(name)
        )
        echo(render_summary(built.stats))
        report.sets[name] = folder
        report.seconds[f"build {name}"] = time.perf_counter() - started

    echo("\n== Dataset cards (README.md of each folder; YAML checked with huggingface_hub)")
    for folder in report.sets.values():
        card = (folder / "README.md").read_text(encoding="utf-8")
        data = check_card(card, where=str(folder / "README.md"))
        title = next(line for line in card.split("\n---\n", 1)[1].splitlines() if line.startswith("# "))
        pairs = FolderStats.load(folder).pairs
        echo(f"{folder / 'README.md'}: {title[2:]} | licence {data.license} | {pairs} pairs | {len(card):,} chars")

    echo("\n== Dry-run push (nothing leaves this machine)")
    for name, folder in report.sets.items():
        started = time.perf_counter()
        target = out / "push-dry-run" / name
        repo_id = f"{DEMO_REPO_ORG}/{name}-dpop"
        echo(f"$ prefbuild push {folder} --repo-id {repo_id} --dry-run {target}")
        result = push_folder(folder, repo_id, dry_run=target)
        for path in result.plan.files:
            echo(f"  CommitOperationAdd {path} ({result.plan.sizes[path]:,} bytes)")
        report.dry_runs[name] = target
        report.seconds[f"push {name}"] = time.perf_counter() - started

    started = time.perf_counter()
    echo("\n== Mix the sets (half of each, seeded), with a `source` column for provenance")
    config = MixConfig(
        name="demo", sources=[MixEntry(name, str(folder), fraction=0.5) for name, folder in report.sets.items()]
    )
    mixed = mix_datasets(config, out=out / "mix", command=DEMO_COMMAND)
    for source in FolderStats.coerce(mixed.stats).sources or []:
        taken = ", ".join(f"{split} {facts.selected}/{facts.usable_pairs}" for split, facts in source.splits.items())
        echo(f"  {source.name}: {taken}")
    report.mix = out / "mix"
    report.seconds["mix"] = time.perf_counter() - started

    if train and TRAIN_SET in report.sets:
        started = time.perf_counter()
        from prefbuild.train.run import main as train_main
        from prefbuild.train.tiny_model import write_tiny_model

        model = write_tiny_model(out / "tiny-model", seed=0)
        argv = train_arguments(model, report.sets[TRAIN_SET], out / "dpop-tiny", max_steps)
        echo(f"\n== Train {max_steps} DPOP steps on the tiny model\n$ {shlex.join(['prefbuild', 'train', *argv])}")
        train_main(argv)
        report.model = out / "dpop-tiny"
        report.seconds["train"] = time.perf_counter() - started

    echo(f"\nDone in {time.perf_counter() - begun:.0f} s. Everything is under {out}/:")
    for folder in report.sets.values():
        echo(f"  {folder}/  (cat {folder}/README.md)")
    echo(f"  {out / 'push-dry-run'}/  {out / 'mix'}/" + (f"  {report.model}/" if report.model else ""))
    echo("Next: `prefbuild build arc --out data/arc` builds from the Hub; see `prefbuild --help`.")
    return report
