"""`prefbuild repro`: the paper's failure mode reproduced at toy scale as a measurement over seeds.

- `problems`: the seeded toy arithmetic problems (MetaMathQA schema);
- `run`: the experiment (`run_repro`, `ReproConfig` and its presets `QUICK`, `FULL`, `CI`);
- `measure`: mean ± sd, t-intervals over seeds, Spearman's ρ with bootstrap intervals (numpy only);
- `claims`: the paper's predictions with explicit tolerances and verdicts from the intervals;
- `predictor`: which per-pair signal (CHES, edit distances) predicts DPO's fall of the chosen log-prob;
- `report`: report.md and the figures, rendered from results.json alone.

The reusable token-level tools (alignment, region split, scoring, plots) stay in `prefbuild.analysis`.
"""

from prefbuild.repro.report import render_results, write_report
from prefbuild.repro.run import CI, FULL, METHOD_LOSSES, PRESETS, QUICK, ReproConfig, run_repro

__all__ = [
    "CI",
    "FULL",
    "METHOD_LOSSES",
    "PRESETS",
    "QUICK",
    "ReproConfig",
    "render_results",
    "run_repro",
    "write_report",
]
