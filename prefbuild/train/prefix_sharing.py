"""Edit-aware prefix sharing: one forward per preference pair instead of two.

A low-edit pair repeats the prompt and the completion up to the first differing token. Instead of TRL's batch of
`[prompt + chosen; prompt + rejected]` rows, each pair becomes one packed row

    [prompt + shared completion prefix][chosen suffix][copy of the last shared token][rejected suffix]

with an attention mask under which the chosen branch sees the shared prefix and itself (causally), and the rejected
branch sees the shared prefix and itself but never the chosen suffix. Position ids of the rejected branch continue
from the shared prefix, so every token sees exactly the keys, values and positions it has in the unshared path and
its log-prob is the same up to float rounding.

Why the copy of the last shared token: the hidden state at the last shared position predicts *both* the first
chosen-suffix token and the first rejected-suffix token. TRL's fused LM head scores each position against one label,
so the rejected branch gets its own copy of that position (same token, same position id, attending to the same
keys), whose hidden state is the same as the original's. The original belongs to the chosen branch and the copy to
the rejected branch, so neither branch sees the other's. It costs one token per pair, and keeps the model's own
forward (DDP, FSDP, PEFT wrappers) and TRL's fused LM head unchanged; gathering two labels at one position would need
the backbone and the LM head called outside the wrapped forward.

Per-token log-probs of the shared completion tokens are computed once and counted in both sums, so the DPOP
penalty still sees the chosen log-prob including the shared part.

Per-sequence sums are accumulated in float64 (`sum_token_log_probs`), in the packed and the unshared path alike. A
completion of a few hundred tokens from a random or barely trained model sums to ≈ -1,000 nats, where a float32 ulp
is 6e-5; the float32 sum of the same per-token values laid out in a row of another length (packed vs unshared) is
reduced in another order and lands up to 2 ulp away, and DPOP multiplies the chosen log-ratio by (1 + λ)·β = 15.3 at
λ 50, β 0.3. The float64 sum of float32 terms is exact to ≈ 1e-13 whatever the order, so equal per-token log-probs
give equal sums; what is left between the two paths is the per-token forward rounding (kernel shapes differ with the
row length), 1-2 float32 ulp per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Segment ids in a packed row
PAD, SHARED, CHOSEN_BRANCH, REJECTED_BRANCH = 0, 1, 2, 3

# Attention implementations that take a custom mask: a dense 4D mask (sdpa, eager) or a BlockMask (flex_attention)
DENSE_MASK_IMPLEMENTATIONS = ("sdpa", "eager")
SUPPORTED_IMPLEMENTATIONS = (*DENSE_MASK_IMPLEMENTATIONS, "flex_attention")


def first_differing_token(a: list[int], b: list[int]) -> int:
    """Index of the first position where `a` and `b` differ; the shorter length if one is a prefix of the other."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class PackedPairs:
    """A batch of pairs, one packed row each (right-padded).

    Attributes:
        input_ids, position_ids, segment_ids, labels: `(pairs, length)`. `labels` is the token id where the token is
            a scored completion token (predicted by the position before it) and -100 elsewhere, as in TRL.
        chosen_mask, rejected_mask: `(pairs, length - 1)` booleans, aligned with the fused LM head's `log_probs`
            (position j scores token j + 1): which scored tokens count in the chosen / rejected sum. Shared
            completion tokens are in both.
        unshared_tokens: tokens TRL's unshared batch holds (chosen rows + rejected rows, padding excluded).
        packed_tokens: tokens in the packed rows (padding excluded).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segment_ids: torch.Tensor
    labels: torch.Tensor
    chosen_mask: torch.Tensor
    rejected_mask: torch.Tensor
    unshared_tokens: int
    packed_tokens: int

    def sequence_log_probs(self, per_token_logps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed chosen and rejected log-probs per pair (float64) from the fused head's `(pairs, length - 1)` ones."""
        return sum_token_log_probs(per_token_logps, self.chosen_mask), sum_token_log_probs(
            per_token_logps, self.rejected_mask
        )


