"""MetaMathQA → pairs whose rejected response has one intermediate result corrupted (DPOP, arXiv 2402.13228).

The paper: "we randomly corrupt one of the results of an intermediate calculation so that it is incorrect;
however, we leave the answer untouched". prompt = query, chosen = response unchanged, rejected = response with
exactly one number changed (prefbuild/corrupt explains which numbers may change, the tiers and the slip models).
MetaMathQA has one split of 395,000 rows; about `eval_size` of them (default 1,000, seeded) are held out as `eval`,
as in the released MetaMath-DPO-FewShot (393,999 train + 1,000 eval). The hold-out takes whole
`original_question` groups, so that no paraphrase of an eval question is in train.

Options: `eval_size`; `final_result_fallback` (default True: a row whose only changeable number is the final
calculation's result is corrupted there, tier `final_result`; False skips it as `only_final_result`);
`slip_model` (`small`, the default, or `wide`; see prefbuild/corrupt/corruption.py).

Each row's work is bounded: a response longer than `MAX_RESPONSE_CHARS` characters is skipped as
`response_too_long`, one with a digit run longer than `MAX_NUMBER_CHARS` as `number_too_long`; everything else
is linear in the response (at most 240 characters read back from each `=`, 24 equations read, each result
confirmed against the 2 equations on either side).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from prefbuild.builders.base import Builder, Row, RowOutcome
from prefbuild.builders.math_rows import (  # re-exported: these names were first defined here
    CORRUPTION_SCHEMA,
    DEFAULT_SLIP_MODEL,
    ENGINE_VERSION,
    MAX_RESPONSE_CHARS,
    check_options,
    content_id,
    corruption_options,
    corruption_pair,
    oversized,
)
from prefbuild.corrupt import corrupt_row
from prefbuild.errors import PrefbuildError
from prefbuild.seeding import row_rng

VERSION = ENGINE_VERSION
DEFAULT_EVAL_SIZE = 1000


def build_row(row: Row, row_id: str, seed: int, options: dict[str, Any]) -> RowOutcome:
    query, response = row["query"], row["response"]
    if not query or not response or not query.strip() or not response.strip():
        return RowOutcome.skip("empty_query_or_response")
    reason = oversized(response)
    if reason:
        return RowOutcome.skip(reason)
    corruption = corrupt_row(
        response, row_rng(seed, row_id, "metamath"), question=query, **corruption_options(options)
    )
    if isinstance(corruption, str):
        return RowOutcome.skip(corruption)
    pair = corruption_pair(query, response, corruption, row_id)
    pair["type"] = row.get("type") or ""
    return RowOutcome(pairs=[pair])


def row_id(row: Row, index: int) -> str:
    return content_id(row["query"] or "", row["response"] or "")


def format_example(row: Row) -> str | None:
    query, response = row["query"], row["response"]
    return f"{query}\n{response}" if query and response else None


def prepare(splits: dict, options: dict[str, Any], seed: int) -> dict:
    """Hold out about `eval_size` rows of the only split as `eval`, by whole `original_question` groups.

    MetaMathQA has several augmented rows per source question (AnsAug, Rephrased, SV, FOBAR); holding out rows
    would put paraphrases of eval questions in train. Groups are ordered by a seeded hash of their question and
    taken until they hold at least `eval_size` rows (so eval has `eval_size` rows plus at most one group's size
    minus one). Without an `original_question` column, each row is its own group (a seeded row sample).
    """
    check_options(options)
    eval_size = options.get("eval_size", DEFAULT_EVAL_SIZE)
    if not isinstance(eval_size, int) or isinstance(eval_size, bool) or eval_size < 0:
        raise PrefbuildError(f"--eval-size must be an integer >= 0, got {eval_size!r}. Use 0 for no eval split.")
    if eval_size == 0 or "train" not in splits:
        return splits
    train = splits["train"]
    if eval_size >= len(train):
        raise PrefbuildError(
            f"--eval-size {eval_size} leaves no train rows: the source has {len(train)}. Use a smaller --eval-size."
        )
    if "original_question" not in train.column_names:
        held_out = set(row_rng(seed, "metamath-eval-holdout").sample(range(len(train)), eval_size))
    else:
        # One Arrow read: `train[column]` is a lazy column in datasets 5 that walks the rows one by one (≈ 6 s at 395k)
        questions = train.with_format("arrow")["original_question"].to_pylist()
        held_out = _held_out_groups(questions, eval_size, seed)
        if len(held_out) >= len(train):
            raise PrefbuildError(
                f"--eval-size {eval_size} leaves no train rows: the source's {len(train)} rows share too few "
                "original_question groups. Use a smaller --eval-size."
            )
    return {
        **splits,
        "train": train.select([index for index in range(len(train)) if index not in held_out]),
        "eval": train.select(sorted(held_out)),
    }


def _held_out_groups(questions: list, eval_size: int, seed: int) -> set[int]:
    """Row indices of the first `original_question` groups, in seeded hash order, that reach `eval_size` rows."""
    groups: dict[str, list[int]] = {}
    for index, question in enumerate(questions):
        # A row without an original question is a group of its own
        key = question if isinstance(question, str) else (str(question) if question is not None else "")
        groups.setdefault(key if key else f"\x00row{index}", []).append(index)
    salt = f"{seed}\x1fmetamath-eval-holdout\x1f".encode()
    order = sorted(groups, key=lambda key: hashlib.blake2b(salt + key.encode(), digest_size=8).digest())
    held_out: set[int] = set()
    for key in order:
        if len(held_out) >= eval_size:
            break
        held_out.update(groups[key])
    return held_out


BUILDER = Builder(
    name="metamath",
    version=VERSION,
    default_source="meta-math/MetaMathQA",
    default_config=None,
    split_map={"train": "train"},
    required_fields=("query", "response"),
    metadata_schema={**CORRUPTION_SCHEMA, "type": pa.string()},  # type: MetaMathQA's GSM_AnsAug, MATH_FOBAR, ...
    license="mit",
    pretty_name="MetaMath DPO (one corrupted intermediate result)",
    card="metamath",
    build_row=build_row,
    row_id=row_id,
    format_example=format_example,
    prepare=prepare,
    options={"eval_size": DEFAULT_EVAL_SIZE, "final_result_fallback": True, "slip_model": DEFAULT_SLIP_MODEL},
    field_types={"query": str, "response": str, "type": str},  # `type` becomes a pair column
)

__all__ = [
    "BUILDER",
    "CORRUPTION_SCHEMA",
    "DEFAULT_EVAL_SIZE",
    "DEFAULT_SLIP_MODEL",
    "MAX_RESPONSE_CHARS",
    "VERSION",
    "build_row",
    "check_options",
    "content_id",
    "corruption_options",
    "corruption_pair",
    "format_example",
    "oversized",
    "prepare",
    "row_id",
]
