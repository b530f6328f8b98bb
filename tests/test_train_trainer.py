"""DPOPTrainer against TRL's DPOTrainer on the same batch, option checks, and a few steps of every loss type."""

import copy
import math
import re

import pytest
import torch
from datasets import Dataset
from transformers import LlamaForCausalLM
from trl import DPOConfig, DPOTrainer

from prefbuild.train import LOSS_TYPES, SUPPORTED_LOSS_TYPES, TRL_LOSS_TYPES, DPOPConfig, DPOPTrainer
from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer
from tests.conftest_train import CPU_TRAINING_ARGS, nudged_copy, read_rows


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(DEFAULT_CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def base_model(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def moved_policy(base_model):
    """The base model with every weight nudged: the policy after some training, away from the reference."""
    return nudged_copy(base_model)


@pytest.fixture(scope="module")
def pairs():
    return Dataset.from_list([{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in read_rows("train")])


def make_trainer(trainer_cls, config_cls, tmp_path, policy, ref, pairs, tokenizer, peft_config=None, **overrides):
    args = config_cls(output_dir=str(tmp_path), **{**CPU_TRAINING_ARGS, **overrides})
    return trainer_cls(
        model=copy.deepcopy(policy),
        ref_model=None if ref is None else copy.deepcopy(ref),
        args=args,
        train_dataset=pairs,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def loss_and_grads(trainer, n_pairs=8):
    """Loss and parameter gradients of one batch made of the first `n_pairs` pairs (no shuffling)."""
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(n_pairs)])
    trainer.model.train()
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    assert grads, "no parameter received a gradient"
    return loss.detach(), grads


def assert_same(result_a, result_b):
    loss_a, grads_a = result_a
    loss_b, grads_b = result_b
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-6, atol=1e-7)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("precompute", [False, True], ids=["ref-model", "precomputed-ref"])
def test_dpop_lambda_zero_matches_trl_sigmoid_loss_and_gradients(
    tmp_path, moved_policy, base_model, pairs, tokenizer, precompute
):
    common = dict(beta=0.3, precompute_ref_log_probs=precompute)
    trl = make_trainer(
        DPOTrainer,
        DPOConfig,
        tmp_path / "trl",
        moved_policy,
        base_model,
        pairs,
        tokenizer,
        loss_type="sigmoid",
        **common,
    )
    ours = make_trainer(
        DPOPTrainer,
        DPOPConfig,
        tmp_path / "dpop",
        moved_policy,
        base_model,
        pairs,
        tokenizer,
        loss_type="dpop",
        dpop_lambda=0.0,
        **common,
    )
    trl_result, ours_result = loss_and_grads(trl), loss_and_grads(ours)
    assert_same(trl_result, ours_result)
    # The policy really moved: the loss is not the trivial log 2 of policy == reference
    assert abs(trl_result[0].item() - math.log(2)) > 1e-3
    # ... and some chosen completions are below the reference, so λ > 0 must change the loss
    assert ours._metrics["train"]["dpop/chosen_below_ref"][-1] > 0

    penalised = make_trainer(
        DPOPTrainer,
        DPOPConfig,
        tmp_path / "dpop50",
        moved_policy,
        base_model,
        pairs,
        tokenizer,
        loss_type="dpop",
        dpop_lambda=50.0,
        **common,
    )
    assert loss_and_grads(penalised)[0] > ours_result[0]


def test_dpop_lambda_zero_matches_trl_sigmoid_with_lora(tmp_path, base_model, pairs, tokenizer):
    from peft import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], lora_dropout=0.0)

    def with_moved_adapter(trainer):
        # LoRA B starts at zero (policy == reference); move the adapter identically in both trainers
        generator = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for name, parameter in sorted(trainer.model.named_parameters()):
                if "lora_B" in name:
                    parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
        return trainer

    trl = with_moved_adapter(
        make_trainer(
            DPOTrainer,
            DPOConfig,
            tmp_path / "trl",
            base_model,
            None,
            pairs,
            tokenizer,
            lora,
            loss_type="sigmoid",
            beta=0.3,
        )
    )
    ours = with_moved_adapter(
        make_trainer(
            DPOPTrainer,
            DPOPConfig,
            tmp_path / "dpop",
            base_model,
            None,
            pairs,
            tokenizer,
            lora,
            dpop_lambda=0.0,
            beta=0.3,
        )
    )
    assert ours.ref_model is None  # the reference is the base model with the adapter disabled
    trl_result, ours_result = loss_and_grads(trl), loss_and_grads(ours)
    assert all("lora" in name for name in ours_result[1])
    assert_same(trl_result, ours_result)
    assert ours._metrics["train"]["dpop/chosen_below_ref"][-1] > 0

    penalised = with_moved_adapter(
        make_trainer(
            DPOPTrainer,
            DPOPConfig,
            tmp_path / "dpop50",
            base_model,
            None,
            pairs,
            tokenizer,
            lora,
            dpop_lambda=50.0,
            beta=0.3,
        )
    )
    assert loss_and_grads(penalised)[0] > ours_result[0]


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "hinge"])
def test_baselines_match_trl(tmp_path, moved_policy, base_model, pairs, tokenizer, loss_type):
    trl = make_trainer(
        DPOTrainer,
        DPOConfig,
        tmp_path / "trl",
        moved_policy,
        base_model,
        pairs,
        tokenizer,
        loss_type=loss_type,
        beta=0.3,
    )
    ours = make_trainer(
        DPOPTrainer,
        DPOPConfig,
        tmp_path / "ours",
        moved_policy,
        base_model,
        pairs,
        tokenizer,
        loss_type=loss_type,
        beta=0.3,
    )
    assert_same(loss_and_grads(trl), loss_and_grads(ours))


