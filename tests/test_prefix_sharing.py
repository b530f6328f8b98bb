"""Prefix sharing: the packed path gives the unshared path's log-probs, losses and gradients (float32, 1e-5)."""

import copy
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import LlamaForCausalLM

from prefbuild.train import LOSS_TYPES, DPOPConfig, DPOPTrainer
from prefbuild.train import prefix_sharing as ps
from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer, write_tiny_model
from tests.conftest_train import CPU_TRAINING_ARGS, FIXTURES, nudged_copy, offline_env, read_rows, write_pair_folder

# Hand-made pairs, one per case the packing must get right (plus the fixture's low- and high-edit pairs)
EXTRA_PAIRS = [
    # one completion is a prefix of the other (in text; EOS makes them differ at the end of the shorter one)
    {"prompt": "Question: What is 6 * 7?\nAnswer:", "chosen": " 6 * 7 = 42.", "rejected": " 6 * 7 = 42. Yes, 42."},
    {"prompt": "Question: What is 6 * 8?\nAnswer:", "chosen": " 6 * 8 = 48. So 48.", "rejected": " 6 * 8 = 48."},
    # the completions differ from their first token
    {"prompt": "Question: Pick a letter.\nAnswer:", "chosen": "A", "rejected": "B then C"},
    # identical completions: everything is shared, both suffixes are only EOS-free
    {"prompt": "Question: Say 5.\nAnswer:", "chosen": " 5", "rejected": " 5"},
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(DEFAULT_CORPUS, vocab_size=400)


def tiny_model(tokenizer, seed, attn="sdpa"):
    torch.manual_seed(seed)
    config = tiny_llama_config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id
    )
    config._attn_implementation = attn
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def base_model(tokenizer):
    return tiny_model(tokenizer, 0)


@pytest.fixture(scope="module")
def moved_policy(base_model):
    """The base model with every weight nudged, so policy ≠ reference and the losses are not trivial."""
    return nudged_copy(base_model)


@pytest.fixture(scope="module")
def pairs():
    rows = [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in read_rows("train")]
    return Dataset.from_list(rows + EXTRA_PAIRS)


# ---------------------------------------------------------------------------------------------------------------
# Packing on hand-made token ids, every shape of pair, against a plain forward of each sequence


def unshared_log_probs(model, ids: list[int], completion: list[int]) -> torch.Tensor:
    """Summed log-probs of the completion tokens of one sequence, from an ordinary causal forward."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    logps = torch.log_softmax(logits[:-1], dim=-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return ps.sum_token_log_probs(logps[None], torch.tensor([completion[1:]], dtype=torch.bool))[0]


def packed_log_probs(model, packed: ps.PackedPairs, implementation: str):
    mask = ps.packed_attention_mask(packed, implementation, torch.float32)
    with torch.no_grad():
        logits = model(input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids).logits
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    per_token = logps.gather(2, packed.labels[:, 1:].clamp(min=0)[..., None])[..., 0]
    return packed.sequence_log_probs(per_token)


def collate(pairs_of_ids):
    """TRL's batch layout from (prompt, chosen, rejected) id lists: [chosen rows; rejected rows], right-padded."""
    rows = [(p + c, [0] * len(p) + [1] * len(c)) for p, c, _ in pairs_of_ids]
    rows += [(p + r, [0] * len(p) + [1] * len(r)) for p, _, r in pairs_of_ids]
    length = max(len(ids) for ids, _ in rows)
    input_ids = torch.tensor([ids + [0] * (length - len(ids)) for ids, _ in rows])
    attention_mask = torch.tensor([[1] * len(ids) + [0] * (length - len(ids)) for ids, _ in rows])
    completion_mask = torch.tensor([mask + [0] * (length - len(mask)) for _, mask in rows])
    return input_ids, attention_mask, completion_mask


