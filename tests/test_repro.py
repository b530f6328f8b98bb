"""`prefbuild repro`: the toy data, the statistics, the claims and their rendering, the deprecated aliases, and the
whole experiment end to end in the reduced CI configuration with 2 seeds."""

import importlib
import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from prefbuild.build import build_dataset
from prefbuild.errors import PrefbuildError
from prefbuild.repro import CI, ReproConfig, run_repro
from prefbuild.repro.claims import CLAIMS, FAILS, HOLDS, INCONCLUSIVE, Claim, evaluate_claims, verdict
from prefbuild.repro.measure import bootstrap_spearman, measured, spearman, t_quantile
from prefbuild.repro.predictor import chosen_logp_fall, drop_top_by, predictor_correlations
from prefbuild.repro.problems import MIN_INTERMEDIATE, make_problems
from prefbuild.repro.report import render_claim, render_report

METHOD_FIGURES = {"chosen_logp", "after_edit_mean", "accuracy", "trajectory"}


# --- the toy data ---------------------------------------------------------------------------------------------


def _pairs(tmp_path, problems, eval_size=10):
    source = tmp_path / "problems.jsonl"
    source.write_text("".join(json.dumps(p.as_metamath_row()) + "\n" for p in problems))
    report = build_dataset(
        "metamath", source=str(source), out=tmp_path / "pairs", options={"eval_size": eval_size}, plot=False
    )
    from prefbuild.folder import open_pairs

    return report, open_pairs(tmp_path / "pairs").datasets()


def test_every_toy_problem_becomes_a_one_number_pair_with_the_metamath_builder(tmp_path):
    problems = make_problems(1, 60)
    report, _ = _pairs(tmp_path, problems)
    splits = report.stats.splits
    assert splits["train"].pairs + splits["eval"].pairs == 60
    assert not splits["train"].skipped and not splits["eval"].skipped


def test_the_builder_corrupts_a_true_intermediate_result_never_the_final_step(tmp_path):
    problems = make_problems(0, 300)
    assert all(len(problem.intermediate_results) >= MIN_INTERMEDIATE for problem in problems)
    by_query = {problem.query: problem for problem in problems}
    _, pairs = _pairs(tmp_path, problems)
    checked = 0
    for split in pairs.values():
        for row in split:
            problem = by_query[row["prompt"]]
            # the corrupted number is the result (right of `=`) of a calculation line before the last one
            calculations = [line for line in row["chosen"].split("\n") if " = " in line]
            line_start = row["chosen"].rfind("\n", 0, row["span_start"]) + 1
            line = row["chosen"][line_start : row["chosen"].find("\n", row["span_start"])]
            assert row["tier"] != "final_result", row
            assert line in calculations[:-1], (line, calculations)
            assert row["chosen"][row["span_start"] - 2 : row["span_start"]] == "= "
            assert int(row["original_value"]) in problem.intermediate_results
            assert int(row["original_value"]) != problem.answer
            assert row["rejected"].endswith(f"\n#### {problem.answer}\nThe answer is: {problem.answer}")
            checked += 1
    assert checked == 300


def test_config_is_validated():
    with pytest.raises(PrefbuildError, match="Unknown method"):
        ReproConfig(methods=("dpo", "kto"))
    with pytest.raises(PrefbuildError, match="`seeds` must be >= 1, got 0"):
        ReproConfig(seeds=0)
    with pytest.raises(PrefbuildError, match="predictor study needs 'dpo'"):
        ReproConfig(methods=("dpop",))
    assert ReproConfig().seeds == 3 and ReproConfig(seed=5, seeds=2).seed_list == [5, 6]


# --- statistics -----------------------------------------------------------------------------------------------


def test_spearman_against_hand_computed_values():
    # ranks of x: 1, 2, 3, 4; of y: 2, 1, 4, 3 → d² = 1+1+1+1 = 4; ρ = 1 − 6·4 / (4·15) = 0.6
    assert spearman([1, 2, 3, 4], [20, 10, 40, 30]) == pytest.approx(0.6)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ties get their average rank: x ranks 1.5, 1.5, 3; y ranks 1, 2, 3 → Pearson of the ranks
    assert spearman([5, 5, 9], [1, 2, 3]) == pytest.approx(np.corrcoef([1.5, 1.5, 3], [1, 2, 3])[0, 1])
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant side: undefined
    assert spearman([1, 2, 3], [10, 20, 25]) == pytest.approx(1.0)  # monotone, not linear


