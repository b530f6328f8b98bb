"""DPOPConfig: TRL's DPOConfig plus DPOP's λ; `loss_type` takes `'dpop'` and every TRL loss, alone or in a list."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from trl import DPOConfig

from prefbuild.train.losses import SUPPORTED_LOSS_TYPES


@dataclass
class DPOPConfig(DPOConfig):
    r"""
    Configuration class for [`DPOPTrainer`]: everything [`~trl.DPOConfig`] has, plus DPOP's λ.

    Only the parameters DPOP adds or changes are listed here; see [`~trl.DPOConfig`] and
    [`~transformers.TrainingArguments`] for the rest.

    Parameters:
        loss_type (`list[str]`, *optional*, defaults to `["dpop"]`):
            The loss, or a list of losses summed with `loss_weights`, as in TRL. `'dpop'` is DPO-Positive (Eq. 3 of
            arXiv 2402.13228); every TRL 1.16 loss type is accepted as well and computed by TRL itself: `'sigmoid'`
            (DPO), `'ipo'`, `'hinge'` (TRL's reference-normalised hinge, the paper's "SLiC" baseline), `'sft'`,
            `'robust'`, `'exo_pair'`, `'nca_pair'`, `'bco_pair'`, `'sppo_hard'`, `'aot'`, `'aot_unpaired'`,
            `'apo_zero'`, `'apo_down'`, `'discopop'`, `'sigmoid_norm'`. Lists compose them, e.g. `["dpop", "sft"]`
            or RPO's `["sigmoid", "sft"]`. `'dpop'` with `dpop_lambda=0` is exactly `'sigmoid'`.
        dpop_lambda (`float`, *optional*, defaults to `50.0`):
            λ of Eq. 3: the weight of the penalty `max(0, log π_ref(y_w|x) - log π_θ(y_w|x))` that stops the
            chosen completion's log-prob from falling below the reference's. Must be >= 0. The paper uses 50 and
            ablates {5, 50, 500}. Only read when `loss_type` has `'dpop'`.
        prefix_sharing (`bool`, *optional*, defaults to `False`):
            Pack each pair as one sequence, `[prompt + shared completion prefix][chosen suffix][rejected suffix]`,
            split at the first differing token, for the policy and the reference forward: the shared tokens are
            computed once. Same losses, log-probs and gradients as the unshared path (float rounding aside); fewer
            tokens per step the longer the prompt and the later the edit. Needs an attention implementation that
            takes a custom mask (`sdpa`, `eager`, `flex_attention`); on CUDA with FlexAttention available an `sdpa`
            model switches to `flex_attention`. Others fall back to the unshared path with a warning.
        ref_logps_cache_dir (`str` or `None`, *optional*, defaults to `None`):
            With `precompute_ref_log_probs=True`, a folder where the reference log-probs are stored, keyed by the
            reference model, the tokenized dataset, the tokenizer and chat template, and `max_length` /
            `truncation_mode`. A later run with the same key reads them instead of recomputing. `prefbuild train`
            sets it to `<dataset folder>/.ref_logps` (hidden: `prefbuild push` skips it) when `dataset_name` is a
            local folder. `None`: no disk cache.
    """

    loss_type: list[str] = field(
        default_factory=lambda: ["dpop"],
        metadata={
            "help": "The loss, or a list of losses summed with loss_weights, as in TRL: 'dpop' (DPO-Positive, Eq. 3 "
            "of arXiv 2402.13228) or any TRL 1.16 loss type ('sigmoid', 'ipo', 'hinge', 'sft', 'robust', ...), "
            "computed by TRL itself. Lists compose them, e.g. [dpop, sft] or RPO's [sigmoid, sft]. 'dpop' with "
            "dpop_lambda=0 is exactly 'sigmoid'.",
        },
    )
    dpop_lambda: float = field(
        default=50.0,
        metadata={
            "help": "λ of Eq. 3: weight of the penalty max(0, log π_ref(y_w|x) - log π_θ(y_w|x)) that stops the "
            "chosen completion's log-prob from falling below the reference's. Must be >= 0. The paper uses 50 and "
            "ablates {5, 50, 500}. Only read when loss_type has 'dpop'.",
        },
    )

    prefix_sharing: bool = field(
        default=False,
        metadata={
            "help": "Pack each pair as one sequence [prompt + shared completion prefix][chosen suffix][rejected "
            "suffix], split at the first differing token, for the policy and the reference forward: shared tokens "
            "are computed once. Same losses, log-probs and gradients as the unshared path. Needs an attention "
            "implementation that takes a custom mask (sdpa, eager, flex_attention; on CUDA an sdpa model switches "
            "to flex_attention when available); others fall back to the unshared path with a warning.",
        },
    )
    ref_logps_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "With precompute_ref_log_probs, a folder where reference log-probs are stored, keyed by the "
            "reference model, tokenized dataset, tokenizer and chat template, max_length and truncation_mode; a "
            "later run with the same key reads them. `prefbuild train` sets it to <dataset folder>/.ref_logps for a "
            "local dataset folder. None: no disk cache.",
        },
    )

    def __post_init__(self):
        super().__post_init__()  # turns a single `loss_type` string into a list
        check_supported_options(self)


def check_supported_options(args: DPOConfig) -> None:
    """Raise `ValueError` naming the option when `args` asks for something DPOPTrainer cannot do.

    Every TRL 1.16 loss type and option is handed to TRL's own `_compute_loss`; only what the `'dpop'` term adds is
    checked here (and TRL's own checks run in `DPOTrainer.__init__`): known loss types with finite weights, a valid
    λ and β, and no option that contradicts Eq. 3 (an f-divergence or a moving reference).
    """
    loss_type = args.loss_type if isinstance(args.loss_type, list) else [args.loss_type]
    if not loss_type:
        raise ValueError("`loss_type` is empty. Name at least one loss, e.g. `loss_type: dpop`.")
    for name in loss_type:
        if name not in SUPPORTED_LOSS_TYPES:
            close = difflib.get_close_matches(str(name), SUPPORTED_LOSS_TYPES, n=1, cutoff=0.5)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise ValueError(
                f"Unknown `loss_type` '{name}' for DPOPTrainer.{hint} Available: {', '.join(SUPPORTED_LOSS_TYPES)}."
            )
    if args.loss_weights is not None:
        if len(args.loss_weights) != len(loss_type):
            raise ValueError(
                f"`loss_weights` has {len(args.loss_weights)} weights for {len(loss_type)} loss types {loss_type}. "
                "Give one weight per loss type, in the same order, or unset `loss_weights` for weights of 1.0."
            )
        for weight in args.loss_weights:
            if not math.isfinite(weight):
                raise ValueError(f"`loss_weights` must be finite numbers, got {args.loss_weights}.")
    dpop_lambda = getattr(args, "dpop_lambda", None)
    if dpop_lambda is None:
        raise TypeError(
            f"DPOPTrainer needs a `DPOPConfig` (it carries `dpop_lambda`), got {type(args).__name__}. Build the "
            "arguments with `prefbuild.train.DPOPConfig(...)`."
        )
    if not dpop_lambda >= 0:  # also catches NaN
        raise ValueError(
            f"`dpop_lambda` must be >= 0, got {dpop_lambda}. λ weights the penalty on the chosen log-ratio; use 0 "
            "for plain DPO."
        )
    if math.isinf(dpop_lambda):
        raise ValueError(
            f"`dpop_lambda` must be finite, got {dpop_lambda}: an infinite penalty weight makes the loss inf or NaN. "
            "The paper uses 50 (ablation: 5, 50, 500)."
        )
    if not (args.beta > 0 and math.isfinite(args.beta)):  # β = inf or NaN trains on NaN rewards and exits 0
        raise ValueError(
            f"`beta` must be > 0 and finite, got {args.beta}. The paper uses 0.3 (ablation: 0.1, 0.3, 1.0)."
        )
    check_sizes(args)
    if "dpop" in loss_type:
        if args.f_divergence_type != "reverse_kl":
            raise ValueError(
                f"`f_divergence_type` {args.f_divergence_type!r} does not combine with `loss_type` 'dpop': Eq. 3 is "
                "defined for the reverse KL. Use `f_divergence_type='reverse_kl'`, or drop 'dpop' from `loss_type`."
            )
        if args.sync_ref_model:
            raise ValueError(
                "`sync_ref_model` is True but `loss_type` has 'dpop': Eq. 3 penalises the chosen log-prob falling "
                "below a fixed reference, and TR-DPO's syncing moves that reference. Set `sync_ref_model: false`, or "
                "drop 'dpop' from `loss_type`."
            )
    if args.use_weighting and "sft" in loss_type:
        # TRL 1.16 expands sft's scalar loss to the batch and then multiplies that view in place (RuntimeError)
        raise ValueError(
            "`use_weighting` does not combine with `loss_type` 'sft' in TRL 1.16: its WPO weighting multiplies the "
            "sft term in place and fails. Set `use_weighting: false`, or drop 'sft' from `loss_type`."
        )
    cache_dir = getattr(args, "ref_logps_cache_dir", None)
    if cache_dir is not None and not args.precompute_ref_log_probs:
        raise ValueError(
            f"`ref_logps_cache_dir` is {cache_dir!r} but `precompute_ref_log_probs` is False, so there is nothing to "
            "cache. Set `precompute_ref_log_probs: true`, or unset `ref_logps_cache_dir`."
        )


def check_sizes(args: DPOConfig) -> None:
    """Raise `ValueError` for batch and length settings that crash or train on nothing deep inside the Trainer.

    Batch sizes of 0 reach torch's sampler (`ValueError: batch_size should be a positive integer`), 0 accumulation
    steps a `ZeroDivisionError`, and a `max_length` below 2 leaves no completion token to score (the first token of
    a sequence has no log-prob), so TRL drops every example and the sampler fails on an empty dataset.
    """
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        value = getattr(args, name)
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}. Use 1 or more.")
    if args.max_length is not None and args.max_length < 2:
        raise ValueError(
            f"`max_length` must be >= 2 (or null for no truncation), got {args.max_length}: prompt and completion "
            "share it, so it leaves no completion token. The paper's recipes use 1024 or more."
        )
