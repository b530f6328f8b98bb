"""Corrupt one intermediate result of a worked solution: safe arithmetic parsing, verification and slips."""

from prefbuild.corrupt.corruption import (
    DEFAULT_SLIP_MODEL,
    SKIP_REASONS,
    SLIP_MODELS,
    SLIPS,
    TIERS,
    Corruption,
    candidate_numbers,
    corrupt_intermediate_result,
    corrupt_row,
    slip_number,
)
from prefbuild.corrupt.equations import read_equations, solved_equals
from prefbuild.corrupt.expression import ExpressionError, evaluate, parse_expression, safe_evaluate
from prefbuild.corrupt.numbers import MAX_NUMBER_CHARS, NUMBER, NumberForm, matches_result
from prefbuild.corrupt.results import (
    Result,
    final_answer_values,
    find_other_numbers,
    find_results,
    given_values,
    other_numbers,
    protected_spans,
)

__all__ = [
    "DEFAULT_SLIP_MODEL",
    "MAX_NUMBER_CHARS",
    "NUMBER",
    "SKIP_REASONS",
    "SLIPS",
    "SLIP_MODELS",
    "TIERS",
    "Corruption",
    "ExpressionError",
    "NumberForm",
    "Result",
    "candidate_numbers",
    "corrupt_intermediate_result",
    "corrupt_row",
    "evaluate",
    "final_answer_values",
    "find_other_numbers",
    "find_results",
    "given_values",
    "matches_result",
    "other_numbers",
    "parse_expression",
    "protected_spans",
    "read_equations",
    "safe_evaluate",
    "slip_number",
    "solved_equals",
]
