"""The per-pair losses against values computed by hand (arXiv 2402.13228 Eq. 3 and the baselines)."""

import math

import pytest
import torch

from prefbuild.train import dpop_loss, hinge_loss, ipo_loss, sigmoid_loss
from prefbuild.train.losses import dpop_penalty


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_dpop_loss_hand_computed():
    # Pair 1: both log-ratios are -1 (margin 0) and chosen fell 1 nat below the reference:
    #   β(0 - λ·1) = 0.5·(0 - 2) = -1  →  -log σ(-1) = log(1 + e)
    # Pair 2: chosen above the reference (log-ratio +1, rejected -2), penalty 0:
    #   0.5·(1 + 2) = 1.5  →  -log σ(1.5) = log(1 + e^-1.5)
    losses = dpop_loss(t(-10.0, -5.0), t(-12.0, -8.0), t(-9.0, -6.0), t(-11.0, -6.0), beta=0.5, lam=2.0)
    expected = t(math.log(1 + math.e), math.log(1 + math.exp(-1.5)))
    torch.testing.assert_close(losses, expected)
    assert losses.shape == (2,)


def test_dpop_penalty_is_inside_the_sigmoid():
    # Penalty outside the sigmoid (early paper versions) would give -log σ(0) + λ·1 = log 2 + 100 here
    loss = dpop_loss(t(-10.0), t(-11.0), t(-9.0), t(-10.0), beta=0.1, lam=100.0)
    torch.testing.assert_close(loss, t(math.log(1 + math.exp(0.1 * 100.0))))  # -log σ(0.1·(0 - 100))


def test_penalty_is_zero_when_chosen_is_at_or_above_reference():
    torch.testing.assert_close(dpop_penalty(t(-3.0, -5.0, -7.5), t(-4.0, -5.0, -7.0)), t(0.0, 0.0, 0.5))


@pytest.mark.parametrize("seed", range(5))
def test_lambda_zero_is_dpo_sigmoid_with_equal_gradients(seed):
    generator = torch.Generator().manual_seed(seed)
    chosen, rejected, ref_chosen, ref_rejected = (-20 * torch.rand(8, generator=generator) for _ in range(4))
    chosen.requires_grad_(True)
    dpop = dpop_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.3, lam=0.0)
    (dpop_grad,) = torch.autograd.grad(dpop.sum(), chosen)
    dpo = sigmoid_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.3)
    (dpo_grad,) = torch.autograd.grad(dpo.sum(), chosen)
    assert torch.equal(dpop, dpo)
    assert torch.equal(dpop_grad, dpo_grad)


def test_positive_lambda_raises_loss_only_where_chosen_is_below_reference():
    chosen, rejected = t(-10.0, -5.0), t(-12.0, -8.0)
    ref_chosen, ref_rejected = t(-9.0, -6.0), t(-11.0, -6.0)  # pair 1 below the reference, pair 2 above
    dpo = sigmoid_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.3)
    dpop = dpop_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.3, lam=50.0)
    assert dpop[0] > dpo[0]
    assert dpop[1] == dpo[1]


def test_positive_lambda_pushes_chosen_logp_up_harder():
    chosen = t(-10.0).requires_grad_(True)
    args = (t(-12.0), t(-9.0), t(-11.0))
    (dpo_grad,) = torch.autograd.grad(sigmoid_loss(chosen, *args, beta=0.3).sum(), chosen)
    (dpop_grad,) = torch.autograd.grad(dpop_loss(chosen, *args, beta=0.3, lam=50.0).sum(), chosen)
    assert dpop_grad < dpo_grad < 0  # gradient descent raises log π(y_w) more under DPOP


def test_hinge_and_ipo_hand_computed():
    # log-ratios: chosen +1, rejected -1 → margin 2
    args = (t(-5.0), t(-8.0), t(-6.0), t(-7.0))
    torch.testing.assert_close(hinge_loss(*args, beta=0.1), t(1 - 0.1 * 2))  # SLiC: max(0, 1 - β·2)
    torch.testing.assert_close(hinge_loss(*args, beta=1.0), t(0.0))
    # IPO, lengths 2 and 4: 1/2 - (-1/4) = 0.75; (0.75 - 1/(2·0.5))² = 0.0625
    torch.testing.assert_close(ipo_loss(*args, beta=0.5, chosen_lengths=t(2.0), rejected_lengths=t(4.0)), t(0.0625))


def test_trl_loss_types_are_trls_own_list():
    """`TRL_LOSS_TYPES` is the list DPOConfig documents for the pinned TRL: a TRL upgrade that adds one fails here."""
    import re

    from trl import DPOConfig

    from prefbuild.train import TRL_LOSS_TYPES

    documented = DPOConfig.__dataclass_fields__["loss_type"].metadata["help"].split("If multiple")[0]
    assert tuple(re.findall(r"`'(\w+)'`", documented)) == TRL_LOSS_TYPES
