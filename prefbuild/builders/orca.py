"""ORCA DPO pairs (Intel/orca_dpo_pairs): GPT-4's reply chosen over Llama-2-13b-chat's, one of the existing
preference sets in Smaug's mixture (arXiv 2402.13228). 12,859 train rows, no other split.

Fields: `system` (often ""), `question`, `chosen`, `rejected`. The system message is kept apart as `system`.
"""

from __future__ import annotations

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.preference_sets import METADATA_SCHEMA, solved_example, text_pair

VERSION = "1.0.0"
CITATION = ""  # the dataset card on the Hub gives none


def build_row(row: Row, row_id: str, seed: int, options: dict) -> RowOutcome:
    return text_pair(row.get("system"), row.get("question"), row.get("chosen"), row.get("rejected"))


def format_example(row: Row) -> str | None:
    return solved_example(build_row(row, "", 0, {}))


def row_id(row: Row, index: int) -> str:
    return str(index)  # the set has no id field


BUILDER = Builder(
    name="orca",
    version=VERSION,
    default_source="Intel/orca_dpo_pairs",
    default_config=None,
    split_map={"train": "train"},
    required_fields=("system", "question", "chosen", "rejected"),
    metadata_schema=METADATA_SCHEMA,
    license="apache-2.0",
    pretty_name="ORCA DPO preference pairs (prefbuild)",
    card="orca",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    group_column=None,
)
