"""Per-token log-probs of chosen and rejected completions, aligned on the first differing token.

Pairs are tokenised the way TRL 1.16's `DPOTrainer` does it (`tokenize_fn` in `trl/trainer/dpo_trainer.py`), so the
tokens scored here are exactly the tokens a preference trainer scores:

- standard (string) pairs: `tokenizer(prompt)`, `tokenizer(prompt + chosen + eos)`, `tokenizer(prompt + rejected +
  eos)` (EOS appended unless the completion already ends with it);
- conversational pairs (lists of messages): the chat template, the prompt with the generation prompt;
- the completion starts where the prompt's ids and both prompt+completion ids stop agreeing.

The first differing token is `prefbuild.stats.first_differing_token(chosen_ids, rejected_ids)` on the completion ids.
Offset 0 is that token; offsets < 0 are the shared tokens before it and offsets > 0 the chosen tokens after it. A
chosen token's offset is its index in the chosen completion minus the first differing index, so pairs of different
lengths align on the edit, not on their ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from prefbuild.stats import first_differing_token


@dataclass
class TokenizedPair:
    """Token ids of one pair as a preference trainer sees them: the prompt, then each completion."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]

    @property
    def first_diff(self) -> int:
        """Index (in the completion) of the first token at which chosen and rejected differ."""
        return first_differing_token(self.chosen_ids, self.rejected_ids)


@dataclass
class PairLogprobs:
    """Per-token log-probs (natural log) of one pair's completion tokens, and where they first differ."""

    chosen: np.ndarray  # shape (len(chosen_ids),)
    rejected: np.ndarray  # shape (len(rejected_ids),)
    first_diff: int


def _common_prefix_length(ids: Sequence[int], other_ids: Sequence[int]) -> int:
    length = 0
    for a, b in zip(ids, other_ids):
        if a != b:
            break
        length += 1
    return length


def tokenize_pair(tokenizer: Any, prompt: Any, chosen: Any, rejected: Any) -> TokenizedPair:
    """Tokenise one pair as TRL's DPOTrainer does (see the module docstring); strings or message lists."""
    if isinstance(prompt, list):  # conversational

        def render(messages: list, **kwargs) -> list[int]:
            return list(
                tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"]
            )

        prompt_ids = render(prompt, add_generation_prompt=True)
        prompt_chosen_ids = render(prompt + chosen)
        prompt_rejected_ids = render(prompt + rejected)
    else:
        eos = tokenizer.eos_token or ""
        chosen = chosen if chosen.endswith(eos) else chosen + eos
        rejected = rejected if rejected.endswith(eos) else rejected + eos
        prompt_ids = list(tokenizer(prompt)["input_ids"])
        prompt_chosen_ids = list(tokenizer(prompt + chosen)["input_ids"])
        prompt_rejected_ids = list(tokenizer(prompt + rejected)["input_ids"])
    prompt_len = min(
        _common_prefix_length(prompt_ids, prompt_chosen_ids), _common_prefix_length(prompt_ids, prompt_rejected_ids)
    )
    return TokenizedPair(prompt_ids[:prompt_len], prompt_chosen_ids[prompt_len:], prompt_rejected_ids[prompt_len:])


