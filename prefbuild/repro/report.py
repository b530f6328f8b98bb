"""report.md and the figures of `prefbuild repro`, from the results dict alone (so they can be re-rendered).

The text is one template (`REPORT_TEMPLATE`) filled with tables and lines rendered from the measured numbers; every
claim is rendered by `CLAIM_TEMPLATE` whatever its verdict, so a failing claim shows its numbers. No sentence is
chosen by looking at a claim's text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from prefbuild.analysis.plots import plot_accuracy, plot_token_curve, plot_trajectories

# The paper's Mistral-7B numbers (arXiv 2402.13228, Fig. 4 right): mean chosen per-token log-prob after the edit.
PAPER_AFTER_EDIT = {"reference": -0.37, "dpop": -0.26, "dpo": -1.82}
METHOD_LABELS = {
    "dpo": "DPO",
    "dpop": "DPOP",
    "ipo": "IPO",
    "slic": "SLiC",
    "rpo": "RPO [sigmoid, sft]",
    "dpop_sft": "[dpop, sft]",
}
PREDICTOR_LABELS = {
    "ches": "CHES",
    "ches_normalized": "normalised CHES",
    "edit_distance_char": "edit distance, characters",
    "edit_distance_word": "edit distance, words",
    "edit_distance_token": "edit distance, tokens",
}

CLAIM_TEMPLATE = (
    "- {statement}: **{verdict}**{single}. {quantity}: {mean} ± {sd}, 95 % t-interval {interval} over {n} seeds "
    "(per seed: {values}); the claim needs it {relation} {bound:+.3f} (tolerance {tolerance:g})."
)

REPORT_TEMPLATE = """# Toy reproduction of DPO's failure mode (arXiv 2402.13228)

{seed_count} seeds ({seeds}) on {device}; total {total_seconds} s wall, {cpu_seconds} s CPU. Every figure below was \
measured in this run and is given as mean ± sd over the seeds; intervals are {interval_kind}. Log-probs are in nats on \
the low-edit eval pairs ({eval_pairs} pairs per seed, from problems never seen in SFT).

## Results

{results_table}

Accuracy: exact match of the greedy `The answer is: N` on {test_problems} held-out problems per seed. Paper \
(Mistral-7B, Fig. 4 right), per-token log-prob after the edit: reference {paper_reference}, DPOP {paper_dpop}, DPO \
{paper_dpo}. Paper's accuracy pattern on MetaMath (Fig. 2): DPO and SLiC collapse, IPO stays flat, DPOP improves.

## The paper's claims, checked

A claim holds when its whole 95 % interval is on the claimed side of the bound, fails when the whole interval is \
on the other side, and is inconclusive when the interval contains the bound.

{claims}

## Predictor study: what predicts DPO's fall of the chosen log-prob?

Per low-edit eval pair, the fall is the reference's summed chosen log-prob minus DPO's (positive = the chosen \
completion became less likely; mean fall {fall_mean} nats per pair). Each predictor is computed with the reference \
model before training. Spearman's ρ between predictor and fall: mean ± sd over seeds with the 95 % t-interval, and \
each seed's ρ with its percentile-bootstrap 95 % interval over pairs ({resamples} resamples). The t-intervals of ρ \
are not clipped to [−1, 1]: with few seeds they can be wider than the range ρ can take.

{predictor_table}

{drop_top}

## Control: high-edit pairs

Rejected = the solution of a different problem (mean normalised character edit distance {high_distance} vs \
{low_distance} for the low-edit pairs).

{control_table}

## Per-token change against the reference (nats/token; negative = less likely)

{token_change_table}

## Where the chosen log-prob went (change vs reference, nats per pair, mean over seeds)

Number tokens contain a digit (operands, results, the answer); other tokens are the template's words.

{region_table}