def sum_token_log_probs(per_token_logps: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row sum of `per_token_logps` where `mask` is true (everywhere if None), accumulated and returned in float64.

    The one summation both paths use, so that equal per-token log-probs give bit-equal sequence log-probs whatever
    the row's length or layout (see the module docstring); gradients flow back to the float32 per-token values.
    """
    if mask is not None:
        per_token_logps = per_token_logps.masked_fill(~mask.bool(), 0.0)
    return per_token_logps.sum(dim=1, dtype=torch.float64)


def pack_pairs(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    pad_token_id: int,
    pad_to_multiple_of: int | None = None,
) -> PackedPairs:
    """Pack a TRL preference batch (`[chosen rows; rejected rows]`, right-padded) into one row per pair.

    The shared prefix is the longest run of equal token ids (with equal completion-mask values) at the start of the
    chosen and rejected rows as TRL's collator built them (after its truncation), so it holds for any tokenizer and
    is split at the first differing token only.
    """
    pairs = input_ids.size(0) // 2
    ids_rows = input_ids.tolist()
    lengths = attention_mask.sum(dim=1).tolist()
    completion_rows = completion_mask.tolist()

    rows = []  # per pair: (ids, positions, segments, labels, chosen_owner, rejected_owner)
    for i in range(pairs):
        c_len, r_len = lengths[i], lengths[pairs + i]
        chosen = list(zip(ids_rows[i][:c_len], completion_rows[i][:c_len], strict=True))
        rejected = list(zip(ids_rows[pairs + i][:r_len], completion_rows[pairs + i][:r_len], strict=True))
        shared = first_differing_token(chosen, rejected)
        rejected_suffix = rejected[shared:]
        copy = shared > 0 and len(rejected_suffix) > 0

        # One (token, position, segment, scored, counts in chosen, counts in rejected) per packed token
        tokens = []
        # Shared part and the chosen suffix: the chosen row as is (position 0 is never scored, as in TRL)
        for t, (token, is_completion) in enumerate(chosen):
            is_shared = t < shared
            # The last shared token moves to the chosen branch when the rejected branch gets its own copy
            segment = SHARED if is_shared and not (copy and t == shared - 1) else CHOSEN_BRANCH
            tokens.append((token, t, segment, t > 0 and bool(is_completion), True, is_shared))
        # Rejected branch: a copy of the last shared token (never scored: the chosen suffix precedes it), then the
        # rejected suffix with positions continuing from the shared prefix
        if copy:
            tokens.append((chosen[shared - 1][0], shared - 1, REJECTED_BRANCH, False, False, False))
        for t, (token, is_completion) in enumerate(rejected_suffix, start=shared):
            # Without a shared prefix the branch starts a fresh sequence: its first token has no predictor, as in TRL
            tokens.append((token, t, REJECTED_BRANCH, t > 0 and bool(is_completion), False, True))
        ids = [token[0] for token in tokens]
        positions = [token[1] for token in tokens]
        segments = [token[2] for token in tokens]
        labels = [token[0] if token[3] else -100 for token in tokens]
        in_chosen = [token[3] and token[4] for token in tokens]
        in_rejected = [token[3] and token[5] for token in tokens]
        rows.append((ids, positions, segments, labels, in_chosen, in_rejected))

    length = max(len(row[0]) for row in rows)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of

    def stack(index, pad_value, dtype):
        return torch.tensor([row[index] + [pad_value] * (length - len(row[index])) for row in rows], dtype=dtype)

    device = input_ids.device
    chosen_owner = stack(4, False, torch.bool)
    rejected_owner = stack(5, False, torch.bool)
    return PackedPairs(
        input_ids=stack(0, pad_token_id, input_ids.dtype).to(device),
        # Pads get position 0: they attend only to themselves and are never scored
        position_ids=stack(1, 0, torch.long).to(device),
        segment_ids=stack(2, PAD, torch.long).to(device),
        labels=stack(3, -100, input_ids.dtype).to(device),
        chosen_mask=chosen_owner[:, 1:].to(device),
        rejected_mask=rejected_owner[:, 1:].to(device),
        unshared_tokens=int(sum(lengths)),
        packed_tokens=sum(len(row[0]) for row in rows),
    )


def _allowed(segment_q: torch.Tensor, segment_k: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor):
    """Whether query position `q_idx` (segment `segment_q`) may attend to key `kv_idx` (segment `segment_k`).

    Causal, and a key is visible when it is shared or in the query's own branch; padding sees only itself (a row
    with no visible key would give NaN).
    """
    same_branch = (segment_k == SHARED) | (segment_k == segment_q)
    causal_in_branch = (kv_idx <= q_idx) & same_branch & (segment_q != PAD) & (segment_k != PAD)
    return causal_in_branch | (q_idx == kv_idx)


# `_allowed` as a table: may a query of segment (row) see a key of segment (column), before the causal rule
_VISIBLE_SEGMENTS = torch.tensor(
    [
        # keys: PAD, SHARED, CHOSEN_BRANCH, REJECTED_BRANCH
        [False, False, False, False],  # PAD queries (they see themselves: the diagonal is set below)
        [False, True, False, False],  # SHARED
        [False, True, True, False],  # CHOSEN_BRANCH
        [False, True, False, True],  # REJECTED_BRANCH
    ]
)


def dense_attention_mask(packed: PackedPairs, implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """A `(pairs, 1, length, length)` mask for transformers' sdpa (boolean) or eager (additive) attention.

    The rule of `_allowed`, built with one table lookup and the causal triangle (≈ 40 % less CPU time than
    evaluating `_allowed` on the broadcast segment ids).
    """
    segments = packed.segment_ids
    length = segments.size(1)
    allowed = _VISIBLE_SEGMENTS.to(segments.device)[segments[:, :, None], segments[:, None, :]]
    allowed &= torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    allowed.diagonal(dim1=1, dim2=2).fill_(True)
    allowed = allowed[:, None]
    if implementation == "sdpa":
        return allowed  # True = attend
    # eager adds the mask to the attention scores
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill(
        ~allowed, torch.finfo(dtype).min
    )


def flex_block_mask(packed: PackedPairs):
    """A FlexAttention `BlockMask` with the same rule as `dense_attention_mask`; blocks fully masked are skipped."""
    from torch.nn.attention.flex_attention import create_block_mask

    segments = packed.segment_ids

    def mask_mod(b, h, q_idx, kv_idx):
        return _allowed(segments[b, q_idx], segments[b, kv_idx], q_idx, kv_idx)

    pairs, length = segments.shape
    return create_block_mask(mask_mod, B=pairs, H=None, Q_LEN=length, KV_LEN=length, device=segments.device)


def packed_attention_mask(packed: PackedPairs, implementation: str, dtype: torch.dtype):
    """The attention mask for `implementation` (one of `SUPPORTED_IMPLEMENTATIONS`)."""
    if implementation == "flex_attention":
        return flex_block_mask(packed)
    return dense_attention_mask(packed, implementation, dtype)


def flex_attention_available() -> bool:
    """Whether this torch has FlexAttention and a CUDA device to run it on (the GPU path's preferred backend)."""
    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention.flex_attention import create_block_mask  # noqa: F401
    except ImportError:
        return False
    return True
