"""What the metamath and gsm8k builders share: a worked solution with one number corrupted, as a pair.

Both builders turn a (question, solution) row into one pair whose rejected completion is the solution with one
intermediate result changed (prefbuild/corrupt). This module holds the parts that are the same for both: the
pair columns, the content-based row id, the per-row size bound and the corruption options.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pyarrow as pa

from prefbuild.builders.base import Pair
from prefbuild.corrupt import DEFAULT_SLIP_MODEL, MAX_NUMBER_CHARS, SLIP_MODELS, Corruption
from prefbuild.errors import PrefbuildError

# MetaMathQA's longest responses are a few thousand characters (MATH train's longest solution: 6,767); a response
# eight times that is not a worked solution, and skipping it bounds each row's work.
MAX_RESPONSE_CHARS = 50_000
# The corruption engine's version: the metamath and gsm8k builders both run it, so their output changes with it
# and their versions move together (a builder-only change would give that builder its own version).
ENGINE_VERSION = "2.3.0"
# A digit followed by MAX_NUMBER_CHARS more digits: the same texts as `[0-9]{101}`, found in about half its time
_LONG_NUMBER = re.compile(f"[0-9](?=[0-9]{{{MAX_NUMBER_CHARS}}})")

# The pair columns of both builders (same names, same types); metamath adds `type`.
CORRUPTION_SCHEMA: dict[str, pa.DataType] = {
    "source_id": pa.string(),
    "tier": pa.string(),  # one of prefbuild.corrupt.TIERS: verified, verified_term, ..., final_result
    "slip": pa.string(),  # offset / digit_slip / off_by_one_step / wide_offset
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


def oversized(text: str) -> str | None:
    """The skip reason for a response too large to corrupt within the per-row bound, else None."""
    if len(text) > MAX_RESPONSE_CHARS:
        return "response_too_long"
    if _LONG_NUMBER.search(text):
        return "number_too_long"
    return None


def corruption_options(options: dict[str, Any]) -> dict[str, Any]:
    """The corruption keywords from builder options (validated by `check_options`)."""
    return {
        "final_result_fallback": bool(options.get("final_result_fallback", True)),
        "slip_model": options.get("slip_model", DEFAULT_SLIP_MODEL),
    }


def check_options(options: dict[str, Any]) -> None:
    slip_model = options.get("slip_model", DEFAULT_SLIP_MODEL)
    if slip_model not in SLIP_MODELS:
        raise PrefbuildError(
            f"--slip-model must be one of {', '.join(SLIP_MODELS)}, got {slip_model!r}. "
            "small: ±1/±2 in the last place or one digit; wide: ±5-25 % of the value (the datasheet's $47 → $52)."
        )