@torch.no_grad()
def completion_logprobs(
    model: torch.nn.Module,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    batch_size: int = 16,
    pad_token_id: int = 0,
    progress: bool = False,
    desc: str = "log-probs",
) -> list[np.ndarray]:
    """Log-prob of every completion token given everything before it, for `(prompt_ids, completion_ids)` pairs.

    Sequences are right-padded in batches of `batch_size`; the result keeps the input order, one float32 array per
    sequence of length `len(completion_ids)`. Runs on the model's device.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[np.ndarray] = []
    batches = range(0, len(sequences), batch_size)
    for start in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
        batch = sequences[start : start + batch_size]
        lengths = [len(prompt) + len(completion) for prompt, completion in batch]
        width = max(lengths)
        input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (prompt, completion) in enumerate(batch):
            ids = list(prompt) + list(completion)
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        # Only positions that predict a completion token are needed: start at the shortest prompt
        first = max(min(len(prompt) for prompt, _ in batch), 1)
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        logits = logits[:, first - 1 : -1].float()
        targets = input_ids[:, first:].to(device)
        # log_softmax gathered at the targets without a second (batch, length, vocab) tensor
        token_logps = torch.gather(logits, 2, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
        token_logps = token_logps.cpu().numpy()
        for row, (prompt, completion) in enumerate(batch):
            begin = len(prompt) - first
            results.append(token_logps[row, begin : begin + len(completion)].astype(np.float32))
    model.train(was_training)
    return results


def pair_logprobs(
    model: torch.nn.Module,
    tokenizer: Any,
    pairs: Iterable[dict[str, Any]],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> list[PairLogprobs]:
    """Per-token log-probs of chosen and rejected for each pair (rows with `prompt`, `chosen`, `rejected`)."""
    tokenized = [tokenize_pair(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"]) for pair in pairs]
    sequences = [(t.prompt_ids, t.chosen_ids) for t in tokenized] + [(t.prompt_ids, t.rejected_ids) for t in tokenized]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    logps = completion_logprobs(model, sequences, batch_size=batch_size, pad_token_id=pad, progress=progress)
    count = len(tokenized)
    return [PairLogprobs(logps[i], logps[count + i], tokenized[i].first_diff) for i in range(count)]


def _mean(values: list[float] | np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def summarise_logprobs(results: Sequence[PairLogprobs], *, window: int = 10) -> dict[str, Any]:
    """Means over pairs and tokens, aligned on the first differing token.

    Returns (log-probs in nats; `None` where nothing was counted):
    - `chosen_logp` / `rejected_logp`: mean over pairs of the summed completion log-prob (what DPO's loss sees);
    - `chosen_token_logp` / `rejected_token_logp`: mean per-token log-prob over all completion tokens;
    - `before_edit_mean`: mean chosen per-token log-prob at offsets < 0 (the prefix both completions share);
    - `at_edit_mean`: at offset 0 (the first differing token itself);
    - `after_edit_mean`: at offsets > 0 (the tokens after the first difference, the paper's Fig. 4 "after the edit");
    - `before_edit_sum` / `at_edit_sum` / `after_edit_sum`: the same three regions summed per pair, then averaged
      over the pairs that differ (where a change in the summed log-prob comes from);
    - `by_offset` / `rejected_by_offset`: offset (a string, -window..window) → mean log-prob of the chosen /
      rejected token at that offset, with `offset_counts` the number of chosen tokens behind each mean;
    - `pairs`, `pairs_without_difference` (identical completions: no edit to align on, left out of the aligned means).
    """
    before: list[float] = []
    at: list[float] = []
    after: list[float] = []
    by_offset: dict[int, list[float]] = {offset: [] for offset in range(-window, window + 1)}
    rejected_by_offset: dict[int, list[float]] = {offset: [] for offset in range(-window, window + 1)}
    identical = 0
    for result in results:
        chosen, rejected, first = result.chosen, result.rejected, result.first_diff
        if first >= len(chosen) and first >= len(rejected):
            identical += 1
            continue
        before.extend(chosen[:first].tolist())
        at.extend(chosen[first : first + 1].tolist())
        after.extend(chosen[first + 1 :].tolist())
        for offset in range(-window, window + 1):
            index = first + offset
            if 0 <= index < len(chosen):
                by_offset[offset].append(float(chosen[index]))
            if 0 <= index < len(rejected):
                rejected_by_offset[offset].append(float(rejected[index]))
    differing = len(results) - identical
    return {
        "pairs": len(results),
        "pairs_without_difference": identical,
        "chosen_logp": _mean([float(r.chosen.sum()) for r in results]),
        "rejected_logp": _mean([float(r.rejected.sum()) for r in results]),
        "chosen_token_logp": _mean(np.concatenate([r.chosen for r in results])) if results else None,
        "rejected_token_logp": _mean(np.concatenate([r.rejected for r in results])) if results else None,
        "before_edit_mean": _mean(before),
        "at_edit_mean": _mean(at),
        "after_edit_mean": _mean(after),
        "before_edit_sum": sum(before) / differing if differing else None,
        "at_edit_sum": sum(at) / differing if differing else None,
        "after_edit_sum": sum(after) / differing if differing else None,
        "window": window,
        "by_offset": {str(offset): _mean(values) for offset, values in by_offset.items()},
        "rejected_by_offset": {str(offset): _mean(values) for offset, values in rejected_by_offset.items()},
        "offset_counts": {str(offset): len(values) for offset, values in by_offset.items()},
    }
