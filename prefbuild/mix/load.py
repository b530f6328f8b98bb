"""Reading one mixture entry into the mixture's format, with its row counts and skip reasons.

An entry is one of three schemas:

- `prefbuild`: a folder written by `prefbuild build` (its `train` and `eval` splits, already pairs);
- a Hub id from `THIRD_PARTY` (ORCA, Truthy, UltraFeedback): read through `sources.load_source` (the Hub, or a
  local copy in the same schema) and turned into pairs by that set's builder, the same code as
  `prefbuild build orca`;
- `pairs`: any dataset with prompt / chosen / rejected string columns.

Formatting goes through `prefbuild.formats.to_format` for all three.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from prefbuild import bad_rows, cards
from prefbuild.builders import BUILDERS, orca, truthy, ultrafeedback
from prefbuild.builders.base import Builder
from prefbuild.builders.preference_sets import text_pair
from prefbuild.errors import PrefbuildError
from prefbuild.folder import PAIR_COLUMNS, open_pairs
from prefbuild.formats import SYSTEM, to_format
from prefbuild.mix.config import MIX_SPLITS, PAIRS_SCHEMA, PREFBUILD_SCHEMA, THIRD_PARTY, MixEntry, entry_label
from prefbuild.sources import load_source, split_location

CITATIONS = {module.BUILDER.name: module.CITATION for module in (orca, truthy, ultrafeedback)}
# `pairs` sets: source split -> mixture split (a set's `test` counts as eval when it has no `eval`)
PAIRS_SPLITS = {"train": "train", "eval": "eval", "test": "eval"}
PAIRS_FIELD_TYPES = dict.fromkeys(PAIR_COLUMNS, str)


@dataclass
class LoadedSource:
    """A source's rows per mixture split, already in the mixture's target format.

    rows: table of prompt / chosen / rejected per split.  available: source rows read per split.
    skipped: reason -> count per split (rows that made no pair).  license / hub_id / citation: card facts.
    """

    entry: MixEntry
    schema: str
    rows: dict[str, pa.Table]
    available: dict[str, int]
    skipped: dict[str, dict[str, int]]
    license: str | None
    hub_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    citation: str = ""


def infer_schema(entry: MixEntry, label: str) -> str:
    path = Path(entry.source).expanduser()
    if entry.schema is not None:
        return entry.schema
    if (path / "stats.json").is_file():
        return PREFBUILD_SCHEMA
    if entry.source in THIRD_PARTY:
        return entry.source
    if path.exists():
        raise PrefbuildError(
            f"{label}: '{entry.source}' is not a folder written by `prefbuild build` (no stats.json). For a local "
            f"copy of a third-party set, add `schema:` with its Hub id ({', '.join(THIRD_PARTY)}) or `pairs`."
        )
    # a set prefbuild constructs is built first; a third-party one is read by its Hub id (the hint below)
    constructed = [name for name, builder in BUILDERS.items() if builder.default_source not in THIRD_PARTY]
    builder = entry.name if entry.name in constructed else path.name if path.name in constructed else None
    if builder is not None:
        raise PrefbuildError(
            f"{label}: folder '{entry.source}' does not exist. Build it first: "
            f"`prefbuild build {builder} --out {entry.source}`."
        )
    close = difflib.get_close_matches(entry.source, list(THIRD_PARTY), n=1, cutoff=0.6)
    hint = f" Did you mean: {close[0]}?" if close else ""
    raise PrefbuildError(
        f"{label}: unknown source '{entry.source}': no such folder, and not a third-party set prefbuild can "
        f"normalise.{hint} Known: {', '.join(THIRD_PARTY)}. Build folders first with `prefbuild build`, or add "
        "`schema: pairs` for a Hub dataset that already has prompt / chosen / rejected columns."
    )


def _read_splits(entry: MixEntry, splits: list[str]) -> datasets.DatasetDict:
    """Every split of the entry's source: the Hub, a local folder of <split> files (`splits` names the source's
    own split names to look for besides train / validation / test), or a file (its one split is `train`)."""
    disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a mixture reads a few local files: no "Generating split" bars on stderr
    try:
        return load_source(entry.source, split_names=splits)
    finally:
        if not disabled:
            datasets.enable_progress_bars()


def _pairs_table(pairs: list[dict[str, Any]]) -> pa.Table:
    """Standard-format pairs with a `system` column (None where a row has no system message of its own)."""
    return pa.table(
        {
            SYSTEM: pa.array([pair.get(SYSTEM) for pair in pairs], pa.string()),
            **{column: pa.array([pair[column] for pair in pairs], pa.string()) for column in PAIR_COLUMNS},
        }
    )


def _load_prefbuild(entry: MixEntry, label: str, fmt: str, system_prompt: str | None) -> LoadedSource:
    folder = open_pairs(Path(entry.source).expanduser(), hub=False)
    tables, recorded = folder.tables(), folder.stats
    folder_format = recorded.folder_format
    if folder_format != fmt and folder_format == "conversational":
        raise PrefbuildError(
            f"{label}: '{entry.source}' was built with --format conversational but the mixture is {fmt}. Rebuild it "
            "with --format standard, or mix with --format conversational."
        )
    rows, available = {}, {}
    for split in MIX_SPLITS:
        if split not in tables:
            continue
        table = tables[split].select(list(PAIR_COLUMNS))
        rows[split] = to_format(table, fmt, system_prompt) if folder_format == "standard" else table
        available[split] = table.num_rows
    builder = recorded.builder_name
    license_id, hub_id = None, recorded.source.id if recorded.source is not None else None
    if builder in BUILDERS:
        license_id = BUILDERS[builder].license
        if hub_id and recorded.source.is_local:
            hub_id = BUILDERS[builder].default_source
    details = {
        "builder": recorded.builder.to_json() if recorded.builder is not None else None,
        "seed": recorded.seed,
        "command": cards.public_command(recorded.command),
    }
    skipped = {split: {} for split in rows}
    return LoadedSource(entry, PREFBUILD_SCHEMA, rows, available, skipped, license_id, hub_id, details)


def _well_formed(
    entry: MixEntry, split: str, dataset: datasets.Dataset, field_types: dict[str, Any], on_bad_rows: str
) -> tuple[datasets.Dataset, dict[str, int]]:
    """The split without rows that are not valid UTF-8 or have a field of the wrong type, and those rows' counts
    under the build's skip reasons (prefbuild.bad_rows: `undecodable_text`, `wrong_field_type`); with
    on_bad_rows="error", the first such row stops the mixture instead."""
    bad = bad_rows.find_bad_rows(dataset, field_types, split_location(entry.source, split), on_bad_rows)
    reasons: dict[str, int] = {}
    for reason in bad.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    if bad:
        dataset = dataset.select([index for index in range(len(dataset)) if index not in bad])
    return dataset, reasons


def _pairs_from_rows(
    entry: MixEntry, split: str, dataset: datasets.Dataset, builder: Builder | None, on_bad_rows: str
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every well-formed row of a split through the builder (`pairs` sets: the same text checks), with the skip
    reasons of the rows that made no pair. Seed 0 and default options: these builders use neither."""
    field_types = builder.checked_fields() if builder is not None else PAIRS_FIELD_TYPES
    dataset, reasons = _well_formed(entry, split, dataset, field_types, on_bad_rows)
    pairs = []
    for index, row in enumerate(dataset.to_list()):  # one conversion: iterating a Dataset decodes row by row
        if builder is None:
            outcome = text_pair(None, row["prompt"], row["chosen"], row["rejected"])
        else:
            outcome = builder.build_row(row, builder.row_id(row, index), 0, dict(builder.options))
        if outcome.skip_reason is not None:
            reasons[outcome.skip_reason] = reasons.get(outcome.skip_reason, 0) + 1
        pairs.extend(outcome.pairs)
    return pairs, dict(sorted(reasons.items()))