Tokens before the edit sit in the same context in chosen and rejected, so the preference losses' direct gradients \
on them cancel: any change there comes from shared weights. The first differing token gets a direct push up in \
chosen and down in rejected. Tokens after it are the ones the paper says get wrong-way gradients (the same token \
pushed down in the rejected context and up in the near-identical chosen one).

## Figures

- `token_logprobs.png` (Fig. 4 right): mean chosen log-prob by token offset from the first differing token (mean \
over seeds).
- `trajectories.png` (Fig. 5): chosen / rejected log-probs of the eval pairs during training (mean over seeds).
- `accuracy.png` (Fig. 2): exact-match accuracy per method (mean over seeds, sd as error bars).

![token log-probs](token_logprobs.png)

![trajectories](trajectories.png)

![accuracy](accuracy.png)

## Setting

{setting}
"""


def _number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _mean_sd(measured: dict[str, Any] | None, digits: int = 3, *, sign: bool = False, scale: float = 1.0) -> str:
    """`mean ± sd` of a measured dict (just the mean with one seed)."""
    if not measured or measured.get("mean") is None:
        return "n/a"
    mean = _number(measured["mean"] * scale, digits, sign)
    if measured.get("sd") is None:
        return mean
    return f"{mean} ± {_number(measured['sd'] * scale, digits)}"


def _interval(measured: dict[str, Any], digits: int = 3, *, scale: float = 1.0) -> str:
    if not measured.get("ci95"):
        return "none (one seed)"
    low, high = measured["ci95"]
    return f"[{low * scale:+.{digits}f}, {high * scale:+.{digits}f}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def render_claim(claim: dict[str, Any]) -> str:
    """One claim line from `CLAIM_TEMPLATE` and the claim's numbers (see `prefbuild.repro.claims`)."""
    return CLAIM_TEMPLATE.format(
        statement=claim["statement"],
        verdict=claim["verdict"],
        single="" if claim["interval"] else " (one seed: the mean's side, no interval)",
        quantity=claim["quantity"],
        mean=_number(claim["mean"], 3, sign=True),
        sd=_number(claim["sd"], 3),
        interval=_interval(claim),
        n=claim["n"],
        values=", ".join(f"{value:+.3f}" for value in claim["values"]) or "none",
        relation=claim["relation"],
        bound=claim["bound"],
        tolerance=claim["tolerance"],
    )


def _results_table(results: dict[str, Any]) -> str:
    rows = []
    for name, figures in [("reference (SFT)", results["reference"])] + [
        (_label(method), figures) for method, figures in results["methods"].items()
    ]:
        rows.append(
            [
                name,
                _mean_sd(figures["chosen_logp"], 2),
                _mean_sd(figures["rejected_logp"], 2),
                _mean_sd(figures["before_edit_mean"]),
                _mean_sd(figures["at_edit_mean"]),
                _mean_sd(figures["after_edit_mean"]),
                _mean_sd(figures["accuracy"], 1, scale=100.0) + " %",
            ]
        )
    header = [
        "model",
        "chosen log-prob (summed)",
        "rejected log-prob (summed)",
        "per-token before edit",
        "at edit",
        "after edit",
        "accuracy",
    ]
    return _table(header, rows)