ID_CASES = {
    "edit-in-the-middle": ([5, 6, 7], [10, 11, 12, 13, 14], [10, 11, 40, 13, 14]),
    "rejected-is-a-prefix": ([5, 6, 7], [10, 11, 12, 13], [10, 11]),
    "chosen-is-a-prefix": ([5, 6], [10, 11], [10, 11, 12, 13, 14]),
    "differ-at-first-token": ([5, 6, 7, 8], [20, 21], [30, 31, 32]),
    "identical": ([5, 6], [10, 11, 12], [10, 11, 12]),
    "one-token-each": ([9], [20], [30]),
}


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_packed_log_probs_equal_unshared_for_every_pair_shape(tokenizer, implementation):
    model = tiny_model(tokenizer, 3, implementation)
    cases = list(ID_CASES.values())
    packed = ps.pack_pairs(*collate(cases), pad_token_id=0)
    chosen, rejected = packed_log_probs(model, packed, implementation)
    for i, (prompt, c, r) in enumerate(cases):
        expected_chosen = unshared_log_probs(model, prompt + c, [0] * len(prompt) + [1] * len(c))
        expected_rejected = unshared_log_probs(model, prompt + r, [0] * len(prompt) + [1] * len(r))
        torch.testing.assert_close(chosen[i], expected_chosen, rtol=1e-5, atol=1e-6, msg=list(ID_CASES)[i])
        torch.testing.assert_close(rejected[i], expected_rejected, rtol=1e-5, atol=1e-6, msg=list(ID_CASES)[i])
    # Shared tokens are packed once: fewer tokens than the two rows
    assert packed.packed_tokens < packed.unshared_tokens


def test_dense_mask_follows_the_visibility_rule():
    """The table-built dense mask is `_allowed` (the rule the FlexAttention block mask evaluates) on every pair shape."""
    packed = ps.pack_pairs(*collate(list(ID_CASES.values())), pad_token_id=0)
    segments = packed.segment_ids
    index = torch.arange(segments.size(1))
    rule = ps._allowed(segments[:, :, None], segments[:, None, :], index[:, None], index[None, :])[:, None]
    assert torch.equal(ps.dense_attention_mask(packed, "sdpa", torch.float32), rule)
    additive = ps.dense_attention_mask(packed, "eager", torch.float32)
    assert torch.equal(additive == 0, rule) and additive.min() == torch.finfo(torch.float32).min


def test_flex_block_mask_is_the_dense_mask():
    """The GPU path's FlexAttention block mask gives the attention of the CPU path's dense mask (run unfused here)."""
    from torch.nn.attention.flex_attention import flex_attention

    packed = ps.pack_pairs(*collate(list(ID_CASES.values())), pad_token_id=0)
    dense = ps.dense_attention_mask(packed, "sdpa", torch.float32)
    block_mask = ps.flex_block_mask(packed)
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*packed.input_ids.shape[:1], 2, packed.input_ids.size(1), 8, generator=generator)
               for _ in range(3))  # fmt: skip
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "flex_attention called without torch.compile"
        torch.testing.assert_close(flex_attention(q, k, v, block_mask=block_mask), expected, rtol=1e-5, atol=1e-6)