@pytest.mark.parametrize("loss_type", [*LOSS_TYPES, ["dpop", "sft"]], ids=str)
def test_each_loss_trains_and_logs_finite_metrics(tmp_path, base_model, pairs, tokenizer, loss_type):
    trainer = make_trainer(
        DPOPTrainer,
        DPOPConfig,
        tmp_path,
        base_model,
        base_model,
        pairs,
        tokenizer,
        loss_type=loss_type,
        beta=0.3,
        max_steps=3,
        learning_rate=1e-2,
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p.detach())]
    assert len(changed) == len(before), f"unchanged: {set(before) - set(changed)}"
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    expected = {
        "loss",
        "logps/chosen",
        "logps/rejected",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "dpop/penalty",
        "dpop/chosen_below_ref",
        "entropy",
        "mean_token_accuracy",
    }
    for entry in logs:
        assert expected <= entry.keys()
        assert all(math.isfinite(entry[key]) for key in expected)
        assert 0.0 <= entry["dpop/chosen_below_ref"] <= 1.0


def test_evaluation_logs_dpop_metrics(tmp_path, moved_policy, base_model, pairs, tokenizer):
    trainer = make_trainer(DPOPTrainer, DPOPConfig, tmp_path, moved_policy, base_model, pairs, tokenizer)
    metrics = trainer.evaluate(pairs)
    assert math.isfinite(metrics["eval_loss"]) and "eval_dpop/penalty" in metrics


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"dpop_lambda": -1.0},
            "`dpop_lambda` must be >= 0, got -1.0. λ weights the penalty on the chosen log-ratio; use 0 for plain DPO.",
        ),
        (
            {"loss_type": "dpopp"},
            "Unknown `loss_type` 'dpopp' for DPOPTrainer. Did you mean: dpop? Available: "
            + ", ".join(SUPPORTED_LOSS_TYPES)
            + ".",
        ),
        (
            {"loss_type": ["dpop", "sft", "kto"]},
            "Unknown `loss_type` 'kto' for DPOPTrainer. Available: " + ", ".join(SUPPORTED_LOSS_TYPES) + ".",
        ),
        ({"loss_type": []}, "`loss_type` is empty. Name at least one loss, e.g. `loss_type: dpop`."),
        (
            {"loss_weights": [1.0, float("nan")], "loss_type": ["dpop", "sft"]},
            "`loss_weights` must be finite numbers, got [1.0, nan].",
        ),
        (
            {"f_divergence_type": "js_divergence"},
            "`f_divergence_type` 'js_divergence' does not combine with `loss_type` 'dpop': Eq. 3 is defined for the "
            "reverse KL. Use `f_divergence_type='reverse_kl'`, or drop 'dpop' from `loss_type`.",
        ),
        (
            {"sync_ref_model": True, "loss_type": ["sigmoid", "dpop"]},
            "`sync_ref_model` is True but `loss_type` has 'dpop': Eq. 3 penalises the chosen log-prob falling below a "
            "fixed reference, and TR-DPO's syncing moves that reference. Set `sync_ref_model: false`, or drop 'dpop' "
            "from `loss_type`.",
        ),
        ({"beta": 0.0}, "`beta` must be > 0 and finite, got 0.0. The paper uses 0.3 (ablation: 0.1, 0.3, 1.0)."),
        (
            {"loss_type": ["sigmoid", "sft"], "use_weighting": True},
            "`use_weighting` does not combine with `loss_type` 'sft' in TRL 1.16: its WPO weighting multiplies the sft "
            "term in place and fails. Set `use_weighting: false`, or drop 'sft' from `loss_type`.",
        ),
    ],
)
def test_config_rejects_unsupported_options(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DPOPConfig(output_dir=str(tmp_path), **{**CPU_TRAINING_ARGS, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {"loss_type": ["dpop", "sft"], "loss_weights": [1.0, 0.5], "ld_alpha": 0.5},
        {"loss_type": ["sigmoid", "sft"], "f_divergence_type": "js_divergence", "label_smoothing": 0.1},
        {"loss_type": "robust", "label_smoothing": 0.1, "use_weighting": True},
        {"loss_type": "sigmoid", "sync_ref_model": True},  # TR-DPO without dpop is TRL's business
    ],
)
def test_config_accepts_trl_options(tmp_path, overrides):
    DPOPConfig(output_dir=str(tmp_path), **{**CPU_TRAINING_ARGS, **overrides})


def test_trainer_init_rejects_options_set_after_config(tmp_path, base_model, pairs, tokenizer):
    args = DPOPConfig(output_dir=str(tmp_path), **CPU_TRAINING_ARGS)
    args.loss_weights = [1.0, 2.0]
    message = (
        "`loss_weights` has 2 weights for 1 loss types ['dpop']. Give one weight per loss type, in the same order, or "
        "unset `loss_weights` for weights of 1.0."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DPOPTrainer(model=base_model, args=args, train_dataset=pairs, processing_class=tokenizer)
    with pytest.raises(TypeError, match="DPOPTrainer needs a `DPOPConfig`"):
        DPOPTrainer(
            model=base_model,
            args=DPOConfig(output_dir=str(tmp_path), **CPU_TRAINING_ARGS),
            train_dataset=pairs,
            processing_class=tokenizer,
        )


def test_config_defaults_are_the_papers():
    args = DPOPConfig(output_dir="unused", use_cpu=True, bf16=False)
    assert args.loss_type == ["dpop"]
    assert args.dpop_lambda == 50.0


# ---------------------------------------------------------------------------------------------------------------
# Every TRL loss type, list form and option: DPOPTrainer's loss and gradients are trl.DPOTrainer's


# id: (loss_type, other options). Options a loss needs (exo_pair needs label smoothing) are set with it.
TRL_CASES = {name: (name, {}) for name in TRL_LOSS_TYPES}
TRL_CASES["exo_pair"] = ("exo_pair", {"label_smoothing": 1e-3})
TRL_CASES["robust"] = ("robust", {"label_smoothing": 0.1})
TRL_CASES.update(
    {
        # RPO (Pang et al. 2024): DPO plus the chosen completion's NLL
        "rpo": (["sigmoid", "sft"], {"loss_weights": [1.0, 1.0]}),
        # MPO, TRL's documented three-loss example
        "mpo": (["sigmoid", "bco_pair", "sft"], {"loss_weights": [0.8, 0.2, 1.0]}),
        "hinge+ipo-default-weights": (["hinge", "ipo"], {}),
        "sigmoid-ld_alpha": ("sigmoid", {"ld_alpha": 0.5}),
        "sigmoid-wpo": ("sigmoid", {"use_weighting": True}),
        "aot-label_smoothing": ("aot", {"label_smoothing": 0.1}),
        "rpo-js_divergence": (["sigmoid", "sft"], {"f_divergence_type": "js_divergence"}),
        "ipo-alpha_divergence": ("ipo", {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3}),
        "sigmoid_norm-forward_kl": ("sigmoid_norm", {"f_divergence_type": "forward_kl"}),
        "discopop-tau": ("discopop", {"discopop_tau": 0.5}),
        "rpo-precomputed-ld_alpha": (["sigmoid", "sft"], {"precompute_ref_log_probs": True, "ld_alpha": 0.5}),
    }
)


def one_batch(trainer_cls, config_cls, tmp_path, policy, ref, pairs, tokenizer, **overrides):
    trainer = make_trainer(trainer_cls, config_cls, tmp_path, policy, ref, pairs, tokenizer, beta=0.3, **overrides)
    return trainer, loss_and_grads(trainer)


@pytest.mark.parametrize("case", TRL_CASES)
def test_every_trl_loss_and_option_matches_trl(tmp_path, moved_policy, base_model, pairs, tokenizer, case):
    loss_type, options = TRL_CASES[case]
    common = (moved_policy, base_model, pairs, tokenizer)
    _, trl_result = one_batch(DPOTrainer, DPOConfig, tmp_path / "trl", *common, loss_type=loss_type, **options)
    ours, ours_result = one_batch(DPOPTrainer, DPOPConfig, tmp_path / "ours", *common, loss_type=loss_type, **options)
    assert_same(trl_result, ours_result)
    # DPOP's metrics are logged for TRL's losses too
    metrics = ours._metrics["train"]
    assert 0.0 <= metrics["dpop/chosen_below_ref"][-1] <= 1.0 and metrics["dpop/penalty"][-1] >= 0.0


@pytest.mark.parametrize(
    ("other_losses", "options"),
    [
        (["sft"], {}),
        (["sigmoid"], {}),  # [dpop, sigmoid] against TRL's [sigmoid, sigmoid]
        (["sft"], {"ld_alpha": 0.5}),
        (["ipo"], {"use_weighting": True}),  # TRL 1.16's WPO weighting crashes on its own 'sft' term: refused
        (["sft"], {"precompute_ref_log_probs": True, "ld_alpha": 0.3}),
    ],
    ids=["sft", "sigmoid", "ld_alpha", "wpo", "precomputed-ld_alpha"],
)
def test_dpop_lambda_zero_in_a_list_matches_trl(
    tmp_path, moved_policy, base_model, pairs, tokenizer, other_losses, options
):
    """λ = 0 makes the dpop term TRL's sigmoid term, so [dpop, X] must be TRL's [sigmoid, X], options included."""
    common = (moved_policy, base_model, pairs, tokenizer)
    weights = {"loss_weights": [0.7, 0.4]}
    _, trl_result = one_batch(
        DPOTrainer, DPOConfig, tmp_path / "trl", *common, loss_type=["sigmoid", *other_losses], **weights, **options
    )
    _, ours_result = one_batch(
        DPOPTrainer,
        DPOPConfig,
        tmp_path / "ours",
        *common,
        loss_type=["dpop", *other_losses],
        dpop_lambda=0.0,
        **weights,
        **options,
    )
    assert_same(trl_result, ours_result)


def chosen_nll_by_hand(model, trainer, n_pairs=8):
    """TRL's 'sft' term written out: mean negative log-prob of the chosen completion tokens, from plain logits."""
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(n_pairs)])
    model = copy.deepcopy(model).train()
    ids, mask = inputs["input_ids"][:n_pairs], inputs["completion_mask"][:n_pairs, 1:].bool()
    logps = torch.log_softmax(model(input_ids=ids, attention_mask=inputs["attention_mask"][:n_pairs]).logits, -1)
    per_token = logps[:, :-1].gather(2, ids[:, 1:, None])[..., 0]
    return -per_token[mask].mean()


