"""Byte-identity guard: build every sample and fixture set with fixed seeds and print one digest per folder.

Run it on two commits and compare: a refactoring that should not change what prefbuild writes must print the same
digests. Every file of every folder is hashed (shards, stats.json, README.md, edit_distance.png), and the text
`prefbuild stats` prints for some of them.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python benchmarks/byte_identity.py --json /tmp/after.json
    # the same on the previous commit (a temporary worktree), then:
    python benchmarks/byte_identity.py --compare /tmp/before.json /tmp/after.json

Everything goes through the command line (`prefbuild.cli.main`), the interface least likely to move, inside one
temporary folder, so recorded commands and paths are the same on every run. PNG bytes depend on matplotlib and
parquet bytes on pyarrow: compare runs made with the same installed versions (printed under `versions`).
`--quick` builds only the package samples (what tests/test_byte_identity.py pins).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SAMPLES = REPO / "prefbuild" / "samples"
BENCHMARKS = "gsm8k,math,arc_challenge,hellaswag"
VERSIONS = ("datasets", "pyarrow", "matplotlib", "numpy", "rapidfuzz", "huggingface_hub", "jinja2")

PINS_COMMENT = (
    "Digests of the package samples built by `python benchmarks/byte_identity.py --quick` (identical at 9f70f55, "
    "before #15, and after it). A change that alters what prefbuild writes fails tests/test_byte_identity.py; if "
    "the change is intended, regenerate with `python benchmarks/byte_identity.py --quick --pins "
    "tests/fixtures/byte_identity_samples.json` and say why in the commit."
)
MIX_CONFIG = """\
name: tiny
seed: 0
sources:
  - {{name: arc, source: {arc}, weight: 1.0}}
  - {{name: hellaswag, source: {hellaswag}, weight: 5}}
  - {{name: orca, source: {mix}/orca, schema: Intel/orca_dpo_pairs, weight: 0.5}}
  - {{name: truthy, source: {mix}/truthy, schema: jondurbin/truthy-dpo-v0.1}}
  - name: ultrafeedback
    source: {mix}/ultrafeedback
    schema: HuggingFaceH4/ultrafeedback_binarized
    weight: 3
    eval_weight: 1.0
"""


def file_bytes(path: Path) -> bytes:
    """A file's bytes; in stats.json the decontamination report's `seconds` (wall-clock timings, different on
    every run, which commits before #15 wrote) are left out first."""
    data = path.read_bytes()
    if path.name == "stats.json":
        stats = json.loads(data)
        if isinstance(stats.get("decontamination"), dict) and "seconds" in stats["decontamination"]:
            del stats["decontamination"]["seconds"]
            data = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode()
    return data


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative POSIX path -> hex digest), in path order."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(file_bytes(path)).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def combined(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{name} {digest}\n" for name, digest in files.items()).encode()).hexdigest()


def run(*argv: str) -> str:
    """Run one prefbuild command in this process; its stdout, or SystemExit with the command on failure."""
    from prefbuild.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(argv))
    if code:
        raise SystemExit(f"prefbuild {' '.join(argv)} exited with {code}")
    return buffer.getvalue()


def sample_commands() -> list[tuple[str, list[str]]]:
    from prefbuild.demo import DEMO_OPTIONS

    commands = []
    for name in sorted(path.name for path in SAMPLES.iterdir() if path.is_dir()):
        options = DEMO_OPTIONS.get(name, {})
        flags = [item for key, value in options.items() for item in ("--" + key.replace("_", "-"), str(value))]
        commands.append((f"samples/{name}", ["build", name, "--source", str(SAMPLES / name), *flags]))
    return commands


