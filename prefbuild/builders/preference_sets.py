"""What the builders of existing preference sets (ORCA DPO pairs, Truthy DPO, UltraFeedback binarized) share.

Their rows already hold a preferred and a dispreferred reply, so a builder only checks the texts. A row's own
system message travels in the metadata column `system`; `prefbuild.formats.to_format` then places it for the
output format (the prompt's first paragraph in standard, a system message in conversational) and drops the
column, for `prefbuild build` and `prefbuild mix` alike.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from prefbuild.builders.base import RowOutcome
from prefbuild.formats import SYSTEM

METADATA_SCHEMA = {SYSTEM: pa.string()}


def text_pair(system: Any, prompt: Any, chosen: Any, rejected: Any) -> RowOutcome:
    """One pair from the four texts a row holds; a skip reason names the first problem.

    An empty or blank system message is no system message (ORCA writes "" for most rows).
    """
    for name, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
            return RowOutcome.skip(f"empty_{name}")
    if chosen.strip() == rejected.strip():
        return RowOutcome.skip("chosen_equals_rejected")
    system = system.strip() if isinstance(system, str) and system.strip() else None
    return RowOutcome(pairs=[{"prompt": prompt, "chosen": chosen, "rejected": rejected, SYSTEM: system}])


def solved_example(outcome: RowOutcome) -> str | None:
    """A row as a `--few-shot` example: its prompt, a line break and the chosen reply (no system message: the
    prompt being answered keeps its own); None when the row makes no pair."""
    if not outcome.pairs:
        return None
    pair = outcome.pairs[0]
    return f"{pair['prompt']}\n{pair['chosen']}"
