"""ARC-Challenge: the correct choice paired with each wrong one, in the evaluation harness's format.

lm-evaluation-harness scores ARC as `Question: {question}\\nAnswer:` followed by ` {choice text}` and finds the
gold choice with `choices.label.index(answerKey)`; we do the same so that what we train on looks like what
models are scored on. ARC-Challenge train: 1,119 questions → 3,357 pairs in the paper (n_choices − 1 each).
"""

from __future__ import annotations

import pyarrow as pa

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.multiple_choice import correct_versus_each_wrong

VERSION = "1.0.0"


def arc_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def _gold(row: Row) -> tuple[int, list[str], list[str]] | str:
    """(gold index, labels, texts), or the skip reason that explains why there is none."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        return "empty_question"
    choices = row.get("choices")
    if not isinstance(choices, dict):
        return "malformed_choices"
    texts, labels = choices.get("text"), choices.get("label")
    if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels) or len(texts) < 2:
        return "malformed_choices"
    key = row.get("answerKey")
    key = "" if key is None else str(key).strip()
    if not key:
        return "unlabeled"
    labels = [str(label).strip() for label in labels]
    if key not in labels:
        return "answer_key_not_in_labels"
    gold = labels.index(key)
    if not isinstance(texts[gold], str) or not texts[gold].strip():
        return "empty_correct_choice"
    return gold, labels, texts


def build_row(row: Row, row_id: str, seed: int, options: dict) -> RowOutcome:
    gold = _gold(row)
    if isinstance(gold, str):
        return RowOutcome.skip(gold)
    index, labels, texts = gold
    # Every choice labelled as the gold one is the correct answer, not a wrong choice
    wrong = [position for position, label in enumerate(labels) if label != labels[index]]
    usable = [text if isinstance(text, str) and text.strip() else None for text in texts]
    return correct_versus_each_wrong(
        arc_prompt(row["question"]),
        usable,
        index,
        lambda position: {"source_id": row_id, "chosen_label": labels[index], "rejected_label": labels[position]},
        noun="choice",
        wrong=wrong,
    )


def row_id(row: Row, index: int) -> str:
    return str(row.get("id") or index)


def format_example(row: Row) -> str | None:
    gold = _gold(row)
    if isinstance(gold, str):
        return None
    index, _, texts = gold
    return f"{arc_prompt(row['question'])} {texts[index]}"


BUILDER = Builder(
    name="arc",
    version=VERSION,
    default_source="allenai/ai2_arc",
    default_config="ARC-Challenge",
    split_map={"train": "train", "validation": "eval"},
    required_fields=("id", "question", "choices", "answerKey"),
    metadata_schema={"source_id": pa.string(), "chosen_label": pa.string(), "rejected_label": pa.string()},
    license="cc-by-sa-4.0",
    pretty_name="ARC-Challenge preference pairs (DPOP)",
    card="arc",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    field_types={
        "id": (str, int),
        "question": str,
        "choices": {"text": [str], "label": [(str, int)]},
        "answerKey": (str, int),
    },
)
