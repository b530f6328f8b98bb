"""report.md and the figures of `prefbuild repro`, from the results dict alone (so they can be re-rendered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefbuild.analysis.plots import plot_accuracy, plot_token_curve, plot_trajectories

# The paper's Mistral-7B numbers (arXiv 2402.13228, Fig. 4 right): mean chosen per-token log-prob after the edit.
PAPER_AFTER_EDIT = {"reference": -0.37, "dpop": -0.26, "dpo": -1.82}


def _region_cells(by_region: dict[str, dict[str, float]]) -> list[float]:
    """before: numbers, before: other, at the edit (both kinds), after: numbers, after: other."""
    at = by_region["at"]["number"] + by_region["at"]["other"]
    before, after = by_region["before"], by_region["after"]
    return [before["number"], before["other"], at, after["number"], after["other"]]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def pattern_checks(results: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The paper's predictions, checked on the measured numbers: (claim, held?, the numbers behind it)."""
    reference = results["reference"]
    methods = results["methods"]
    checks: list[tuple[str, bool | None, str]] = []
    if "dpo" in methods:
        dpo = methods["dpo"]
        fell = dpo["chosen_logp"] < reference["chosen_logp"]
        checks.append(
            (
                "DPO lowers the chosen completion's log-prob below the reference's",
                fell,
                f"{_fmt(dpo['chosen_logp'])} vs {_fmt(reference['chosen_logp'])} nats",
            )
        )
        drop_before = dpo["before_edit_logp"] - reference["before_edit_logp"]
        drop_at = dpo["at_edit_logp"] - reference["at_edit_logp"]
        drop_after = dpo["after_edit_logp"] - reference["after_edit_logp"]
        sums = [dpo[f"{region}_edit_sum"] - reference[f"{region}_edit_sum"] for region in ("before", "at", "after")]
        checks.append(
            (
                "DPO's fall, summed per pair, is largest after the edit (vs before it and at the first differing "
                "token)",
                sums[2] < 0 and sums[2] < sums[0] and sums[2] < sums[1],
                f"change before the edit {sums[0]:+.3f}, at it {sums[1]:+.3f}, after it {sums[2]:+.3f} nats/pair",
            )
        )
        checks.append(
            (
                "DPO's per-token fall is largest after the edit (vs before it and at the first differing token)",
                drop_after < 0 and drop_after < drop_before and drop_after < drop_at,
                f"change before the edit {drop_before:+.3f}, at it {drop_at:+.3f}, after it {drop_after:+.3f} "
                "nats/token",
            )
        )
    if "dpop" in methods:
        dpop = methods["dpop"]
        checks.append(
            (
                "DPOP keeps the chosen log-prob at or above the reference's",
                dpop["chosen_logp"] >= reference["chosen_logp"],
                f"{_fmt(dpop['chosen_logp'])} vs {_fmt(reference['chosen_logp'])} nats",
            )
        )
    high = results.get("control", {}).get("high_edit", {}).get("dpo")
    if high is not None and "dpo" in methods:
        ref_high = reference["high_edit"]
        low_change = methods["dpo"]["chosen_logp"] - reference["chosen_logp"]
        high_change = high["chosen_logp"] - ref_high["chosen_logp"]
        checks.append(
            (
                "Control: DPO on high-edit pairs lowers the chosen log-prob less than on low-edit pairs",
                high_change > low_change,
                f"high-edit change {high_change:+.2f}, low-edit change {low_change:+.2f} nats",
            )
        )
    return checks


