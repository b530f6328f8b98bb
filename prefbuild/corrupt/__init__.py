"""Corrupt one intermediate result of a worked solution: safe arithmetic parsing, verification and slips."""

from prefbuild.corrupt.corruption import (
    SLIPS,
    TIERS,
    Corruption,
    candidate_numbers,
    corrupt_intermediate_result,
    slip_number,
)
from prefbuild.corrupt.expression import ExpressionError, evaluate, parse_expression, safe_evaluate
from prefbuild.corrupt.numbers import NUMBER, NumberForm, matches_result
from prefbuild.corrupt.results import Result, find_other_numbers, find_results, protected_spans

__all__ = [
    "NUMBER",
    "SLIPS",
    "TIERS",
    "Corruption",
    "ExpressionError",
    "NumberForm",
    "Result",
    "candidate_numbers",
    "corrupt_intermediate_result",
    "evaluate",
    "find_other_numbers",
    "find_results",
    "matches_result",
    "parse_expression",
    "protected_spans",
    "safe_evaluate",
    "slip_number",
]
