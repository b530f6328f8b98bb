"""CHES: the centered hidden embedding similarity of a preference pair (Razin et al. 2024, arXiv 2410.08847).

Razin et al. show that DPO lowers the likelihood of the chosen completion y⁺ most on pairs whose two completions
have similar hidden embeddings under the model being trained, and score that similarity with

    CHES(x, y⁺, y⁻) = ⟨Σₖ h(x, y⁺<k), Σₖ' h(x, y⁻<k')⟩ − ‖Σₖ h(x, y⁺<k)‖²

    normalised CHES = ⟨(1/|y⁺|) Σₖ h(x, y⁺<k), (1/|y⁻|) Σₖ' h(x, y⁻<k')⟩ − ‖(1/|y⁺|) Σₖ h(x, y⁺<k)‖²

where h(x, y<k) is the model's last hidden layer at the position that predicts the k-th completion token, i.e. the
vector the LM head multiplies (after the final norm; for Llama in transformers 5 that is `base_model(...)`'s
`last_hidden_state`, also `hidden_states[-1]` with `output_hidden_states=True`). The positions are the last prompt
position (it predicts the first completion token) through the second-to-last completion position; the final
completion position predicts nothing in the completion and is excluded. Higher CHES = more displacement risk.

The sums are accumulated in float32 whatever the model's dtype, and CHES is computed in float64 as
⟨Σh⁺, Σh⁻ − Σh⁺⟩, which equals the definition and avoids subtracting two large, nearly equal numbers for the
low-edit pairs (MetaMath) that matter most here. Σh⁻ − Σh⁺ is taken over the positions after the completions'
common prefix only: in a causal model the positions up to the first differing token see the same tokens in both
sequences and have the same hidden states, so their exact contribution is zero rather than float32 noise (which
moved CHES by up to 1.2e-3 relative between batch sizes on MetaMath-like pairs; up to 3.3e-4 this way: see
benchmarks/ches_throughput.py).

Token ids come from `tokenize_pairs`, which tokenises built rows the way TRL 1.16's `DPOTrainer` does (prompt ids,
then each completion's ids where prompt + completion diverges from the prompt alone), so the hidden states are those
of the sequences DPO trains on (without its `max_length` truncation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

logger = logging.getLogger(__name__)


def ches_from_sums(
    chosen_sums: torch.Tensor,
    rejected_sums: torch.Tensor,
    chosen_lengths: torch.Tensor,
    rejected_lengths: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CHES and normalised CHES (float64, one per row) from per-pair sums of hidden states and completion lengths.

    Args:
        chosen_sums / rejected_sums: `[pairs, hidden]`, Σh over the positions that predict each completion's tokens.
        chosen_lengths / rejected_lengths: `[pairs]`, the number of completion tokens (= positions summed).
    """
    chosen_sums, rejected_sums = chosen_sums.double(), rejected_sums.double()
    ches = (chosen_sums * (rejected_sums - chosen_sums)).sum(-1)  # = ⟨Σh⁺, Σh⁻⟩ − ‖Σh⁺‖²
    chosen_means = chosen_sums / chosen_lengths.double().unsqueeze(-1)
    rejected_means = rejected_sums / rejected_lengths.double().unsqueeze(-1)
    normalised = (chosen_means * (rejected_means - chosen_means)).sum(-1)
    return ches, normalised