def fixture_commands() -> list[tuple[str, list[str]]]:
    data = ["--decontaminate-data-dir", "benchmarks"]  # relative: the report records where benchmarks were read
    return [
        ("arc", ["build", "arc", "--source", str(FIXTURES / "arc")]),
        ("hellaswag", ["build", "hellaswag", "--source", str(FIXTURES / "hellaswag")]),
        ("gsm8k", ["build", "gsm8k", "--source", str(FIXTURES / "gsm8k"), "--seed", "3"]),
        ("metamath", ["build", "metamath", "--source", str(FIXTURES / "metamath"), "--seed", "1", "--eval-size", "3"]),
        (
            "metamath_types",
            ["build", "metamath", "--source", str(FIXTURES / "metamath_types"), "--eval-size", "2", "--no-plot"],
        ),
        (
            "arc_conversational",
            ["build", "arc", "--source", str(FIXTURES / "arc"), "--format", "conversational", "--system-prompt", "Hi"],
        ),
        ("arc_few_shot", ["build", "arc", "--source", str(FIXTURES / "arc"), "--few-shot", "1", "--no-plot"]),
        ("gsm8k_tokens", ["build", "gsm8k", "--source", str(FIXTURES / "gsm8k"), "--tokenizer", "tiny-model"]),
        (
            "gsm8k_decontaminated",
            ["build", "gsm8k", "--source", str(FIXTURES / "gsm8k"), "--decontaminate", BENCHMARKS, *data],
        ),
        (
            "arc_decontaminate_drop",
            [
                "build",
                "arc",
                "--source",
                str(FIXTURES / "arc"),
                "--decontaminate",
                BENCHMARKS,
                "--decontaminate-drop",
                *data,
            ],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the digests as JSON")
    parser.add_argument("--quick", action="store_true", help="only the package samples")
    parser.add_argument("--files", action="store_true", help="print every file's digest, not only each folder's")
    parser.add_argument("--pins", metavar="FILE", help="write the per-file digests in the form tests pin them")
    parser.add_argument("--keep", metavar="DIR", help="build into DIR (must not exist) and keep it")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two --json files")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*(json.loads(Path(path).read_text()) for path in args.compare))

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    result: dict = {"versions": {name: metadata.version(name) for name in VERSIONS}, "folders": {}, "outputs": {}}
    with contextlib.ExitStack() as stack:
        if args.keep:
            Path(args.keep).mkdir(parents=True)
            root = str(Path(args.keep).resolve())
        else:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="byte-identity-"))
        previous = os.getcwd()
        os.chdir(root)  # every --out is relative: recorded commands are the same wherever this runs
        try:
            commands = sample_commands()
            if not args.quick:
                shutil.copytree(FIXTURES / "benchmarks", "benchmarks")
                run("tiny-model", "--out", "tiny-model")
                commands += fixture_commands()
            for name, command in commands:
                run(*command, "--out", name)
            if not args.quick:
                config = Path("mix.yaml")
                config.write_text(
                    MIX_CONFIG.format(
                        arc=Path("arc").resolve(), hellaswag=Path("hellaswag").resolve(), mix=FIXTURES / "mix"
                    )
                )
                run("mix", "--config", str(config), "--out", "mix")
                run("mix", "--config", str(config), "--format", "conversational", "--out", "mix_conversational")
                bench = ["--benchmarks", BENCHMARKS, "--data-dir", "benchmarks"]
                run("decontaminate", "arc", *bench, "--out", "arc_decontaminate_verb")
                run("decontaminate", "hellaswag", *bench, "--drop", "--out", "hellaswag_decontaminate_verb_drop")
                run("decontaminate", "mix", *bench, "--drop", "--out", "mix_decontaminate_verb_drop")
                for name in ("arc", "gsm8k_tokens", "mix"):
                    result["outputs"][f"stats {name}"] = run("stats", name)
                    result["outputs"][f"stats {name} --json"] = run("stats", name, "--json")
            for folder in sorted(path.parent for path in Path(".").rglob("stats.json")):
                files = folder_digest(folder)
                result["folders"][folder.as_posix()] = {"digest": combined(files), "files": files}
        finally:
            os.chdir(previous)
    for name, value in result["outputs"].items():
        result["outputs"][name] = hashlib.sha256(value.replace(root, "ROOT").encode()).hexdigest()
    print("versions: " + ", ".join(f"{name} {version}" for name, version in result["versions"].items()))
    for name, facts in result["folders"].items():
        print(f"{facts['digest']}  {name}/")
        if args.files:
            for path, digest in facts["files"].items():
                print(f"    {digest}  {path}")
    for name, digest in result["outputs"].items():
        print(f"{digest}  `prefbuild {name}` output")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.pins:
        pins = {
            "comment": PINS_COMMENT,
            "versions": result["versions"],
            "folders": {name: facts["files"] for name, facts in result["folders"].items()},
        }
        Path(args.pins).write_text(json.dumps(pins, indent=2) + "\n")
    return 0


def compare(before: dict, after: dict) -> int:
    """Print what differs between two --json runs; exit status 1 when anything does."""
    if before["versions"] != after["versions"]:
        print(f"warning: different library versions: {before['versions']} vs {after['versions']}")
    differences = 0
    for name in sorted(set(before["folders"]) | set(after["folders"])):
        old, new = before["folders"].get(name), after["folders"].get(name)
        if old is None or new is None:
            print(f"{name}/: only in {'after' if old is None else 'before'}")
            differences += 1
            continue
        for path in sorted(set(old["files"]) | set(new["files"])):
            if old["files"].get(path) != new["files"].get(path):
                print(f"{name}/{path}: differs")
                differences += 1
    for name in sorted(set(before["outputs"]) | set(after["outputs"])):
        if before["outputs"].get(name) != after["outputs"].get(name):
            print(f"`prefbuild {name}` output: differs")
            differences += 1
    folders, outputs = len(after["folders"]), len(after["outputs"])
    print(
        f"{folders} folders, {outputs} command outputs: "
        + ("identical" if not differences else f"{differences} differences")
    )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