def test_dpop_plus_sft_is_the_weighted_sum_of_its_terms(tmp_path, moved_policy, base_model, pairs, tokenizer):
    common = (moved_policy, base_model, pairs, tokenizer)
    _, (dpop_only, dpop_grads) = one_batch(DPOPTrainer, DPOPConfig, tmp_path / "dpop", *common, loss_type="dpop")
    trl_sft, (sft_only, sft_grads) = one_batch(DPOTrainer, DPOConfig, tmp_path / "sft", *common, loss_type="sft")
    trainer = make_trainer(
        DPOPTrainer,
        DPOPConfig,
        tmp_path / "both",
        *common,
        beta=0.3,
        loss_type=["dpop", "sft"],
        loss_weights=[2.0, 0.5],
    )
    forwards = {"policy": 0, "reference": 0}  # one forward of each per step, as in TRL: the dpop term reuses them
    for role, model in (("policy", trainer.model), ("reference", trainer.ref_model)):
        model.get_input_embeddings().register_forward_hook(
            lambda *_, role=role: forwards.update({role: forwards[role] + 1})
        )
    both, both_grads = loss_and_grads(trainer)
    assert forwards == {"policy": 1, "reference": 1}
    torch.testing.assert_close(both, 2.0 * dpop_only + 0.5 * sft_only, rtol=1e-6, atol=1e-6)
    for name, grad in both_grads.items():  # a sum of float32 terms: compare whole tensors, entries near 0 are rounding
        expected = 2.0 * dpop_grads[name] + 0.5 * sft_grads[name]
        assert (grad - expected).norm() <= 1e-5 * expected.norm() + 1e-7, name
    # ... and TRL's sft term is the chosen completion's mean token NLL, computed here independently of TRL
    torch.testing.assert_close(sft_only, chosen_nll_by_hand(moved_policy, trl_sft).detach(), rtol=1e-5, atol=1e-6)


