"""Dataset mixtures: several preference sets, each taken by its share, in one Hub-ready folder with provenance.

A mixture config (recipes/mix/<name>.yaml) lists sources. Each is one of:

- a folder written by `prefbuild build` (its `train` and `eval` splits);
- an existing preference set prefbuild has a builder for (ORCA DPO pairs, Truthy DPO, UltraFeedback binarized;
  `THIRD_PARTY`), by Hub id or as a local copy in the same schema (`schema: <Hub id>`);
- any dataset that already has prompt / chosen / rejected columns, e.g. a prefbuild set pushed to the Hub
  (`schema: pairs`).

Splits: a mixture has `train` and `eval`. `train` draws from each source's training split (`train`,
UltraFeedback's `train_prefs`), `eval` from its evaluation split (`eval`, UltraFeedback's `test_prefs`); sources
without one (ORCA, Truthy) add no eval rows. `fraction` (a share in (0, 1]) or `rows` (a count) picks the train
rows; `eval_fraction` / `eval_rows` do the same for eval, which defaults to the rate train got. Picks are seeded
per (seed, source, split); the mixed split is then shuffled with the seed.

Modules: `config` (the recipe as dataclasses), `load` (one entry into pairs), `sampling` (how many rows and
which), `write` (stats.json, the card and the folder), `mixture` (`mix_datasets`, tying them together).
"""

from __future__ import annotations

import logging
from typing import Any

from prefbuild.builders import orca, truthy, ultrafeedback
from prefbuild.builders.base import Builder
from prefbuild.mix.config import (
    MIX_SPLITS,
    NOT_SELECTED,
    PAIRS_SCHEMA,
    PREFBUILD_SCHEMA,
    THIRD_PARTY,
    MixConfig,
    MixEntry,
    check_weight,
    load_config,
    parse_config,
)
from prefbuild.mix.load import LoadedSource, load_entry
from prefbuild.mix.mixture import MixReport, mix_datasets
from prefbuild.mix.sampling import rows_to_take, sample_indices
from prefbuild.mix.write import config_yaml, mix_card_context, mix_card_metadata, rebuild_instructions

logger = logging.getLogger(__name__)

# Deprecated names, kept for one release: the normalisers are now builders (prefbuild.builders.orca, ...)
NORMALISERS: dict[str, Builder] = THIRD_PARTY
Normalised = dict[str, str | None]


def _normalise(builder: Builder, old: str, row: dict[str, Any]) -> Normalised | str:
    logger.warning(
        "prefbuild.mix.%s is deprecated; use prefbuild.builders.%s.build_row (a RowOutcome).", old, builder.name
    )
    outcome = builder.build_row(row, "0", 0, {})
    if outcome.skip_reason is not None:
        return outcome.skip_reason
    pair = outcome.pairs[0]
    return {key: pair[key] for key in ("system", "prompt", "chosen", "rejected")}


def normalise_orca(row: dict[str, Any]) -> Normalised | str:
    """Deprecated: `prefbuild.builders.orca.build_row`."""
    return _normalise(orca.BUILDER, "normalise_orca", row)


def normalise_truthy(row: dict[str, Any]) -> Normalised | str:
    """Deprecated: `prefbuild.builders.truthy.build_row`."""
    return _normalise(truthy.BUILDER, "normalise_truthy", row)


def normalise_ultrafeedback(row: dict[str, Any]) -> Normalised | str:
    """Deprecated: `prefbuild.builders.ultrafeedback.build_row`."""
    return _normalise(ultrafeedback.BUILDER, "normalise_ultrafeedback", row)


__all__ = [
    "MIX_SPLITS",
    "NORMALISERS",
    "NOT_SELECTED",
    "PAIRS_SCHEMA",
    "PREFBUILD_SCHEMA",
    "THIRD_PARTY",
    "LoadedSource",
    "MixConfig",
    "MixEntry",
    "MixReport",
    "check_weight",
    "config_yaml",
    "load_config",
    "load_entry",
    "mix_card_context",
    "mix_card_metadata",
    "mix_datasets",
    "normalise_orca",
    "normalise_truthy",
    "normalise_ultrafeedback",
    "parse_config",
    "rebuild_instructions",
    "rows_to_take",
    "sample_indices",
]
