"""A tiny randomly initialised Llama and a locally trained tokenizer, so recipes, tests and demos run offline.

`write_tiny_model(out)` is what `prefbuild tiny-model --out DIR` calls. `train_tokenizer` and `tiny_llama_config`
are the reusable pieces (the toy reproduction builds its own model from them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from prefbuild.output import atomic_folder
from prefbuild.paths import check_out

EOS_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|begin|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, *ROLE_TOKENS)

# One turn per message; the prompt rendered alone (with the generation prompt) is a prefix of prompt + completion,
# which TRL needs to find where the completion starts.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# A few lines in the shape of the preference data (questions, choices, arithmetic) so the BPE merges are useful.
# Byte-level BPE encodes any text regardless: unseen characters fall back to their bytes.
DEFAULT_CORPUS = (
    "Question: Which of these is a source of energy for plants?\nAnswer: sunlight",
    "George wants to warm his hands quickly by rubbing them. Which skin surface will produce the most heat?",
    "Choices: (A) dry palms (B) wet palms (C) palms covered with oil (D) palms covered with lotion",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "In May she sold 48 / 2 = 24 clips. Altogether she sold 48 + 24 = 72 clips. The answer is: 72",
    "Let x be the number of apples. Then 3x + 5 = 20, so 3x = 15 and x = 5. The answer is 5.",
    "The quick brown fox jumps over the lazy dog. 0123456789 + - * / = ( ) . , ; : ? ! $ % \\frac{1}{2}",
    "A student is trying to identify a mineral that has a nonmetallic luster and is black.",
    "Complete the sentence: The man picks up the ball and throws it to the dog, who runs after it.",
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts`, in memory, in well under a second for a few KB of text.

    Any string encodes (byte fallback through the 256-symbol byte alphabet). Special tokens: `<|pad|>` (pad),
    `<|begin|>` (bos, not added automatically), `<|end|>` (eos and end of turn) and `<|system|>`, `<|user|>`,
    `<|assistant|>` for the chat template, which is set so conversational datasets work.

    Args:
        texts: training text; a handful of lines is enough.
        vocab_size: final vocabulary size including the 256 byte symbols and the special tokens (so >= 263).
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=2048,
    )


def tiny_llama_config(
    vocab_size: int,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_position_embeddings: int = 2048,
    pad_token_id: int | None = None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
) -> LlamaConfig:
    """A `LlamaConfig` for a small model; the defaults (2 layers, hidden 64) give ~0.1M parameters plus embeddings.

    Args:
        vocab_size: the tokenizer's `len(tokenizer)`.
        hidden_size / num_layers / num_heads / intermediate_size: model shape; `hidden_size` must divide by
            `num_heads`.
        max_position_embeddings: longest sequence the rotary embeddings are set up for.
        pad_token_id / bos_token_id / eos_token_id: the tokenizer's special token ids.
    """
    if hidden_size % num_heads:
        raise ValueError(f"`hidden_size` ({hidden_size}) must be divisible by `num_heads` ({num_heads}).")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        tie_word_embeddings=False,
    )


def write_tiny_model(
    out: str | Path,
    *,
    seed: int = 0,
    texts: Iterable[str] | None = None,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    overwrite: bool = False,
) -> Path:
    """Write a tiny randomly initialised `LlamaForCausalLM` and its tokenizer to `out`; return the folder.

    The folder loads offline with `AutoModelForCausalLM.from_pretrained(out)` and
    `AutoTokenizer.from_pretrained(out)`. The same `seed` (and arguments) gives the same weights.

    Args:
        out: folder to write: a new path or an empty folder; an existing model folder only with `overwrite`.
            Refused outright: /, the home or current folder, a symbolic link, a file (prefbuild/paths.py). Written
            into a temporary sibling and renamed into place, so a failure leaves the old folder as it was.
        seed: seeds the weight initialisation.
        texts: tokenizer training text; defaults to a few built-in lines shaped like the preference data.
        vocab_size / hidden_size / num_layers / num_heads / intermediate_size: see `train_tokenizer` and
            `tiny_llama_config`.
    """
    out = Path(out)
    empty = out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    check_out(out, overwrite=overwrite or empty)
    tokenizer = train_tokenizer(DEFAULT_CORPUS if texts is None else texts, vocab_size=vocab_size)
    config = tiny_llama_config(
        len(tokenizer),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_size=intermediate_size,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with atomic_folder(out, overwrite=overwrite or empty) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out
