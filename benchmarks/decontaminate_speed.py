"""What `--decontaminate gsm8k,math,arc_challenge,hellaswag` adds to the 395,000-pair MetaMath build.

Builds (once, cached under --work) the MetaMath-size corpus of benchmarks/_corpus.py with the real CLI,
`prefbuild build metamath --source FILE --out DIR --no-plot`, then times, in this process:

- index: loading the four benchmarks' documents and hashing their 13-grams;
- check: normalising every pair's prompt, chosen and rejected text and looking up each 13-gram;

which is what the build hook adds (the build writes its folder anyway). It also times the standalone verb,
`prefbuild decontaminate DIR --out DIR2` (reads and rewrites the whole folder: shards, stats.json, card).

Benchmark documents: GSM8K test from ../shared/data/gsm8k/test.jsonl (1,319 problems) and, as stand-ins where no
local copy exists, the MATH *train* file (7,500 problems, 1.5× MATH test's 5,000) for MATH test, and for
ARC-Challenge test (1,172 questions) and HellaSwag validation (10,042 contexts, 4 endings each) documents of the
same count and length whose words are drawn from GSM8K train text by frequency: the vocabulary the corpus uses, so
few windows are broken by unknown words (the slow case for the lookup), without copying its sentences.

    python benchmarks/decontaminate_speed.py [--work /tmp/prefbuild-decontaminate] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import GSM8K_DIR, METAMATH_ROWS, REPO, metamath_corpus, write_jsonl  # noqa: E402

from prefbuild.decontaminate import build_index, check_tables, decontaminate_folder  # noqa: E402
from prefbuild.output import read_output_folder  # noqa: E402

MATH_TRAIN = REPO.parent / "shared" / "data" / "math" / "train.jsonl"
BENCHMARKS = ["gsm8k", "math", "arc_challenge", "hellaswag"]


def build_corpus_folder(work: Path) -> Path:
    folder = work / "metamath-395k"
    if (folder / "stats.json").is_file():
        return folder
    rows, origin = metamath_corpus(METAMATH_ROWS)
    source = write_jsonl(rows, work / "metamath.jsonl")
    print(f"building {len(rows):,} rows ({origin}) …", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [sys.executable, "-m", "prefbuild", "build", "metamath", "--source", str(source)]
    subprocess.run([*command, "--out", str(folder), "--no-plot"], check=True, env=env, stdout=subprocess.DEVNULL)
    return folder


def _gsm8k_sentences() -> list[str]:
    words = []
    with open(GSM8K_DIR / "train.jsonl", encoding="utf-8") as file:
        for line in file:
            row = json.loads(line)
            words += (row["question"] + " " + row["answer"]).split()
    return words


def write_benchmark_documents(work: Path) -> Path:
    data = work / "benchmarks-v2"
    if (data / "hellaswag" / "validation.jsonl").is_file():
        return data
    for name in BENCHMARKS:
        (data / name).mkdir(parents=True, exist_ok=True)
    (data / "gsm8k" / "test.jsonl").write_text((GSM8K_DIR / "test.jsonl").read_text(encoding="utf-8"))
    (data / "math" / "test.jsonl").write_text(MATH_TRAIN.read_text(encoding="utf-8"))
    words = _gsm8k_sentences()
    rng = random.Random(0)

    def cut(length: int) -> str:  # words drawn by their GSM8K frequency: the corpus's vocabulary, not its sentences
        return " ".join(rng.choices(words, k=length))

    arc = [
        {
            "id": f"stand-in-{i}",
            "question": cut(25),
            "choices": {"text": [cut(4) for _ in range(4)], "label": list("ABCD")},
            "answerKey": "A",
        }
        for i in range(1172)
    ]
    write_jsonl(arc, data / "arc_challenge" / "test.jsonl")
    hellaswag = [{"ctx": cut(40), "endings": [cut(20) for _ in range(4)], "label": "0"} for _ in range(10042)]
    write_jsonl(hellaswag, data / "hellaswag" / "validation.jsonl")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/prefbuild-decontaminate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-verb", action="store_true", help="do not time the standalone verb")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    folder = build_corpus_folder(work)
    data = write_benchmark_documents(work)
    tables, _ = read_output_folder(folder)
    pairs = sum(table.num_rows for table in tables.values())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{pairs:,} pairs in {folder}; benchmarks from {data}")

    index_times, check_times, verb_times, cpu_times = [], [], [], []
    for repeat in range(args.repeats):
        cpu = time.process_time()
        started = time.perf_counter()
        index = build_index(BENCHMARKS, data_dir=data)
        index_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        report, _ = check_tables(tables, index)
        check_times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        print(
            f"run {repeat + 1}: index {index_times[-1]:.2f} s, check {check_times[-1]:.2f} s, CPU {cpu_times[-1]:.2f} s (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    if not args.skip_verb:
        started = time.perf_counter()
        decontaminate_folder(folder, BENCHMARKS, data_dir=data, out=work / "checked", overwrite=True)
        verb_times.append(time.perf_counter() - started)
    ngrams = ", ".join(f"{name} {count:,}" for name, count in index.ngram_counts.items())
    print(f"13-grams indexed: {ngrams}")
    for split, facts in report.items():
        per = ", ".join(f"{name} {facts['by_benchmark'][name]['pairs']:,}" for name in BENCHMARKS)
        print(f"{split}: {facts['overlapping_pairs']:,} of {facts['checked_pairs']:,} pairs overlap ({per})")
    index_s, check_s = statistics.median(index_times), statistics.median(check_times)
    print(
        f"median of {args.repeats}: index {index_s:.2f} s + check {check_s:.2f} s = {index_s + check_s:.2f} s added "
        f"(CPU {statistics.median(cpu_times):.2f} s)"
    )
    if verb_times:
        print(f"standalone `prefbuild decontaminate DIR --out DIR2` (read + check + rewrite): {verb_times[0]:.2f} s")


if __name__ == "__main__":
    main()