def test_pack_layout_of_a_low_edit_pair():
    """[prompt + shared][chosen suffix][copy of last shared][rejected suffix], positions resuming after the shared."""
    packed = ps.pack_pairs(*collate([ID_CASES["edit-in-the-middle"]]), pad_token_id=0)
    assert packed.input_ids[0].tolist() == [5, 6, 7, 10, 11, 12, 13, 14, 11, 40, 13, 14]
    assert packed.position_ids[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7]
    S, C, R = ps.SHARED, ps.CHOSEN_BRANCH, ps.REJECTED_BRANCH
    assert packed.segment_ids[0].tolist() == [S, S, S, S, C, C, C, C, R, R, R, R]
    # The shared completion tokens (10, 11) count in both sums; the copy of 11 is never scored
    assert packed.labels[0].tolist() == [-100, -100, -100, 10, 11, 12, 13, 14, -100, 40, 13, 14]
    assert packed.chosen_mask[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert packed.rejected_mask[0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]


def test_sequence_sums_are_float64_and_do_not_depend_on_the_row_layout():
    """Equal per-token log-probs give bit-equal sums wherever they sit in a row; float32 sums do not."""
    generator = torch.Generator().manual_seed(0)
    values = (-9 - torch.rand(40, 300, generator=generator)).requires_grad_()  # 40 completions ≈ -2,850 nats
    unshared_row, packed_row = torch.zeros(40, 320), torch.zeros(40, 900)
    unshared_row[:, 7:307], packed_row[:, 411:711] = values, values
    unshared_mask, packed_mask = unshared_row != 0, packed_row != 0
    unshared = ps.sum_token_log_probs(unshared_row, unshared_mask)
    packed = ps.sum_token_log_probs(packed_row, packed_mask)
    assert unshared.dtype == packed.dtype == torch.float64
    assert torch.equal(unshared, packed)
    torch.testing.assert_close(unshared, values.double().sum(dim=1), rtol=0, atol=1e-9)
    # Why: the float32 sums of the same values, reduced in another order, land ulps (6e-5 here) apart
    assert not torch.equal((unshared_row * unshared_mask).sum(dim=1), (packed_row * packed_mask).sum(dim=1))
    # Gradients reach the float32 per-token values, in float32
    packed.sum().backward()
    assert values.grad.dtype == torch.float32 and torch.equal(values.grad, torch.ones_like(values))


def test_first_differing_token():
    assert ps.first_differing_token([1, 2, 3], [1, 2, 4]) == 2
    assert ps.first_differing_token([1, 2], [1, 2, 3]) == 2
    assert ps.first_differing_token([7], [8]) == 0
    assert ps.first_differing_token([], [1]) == 0


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_rejected_never_sees_the_chosen_suffix(tokenizer, implementation):
    """Perturbing chosen-suffix tokens moves the chosen log-probs and leaves the rejected ones exactly where they were."""
    model = tiny_model(tokenizer, 4, implementation)
    cases = [ID_CASES["edit-in-the-middle"], ID_CASES["chosen-is-a-prefix"], ID_CASES["differ-at-first-token"]]
    packed = ps.pack_pairs(*collate(cases), pad_token_id=0)
    chosen, rejected = packed_log_probs(model, packed, implementation)

    perturbed = copy.copy(packed)
    perturbed.input_ids = packed.input_ids.clone()
    # Token k is a chosen-suffix token when its log-prob (index k - 1) counts for chosen only
    chosen_suffix = torch.zeros_like(packed.input_ids, dtype=torch.bool)
    chosen_suffix[:, 1:] = packed.chosen_mask & ~packed.rejected_mask
    assert chosen_suffix.sum() == 3 + 2  # 12 13 14 and 20 21 (the prefix case has no chosen suffix)
    generator = torch.Generator().manual_seed(0)
    perturbed.input_ids[chosen_suffix] = torch.randint(50, 300, (int(chosen_suffix.sum()),), generator=generator)
    perturbed_chosen, perturbed_rejected = packed_log_probs(model, perturbed, implementation)

    torch.testing.assert_close(perturbed_rejected, rejected, rtol=0, atol=1e-6)
    assert not torch.allclose(perturbed_chosen, chosen)


# ---------------------------------------------------------------------------------------------------------------
# The trainer: prefix_sharing on vs off on the same batch


def make_trainer(tmp_path, policy, ref, pairs, tokenizer, peft_config=None, **overrides):
    args = DPOPConfig(output_dir=str(tmp_path), **{**CPU_TRAINING_ARGS, "beta": 0.3, **overrides})
    return DPOPTrainer(
        model=copy.deepcopy(policy),
        ref_model=None if ref is None else copy.deepcopy(ref),
        args=args,
        train_dataset=pairs,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def loss_grads_logps(trainer, n_pairs):
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(n_pairs)])
    trainer.model.train()
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    metrics = {name: values[-1] for name, values in trainer._metrics["train"].items()}
    return loss.detach(), grads, metrics


