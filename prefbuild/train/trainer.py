"""DPOPTrainer: TRL's DPOTrainer with DPOP (Eq. 3 of arXiv 2402.13228) and the paper's baselines behind one switch."""

from __future__ import annotations

import contextlib
import logging
import textwrap
import warnings

import torch
from accelerate.utils import is_peft_model
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import use_adapter

from prefbuild.train import prefix_sharing as ps
from prefbuild.train.config import DPOPConfig, check_supported_options
from prefbuild.train.losses import dpop_loss, dpop_penalty, hinge_loss, ipo_loss, sigmoid_loss
from prefbuild.train.ref_cache import precompute_with_cache

logger = logging.getLogger(__name__)

# Batch keys the collator adds that are not model inputs
_NON_MODEL_KEYS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


class _Float64ReferenceLogps:
    """TRL's preference collator, with the precomputed reference log-probs handed over in float64.

    TRL's collator builds them with `torch.tensor(list_of_floats)`, i.e. float32, which rounds a sum of ≈ -1,000 nats
    to 6e-5; the dataset column holds the float64 sums `compute_ref_log_probs` returns.
    """

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, examples):
        batch = self.collator(examples)
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in batch:
                batch[key] = torch.tensor([example[key] for example in examples], dtype=torch.float64)
        return batch

    def __getattr__(self, name):  # pad_token_id, pad_to_multiple_of, ... (not `collator` itself: pickling)
        if name == "collator" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.collator, name)


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

    With `prefix_sharing=True` the policy and reference forwards run on one packed sequence per pair (see
    `prefbuild.train.prefix_sharing`); the loss, log-probs and metrics are those of the unshared path. With
    `ref_logps_cache_dir`, `_precompute_ref_logps` reads the reference log-probs from that folder when its key matches
    (see `prefbuild.train.ref_cache`).

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
        if self.precompute_ref_logps:
            self.data_collator = _Float64ReferenceLogps(self.data_collator)
        if self.aux_loss_enabled:
            raise ValueError(
                f"`router_aux_loss_coef` is {self.router_aux_loss_coef} for this Mixture-of-Experts model, but "
                "DPOPTrainer does not add the router load-balancing loss. Set `router_aux_loss_coef=0.0`."
            )

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
        """Packed rows and their attention mask for a TRL preference batch, built once for the policy and reference."""
        cached = getattr(self, "_last_pack", None)
        if cached is not None and cached[0] is inputs["input_ids"] and cached[1] == dtype:
            return cached[2], dict(cached[3])
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
        self._last_pack = (inputs["input_ids"], dtype, packed, model_kwargs)
        return packed, dict(model_kwargs)

    def _reference_context(self):
        """Where the reference comes from the policy itself: the PEFT base with the adapter off (as TRL does)."""
        if self.ref_model is None and is_peft_model(self.model):
            unwrapped = self.accelerator.unwrap_model(self.model)
            return use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None)
        return contextlib.nullcontext()

    def _packed_ref_log_probs(self, ref_model, inputs, autocast: bool):
        packed, model_kwargs = self._pack(inputs, self.model.dtype)
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            self._reference_context(),
            self.accelerator.autocast() if autocast else contextlib.nullcontext(),
        ):
            log_probs = ref_model(**model_kwargs, labels=packed.labels, fused_lm_head=True).log_probs
        return packed.sequence_log_probs(log_probs[:, -packed.chosen_mask.size(1) :])

    def compute_ref_log_probs(self, model, inputs):
        """TRL's reference log-probs for one batch (summed in float64), on the packed rows when prefix sharing is on."""
        if self._prefix_sharing_backend() is None:
            return self._unshared_ref_log_probs(model, inputs)
        return self._packed_ref_log_probs(model, inputs, autocast=True)

    def _unshared_ref_log_probs(self, model, inputs):
        """TRL's `compute_ref_log_probs` (without `ld_alpha`, rejected by the config check) with float64 sums."""
        model_kwargs = {key: value for key, value in inputs.items() if key not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            self._reference_context(),
            self.accelerator.autocast(),
        ):
            log_probs = model(**model_kwargs, labels=labels, fused_lm_head=True).log_probs
        # Prompt-learning PEFT prepends virtual tokens to the outputs; keep the positions of the real tokens
        log_probs = log_probs[:, -(inputs["completion_mask"].size(1) - 1) :]
        return ps.sum_token_log_probs(log_probs).chunk(2, dim=0)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        """TRL's precompute, read from / written to `ref_logps_cache_dir` when it is set."""
        if self.args.ref_logps_cache_dir is None:
            return super()._precompute_ref_logps(dataset, name, batch_size)
        return precompute_with_cache(self, dataset, name, batch_size, super()._precompute_ref_logps)

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        model_kwargs = {key: value for key, value in inputs.items() if key not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        completion_mask = inputs["completion_mask"]
        pairs = completion_mask.size(0) // 2

        if self._prefix_sharing_backend() is not None:
            # One packed row per pair; shared completion tokens count in both sums
            packed, packed_kwargs = self._pack(inputs, self.model.dtype)
            outputs = model(**packed_kwargs, labels=packed.labels, fused_lm_head=True)
            seq_len = packed.chosen_mask.size(1)
            chosen_logps, rejected_logps = packed.sequence_log_probs(outputs.log_probs[:, -seq_len:])
            # Per-token metrics read the packed row through each completion's mask
            rows = {"chosen": (slice(None), packed.chosen_mask), "rejected": (slice(None), packed.rejected_mask)}
            self._metrics[mode]["prefix_sharing/token_ratio"].append(packed.unshared_tokens / packed.packed_tokens)
        else:
            packed = None
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            # Policy: per-token log-probs of the labels from TRL's fused LM head (zero outside the completion)
            outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
            shift_completion_mask = completion_mask[:, 1:].bool()
            seq_len = shift_completion_mask.size(1)
            # Prompt-learning PEFT prepends virtual tokens to the outputs; keep the positions of the real tokens
            per_token_logps = outputs.log_probs[:, -seq_len:]
            # float64 sums, as in the packed path (see prefix_sharing's docstring); batch is [chosen; rejected]
            chosen_logps, rejected_logps = ps.sum_token_log_probs(per_token_logps).chunk(2, dim=0)
            rows = {
                "chosen": (slice(None, pairs), shift_completion_mask[:pairs]),
                "rejected": (slice(pairs, None), shift_completion_mask[pairs:]),
            }

        # Reference: precomputed columns, or one no-grad forward of the reference model / adapter-free PEFT base
        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        elif packed is not None:
            # As TRL does: the adapter-free PEFT base is run through the unwrapped model, outside DDP's forward
            ref_model = self.ref_model if self.ref_model is not None else self.model
            ref_chosen_logps, ref_rejected_logps = self._packed_ref_log_probs(ref_model, inputs, autocast=False)
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
        # The log-probs are float64 sums; the loss goes back to the per-token dtype
        loss = per_pair_loss.mean().to(outputs.log_probs.dtype)

        self._log_pair_metrics(mode, inputs, outputs, rows, seq_len, *logps)

        if return_outputs:
            warnings.warn(
                "`return_outputs=True` recomputes the logits with an extra forward pass (the fused LM head does not "
                "build them); set `prediction_loss_only=True` to skip it.",
                stacklevel=2,
            )
            with torch.no_grad():
                outputs = model(**model_kwargs)
        return (loss, outputs) if return_outputs else loss

    def _log_pair_metrics(self, mode, inputs, outputs, rows, seq_len, chosen, rejected, ref_chosen, ref_rejected):
        """Record TRL's usual DPO metrics plus DPOP's penalty, each averaged over all processes.

        `rows["chosen"]` / `rows["rejected"]` = (the rows of the per-token outputs that hold that completion, its
        mask over them): the two halves of TRL's batch, or the packed rows read through each completion's mask, so
        both paths log the same values.
        """
        gather = self.accelerator.gather_for_metrics
        metrics = self._metrics[mode]

        def ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
            total = gather(denominator.detach().reshape(1)).sum().item()
            return gather(numerator.detach().reshape(1)).sum().item() / total if total > 0 else 0.0

        (chosen_rows, chosen_mask), (rejected_rows, rejected_mask) = rows["chosen"], rows["rejected"]

        def per_completion(values):
            values = values[:, -seq_len:]
            return values[chosen_rows], values[rejected_rows]

        chosen_entropy, rejected_entropy = per_completion(outputs.entropy)
        entropy_sum = (chosen_entropy * chosen_mask).sum() + (rejected_entropy * rejected_mask).sum()
        metrics["entropy"].append(ratio(entropy_sum, chosen_mask.sum() + rejected_mask.sum()))
        if mode == "train":
            self._total_train_tokens += gather(inputs["attention_mask"].sum().reshape(1)).sum().item() // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        chosen_mean_logits, rejected_mean_logits = per_completion(outputs.mean_logits)
        metrics["logits/chosen"].append(ratio(chosen_mean_logits[chosen_mask].sum(), chosen_mask.sum()))
        metrics["logits/rejected"].append(ratio(rejected_mean_logits[rejected_mask].sum(), rejected_mask.sum()))
        chosen_is_top1, _ = per_completion(outputs.is_top1)
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
