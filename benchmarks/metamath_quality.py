"""How good are the metamath builder's corruptions on real, human-written solutions?

GSM8K answers with the `<<…>>` calculator annotations removed and `\\nThe answer is: X` appended are
MetaMath-style responses written by people. This script runs the metamath builder's per-row function on all of
them (train + test, 8,792 rows) and prints coverage, the share corrupted at verified results, the tier and slip
mix, the character-level edit distance (rapidfuzz, as in stats.json) and alternatives to compare with the
paper's 6.5 %, rows/s, and two counts checked independently of the builder's bookkeeping: pairs whose final
answer changed, and pairs that differ in anything but exactly one number.

    python benchmarks/metamath_quality.py [--gsm8k-dir ../shared/data/gsm8k] [--seed 0]
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Indel, Levenshtein

from prefbuild.builders import gsm8k, metamath
from prefbuild.builders.gsm8k import strip_annotations

REPO = Path(__file__).resolve().parent.parent
NUMBER_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*")  # deliberately not the builder's own regex
ANSWER_LINES = re.compile(r"^####.*$|The answer is:.*$", re.MULTILINE)
TOKENS = re.compile(r"[0-9]|[A-Za-z]+|[^\sA-Za-z0-9]")  # a crude subword proxy: digits split, as in Llama


def metamath_style_rows(folder: Path) -> list[dict]:
    rows = []
    for split in ("train", "test"):
        with open(folder / f"{split}.jsonl") as file:
            for line in file:
                row = json.loads(line)
                final = row["answer"].rsplit("####", 1)[1].strip()
                response = f"{strip_annotations(row['answer'])}\nThe answer is: {final}"
                rows.append({"query": row["question"], "response": response, "type": f"GSM8K_{split}"})
    return rows


def one_number_changed(chosen: str, rejected: str) -> bool:
    """Outside the numbers the texts are identical, and exactly one number token differs in value."""
    if NUMBER_TOKEN.sub("#", chosen) != NUMBER_TOKEN.sub("#", rejected):
        return False
    before, after = NUMBER_TOKEN.findall(chosen), NUMBER_TOKEN.findall(rejected)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    return len(changed) == 1 and float(changed[0][0].replace(",", "")) != float(changed[0][1].replace(",", ""))


def same_form(original: str, new: str) -> bool:
    decimals = len(original.partition(".")[2])
    return len(new.partition(".")[2]) == decimals and ("," in new) <= ("," in original)


def summary(values: list[float]) -> str:
    array = np.asarray(values)
    return (
        f"mean {array.mean():.4f}  median {np.median(array):.4f}  "
        f"p10 {np.percentile(array, 10):.4f}  p90 {np.percentile(array, 90):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gsm8k-dir", type=Path, default=REPO.parent / "shared" / "data" / "gsm8k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = metamath_style_rows(args.gsm8k_dir)
    builder = metamath.BUILDER
    options = dict(builder.options)
    started, cpu_started = time.perf_counter(), time.process_time()
    outcomes = [builder.build_row(row, builder.row_id(row, i), args.seed, options) for i, row in enumerate(rows)]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    pairs = [pair for outcome in outcomes for pair in outcome.pairs]
    skipped = Counter(outcome.skip_reason for outcome in outcomes if outcome.skip_reason)
    tiers = Counter(pair["tier"] for pair in pairs)
    slips = Counter(pair["slip"] for pair in pairs)
    answer_changed = sum(
        ANSWER_LINES.findall(pair["chosen"]) != ANSWER_LINES.findall(pair["rejected"]) for pair in pairs
    )
    not_one_number = sum(not one_number_changed(pair["chosen"], pair["rejected"]) for pair in pairs)
    form_changed = sum(not same_form(pair["original_value"], pair["new_value"]) for pair in pairs)
    chosen_altered = sum(
        pair["chosen"] != row["response"] for row, outcome in zip(rows, outcomes) for pair in outcome.pairs
    )

    print(f"source rows            {len(rows):,} (GSM8K train + test as MetaMath-style responses)")
    print(f"pairs                  {len(pairs):,}   coverage {len(pairs) / len(rows):.2%}   skipped {dict(skipped)}")
    print(f"verified share         {tiers['verified'] / len(pairs):.2%}")
    print(f"tiers                  {dict(tiers.most_common())}")
    print(f"slips                  {dict(slips.most_common())}")
    print(
        f"rows/s (build_row)     {len(rows) / seconds:,.0f} wall, {len(rows) / cpu_seconds:,.0f} per CPU-second"
        f"   ({cpu_seconds / len(rows) * 1e6:.0f} CPU-µs/row, one process; wall time suffers on a busy machine)"
    )
    print(f"answer changed         {answer_changed}")
    print(f"not exactly one number {not_one_number}")
    print(f"format not kept        {form_changed}")
    print(f"chosen altered         {chosen_altered}")

    chosen = [pair["chosen"] for pair in pairs]
    rejected = [pair["rejected"] for pair in pairs]
    prompts = [pair["prompt"] for pair in pairs]
    char = [Levenshtein.normalized_distance(c, r) for c, r in zip(chosen, rejected)]
    print(f"\nedit distance (char, Levenshtein / longer length, as in stats.json): {summary(char)}")
    alternatives = {
        "word Levenshtein / longer word count": [
            Levenshtein.normalized_distance(c.split(), r.split()) for c, r in zip(chosen, rejected)
        ],
        "token Levenshtein / longer (digits split, words whole)": [
            Levenshtein.normalized_distance(TOKENS.findall(c), TOKENS.findall(r)) for c, r in zip(chosen, rejected)
        ],
        "char Levenshtein / shorter length": [
            Levenshtein.distance(c, r) / min(len(c), len(r)) for c, r in zip(chosen, rejected)
        ],
        "char Indel (1 - rapidfuzz ratio)": [Indel.normalized_distance(c, r) for c, r in zip(chosen, rejected)],
        "char 1 - difflib ratio": [
            1 - difflib.SequenceMatcher(None, c, r, autojunk=False).ratio() for c, r in zip(chosen, rejected)
        ],
        "char, prompt + completion": [
            Levenshtein.normalized_distance(p + c, p + r) for p, c, r in zip(prompts, chosen, rejected)
        ],
        "word positions differing after the change / words": [
            _positional_words(c, r) for c, r in zip(chosen, rejected)
        ],
        "token positions differing (Hamming) / longer": [_positional_tokens(c, r) for c, r in zip(chosen, rejected)],
        "chars from first difference to end / length": [_suffix_share(c, r) for c, r in zip(chosen, rejected)],
        "char Levenshtein over the changed line only": [
            Levenshtein.normalized_distance(*_changed_line(c, r)) for c, r in zip(chosen, rejected)
        ],
        "word Levenshtein over the changed line only": [
            Levenshtein.normalized_distance(*(line.split() for line in _changed_line(c, r)))
            for c, r in zip(chosen, rejected)
        ],
    }
    print("alternative definitions (mean; the paper reports 6.5 % for MetaMath):")
    for name, values in alternatives.items():
        print(f"  {name:<58} {statistics.fmean(values):.4f}")
    gsm8k_builder_figures(args.gsm8k_dir, args.seed)


def gsm8k_builder_figures(folder: Path, seed: int) -> None:
    """The gsm8k builder on the same rows, with its results taken from the calculator annotations."""
    raw = [json.loads(line) for split in ("train", "test") for line in open(folder / f"{split}.jsonl")]
    builder = gsm8k.BUILDER
    started = time.perf_counter()
    outcomes = [
        builder.build_row(row, builder.row_id(row, i), seed, dict(builder.options)) for i, row in enumerate(raw)
    ]
    seconds = time.perf_counter() - started
    pairs = [pair for outcome in outcomes for pair in outcome.pairs]
    tiers = Counter(pair["tier"] for pair in pairs)
    answer_changed = sum(
        ANSWER_LINES.findall(pair["chosen"]) != ANSWER_LINES.findall(pair["rejected"]) for pair in pairs
    )
    not_one_number = sum(not one_number_changed(pair["chosen"], pair["rejected"]) for pair in pairs)
    char = [Levenshtein.normalized_distance(pair["chosen"], pair["rejected"]) for pair in pairs]
    print(
        f"\ngsm8k builder (annotations):  coverage {len(pairs) / len(raw):.2%}  verified {tiers['verified'] / len(pairs):.2%}"
    )
    print(
        f"  tiers {dict(tiers.most_common())}  answer changed {answer_changed}  not exactly one number {not_one_number}"
    )
    print(f"  edit distance (char): {summary(char)}  rows/s {len(raw) / seconds:,.0f}")


def _positional_words(chosen: str, rejected: str) -> float:
    a, b = chosen.split(), rejected.split()
    return sum(x != y for x, y in zip(a, b)) / max(len(a), len(b))


def _positional_tokens(chosen: str, rejected: str) -> float:
    a, b = TOKENS.findall(chosen), TOKENS.findall(rejected)
    return (sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))) / max(len(a), len(b))


def _changed_line(chosen: str, rejected: str) -> tuple[str, str]:
    return next((a, b) for a, b in zip(chosen.splitlines(), rejected.splitlines()) if a != b)


def _suffix_share(chosen: str, rejected: str) -> float:
    first = next((i for i, (x, y) in enumerate(zip(chosen, rejected)) if x != y), min(len(chosen), len(rejected)))
    return 1 - first / max(len(chosen), len(rejected))


if __name__ == "__main__":
    main()
