"""Mixture throughput: `mix_datasets` on synthetic local copies of ORCA and UltraFeedback (their Hub schemas).

    python benchmarks/mix_throughput.py --rows 20000 --repeats 3

Prints wall and CPU seconds per run (CPU time is the fairer figure on a shared machine) and the output's digest,
so two commits can be compared on the same input: run it with PYTHONPATH pointing at each checkout. Works with
the old `weight:` spelling too (used when prefbuild.mix has no `fraction`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import tempfile
import time
from pathlib import Path


def write_sources(root: Path, rows: int) -> None:
    (root / "orca").mkdir()
    (root / "uf").mkdir()
    with open(root / "orca" / "train.jsonl", "w", encoding="utf-8") as handle:
        for i in range(rows):
            system = "" if i % 3 else "You are a helpful assistant. Think step by step."
            row = {
                "system": system,
                "question": f"Question {i}: what is {i} + {i % 97}? Explain the steps.",
                "chosen": f"{i} + {i % 97} = {i + i % 97}. First add the units, then carry." * 3,
                "rejected": f"{i} + {i % 97} = {i + i % 97 + 1}. Adding is easy." * 3,
            }
            handle.write(json.dumps(row) + "\n")
    for split, count in (("train_prefs", rows), ("test_prefs", max(1, rows // 20))):
        with open(root / "uf" / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for i in range(count):
                prompt = f"Prompt {split} {i}: summarise the paragraph about item {i}."

                def turn(reply: str, prompt: str = prompt) -> list[dict[str, str]]:
                    return [{"content": prompt, "role": "user"}, {"content": reply, "role": "assistant"}]

                row = {
                    "prompt": prompt,
                    "prompt_id": f"{split}-{i}",
                    "chosen": turn(f"Item {i} is described briefly and accurately. " * 4),
                    "rejected": turn(f"Item {i} is something, maybe. " * 4),
                    "score_chosen": 8.0,
                    "score_rejected": 5.0,
                }
                handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="train rows per source")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import prefbuild.mix as mix

    new_spelling = hasattr(mix, "THIRD_PARTY")
    share = {"fraction": 0.5} if new_spelling else {"weight": 0.5}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_sources(root, args.rows)
        raw = {
            "name": "bench",
            "sources": [
                {"name": "orca", "source": str(root / "orca"), "schema": "Intel/orca_dpo_pairs", **share},
                {"name": "uf", "source": str(root / "uf"), "schema": "HuggingFaceH4/ultrafeedback_binarized", **share},
            ],
        }
        config = mix.parse_config(raw)
        for repeat in range(args.repeats):
            out = root / f"out{repeat}"
            wall, cpu = time.perf_counter(), time.process_time()
            mix.mix_datasets(config, out=out, plot=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            shards = sorted((out / "data").glob("*.parquet"))
            digest = hashlib.sha256(b"".join(path.read_bytes() for path in shards)).hexdigest()[:16]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
            print(
                f"run {repeat + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak:.2f} GiB, shards sha256 {digest}"
            )


if __name__ == "__main__":
    main()