def assert_shared_equals_unshared(unshared, shared):
    (loss_u, grads_u, metrics_u), (loss_s, grads_s, metrics_s) = unshared, shared
    # float64 sums in both paths: the losses agree to a float32 ulp or two (measured: at most 1 ulp)
    torch.testing.assert_close(loss_s, loss_u, rtol=1e-6, atol=1e-7)
    assert grads_u.keys() == grads_s.keys() and grads_u
    for name in grads_u:
        # float32 1e-5 relative, measured on the whole tensor: elementwise, entries near zero are all rounding
        difference = (grads_s[name] - grads_u[name]).norm().item()
        assert difference <= 1e-5 * grads_u[name].norm().item(), (name, difference, grads_u[name].norm().item())
    # Per-sequence log-probs (their batch means) and the per-token metrics are those of the unshared path
    for name in ("logps/chosen", "logps/rejected", "rewards/chosen", "dpop/penalty", "entropy", "logits/chosen"):
        assert metrics_s[name] == pytest.approx(metrics_u[name], rel=1e-5, abs=1e-6), name
    # A difference of two rewards: compare with the rewards' own scale
    assert metrics_s["rewards/margins"] == pytest.approx(metrics_u["rewards/margins"], abs=1e-5)
    assert metrics_s["prefix_sharing/token_ratio"] > 1


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("precompute", [False, True], ids=["ref-model", "precomputed-ref"])
def test_trainer_shared_equals_unshared(tmp_path, moved_policy, base_model, pairs, tokenizer, loss_type, precompute):
    results = [
        loss_grads_logps(
            make_trainer(
                tmp_path / str(sharing),
                moved_policy,
                base_model,
                pairs,
                tokenizer,
                loss_type=loss_type,
                precompute_ref_log_probs=precompute,
                prefix_sharing=sharing,
            ),
            n_pairs=len(pairs),
        )
        for sharing in (False, True)
    ]
    assert_shared_equals_unshared(*results)


def test_trainer_shared_equals_unshared_with_truncation(tmp_path, moved_policy, base_model, tokenizer):
    """`max_length` cuts rows before, at and after the edit: identical truncated rows, token-level prefixes."""
    chosen = " 2 + 3 = 5. Then 5 * 4 = 20. The answer is 20."
    pairs = Dataset.from_list(
        [
            {"prompt": "Q:", "chosen": chosen, "rejected": chosen.replace("= 5.", "= 6.").replace("5 *", "6 *")},
            {"prompt": "Q:", "chosen": chosen, "rejected": chosen.replace("= 20.", "= 21.")},
            {"prompt": "Q:", "chosen": chosen, "rejected": chosen.replace("is 20.", "is 21.")},
            {"prompt": "Q: 2", "chosen": " + 3 = 5.", "rejected": " + 3 = 5. Yes."},
        ]
    )
    results = [
        loss_grads_logps(
            make_trainer(
                tmp_path / str(sharing),
                moved_policy,
                base_model,
                pairs,
                tokenizer,
                max_length=16,
                prefix_sharing=sharing,
            ),
            n_pairs=len(pairs),
        )
        for sharing in (False, True)
    ]
    assert_shared_equals_unshared(*results)


def test_trainer_shared_equals_unshared_with_lora(tmp_path, base_model, pairs, tokenizer):
    from peft import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], lora_dropout=0.0)

    def run(sharing):
        trainer = make_trainer(
            tmp_path / str(sharing), base_model, None, pairs, tokenizer, lora, prefix_sharing=sharing
        )
        generator = torch.Generator().manual_seed(2)  # move the adapter away from the reference, the same in both
        with torch.no_grad():
            for name, parameter in sorted(trainer.model.named_parameters()):
                if "lora_B" in name:
                    parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
        assert trainer.ref_model is None  # the reference is the base with the adapter disabled
        return loss_grads_logps(trainer, n_pairs=len(pairs))

    unshared, shared = run(False), run(True)
    assert all("lora" in name for name in shared[1])
    assert shared[2]["dpop/chosen_below_ref"] > 0  # the penalty is active, so the chosen shared part matters
    assert_shared_equals_unshared(unshared, shared)


