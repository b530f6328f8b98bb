"""The predictor study of `prefbuild repro`: which per-pair signal, computed with the reference model before any
preference training, predicts how far DPO lowers that pair's chosen log-prob (likelihood displacement)?

Per low-edit eval pair, the *fall* is the reference's summed chosen log-prob minus DPO's (nats; positive = the
chosen completion became less likely). Its Spearman correlation (percentile-bootstrap 95 % interval over pairs) is
reported with:

- `ches` / `ches_normalized`: Razin et al. 2024 (arXiv 2410.08847), from the reference's last hidden layer
  (`prefbuild.displacement.ches.ches_from_ids`); a higher score means chosen and rejected look alike to the model,
  which they predict leads to more displacement (expected sign: positive);
- `edit_distance_char` / `edit_distance_word` / `edit_distance_token`: normalised Levenshtein distances between
  chosen and rejected (characters, `str.split()` words, the reference tokenizer's completion tokens); the paper's
  thesis is that a *low* distance predicts the fall (expected sign: negative).

The study also drops the top `drop_top_fraction` of the train pairs by CHES and trains DPO again on the rest, to
see whether the riskiest pairs are what lowers the chosen log-prob.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from prefbuild.analysis.logprobs import tokenize_pair
from prefbuild.repro.measure import bootstrap_spearman, measured

PREDICTORS = ("ches", "ches_normalized", "edit_distance_char", "edit_distance_word", "edit_distance_token")


def pair_predictors(
    model, tokenizer, rows, *, edit_distances: bool = True, batch_size: int = 16
) -> dict[str, list[float]]:
    """Per pair of `rows` (prompt / chosen / rejected), each predictor computed with `model` and its tokenizer."""
    from rapidfuzz.distance import Levenshtein

    from prefbuild.displacement.ches import ches_from_ids
    from prefbuild.stats import normalised_levenshtein, word_levenshtein

    tokenized = [tokenize_pair(tokenizer, row["prompt"], row["chosen"], row["rejected"]) for row in rows]
    device = next(model.parameters()).device
    ches, ches_normalized = ches_from_ids(
        model,
        [pair.prompt_ids for pair in tokenized],
        [pair.chosen_ids for pair in tokenized],
        [pair.rejected_ids for pair in tokenized],
        batch_size=batch_size,
        device=device,
    )
    predictors = {"ches": list(ches), "ches_normalized": list(ches_normalized)}
    if edit_distances:
        chosen, rejected = list(rows["chosen"]), list(rows["rejected"])
        predictors["edit_distance_char"] = normalised_levenshtein(chosen, rejected).tolist()
        predictors["edit_distance_word"] = word_levenshtein(chosen, rejected).tolist()
        predictors["edit_distance_token"] = [
            Levenshtein.normalized_distance(pair.chosen_ids, pair.rejected_ids) for pair in tokenized
        ]
    return predictors


def chosen_logp_fall(reference_scored, policy_scored) -> list[float]:
    """Per pair: reference summed chosen log-prob − policy's (nats; positive = the chosen completion fell)."""
    return [float(ref.chosen.sum()) - float(pol.chosen.sum()) for ref, pol in zip(reference_scored, policy_scored)]


def predictor_correlations(
    reference_scored, policy_scored, predictors: dict[str, list[float]], *, seed: int, resamples: int
) -> dict[str, Any]:
    """Spearman's ρ (bootstrap 95 % interval) of each predictor with the per-pair fall of the chosen log-prob."""
    fall = chosen_logp_fall(reference_scored, policy_scored)
    return {
        "pairs": len(fall),
        "fall_mean": float(np.mean(fall)) if fall else None,
        "fall_share_positive": float(np.mean(np.asarray(fall) > 0)) if fall else None,
        "spearman": {
            name: bootstrap_spearman(predictors[name], fall, seed=seed, resamples=resamples)
            for name in PREDICTORS
            if name in predictors
        },
    }


def drop_top_by(values: list[float], fraction: float) -> tuple[list[int], list[int]]:
    """(kept, dropped) row indices, dropping the `ceil(fraction · n)` highest values (ties: the later row first).

    Both lists are in row order, so `Dataset.select(kept)` keeps the data order of the unfiltered set.
    """
    count = math.ceil(fraction * len(values))
    order = sorted(range(len(values)), key=lambda index: (values[index], index), reverse=True)
    dropped = sorted(order[:count])
    dropped_set = set(dropped)
    return [index for index in range(len(values)) if index not in dropped_set], dropped


def summarise_predictor(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """The study over seeds: each predictor's ρ (mean ± sd, t-interval, and each seed's ρ with its bootstrap
    interval); the drop-top run's changes against the reference and against DPO on every pair, paired by seed."""

    def over_seeds(get) -> dict[str, Any]:
        return measured([get(run) for run in per_seed])

    studies = [run["predictor"] for run in per_seed]
    summary: dict[str, Any] = {
        "fall_mean": over_seeds(lambda run: run["predictor"]["fall_mean"]),
        "spearman": {},
        "per_seed": [
            {"seed": run["seed"], "pairs": run["predictor"]["pairs"], "spearman": run["predictor"]["spearman"]}
            for run in per_seed
        ],
    }
    for name in PREDICTORS:
        if all(name in study["spearman"] for study in studies):
            summary["spearman"][name] = over_seeds(lambda run, n=name: run["predictor"]["spearman"][n]["rho"])
    if all("drop_top_ches" in study for study in studies):

        def filtered(run, key):
            return run["predictor"]["drop_top_ches"][key]

        summary["drop_top_ches"] = {
            "fraction": studies[0]["drop_top_ches"]["fraction"],
            "dropped_pairs": studies[0]["drop_top_ches"]["dropped_pairs"],
            "chosen_logp_change": over_seeds(
                lambda run: filtered(run, "chosen_logp") - run["reference"]["chosen_logp"]
            ),
            "accuracy_change": over_seeds(lambda run: filtered(run, "accuracy") - run["reference"]["accuracy"]),
            "chosen_logp_vs_dpo": over_seeds(
                lambda run: filtered(run, "chosen_logp") - run["methods"]["dpo"]["chosen_logp"]
            ),
            "accuracy_vs_dpo": over_seeds(lambda run: filtered(run, "accuracy") - run["methods"]["dpo"]["accuracy"]),
        }
    return summary
