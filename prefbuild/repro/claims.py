"""The paper's predictions as checks with an explicit tolerance, decided by the 95 % t-interval over seeds.

Each claim is one measured quantity per seed (a change against the reference, paired by seed, or a difference of
two such changes), a relation (`<` or `>`) and a bound set by the claim's tolerance: the size of an effect that
counts as none. A claim

- **holds** when the whole interval is on the claimed side of the bound;
- **fails** when the whole interval is on the other side;
- is **inconclusive** when the interval contains the bound (more seeds would be needed to decide).

With one seed there is no interval and the verdict is the mean's, marked as such. The report renders every claim
from the same template with its numbers, whatever the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefbuild.repro.measure import measured

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "fails", "inconclusive", "not measured"


@dataclass(frozen=True)
class Claim:
    """One prediction: `quantity` (per seed, from the results) `relation` `bound`, with `bound` = ±`tolerance`."""

    id: str
    statement: str  # the prediction, in words
    quantity: str  # what is measured, with its unit
    relation: str  # "<" or ">"
    bound: float
    tolerance: float
    values: Callable[[dict[str, Any]], list[float] | None]  # per-seed values, or None if not measured


def _get(results: dict[str, Any], *path: str) -> list[float] | None:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    n = len(results.get("seeds", []))
    return node["values"] if node.get("n") == n else None


def _combine(function: Callable[..., float], *series: list[float] | None) -> list[float] | None:
    """Per seed, `function` of the series' values (None if one is missing or they were not all measured)."""
    if any(values is None for values in series) or len({len(values) for values in series}) != 1:
        return None
    return [function(*row) for row in zip(*series)]


def _largest_fall_after(kind: str) -> Callable[[dict[str, Any]], list[float] | None]:
    """after-change − min(before-change, at-change) of DPO: < 0 when the fall after the edit is the largest."""

    def values(results):
        changes = [_get(results, "changes", "dpo", f"{region}_edit_{kind}") for region in ("before", "at", "after")]
        return _combine(lambda before, at, after: after - min(before, at), *changes)

    return values


def _ches_margin(results: dict[str, Any]) -> list[float] | None:
    """ρ(CHES, fall) − the best edit distance's −ρ (edit distances are expected to correlate negatively)."""
    names = ("edit_distance_char", "edit_distance_word", "edit_distance_token")
    edits = [_get(results, "predictor", "spearman", name) for name in names]
    return _combine(
        lambda ches, *others: ches - max(-value for value in others),
        _get(results, "predictor", "spearman", "ches"),
        *edits,
    )


