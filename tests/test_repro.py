"""`prefbuild repro` end to end in the reduced CI configuration, and the pieces it is made of."""

import json
from dataclasses import replace

import pytest

from prefbuild.analysis.problems import make_problems
from prefbuild.analysis.repro import CI, ReproConfig, run_repro
from prefbuild.build import build_dataset
from prefbuild.errors import PrefbuildError

METHOD_KEYS = {"chosen_logp", "after_edit_logp", "accuracy", "trajectory"}


def test_every_toy_problem_becomes_a_one_number_pair_with_the_metamath_builder(tmp_path):
    source = tmp_path / "problems.jsonl"
    problems = make_problems(1, 60)
    source.write_text("".join(json.dumps(p.as_metamath_row()) + "\n" for p in problems))
    report = build_dataset(
        "metamath", source=str(source), out=tmp_path / "pairs", options={"eval_size": 10}, plot=False
    )
    splits = report.stats["splits"]
    assert splits["train"]["pairs"] + splits["eval"]["pairs"] == 60
    assert not splits["train"]["skipped"] and not splits["eval"]["skipped"]


def test_unknown_method_is_refused():
    with pytest.raises(PrefbuildError, match="Unknown method"):
        ReproConfig(methods=("dpo", "kto"))


@pytest.mark.slow
def test_repro_end_to_end_in_the_ci_configuration(tmp_path, run_cli):
    config = replace(CI, control_methods=("dpo",))
    results = run_repro(tmp_path / "repro", config, progress=False, log=lambda message: None)

    on_disk = json.loads((tmp_path / "repro" / "results.json").read_text())
    assert on_disk["methods"].keys() == {"dpo", "dpop", "ipo", "slic"}
    for key in ("chosen_logp", "after_edit_logp", "accuracy"):
        assert isinstance(on_disk["reference"][key], float)
    for method, row in on_disk["methods"].items():
        assert METHOD_KEYS <= row.keys(), method
        assert isinstance(row["chosen_logp"], float) and isinstance(row["after_edit_logp"], float)
        assert 0.0 <= row["accuracy"] <= 1.0
        steps = [point["step"] for point in row["trajectory"]]
        assert steps[0] == 0 and steps[-1] == config.pref_steps
        assert {"chosen_logp", "rejected_logp"} <= row["trajectory"][-1]["eval"].keys()
    # every method starts from the reference: step 0 of its trajectory scores like the reference model
    reference_trajectory = on_disk["methods"]["dpo"]["trajectory"][0]["eval"]["chosen_logp"]
    for row in on_disk["methods"].values():
        assert row["trajectory"][0]["eval"]["chosen_logp"] == pytest.approx(reference_trajectory, abs=1e-3)
    assert on_disk["control"]["high_edit"]["dpo"]["chosen_logp"] is not None
    assert on_disk["data"]["low_edit_distance"]["char"] < on_disk["data"]["high_edit_distance"]["char"]
    assert results["methods"]["dpop"]["chosen_logp"] == on_disk["methods"]["dpop"]["chosen_logp"]
    for name in ("report.md", "token_logprobs.png", "trajectories.png", "accuracy.png"):
        assert (tmp_path / "repro" / name).stat().st_size > 0
    assert "| reference (SFT) |" in (tmp_path / "repro" / "report.md").read_text()

    # the models it writes are ordinary folders that `prefbuild analyze` reads
    code, out, err = run_cli(
        "analyze", "--model", tmp_path / "repro" / "models" / "dpo", "--data", tmp_path / "repro" / "data" /
        "low_edit", "--limit", "4", "--out", tmp_path / "analysis",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "analysis" / "analysis.json").read_text())["pairs"] == 4

    # a second run into the same folder is refused without --overwrite
    with pytest.raises(PrefbuildError, match="exists and is not empty"):
        run_repro(tmp_path / "repro", config, progress=False)


def test_a_failed_overwrite_keeps_the_old_folder_and_leaves_no_sibling(tmp_path, monkeypatch):
    from prefbuild.analysis import repro

    out = tmp_path / "repro"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}\n')

    def fail_halfway(work, config, *, progress, log):
        (work / "results.json").write_text('{"half": true}\n')
        raise RuntimeError("interrupted")

    monkeypatch.setattr(repro, "_run_repro_into", fail_halfway)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_repro(out, CI, overwrite=True, progress=False)
    assert (out / "results.json").read_text() == '{"old": true}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repro"]

    def succeed(work, config, *, progress, log):
        (work / "results.json").write_text('{"new": true}\n')
        return {"new": True}

    monkeypatch.setattr(repro, "_run_repro_into", succeed)
    assert run_repro(out, CI, overwrite=True, progress=False) == {"new": True}
    assert sorted(path.name for path in out.iterdir()) == ["results.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repro"]
