"""Find the results of calculations in a worked solution, and the final-answer text that must stay untouched.

A result is a number written right after an `=` (`16 * $47 = $752`, `$2^5 = 32$`, `x = 7`) that ends the
term: not followed by an operator (`= 5 * 4 = 20`: only 20 is a result) nor glued to a letter (`= 3x`). The
expression on its left is the run of arithmetic tokens back to the previous `=`, line break, word or
punctuation; a result is *verified* when that expression (not a bare number) evaluates to it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from prefbuild.corrupt.expression import (
    ExpressionError,
    evaluate,
    has_operation,
    parse_tokens,
    tokenize,
    trailing_expression,
)
from prefbuild.corrupt.numbers import DIGITS, NUMBER, NUMBER_END, NumberForm, matches_result

MAX_LEFT_CHARS = 240  # how far back from an `=` the left expression may start

# `=` that is an equals sign: not part of <=, >=, !=, ==, => or \neq-like commands. The lookbehind comes after
# the `=` (`(?<![<>!=\\]=)`: the character before it) so the pattern starts with a literal, which `re` searches
# for directly instead of trying the pattern at every position (4x faster, same matches).
_EQUALS = re.compile(r"=(?<![<>!=\\]=)(?![=>])")
# What may sit between `=` and the result's digits: spaces, currency, LaTeX spacing. The sign goes with it.
_RESULT = re.compile(
    r"[ \t]*(?:\\[,;! ]|\\?\$|[ \t])*(?P<sign>[-−])?[ \t]*(?:\\?\$)?"
    rf"(?P<number>{DIGITS}){NUMBER_END}"
)
# After the result: an operator or a fraction/power means the number is only the first term of an expression.
_CONTINUES = re.compile(r"[ \t]*(?:[-+*^×÷·−]|/(?![A-Za-z])|\\(?:cdot|times|div|frac)(?![A-Za-z])|\()")
# Final-answer text that is never changed: the `#### 72` line, the `The answer is: 72` line, `\boxed{...}`.
_ANSWER_LINE = re.compile(r"^[ \t]*####.*$|[Tt]he answer is\b.*$", re.MULTILINE)
# The same without the `####` branch, for text without `####` (where that branch cannot match): about 3x faster.
_ANSWER_IS_LINE = re.compile(r"[Tt]he answer is\b.*$", re.MULTILINE)
_CLAUSE_BREAKS = (": ", "; ", "? ", "! ", ". ", ", ")
_BOXED = re.compile(r"\\boxed\s*\{")
# Numbers that label rather than compute: `Step 2:`, `2.` or `2)` opening a line, `(2)`, `#2`.
_MARKER = re.compile(r"(?:^[ \t]*(?:Step[ \t]+)?|\(|#)[0-9]+(?=[.):][ \t]|[.):]?$|\))", re.MULTILINE | re.IGNORECASE)


class Result(NamedTuple):  # a NamedTuple: built for every `=` of every row, and cheaper than a dataclass
    """A candidate number to corrupt: its span in the text and how it was found."""

    start: int
    end: int
    tier: str  # "verified", "unverified" or "any_number"
    expression: tuple | None = None  # the parsed left side of a verified result


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the final answer: answer lines and the contents of every `\\boxed{...}`."""
    answer_line = _ANSWER_LINE if "####" in text else _ANSWER_IS_LINE
    spans = [match.span() for match in answer_line.finditer(text)]
    for match in _BOXED.finditer(text):
        depth, position = 1, match.end()
        while position < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        spans.append((match.start(), position))
    return spans


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < span_end and span_start < end for span_start, span_end in spans)


def _left_expression(text: str, equals: int) -> tuple | None:
    """The parsed expression just left of the `=` at `equals`, or None when there is none to verify."""
    start = max(text.rfind("\n", 0, equals) + 1, text.rfind("=", 0, equals) + 1, equals - MAX_LEFT_CHARS)
    # Skip the prose before the last clause break (`...per decade: 13 mice/year * 10 = 130`): tokenising it
    # would only end in a word that discards it, and it is most of the cost.
    for needle in _CLAUSE_BREAKS:
        found = text.rfind(needle, start, equals)
        if found >= 0:
            start = found + len(needle)
    tokens = trailing_expression(tokenize(text[start:equals]))
    # Prose can leave an unmatched `(` or a dangling operator at the front: drop leading tokens until it parses.
    for skip in range(min(len(tokens), 8)):
        try:
            return parse_tokens(tokens[skip:])
        except ExpressionError:
            continue
    return None


def find_results(text: str, protected: list[tuple[int, int]] | None = None) -> list[Result]:
    """Every `= number` result outside the final answer, tiered "verified" or "unverified"."""
    if protected is None:
        protected = protected_spans(text)
    results = []
    result_at, continues_at = _RESULT.match, _CONTINUES.match
    for equals in _EQUALS.finditer(text):
        match = result_at(text, equals.end())
        if match is None or continues_at(text, match.end()):
            continue
        start, end = match.span("number")
        if protected and _inside(start, end, protected):
            continue
        tier, expression = "unverified", None
        node = _left_expression(text, equals.start())
        if node is not None and has_operation(node):
            try:
                value = evaluate(node)
            except ExpressionError:
                value = None
            if value is not None:
                if match.group("sign"):
                    value = -value  # `= -3`: compare magnitudes; the sign is outside the span and never changes
                percent = text.startswith("%", end) or text.startswith("\\%", end)
                if matches_result(value, NumberForm.parse(match.group("number")), percent):
                    tier, expression = "verified", node
        results.append(Result(start, end, tier, expression))
    return results


def find_other_numbers(text: str, question: str = "", protected: list[tuple[int, int]] | None = None) -> list[Result]:
    """Numbers in the reasoning that are not step labels, not in the final answer and not restated from the
    question (a year or quantity copied from the question is a given, not a result)."""
    if protected is None:
        protected = protected_spans(text)
    markers = [match.span() for match in _MARKER.finditer(text)]
    given = {match.group().replace(",", "") for match in NUMBER.finditer(question)}
    results = []
    for match in NUMBER.finditer(text):
        start, end = match.span()
        if _inside(start, end, protected) or _inside(start, end, markers):
            continue
        if match.group().replace(",", "") in given:
            continue
        results.append(Result(start, end, "any_number"))
    return results
