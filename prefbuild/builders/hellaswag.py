"""HellaSwag: the correct ending paired with each wrong one, cleaned exactly as the evaluation harness does.

lm-evaluation-harness builds the query as `activity_label: ctx_a Ctx_b` (ctx_b capitalised), strips the
WikiHow markup (` [title]` becomes `. `, any other `[...]` is removed, double spaces collapse) from the query
and each ending, and scores ` {ending}`. HellaSwag train: 39,905 rows → 119,715 pairs; validation: 10,042 →
30,126. The test split has no labels and is not used.
"""

from __future__ import annotations

import re

import pyarrow as pa

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.multiple_choice import correct_versus_each_wrong

VERSION = "1.0.0"
_MARKUP = re.compile(r"\[.*?\]")


def clean(text: str) -> str:
    """lm-eval's HellaSwag preprocess: WikiHow markup removed, spacing normalised."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = _MARKUP.sub("", text)
    return text.replace("  ", " ")


def hellaswag_prompt(row: Row) -> str:
    context = f"{row['ctx_a']} {row['ctx_b'].capitalize()}"
    return clean(f"{row['activity_label']}: {context}")


def _gold(row: Row) -> tuple[int, list[str]] | str:
    for name in ("activity_label", "ctx_a", "ctx_b"):
        if not isinstance(row.get(name), str):
            return f"malformed_{name}"
    endings = row.get("endings")
    if not isinstance(endings, list) or len(endings) < 2 or not all(isinstance(e, str) for e in endings):
        return "malformed_endings"
    label = row.get("label")
    label = "" if label is None else str(label).strip()
    if not label:
        return "unlabeled"
    if not label.isdigit() or int(label) >= len(endings):
        return "label_out_of_range"
    gold = int(label)
    if not clean(endings[gold]):
        return "empty_correct_ending"
    return gold, [clean(ending) for ending in endings]


def build_row(row: Row, row_id: str, seed: int, options: dict) -> RowOutcome:
    gold = _gold(row)
    if isinstance(gold, str):
        return RowOutcome.skip(gold)
    index, endings = gold
    prompt = hellaswag_prompt(row)
    if not prompt.strip():
        return RowOutcome.skip("empty_context")
    return correct_versus_each_wrong(
        prompt,
        [ending or None for ending in endings],
        index,
        lambda position: {"source_id": row_id, "chosen_index": index, "rejected_index": position},
        noun="ending",
    )


def row_id(row: Row, index: int) -> str:
    value = row.get("ind")
    return str(index if value is None else value)


def format_example(row: Row) -> str | None:
    gold = _gold(row)
    if isinstance(gold, str):
        return None
    index, endings = gold
    return f"{hellaswag_prompt(row)} {endings[index]}"


BUILDER = Builder(
    name="hellaswag",
    version=VERSION,
    default_source="Rowan/hellaswag",
    default_config=None,
    split_map={"train": "train", "validation": "eval"},
    required_fields=("activity_label", "ctx_a", "ctx_b", "endings", "label"),
    metadata_schema={"source_id": pa.string(), "chosen_index": pa.int32(), "rejected_index": pa.int32()},
    license="mit",
    pretty_name="HellaSwag preference pairs (DPOP)",
    card="hellaswag",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    field_types={
        "activity_label": str,
        "ctx_a": str,
        "ctx_b": str,
        "endings": [str],
        "label": (str, int),
        "ind": (str, int),
    },
)
