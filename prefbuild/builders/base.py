"""The contract every builder fulfils: a pure per-row function plus the facts the engine needs around it.

A builder never sees the whole dataset while building pairs: `build_row` gets one source row, its stable row id,
the global seed and the builder's options, and returns a `RowOutcome`. The engine (prefbuild/build.py) runs it
with `datasets.map(batched=True, num_proc=N)`, counts skips and dropped pairs, computes statistics and writes
the output folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

Row = Mapping[str, Any]
Pair = dict[str, Any]  # "prompt", "chosen", "rejected" (non-empty str) plus the builder's metadata columns


@dataclass
class RowOutcome:
    """What one source row became.

    pairs: the preference pairs made from the row; empty only when `skip_reason` is set.
    skip_reason: why the whole row made no pair (a short snake_case name that reaches stats.json), else None.
    dropped: pair-level drops inside a row that still made pairs, reason -> count
        (e.g. ARC's wrong choice whose text equals the correct one).
    """

    pairs: list[Pair] = field(default_factory=list)
    skip_reason: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def skip(cls, reason: str, dropped: dict[str, int] | None = None) -> RowOutcome:
        return cls(pairs=[], skip_reason=reason, dropped=dict(dropped or {}))


@dataclass(frozen=True)
class Builder:
    """A source's builder.

    name: registry key and CLI name (`prefbuild build <name>`).
    version: bump when output for the same input and seed changes; the card says what changed.
    default_source / default_config: Hub dataset id and config used when `--source` is not given.
    split_map: source split -> output split, e.g. {"train": "train", "validation": "eval"}.
    required_fields: fields every source row must have; a source without them is refused before building.
    metadata_schema: the builder's extra pair columns and their Arrow types (the engine adds edit distances).
    license / pretty_name / card: facts for the dataset card; `card` names data_cards/<card>.md.
    build_row(row, row_id, seed, options) -> RowOutcome: pure, deterministic in (row, row_id, seed, options).
    row_id(row, index) -> str: a stable id (source id field when there is one, else split-local index).
    format_example(row) -> str | None: the row as a solved example (prompt + correct completion) for
        `--few-shot`; None when the row cannot serve as one (e.g. unlabeled).
    prepare(splits, options, seed) -> splits: optional source-level step before building, e.g. MetaMath's
        seeded eval hold-out from its only split. Receives and returns {output_split: datasets.Dataset}.
    options: builder-specific option names -> defaults (e.g. {"eval_size": 1000}); the CLI exposes them.
    field_types: field -> the shape the builder reads, checked before building (prefbuild/bad_rows.py): a type
        or tuple of types, [spec] for a list, {key: spec} for a mapping; None is always accepted. Default
        (None): every required field is text.
    group_column: a source column whose values split each split's statistics (`by_<column>` in stats.json:
        input rows, pairs, skips and tiers per value), used only when the source has it. Defaults to `type`,
        MetaMathQA's row type (GSM_AnsAug, MATH_SV, ...); sources without the column build exactly as before.
    """

    name: str
    version: str
    default_source: str
    default_config: str | None
    split_map: dict[str, str]
    required_fields: tuple[str, ...]
    metadata_schema: dict[str, pa.DataType]
    license: str
    pretty_name: str
    card: str
    build_row: Callable[[Row, str, int, dict[str, Any]], RowOutcome]
    row_id: Callable[[Row, int], str]
    format_example: Callable[[Row], str | None]
    prepare: Callable[[dict, dict[str, Any], int], dict] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    field_types: dict[str, Any] | None = None
    group_column: str | None = "type"

    def checked_fields(self) -> dict[str, Any]:
        """The fields whose values are checked before building, with their shapes."""
        if self.field_types is not None:
            return self.field_types
        return dict.fromkeys(self.required_fields, str)
