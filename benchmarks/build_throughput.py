"""End-to-end `prefbuild build metamath` on a MetaMath-size corpus (395,000 rows), against a naive script.

Writes the corpus of benchmarks/_corpus.py (by default MetaMathQA's row-type mix from real GSM8K and MATH text
when ../shared/data is there, else generated problems) as MetaMathQA JSONL, then runs the real CLI, `prefbuild build metamath --source FILE --out DIR
--num-proc N`, in a fresh process per run with a fresh `datasets` cache (so the JSON → Arrow load is timed too and
no run reuses another's files). For each run it records the wall time, the phase breakdown the build reports
(load → pairs → statistics → write), the peak RSS of the whole process tree (the build and its num_proc workers,
polled with psutil; summed over processes, so pages they share count more than once) and a digest of the
parquet shards + stats.json (it must be the same for every run and every --num-proc).

The naive baseline is what a user would write instead: a regex for `expression = number`, sympy to check each
left side, one verified number changed, difflib for the edit ratio. It is slow, so it runs on `--baseline-rows`
rows of the same corpus in this process, and its rows/s is extrapolated.

    python benchmarks/build_throughput.py [--rows 395000] [--num-proc 1 2] [--repeats 3] [--baseline-rows 5000]
                                          [--corpus mixed|gsm8k] [--compare CHECKOUT]

`--compare CHECKOUT` (another checkout of prefbuild, e.g. `git worktree add /tmp/before <commit>`) runs its
build and this one's alternately on the same corpus, `--repeats` times each, and prints both, so that a before /
after comparison on a shared machine sees the same load; every file of the two output folders must have the
same bytes (`all files` digest: shards, stats.json, README.md, PNG).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import CORPORA, METAMATH_ROWS, metamath_corpus, write_jsonl  # noqa: E402

PHASES = ("load", "pairs", "statistics", "write")


def folder_digest(folder: Path) -> str:
    """The parquet shards and stats.json, less its `command` line (which names --num-proc and --out)."""
    digest = hashlib.sha256()
    for path in sorted((folder / "data").glob("*.parquet")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    stats = json.loads((folder / "stats.json").read_text())
    digest.update(json.dumps({**stats, "command": None}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def files_digest(folder: Path) -> str:
    """Every file of the folder, by relative path and bytes (the card and the PNG too)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def child(argv: list[str], phases_file: str) -> int:
    """Inside the timed process: the real CLI, with the build's own phase timings saved on the side."""
    import prefbuild.build
    from prefbuild.cli import main

    build_dataset = prefbuild.build.build_dataset

    def recording(*args, **kwargs):
        report = build_dataset(*args, **kwargs)
        Path(phases_file).write_text(json.dumps(report.seconds))
        return report

    prefbuild.build.build_dataset = recording
    return main(argv)


def tree_rss(process) -> int:
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def timed_build(source: Path, num_proc: int, work: Path, code: Path | None = None) -> dict:
    """One build in a fresh process; `code`: the checkout whose prefbuild it runs (default: what PYTHONPATH says)."""
    import psutil

    out, cache, phases_file = work / "out", work / "hf-cache", work / "phases.json"
    shutil.rmtree(cache, ignore_errors=True)
    argv = ["build", "metamath", "--source", str(source), "--out", str(out), "--num-proc", str(num_proc)]
    argv += ["--overwrite"]
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    if code is not None:
        env["PYTHONPATH"] = str(code)
    command = [sys.executable, __file__, "--child", phases_file.as_posix(), "--", *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = psutil.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the build and its workers, all waited for
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"build failed ({process.returncode}):\n{output}")
    stats = json.loads((out / "stats.json").read_text())
    result = {
        "seconds": seconds,
        "phases": json.loads(phases_file.read_text()),
        "peak_rss": peak,
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "load": os.getloadavg()[0],
        "digest": folder_digest(out),
        "files_digest": files_digest(out),
        "pairs": sum(split["pairs"] for split in stats["splits"].values()),
        "input_rows": sum(split["input_rows"] for split in stats["splits"].values()),
    }
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return result


# The naive script: `<expression> = <number>`, sympy for the left side, difflib for the edit ratio.
NAIVE_RESULT = re.compile(r"([0-9][0-9.,+\-*/() x×]*?)\s*=\s*\$?([0-9][0-9,]*(?:\.[0-9]+)?)")


