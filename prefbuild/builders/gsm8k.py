"""GSM8K → pairs whose rejected answer has one calculator result corrupted (beyond the paper).

GSM8K answers mark each calculation with a calculator annotation, `48/2 = <<48/2=24>>24 clips`, so the results
are known exactly: the number right after `>>` is a result, verified when the annotation's left side evaluates
to it. prompt = question, chosen = answer (annotations stripped unless `keep_annotations`), rejected = chosen
with one result changed. The `#### 72` line never changes. Rows whose annotations give no usable result fall
back to the text finder that the metamath builder uses.
"""

from __future__ import annotations

import re
from typing import Any

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.math_rows import (
    CORRUPTION_SCHEMA,
    DEFAULT_SLIP_MODEL,
    ENGINE_VERSION,
    check_options,
    content_id,
    corruption_options,
    corruption_pair,
    oversized,
)
from prefbuild.corrupt import ExpressionError, NumberForm, Result, corrupt_row, matches_result
from prefbuild.corrupt.expression import evaluate, has_operation, parse_expression
from prefbuild.corrupt.numbers import DIGITS, NUMBER_END
from prefbuild.seeding import row_rng

VERSION = ENGINE_VERSION

ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
_RESULT_AFTER = re.compile(DIGITS + NUMBER_END)


def strip_annotations(answer: str) -> str:
    """`48/2 = <<48/2=24>>24` → `48/2 = 24`."""
    return ANNOTATION.sub("", answer)


def annotated_results(answer: str, keep_annotations: bool) -> tuple[str, list[Result], list[tuple[int, int]]]:
    """The completion text, the result after each annotation (in that text) and the annotations' own spans."""
    pieces, results, annotation_spans = [], [], []
    position = length = 0  # position in `answer`; length of the text built so far
    for match in ANNOTATION.finditer(answer):
        pieces.append(answer[position : match.start()])
        length += match.start() - position
        if keep_annotations:
            pieces.append(match.group())
            annotation_spans.append((length, length + len(match.group())))
            length += len(match.group())
        position = match.end()
        written = _RESULT_AFTER.match(answer, position)
        if written is None:
            continue
        start = length
        end = start + written.end() - written.start()
        results.append(Result(start, end, *_check(match.group(1), match.group(2), written.group())))
    pieces.append(answer[position:])
    return "".join(pieces), results, annotation_spans


def _check(left: str, right: str, written: str) -> tuple[str, tuple | None]:
    """("verified", tree) when the annotation's left side evaluates to the number written after it."""
    try:
        tree = parse_expression(left)
        value = evaluate(tree)
    except ExpressionError:
        return "unverified", None
    form = NumberForm.parse(written)
    if has_operation(tree) and matches_result(value, form):
        return "verified", tree
    return "unverified", None


def build_row(row: Row, row_id: str, seed: int, options: dict[str, Any]) -> RowOutcome:
    question, answer = row["question"], row["answer"]
    if not question or not answer or not question.strip() or not answer.strip():
        return RowOutcome.skip("empty_question_or_answer")
    reason = oversized(answer)
    if reason:
        return RowOutcome.skip(reason)
    text, results, annotation_spans = annotated_results(answer, bool(options.get("keep_annotations", False)))
    corruption = corrupt_row(
        text,
        row_rng(seed, row_id, "gsm8k"),
        question=question,
        results=results or None,
        protected=annotation_spans,
        **corruption_options(options),
    )
    if isinstance(corruption, str):
        return RowOutcome.skip(corruption)
    return RowOutcome(pairs=[corruption_pair(question, text, corruption, row_id)])


def prepare(splits: dict, options: dict[str, Any], seed: int) -> dict:
    """Check the options before building (GSM8K has its own test split, so nothing is held out)."""
    check_options(options)
    return splits


def row_id(row: Row, index: int) -> str:
    return content_id(row["question"] or "", row["answer"] or "")


def format_example(row: Row) -> str | None:
    question, answer = row["question"], row["answer"]
    return f"{question}\n{strip_annotations(answer)}" if question and answer else None


BUILDER = Builder(
    name="gsm8k",
    version=VERSION,
    default_source="openai/gsm8k",
    default_config="main",
    split_map={"train": "train", "test": "eval"},
    required_fields=("question", "answer"),
    metadata_schema=dict(CORRUPTION_SCHEMA),
    license="mit",
    pretty_name="GSM8K DPO (one corrupted calculator result)",
    card="gsm8k",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    prepare=prepare,
    options={"keep_annotations": False, "final_result_fallback": True, "slip_model": DEFAULT_SLIP_MODEL},
)