PREFIX_SHARING_CASES = {
    "dpop+sft": (["dpop", "sft"], {"loss_weights": [1.0, 0.5]}),
    "rpo": (["sigmoid", "sft"], {}),
    "dpop+ipo-ld_alpha-wpo": (["dpop", "ipo"], {"ld_alpha": 0.5, "use_weighting": True}),
    "sigmoid_norm+aot": (["sigmoid_norm", "aot"], {}),
    "robust-precomputed": ("robust", {"label_smoothing": 0.1, "precompute_ref_log_probs": True}),
}


@pytest.mark.parametrize("case", PREFIX_SHARING_CASES)
def test_prefix_sharing_is_exact_for_lists_and_options(tmp_path, moved_policy, base_model, pairs, tokenizer, case):
    """Packed rows give TRL the unshared per-token outputs: same loss and gradients as trl.DPOTrainer (float32)."""
    loss_type, options = PREFIX_SHARING_CASES[case]
    common = (moved_policy, base_model, pairs, tokenizer)
    ours = make_trainer(
        DPOPTrainer, DPOPConfig, tmp_path / "ours", *common, beta=0.3, loss_type=loss_type, prefix_sharing=True,
        **options,
    )  # fmt: skip
    rows_seen = []  # rows reaching the policy's embedding layer, inside the model's forward
    handle = ours.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: rows_seen.append(args[0].size(0))
    )
    shared = loss_and_grads(ours)
    handle.remove()
    assert rows_seen == [8], rows_seen  # one packed row per pair, not 16 rows (the reference is another model)
    assert ours._metrics["train"]["prefix_sharing/token_ratio"][-1] > 1
    if "dpop" in loss_type:  # compare with the unshared DPOPTrainer (TRL has no dpop)
        unshared = loss_and_grads(make_trainer(
            DPOPTrainer, DPOPConfig, tmp_path / "u", *common, beta=0.3, loss_type=loss_type, **options
        ))  # fmt: skip
    else:
        unshared = loss_and_grads(make_trainer(
            DPOTrainer, DPOConfig, tmp_path / "trl", *common, beta=0.3, loss_type=loss_type, **options
        ))  # fmt: skip
    torch.testing.assert_close(shared[0], unshared[0], rtol=1e-5, atol=1e-6)
    for name, grad in unshared[1].items():
        assert (shared[1][name] - grad).norm() <= 1e-5 * grad.norm() + 1e-7, name