def test_precomputed_reference_log_probs_reach_the_loss_in_float64(
    tmp_path, moved_policy, base_model, pairs, tokenizer
):
    """TRL's collator would build them with torch.tensor(floats), float32: the float64 sums must survive."""
    trainer = make_trainer(
        tmp_path, moved_policy, base_model, pairs, tokenizer, precompute_ref_log_probs=True, prefix_sharing=True
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["ref_chosen_logps"].dtype == batch["ref_rejected_logps"].dtype == torch.float64
    stored = {trainer.train_dataset[i]["ref_chosen_logps"] for i in range(len(pairs))}
    assert set(batch["ref_chosen_logps"].tolist()) <= stored  # the very values, not float32 roundings of them
    assert trainer.data_collator.pad_token_id == trainer._tokenizer.pad_token_id  # the wrapper forwards attributes


def test_unsupported_attention_falls_back_with_one_warning(tmp_path, base_model, pairs, tokenizer):
    model = copy.deepcopy(base_model)
    model.config._attn_implementation = "flash_attention_2"  # cannot take a custom mask (never run here)
    trainer = make_trainer(tmp_path, model, base_model, pairs, tokenizer, prefix_sharing=True)
    with pytest.warns(UserWarning, match="prefix_sharing is off: attn_implementation 'flash_attention_2'"):
        assert trainer._prefix_sharing_backend() is None
    assert trainer._prefix_sharing_backend() is None  # resolved once: no second warning


def test_prefix_sharing_trains(tmp_path, base_model, pairs, tokenizer):
    trainer = make_trainer(tmp_path, base_model, base_model, pairs, tokenizer, prefix_sharing=True, max_steps=2)
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses and all(loss == loss for loss in losses)


# ---------------------------------------------------------------------------------------------------------------
# The tiny recipe, end to end, and two processes


RECIPE = Path(__file__).parents[1] / "recipes" / "tiny" / "dpop-prefix-sharing.yaml"


def test_tiny_recipe_trains_with_prefix_sharing_offline_and_reuses_the_reference(tmp_path, capsys):
    from prefbuild.train.run import main

    model, pairs = write_tiny_model(tmp_path / "tiny-model"), write_pair_folder(tmp_path / "pairs")

    def run(out):
        argv = ["--config", str(RECIPE), "--model_name_or_path", str(model), "--dataset_name", str(pairs),
                "--output_dir", str(tmp_path / out), "--max_steps", "2", "--eval_steps", "2", "--logging_steps", "1",
                "--disable_tqdm", "true"]  # fmt: skip
        assert main(argv) == 0
        return capsys.readouterr().err

    first = run("first")
    assert "cache miss for the train split" in first and "cache miss for the eval split" in first
    assert sorted(p.suffix for p in (pairs / ".ref_logps").iterdir()) == [".json", ".json", ".npz", ".npz"]
    second = run("second")
    assert "cache hit for the train split" in second and "cache hit for the eval split" in second
    assert (tmp_path / "second" / "model.safetensors").is_file()


@pytest.mark.slow
def test_two_processes_with_prefix_sharing(tmp_path):
    model = write_tiny_model(tmp_path / "tiny-model")
    pairs = write_pair_folder(tmp_path / "pairs")
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(FIXTURES / "ddp_worker.py"), str(RECIPE), str(model), str(pairs), str(out)]  # fmt: skip
    result = subprocess.run(command, env=offline_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for record in ranks:
        assert record["world_size"] == 2 and record["backend"] == "gloo"
        assert record["global_step"] == 3 and record["param_change"] > 0
        assert record["losses"] and all(math.isfinite(loss) for loss in record["losses"])
        assert "prefix_sharing/token_ratio" in record["log_keys"]  # the packed path ran
    assert ranks[0]["batches"] != ranks[1]["batches"]
    assert ranks[0]["param_checksum"] == ranks[1]["param_checksum"]