def _predictor_sections(results: dict[str, Any]) -> dict[str, str]:
    predictor = results.get("predictor")
    if not predictor:
        return {"predictor_table": "Not run (`predictor_study` off).", "drop_top": "", "fall_mean": "n/a"}
    per_seed = predictor["per_seed"]
    rows = []
    for name, rho in predictor["spearman"].items():
        seeds = []
        for run in per_seed:
            one = run["spearman"][name]
            interval = "" if not one["ci95"] else f" [{one['ci95'][0]:+.2f}, {one['ci95'][1]:+.2f}]"
            seeds.append(f"{_number(one['rho'], 2, sign=True)}{interval}")
        rows.append([PREDICTOR_LABELS.get(name, name), _mean_sd(rho, 3, sign=True), _interval(rho), "; ".join(seeds)])
    table = _table(["predictor", "ρ mean ± sd", "95 % t-interval", "per seed: ρ [bootstrap 95 %]"], rows)
    drop = predictor.get("drop_top_ches")
    drop_text = ""
    if drop:
        drop_rows = [
            ["chosen log-prob change vs reference (nats/pair)", _mean_sd(drop["chosen_logp_change"], 3, sign=True),
             _interval(drop["chosen_logp_change"])],
            ["chosen log-prob vs DPO on every pair (nats/pair)", _mean_sd(drop["chosen_logp_vs_dpo"], 3, sign=True),
             _interval(drop["chosen_logp_vs_dpo"])],
            ["accuracy change vs reference (points)", _mean_sd(drop["accuracy_change"], 1, sign=True, scale=100.0),
             _interval(drop["accuracy_change"], 1, scale=100.0)],
            ["accuracy vs DPO on every pair (points)", _mean_sd(drop["accuracy_vs_dpo"], 1, sign=True, scale=100.0),
             _interval(drop["accuracy_vs_dpo"], 1, scale=100.0)],
        ]  # fmt: skip
        drop_text = (
            f"DPO retrained without the top {100 * drop['fraction']:g} % of the train pairs by CHES "
            f"({drop['dropped_pairs']} pairs dropped per seed, same steps and seed), scored on the same eval pairs "
            "(95 % t-intervals over seeds):\n\n" + _table(["figure", "mean ± sd", "95 % t-interval"], drop_rows)
        )
    return {
        "predictor_table": table,
        "drop_top": drop_text,
        "fall_mean": _mean_sd(predictor["fall_mean"], 2, sign=True),
    }


def _control_table(results: dict[str, Any]) -> str:
    rows = [
        [
            "reference: chosen log-prob on high-edit pairs",
            _mean_sd(results["reference"]["high_edit_chosen_logp"], 2),
            "",
        ]
    ]
    for method, figures in results["control"]["high_edit"].items():
        rows.append(
            [
                f"{_label(method)} trained on high-edit: change on high-edit pairs",
                _mean_sd(figures["chosen_logp_change"], 2, sign=True),
                _interval(figures["chosen_logp_change"], 2),
            ]
        )
        if method in results["changes"]:
            change = results["changes"][method]["chosen_logp"]
            rows.append(
                [
                    f"{_label(method)} trained on low-edit: change on low-edit pairs",
                    _mean_sd(change, 2, sign=True),
                    _interval(change, 2),
                ]
            )
    return _table(["", "chosen log-prob (nats/pair)", "95 % t-interval"], rows)


def _token_change_table(results: dict[str, Any]) -> str:
    rows = [
        [_label(method)]
        + [_mean_sd(changes[f"{region}_edit_mean"], 3, sign=True) for region in ("before", "at", "after")]
        for method, changes in results["changes"].items()
    ]
    return _table(["model", "before the edit", "at the first differing token", "after the edit"], rows)


def _region_cells(by_region: dict[str, dict[str, float]]) -> list[float]:
    """before: numbers, before: other, at the edit (both kinds), after: numbers, after: other."""
    at = by_region["at"]["number"] + by_region["at"]["other"]
    before, after = by_region["before"], by_region["after"]
    return [before["number"], before["other"], at, after["number"], after["other"]]


def _region_table(results: dict[str, Any]) -> str:
    per_seed = results.get("per_seed", [])
    if not per_seed or not per_seed[0]["reference"].get("by_region"):
        return "Not recorded."
    reference = np.mean([_region_cells(run["reference"]["by_region"]) for run in per_seed], axis=0)
    rows = [["reference (absolute)", *(f"{value:.3f}" for value in reference), f"{reference.sum():.3f}"]]
    for method in per_seed[0]["methods"]:
        changes = np.mean(
            [
                np.subtract(
                    _region_cells(run["methods"][method]["by_region"]), _region_cells(run["reference"]["by_region"])
                )
                for run in per_seed
            ],
            axis=0,
        )
        rows.append([_label(method), *(f"{value:+.3f}" for value in changes), f"{changes.sum():+.3f}"])
    header = ["model", "before: numbers", "before: other", "at the edit", "after: numbers", "after: other", "total"]
    return _table(header, rows)