@pytest.fixture(scope="module")
def tiny_moe(tokenizer):
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    config = MixtralConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        router_aux_loss_coef=0.02,
    )
    return MixtralForCausalLM(config)


def test_moe_router_loss_is_trls_and_prefix_sharing_falls_back(tmp_path, tiny_moe, pairs, tokenizer):
    policy = nudged_copy(tiny_moe)
    common = (policy, tiny_moe, pairs, tokenizer)
    trl, trl_result = one_batch(DPOTrainer, DPOConfig, tmp_path / "trl", *common, loss_type=["sigmoid", "sft"])
    ours, ours_result = one_batch(
        DPOPTrainer, DPOPConfig, tmp_path / "ours", *common, loss_type=["dpop", "sft"], dpop_lambda=0.0
    )
    assert trl.aux_loss_enabled and ours.aux_loss_enabled and ours._metrics["train"]["aux_loss"][-1] > 0
    assert_same(trl_result, ours_result)
    shared = make_trainer(DPOPTrainer, DPOPConfig, tmp_path / "shared", *common, prefix_sharing=True)
    with pytest.warns(UserWarning, match=r"prefix_sharing is off: the MoE router loss \(`router_aux_loss_coef`\)"):
        assert shared._prefix_sharing_backend() is None


def test_return_outputs_gives_the_same_loss_and_logits(tmp_path, moved_policy, base_model, pairs, tokenizer):
    trainer = make_trainer(
        DPOPTrainer, DPOPConfig, tmp_path, moved_policy, base_model, pairs, tokenizer, loss_type=["dpop", "sft"]
    )
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, inputs)
        with pytest.warns(FutureWarning, match="`return_outputs=True`"):
            loss_again, outputs = trainer.compute_loss(trainer.model, inputs, return_outputs=True)
    torch.testing.assert_close(loss, loss_again)
    assert outputs.logits.shape[:2] == inputs["input_ids"].shape
