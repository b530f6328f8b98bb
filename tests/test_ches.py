"""CHES (Razin et al. 2024): a hand-computed example, an independent unbatched implementation on the tiny Llama,
padding/batching invariance, the TRL tokenisation it scores, and its input checks."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from transformers import LlamaForCausalLM
from trl import DPOConfig, DPOTrainer

from prefbuild.displacement import ches_for_rows, ches_from_ids, tokenize_pairs
from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer
from tests.conftest_train import CPU_TRAINING_ARGS, read_rows


class TokenEmbeddingBackbone(torch.nn.Module):
    """A fake backbone whose last hidden state at a position is a fixed vector of the token there (no context)."""

    def __init__(self, vectors: list[list[float]]):
        super().__init__()
        self.vectors = torch.nn.Parameter(torch.tensor(vectors), requires_grad=False)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        return SimpleNamespace(last_hidden_state=self.vectors[input_ids])


# token -> hidden state
VECTORS = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]


def test_hand_computed_example():
    # Pair 0: prompt [0], chosen [1, 2], rejected [3].
    #   chosen positions: the prompt's last token (0) and chosen token 1 (the final chosen token 2 is excluded)
    #   Σh⁺ = E0 + E1 = (1, 1); rejected: only the prompt's last position: Σh⁻ = E0 = (1, 0)
    #   CHES = ⟨(1,1),(1,0)⟩ − ‖(1,1)‖² = 1 − 2 = −1; normalised: ⟨(½,½),(1,0)⟩ − ‖(½,½)‖² = ½ − ½ = 0
    # Pair 1: prompt [3, 2], chosen [2], rejected [1, 1, 0]. The first prompt token (3) is never used.
    #   Σh⁺ = E2 = (1, 1); Σh⁻ = E2 + E1 + E1 = (1, 3)
    #   CHES = (1 + 3) − 2 = 2; normalised: ⟨(1,1),(⅓,1)⟩ − 2 = 4/3 − 2 = −2/3
    model = TokenEmbeddingBackbone(VECTORS)
    ches, normalised = ches_from_ids(model, [[0], [3, 2]], [[1, 2], [2]], [[3], [1, 1, 0]], batch_size=2)
    assert ches == pytest.approx([-1.0, 2.0], abs=1e-12)
    assert normalised == pytest.approx([0.0, -2.0 / 3.0], abs=1e-12)
    # Completions sharing a first token: prompt [2], chosen [1, 3, 0], rejected [1, 0]. Positions k = 0, 1 see the
    #   same tokens in both. Σh⁺ = E2 + E1 + E3 = (3, 2), Σh⁻ = E2 + E1 = (1, 2): CHES = (3 + 4) − 13 = −6;
    #   means (1, ⅔) and (½, 1): ½ + ⅔ − (1 + 4/9) = −5/18
    # A chosen that is a prefix of the rejected: prompt [0], chosen [1], rejected [1, 2]. Σh⁺ = E0 = (1, 0),
    #   Σh⁻ = E0 + E1 = (1, 1): CHES = 1 − 1 = 0; means (1, 0) and (½, ½): ½ − 1 = −½
    ches, normalised = ches_from_ids(model, [[2], [0]], [[1, 3, 0], [1]], [[1, 0], [1, 2]], batch_size=2)
    assert ches == pytest.approx([-6.0, 0.0], abs=1e-12)
    assert normalised == pytest.approx([-5.0 / 18.0, -0.5], abs=1e-12)
    # Swapping chosen and rejected is not symmetric: CHES centres on the chosen side
    ches, _ = ches_from_ids(model, [[0]], [[3]], [[1, 2]])
    assert ches == pytest.approx([1.0 - 1.0])  # ⟨(1,0),(1,1)⟩ − ‖(1,0)‖² = 1 − 1


def test_split_sums_give_the_definition():
    from prefbuild.displacement.ches import _ches_from_parts, ches_from_sums

    generator = torch.Generator().manual_seed(0)
    shared, chosen_tail, rejected_tail = (
        torch.randn(5, 8, generator=generator, dtype=torch.float64) for _ in range(3)
    )
    chosen_lengths, rejected_lengths = torch.tensor([3.0, 4, 5, 6, 7]), torch.tensor([2.0, 4, 9, 6, 1])
    expected = ches_from_sums(shared + chosen_tail, shared + rejected_tail, chosen_lengths, rejected_lengths)
    got = _ches_from_parts(shared, chosen_tail, rejected_tail, chosen_lengths, rejected_lengths)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_identical_completions_score_zero():
    model = TokenEmbeddingBackbone(VECTORS)
    ches, normalised = ches_from_ids(model, [[0, 1]], [[2, 3, 1]], [[2, 3, 1]])
    assert ches == [0.0] and normalised == [0.0]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(DEFAULT_CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def rows():
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in read_rows("train")]


def reference_ches(model, prompt, chosen, rejected) -> tuple[float, float]:
    """One pair, no batching or padding: the full causal LM's `hidden_states[-1]`, summed by explicit loops in
    float64 over the positions that predict each completion token, CHES written as in the paper."""

    def hidden_sum(completion):
        ids = torch.tensor([prompt + completion])
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].double()
        total = [0.0] * hidden.shape[-1]
        for k in range(len(completion)):  # token k of the completion is predicted at position len(prompt) + k - 1
            position = len(prompt) + k - 1
            for d in range(hidden.shape[-1]):
                total[d] += hidden[position, d].item()
        return total

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    plus, minus = hidden_sum(chosen), hidden_sum(rejected)
    ches = dot(plus, minus) - dot(plus, plus)
    plus_mean = [x / len(chosen) for x in plus]
    minus_mean = [x / len(rejected) for x in minus]
    return ches, dot(plus_mean, minus_mean) - dot(plus_mean, plus_mean)


def test_last_hidden_state_is_the_lm_head_input(tiny_model, tokenizer):
    # What CHES sums must be what the LM head multiplies: after the final norm
    seen = {}
    hook = tiny_model.get_output_embeddings().register_forward_pre_hook(lambda _, args: seen.setdefault("x", args[0]))
    try:
        ids = torch.tensor([tokenizer("Question: What is 48 + 24?")["input_ids"]])
        with torch.no_grad():
            outputs = tiny_model(input_ids=ids, output_hidden_states=True)
            backbone = tiny_model.base_model(input_ids=ids).last_hidden_state
    finally:
        hook.remove()
    torch.testing.assert_close(outputs.hidden_states[-1], seen["x"], rtol=0, atol=0)
    torch.testing.assert_close(backbone, seen["x"], rtol=0, atol=0)


def test_matches_independent_implementation_on_tiny_model(tiny_model, tokenizer, rows):
    prompt_ids, chosen_ids, rejected_ids = tokenize_pairs(rows, tokenizer)
    ches, normalised = ches_from_ids(tiny_model, prompt_ids, chosen_ids, rejected_ids, batch_size=3)
    for i in range(len(rows)):
        expected_ches, expected_normalised = reference_ches(tiny_model, prompt_ids[i], chosen_ids[i], rejected_ids[i])
        assert math.isclose(ches[i], expected_ches, rel_tol=1e-4, abs_tol=1e-4 * abs(expected_ches) + 1e-3), i
        assert math.isclose(normalised[i], expected_normalised, rel_tol=1e-4, abs_tol=1e-5), i
    # not a degenerate example: the pairs score differently, with both signs or at least spread out
    assert len({round(value, 3) for value in ches}) == len(rows)


def test_batching_and_padding_do_not_change_scores(tiny_model, tokenizer, rows):
    prompt_ids, chosen_ids, rejected_ids = tokenize_pairs(rows, tokenizer)
    one_at_a_time = ches_from_ids(tiny_model, prompt_ids, chosen_ids, rejected_ids, batch_size=1)
    for batch_size in (2, 5, len(rows)):
        batched = ches_from_ids(tiny_model, prompt_ids, chosen_ids, rejected_ids, batch_size=batch_size)
        for got, expected in zip(batched, one_at_a_time):
            assert got == pytest.approx(expected, rel=1e-4, abs=1e-4)
    # Reversed input order: the same scores, reversed (results come back in input order)
    reversed_scores = ches_from_ids(tiny_model, prompt_ids[::-1], chosen_ids[::-1], rejected_ids[::-1], batch_size=3)
    assert reversed_scores[0] == pytest.approx(one_at_a_time[0][::-1], rel=1e-4, abs=1e-4)


def test_restores_training_mode_and_needs_no_gradients(tiny_model, tokenizer, rows):
    tiny_model.train()
    try:
        ches_for_rows(tiny_model, tokenizer, rows[:2])
        assert tiny_model.training
    finally:
        tiny_model.eval()
    assert all(parameter.grad is None for parameter in tiny_model.parameters())


def trl_tokenised(rows, tokenizer, tmp_path):
    """prompt_ids / chosen_ids / rejected_ids as TRL 1.16's DPOTrainer prepares them."""
    torch.manual_seed(0)
    config = tiny_llama_config(len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    args = DPOConfig(output_dir=str(tmp_path), **{**CPU_TRAINING_ARGS, "max_length": None})
    trainer = DPOTrainer(
        model=LlamaForCausalLM(config),
        ref_model=LlamaForCausalLM(config),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    dataset = trainer.train_dataset
    return dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"]


def test_tokenises_standard_rows_like_trl(tokenizer, rows, tmp_path):
    assert tokenize_pairs(rows, tokenizer) == trl_tokenised(rows, tokenizer, tmp_path)
    _, chosen_ids, _ = tokenize_pairs(rows[:1], tokenizer)
    assert chosen_ids[0][-1] == tokenizer.eos_token_id  # TRL appends EOS to standard completions


def test_tokenises_conversational_rows_like_trl(tokenizer, rows, tmp_path):
    conversational = [
        {
            "prompt": [{"role": "user", "content": row["prompt"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
        }
        for row in rows
    ]
    ours = tokenize_pairs(conversational, tokenizer)
    assert ours == trl_tokenised(conversational, tokenizer, tmp_path)
    assert tokenizer.decode(ours[0][0]).endswith("<|assistant|>\n")  # the generation prompt belongs to the prompt


def test_input_checks():
    model = TokenEmbeddingBackbone(VECTORS)
    with pytest.raises(ValueError, match="one entry per pair; got 2, 1 and 1"):
        ches_from_ids(model, [[0], [1]], [[1]], [[2]])
    with pytest.raises(ValueError, match="Pair 1 has no prompt token"):
        ches_from_ids(model, [[0], []], [[1], [1]], [[2], [2]])
    with pytest.raises(ValueError, match="Pair 0 has an empty rejected completion"):
        ches_from_ids(model, [[0]], [[1]], [[]])
    with pytest.raises(ValueError, match="`batch_size` must be >= 1, got 0"):
        ches_from_ids(model, [[0]], [[1]], [[2]], batch_size=0)
    assert ches_from_ids(model, [], [], []) == ([], [])
