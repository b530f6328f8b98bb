"""Train on preference pairs with DPOP (arXiv 2402.13228, Eq. 3) and any TRL loss, alone or combined, on top of TRL."""

from prefbuild.train.config import DPOPConfig
from prefbuild.train.losses import (
    LOSS_TYPES,
    SUPPORTED_LOSS_TYPES,
    TRL_LOSS_TYPES,
    dpop_loss,
    hinge_loss,
    ipo_loss,
    sigmoid_loss,
)
from prefbuild.train.trainer import DPOPTrainer

__all__ = [
    "DPOPConfig",
    "DPOPTrainer",
    "LOSS_TYPES",
    "SUPPORTED_LOSS_TYPES",
    "TRL_LOSS_TYPES",
    "dpop_loss",
    "hinge_loss",
    "ipo_loss",
    "sigmoid_loss",
]
