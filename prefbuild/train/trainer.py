"""DPOPTrainer: TRL's DPOTrainer with DPOP (Eq. 3 of arXiv 2402.13228) as one more loss type, composable with TRL's."""

from __future__ import annotations

import contextlib
import logging
import textwrap
import warnings

import torch
from accelerate.utils import is_peft_model
from trl import DPOTrainer

from prefbuild.train import prefix_sharing as ps
from prefbuild.train.config import DPOPConfig, check_supported_options
from prefbuild.train.losses import dpop_loss, dpop_penalty
from prefbuild.train.ref_cache import precompute_with_cache

logger = logging.getLogger(__name__)

# Per-token fields of TRL's FusedCausalLMOutput, shape (rows, length - 1): unpacked from packed rows under prefix sharing
_PER_TOKEN_FIELDS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1", "label_mask")


def unpack_per_token(
    values: torch.Tensor, packed: ps.PackedPairs, shift_completion_mask: torch.Tensor
) -> torch.Tensor:
    """Per-token values of the packed rows, `(pairs, packed length - 1)`, laid out as TRL's unshared batch.

    Returns `(2 * pairs, length - 1)`: `[chosen rows; rejected rows]`, aligned with `shift_completion_mask`
    (`completion_mask[:, 1:]`), each completion token's value at its place and zero elsewhere, as TRL's fused LM head
    returns them. The k-th scored token of a completion is the k-th in its packed mask (both in sequence order), so
    a shared token's value lands in both rows; gradients flow back to the one packed position (summed).
    """
    chosen_rows, rejected_rows = shift_completion_mask.bool().chunk(2, dim=0)
    unpacked = [
        values.new_zeros(rows.shape).masked_scatter(rows, values[mask])
        for rows, mask in ((chosen_rows, packed.chosen_mask), (rejected_rows, packed.rejected_mask))
    ]
    return torch.cat(unpacked, dim=0)


