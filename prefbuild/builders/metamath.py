"""MetaMathQA → pairs whose rejected response has one intermediate result corrupted (DPOP, arXiv 2402.13228).

The paper: "we randomly corrupt one of the results of an intermediate calculation so that it is incorrect;
however, we leave the answer untouched". prompt = query, chosen = response unchanged, rejected = response with
exactly one number changed (prefbuild/corrupt explains the tiers and slips). MetaMathQA has one split of
395,000 rows; `eval_size` of them (default 1,000, seeded) are held out as `eval`, as in the released
MetaMath-DPO-FewShot (393,999 train + 1,000 eval).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from prefbuild.builders.base import Builder, Pair, Row, RowOutcome
from prefbuild.corrupt import Corruption, corrupt_intermediate_result
from prefbuild.errors import PrefbuildError
from prefbuild.seeding import row_rng

VERSION = "1.0.0"
DEFAULT_EVAL_SIZE = 1000

# Pair columns shared with the gsm8k builder (same names, same types).
CORRUPTION_SCHEMA: dict[str, pa.DataType] = {
    "source_id": pa.string(),
    "tier": pa.string(),  # verified / unverified / any_number
    "slip": pa.string(),  # offset / digit_slip / off_by_one_step
    "original_value": pa.string(),  # the number as written in chosen
    "new_value": pa.string(),  # the number as written in rejected
    "span_start": pa.int32(),  # character span of new_value in rejected (of original_value in chosen: same start)
    "span_end": pa.int32(),
}


def content_id(*texts: str) -> str:
    """A stable row id from the row's text: independent of row order, `--limit` and the eval hold-out."""
    return hashlib.blake2b("\x1f".join(texts).encode(), digest_size=8).hexdigest()


def corruption_pair(prompt: str, chosen: str, corruption: Corruption, source_id: str) -> Pair:
    return {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": corruption.text,
        "source_id": source_id,
        "tier": corruption.tier,
        "slip": corruption.slip,
        "original_value": corruption.original,
        "new_value": corruption.new,
        "span_start": corruption.start,
        "span_end": corruption.end,
    }


def build_row(row: Row, row_id: str, seed: int, options: dict[str, Any]) -> RowOutcome:
    query, response = row["query"], row["response"]
    if not query or not response or not query.strip() or not response.strip():
        return RowOutcome.skip("empty_query_or_response")
    corruption = corrupt_intermediate_result(response, row_rng(seed, row_id, "metamath"), question=query)
    if corruption is None:
        return RowOutcome.skip("no_number_to_corrupt")
    pair = corruption_pair(query, response, corruption, row_id)
    pair["type"] = row.get("type") or ""
    return RowOutcome(pairs=[pair])


def row_id(row: Row, index: int) -> str:
    return content_id(row["query"] or "", row["response"] or "")


def format_example(row: Row) -> str | None:
    query, response = row["query"], row["response"]
    return f"{query}\n{response}" if query and response else None


def prepare(splits: dict, options: dict[str, Any], seed: int) -> dict:
    """Hold out `eval_size` rows of the only split as `eval` (seeded; same rows for the same seed and size)."""
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
    held_out = set(row_rng(seed, "metamath-eval-holdout").sample(range(len(train)), eval_size))
    return {
        **splits,
        "train": train.select([index for index in range(len(train)) if index not in held_out]),
        "eval": train.select(sorted(held_out)),
    }


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
    options={"eval_size": DEFAULT_EVAL_SIZE},
    field_types={"query": str, "response": str, "type": str},  # `type` becomes a pair column
)
