"""Edit-distance statistics for 395,000 pairs: the char and word normalised Levenshtein columns and their summaries.

Times `prefbuild.build.split_statistics` (what every build runs, and `prefbuild stats` on a folder) on MetaMath-size
pairs. The pairs are the corpus of benchmarks/_corpus.py (real GSM8K text when ../shared is there) with one number
changed per response by a simple regex, which gives the same kind of near-identical pairs the builders make without
spending a minute building them; `--folder DIR` times a built folder's pairs instead.

    python benchmarks/stats_throughput.py [--pairs 395000] [--repeats 3] [--folder DIR] [--reference]

`--reference` also times, once, the word distance as rapidfuzz computes it from `str.split` word lists (what
prefbuild did before) and checks that the fast path gives the same floats bit for bit.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import METAMATH_ROWS, metamath_corpus  # noqa: E402

from prefbuild import stats  # noqa: E402
from prefbuild.build import split_statistics  # noqa: E402

NUMBER = re.compile(r"[0-9]+")


def corpus_pairs(count: int, seed: int = 0) -> pa.Table:
    """chosen = response, rejected = the response with one number (not in the last line) one higher."""
    rows, _ = metamath_corpus(count, seed, kind="gsm8k")  # the corpus of the recorded figures
    chosen, rejected = [], []
    for index, row in enumerate(rows):
        text = row["response"]
        body = text.rsplit("\n", 1)[0]
        numbers = list(NUMBER.finditer(body))
        if numbers:
            match = random.Random(f"{seed}-{index}").choice(numbers)
            new = str(int(match.group()) + 1)
            changed = text[: match.start()] + new + text[match.end() :]
        else:
            changed = text + " 1"
        chosen.append(text)
        rejected.append(changed)
    return pa.table({"chosen": chosen, "rejected": rejected})


def folder_pairs(folder: str) -> pa.Table:
    from prefbuild.output import read_output_folder

    tables, _ = read_output_folder(folder)
    return pa.concat_tables(table.select(["chosen", "rejected"]) for table in tables.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=METAMATH_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", help="time the pairs of a built folder instead of generated ones")
    parser.add_argument("--reference", action="store_true", help="also time the str.split word lists path")
    args = parser.parse_args(argv)

    table = folder_pairs(args.folder) if args.folder else corpus_pairs(args.pairs)
    chosen = table.column("chosen").to_pylist()
    rejected = table.column("rejected").to_pylist()
    statuses = pa.chunked_array([pa.array([""] * table.num_rows, pa.string())])
    print(f"{table.num_rows:,} pairs; {platform.processor() or platform.machine()}, {os.cpu_count()} cores")

    timings: dict[str, list[float]] = {"char": [], "word": [], "split_statistics": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        stats.normalised_levenshtein(chosen, rejected)
        timings["char"].append(time.perf_counter() - started)
        started = time.perf_counter()
        stats.word_levenshtein(chosen, rejected)
        timings["word"].append(time.perf_counter() - started)
        started = time.perf_counter()
        _, summary = split_statistics(table, statuses, table.num_rows)
        timings["split_statistics"].append(time.perf_counter() - started)

    for name, values in timings.items():
        runs = ", ".join(f"{value:.2f}" for value in values)
        median = statistics.median(values)
        print(f"{name:17s} median {median:6.2f} s  ({table.num_rows / median:>12,.0f} pairs/s)  runs: {runs}")
    if args.reference:
        started = time.perf_counter()
        reference = process.cpdist(
            chosen, rejected, scorer=Levenshtein.normalized_distance, processor=str.split, dtype=np.float64, workers=-1
        )
        seconds = time.perf_counter() - started
        same = np.array_equal(reference, stats.word_levenshtein(chosen, rejected))
        print(f"word via str.split lists (before): {seconds:.2f} s; fast path identical bit for bit: {same}")
    char, word = summary["edit_distance"]["char"], summary["edit_distance"]["word"]
    print(f"char mean {char['mean']:.4f}, word mean {word['mean']:.4f} (sanity: same before and after any speed-up)")


if __name__ == "__main__":
    main()