class DPOPTrainer(DPOTrainer):
    """
    Trainer for DPO-Positive ([Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive](
    https://huggingface.co/papers/2402.13228)) as one more `loss_type`, `'dpop'`, next to all of TRL's.

    `DPOPConfig.loss_type` takes `'dpop'` and every TRL 1.16 loss type, alone or as a list weighted by
    `loss_weights` (`["dpop", "sft"]`, RPO's `["sigmoid", "sft"]`, ...), with TRL's options (`ld_alpha`, WPO's
    `use_weighting`, `label_smoothing`, f-divergences, the MoE router loss, ...).

    It overrides `_compute_loss` without re-implementing it: TRL 1.16 runs the forward passes, its own losses and its
    metrics in that one method, with no smaller hook, so the override calls `super()._compute_loss` with `'dpop'`
    removed from `self.loss_types` (set once in `__init__`; the other weights are unchanged, TRL sums
    `weight × term`), records the policy and reference outputs of that same call with forward hooks, and adds
    `w_dpop × mean(dpop_loss(...))` (Eq. 3, `prefbuild.train.losses`) on the same log-probs (after `ld_alpha`, and
    times WPO's weights with `use_weighting`). One policy forward and one reference forward per step, as in TRL;
    without `'dpop'` in the list the loss and gradients are TRL's own.

    With `prefix_sharing=True` the same hooks run each fused-head forward of the batch (policy, reference model,
    adapter-free PEFT base, precomputed reference) on one packed row per pair (see `prefbuild.train.prefix_sharing`)
    and hand TRL the per-token outputs laid out as its unshared batch (`unpack_per_token`), so every loss type and
    option sees the log-probs of the unshared path. With `ref_logps_cache_dir`, `_precompute_ref_logps` reads the
    reference log-probs from that folder when its key matches (see `prefbuild.train.ref_cache`).

    Besides TRL's metrics (`logps/*`, `rewards/*`, `logits/*`, `entropy`, `mean_token_accuracy`, `num_tokens`) it logs,
    for every loss type so DPO runs show the failure mode DPOP fixes:
    - `dpop/penalty`: mean of `max(0, log π_ref(y_w|x) - log π_θ(y_w|x))` in nats (unscaled by λ and β);
    - `dpop/chosen_below_ref`: the fraction of pairs whose chosen log-prob is below the reference's;
    - `logps/ref_chosen`: the reference's chosen log-prob, the line DPOP keeps the policy above.

    Example:

    ```python
    >>> from prefbuild.train import DPOPConfig, DPOPTrainer

    >>> args = DPOPConfig(output_dir="runs/dpop", beta=0.3, dpop_lambda=50.0, loss_type=["dpop", "sft"])
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
        # TRL's loop computes every listed loss but 'dpop' (which it does not know); `_compute_loss` adds that term.
        # TRL sums weight × term without normalising, so the other weights are kept as they are.
        weights = args.loss_weights or [1.0] * len(args.loss_type)
        self.loss_types = [name for name in args.loss_type if name != "dpop"]
        self.loss_weights = [weight for name, weight in zip(args.loss_type, weights, strict=True) if name != "dpop"]
        self.uses_dpop = "dpop" in args.loss_type
        self.dpop_weight = sum(weight for name, weight in zip(args.loss_type, weights, strict=True) if name == "dpop")

    def _prefix_sharing_backend(self) -> str | None:
        """The attention implementation the packed forward uses, or None to run the unshared path.

        Resolved once, on first use (the model is loaded by then): on CUDA with FlexAttention available an `sdpa`
        model switches to `flex_attention` (block-sparse: fully masked blocks are skipped); an implementation that
        cannot take a custom mask falls back to the unshared path with a one-line warning.
        """
        if not self.args.prefix_sharing:
            return None
        if hasattr(self, "_prefix_sharing_resolved"):
            return self._prefix_sharing_resolved
        unwrapped = self.accelerator.unwrap_model(self.model)
        implementation = unwrapped.config._attn_implementation
        reason = None
        if self._is_vision_dataset:
            reason = "image inputs are not packed"
        elif self.aux_loss_enabled:
            # The load-balancing loss averages over the tokens routed: packed rows route each shared token once
            reason = "the MoE router loss (`router_aux_loss_coef`) would count shared tokens once, not twice"
        elif is_peft_model(unwrapped) and unwrapped.active_peft_config.is_prompt_learning:
            reason = "prompt-learning PEFT adds virtual tokens the packed mask does not cover"
        elif implementation == "sdpa" and ps.flex_attention_available() and self.args.device.type == "cuda":
            models = [unwrapped] + ([self.accelerator.unwrap_model(self.ref_model)] if self.ref_model else [])
            if all(getattr(m, "_supports_flex_attn", False) for m in models):
                for m in models:
                    m.set_attn_implementation("flex_attention")
                implementation = "flex_attention"
                logger.info("prefix_sharing: switched attention from sdpa to flex_attention (block mask).")
        if reason is None and implementation not in ps.SUPPORTED_IMPLEMENTATIONS:
            reason = f"attn_implementation '{implementation}' cannot take a custom attention mask"
        if reason is not None:
            warnings.warn(
                f"prefix_sharing is off: {reason}; training on the unshared path. Use attn_implementation "
                f"{' or '.join(ps.SUPPORTED_IMPLEMENTATIONS)} to share prefixes.",
                stacklevel=2,
            )
            implementation = None
        self._prefix_sharing_resolved = implementation
        return implementation

    def _pack(self, inputs, dtype):
        """Packed rows and their attention mask for a TRL preference batch."""
        collator = self.data_collator
        packed = ps.pack_pairs(
            inputs["input_ids"],
            inputs["attention_mask"],
            inputs["completion_mask"],
            pad_token_id=self._tokenizer.pad_token_id,
            pad_to_multiple_of=getattr(collator, "pad_to_multiple_of", None),
        )
        mask = ps.packed_attention_mask(packed, self._prefix_sharing_backend(), dtype)
        model_kwargs = {
            "input_ids": packed.input_ids,
            "attention_mask": mask,
            "position_ids": packed.position_ids,
            "use_cache": False,
        }
        return packed, model_kwargs

    @contextlib.contextmanager
    def _fused_forwards(self, inputs):
        """Record (and, with prefix sharing, pack) every fused-LM-head forward of this batch's policy and reference.

        Yields the list the outputs are appended to, in call order: TRL's `_compute_loss` runs the policy, then the
        reference (unless precomputed). Hooks sit on the unwrapped policy (which is also the reference for PEFT with
        the adapter disabled) and the unwrapped reference model, so DDP, DeepSpeed and FSDP wrappers still run their
        own forward. A forward without `fused_lm_head` (TRL's `return_outputs` logits pass) is left alone.
        """
        records = []
        packed = None
        if self._prefix_sharing_backend() is not None:
            packed, packed_kwargs = self._pack(inputs, self.model.dtype)
            shift_completion_mask = inputs["completion_mask"][:, 1:]
            self._last_packed = packed

        def pre_hook(module, args, kwargs):
            if packed is None or not kwargs.get("fused_lm_head") or args:
                return None
            kwargs = {key: value for key, value in kwargs.items() if key not in ("input_ids", "attention_mask")}
            return args, {**kwargs, **packed_kwargs, "labels": packed.labels}

        def hook(module, args, kwargs, output):
            if not kwargs.get("fused_lm_head"):
                return None
            if packed is not None and kwargs.get("position_ids") is packed.position_ids:
                per_token = {
                    name: unpack_per_token(getattr(output, name), packed, shift_completion_mask)
                    for name in _PER_TOKEN_FIELDS
                    if getattr(output, name) is not None
                }
                # `loss` is the packed rows' NLL, which TRL's DPO loss does not read; drop it rather than mislead
                output = type(output)(**{**dict(output.items()), **per_token, "loss": None})
            records.append(output)
            return output

        modules = [self.accelerator.unwrap_model(self.model)]
        if self.ref_model is not None:
            modules.append(self.accelerator.unwrap_model(self.ref_model))
        handles = []
        try:
            for module in modules:
                handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
                handles.append(module.register_forward_hook(hook, with_kwargs=True))
            yield records
        finally:
            for handle in handles:
                handle.remove()

    def compute_ref_log_probs(self, model, inputs):
        """TRL's reference log-probs for one batch (precompute), on the packed rows when prefix sharing is on."""
        with self._fused_forwards(inputs):
            return super().compute_ref_log_probs(model, inputs)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        """TRL's precompute, read from / written to `ref_logps_cache_dir` when it is set."""
        if self.args.ref_logps_cache_dir is None:
            return super()._precompute_ref_logps(dataset, name, batch_size)
        return precompute_with_cache(self, dataset, name, batch_size, super()._precompute_ref_logps)

    def _sequence_logps(self, per_token_logps: torch.Tensor, shift_completion_mask: torch.Tensor) -> torch.Tensor:
        """Per-sequence log-probs as TRL's `_compute_loss` forms them: a sum, or LD-DPO's weighting with `ld_alpha`."""
        if self.ld_alpha is None:
            return per_token_logps.sum(dim=1)
        # LD-DPO (as in TRL 1.16): tokens past the shorter completion's length are weighted by ld_alpha
        positions = shift_completion_mask.cumsum(dim=1)
        chosen_lengths, rejected_lengths = shift_completion_mask.sum(dim=1).long().chunk(2, dim=0)
        shared_lengths = torch.minimum(chosen_lengths, rejected_lengths).repeat(2)[:, None]
        shared_mask = (positions > 0) & (positions <= shared_lengths)
        tail_mask = positions > shared_lengths
        return (per_token_logps * shared_mask).sum(dim=1) + self.ld_alpha * (per_token_logps * tail_mask).sum(dim=1)

    def _wpo_weights(self, outputs, shift_completion_mask: torch.Tensor) -> torch.Tensor:
        """WPO's per-pair weights (Eq. 2 of arXiv 2406.11827) exactly as TRL 1.16 applies them to its own losses."""
        seq_len = shift_completion_mask.size(1)
        with torch.no_grad():
            aligned = (
                outputs.log_probs[:, -seq_len:] - outputs.log_sum_sq_probs[:, -seq_len:]
            ) * shift_completion_mask
        weights = torch.exp(aligned.sum(dim=1) / shift_completion_mask.sum(dim=1).clamp_min(1))
        chosen_weights, rejected_weights = weights.chunk(2, dim=0)
        return chosen_weights * rejected_weights

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        with self._fused_forwards(inputs) as records:
            result = super()._compute_loss(model, inputs, return_outputs)
        loss, outputs = result if return_outputs else (result, None)

        # The outputs of TRL's own forwards: the policy's first, then the reference's (not run when precomputed)
        expected = 1 if self.precompute_ref_logps else 2
        if len(records) != expected:
            raise RuntimeError(
                f"DPOPTrainer expected {expected} fused-LM-head forward(s) in TRL's `_compute_loss`, saw {len(records)}: "
                "this TRL version computes the loss differently. Pin `trl==1.16.*`."
            )
        shift_completion_mask = inputs["completion_mask"][:, 1:]
        seq_len = shift_completion_mask.size(1)
        chosen_logps, rejected_logps = self._sequence_logps(
            records[0].log_probs[:, -seq_len:], shift_completion_mask
        ).chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_logps = self._sequence_logps(records[1].log_probs[:, -seq_len:], shift_completion_mask)
            ref_chosen_logps, ref_rejected_logps = ref_logps.chunk(2, dim=0)

        if self.uses_dpop:
            # Eq. 3 on the same log-probs TRL's terms used, weighted like them
            per_pair = dpop_loss(
                chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, self.beta, self.args.dpop_lambda
            )
            if self.use_weighting:
                per_pair = per_pair * self._wpo_weights(records[0], shift_completion_mask)
            loss = loss + self.dpop_weight * per_pair.mean()

        self._log_dpop_metrics(mode, chosen_logps, ref_chosen_logps)
        if self._prefix_sharing_backend() is not None:
            packed = self._last_packed
            self._metrics[mode]["prefix_sharing/token_ratio"].append(packed.unshared_tokens / packed.packed_tokens)
        return (loss, outputs) if return_outputs else loss

    def _log_dpop_metrics(self, mode, chosen_logps, ref_chosen_logps):
        """DPOP's metrics, for every loss type, each averaged over all processes (TRL logs the others)."""
        penalty = dpop_penalty(chosen_logps.detach(), ref_chosen_logps.detach())
        per_pair = {
            "logps/ref_chosen": ref_chosen_logps.detach(),  # the reference's log π_ref(y_w|x): the line DPOP keeps above
            "dpop/penalty": penalty,
            "dpop/chosen_below_ref": (penalty > 0).float(),
        }
        for name, values in per_pair.items():
            self._metrics[mode][name].append(self.accelerator.gather_for_metrics(values).mean().item())