def _last_hidden_states(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The LM head's input at every position, `[batch, length, hidden]`.

    Calls the backbone (`model.base_model`, as TRL's fused LM head does) so no `[batch, length, vocab]` logits are
    computed; a model whose backbone gives no `last_hidden_state` (a PEFT wrapper) falls back to the last element of
    `output_hidden_states`, which transformers returns after the final norm.
    """
    backbone = getattr(model, "base_model", model)
    outputs = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    hidden = getattr(outputs, "last_hidden_state", None)
    if hidden is None:
        outputs = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, output_hidden_states=True)
        hidden = outputs.hidden_states[-1]
    return hidden


def _check_pairs(prompt_ids: Sequence, chosen_ids: Sequence, rejected_ids: Sequence, batch_size: int) -> None:
    if not len(prompt_ids) == len(chosen_ids) == len(rejected_ids):
        raise ValueError(
            f"prompt_ids, chosen_ids and rejected_ids must have one entry per pair; got {len(prompt_ids)}, "
            f"{len(chosen_ids)} and {len(rejected_ids)}."
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
    for index, (prompt, chosen, rejected) in enumerate(zip(prompt_ids, chosen_ids, rejected_ids)):
        if len(prompt) == 0:
            raise ValueError(
                f"Pair {index} has no prompt token: CHES needs the last prompt position, which predicts the first "
                "completion token. Give the prompt at least one token (a BOS token will do)."
            )
        if len(chosen) == 0 or len(rejected) == 0:
            which = "chosen" if len(chosen) == 0 else "rejected"
            raise ValueError(f"Pair {index} has an empty {which} completion; CHES needs at least one token in each.")


@torch.no_grad()
def ches_from_ids(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    chosen_ids: Sequence[Sequence[int]],
    rejected_ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> tuple[list[float], list[float]]:
    """CHES and normalised CHES of each pair, from token ids (one list of ids per pair and per part).

    Each forward pass scores `batch_size` pairs: their 2 × `batch_size` sequences (prompt + chosen, prompt +
    rejected), right-padded with an attention mask. Pairs are batched longest first (less padding; a batch that does
    not fit in memory fails at once) and the scores come back in input order. The model runs on `device`, in eval
    mode and without gradients; afterwards it is back on its own device and in its own training mode.

    Args:
        model: a causal LM (`AutoModelForCausalLM`), or a backbone whose output has `last_hidden_state`.
        prompt_ids / chosen_ids / rejected_ids: token ids per pair, e.g. from `tokenize_pairs`. The prompt and both
            completions need at least one token.
        batch_size: pairs per forward pass.
        device: where the forward passes run ("cpu", "cuda", "cuda:1", "mps").

    Returns:
        `(ches, ches_normalized)`: two lists of floats, one value per pair.
    """
    _check_pairs(prompt_ids, chosen_ids, rejected_ids, batch_size)
    count = len(prompt_ids)
    if count == 0:
        return [], []
    was_training = getattr(model, "training", False)
    parameter = next(iter(model.parameters()), None)
    home = None if parameter is None else parameter.device
    model = model.to(device)
    model.eval()
    try:
        order = sorted(
            range(count), key=lambda i: -(len(prompt_ids[i]) + max(len(chosen_ids[i]), len(rejected_ids[i])))
        )
        ches = torch.empty(count, dtype=torch.float64)
        normalised = torch.empty(count, dtype=torch.float64)
        batches = (count + batch_size - 1) // batch_size
        logger.info("CHES: %d pairs in %d batches of up to %d pairs on %s", count, batches, batch_size, device)
        for number, start in enumerate(range(0, count, batch_size)):
            indices = order[start : start + batch_size]
            prompts = [list(prompt_ids[i]) for i in indices]
            chosen = [list(chosen_ids[i]) for i in indices]
            rejected = [list(rejected_ids[i]) for i in indices]
            shared = [shared_positions(c, r) for c, r in zip(chosen, rejected)]
            shared_sums, tail_sums = _completion_hidden_sums(
                model, prompts + prompts, chosen + rejected, shared * 2, device
            )
            half = len(indices)
            batch_ches, batch_normalised = _ches_from_parts(
                shared_sums[:half],
                tail_sums[:half],
                tail_sums[half:],
                torch.tensor([len(c) for c in chosen], dtype=torch.float64),
                torch.tensor([len(r) for r in rejected], dtype=torch.float64),
            )
            ches[indices] = batch_ches
            normalised[indices] = batch_normalised
            logger.debug("CHES: batch %d/%d done", number + 1, batches)
    finally:
        model.train(was_training)
        if home is not None and home != next(iter(model.parameters())).device:
            model.to(home)  # the caller's model goes back where it was
    return ches.tolist(), normalised.tolist()


def shared_positions(chosen: Sequence[int], rejected: Sequence[int]) -> int:
    """How many of the first predicting positions chosen and rejected share: position k (0 = the last prompt
    position) sees prompt + completion[:k], the same in both while k <= the first differing token."""
    from prefbuild.stats import first_differing_token

    return min(first_differing_token(chosen, rejected) + 1, len(chosen), len(rejected))


def _ches_from_parts(
    shared: torch.Tensor,
    chosen_tail: torch.Tensor,
    rejected_tail: torch.Tensor,
    chosen_lengths: torch.Tensor,
    rejected_lengths: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`ches_from_sums` with each sum split into the positions both completions share and the rest.

    In a causal model the shared positions have the same hidden states in both sequences, so Σh⁻ − Σh⁺ is the
    difference of the tails alone: computed that way, the numerical noise of the shared part (float32 hidden states
    differ by ~1e-7 with the batch's shape) cannot swamp the few positions after the edit that carry the signal.
    """
    shared, chosen_tail, rejected_tail = shared.double(), chosen_tail.double(), rejected_tail.double()
    chosen_sums = shared + chosen_tail
    ches = (chosen_sums * (rejected_tail - chosen_tail)).sum(-1)  # ⟨Σh⁺, Σh⁻ − Σh⁺⟩
    chosen_lengths, rejected_lengths = chosen_lengths.double().unsqueeze(-1), rejected_lengths.double().unsqueeze(-1)
    # mean h⁻ − mean h⁺ = shared (1/|y⁻| − 1/|y⁺|) + tail⁻/|y⁻| − tail⁺/|y⁺|: exactly the tails when lengths agree
    mean_difference = (
        shared * (1 / rejected_lengths - 1 / chosen_lengths) + rejected_tail / rejected_lengths
    ) - chosen_tail / chosen_lengths
    normalised = ((chosen_sums / chosen_lengths) * mean_difference).sum(-1)
    return ches, normalised


def _completion_hidden_sums(
    model: Any, prompts: list[list[int]], completions: list[list[int]], shared: list[int], device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence, Σh (float32, on CPU) over the first `shared` positions that predict its completion tokens, and
    over the rest of them."""
    lengths = [len(prompt) + len(completion) for prompt, completion in zip(prompts, completions)]
    width = max(lengths)
    input_ids = torch.zeros(len(prompts), width, dtype=torch.long)  # right padding; the pad id is masked out
    attention_mask = torch.zeros(len(prompts), width, dtype=torch.long)
    # Positions len(prompt) - 1 … len(prompt) + len(completion) - 2: the last prompt position predicts the first
    # completion token; the last completion position predicts past the completion and is left out.
    weights = torch.zeros(2, len(prompts), width, dtype=torch.float32)  # [shared positions, the others]
    for row, (prompt, completion) in enumerate(zip(prompts, completions)):
        input_ids[row, : lengths[row]] = torch.tensor(prompt + completion, dtype=torch.long)
        attention_mask[row, : lengths[row]] = 1
        first, split = len(prompt) - 1, len(prompt) - 1 + shared[row]
        weights[0, row, first:split] = 1.0
        weights[1, row, split : lengths[row] - 1] = 1.0
    hidden = _last_hidden_states(model, input_ids.to(device), attention_mask.to(device))
    sums = torch.einsum("sbt,bth->sbh", weights.to(hidden.device), hidden.float()).cpu()
    return sums[0], sums[1]


def tokenize_pairs(
    rows: Iterable[Mapping[str, Any]], tokenizer: Any
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Token ids of built rows, split the way TRL 1.16's `DPOTrainer._prepare_dataset` splits them.

    Standard rows (strings): EOS is appended to each completion unless it already ends with it, then the prompt and
    prompt + completion are tokenised with the tokenizer's defaults (special tokens included). Conversational rows
    (message lists): the prompt goes through the chat template with the generation prompt, prompt + completion
    without it. The completion starts where the prompt's ids and both prompt + completion ids first differ
    (`trl.data_utils.common_prefix_length`), exactly as TRL does. TRL's own tokenising helpers are used, so a TRL
    upgrade that changes them changes this too.

    Args:
        rows: mappings with `prompt`, `chosen` and `rejected` (a `datasets.Dataset` split, `Table.to_pylist()`).
        tokenizer: the model's tokenizer; conversational rows need its chat template.

    Returns:
        `(prompt_ids, chosen_ids, rejected_ids)`, one list of ids per row.
    """
    from trl.data_utils import _tokenize, common_prefix_length, is_conversational

    prompt_ids, chosen_ids, rejected_ids = [], [], []
    eos = getattr(tokenizer, "eos_token", None)
    for row in rows:
        prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
        if is_conversational(row):
            kwargs = {"tools": row.get("tools"), **(row.get("chat_template_kwargs") or {})}
            prompt_only = _tokenize(tokenizer, prompt, add_generation_prompt=True, **kwargs)["input_ids"]
            with_chosen = _tokenize(tokenizer, prompt + chosen, **kwargs)["input_ids"]
            with_rejected = _tokenize(tokenizer, prompt + rejected, **kwargs)["input_ids"]
        else:
            if eos is not None:  # TRL's `add_eos` step for standard rows
                chosen = chosen if chosen.endswith(eos) else chosen + eos
                rejected = rejected if rejected.endswith(eos) else rejected + eos
            prompt_only = _tokenize(tokenizer, prompt)["input_ids"]
            with_chosen = _tokenize(tokenizer, prompt + chosen)["input_ids"]
            with_rejected = _tokenize(tokenizer, prompt + rejected)["input_ids"]
        start = min(common_prefix_length(prompt_only, with_chosen), common_prefix_length(prompt_only, with_rejected))
        prompt_ids.append(list(prompt_only[:start]))
        chosen_ids.append(list(with_chosen[start:]))
        rejected_ids.append(list(with_rejected[start:]))
    return prompt_ids, chosen_ids, rejected_ids


def ches_for_rows(
    model: Any,
    tokenizer: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> tuple[list[float], list[float]]:
    """CHES and normalised CHES of built rows: `tokenize_pairs` then `ches_from_ids`."""
    prompt_ids, chosen_ids, rejected_ids = tokenize_pairs(rows, tokenizer)
    return ches_from_ids(model, prompt_ids, chosen_ids, rejected_ids, batch_size=batch_size, device=device)