def naive_pair(response: str, rng: random.Random) -> tuple[str, float] | None:
    import sympy

    verified = []
    for match in NAIVE_RESULT.finditer(response.split("The answer is")[0]):
        left = match.group(1).replace(",", "").replace("x", "*").replace("×", "*").strip()
        try:
            value = sympy.sympify(left)
            written = sympy.Rational(match.group(2).replace(",", ""))
        except (sympy.SympifyError, TypeError, ValueError, SyntaxError, ZeroDivisionError):
            continue
        if not left.replace(".", "").isdigit() and value == written:
            verified.append(match)
    if not verified:
        return None
    match = rng.choice(verified)
    number = match.group(2).replace(",", "")
    new = str(int(float(number)) + 1) if "." not in number else f"{float(number) + 0.1:g}"
    rejected = response[: match.start(2)] + new + response[match.end(2) :]
    return rejected, 1 - difflib.SequenceMatcher(None, response, rejected).ratio()


def naive_baseline(rows: list[dict]) -> dict:
    started = time.perf_counter()
    paired = 0
    for index, row in enumerate(rows):
        if naive_pair(row["response"], random.Random(index)) is not None:
            paired += 1
    seconds = time.perf_counter() - started
    return {"rows": len(rows), "seconds": seconds, "rows_per_s": len(rows) / seconds, "coverage": paired / len(rows)}


def gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"


def report(num_proc: int, runs: list[dict], baseline: dict | None) -> None:
    median = statistics.median(run["seconds"] for run in runs)
    rate = runs[0]["input_rows"] / median
    phases = "  ".join(f"{name} {statistics.median(run['phases'][name] for run in runs):.1f} s" for name in PHASES)
    print(
        f"\n--num-proc {num_proc}: median {median:.1f} s = {rate:,.0f} rows/s "
        f"({runs[0]['pairs']:,} pairs from {runs[0]['input_rows']:,} rows, "
        f"coverage {100 * runs[0]['pairs'] / runs[0]['input_rows']:.2f} %)"
    )
    print(f"  phases (median): {phases}")
    outside = statistics.median(run["seconds"] - run["phases"]["pairs"] for run in runs)
    print(f"  wall outside the pairs phase (median): {outside:.1f} s")
    print(f"  peak RSS of the process tree (median): {gib(statistics.median(run['peak_rss'] for run in runs))}")
    cpu = statistics.median(run["cpu"] for run in runs)
    loads = ", ".join(f"{run['load']:.1f}" for run in runs)
    print(f"  CPU time of the process tree (median): {cpu:.1f} s; 1-min load average after each run: {loads}")
    listed = ", ".join(f"{run['seconds']:.1f} s" for run in runs)
    print(f"  runs: {listed}; output digest {runs[0]['digest']}, all files {runs[0]['files_digest']}")
    if baseline:
        print(f"  {rate / baseline['rows_per_s']:.1f}x the naive script's rows/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=METAMATH_ROWS)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-rows", type=int, default=5000, help="rows the naive script runs on (0: skip)")
    parser.add_argument("--work-dir", help="where the corpus and outputs go (default: a temporary folder)")
    parser.add_argument(
        "--corpus", choices=CORPORA, default="mixed", help="MetaMathQA's type mix (default) or GSM8K text only"
    )
    parser.add_argument("--compare", help="another prefbuild checkout, built alternately with this one")
    args = parser.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="prefbuild-bench-"))
    rows, origin = metamath_corpus(args.rows, kind=args.corpus)
    source = write_jsonl(rows, work / "metamath.jsonl")
    print(f"corpus: {len(rows):,} rows, {origin}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    baseline = None
    if args.baseline_rows:
        step = max(1, len(rows) // args.baseline_rows)  # spread over the corpus, like the build's rows
        baseline = naive_baseline(rows[::step][: args.baseline_rows])
        print(
            f"naive regex+sympy+difflib: {baseline['rows']:,} rows in {baseline['seconds']:.1f} s = "
            f"{baseline['rows_per_s']:,.0f} rows/s (one core), paired {100 * baseline['coverage']:.1f} % of rows"
        )
    del rows

    checkouts = {"this checkout": Path(__file__).resolve().parent.parent}
    if args.compare:
        checkouts = {f"--compare {args.compare}": Path(args.compare).resolve(), **checkouts}
    digests, files = set(), set()
    for num_proc in args.num_proc:
        runs: dict[str, list[dict]] = {label: [] for label in checkouts}
        for _ in range(args.repeats):  # alternately, so that both see the same load
            for label, code in checkouts.items():
                runs[label].append(timed_build(source, num_proc, work, code))
        for label, tree_runs in runs.items():
            digests.update(run["digest"] for run in tree_runs)
            files.update(run["files_digest"] for run in tree_runs)
            if len(checkouts) > 1:
                print(f"\n[{label}]", end="")
            report(num_proc, tree_runs, baseline)
    print(f"\nsame output bytes in every run: {'yes' if len(digests) == 1 else 'NO: ' + ', '.join(sorted(digests))}")
    print(f"same bytes of every file (card, PNG): {'yes' if len(files) == 1 else 'NO: ' + ', '.join(sorted(files))}")
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[4:], sys.argv[2]))
    main()
