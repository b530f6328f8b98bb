"""Truthy DPO (jondurbin/truthy-dpo-v0.1): truthful replies chosen over plausible falsehoods, one of the existing
preference sets in Smaug's mixture (arXiv 2402.13228). 1,016 train rows, no other split.

Fields: `id`, `source`, `system`, `prompt`, `chosen`, `rejected`. The system message is kept apart as `system`.
"""

from __future__ import annotations

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.preference_sets import METADATA_SCHEMA, solved_example, text_pair

VERSION = "1.0.0"
CITATION = ""  # the dataset card on the Hub gives none


def build_row(row: Row, row_id: str, seed: int, options: dict) -> RowOutcome:
    return text_pair(row.get("system"), row.get("prompt"), row.get("chosen"), row.get("rejected"))


def format_example(row: Row) -> str | None:
    return solved_example(build_row(row, "", 0, {}))


def row_id(row: Row, index: int) -> str:
    return str(row.get("id") or index)


BUILDER = Builder(
    name="truthy",
    version=VERSION,
    default_source="jondurbin/truthy-dpo-v0.1",
    default_config=None,
    split_map={"train": "train"},
    required_fields=("system", "prompt", "chosen", "rejected"),
    metadata_schema=METADATA_SCHEMA,
    license="cc-by-4.0",
    pretty_name="Truthy DPO preference pairs (prefbuild)",
    card="truthy",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    group_column=None,
)