def _setting(results: dict[str, Any]) -> str:
    config, data = results.get("config", {}), results.get("data", {})
    per_seed = results.get("per_seed", [])
    sft_losses = [run["sft_log"][-1]["loss"] for run in per_seed if run.get("sft_log")]
    methods = ", ".join(_label(method) for method in results["methods"])
    stages: dict[str, list[tuple[float, float]]] = {}
    for run in per_seed:
        cpu = run.get("cpu_seconds", {})
        for stage, seconds in run.get("seconds", {}).items():
            stages.setdefault(stage, []).append((seconds, cpu.get(stage, float("nan"))))
    lines = [
        f"- Model: Llama, hidden {config.get('hidden_size')}, {config.get('num_layers')} layers, vocabulary "
        f"{config.get('vocab_size')} (byte-level BPE trained on the SFT problems), trained from scratch per seed.",
        f"- SFT: {data.get('sft_problems')} problems, {config.get('sft_steps')} steps of batch "
        f"{config.get('sft_batch_size')}, lr {config.get('sft_learning_rate')} (final loss per seed: "
        f"{', '.join(str(loss) for loss in sft_losses)}).",
        f"- Preference pairs: `metamath` builder on {data.get('low_edit_pairs', {}).get('train', '?')} train + "
        f"{data.get('low_edit_pairs', {}).get('eval', '?')} eval held-apart problems (one intermediate result "
        f"corrupted, answer untouched; mean normalised character edit distance "
        f"{_mean_sd(data.get('low_edit_distance_char'))}).",
        f"- Methods: {methods}, each `DPOPTrainer` with only `loss_type` (and `loss_weights` [1, 1] for the lists) "
        f"differing; β = {config.get('beta')}, λ = {config.get('dpop_lambda')}, {config.get('pref_steps')} steps of "
        f"{config.get('pref_batch_size')} pairs, lr {config.get('pref_learning_rate')}, same seed and data order.",
        "- Seconds per stage, mean over seeds (wall / CPU): "
        + ", ".join(
            f"{stage} {np.mean([wall for wall, _ in values]):.1f} / {np.mean([cpu for _, cpu in values]):.1f}"
            for stage, values in stages.items()
        )
        + ".",
    ]
    return "\n".join(lines)


def _mean_trajectory(per_seed: list[dict[str, Any]], get) -> list[dict[str, Any]]:
    """Step-by-step mean of the trajectories of every seed (same steps in each)."""
    runs = [get(run) for run in per_seed]
    points = []
    for index, point in enumerate(runs[0]):
        mean_point: dict[str, Any] = {"step": point["step"]}
        for part in ("train", "eval"):
            mean_point[part] = {
                key: float(np.mean([run[index][part][key] for run in runs]))
                for key in ("chosen_logp", "rejected_logp")
            }
        points.append(mean_point)
    return points


def _mean_curve(curves: list[dict[str, float | None]]) -> dict[str, float | None]:
    mean = {}
    for offset in curves[0]:
        values = [curve[offset] for curve in curves if curve.get(offset) is not None]
        mean[offset] = float(np.mean(values)) if values else None
    return mean


