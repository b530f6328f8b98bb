"""Per-pair preference losses as pure functions of per-sequence log-probs.

Every function takes the summed completion log-probs of the policy (`chosen_logps`, `rejected_logps`) and of the
reference model (`ref_chosen_logps`, `ref_rejected_logps`), each a tensor of shape `(batch,)`, and returns the
per-pair losses, shape `(batch,)`. Keeping them pure lets the tests check them against values computed by hand.

DPOPTrainer uses `dpop_loss` and `dpop_penalty`; every other `loss_type` is computed by TRL's own `_compute_loss`.
`sigmoid_loss`, `hinge_loss` and `ipo_loss` are written-out references of TRL's formulas, for tests and analysis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpop_penalty(chosen_logps: torch.Tensor, ref_chosen_logps: torch.Tensor) -> torch.Tensor:
    """`max(0, log π_ref(y_w|x) - log π_θ(y_w|x))`: how far (in nats) the chosen completion fell below the reference.

    Zero while the policy keeps the chosen completion at least as likely as the reference does.
    """
    return torch.clamp(ref_chosen_logps - chosen_logps, min=0.0)


def dpop_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    lam: float,
) -> torch.Tensor:
    """DPO-Positive (Pal et al. 2024, arXiv 2402.13228), Eq. 3, per pair.

    `-log σ(β · [(log π_θ(y_w)/π_ref(y_w)) - (log π_θ(y_l)/π_ref(y_l)) - λ · max(0, log π_ref(y_w)/π_θ(y_w))])`

    The penalty sits *inside* the sigmoid, scaled by β like the log-ratios (early versions of the paper put it
    outside). With `lam=0` this is exactly the DPO sigmoid loss.
    """
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    # Eq. 3: the penalty is only active once the chosen log-prob drops below the reference's
    penalty = dpop_penalty(chosen_logps, ref_chosen_logps)
    return -F.logsigmoid(beta * (chosen_logratios - rejected_logratios - lam * penalty))


def sigmoid_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO (Rafailov et al. 2023), Eq. 7: `-log σ(β · (chosen log-ratio - rejected log-ratio))`."""
    delta = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * delta)


def hinge_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """TRL's `'hinge'` loss: `max(0, 1 - β · (chosen log-ratio - rejected log-ratio))`.

    This is the reference-normalised variant TRL implements (and the Smaug paper's "SLiC" baseline runs), not SLiC's
    own formula: SLiC-HF (Zhao et al. 2023, Eq. 2) puts the margin on the policy's log-probs alone,
    `max(0, δ - log π_θ(y_w|x) + log π_θ(y_l|x))`, with no reference model, plus a separate regularisation term.
    Here both log-probs are log-ratios to the reference and the margin δ is `1/β`.
    """
    delta = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return torch.relu(1.0 - beta * delta)


def ipo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    chosen_lengths: torch.Tensor,
    rejected_lengths: torch.Tensor,
) -> torch.Tensor:
    """IPO (Azar et al. 2023), Eq. 17: `(h - 1/(2τ))²` with τ = `beta`.

    As in TRL, each log-ratio is divided by its completion length in tokens (`*_lengths`, clamped to ≥ 1), which
    keeps τ comparable across completion lengths (the IPO authors' own setting).
    """
    chosen = (chosen_logps - ref_chosen_logps) / chosen_lengths.clamp(min=1)
    rejected = (rejected_logps - ref_rejected_logps) / rejected_lengths.clamp(min=1)
    return (chosen - rejected - 1.0 / (2.0 * beta)) ** 2


# The paper's loss comparison (Section 5): DPOP and its three baselines, as `loss_type` values.
LOSS_TYPES = ("sigmoid", "ipo", "hinge", "dpop")

# TRL 1.16's own `loss_type` values (DPOConfig's docstring; tests/test_train_losses.py checks this list against it).
# DPOPTrainer hands these to TRL's `_compute_loss` unchanged, so they are TRL's implementation, not copies.
TRL_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)

# Everything a `loss_type` list given to DPOPTrainer may contain: DPOP plus every TRL loss
SUPPORTED_LOSS_TYPES = ("dpop", *TRL_LOSS_TYPES)
