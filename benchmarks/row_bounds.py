"""Per-row cost of real MetaMath-style rows, and what the engine's bounds do with adversarial ones.

1. Times the metamath builder's `build_row` on every real solution available (MATH train and GSM8K train from
   ../shared/data, as MetaMathQA rows; generated problems when ../shared is absent): median, p99.9 and max per
   row, and the longest field, to set the size budget (MAX_FIELD_CHARS) and the time bound (ROW_SECONDS) against.
2. Runs adversarial rows at the size budget through the engine (`prefbuild.build._build_batch`, with its row
   clock) and reports each one's outcome and wall time: no row may take more than ROW_SECONDS (+ one alarm
   interval) however slow the builder is on it.

    python benchmarks/row_bounds.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefbuild.bad_rows import MAX_FIELD_CHARS, ROW_SECONDS  # noqa: E402
from prefbuild.build import STATUS, _build_batch  # noqa: E402
from prefbuild.builders import get_builder  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def real_rows() -> list[dict]:
    rows = []
    math = SHARED / "math" / "train.jsonl"
    gsm8k = SHARED / "gsm8k" / "train.jsonl"
    if math.is_file():
        for line in math.open():
            row = json.loads(line)
            rows.append({"query": row["problem"], "response": row["solution"] + "\nThe answer is: 1", "type": "MATH"})
    if gsm8k.is_file():
        for line in gsm8k.open():
            row = json.loads(line)
            answer = row["answer"].replace("<<", "").replace(">>", "")
            rows.append({"query": row["question"], "response": answer, "type": "GSM"})
    if not rows:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _corpus import metamath_corpus

        rows, _ = metamath_corpus(10_000)
    return rows


def main() -> None:
    builder = get_builder("metamath")
    rows = real_rows()
    times = []
    for index, row in enumerate(rows):
        started = time.perf_counter()
        builder.build_row(row, builder.row_id(row, index), 0, dict(builder.options))
        times.append(time.perf_counter() - started)
    times.sort()
    longest = max(len(row["response"]) for row in rows)
    print(f"real rows: {len(rows):,}; longest response {longest:,} characters (budget {MAX_FIELD_CHARS:,})")
    print(
        f"  build_row per row: median {times[len(times) // 2] * 1e3:.3f} ms, "
        f"p99.9 {times[int(len(times) * 0.999)] * 1e3:.1f} ms, max {times[-1] * 1e3:.1f} ms (bound {ROW_SECONDS:.0f} s)"
    )
    adversarial = {
        "unclosed \\boxed{ at the size budget": "\\boxed{1 + " * (MAX_FIELD_CHARS // 11),
        "10,000 step lines": "1 + 1 = 2\n" * (MAX_FIELD_CHARS // 10),
        "16,666 numbers": "12345 " * (MAX_FIELD_CHARS // 6),
        "a 10,000-digit result": "2 + 3 = " + "9" * 10_000,
        "one field over the budget": "x" * (MAX_FIELD_CHARS + 1),
    }
    for name, text in adversarial.items():
        batch = {"query": ["q"], "response": [text[: MAX_FIELD_CHARS + 1]], "type": ["x"]}
        started = time.perf_counter()
        out = _build_batch(batch, [0], builder, 0, dict(builder.options))
        status = out[STATUS][0] or "pair"
        print(f"  {name}: {status}, {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