def test_t_interval_over_seeds_by_hand():
    result = measured([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.303 → ± 4.303 / √3
    assert result["mean"] == 2.0 and result["sd"] == pytest.approx(1.0) and result["n"] == 3
    assert result["ci95"] == pytest.approx([2 - 4.303 / 3**0.5, 2 + 4.303 / 3**0.5])
    assert t_quantile(1) == 12.706 and t_quantile(200) == 1.96
    one = measured([0.5])
    assert one["mean"] == 0.5 and one["sd"] is None and one["ci95"] is None
    assert measured([None, 1.0, 3.0])["n"] == 2


def test_bootstrap_interval_is_seeded_and_contains_rho():
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    first = bootstrap_spearman(x, y, seed=3, resamples=300)
    assert first == bootstrap_spearman(x, y, seed=3, resamples=300)
    low, high = first["ci95"]
    assert low < first["rho"] < high and 0.3 < first["rho"] < 0.9 and first["pairs"] == 80


def test_drop_top_by_keeps_order_and_drops_the_highest():
    kept, dropped = drop_top_by([0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.4, 0.6, 0.8, 0.05, 0.95], 0.1)
    assert dropped == [1, 10]  # ceil(0.1 · 11) = 2 highest: 0.95 and 0.9
    assert kept == [0, 2, 3, 4, 5, 6, 7, 8, 9]


def test_predictor_correlations_use_the_fall_of_the_chosen_log_prob():
    from prefbuild.analysis.logprobs import PairLogprobs

    def scored(chosen_sums):
        return [PairLogprobs(np.array([value / 2, value / 2]), np.array([0.0]), 0) for value in chosen_sums]

    reference, policy = scored([-1.0, -2.0, -3.0, -4.0]), scored([-1.5, -2.1, -5.0, -4.5])
    assert chosen_logp_fall(reference, policy) == pytest.approx([0.5, 0.1, 2.0, 0.5])
    study = predictor_correlations(
        reference, policy, {"ches": [2.0, 1.0, 4.0, 3.0], "edit_distance_char": [0.3, 0.4, 0.1, 0.2]},
        seed=0, resamples=50,
    )  # fmt: skip
    assert study["spearman"]["ches"]["rho"] == pytest.approx(spearman([2, 1, 4, 3], [0.5, 0.1, 2.0, 0.5]))
    assert study["spearman"]["edit_distance_char"]["rho"] < 0
    assert study["fall_mean"] == pytest.approx(0.775)


# --- claims and their rendering -------------------------------------------------------------------------------


def test_verdicts_come_from_the_interval_and_the_tolerance():
    def numbers(mean, low, high):
        return {"mean": mean, "ci95": [low, high]}

    assert verdict("<", -0.1, numbers(-0.5, -0.8, -0.2)) == HOLDS
    assert verdict("<", -0.1, numbers(-0.05, -0.09, -0.01)) == FAILS  # a fall smaller than the tolerance
    assert verdict("<", -0.1, numbers(-0.3, -0.6, 0.1)) == INCONCLUSIVE
    assert verdict(">", -0.1, numbers(0.0, -0.05, 0.05)) == HOLDS
    assert verdict(">", -0.1, {"mean": -0.2, "ci95": None}) == FAILS  # one seed: the mean's side


def _measured_results(dpo_changes, dpop_changes):
    """The parts of a results dict the DPO / DPOP claims read, with the given per-seed changes."""
    return {
        "seeds": list(range(len(dpo_changes))),
        "changes": {
            "dpo": {"chosen_logp": measured(dpo_changes)},
            "dpop": {"chosen_logp": measured(dpop_changes)},
        },
    }


def test_a_failing_claim_shows_its_numbers():
    results = _measured_results([-2.0, -2.5, -1.5], [-1.0, -1.2, -0.8])
    claims = {claim["id"]: claim for claim in evaluate_claims(results)}
    assert set(claims) == {"dpo_lowers_chosen", "dpop_keeps_chosen"}  # the others were not measured
    assert claims["dpo_lowers_chosen"]["verdict"] == HOLDS
    dpop = claims["dpop_keeps_chosen"]
    assert dpop["verdict"] == FAILS and dpop["values"] == [-1.0, -1.2, -0.8]
    line = render_claim(dpop)
    assert "**fails**" in line
    for number in ("-1.000 ± 0.200", "-1.497, -0.503", "-1.000, -1.200, -0.800", "> -0.100", "tolerance 0.1"):
        assert number in line, (number, line)
    # the same template renders every verdict: only the numbers and the verdict word differ
    held = render_claim(claims["dpo_lowers_chosen"])
    assert held.split(":")[0] == "- DPO lowers the chosen completion's log-prob below the reference's"


def test_claims_are_data_not_prose_chosen_by_matching():
    ids = [claim.id for claim in CLAIMS]
    assert len(ids) == len(set(ids))
    assert all(isinstance(claim, Claim) and claim.relation in "<>" and claim.tolerance > 0 for claim in CLAIMS)
    assert all(abs(claim.bound) == pytest.approx(claim.tolerance) for claim in CLAIMS)
    import inspect

    from prefbuild.repro import report

    assert "startswith" not in inspect.getsource(report)


# --- deprecated aliases ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("prefbuild.analysis.repro", "prefbuild.repro.run"),
        ("prefbuild.analysis.report", "prefbuild.repro.report"),
        ("prefbuild.analysis.problems", "prefbuild.repro.problems"),
    ],
)
def test_old_import_paths_are_deprecated_aliases(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; import {new} instead"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_old_names_still_import():
    from prefbuild.analysis.problems import make_problems as old_make_problems
    from prefbuild.analysis.report import write_report as old_write_report
    from prefbuild.analysis.repro import CI as old_ci
    from prefbuild.analysis.repro import run_repro as old_run_repro
    from prefbuild.repro import write_report

    assert old_ci is CI and old_run_repro is run_repro
    assert old_make_problems is make_problems and old_write_report is write_report


# --- end to end -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_repro_end_to_end_in_the_ci_configuration_with_2_seeds(tmp_path, run_cli):
    config = CI
    assert config.seeds == 2
    results = run_repro(tmp_path / "repro", config, progress=False)

    on_disk = json.loads((tmp_path / "repro" / "results.json").read_text())
    assert on_disk["schema"] == 2 and on_disk["seeds"] == [0, 1]
    assert on_disk["methods"].keys() == {"dpo", "dpop", "ipo", "slic", "rpo", "dpop_sft"}
    # every figure is measured over the 2 seeds: mean, sd and a t-interval around the mean
    for figures in [on_disk["reference"], *on_disk["methods"].values(), *on_disk["changes"].values()]:
        for name in ("chosen_logp", "after_edit_mean", "accuracy"):
            figure = figures[name]
            assert figure["n"] == 2 and len(figure["values"]) == 2, name
            assert figure["ci95"][0] <= figure["mean"] <= figure["ci95"][1]
            assert figure["mean"] == pytest.approx(np.mean(figure["values"]))
    change = on_disk["changes"]["dpo"]["chosen_logp"]["values"]
    assert change == pytest.approx(
        [run["methods"]["dpo"]["chosen_logp"] - run["reference"]["chosen_logp"] for run in on_disk["per_seed"]]
    )
    for run in on_disk["per_seed"]:
        for method, row in run["methods"].items():
            assert METHOD_FIGURES <= row.keys(), method
            assert 0.0 <= row["accuracy"] <= 1.0
            steps = [point["step"] for point in row["trajectory"]]
            assert steps[0] == 0 and steps[-1] == config.pref_steps
        # every method starts from the reference: step 0 of its trajectory scores like the reference model
        start = run["methods"]["dpo"]["trajectory"][0]["eval"]["chosen_logp"]
        for row in run["methods"].values():
            assert row["trajectory"][0]["eval"]["chosen_logp"] == pytest.approx(start, abs=1e-3)
        assert run["data"]["low_edit_distance"]["char"] < run["data"]["high_edit_distance"]["char"]
        assert "final_result" not in run["data"]["low_edit_tiers"]["train"]
        drop, train_pairs = run["predictor"]["drop_top_ches"], run["data"]["low_edit"]["train"]
        assert (
            drop["dropped_pairs"] == -(-train_pairs // 10)
            and drop["train_pairs"] + drop["dropped_pairs"] == train_pairs
        )
    # the predictor study: every predictor's ρ per seed (bootstrap interval) and over seeds
    predictor = on_disk["predictor"]
    assert set(predictor["spearman"]) == {
        "ches", "ches_normalized", "edit_distance_char", "edit_distance_word", "edit_distance_token"
    }  # fmt: skip
    for per_seed in predictor["per_seed"]:
        for one in per_seed["spearman"].values():
            assert one["pairs"] == config.pref_eval_pairs
            assert one["rho"] is None or -1 <= one["rho"] <= 1
    assert predictor["drop_top_ches"]["chosen_logp_vs_dpo"]["n"] == 2
    # claims: each with its numbers and a verdict from the interval
    claim_ids = {claim["id"] for claim in on_disk["claims"]}
    assert {"dpo_lowers_chosen", "dpop_keeps_chosen", "rpo_keeps_chosen", "ches_predicts_fall"} <= claim_ids
    assert all(claim["verdict"] in (HOLDS, FAILS, INCONCLUSIVE) and claim["interval"] for claim in on_disk["claims"])
    assert results["methods"]["dpop"]["chosen_logp"] == on_disk["methods"]["dpop"]["chosen_logp"]
    for name in ("report.md", "token_logprobs.png", "trajectories.png", "accuracy.png"):
        assert (tmp_path / "repro" / name).stat().st_size > 0
    report_text = (tmp_path / "repro" / "report.md").read_text()
    assert report_text == render_report(on_disk)  # the report is a pure function of results.json
    assert "| reference (SFT) |" in report_text and "±" in report_text and "{" not in report_text.split("## ")[1]
    for claim in on_disk["claims"]:
        assert render_claim(claim) in report_text

    # the models it writes are ordinary folders that `prefbuild analyze` reads
    code, out, err = run_cli(
        "analyze", "--model", tmp_path / "repro" / "seeds" / "seed-0" / "models" / "dpo", "--data",
        tmp_path / "repro" / "seeds" / "seed-0" / "data" / "low_edit", "--limit", "4", "--out", tmp_path / "analysis",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "analysis" / "analysis.json").read_text())["pairs"] == 4

    # a second run into the same folder is refused without --overwrite
    with pytest.raises(PrefbuildError, match="exists and is not empty"):
        run_repro(tmp_path / "repro", replace(config, seeds=1), progress=False)


def test_a_failed_overwrite_keeps_the_old_folder_and_leaves_no_sibling(tmp_path, monkeypatch):
    from prefbuild.repro import run as repro

    out = tmp_path / "repro"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}\n')

    def fail_halfway(work, config, *, progress):
        (work / "results.json").write_text('{"half": true}\n')
        raise RuntimeError("interrupted")

    monkeypatch.setattr(repro, "_run_repro_into", fail_halfway)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_repro(out, CI, overwrite=True, progress=False)
    assert (out / "results.json").read_text() == '{"old": true}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repro"]

    def succeed(work, config, *, progress):
        (work / "results.json").write_text('{"new": true}\n')
        return {"new": True}

    monkeypatch.setattr(repro, "_run_repro_into", succeed)
    assert run_repro(out, CI, overwrite=True, progress=False) == {"new": True}
    assert sorted(path.name for path in out.iterdir()) == ["results.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repro"]


def test_cli_refuses_fewer_than_one_seed(run_cli, tmp_path):
    code, out, err = run_cli("repro", "--quick", "--seeds", "0", "--out", tmp_path / "r")
    assert code == 1 and out == ""
    assert err == "Error: --seeds must be >= 1, got 0. Use 3 (the default) or more: 1 seed gives no interval.\n"
    code, out, err = run_cli("repro", "--quick", "--jobs", "0", "--out", tmp_path / "r")
    assert code == 1 and err == "Error: --jobs must be >= 1, got 0. Use 1 to run the seeds one after another.\n"
    assert not (tmp_path / "r").exists()


def test_the_moved_scoring_tools_keep_their_old_names():
    from prefbuild.analysis import scoring
    from prefbuild.analysis.repro import region_split, score_pairs

    assert region_split is scoring.region_split and score_pairs is scoring.score_pairs
