"""DPOPTrainer: TRL's DPOTrainer with DPOP (Eq. 3 of arXiv 2402.13228) and the paper's baselines behind one switch."""

from __future__ import annotations

import textwrap
import warnings

import torch
from trl import DPOTrainer

from prefbuild.train.config import DPOPConfig, check_supported_options
from prefbuild.train.losses import dpop_loss, dpop_penalty, hinge_loss, ipo_loss, sigmoid_loss

# Batch keys the collator adds that are not model inputs
_NON_MODEL_KEYS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


class DPOPTrainer(DPOTrainer):
    """
    Trainer for DPO-Positive ([Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive](
    https://huggingface.co/papers/2402.13228)) and the paper's baselines DPO, IPO and SLiC, chosen by
    `DPOPConfig.loss_type` (`'dpop'`, `'sigmoid'`, `'ipo'`, `'hinge'`).

    It overrides one method, `_compute_loss`, because TRL 1.16 computes the log-probs, the loss and the metrics there
    with no smaller hook. The override reuses TRL's pieces: the fused LM head (`fused_lm_head=True`, no full logits),
    `compute_ref_log_probs` for the reference (a separate model, or the PEFT base with the adapter disabled), and the
    reference log-probs precomputed by `precompute_ref_log_probs=True`. It hands the per-sequence log-probs to the
    pure functions in `prefbuild.train.losses`, so DPO and DPOP runs differ in the loss alone.

    `__init__` only adds checks: TRL options the override does not implement (several loss types, `ld_alpha`,
    f-divergences, label smoothing, WPO weighting, the MoE router loss) raise a `ValueError` naming the option.

    Besides TRL's metrics (`logps/*`, `rewards/*`, `logits/*`, `entropy`, `mean_token_accuracy`, `num_tokens`) it logs,
    for every loss type so DPO runs show the failure mode DPOP fixes:
    - `dpop/penalty`: mean of `max(0, log π_ref(y_w|x) - log π_θ(y_w|x))` in nats (unscaled by λ and β);
    - `dpop/chosen_below_ref`: the fraction of pairs whose chosen log-prob is below the reference's.

    Example:

    ```python
    >>> from prefbuild.train import DPOPConfig, DPOPTrainer

    >>> args = DPOPConfig(output_dir="runs/dpop", beta=0.3, dpop_lambda=50.0)
    >>> trainer = DPOPTrainer(model="runs/tiny-model", args=args, train_dataset=dataset["train"])
    >>> trainer.train()
    ```
    """

    _tag_names = ["trl", "dpo", "dpop", "prefbuild"]
    _name = "DPOP"
    _paper = {
        "title": "Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive",
        "id": "2402.13228",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{pal2024smaug,
                title        = {{Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive}},
                author       = {Arka Pal and Deep Karkhanis and Samuel Dooley and Manley Roberts and Siddartha Naidu and Colin White},
                year         = 2024,
                eprint       = {arXiv:2402.13228},
            }"""),
    }

    def __init__(self, model, ref_model=None, args: DPOPConfig | None = None, *more_args, **kwargs):
        if args is None:
            name = model if isinstance(model, str) else model.config._name_or_path
            args = DPOPConfig(f"{str(name).rstrip('/').split('/')[-1]}-DPOP")
        # Checked again here (DPOPConfig checks at construction) because fields can be changed afterwards and because
        # a plain DPOConfig has no `dpop_lambda`.
        check_supported_options(args)
        super().__init__(model, ref_model, args, *more_args, **kwargs)
        if self.aux_loss_enabled:
            raise ValueError(
                f"`router_aux_loss_coef` is {self.router_aux_loss_coef} for this Mixture-of-Experts model, but "
                "DPOPTrainer does not add the router load-balancing loss. Set `router_aux_loss_coef=0.0`."
            )

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        model_kwargs = {key: value for key, value in inputs.items() if key not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)

        # Policy: per-token log-probs of the labels from TRL's fused LM head (zero outside the completion)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        shift_completion_mask = completion_mask[:, 1:]
        seq_len = shift_completion_mask.size(1)
        # Prompt-learning PEFT prepends virtual tokens to the outputs; keep the positions of the real tokens
        per_token_logps = outputs.log_probs[:, -seq_len:]
        chosen_logps, rejected_logps = per_token_logps.sum(dim=1).chunk(2, dim=0)  # batch is [chosen; rejected]

        # Reference: precomputed columns, or one no-grad forward of the reference model / adapter-free PEFT base
        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_model = self.ref_model if self.ref_model is not None else model
            ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(ref_model, inputs)

        loss_type = self.loss_types[0]  # exactly one, see check_supported_options
        logps = (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
        if loss_type == "dpop":
            per_pair_loss = dpop_loss(*logps, beta=self.beta, lam=self.args.dpop_lambda)
        elif loss_type == "sigmoid":
            per_pair_loss = sigmoid_loss(*logps, beta=self.beta)
        elif loss_type == "hinge":
            per_pair_loss = hinge_loss(*logps, beta=self.beta)
        elif loss_type == "ipo":
            chosen_lengths, rejected_lengths = completion_mask.sum(dim=1).chunk(2, dim=0)
            per_pair_loss = ipo_loss(
                *logps, beta=self.beta, chosen_lengths=chosen_lengths, rejected_lengths=rejected_lengths
            )
        else:  # unreachable after check_supported_options
            raise ValueError(f"Unknown `loss_type` '{loss_type}'.")
        loss = per_pair_loss.mean()

        self._log_pair_metrics(mode, inputs, outputs, shift_completion_mask, seq_len, *logps)

        if return_outputs:
            warnings.warn(
                "`return_outputs=True` recomputes the logits with an extra forward pass (the fused LM head does not "
                "build them); set `prediction_loss_only=True` to skip it.",
                stacklevel=2,
            )
            with torch.no_grad():
                outputs = model(**model_kwargs)
        return (loss, outputs) if return_outputs else loss

    def _log_pair_metrics(
        self, mode, inputs, outputs, shift_completion_mask, seq_len, chosen, rejected, ref_chosen, ref_rejected
    ):
        """Record TRL's usual DPO metrics plus DPOP's penalty, each averaged over all processes."""
        gather = self.accelerator.gather_for_metrics
        metrics = self._metrics[mode]

        def ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
            total = gather(denominator.detach().reshape(1)).sum().item()
            return gather(numerator.detach().reshape(1)).sum().item() / total if total > 0 else 0.0

        mask = shift_completion_mask.bool()
        chosen_mask, rejected_mask = mask.chunk(2, dim=0)
        metrics["entropy"].append(ratio((outputs.entropy[:, -seq_len:] * mask).sum(), mask.sum()))
        if mode == "train":
            self._total_train_tokens += gather(inputs["attention_mask"].sum().reshape(1)).sum().item() // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        chosen_mean_logits, rejected_mean_logits = outputs.mean_logits[:, -seq_len:].chunk(2, dim=0)
        metrics["logits/chosen"].append(ratio(chosen_mean_logits[chosen_mask].sum(), chosen_mask.sum()))
        metrics["logits/rejected"].append(ratio(rejected_mean_logits[rejected_mask].sum(), rejected_mask.sum()))
        chosen_is_top1, _ = outputs.is_top1[:, -seq_len:].chunk(2, dim=0)
        metrics["mean_token_accuracy"].append(ratio((chosen_is_top1 & chosen_mask).sum(), chosen_mask.sum()))

        chosen_rewards = self.beta * (chosen - ref_chosen).detach()
        rejected_rewards = self.beta * (rejected - ref_rejected).detach()
        penalty = dpop_penalty(chosen.detach(), ref_chosen)
        per_pair = {
            "rewards/chosen": chosen_rewards,
            "rewards/rejected": rejected_rewards,
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float(),
            "rewards/margins": chosen_rewards - rejected_rewards,
            "logps/chosen": chosen.detach(),
            "logps/rejected": rejected.detach(),
            "logps/ref_chosen": ref_chosen.detach(),  # the reference's log π_ref(y_w|x): the line DPOP keeps above
            "dpop/penalty": penalty,
            "dpop/chosen_below_ref": (penalty > 0).float(),
        }
        for name, values in per_pair.items():
            metrics[name].append(gather(values).mean().item())
