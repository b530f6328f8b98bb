"""Edit-distance statistics for 395,000 pairs: the char and word normalised Levenshtein columns and their summaries.

Times `prefbuild.build.split_statistics` (what every build runs, and `prefbuild stats` on a folder) on MetaMath-size
pairs. The pairs are the corpus of benchmarks/_corpus.py (real GSM8K text when ../shared is there) with one number
changed per response by a simple regex, which gives the same kind of near-identical pairs the builders make without
spending a minute building them; `--folder DIR` times a built folder's pairs instead.

    python benchmarks/stats_throughput.py [--pairs 395000] [--repeats 3] [--folder DIR]
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

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import METAMATH_ROWS, metamath_corpus  # noqa: E402

from prefbuild import stats  # noqa: E402
from prefbuild.build import split_statistics  # noqa: E402

NUMBER = re.compile(r"[0-9]+")


def corpus_pairs(count: int, seed: int = 0) -> pa.Table:
    """chosen = response, rejected = the response with one number (not in the last line) one higher."""
    rows, _ = metamath_corpus(count, seed)
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
    char, word = summary["edit_distance"]["char"], summary["edit_distance"]["word"]
    print(f"char mean {char['mean']:.4f}, word mean {word['mean']:.4f} (sanity: same before and after any speed-up)")


if __name__ == "__main__":
    main()
