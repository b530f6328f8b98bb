"""Where the time of a `prefbuild repro` run goes, from its results.json: per stage, per seed, and an estimate of the
wall time on an idle machine.

    prefbuild repro --quick --out runs/repro-quick
    python benchmarks/repro_time.py runs/repro-quick/results.json

On a machine shared with other work the wall time depends on the load; the CPU seconds of each single-threaded
seed process much less. With `jobs` seeds at once, each seed in its own process on its own core, an idle machine
needs about the CPU seconds of the busiest worker (seeds handed out in order to the first free worker) plus the
parent's own CPU seconds (start-up, summary, report).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def idle_wall_estimate(seed_cpu: list[float], jobs: int, parent_cpu: float) -> float:
    workers = [0.0] * max(1, jobs)
    for seconds in seed_cpu:
        index = workers.index(min(workers))  # the first worker to be free takes the next seed
        workers[index] += seconds
    return max(workers) + parent_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.json written by `prefbuild repro`")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    config, per_seed = results["config"], results["per_seed"]
    jobs = min(config.get("jobs", 1), len(per_seed), os.cpu_count() or 1)
    stages = list(per_seed[0]["cpu_seconds"])
    print(f"{'stage':<34} {'wall s (mean)':>14} {'CPU s (mean)':>13}")
    for stage in stages:
        wall = sum(run["seconds"][stage] for run in per_seed) / len(per_seed)
        cpu = sum(run["cpu_seconds"][stage] for run in per_seed) / len(per_seed)
        print(f"{stage:<34} {wall:>14.1f} {cpu:>13.1f}")
    seed_cpu = [sum(run["cpu_seconds"].values()) for run in per_seed]
    total_cpu, total_wall = results["seconds"]["cpu"], results["seconds"]["total"]
    parent_cpu = max(0.0, total_cpu - sum(seed_cpu))
    print(f"CPU s per seed: {', '.join(f'{seconds:.1f}' for seconds in seed_cpu)}")
    print(f"total: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU (parent and seed processes), {jobs} seeds at once")
    estimate = idle_wall_estimate(seed_cpu, jobs, parent_cpu)
    print(f"idle-machine estimate: {estimate:.1f} s = {estimate / 60:.1f} min ({jobs} cores, 1 thread per seed)")


if __name__ == "__main__":
    main()