def _load_third_party(
    entry: MixEntry, schema: str, label: str, fmt: str, system_prompt: str | None, on_bad_rows: str
) -> LoadedSource:
    builder = THIRD_PARTY[schema]
    raw = _read_splits(entry, list(builder.split_map))
    if not any(split in raw for split in builder.split_map):
        raise PrefbuildError(
            f"{label}: '{entry.source}' has none of the splits {schema} uses ({', '.join(builder.split_map)}); "
            f"found: {', '.join(raw) or 'none'}."
        )
    rows, available, skipped = {}, {}, {}
    for split, target in builder.split_map.items():
        if split not in raw:
            continue
        missing = [name for name in builder.required_fields if name not in raw[split].column_names]
        if missing:
            raise PrefbuildError(
                f"{label}: split '{split}' has no field {', '.join(missing)}; is '{entry.source}' in the schema of "
                f"{schema} (fields: {', '.join(builder.required_fields)})?"
            )
        pairs, skipped[target] = _pairs_from_rows(entry, split, raw[split], builder, on_bad_rows)
        rows[target] = to_format(_pairs_table(pairs), fmt, system_prompt)
        available[target] = len(raw[split])
    return LoadedSource(
        entry, schema, rows, available, skipped, builder.license, schema, citation=CITATIONS[builder.name]
    )


def _load_pairs(entry: MixEntry, label: str, fmt: str, system_prompt: str | None, on_bad_rows: str) -> LoadedSource:
    raw = _read_splits(entry, list(PAIRS_SPLITS))
    rows, available, skipped = {}, {}, {}
    for split, target in PAIRS_SPLITS.items():
        if split not in raw or target in rows:
            continue
        for column in PAIR_COLUMNS:
            if column not in raw[split].column_names:
                raise PrefbuildError(f"{label}: split '{split}' has no column '{column}' (schema pairs needs it).")
            if not isinstance(raw[split].features[column], datasets.Value):  # None cells are counted below
                raise PrefbuildError(f"{label}: schema pairs reads string columns; '{split}' has message lists.")
        pairs, skipped[target] = _pairs_from_rows(entry, split, raw[split], None, on_bad_rows)
        rows[target] = to_format(_pairs_table(pairs), fmt, system_prompt)
        available[target] = len(raw[split])
    hub_id = None if Path(entry.source).expanduser().exists() else entry.source
    return LoadedSource(entry, PAIRS_SCHEMA, rows, available, skipped, None, hub_id)


def load_entry(
    entry: MixEntry, index: int, fmt: str, system_prompt: str | None, *, on_bad_rows: str = "error"
) -> LoadedSource:
    """Read one mixture entry (0-based `index`) into the target format, with its counts and skip reasons."""
    label = entry_label(index + 1, entry.name)
    schema = infer_schema(entry, label)
    try:
        if schema == PREFBUILD_SCHEMA:
            return _load_prefbuild(entry, label, fmt, system_prompt)
        if schema == PAIRS_SCHEMA:
            return _load_pairs(entry, label, fmt, system_prompt, on_bad_rows)
        return _load_third_party(entry, schema, label, fmt, system_prompt, on_bad_rows)
    except PrefbuildError as error:
        message = str(error)
        raise PrefbuildError(message if message.startswith(label) else f"{label}: {message}") from None