def write_figures(results: dict[str, Any], out: Path) -> None:
    per_seed, methods = results["per_seed"], list(results["methods"])
    curves = {"reference": _mean_curve([run["reference"]["by_offset"] for run in per_seed])}
    for method in methods:
        curves[method] = _mean_curve([run["methods"][method]["by_offset"] for run in per_seed])
    plot_token_curve(curves, out / "token_logprobs.png", title="Low-edit eval pairs: chosen tokens around the edit")
    if methods:
        trajectories = {
            m: _mean_trajectory(per_seed, lambda run, m=m: run["methods"][m]["trajectory"]) for m in methods
        }
        # Step 0 of any run is the reference scored on the same fixed subset of eval pairs as the trajectories
        start = next(iter(trajectories.values()))[0]["eval"]
        plot_trajectories(trajectories, start, out / "trajectories.png")
    accuracy = {
        "reference": results["reference"]["accuracy"],
        **{m: results["methods"][m]["accuracy"] for m in methods},
    }
    plot_accuracy(
        {k: v["mean"] for k, v in accuracy.items()},
        out / "accuracy.png",
        errors={k: v["sd"] for k, v in accuracy.items()},
    )


def render_report(results: dict[str, Any]) -> str:
    """report.md's text: `REPORT_TEMPLATE` filled from `results` (see `prefbuild.repro.run.run_repro`)."""
    data, seconds = results.get("data", {}), results.get("seconds", {})
    predictor = results.get("predictor") or {}
    resamples = predictor.get("per_seed", [{}])[0].get("spearman", {}).get("ches", {}).get("resamples", "n/a")
    return REPORT_TEMPLATE.format(
        seed_count=len(results["seeds"]),
        seeds=", ".join(str(seed) for seed in results["seeds"]),
        device=results.get("device", "?"),
        total_seconds=seconds.get("total", "?"),
        cpu_seconds=seconds.get("cpu", "?"),
        interval_kind=results.get("interval", "?"),
        eval_pairs=data.get("low_edit_pairs", {}).get("eval", "?"),
        results_table=_results_table(results),
        test_problems=data.get("test_problems", "?"),
        paper_reference=PAPER_AFTER_EDIT["reference"],
        paper_dpop=PAPER_AFTER_EDIT["dpop"],
        paper_dpo=PAPER_AFTER_EDIT["dpo"],
        claims="\n".join(render_claim(claim) for claim in results["claims"]) or "No claim could be checked.",
        resamples=resamples,
        **_predictor_sections(results),
        high_distance=_mean_sd(data.get("high_edit_distance_char")),
        low_distance=_mean_sd(data.get("low_edit_distance_char")),
        control_table=_control_table(results),
        token_change_table=_token_change_table(results),
        region_table=_region_table(results),
        setting=_setting(results),
    )


def write_report(results: dict[str, Any], out: str | Path) -> Path:
    """Write `out/report.md` and its figures (token_logprobs.png, trajectories.png, accuracy.png)."""
    out = Path(out)
    write_figures(results, out)
    path = out / "report.md"
    path.write_text(render_report(results))
    return path


def render_results(results: dict[str, Any]) -> str:
    """The results table and the claims' verdicts, for the terminal."""
    rows = [("reference", results["reference"]), *results["methods"].items()]
    lines = [f"{'model':<10} {'chosen logp':>16} {'after-edit':>16} {'accuracy %':>12}"]
    for name, figures in rows:
        lines.append(
            f"{name:<10} {_mean_sd(figures['chosen_logp'], 2):>16} {_mean_sd(figures['after_edit_mean']):>16} "
            f"{_mean_sd(figures['accuracy'], 1, scale=100.0):>12}"
        )
    for claim in results["claims"]:
        lines.append(
            f"{claim['verdict']:<13} {claim['statement']} ({_mean_sd(claim, 3, sign=True)}, 95 % {_interval(claim)})"
        )
    predictor = results.get("predictor")
    if predictor:
        cells = [
            f"{PREDICTOR_LABELS.get(name, name)} {_mean_sd(rho, 2, sign=True)}"
            for name, rho in predictor["spearman"].items()
        ]
        lines.append("Spearman ρ with the fall of the chosen log-prob: " + "; ".join(cells))
    seconds = results.get("seconds", {})
    lines.append(f"Total time: {seconds.get('total', '?')} s wall, {seconds.get('cpu', '?')} s CPU")
    return "\n".join(lines)
