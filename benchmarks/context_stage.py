"""The engine's CPU per row on the quality sets, and its output, against another checkout (round 6: context stage).

    python benchmarks/context_stage.py --compare CHECKOUT [--repeats 4] [--sets gsm8k math sv_fobar]

Builds the quality sets once (`metamath_sets.build_sets(0)`, needs ../shared/data), then runs each checkout in a
fresh process per repeat, alternately (so both see the same load), with that checkout first on `PYTHONPATH`.
Each process times, per set, the CPU (`time.process_time`) of `candidate_numbers(response, query)` over every row,
the part of it spent in the context stage (`context_terms`, as `candidate_numbers` calls it) and `build_row`;
the figures printed are µs per row, the minimum over repeats of the minimum of `PASSES` passes. Each process also hashes, per set, every row's
candidate pool (tier, span, value, denominator, `=` position), its built pair, and `context_terms` with the
final-answer spans on every row (whether or not `candidate_numbers` gets that far): the two checkouts must agree
on every hash.

    git worktree add /tmp/before 507d343 && ln -s /work/shared /tmp/shared   # the base finds ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ("gsm8k", "math", "sv_fobar")
PASSES = 2  # per process and set; the figures are the minimum


def worker(sets_file: str, out_file: str, names: list[str]) -> None:
    """In the checkout's process: per set, CPU µs per row and the output hashes."""
    import prefbuild.corrupt.corruption as corruption
    from prefbuild.builders import metamath
    from prefbuild.corrupt.results import Spans, context_terms, protected_spans

    sets = pickle.loads(Path(sets_file).read_bytes())
    builder, spent = metamath.BUILDER, [0.0]
    options = dict(builder.options)
    staged = corruption.context_terms

    def timed_stage(text, spans):
        started = time.process_time()
        found = staged(text, spans)
        spent[0] += time.process_time() - started
        return found

    corruption.context_terms = timed_stage
    figures = {}
    for name in names:
        rows = sets[name]
        candidates = stage = built = float("inf")
        for _ in range(PASSES):  # the first pass also warms up caches and compiled patterns
            spent[0] = 0.0
            started = time.process_time()
            pools = [corruption.candidate_numbers(row["response"], row["query"]) for row in rows]
            candidates, stage = min(candidates, time.process_time() - started), min(stage, spent[0])
            started = time.process_time()
            outcomes = [builder.build_row(row, builder.row_id(row, i), 0, options) for i, row in enumerate(rows)]
            built = min(built, time.process_time() - started)
        digest = hashlib.sha256()
        for (pool, reason), outcome, row in zip(pools, outcomes, rows):
            text = row["response"]
            terms = context_terms(text, Spans(protected_spans(text)))
            digest.update(
                repr(([tuple(result) for result in pool], reason, outcome.pairs, outcome.skip_reason)).encode()
            )
            digest.update(repr(sorted(tuple(term) for term in terms)).encode())
        figures[name] = {
            "rows": len(rows),
            "candidate_numbers": candidates / len(rows) * 1e6,
            "context_stage": stage / len(rows) * 1e6,
            "build_row": built / len(rows) * 1e6,
            "digest": digest.hexdigest()[:16],
        }
    Path(out_file).write_text(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", help="another prefbuild checkout, run alternately with this one")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from metamath_sets import build_sets

    checkouts = {"this checkout": REPO}
    if args.compare:
        checkouts = {f"--compare {args.compare}": Path(args.compare).resolve(), **checkouts}
    with tempfile.TemporaryDirectory() as work:
        sets_file = Path(work) / "sets.pkl"
        sets = build_sets(0)[0]
        sets_file.write_bytes(pickle.dumps({name: sets[name] for name in args.sets}))
        del sets
        runs: dict[str, list[dict]] = {label: [] for label in checkouts}
        for _ in range(args.repeats):
            for label, checkout in checkouts.items():
                out_file = Path(work) / "figures.json"
                env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1"}
                command = [sys.executable, __file__, "--worker", str(sets_file), str(out_file), *args.sets]
                subprocess.run(command, env=env, check=True)
                runs[label].append(json.loads(out_file.read_text()))
    print(f"CPU µs per row, min of {args.repeats} alternating processes per checkout:")
    for name in args.sets:
        for label, figures in runs.items():
            best = {key: min(run[name][key] for run in figures) for key in ("candidate_numbers", "context_stage")}
            best["build_row"] = min(run[name]["build_row"] for run in figures)
            digests = {run[name]["digest"] for run in figures}
            print(
                f"  {name:9s} {figures[0][name]['rows']:6,} rows  {label:28s} candidate_numbers "
                f"{best['candidate_numbers']:6.1f} (context stage {best['context_stage']:5.1f})  build_row "
                f"{best['build_row']:6.1f}  output {', '.join(sorted(digests))}"
            )
    for name in args.sets:
        digests = {run[name]["digest"] for figures in runs.values() for run in figures}
        print(f"{name}: same pools, pairs and context terms in every run: {'yes' if len(digests) == 1 else 'NO'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        main()