def write_report(results: dict[str, Any], out: str | Path) -> Path:
    """Write `out/report.md` and its figures (token_logprobs.png, trajectories.png, accuracy.png)."""
    out = Path(out)
    reference, methods = results["reference"], results["methods"]
    curves = {"reference": reference["by_offset"], **{m: r["by_offset"] for m, r in methods.items()}}
    plot_token_curve(curves, out / "token_logprobs.png", title="Low-edit eval pairs: chosen tokens around the edit")
    if methods:
        # Step 0 of any run is the reference scored on the same fixed subset of eval pairs as the trajectories
        start = next(iter(methods.values()))["trajectory"][0]["eval"]
        plot_trajectories(
            {m: r["trajectory"] for m, r in methods.items()},
            {"chosen_logp": start["chosen_logp"], "rejected_logp": start["rejected_logp"]},
            out / "trajectories.png",
        )
    plot_accuracy(
        {"reference": reference["accuracy"], **{m: r["accuracy"] for m, r in methods.items()}}, out / "accuracy.png"
    )

    config, data, seconds = results.get("config", {}), results.get("data", {}), results.get("seconds", {})
    lines = [
        "# Toy reproduction of DPO's failure mode (arXiv 2402.13228)",
        "",
        f"Device: {results.get('device', '?')}; total time {seconds.get('total', '?')} s. Every number below was "
        "measured in this run; log-probs are in nats on the low-edit eval pairs "
        f"({data.get('low_edit', {}).get('eval', '?')} pairs from problems never seen in SFT).",
        "",
        "## Results",
        "",
        "| model | chosen log-prob (summed) | rejected log-prob (summed) | per-token before edit | at edit | "
        "after edit | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in [("reference (SFT)", reference), *[(m.upper(), r) for m, r in methods.items()]]:
        lines.append(
            f"| {name} | {_fmt(row['chosen_logp'], 2)} | {_fmt(row['rejected_logp'], 2)} | "
            f"{_fmt(row['before_edit_logp'])} | {_fmt(row['at_edit_logp'])} | {_fmt(row['after_edit_logp'])} | "
            f"{100 * row['accuracy']:.1f} % |"
        )
    lines += [
        "",
        f"Accuracy: exact match of the greedy `The answer is: N` on {data.get('test_problems', '?')} held-out "
        "problems. Paper (Mistral-7B, Fig. 4 right), per-token log-prob after the edit: reference "
        f"{PAPER_AFTER_EDIT['reference']}, DPOP {PAPER_AFTER_EDIT['dpop']}, DPO {PAPER_AFTER_EDIT['dpo']}. Paper's "
        "accuracy pattern on MetaMath (Fig. 2): DPO and SLiC collapse, IPO stays flat, DPOP improves.",
        "",
        "## Does the toy show the paper's pattern?",
        "",
    ]
    checks = pattern_checks(results)
    for claim, held, numbers in checks:
        verdict = "yes" if held else "**no**"
        lines.append(f"- {claim}: {verdict} ({numbers}).")
    for method, row in methods.items():
        points = [(point["step"], point["eval"]["chosen_logp"]) for point in row.get("trajectory", [])]
        if len(points) > 1:
            low_step, low = min(points, key=lambda point: point[1])
            lines.append(
                f"- {method.upper()} trajectory (eval subset): chosen log-prob {points[0][1]:.2f} at step 0, lowest "
                f"{low:.2f} at step {low_step}, {points[-1][1]:.2f} at the end (step {points[-1][0]})."
            )
    failed = {claim for claim, held, _ in checks if not held}
    notes = []
    if any(claim.startswith("DPO's per-token fall") for claim in failed):
        notes.append(
            "Per token, the largest fall is not after the edit here. In this toy nearly every token after the edit is "
            "fixed by the template (the reference's mean log-prob there is "
            f"{_fmt(reference['after_edit_logp'])} nats/token, against {PAPER_AFTER_EDIT['reference']} for "
            "Mistral-7B), so the per-token mean after the edit averages a few number tokens that move with many "
            "template tokens that cannot; the region table below shows where the fall actually is. The first "
            "differing token is a number too (a result the model has to compute), and it falls although DPO pushes "
            "it up directly, likely because the same number tokens appear as corrupted values in other pairs and "
            "as shared tokens after the edit, where DPO pushes them down."
        )
    if any(claim.startswith("DPO's fall, summed") for claim in failed):
        notes.append(
            "Summed per pair, the chosen completion lost about as much before the edit as after it. Tokens before "
            "the edit get no direct gradient (chosen and rejected share them in identical contexts), so that fall "
            "comes through shared weights: in a model this small, pushing number tokens down in the rejected "
            "completions makes number tokens less likely everywhere (see the region table). A likely reason the "
            "paper's 7B model concentrates the fall after the edit is that its representations keep those contexts "
            "further apart; this toy does not test that."
        )
    if any(claim.startswith("DPO lowers") for claim in failed):
        notes.append(
            "DPO did not lower the chosen log-prob in this run. Check the trajectory: with few steps or a small "
            "learning rate the policy may not have moved far from the reference."
        )
    if any(claim.startswith("DPOP keeps") for claim in failed):
        notes.append(
            "DPOP's chosen log-prob ended below the reference's: λ's penalty only acts once the chosen log-prob "
            "falls, so small dips on eval pairs (not seen in training) are possible."
        )
    if any(claim.startswith("Control") for claim in failed):
        notes.append(
            "DPO lowered the chosen log-prob at least as much on the high-edit pairs. The high-edit rejected "
            "completions are solutions to other problems written from the same templates, so they share most token "
            "types (and many whole phrases) with the chosen ones; at this scale that is enough for DPO to drag the "
            "chosen completion down with the rejected one, so the control does not isolate low edit distance."
        )
    if notes:
        lines += ["", "### Where the toy differs from the paper", ""]
        lines += [f"- {note}" for note in notes]
    control = results.get("control", {}).get("high_edit", {})
    if control:
        lines += [
            "",
            "## Control: high-edit pairs",
            "",
            "Rejected = the solution of a different problem (mean normalised character edit distance "
            f"{_fmt(data.get('high_edit_distance', {}).get('char'))} vs "
            f"{_fmt(data.get('low_edit_distance', {}).get('char'))} for the low-edit pairs).",
            "",
            "| model | chosen log-prob | rejected log-prob | chosen change vs reference |",
            "|---|---|---|---|",
            f"| reference | {_fmt(reference['high_edit']['chosen_logp'], 2)} | "
            f"{_fmt(reference['high_edit']['rejected_logp'], 2)} | |",
        ]
        for method, row in control.items():
            change = row["chosen_logp"] - reference["high_edit"]["chosen_logp"]
            lines.append(
                f"| {method.upper()} trained on high-edit | {_fmt(row['chosen_logp'], 2)} | "
                f"{_fmt(row['rejected_logp'], 2)} | {change:+.2f} |"
            )
        for method in control:
            if method in methods:
                change = methods[method]["chosen_logp"] - reference["chosen_logp"]
                lines.append(f"| {method.upper()} trained on low-edit (for comparison) | | | {change:+.2f} |")
    lines += [
        "",
        "## Per-token change against the reference (nats/token; negative = less likely)",
        "",
        "| model | before the edit | at the first differing token | after the edit |",
        "|---|---|---|---|",
    ]
    for method, row in methods.items():
        changes = [
            row[key] - reference[key]
            for key in ("before_edit_logp", "at_edit_logp", "after_edit_logp")
            if row[key] is not None and reference[key] is not None
        ]
        if len(changes) == 3:
            lines.append(f"| {method.upper()} | {changes[0]:+.3f} | {changes[1]:+.3f} | {changes[2]:+.3f} |")
    if reference.get("by_region"):
        lines += [
            "",
            "## Where the chosen log-prob went (change vs reference, nats per pair)",
            "",
            "Number tokens contain a digit (operands, results, the answer); other tokens are the template's words.",
            "",
            "| model | before: numbers | before: other | at the edit | after: numbers | after: other | total |",
            "|---|---|---|---|---|---|---|",
            "| reference (absolute) | "
            + " | ".join(_fmt(value) for value in _region_cells(reference["by_region"]))
            + f" | {_fmt(sum(_region_cells(reference['by_region'])))} |",
        ]
        for method, row in methods.items():
            if row.get("by_region"):
                changes = [
                    value - base
                    for value, base in zip(_region_cells(row["by_region"]), _region_cells(reference["by_region"]))
                ]
                cells = " | ".join(f"{change:+.3f}" for change in changes)
                lines.append(f"| {method.upper()} | {cells} | {sum(changes):+.3f} |")
    lines += [
        "",
        "Tokens before the edit sit in the same context in chosen and rejected, so the preference losses' direct "
        "gradients on them cancel: any change there comes from shared weights. The first differing token gets a "
        "direct push up in chosen and down in rejected. Tokens after it are the ones the paper says get wrong-way "
        "gradients (the same token pushed down in the rejected context and up in the near-identical chosen one).",
        "",
        "## Figures",
        "",
        "- `token_logprobs.png` (Fig. 4 right): mean chosen log-prob by token offset from the first differing token.",
        "- `trajectories.png` (Fig. 5): chosen / rejected log-probs of the eval pairs during training.",
        "- `accuracy.png` (Fig. 2): exact-match accuracy per method.",
        "",
        "![token log-probs](token_logprobs.png)",
        "",
        "![trajectories](trajectories.png)",
        "",
        "![accuracy](accuracy.png)",
        "",
        "## Setting",
        "",
        f"- Model: Llama, hidden {config.get('hidden_size')}, {config.get('num_layers')} layers, "
        f"vocabulary {config.get('vocab_size')} (byte-level BPE trained on the SFT problems), trained from scratch.",
        f"- SFT: {data.get('sft_problems')} problems, {config.get('sft_steps')} steps of batch "
        f"{config.get('sft_batch_size')}, lr {config.get('sft_learning_rate')} (final loss "
        f"{results.get('sft_log', [{}])[-1].get('loss', '?')}).",
        f"- Preference pairs: `metamath` builder on {data.get('low_edit', {}).get('train', '?')} held-apart "
        f"problems (one intermediate result corrupted, answer untouched; mean normalised character edit distance "
        f"{_fmt(data.get('low_edit_distance', {}).get('char'))}).",
        f"- Each method: `DPOPTrainer` with `loss_type` sigmoid (DPO) / dpop / ipo / hinge (SLiC), β = "
        f"{config.get('beta')}, λ = {config.get('dpop_lambda')}, {config.get('pref_steps')} steps of "
        f"{config.get('pref_batch_size')} pairs, lr {config.get('pref_learning_rate')}, same seed and data order.",
        f"- Time per stage (s): {', '.join(f'{k} {v}' for k, v in seconds.items())}.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def render_results(results: dict[str, Any]) -> str:
    """The results table for the terminal."""
    rows = [("reference", results["reference"]), *results["methods"].items()]
    lines = [f"{'model':<10} {'chosen logp':>12} {'after-edit':>11} {'accuracy':>9}"]
    for name, row in rows:
        lines.append(
            f"{name:<10} {_fmt(row['chosen_logp'], 2):>12} {_fmt(row['after_edit_logp']):>11} "
            f"{100 * row['accuracy']:>8.1f}%"
        )
    for claim, held, numbers in pattern_checks(results):
        lines.append(f"{'yes' if held else 'NO '}  {claim} ({numbers})")
    lines.append(f"Total time: {results.get('seconds', {}).get('total', '?')} s")
    return "\n".join(lines)
