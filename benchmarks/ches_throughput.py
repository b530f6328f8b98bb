"""CHES scoring cost per pair on CPU, by batch size, and what batching changes in the scores.

Pairs in the MetaMath shape: prompt = a GSM8K question (real text from ../shared when it is there, generated word
problems otherwise, benchmarks/_corpus.py), chosen = its MetaMath-style answer, rejected = the same answer with
one number one higher. The model is the tiny random Llama of `prefbuild tiny-model` (or a wider one with
`--hidden`/`--layers`), built in memory. For each batch size it reports CPU seconds (all threads) per 1,000 pairs
for tokenising (TRL's DPOTrainer way, `tokenize_pairs`) and for scoring (`ches_from_ids`), the padded share of
the tokens run, and the largest relative difference from the scores computed one pair at a time (batch size 1).

    python benchmarks/ches_throughput.py [--pairs 512] [--batch-sizes 1,8,32] [--hidden 64] [--layers 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import metamath_corpus  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

from prefbuild.displacement import ches_from_ids, tokenize_pairs  # noqa: E402
from prefbuild.train.tiny_model import DEFAULT_CORPUS, tiny_llama_config, train_tokenizer  # noqa: E402

NUMBER = re.compile(r"[0-9]+")


def metamath_pairs(count: int, seed: int = 0) -> list[dict[str, str]]:
    rows, _ = metamath_corpus(count, seed, kind="gsm8k")
    pairs = []
    for index, row in enumerate(rows):
        text = row["response"]
        numbers = list(NUMBER.finditer(text.rsplit("\n", 1)[0]))
        match = random.Random(f"{seed}-{index}").choice(numbers) if numbers else None
        rejected = (
            text + " 1" if match is None else text[: match.start()] + str(int(match.group()) + 1) + text[match.end() :]
        )
        pairs.append({"prompt": row["query"] + "\n", "chosen": text, "rejected": rejected})
    return pairs


def padded_share(prompt_ids, chosen_ids, rejected_ids, batch_size: int) -> float:
    """Padding tokens / tokens run, with ches_from_ids' longest-first batching."""
    lengths = [len(p) + max(len(c), len(r)) for p, c, r in zip(prompt_ids, chosen_ids, rejected_ids)]
    real = sum(2 * len(p) + len(c) + len(r) for p, c, r in zip(prompt_ids, chosen_ids, rejected_ids))
    ordered = sorted(lengths, reverse=True)
    run = sum(2 * len(ordered[i : i + batch_size]) * ordered[i] for i in range(0, len(ordered), batch_size))
    return 1 - real / run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable under load)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rows = metamath_pairs(args.pairs)
    tokenizer = train_tokenizer(DEFAULT_CORPUS)
    config = tiny_llama_config(
        len(tokenizer),
        hidden_size=args.hidden,
        num_layers=args.layers,
        intermediate_size=2 * args.hidden,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    print(
        f"{len(rows):,} pairs; model hidden {args.hidden}, {args.layers} layers; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}"
    )
    started = time.process_time()
    prompt_ids, chosen_ids, rejected_ids = tokenize_pairs(rows, tokenizer)
    tokenise = time.process_time() - started
    tokens = [len(p) + len(c) for p, c in zip(prompt_ids, chosen_ids)]
    print(
        f"tokenise: {1000 * tokenise / len(rows):.2f} CPU s per 1,000 pairs; prompt + chosen tokens: "
        f"median {int(np.median(tokens))}, max {max(tokens)}"
    )
    reference = None
    for batch_size in (int(value) for value in args.batch_sizes.split(",")):
        started, wall = time.process_time(), time.perf_counter()
        ches, normalised = ches_from_ids(model, prompt_ids, chosen_ids, rejected_ids, batch_size=batch_size)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        scores = np.array([ches, normalised])
        reference = scores if reference is None else reference
        difference = np.max(np.abs(scores - reference) / np.maximum(np.abs(reference), 1e-6), axis=1)
        print(
            f"batch {batch_size:3d}: {1000 * cpu / len(rows):7.2f} CPU s per 1,000 pairs (wall {wall:6.2f} s), "
            f"padding {100 * padded_share(prompt_ids, chosen_ids, rejected_ids, batch_size):4.1f}% of tokens run, "
            f"max relative difference from batch 1: CHES {difference[0]:.1e}, normalised {difference[1]:.1e}"
        )
    print(f"CHES mean {np.mean(reference[0]):.4g}, normalised mean {np.mean(reference[1]):.4g} (sanity)")


if __name__ == "__main__":
    main()