def _keeps_chosen(method: str, label: str) -> Claim:
    return Claim(
        f"{method}_keeps_chosen",
        f"{label} keeps the chosen completion's log-prob at or above the reference's",
        f"{label} − reference, chosen log-prob (nats per pair)",
        ">",
        -0.1,
        0.1,
        lambda results: _get(results, "changes", method, "chosen_logp"),
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "dpo_lowers_chosen",
        "DPO lowers the chosen completion's log-prob below the reference's",
        "DPO − reference, chosen log-prob (nats per pair)",
        "<",
        -0.1,
        0.1,
        lambda results: _get(results, "changes", "dpo", "chosen_logp"),
    ),
    Claim(
        "dpo_fall_after_edit_summed",
        "DPO's fall of the chosen log-prob, summed per pair, is largest after the edit (vs before it and at the "
        "first differing token)",
        "change after the edit − the smaller of the changes before and at it (nats per pair)",
        "<",
        -0.05,
        0.05,
        _largest_fall_after("sum"),
    ),
    Claim(
        "dpo_fall_after_edit_per_token",
        "DPO's per-token fall of the chosen log-prob is largest after the edit (vs before it and at the first "
        "differing token)",
        "change after the edit − the smaller of the changes before and at it (nats per token)",
        "<",
        -0.005,
        0.005,
        _largest_fall_after("mean"),
    ),
    _keeps_chosen("dpop", "DPOP"),
    _keeps_chosen("rpo", "RPO ([sigmoid, sft])"),
    _keeps_chosen("dpop_sft", "[dpop, sft]"),
    Claim(
        "dpo_loses_accuracy",
        "DPO lowers exact-match accuracy below the reference's",
        "DPO − reference, accuracy (fraction of test problems)",
        "<",
        -0.02,
        0.02,
        lambda results: _get(results, "changes", "dpo", "accuracy"),
    ),
    Claim(
        "dpop_keeps_accuracy",
        "DPOP keeps exact-match accuracy at or above the reference's",
        "DPOP − reference, accuracy (fraction of test problems)",
        ">",
        -0.02,
        0.02,
        lambda results: _get(results, "changes", "dpop", "accuracy"),
    ),
    Claim(
        "control_high_edit_falls_less",
        "Control: DPO trained on high-edit pairs lowers the chosen log-prob less than DPO on low-edit pairs",
        "high-edit change (on high-edit pairs) − low-edit change (on low-edit pairs) of the chosen log-prob "
        "(nats per pair)",
        ">",
        0.1,
        0.1,
        lambda results: _combine(
            lambda high, low: high - low,
            _get(results, "control", "high_edit", "dpo", "chosen_logp_change"),
            _get(results, "changes", "dpo", "chosen_logp"),
        ),
    ),
    Claim(
        "ches_predicts_fall",
        "Pairs with a higher CHES (reference model) lose more chosen log-prob under DPO",
        "Spearman ρ(CHES, per-pair fall of the chosen log-prob) on the eval pairs",
        ">",
        0.1,
        0.1,
        lambda results: _get(results, "predictor", "spearman", "ches"),
    ),
    Claim(
        "ches_beats_edit_distance",
        "CHES predicts the fall better than the best edit distance (Razin et al. 2024)",
        "ρ(CHES, fall) − max over char / word / token edit distance of −ρ(distance, fall)",
        ">",
        0.05,
        0.05,
        _ches_margin,
    ),
    Claim(
        "drop_top_ches_keeps_chosen",
        "Dropping the top pairs by CHES before training makes DPO lower the chosen log-prob less",
        "DPO without the top pairs − DPO on every pair, chosen log-prob (nats per pair)",
        ">",
        0.1,
        0.1,
        lambda results: _get(results, "predictor", "drop_top_ches", "chosen_logp_vs_dpo"),
    ),
)


def verdict(relation: str, bound: float, numbers: dict[str, Any]) -> str:
    """`holds` / `fails` / `inconclusive` from the interval (the mean's side when there is no interval)."""
    if numbers["mean"] is None:
        return NOT_MEASURED
    low, high = numbers["ci95"] or (numbers["mean"], numbers["mean"])
    if relation == "<":
        return HOLDS if high < bound else FAILS if low >= bound else INCONCLUSIVE
    if relation == ">":
        return HOLDS if low > bound else FAILS if high <= bound else INCONCLUSIVE
    raise ValueError(f"relation must be '<' or '>', got {relation!r}")


def evaluate_claims(results: dict[str, Any], claims: tuple[Claim, ...] = CLAIMS) -> list[dict[str, Any]]:
    """Each claim whose quantity was measured, with its numbers and verdict (plain JSON)."""
    checked = []
    for claim in claims:
        values = claim.values(results)
        if values is None:
            continue  # e.g. a method that was not run
        numbers = measured(values)
        checked.append(
            {
                "id": claim.id,
                "statement": claim.statement,
                "quantity": claim.quantity,
                "relation": claim.relation,
                "bound": claim.bound,
                "tolerance": claim.tolerance,
                **numbers,
                "verdict": verdict(claim.relation, claim.bound, numbers),
                "interval": numbers["ci95"] is not None,
            }
        )
    return checked
