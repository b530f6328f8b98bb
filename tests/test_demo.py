"""`prefbuild demo`: the sample sources shipped in the package, and the demo end to end."""

import json

import pytest

from prefbuild.builders import BUILDERS
from prefbuild.demo import DEMO_SETS, SAMPLES
from prefbuild.sources import load_source
from tests.conftest import REPO


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", DEMO_SETS)
def test_samples_are_small_and_in_the_real_schema(name):
    builder = BUILDERS[name]
    splits = load_source(str(SAMPLES / name))
    assert set(splits) <= set(builder.split_map)
    for split in splits.values():
        assert 5 <= len(split) <= 50  # tens of rows: enough to show skips and statistics, small in a wheel
        assert set(builder.required_fields) <= set(split.column_names)
    assert sum(path.stat().st_size for path in (SAMPLES / name).iterdir()) < 20_000


def test_demo_without_training(tmp_path, run_cli):
    code, out, err = run_cli("demo", "--out", tmp_path / "demo", "--no-train")
    assert code == 0, err
    for name in DEMO_SETS:
        folder = tmp_path / "demo" / name
        assert "== " in out and f"Build {name} from the package's sample rows" in out
        assert _tree(tmp_path / "demo" / "push-dry-run" / name) == _tree(folder)
        stats = json.loads((folder / "stats.json").read_text())
        assert all(split["pairs"] > 0 for split in stats["splits"].values())
    assert "licence cc-by-sa-4.0" in out and "licence mit" in out
    assert "CommitOperationAdd data/train-00000-of-00001.parquet" in out
    assert (tmp_path / "demo" / "mix" / "stats.json").is_file()
    assert not (tmp_path / "demo" / "dpop-tiny").exists()
    mix = json.loads((tmp_path / "demo" / "mix" / "stats.json").read_text())
    assert mix["command"] == "prefbuild demo --no-train --out demo"  # a command, not "prefbuild demo (mixture step)"

    code, _, err = run_cli("demo", "--out", tmp_path / "demo", "--no-train")
    assert (code, err) == (
        1,
        f"Error: Demo folder '{tmp_path / 'demo'}' already exists. Pass --overwrite or choose --out.\n",
    )


@pytest.mark.slow  # imports torch / TRL and trains: ~15-40 s on the 2-core CPU machine
def test_demo_end_to_end(tmp_path, run_cli):
    code, out, err = run_cli("demo", "--out", tmp_path / "demo")
    assert code == 0, err
    assert "== Train 3 DPOP steps on the tiny model" in out
    assert (tmp_path / "demo" / "dpop-tiny" / "model.safetensors").is_file()
    assert out.splitlines()[-1].startswith("Next: ")


def test_the_rebuild_command_in_a_demo_card_rebuilds_it_byte_for_byte(tmp_path, monkeypatch, run_cli):
    """The ARC card from the demo says `prefbuild build arc --source prefbuild/samples/arc --out arc`; run from a
    checkout, that command writes the same files, card, stats.json and histogram included."""
    from prefbuild.demo import run_demo

    run_demo(tmp_path / "demo", train=False, echo=lambda line: None)
    recorded = json.loads((tmp_path / "demo" / "arc" / "stats.json").read_text())["command"]
    assert recorded == "prefbuild build arc --source prefbuild/samples/arc --out arc"
    monkeypatch.chdir(REPO)
    argv = recorded.split()[1:-1] + [str(tmp_path / "arc")]  # the same command, writing outside the checkout
    code, _, err = run_cli(*argv)
    assert code == 0, err
    assert _tree(tmp_path / "arc") == _tree(tmp_path / "demo" / "arc")
