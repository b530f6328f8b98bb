"""Find the results of calculations in a worked solution, and the final-answer text that must stay untouched.

A result is a number written right after an `=` (`16 * $47 = $752`, `$2^5 = 32$`, `x = 7`, `= \\frac{7}{12}`)
that ends the term: not followed by an operator or a LaTeX command (`= 5 * 4 = 20` and `= 3\\sqrt{2}`: only 20
counts) nor glued to a letter (`= 3x`). The expression on its left is the run of arithmetic tokens back to the
previous `=`, line break, word or punctuation; a result is *verified* when that expression (not a bare number)
evaluates to it, *solved* when it ends a one-variable equation whose solution another equation in the text
confirms (prefbuild/corrupt/equations.py), else *unverified*. Which results may change is decided in
prefbuild/corrupt/corruption.py (not the final answer, not a number given in the question).

Every scan here is linear in the text: spans are merged once and looked up by bisection, `\\boxed{` braces are
matched in one pass, and the left side of an `=` is read from at most `MAX_LEFT_CHARS` characters.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from prefbuild.corrupt.equations import MAX_DEGREE, left_polynomial, polynomial, solved_equals
from prefbuild.corrupt.expression import (
    _KIND_BY_INDEX,
    _TOKEN,
    MAX_DIGITS,
    ExpressionError,
    evaluate,
    has_operation,
    parse_expression,
    parse_tokens,
    tokenize,
    trailing_expression,
    without_degree_signs,
)
from prefbuild.corrupt.numbers import DIGITS, MAX_NUMBER_CHARS, NUMBER, NUMBER_END, NumberForm, matches_result

MAX_LEFT_CHARS = 240  # how far back from an `=` the left expression may start

# `=` that is an equals sign: not part of <=, >=, !=, ==, => or \neq-like commands. The lookbehind comes after
# the `=` (`(?<![<>!=\\]=)`: the character before it) so the pattern starts with a literal, which `re` searches
# for directly instead of trying the pattern at every position (4x faster, same matches).
_EQUALS = re.compile(r"=(?<![<>=\\]=)(?<!(?<![0-9)}])!=)(?![=>])")
# What may sit between `=` and the result's digits: spaces, currency, LaTeX spacing. The sign goes with it.
_RESULT = re.compile(
    r"[ \t]*(?:\\[,;! ]|\\?\$|[ \t])*(?P<sign>[-−])?[ \t]*(?:\\?\$)?"
    rf"(?P<number>{DIGITS}){NUMBER_END}"
)
# `= \frac{7}{12}`: a fraction result, whose numerator is the number that may change (the denominator stays).
_FRACTION_RESULT = re.compile(
    r"[ \t]*(?:\\[,;! ]|\\?\$|[ \t])*(?P<sign>[-−])?[ \t]*\\[dt]?frac[ \t]*"
    r"\{[ \t]*(?P<number>[0-9]{1,9})[ \t]*\}[ \t]*\{[ \t]*(?P<denominator>[0-9]{1,9})[ \t]*\}"
)
# `= 12\pi`, `= 3x`, `= 162x^4`, `= 5\sqrt{2}`: a result that is a number times one symbol. The number is the
# result of the calculation (`2\pi \cdot 6 = 12\pi`, `2 * 2x = 4x dolls`); what follows the monomial must end the
# term (a word may follow: `4x dolls`).
_MONOMIAL_RESULT = re.compile(
    r"[ \t]*(?:\\[,;! ]|\\?\$|[ \t])*(?P<sign>[-−])?[ \t]*"
    r"(?P<number>[0-9]{1,12}(?:\.[0-9]{1,6})?)[ \t]*(?:\\[,;!][ \t]*)?"
    r"(?P<symbol>\\pi(?![A-Za-z])|(?<![A-Za-z])[A-Za-z](?![A-Za-z(])"
    r"|\\sqrt[ \t]*(?:\{[ \t]*(?P<radicand>[0-9]{1,6})[ \t]*\}|(?P<digit>[0-9])(?![0-9])))"
    r"(?:\^[ \t]*(?:\{[ \t]*(?P<braced>[0-9])[ \t]*\}|(?P<power>[0-9])))?"
    r"(?![A-Za-z0-9]|[ \t]*(?:[-+*/^×÷·(\[{!−]|\\(?:cdot|times|div|[dt]?frac|sqrt|pi|left)(?![A-Za-z])))"
)
# After the result: an operator, a factorial, a bracket or a LaTeX command that continues a product (`\cdot`,
# `\sqrt`, `\pi`, `\mathbf`, `\left(`) means the number is only the first term of an expression. Units, spacing,
# relations and prose commands do not: `^\circ`, `\text{ cm}`, `\%`, `\quad`, `\implies`, `\le`, `\right)`, `\\`.
# A degree sign followed by an operator continues too: `= 180^\circ - 73^\circ`.
_CONTINUES = re.compile(
    r"[ \t]*(?:\^[ \t]*\{?[ \t]*\\circ[ \t]*\}?[ \t]*(?:[-+*×÷·−/]|\\(?:cdot|times|div)(?![A-Za-z]))"
    r"|[-+*×÷·−]|\^(?![ \t]*\{?[ \t]*\\circ)|/(?![A-Za-z])|!(?:(?!=)|(?<=[0-9)}]!))|\(|\\(?:cdot|times|div|[dt]?frac|sqrt|pi"
    r"|pm|mp|binom|choose|left|mathbf|mathbb|vec|overline|sin|cos|tan|cot|sec|csc|log|ln|exp|[Aa]lpha|[Bb]eta"
    r"|[Gg]amma|[Dd]elta|[Tt]heta|[Ll]ambda|[Mm]u|[Ss]igma|[Pp]hi|[Oo]mega|[Tt]au|[Rr]ho|[Pp]si|[Ee]psilon)(?![A-Za-z]))"
)
# Final-answer text that is never changed: the `#### 72` line, the `The answer is: 72` line (also "so the answer
# is 72" to the end of its line), `The value of x is 72` / `The value of unknown variable x is 72`, `\boxed{...}`.
# One pattern each, starting with a literal so that `re` finds them fast; the capital or small T is checked after.
_HASH_LINE = re.compile(r"^[ \t]*####[ \t]*(?P<answer>.*)$", re.MULTILINE)
_ANSWER_IS = re.compile(r"he answer is\b:?(?P<answer>.*)$", re.MULTILINE)
_VALUE_IS = re.compile(
    r"he value of (?:the )?(?:unknown )?(?:variable )?\$?[A-Za-z]\$? is\b:?(?P<answer>.*)$", re.MULTILINE
)
_CLAUSE_BREAKS = (": ", "; ", "? ", "! ", ". ", ", ")
_BOXED = re.compile(r"\\boxed\s*\{")
_ASY = re.compile(r"\[asy\].*?(?:\[/asy\]|\Z)", re.DOTALL)
_BRACE = re.compile(r"[{}]")
# Numbers that label rather than compute: `Step 2:`, `Case 1`, `2.` or `2)` opening a line, `(2)`, `#2`. Checked
# around each number (not by scanning the whole text): `_LINE_LABEL` on the text from the line start to the number,
# `_LABEL_WORD` on the few characters before it.
_LINE_LABEL = re.compile(r"[ \t]*(?:[Ss]tep[ \t]+)?")
_LABEL_END = re.compile(r"[.):](?:[ \t]|$)|[.):]?$", re.MULTILINE)
_LABEL_WORD = re.compile(
    r"\b(?:[Ss]tep|[Cc]ase|[Pp]art|[Ee]quation|[Ee]xample|[Mm]ethod|[Oo]ption|[Pp]roblem|[Qq]uestion|[Rr]ound|[Dd]ay"
    r"|[Ww]eek|[Yy]ear|[Pp]hase|[Ss]tage|[Ff]igure|[Ll]ine|[Rr]ow|[Cc]olumn|[Pp]age|[Cc]hapter|STEP|CASE)[ \t]+\Z"
)


def _is_marker(text: str, start: int, end: int) -> bool:
    before = text[start - 1 : start]
    if before == "#" or (before == "(" and text[end : end + 1] == ")"):
        return True
    line_start = text.rfind("\n", max(0, start - 16), start) + 1 if start else 0
    if (line_start or start < 16) and _LINE_LABEL.fullmatch(text, line_start, start) and _LABEL_END.match(text, end):
        return True
    return _LABEL_WORD.search(text, max(0, start - 12), start) is not None


# Numbers in the question, as loosely as possible (`2x`, `x2`, `\frac{1}{4}`'s 1 and 4 all count as given).
_GIVEN = re.compile(r"[0-9]+(?:(?:,|,\\!|\{,\})[0-9]{3})*(?:\.[0-9]+)?")
_GIVEN_FRACTION = re.compile(r"\\[dt]?frac[ \t]*\{[ \t]*([0-9]{1,9})[ \t]*\}[ \t]*\{[ \t]*([0-9]{1,9})[ \t]*\}")
# Numbers a question spells out (`eleven players`, `twenty-four hours`) are given too; not `one`, which is mostly a
# pronoun or an article (`one of the`, `no one`)
_WORD_VALUES = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SPELLED = frozenset(_WORD_VALUES) - {"zero", "one"}
_TENS = frozenset(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"))
_SPELLED_BYTES = frozenset(word.encode() for word in _SPELLED)
# bytes.translate table: ASCII letters to lower case, every other byte to a space (a word break)
_LETTERS_LOWERED = bytes(byte | 32 if 65 <= byte <= 90 or 97 <= byte <= 122 else 32 for byte in range(256))
_GIVEN_WORD = re.compile(  # matched in the lower-cased question; the lookahead lets `re` skip most positions fast
    r"\b(?=[tfsen])(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:-(one|two|three|four|five|six|seven|eight|nine))?\b"
)
_GIVEN_SLASH = re.compile(r"(?<![0-9.])([0-9]{1,9})[ \t]*/[ \t]*([0-9]{1,9})(?![0-9]|\.[0-9])")
_ANSWER_NUMBER = re.compile(r"-?[0-9]+(?:(?:,|,\\!|\{,\})[0-9]{3})*(?:\.[0-9]+)?")
# Before a number that is an operand, a bound or an index rather than a stated result.
_OPERAND_BEFORE = re.compile(
    r"(?:[-+*/×÷·=<>^_{(\[−]|\\(?:cdot|times|div|le|leq|ge|geq|lt|gt|ne|neq|pm|frac|dfrac|sqrt|log|sin|cos|tan)"
    r"|\b(?:less|more|greater|fewer|smaller|larger|bigger|other)[ \t]+than|\bat[ \t]+(?:least|most)|\bbetween"
    r"|\bup[ \t]+to|\bexcept|\btimes|\bby|\bplus|\bminus|\b[Ss]ubtract\w*|\b[Aa]dd\w*|\b[Mm]ultipl\w*"
    r"|\b[Dd]ivid\w*)[ \t$]*\\?\$?[ \t]*\Z"
)
# `_OPERAND_BEFORE.search(text, before, start)` without trying its alternatives at every position of the window
# (7 µs a number on MATH text): `_operand_before` below. The pattern ends in spacing (`[ \t$]*\\?\$?[ \t]*`) and
# none of its alternatives ends in a space, tab, `$` or backslash, so the spacing is exactly the run of those
# characters before `start`, and the alternative ends right before it: an operator character, or a `\w` run that
# is a listed LaTeX command after a backslash, a listed word or stem (its `\b` is the run's start), or the second
# word of `less than`, `at least`, `up to`, ...
_OPERATOR_CHARS_BEFORE = frozenset("-+*/×÷·=<>^_{([−")
_COMMANDS_BEFORE = frozenset("cdot times div le leq ge geq lt gt ne neq pm frac dfrac sqrt log sin cos tan".split())
_WORDS_BEFORE = frozenset({"between", "except", "times", "by", "plus", "minus"})
_STEMS_BEFORE = ("Subtract", "subtract", "Add", "add", "Multipl", "multipl", "Divid", "divid")
_THAN_BEFORE = frozenset({"less", "more", "greater", "fewer", "smaller", "larger", "bigger", "other"})
_SECOND_WORDS = {"than": _THAN_BEFORE, "least": frozenset({"at"}), "most": frozenset({"at"}), "to": frozenset({"up"})}
_SPACING_BEFORE = re.compile(r"[ \t$]*\\?\$?[ \t]*")


def _word_start(text: str, end: int) -> int:
    """Where the run of `\\w` characters (as `re` defines them) that ends at `end` starts."""
    while end and (text[end - 1].isalnum() or text[end - 1] == "_"):
        end -= 1
    return end


def _operand_before(text: str, before: int, start: int) -> bool:
    """Whether `_OPERAND_BEFORE.search(text, before, start)` finds a match (same answer, no search)."""
    end = start
    while end > before and text[end - 1] in " \t$\\":
        end -= 1
    if end == before or _SPACING_BEFORE.fullmatch(text, end, start) is None:
        return False
    last = text[end - 1]
    if last in _OPERATOR_CHARS_BEFORE:
        return True
    if not (last.isalnum() or last == "_"):
        return False
    word_start = _word_start(text, end)
    word = text[word_start:end]
    if word_start > before and text[word_start - 1] == "\\" and word in _COMMANDS_BEFORE:
        return True
    if word_start < before:
        return False
    if word in _WORDS_BEFORE or word.startswith(_STEMS_BEFORE):
        return True
    firsts = _SECOND_WORDS.get(word)
    if firsts is None:
        return False
    gap = word_start
    while gap > before and text[gap - 1] in " \t":
        gap -= 1
    if gap == word_start:
        return False
    first_start = _word_start(text, gap)
    return first_start >= before and text[first_start:gap] in firsts


_OPERAND_AFTER = re.compile(
    r"[ \t$]*(?:[-+*/×÷·=<>^_}\)\]!−]|\\(?:cdot|times|div|le|leq|ge|geq|lt|gt|ne|neq|pm|sqrt|pi)(?![A-Za-z])"
    r"|x[ \t]+[0-9]|times\b|divided\b|plus\b|minus\b|,[ \t]*(?:and[ \t]+|or[ \t]+)?\$?-?[0-9]"
    # a coefficient or argument: `2 \cos 6^\circ`, `3 \mathbf{v}` (not a unit or spacing: `5 \text{ cm}`, `4 \quad`)
    r"|\\(?!(?:text|textrm|mbox|mathrm|quad|qquad|right|end|circ|ldots|cdots|dots|hspace)(?![A-Za-z]))[A-Za-z]+)"
)
# An item of a list (`1, 4, 9, 16`, `2, 5, or 8`, `3 and 4`): a label, not a result.
_LIST_ITEM_BEFORE = re.compile(r"[0-9]\$?(?:,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+)\$?-?\Z")
# A number stated as the value of something in prose: `so its radius is 5`, `we get 83`, `yields $72$`.
_STATED_BEFORE = re.compile(
    r"\b(?:is|are|was|were|equals?|gives?|yields?|gets?|obtain|becomes?|makes?|leaves?|totals?)[ \t]+"
    r"(?:\\?\$[ \t]*)*\Z"
)


class Result(NamedTuple):  # a NamedTuple: built for every `=` of every row, and cheaper than a dataclass
    """A candidate number to corrupt: its span in the text and how it was found."""

    start: int
    end: int
    tier: str  # "verified", "solved", "unverified", "any_number" or "final_result"
    expression: tuple | None = None  # the parsed left side of a verified result
    value: Fraction | None = None  # the written result's value: 7/12 for `\frac{7}{12}`, whose span is the 7
    denominator: int | None = None  # a fraction result's denominator (the new numerator stays coprime to it)
    equals: int = -1  # position of the `=` before the result


class Spans:
    """Sorted, merged character spans with a bisection lookup: linear to build, logarithmic to query."""

    __slots__ = ("starts", "ends")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [span[0] for span in merged]
        self.ends = [span[1] for span in merged]

    def __bool__(self) -> bool:
        return bool(self.starts)

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect_right(self.starts, end - 1) - 1  # the last span starting before `end`
        return index >= 0 and self.ends[index] > start

    def spans(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends))


@lru_cache(maxsize=4)  # protected_spans, final_answer_values and boxed_result ask for the same row's boxes
def _boxed_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Each `\\boxed{...}` with its contents; an unclosed one runs to the end of the text. One pass over braces."""
    first = text.find("\\boxed")
    if first < 0:
        return ()
    close_of: dict[int, int] = {}
    stack: list[int] = []
    for match in _BRACE.finditer(text, first):  # braces before the first box cannot close one
        if match.group() == "{":
            stack.append(match.start())
        elif stack:
            close_of[stack.pop()] = match.end()
    return tuple((match.start(), close_of.get(match.end() - 1, len(text))) for match in _BOXED.finditer(text))


def answer_lines(text: str) -> list[re.Match]:
    """The final-answer lines: `#### X`, `The answer is: X` (and "the answer is X" to the end of its line),
    `The value of x is X`; each match's group "answer" is the X."""
    first = text.find("####")
    # Every match holds `####`: start at the line of the first one (`^` still sees the line break before `pos`)
    found = list(_HASH_LINE.finditer(text, text.rfind("\n", 0, first) + 1)) if first >= 0 else []
    for pattern in (_ANSWER_IS, _VALUE_IS):
        found += [
            match
            for match in pattern.finditer(text)
            if match.start() and text[match.start() - 1] in "Tt" and not _boxed_in_prose(match)
        ]
    return found


def _boxed_in_prose(match: re.Match) -> bool:
    """ "the answer is \\[2^3+3^3+5^3=8+27+125=\\boxed{160}.\\]": a line of prose that boxes its answer states it in
    the box (protected as every box is); the calculation before the box is reasoning like any other."""
    answer = match.group("answer")
    return "\\boxed" in answer and not answer.startswith(":")


def protected_spans(text: str, lines: list[re.Match] | None = None) -> list[tuple[int, int]]:
    """Character spans of the final answer: answer lines and the contents of every `\\boxed{...}`."""
    if lines is None:
        lines = answer_lines(text)
    spans = [(match.start() - (match.re is not _HASH_LINE), match.end()) for match in lines]
    spans += list(_boxed_spans(text))
    if "[asy]" in text:  # diagram code (`real xmin=-1.5`, `label("$12$")`) is not reasoning: never changed
        spans += [match.span() for match in _ASY.finditer(text)]
    return spans


def _as_spans(protected: Spans | list[tuple[int, int]] | None, text: str) -> Spans:
    if isinstance(protected, Spans):
        return protected
    return Spans(protected_spans(text) if protected is None else protected)


def _left_start(text: str, equals: int) -> int:
    """Where the text read for the left side of the `=` at `equals` starts."""
    low = max(0, equals - MAX_LEFT_CHARS)
    start = max(text.rfind("\n", low, equals) + 1, text.rfind("=", low, equals) + 1, low)
    # Skip the prose before the last clause break (`...per decade: 13 mice/year * 10 = 130`): tokenising it
    # would only end in a word that discards it, and it is most of the cost.
    for needle in _CLAUSE_BREAKS:
        found = text.rfind(needle, start, equals)
        if found >= 0:
            start = found + len(needle)
    return start


# Every token that can make a tree more than a bare number starts with one of these characters or is one of these
# words: an operator (`*`, `×`, `\cdot`, `x`, `times`, ...), a bracket (implicit product), `%`, `\frac`, `\sqrt`.
# A left side without any of them parses to a number or nothing, so there is nothing to verify: no need to tokenise.
_MAY_OPERATE = re.compile(r"[-*×·∙⋅+−–/÷∕^%!(\[{\\xX]|times|plus|minus")


def _left_stop(text: str, equals: int) -> int:
    """Where the left side of the `=` at `equals` ends: at the `=`, or before the `&` of an `align` row
    (`9-8+7\\times 6 &= 9-8+42`). A row that starts with `&=` continues the row before it, whose right side (up
    to its `\\\\` row break) is this `=`'s left side: `&= 9-8+42 \\\\ &= 1+42` reads 9-8+42 as the left of 1+42."""
    stop = equals
    while stop and text[stop - 1] in " \t":
        stop -= 1
    if not stop or text[stop - 1] != "&":
        return equals
    stop -= 1
    end = stop
    while end and text[end - 1] in " \t\n":
        end -= 1
    if end >= 2 and text[end - 2 : end] == "\\\\" and text[end - 3 : end - 2] != "\\":
        end -= 2  # the `\\\\` ends the row above, at its end or at the start of this row's line
        while end and text[end - 1] in " \t\n":
            end -= 1
        return end
    return stop


def _left_span(text: str, equals: int) -> tuple[int, int]:
    """The start and end of the text read for the left side of the `=` at `equals`."""
    stop = _left_stop(text, equals) if "&" in text[max(0, equals - 8) : equals] else equals
    return _left_start(text, stop), stop


def _left_calculation(text: str, equals: int) -> tuple | None:
    """`_left_expression` when it may hold an operation, else None (a bare number is not a calculation)."""
    # `_left_span` inlined: this runs for every `=` of every row
    stop = _left_stop(text, equals) if "&" in text[max(0, equals - 8) : equals] else equals
    start = _left_start(text, stop)
    if _MAY_OPERATE.search(text, start, stop) is None:
        return None
    return _parse_left(text, start, stop)


def _left_expression(text: str, equals: int) -> tuple | None:
    """The parsed expression just left of the `=` at `equals`, or None when there is none to verify."""
    return _parse_left(text, *_left_span(text, equals))


# The last number of a left side that follows a word: `Natalia sold 48/2`, `5 apples and 3 * 4`, `costs $12 + 3`.
# A run of words (not `x`, `times`, `plus`, `minus`, nor a LaTeX command) before a number either ends the prose
# before the expression or is the unit of a number before it; `trailing_expression` restarts its expression at
# that number either way, and the tokenizer starts afresh there. So the words, and everything before them, need
# not be tokenised. Searched in the reversed text, so the first match is the last such number: a digit, the
# skipped characters between (`\\$` reversed is `$\\`), the word (group 1, reversed), not glued to a letter on
# its left.
_NUMBER_AFTER_WORD = re.compile(r"[0-9](?:[\s$]|[$,;:! ]\\)*[ \t]*([A-Za-z_]+)(?![A-Za-z_])")
_NOT_PROSE = frozenset({"x", "X", "semit", "sulp", "sunim"})  # x, X, times, plus, minus reversed
# `a op b op c ...` and nothing else (ASCII digits, no separators, + - * / only, at most 16 numbers; spaces, tabs
# and `$` are skipped by the tokenizer too, `$12 + $4`): the tokens n, op, n, ..., which the parser turns into the
# usual left-associative tree, products before sums.
_CHAIN = re.compile(r"[ \t$]*[0-9]+(?:\.[0-9]+)?(?:[ \t$]*(?:[-+/]|\*(?!\*))[ \t$]*[0-9]+(?:\.[0-9]+)?){1,15}[ \t$]*")
_CHAIN_PART = re.compile(r"[0-9]+(?:\.[0-9]+)?|[-+*/]")


def _chain_tree(text: str) -> tuple | None:
    """The parser's tree for a `_CHAIN` text, or None when a number is longer than MAX_DIGITS (the parser's job)."""
    parts = _CHAIN_PART.findall(text)
    for number in parts[::2]:
        if len(number) - ("." in number) > MAX_DIGITS:
            return None
    total, sign = None, ""  # the sum so far and the operator that adds the product being built to it
    product = ("n", float(parts[0]))
    for index in range(1, len(parts), 2):
        op, operand = parts[index], ("n", float(parts[index + 1]))
        if op == "*" or op == "/":
            product = (op, product, operand)
        else:
            total = product if total is None else (sign, total, product)
            sign, product = op, operand
    return product if total is None else (sign, total, product)


def _parse_left(text: str, start: int, equals: int) -> tuple | None:
    left = text[start:equals]
    found = _NUMBER_AFTER_WORD.search(left[::-1])
    if found is not None:
        word_start = len(left) - found.end()
        if found.group(1) not in _NOT_PROSE and left[word_start - 1 : word_start] != "\\":
            left = left[len(left) - found.start() - 1 :]  # from the digit on
    if _CHAIN.fullmatch(left):
        tree = _chain_tree(left)
        if tree is not None:
            return tree
    tokens = trailing_expression(tokenize(left))
    # Prose can leave an unmatched `(` or a dangling operator at the front: drop leading tokens until it parses.
    for skip in range(min(len(tokens), 8)):
        try:
            return parse_tokens(tokens[skip:])
        except ExpressionError:
            continue
    return None


_FACTOR_AFTER = re.compile(r"[ \t]*(?:[A-Za-z](?![A-Za-z])|\()")


# `$p = 2/3$`, `$4/6=2/3$`: in LaTeX text a fraction in lowest terms written with a slash is a fraction result too
# (not `= 12/3 = 4`, an expression that the next `=` evaluates, nor `= 2/3 x`, a coefficient)
_SLASH_RESULT = re.compile(
    r"[ \t]*(?:\\[,;! ]|\\?\$|[ \t])*(?P<sign>[-−])?[ \t]*"
    r"(?P<number>[0-9]{1,9})[ \t]*/[ \t]*(?P<denominator>[0-9]{1,9})(?![0-9.,]|[ \t]*=|\\!)"
)


def _fraction_result(text: str, equals: int, position: int, unneeded: frozenset = frozenset()) -> Result | None:
    """A `= \\frac{a}{b}` result, or in LaTeX text `= a/b` in lowest terms; its left side is read unless its value
    is in `unneeded`."""
    match = _FRACTION_RESULT.match(text, position)
    if match is None and "\\" in text:
        match = _SLASH_RESULT.match(text, position)
        if match is not None and (
            math.gcd(int(match.group("number")), int(match.group("denominator"))) != 1
            or int(match.group("denominator")) == 1
        ):
            return None
    if match is None or int(match.group("denominator")) == 0:
        return None
    if _CONTINUES.match(text, match.end()) or _FACTOR_AFTER.match(text, match.end()):
        # `= \\frac{1}{2}x(2x-1)`: a coefficient; `= \\frac{15}{2}\\pi`: a result when the left side computes it
        return _fraction_monomial(text, equals, match, unneeded)
    start, end = match.span("number")
    value = Fraction(int(match.group("number")), int(match.group("denominator")))
    if value in unneeded:
        return Result(start, end, "unverified", None, value, int(match.group("denominator")), equals)
    tier, expression = "unverified", None
    node = _left_calculation(text, equals)
    if node is not None and has_operation(node):
        try:
            computed = polynomial(node)  # exact: 1/3 + 1/4 is 7/12, not 0.58333
        except (ExpressionError, ZeroDivisionError, OverflowError):
            computed = ()
        if len(computed) == 1 and abs(computed[0]) == value:
            tier, expression = "verified", node
    return Result(start, end, tier, expression, value, int(match.group("denominator")), equals)


# `= \\frac{15}{2}\\pi`, `= \\frac{3}{4}x`: a fraction times one symbol, nothing more of the product after it
_FRACTION_SYMBOL = re.compile(
    r"[ \t]*(?P<symbol>\\pi(?![A-Za-z])|(?<![A-Za-z\\])[A-Za-z](?![A-Za-z(]))"
    r"(?:\^[ \t]*(?:\{[ \t]*(?P<braced>[0-9])[ \t]*\}|(?P<power>[0-9])))?"
    r"(?![A-Za-z0-9]|[ \t]*(?:[-+*/^×÷·(\[{!−A-Za-z]|\\(?:cdot|times|div|[dt]?frac|sqrt|pi|left)(?![A-Za-z])))"
)


def _fraction_monomial(text: str, equals: int, match: re.Match, unneeded: frozenset) -> Result | None:
    """A `= \\frac{15}{2}\\pi` result when its left side computes that coefficient of the symbol (`\\frac{3}{4}(2\\pi
    (5))`), else None: an unchecked fraction before a symbol is as often a formula's coefficient (`\\frac{4}{3}\\pi`)."""
    found = _FRACTION_SYMBOL.match(text, match.end())
    value = Fraction(int(match.group("number")), int(match.group("denominator")))
    if found is None or (value in unneeded and not match.group("sign")):
        return None
    power = int(found.group("braced") or found.group("power") or 1)
    if not _left_computes_monomial(text, equals, found.group("symbol"), power, value):
        return None
    start, end = match.span("number")
    return Result(start, end, "verified", None, value, int(match.group("denominator")), equals)


def _verify_surd(text: str, equals: int, coefficient: Fraction, radicand: int) -> str:
    """ "verified" when the left side of the `=` evaluates to `coefficient` times the square root of `radicand`."""
    node = _left_calculation(text, equals)
    if node is None or not has_operation(node):
        return "unverified"
    try:
        value = abs(evaluate(node))
    except ExpressionError:
        return "unverified"
    expected = float(coefficient) * math.sqrt(radicand)
    return "verified" if abs(value - expected) <= 1e-9 * max(1.0, expected) else "unverified"


def _monomial_result(text: str, equals: int, position: int, unneeded: frozenset = frozenset()) -> Result | None:
    """A `= 12\\pi` / `= 4x` result; its left side is read unless its value is in `unneeded`."""
    match = _MONOMIAL_RESULT.match(text, position)
    if match is None:
        return None
    start, end = match.span("number")
    value = _fraction(match.group("number"))
    symbol = match.group("symbol")
    tier = "unverified"
    if symbol.startswith("\\sqrt"):  # `\\sqrt{2\\cdot169}=13\\sqrt2`: the left computes 13 times the root
        if value not in unneeded or match.group("sign"):
            tier = _verify_surd(text, equals, value, int(match.group("radicand") or match.group("digit")))
    elif value and (value not in unneeded or match.group("sign")):
        power = int(match.group("braced") or match.group("power") or 1)
        if _left_computes_monomial(text, equals, symbol, power, value):
            tier = "verified"
    return Result(start, end, tier, None, value, None, equals)


def _left_computes_monomial(text: str, equals: int, symbol: str, power: int, value: Fraction) -> bool:
    """Whether the left side of the `=` at `equals` is, exactly, `value` times `symbol` to `power` (`2\\pi \\cdot 6`
    for `12\\pi`, `\\frac{3}{4}(2\\pi(5))` for `\\frac{15}{2}\\pi`); the sign is not compared."""
    if power > MAX_DEGREE:
        return False
    low = max(0, equals - MAX_LEFT_CHARS)
    line_start = max(text.rfind("\n", low, equals), text.rfind("=", low, equals), text.rfind("$", low, equals)) + 1
    found = left_polynomial(text, max(line_start, low), equals)
    if found is None:
        return False
    coefficients, names = found
    expected = [Fraction(0)] * power + [value]
    return names == {"π" if symbol == "\\pi" else symbol} and [abs(c) for c in coefficients] == expected


# Where the right side of an `=` ends: a line break, a math delimiter (not `\\$`), `\\]`, `\\\\`, a clause break
_RIGHT_STOP = re.compile(r"\n|(?<!\\)\$|\\\]|\\\\|[.,;:] |=")
_TERM_EDGE = frozenset("^_{}")
_SUM_SIGNS = frozenset("+-−")
# A number of a chain step: `NUMBER`, or one glued to the product command before it (`10\\cdot49`)
_TERM_NUMBER = re.compile(rf"(?:(?<=\\cdot)|(?<=\\times)|(?<![0-9A-Za-z_.,])){DIGITS}{NUMBER_END}")
# A sign or product operator next to a number inside a group: the number is a term or factor of it
_SIGN_AFTER = re.compile(r"[ \t]*(?:[-+−*]|\\cdot(?![A-Za-z])|\\times(?![A-Za-z]))")
_SIGN_BEFORE = re.compile(r"(?:[-+−*]|\\cdot|\\times)[ \t]*\Z")
_DEGREES = re.compile(r"\^[ \t]*\{?[ \t]*\\circ(?![A-Za-z])")
# A right side that opens with a group or a coefficient rather than a number: `= \\sqrt{25+144}`, `= \\frac{16+50}{6}`,
# `= (15)(4)`, `= -\\left(63-60\\right)`.
_OPENS_GROUP = re.compile(r"[ \t]*-?[ \t]*(?:\\[dt]?frac(?![A-Za-z])|\\sqrt(?![A-Za-z])|\\left[ \t]*\(|\()")


def _is_term(text: str, start: int, stop: int) -> bool:
    """Whether the number at `start:stop` of a right side may be a term: not next to `^` or `_` (an exponent, a
    base, an index), and next to a brace only as a term of a sum inside the group (`\\frac{16+50}{6}`,
    `\\sqrt{25+144}`: 16 and 50, 25 and 144) or as a whole radicand or numerator (`\\sqrt{48}`, `\\frac{15}{64}`'s
    15), never another group's whole content (`\\frac{15}{64}`'s 64, `2^{10}`) nor in a group after `^` or `_` (an
    exponent or index: `2^{3+4}`)."""
    before, after = text[start - 1 : start], text[stop : stop + 1]
    if before not in _TERM_EDGE and after not in _TERM_EDGE:
        return True
    if after == "^" and _DEGREES.match(text, stop):  # `90^\\circ - 65^\\circ`: a degree sign is a unit
        return before not in _TERM_EDGE
    if before in "^_" or after in "^_":
        return False
    if before == "{":
        if after == "}":  # the whole group: a radicand (`\\sqrt{13 - 9} = \\sqrt{4}`) or a fraction's numerator
            return text.endswith("\\sqrt{", 0, start) or text.endswith("frac{", 0, start)
        if text[start - 2 : start - 1] in ("^", "_"):
            return False
        if not _SIGN_AFTER.match(text, stop):
            return False
    if after == "}":
        if not _SIGN_BEFORE.search(text, max(0, start - 12), start):
            return False
        brace = text.rfind("{", max(0, start - MAX_LEFT_CHARS), start)
        if brace < 1 or text[brace - 1] in "^_":
            return False
    return True


_DENOMINATOR = re.compile(r"\}[ \t]*\{[ \t]*([0-9]{1,9})[ \t]*\}")


def _numerator_of(text: str, start: int, stop: int) -> int | None:
    """The denominator when the number at `start:stop` is the whole numerator of `\\frac{N}{D}` (0 when D is not a
    plain number: the numerator is then no term), else None."""
    if text[start - 1 : start] != "{" or text[stop : stop + 1] != "}" or not text.endswith("frac{", 0, start):
        return None
    found = _DENOMINATOR.match(text, stop)
    return int(found.group(1)) if found else 0


def _right_expression(text: str, position: int) -> tuple[tuple, int] | None:
    """The arithmetic right of an `=` (from `position`) and where it ends, or None when there is none."""
    end = min(len(text), position + MAX_LEFT_CHARS)
    stop = _RIGHT_STOP.search(text, position, end)
    if stop is not None:
        end = stop.start()
    tokens: list[tuple[str, str]] = []
    ends: list[int] = []
    source = text
    if "\\circ" in text[position:end]:  # `= 90^\\circ - 65^\\circ`: degree signs are units (blanked, same length)
        source = text[:position] + without_degree_signs(text[position:end])
    for match in _TOKEN.finditer(source, position, end):
        index = match.lastindex
        if not index:
            continue
        kind = _KIND_BY_INDEX[index]
        if kind in "w?":
            break
        tokens.append((kind, match[index]))
        ends.append(match.end())
    for drop in range(min(len(tokens), 4)):
        part = tokens[: len(tokens) - drop]
        if len(part) < 3:
            return None
        try:
            return parse_tokens(part), ends[len(part) - 1]
        except ExpressionError:
            continue
    return None


_LOOSE_DIGITS = re.compile(DIGITS)  # every digit run, thousands separators included (`60,\\!000`)


def _may_have_new_number(text: str, equals: int, position: int, discard: frozenset | set) -> bool:
    """Whether the right of the `=` at `equals` has a number that `_chain_terms` could keep: any digit run (a
    superset of its terms) whose value is not 1, not on the left (read from where `_chain_terms` reads it, or
    later: a subset of what it excludes) and not dropped by `discard`. Cheap regex work only."""
    limit = min(len(text), position + MAX_LEFT_CHARS)
    found = _RIGHT_STOP.search(text, position, limit)
    end = found.start() if found is not None else limit
    values = set()
    for match in _LOOSE_DIGITS.finditer(text, position, end):
        start, stop = match.span()
        if stop - start <= 40 and (
            (text[start - 1] not in _TERM_EDGE and text[stop : stop + 1] not in _TERM_EDGE)
            or _is_term(text, start, stop)
        ):
            value = _fraction(match.group())
            if value != 1 and (value not in discard or unary_minus(text, start)):
                values.add(value)
    if not values:
        return False
    stop = _left_stop(text, equals)
    start = _left_start(text, stop)
    return not values <= {_fraction(number) for number in _TERM_NUMBER.findall(text, start, stop) if len(number) <= 40}


def _chain_terms(text: str, equals: int, position: int, discard: frozenset = frozenset()) -> list[Result]:
    """New numbers on the right of a checked equality: in `$1.50 + 5 \\cdot $0.25 = $1.50 + $1.25`, 1.25 (both
    sides evaluate to 2.75, and 1.25 is not on the left). Numbers next to `^`, `_` or braces are not terms.
    When every new number has a value in `discard` (given, and the caller drops it), the sides are not checked."""
    # A right side that opens with a group (`= \\frac{…}`, `= (…)`) is checked for a possible term first: most have
    # none (a plain fraction, a function's argument), and neither side need be parsed then
    if _RESULT.match(text, position) is None and not _may_have_new_number(text, equals, position, discard):
        return []
    right = _right_expression(text, position)
    if right is None:
        return []
    node, end = right
    if not has_operation(node):
        return []
    stop = _left_stop(text, equals)
    low = max(0, stop - MAX_LEFT_CHARS)
    line_start = max(text.rfind("\n", low, stop), text.rfind("=", low, stop), low)
    seen = {_fraction(number) for number in _TERM_NUMBER.findall(text, line_start, stop) if len(number) <= 40}
    terms = []
    for match in _TERM_NUMBER.finditer(text, position, end):
        start, stop = match.span()
        if stop - start > 40 or not _is_term(text, start, stop):
            continue
        value = _fraction(match.group())
        # a new 1 is a unit put in, not a result: `\\frac{0.1}{0.004}\\cdot\\frac{1000}{1000}`, `7^4-7^3=7^3(7-1)`
        if value not in seen and value != 1:
            denominator = _numerator_of(text, start, stop)
            if denominator is None:
                terms.append(Result(start, stop, "verified_term", None, value, None, equals))
            elif denominator and value != denominator:  # a numerator: compared and changed as the fraction
                terms.append(
                    Result(start, stop, "verified_term", None, Fraction(value, denominator), denominator, equals)
                )
    if not any(term.value not in discard or unary_minus(text, term.start) for term in terms):
        return []
    left = _left_expression(text, equals)
    # Both sides must compute: `117 = 9 \times 13` and `2001 = 3 \cdot 23 \cdot 29` write a number as a product,
    # whose factors are operands, not results
    if left is None or not has_operation(left):
        return []
    try:
        left_value, right_value = evaluate(left), evaluate(node)
    except ExpressionError:
        return []
    if abs(left_value - right_value) > 1e-9 * max(1.0, abs(left_value)):
        return []
    while node[0] == "sqrt" and left[0] == "sqrt":  # `\\sqrt{338} = \\sqrt{2\\cdot169}`: compare the radicands
        node, left = node[1], left[1]
    return _refactored(terms, left, node)


def _refactored(terms: list[Result], left: tuple, node: tuple) -> list[Result]:
    """`terms` of the right side `node` less the new factors of a product rewritten as a product that the left's
    factors do not compute."""
    factors = _direct_factors(node, 1, [])
    multiplied = sum(sign > 0 for _, sign in factors)
    if multiplied > 1 or len(factors) - multiplied > 1:  # `1/64` is a fraction, not a product
        # A product rewritten as another product: a new factor is a result only when the left's factors compute it
        # (`5 \\cdot 7 \\cdot 97 = 35 \\cdot 97`, `\\frac{180 \\cdot 4}{6} = 30 \\cdot 4`, `(1+2+4+8)(1+3) = (15)(4)`),
        # not when the product is factorised anew (`8 = 1 \\cdot 8 = 2 \\cdot 4`, `\\frac{14!}{11!3!} = \\frac{14 \\times
        # 13 \\times 12}{3 \\times 2 \\times 1}`): those factors are operands
        right_factors = {abs(value) for value, _ in factors}
        products = _factor_products(_direct_factors(left, 1, []))
        terms = [
            term
            for term in terms
            if float(term.value) not in right_factors
            or any(abs(product - float(term.value)) <= 1e-9 * max(1.0, product) for product in products)
        ]
    return terms


# Context steps: `(2\\cdot 3 + 5)^2 = 11^2`, `f(2^2-6)=f(-2)`, `32+8+4-6+r=38+r`, `\\sqrt{(-5-7)^2 + (-2-3)^2} =
# \\sqrt{144 + 25}`. A step that computes one part of an expression and carries the rest unchanged: both sides
# share a run of tokens before and after the part (the context), the two parts parse, the left part computes and
# both evaluate to the same value. How tightly each token binds, for the parts' edges: a part next to an operator
# must bind at least as tightly as that operator needs (`10 - 3 + 4 = 10 - 7` is no such step).
MAX_CONTEXT_TOKENS = 80  # longer sides are not compared token by token
# The binding a part needs next to an operator of the context (`_binding`'s scale): after `-` at least a product
# (`10 - 3 \\cdot 4 = 10 - 12`), after `/` at least a power, after `^` one operand; an operand of the context next to
# the part (`2\\sqrt{12}`) makes an implicit product, which needs a power or an operand
_NEEDS_BEFORE = {"+": 1, "-": 2, "*": 2, "/": 3, "^": 4}
_NEEDS_AFTER = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4, "!": 4, "%": 4}
_DIGIT = re.compile(r"[0-9]")
_DIGITS_RUN = re.compile(r"[0-9]+")
_SYMBOL = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")  # a one-letter symbol: a polynomial step may hold one
_SPACING_COMMANDS = frozenset(("\\ ", "\\!", "\\,", "\\;", "\\:"))


def _trimmed_end(text: str, start: int, end: int) -> int:
    """`end` moved back over trailing spacing (`(99+1)^3\\ = 100^3`): the tokenizer skips spacing only before a token."""
    while end > start:
        if end - 2 >= start and text[end - 2 : end] in _SPACING_COMMANDS:
            end -= 2
        elif text[end - 1] in " \t\n":
            end -= 1
        else:
            break
    return end


def _spanned_tokens(text: str, start: int, end: int) -> list[tuple[str, str, int, int]]:
    """The tokens of `text[start:end]` as (kind, text, start, end); degree signs are blanked (a unit)."""
    end = _trimmed_end(text, start, end)
    source = text
    if "\\circ" in text[start:end]:
        source = text[:start] + without_degree_signs(text[start:end])
    tokens = []
    for match in _TOKEN.finditer(source, start, end):
        index = match.lastindex
        if index:
            kind, written = _KIND_BY_INDEX[index], match[index].rstrip()
            if kind == "w" and ((len(written) == 1 and written.isascii() and written.isalpha()) or written == "\\pi"):
                kind = "v"  # a symbol: `x`, `\\pi` (`(x+3)(x-5) = x^2 - 2x - 15`, `2\\pi \\cdot 6 = 12\\pi`)
            tokens.append((kind, written, match.start(index), match.end(index)))
    return tokens


def _binding(tokens: list[tuple[str, str, int, int]]) -> int:
    """How tightly a part binds: 1 a sum (or a leading sign), 2 a product, 3 a power, 4 one operand."""
    loosest, depth, previous = 4, 0, ""
    for kind, _, _, _ in tokens:
        if kind == "(":
            if depth == 0 and previous in ("n", ")", "!", "%"):
                loosest = min(loosest, 2)  # `2(3+4)`: an implicit product
            depth += 1
        elif kind == ")":
            depth -= 1
        elif depth == 0:
            if kind in "+-":
                loosest = 1
            elif kind in "*/" or (kind in "nfs" and previous in ("n", ")", "!", "%")):
                loosest = min(loosest, 2)
            elif kind in "^!%":
                loosest = min(loosest, 3)
        previous = kind
    return loosest


def _part_fits(part: list, before: tuple | None, after: tuple | None) -> bool:
    """Whether `part`, between the context tokens `before` and `after`, is one operand of what surrounds it."""
    needed = 0
    if before is not None:
        needed = _NEEDS_BEFORE.get(before[0], 3 if before[0] in ("n", ")", "!", "%") else 0)
    if after is not None:
        needed = max(needed, _NEEDS_AFTER.get(after[0], 3 if after[0] in ("n", "(", "f", "s") else 0))
    return _binding(part) >= needed


def _after_prose(tokens: list) -> list:
    """The tokens after the last word or unknown character: the expression that ends a side, without its prose."""
    cut = max((i + 1 for i, token in enumerate(tokens) if token[0] in "w?"), default=0)
    return tokens[cut:]


def _balanced(tokens: list) -> bool:
    depth = 0
    for token in tokens:
        depth += (token[0] == "(") - (token[0] == ")")
        if depth < 0:
            return False
    return depth == 0


def _balanced_kinds(kinds: str, start: int, end: int) -> bool:
    """`_balanced` of the tokens whose kinds are `kinds[start:end]` (one character per token)."""
    opened = kinds.count("(", start, end)
    if opened != kinds.count(")", start, end):
        return False
    if not opened:
        return True
    depth = 0
    for kind in kinds[start:end]:
        if kind == "(":
            depth += 1
        elif kind == ")":
            depth -= 1
            if depth < 0:
                return False
    return True


def _context_parts(left: list, right: list) -> tuple[list, list, tuple | None, tuple | None] | None:
    """The parts of a context step (the left part, the right part, the context token before them and the one
    after), with the longest shared suffix and then the longest shared prefix that leave both parts whole."""
    # Each side's token kinds as one string (a character each), read with `str` methods for all the suffixes and
    # prefixes tried: the same answer as slicing and re-reading the token lists for each, at a third of the cost
    left_kinds, right_kinds = "".join([token[0] for token in left]), "".join([token[0] for token in right])
    left_count, right_count = len(left), len(right)
    most = 0
    while most < right_count - 1 and most < left_count - 1 and left[-1 - most][:2] == right[-1 - most][:2]:
        most += 1
    # where the right side's first tokens recur in the left side: each place with the length of the shared run
    runs = []
    if not right:
        return None
    first_kind, first_written = right[0][:2]
    at = left_kinds.find(first_kind)
    while at >= 0:
        if left[at][1] == first_written:
            size = 1
            while size < right_count and at + size < left_count and left[at + size][:2] == right[size][:2]:
                size += 1
            runs.append((at, size))
        at = left_kinds.find(first_kind, at + 1)
    symbol = "v" in right_kinds
    for suffix in range(most, -1, -1):
        left_end, right_end = left_count - suffix, right_count - suffix
        after = right[right_end] if suffix else None
        wanted = right_end - 1  # the right side's tokens that may be a shared prefix: all but its last
        # the last place of each prefix length (a place's run is cut at `wanted` and at the end of the left side)
        places: dict[int, int] = {}
        if wanted > 0:
            for at, size in runs:
                if at >= left_end:
                    break
                for length in range(1, min(size, wanted, left_end - at) + 1):
                    places[length] = at
        for prefix in [*sorted(places, reverse=True), 0]:
            if prefix + suffix == 0 and not symbol:
                return None  # no context: a plain `=`, read by the other rules (a polynomial step is read here)
            if prefix:
                if right_kinds[prefix - 1] in "fs":  # a `\\frac` or `\\sqrt` stays with its groups
                    continue
                part_start = places[prefix] + prefix
            else:  # the left part starts after the last word or unknown character (prose before the expression)
                part_start = max(left_kinds.rfind("w", 0, left_end), left_kinds.rfind("?", 0, left_end)) + 1
                opened = left_kinds.count("(", part_start, left_end) - left_kinds.count(")", part_start, left_end)
                while opened > 0 and part_start < left_end and left_kinds[part_start] == "(":  # `\\[(99+1)^3 = 100^3`
                    part_start, opened = part_start + 1, opened - 1
            if (
                part_start < left_end
                and _balanced_kinds(left_kinds, part_start, left_end)
                and _balanced_kinds(right_kinds, prefix, right_end)
            ):
                return (
                    left[part_start:left_end],
                    right[prefix:right_end],
                    (right[prefix - 1] if prefix else None),
                    after,
                )
    return None


def _number_power(tokens: list) -> bool:
    """Whether a number or a group is raised to a power (`5^2`, `(2\\cdot2)^2`; not a symbol's `x^2`)."""
    return any(kind == "^" and tokens[i - 1][0] in "n)" for i, (kind, *_) in enumerate(tokens) if i)


def _cached_tokens(text: str, start: int, end: int, cache: dict | None) -> list[tuple[str, str, int, int]]:
    """`_spanned_tokens`, once per span of a row: the right side of one `=` of a chain is the left side of the next."""
    if cache is None:
        return _spanned_tokens(text, start, end)
    # `a = b = c`: b's span as a right side ends before the space, as a left one at it; one key for both
    end = _trimmed_end(text, start, end)
    tokens = cache.get((start, end))
    if tokens is None:
        tokens = cache[start, end] = _spanned_tokens(text, start, end)
    return tokens


def _context_terms(text: str, equals: int, cache: dict | None = None) -> list[Result]:
    """The numbers a context step computes right of the `=` at `equals` (see `MAX_CONTEXT_TOKENS`): the part's
    value when the right part is one number (`11` in `= 11^2`), else its new terms (`144` and `25`)."""
    position = equals + 1
    if text[position : position + 12].lstrip(" \t\n$\\").startswith("boxed"):
        return []  # the final answer's box (the check on `right_text` below, before the right side's end is found)
    plain = _RESULT.match(text, position)
    if plain is not None and not _CONTINUES.match(text, plain.end()):
        return []  # `= 12`: one number, no context
    limit = min(len(text), position + MAX_LEFT_CHARS)
    found = _RIGHT_STOP.search(text, position, limit)
    end = found.start() if found is not None else limit
    while end > position and text[end - 1] in " \t.,;:":  # `= 2\\sqrt[4]{216}.\\]`: the sentence's stop
        end -= 1
    right_text = text[position:end].strip(" \t\n$\\")
    if not right_text or not _DIGIT.search(right_text) or right_text.startswith("boxed"):
        return []  # no number to find on the right, or only the final answer's box
    start, stop = _left_span(text, equals)
    left_text = text[start:stop].strip(" \t\n$\\")
    # cheap first: a shared suffix ends both sides with the same character, a shared prefix starts the right side
    # with characters the left side has; and the left side must compute something
    if not left_text:
        return []
    if left_text[-1] != right_text[-1] and right_text[:2] not in left_text:
        # no shared edge: only a polynomial step (`-(x+3)(x-5) = -x^2+2x+15`) can be read, and it writes a new number
        if not _SYMBOL.search(right_text) or set(_DIGITS_RUN.findall(right_text)) <= set(
            _DIGITS_RUN.findall(left_text)
        ):
            return []
    if not _MAY_OPERATE.search(left_text):
        return []
    right = _cached_tokens(text, position, end, cache)
    if len(right) < 2:  # before the left side is tokenised
        return []
    left = _cached_tokens(text, start, stop, cache)
    if len(left) < 3 or len(left) + len(right) > 2 * MAX_CONTEXT_TOKENS:
        return []
    found = _context_parts(left, right)
    terms = _part_terms(text, equals, *found) if found is not None else None
    if terms is None and any(token[0] == "v" for token in right):
        # `5^2 - 4 \\cdot 2 \\cdot k = 25 - 8k`: a polynomial step rewrites both whole sides (the shared `k` is no context)
        left_part = _after_prose(left)
        if found is not None and found[2] is None and found[3] is None and found[0] == left_part and found[1] == right:
            return []  # the parts were these whole sides already, and `_part_terms` refused them
        terms = _part_terms(text, equals, left_part, right, None, None) if _balanced(left_part) else None
    return terms or []


def _part_terms(
    text: str, equals: int, left_part: list, right_part: list, before: tuple | None, after: tuple | None
) -> list[Result] | None:
    """The numbers the right part of a context step computes, or None when it is not a computation of the left."""
    if before is not None and (before[0] == "^" or before[1] == "_" or text[before[2] - 1 : before[2]] in ("^", "_")):
        return None  # an exponent or an index (`2^{3+4} = 2^{7}`, `a_{2+1} = a_3`): not a result
    # the cheap refusals first, each the None that the parse or the checks after it would give: a word or an unknown
    # character (prose, `\\sin`, `&`: the parser reads neither), two symbols, a part that does not fit its context
    kinds = "".join([token[0] for token in left_part]) + "".join([token[0] for token in right_part])
    if "w" in kinds or "?" in kinds:
        return None
    symbols = {token[1] for token in left_part if token[0] == "v"} | {
        token[1] for token in right_part if token[0] == "v"
    }
    if len(symbols) > 1:
        return None
    if not _part_fits(left_part, before, after) or not _part_fits(right_part, before, after):
        return None
    try:
        left_node = parse_tokens([token[:2] for token in left_part])
        if not has_operation(left_node):
            return None
        right_node = parse_tokens([token[:2] for token in right_part])
        if symbols:  # `(x + 3)(x - 5) = x^2 - 2x - 15`: the same polynomial in its one symbol, exactly
            if polynomial(left_node) != polynomial(right_node):
                return None
        elif abs(evaluate(left_node) - evaluate(right_node)) > 1e-9 * max(1.0, abs(evaluate(left_node))):
            return None
    except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
        return None
    numbers = [token for token in right_part if token[0] == "n"]
    single = len(right_part) - (right_part[0][0] == "-") == 1 and bool(numbers)  # one number: the part's value
    if [token[0] for token in right_part] in (list("f(n)(n)"), list("n/n")) and numbers[0][1] != "0":
        # `\\frac{3}{6} \\cdot 11 = \\frac{1}{2} \\cdot 11`, `\\frac{a}{1-(-1/5)} = \\frac{a}{6/5}`: a fraction, changed
        # in its numerator
        (_, written, number_start, number_end), denominator = numbers[0], int(_fraction(numbers[1][1]))
        if denominator <= 0 or numbers[1][1] != str(denominator):
            return None
        value = Fraction(_fraction(written), denominator)
        return [Result(number_start, number_end, "verified_term", None, value, denominator, equals)]
    if not single and (
        (_number_power(right_part) and not any(token[0] == "^" for token in left_part))
        or (_binding(left_part) == 1 and _binding(right_part) == 2)
    ):
        return None  # a factorisation (`\\sqrt{8\\cdot50}=\\sqrt{(2\\cdot2)^2\\cdot5^2}`, `6+4\\sqrt2 = 2(3+2\\sqrt2)`): operands
    seen = {_fraction(token[1]) for token in left_part if token[0] == "n" and len(token[1]) <= 40}
    terms = []
    for _, written, number_start, number_end in numbers:
        if number_end - number_start > 40 or text[number_start - 1 : number_start] in ("^", "_"):
            continue
        value = _fraction(written)
        if not single and (value in seen or value == 1 or not _is_term(text, number_start, number_end)):
            continue
        denominator = _numerator_of(text, number_start, number_end)
        if denominator is None:
            expression = left_node if single else None
            terms.append(Result(number_start, number_end, "verified_term", expression, value, None, equals))
        elif denominator and value != denominator:
            terms.append(
                Result(
                    number_start, number_end, "verified_term", None, Fraction(value, denominator), denominator, equals
                )
            )
    if not single and terms:
        terms = _refactored(terms, left_node, right_node)
    return terms


MAX_FACTORS = 10  # factors of a product whose sub-products `_factor_products` lists (2**10 at most)


def _direct_factors(node: tuple, sign: int, found: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """The factors of a product tree with their side (1: multiplied, -1: divided): `\\frac{180 \\cdot 4}{6}` →
    180, 4 and 6 (divided); a sum, a power, a factorial or a root is one factor (its value)."""
    op = node[0]
    if op == "neg":
        return _direct_factors(node[1], sign, found)
    if op == "*" or op == "/":
        _direct_factors(node[1], sign, found)
        return _direct_factors(node[2], -sign if op == "/" else sign, found)
    try:
        found.append((evaluate(node), sign))
    except ExpressionError:
        pass
    return found


def _factor_products(factors: list[tuple[float, int]]) -> set[float]:
    """The magnitudes of the products of every non-empty sub-collection of `factors` (divided ones divide)."""
    products: set[float] = set()
    for value, sign in factors[:MAX_FACTORS]:
        if value == 0:
            continue
        factor = abs(value) if sign > 0 else 1 / abs(value)
        products |= {product * factor for product in products} | {factor}
    return products


# An `=` inside a subscript or superscript states a bound or an index: `\\sum_{k=0}^{7}`, `\\prod_{n = 1}`, `a_{i=2}`
_BOUND_BEFORE = re.compile(r"[_^]\{[ \t]*[A-Za-z][A-Za-z0-9]*[ \t]*\Z")


def _is_bound(text: str, equals: int) -> bool:
    # most `=` have no brace just before them: no regex (and no `max()` call: a third of this check's time)
    brace = text.rfind("{", equals - 12 if equals > 12 else 0, equals)
    return brace > 0 and text[brace - 1] in "_^" and _BOUND_BEFORE.search(text, brace - 1, equals) is not None


UNREAD = "unread"  # the tier of a result `direct_results` did not verify because the caller only needs its span


def direct_results(
    text: str,
    protected: Spans,
    discard: set[Fraction] | frozenset[Fraction] = frozenset(),
    unread: set[Fraction] | frozenset[Fraction] = frozenset(),
) -> tuple[list[Result], list[int]]:
    """The `= number` results (verified or unverified, fraction and monomial results included), and the positions
    of the `=` signs whose right side continues as an expression (where `chain_terms` looks).

    Two shortcuts for a caller that knows what it will do with a value, each saving the parse of the left side:
    a plain `= number` result whose value is in `discard` is left out (a number given in the question,
    `120x = 960`: a third of the results on MATH and SV/FOBAR text); one whose value is in `unread` gets the tier
    `UNREAD` (the final answer, `= 72` before `#### 72`: a third of the results on GSM8K text, of which at most one
    is ever used, as the `final_result` fallback); `verify_result` reads it when needed. Fraction and monomial
    results with such values are not verified either (the `final_result` fallback reads neither their tier nor
    their expression: a fraction's slip changes its numerator, a monomial has no expression)."""
    results = []
    continuing: list[int] = []
    grouped: list[int] = []
    unneeded = frozenset(discard) | frozenset(unread) if discard or unread else frozenset()
    result_at, continues_at = _RESULT.match, _CONTINUES.match
    for equals in _EQUALS.finditer(text):
        position = equals.end()
        if _is_bound(text, equals.start()):
            continue
        match = result_at(text, position)
        if match is None or continues_at(text, match.end()):
            if (match is None and "frac" in text[position : position + 16]) or (
                match is not None and text[match.end() : match.end() + 1] == "/"
            ):
                other = _fraction_result(text, equals.start(), position, unneeded)
            else:
                other = _monomial_result(text, equals.start(), position, unneeded)
            if other is not None:
                if (other.value not in discard or unary_minus(text, other.start)) and not (
                    protected and protected.overlaps(other.start, other.end)
                ):
                    results.append(other)
            elif match is not None:
                continuing.append(equals.start())
            elif _OPENS_GROUP.match(text, position):
                grouped.append(equals.start())
                if "(" in text[position : position + 12]:
                    results += [
                        found
                        for found in _tuple_results(text, equals.start(), position)
                        if (found.value not in discard or unary_minus(text, found.start))
                        and not (protected and protected.overlaps(found.start, found.end))
                    ]
            continue
        number = _readable_number(text, match, protected, discard)
        if number is None:
            continue
        start, end, form, written = number
        if written in unread:
            results.append(Result(start, end, UNREAD, None, written, None, equals.start()))
            continue
        tier, expression = _verify(text, equals.start(), match, form)
        results.append(Result(start, end, tier, expression, written, None, equals.start()))
    if "\\approx" in text:
        results += _approximate_results(text, protected, discard, unread)
    return results, continuing, grouped


def _readable_number(
    text: str, match: re.Match, protected: Spans, discard: set | frozenset
) -> tuple[int, int, NumberForm, Fraction] | None:
    """The span, form and value of `match`'s number, or None when it is protected, too long, or a discarded value
    (a given number, unless written with a unary minus)."""
    start, end = match.span("number")
    if (protected and protected.overlaps(start, end)) or end - start > MAX_NUMBER_CHARS:
        return None
    form = NumberForm.parse(match.group("number"))
    written = _form_value(form)
    if written in discard and not unary_minus(text, start):
        return None
    return start, end, form, written


_APPROX = re.compile(r"\\approx(?![A-Za-z])")


def _approximate_results(
    text: str, protected: Spans, discard: set | frozenset, unread: set | frozenset
) -> list[Result]:
    """`\\frac{1000}{23} \\approx 43.48`: a rounded result, kept only when its left side computes it to the written
    places (`\\pi \\approx 3.1416` states a constant and is left alone)."""
    found = []
    for approx in _APPROX.finditer(text):
        match = _RESULT.match(text, approx.end())
        if match is None or _CONTINUES.match(text, match.end()):
            continue
        number = _readable_number(text, match, protected, discard)
        if number is None or number[3] in unread:
            continue
        start, end, form, written = number
        tier, expression = _verify(text, approx.start(), match, form)
        if tier == "verified":
            found.append(Result(start, end, tier, expression, written, None, approx.start()))
    return found


# `= (3, 7)`, `= \\left(\\frac{27}{2}, -\\frac{11}{2}\\right)`: a tuple of 2 to 4 numbers or fractions
_TUPLE = re.compile(r"[ \t]*(?:\\left[ \t]*)?\(([^()=]{1,100}?)(?:\\right[ \t]*)?\)")
_COMPONENT = re.compile(
    r"[ \t]*(?P<sign>-)?[ \t]*(?:(?P<number>[0-9]{1,15}(?:\.[0-9]{1,6})?)"
    r"|\\[dt]?frac[ \t]*\{[ \t]*(?P<numerator>[0-9]{1,9})[ \t]*\}[ \t]*\{[ \t]*(?P<denominator>[0-9]{1,9})[ \t]*\})[ \t]*"
)


def _tuple_results(text: str, equals: int, position: int) -> list[Result]:
    """The components of a tuple result (`\\left(\\frac{2+4}{2}, \\frac{5+9}{2}\\right) = (3, 7)`), each verified
    when the left side is a tuple of as many expressions and the matching one computes it (a fraction component
    by its numerator, like a fraction result). Components that do not compute are not results."""
    match = _TUPLE.match(text, position)
    if match is None or "," not in match.group(1) or _CONTINUES.match(text, match.end()):
        return []
    right_parts = match.group(1).split(",")
    stop = _left_stop(text, equals)
    while stop and text[stop - 1] in " \t":
        stop -= 1
    if not 2 <= len(right_parts) <= 4 or text[stop - 1 : stop] != ")":
        return []
    # the left tuple: back from its closing bracket to the opening one at the same depth
    depth, index, low = 0, stop - 1, max(0, stop - MAX_LEFT_CHARS)
    commas = []
    while index >= low:
        char = text[index]
        if char in ")]}":
            depth += 1
        elif char in "([{":
            depth -= 1
            if depth == 0:
                break
        elif char == "," and depth == 1:
            commas.append(index)
        index -= 1
    if index < low or len(commas) + 1 != len(right_parts):
        return []
    closing = stop - (7 if text.endswith("\\right)", 0, stop) else 1)
    bounds = [index + 1, *sorted(comma + 1 for comma in commas)]
    ends = [*sorted(commas), closing]
    found = []
    offset = match.start(1)
    for part, left_start, left_end in zip(right_parts, bounds, ends):
        component = _COMPONENT.fullmatch(part)
        if component is not None:
            try:
                node = parse_expression(text[left_start:left_end])
                computed = polynomial(node) if has_operation(node) else ()
            except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
                computed = ()
            if len(computed) == 1:
                denominator = int(component.group("denominator") or 0) or None
                span = component.span("numerator" if denominator else "number")
                written = component.group("numerator") or component.group("number")
                value = Fraction(int(written), denominator) if denominator else _fraction(written)
                if abs(computed[0]) == value and (computed[0] < 0) == bool(component.group("sign")):
                    found.append(
                        Result(offset + span[0], offset + span[1], "verified", node, value, denominator, equals)
                    )
        offset += len(part) + 1
    return found


def _verify(text: str, equals: int, match: re.Match, form: NumberForm) -> tuple[str, tuple | None]:
    """("verified", left tree) when the left side of the `=` at `equals` computes the result `match` read, else
    ("unverified", None)."""
    node = _left_calculation(text, equals)
    if node is not None and has_operation(node):
        try:
            value = evaluate(node)
        except ExpressionError:
            value = None
        if value is not None:
            if match.group("sign"):
                value = -value  # `= -3`: compare magnitudes; the sign is outside the span and never changes
            end = match.end("number")
            percent = text.startswith("%", end) or text.startswith("\\%", end)
            if matches_result(value, form, percent):
                return "verified", node
    return "unverified", None


def verify_result(text: str, result: Result) -> Result:
    """An `UNREAD` result of `direct_results` with its tier and expression, as if it had been read there."""
    if result.tier != UNREAD:
        return result
    match = _RESULT.match(text, result.equals + 1)
    tier, expression = _verify(text, result.equals, match, NumberForm.parse(match.group("number")))
    return result._replace(tier=tier, expression=expression)


def chain_terms(
    text: str, continuing: list[int], protected: Spans, discard: frozenset | set = frozenset()
) -> list[Result]:
    """The `verified_term` results right of the given `=` positions (see `_chain_terms`)."""
    return [
        term
        for equals in continuing
        for term in _chain_terms(text, equals, equals + 1, discard)
        if not (protected and protected.overlaps(term.start, term.end))
    ]


def context_terms(text: str, protected: Spans) -> list[Result]:
    """The `verified_term` results of context steps (`(2\\cdot 3 + 5)^2 = 11^2`: 11) right of every `=`."""
    found: dict[int, Result] = {}
    cache: dict = {}
    for equals in _EQUALS.finditer(text):
        if _is_bound(text, equals.start()):
            continue
        for term in _context_terms(text, equals.start(), cache):
            if not (protected and protected.overlaps(term.start, term.end)):
                found.setdefault(term.start, term)
    return list(found.values())


def solve_unverified(text: str, results: list[Result]) -> list[Result]:
    """`results` with the unverified ones whose equation another equation confirms moved to the `solved` tier."""
    unverified = [result.equals for result in results if result.tier == "unverified" and result.equals >= 0]
    solved = solved_equals(text, unverified) if unverified else set()
    if not solved:
        return results
    return [
        result._replace(tier="solved") if result.tier == "unverified" and result.equals in solved else result
        for result in results
    ]


def find_results(text: str, protected: Spans | list[tuple[int, int]] | None = None) -> list[Result]:
    """Every result outside the final answer: `= number` results tiered "verified", "solved" or "unverified",
    and the "verified_term" numbers of checked equality chains (in text order)."""
    protected = _as_spans(protected, text)
    results, continuing, grouped = direct_results(text, protected)
    results = solve_unverified(text, results) + chain_terms(text, continuing + grouped, protected)
    return sorted(results, key=lambda result: result.start)


def _form_value(form: NumberForm) -> Fraction:
    """A written number's exact value (an int when whole: it hashes and compares as the equal Fraction, faster)."""
    if not form.decimals:
        return form.scaled  # type: ignore[return-value]
    whole, remainder = divmod(form.scaled, 10**form.decimals)
    return whole if not remainder else Fraction(form.scaled, 10**form.decimals)  # type: ignore[return-value]


def _fraction(written: str) -> Fraction:
    """The exact value of a plain written number, without `Fraction`'s slower string parsing."""
    if "," in written:
        written = written.replace("\\!", "").replace("{,}", "").replace(",", "")
    whole, _, decimals = written.partition(".")
    if not decimals or not decimals.strip("0"):
        return int(whole)  # type: ignore[return-value]  # an int hashes and compares as the equal Fraction, faster
    return Fraction(int(whole + decimals), 10 ** len(decimals))


def unary_minus(text: str, start: int) -> bool:
    """Whether the number starting at `start` is negative: a minus sign before it (spaces, `$` and `\\` between)
    that has no operand on its left (`= -9`, `(-2, 3)`, `$-5$`), not the binary minus of `12 - 9`."""
    index = start
    while index and text[index - 1] in " \t$\\":
        index -= 1
    if not index or text[index - 1] not in "-−":
        return False
    index -= 1
    while index and text[index - 1] in " \t$":
        index -= 1
    return not index or not (text[index - 1].isalnum() or text[index - 1] in ")}]!%.")


def negative_given_values(question: str) -> set[Fraction]:
    """The magnitudes of the question's negative numbers (`f(-1)`, `x = -3`): a negative result is given only when
    its magnitude is one of these (`-9` is not given by a 9)."""
    if "-" not in question and "−" not in question:
        return set()
    values = {
        _fraction(match.group())
        for match in _GIVEN.finditer(question)
        if len(match.group()) <= MAX_NUMBER_CHARS and unary_minus(question, match.start())
    }
    if "/" in question:  # `f^{-1}(-31/96)`
        for match in _GIVEN_SLASH.finditer(question):
            if int(match.group(2)) and unary_minus(question, match.start()):
                values.add(Fraction(int(match.group(1)), int(match.group(2))))
    return values


def _spelled_words(question: str) -> set[str]:
    """The spelled numbers among the question's runs of letters (`re.findall("[a-z]+", question.lower())`), at
    half the cost of that regular expression (every row asks): the runs are the bytes of the lower-cased text with
    every other character made a space (a non-ASCII one is `?` first), split."""
    if question.isascii():
        runs = question.encode().translate(_LETTERS_LOWERED).split()
    else:
        runs = question.lower().encode("ascii", "replace").translate(_LETTERS_LOWERED).split()
    return {word.decode() for word in _SPELLED_BYTES.intersection(runs)}


def given_values(question: str) -> set[Fraction]:
    """The values of the numbers in the question (loosely found: `2x`'s 2 counts), fractions included
    (`\\frac{31}{96}` and `31/96`: the fraction 31/96 too)."""
    values = set()
    for text in set(_GIVEN.findall(question)):
        if len(text) <= MAX_NUMBER_CHARS:
            values.add(_fraction(text))
    if "frac" in question:
        for numerator, denominator in _GIVEN_FRACTION.findall(question):
            if int(denominator):
                values.add(Fraction(int(numerator), int(denominator)))
    if "/" in question:
        for numerator, denominator in _GIVEN_SLASH.findall(question):
            if int(denominator):
                values.add(Fraction(int(numerator), int(denominator)))
    words = _spelled_words(question)
    if words & _TENS:  # `twenty-four` is 24 (rare: read with the pattern)
        for tens, units in _GIVEN_WORD.findall(question.lower()):
            values.add(_WORD_VALUES[tens] + (_WORD_VALUES[units] if units else 0))
    else:
        values.update(_WORD_VALUES[word] for word in words)
    return values


def _answer_value(answer: str) -> frozenset[Fraction]:
    # "We are given that the answer is 18, so we can write: 3x - 6 = 18.": the answer is what precedes the clause
    for stop in (", so ", ", we ", ", which ", "; ", ". ", " so "):
        answer = answer.split(stop, 1)[0]
    answer = answer.strip(" \t.$")
    if not answer or len(answer) > 200:
        return frozenset()
    if "=" in answer:  # "so the answer is $6840+120=\\boxed{6960}$": the answer is what the last `=` gives
        answer = answer.rsplit("=", 1)[1].strip(" \t.$")
    if answer.startswith("\\boxed{") and answer.endswith("}"):
        answer = answer[7:-1].strip(" \t.$")
    return _plain_answer_value(answer.replace("\\%", "").replace("%", "").replace("\\$", "").strip())


# `#### 72` and `The answer is: 72` state the same answer, and so do ` \frac{7}{12}` after `The answer is:` and
# the `\frac{7}{12}` in the box: cached on the answer as read, after its spacing and clauses are cut.
@lru_cache(maxsize=256)
def _plain_answer_value(plain: str) -> frozenset[Fraction]:
    match = _ANSWER_NUMBER.fullmatch(plain)
    if match:
        return frozenset({_fraction(plain.lstrip("-"))})
    try:
        computed = polynomial(parse_expression(plain))
        if len(computed) == 1:
            return frozenset({abs(computed[0])})
    except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
        pass
    # A tuple, an interval or an expression with a surd: every number written in it is part of the answer
    return frozenset(
        _fraction(number.lstrip("-")) for number in _ANSWER_NUMBER.findall(plain) if len(number) <= MAX_NUMBER_CHARS
    )


def final_answer_values(text: str, lines: list[re.Match] | None = None) -> set[Fraction]:
    """The magnitudes of the final answer, from every place it is stated: `#### X`, `The answer is: X`,
    `The value of x is X` and the last `\\boxed{X}`."""
    if lines is None:
        lines = answer_lines(text)
    values: set[Fraction] = set()
    for match in lines:
        values |= _answer_value(match.group("answer"))
    boxed = _boxed_spans(text)
    if boxed:
        start, end = boxed[-1]
        opening = text.find("{", start) + 1
        values |= _answer_value(text[opening : end - 1 if text[end - 1 : end] == "}" else end])
    return values


_BOXED_NUMBER = re.compile(
    rf"[ \t$]*-?[ \t]*(?:(?P<number>{DIGITS})|\\[dt]?frac[ \t]*\{{[ \t]*(?P<numerator>[0-9]{{1,9}})[ \t]*\}}"
    r"[ \t]*\{[ \t]*(?P<denominator>[0-9]{1,9})[ \t]*\})[ \t$]*\}"
)


_LOOSE_NUMBER = re.compile(r"(?<![0-9.A-Za-z])[0-9]+(?:\.[0-9]+)?(?![0-9])|\\[dt]?frac([0-9])([0-9])(?![0-9])")


def _leading_boxed_number(text: str, opening: int, end: int) -> Result | None:
    """The first number of a box holding an expression (`360\\pi`, `162x^4`, `2y`, `(2,-3)`, `\\frac38`) that
    is not an exponent, an index or a `\\frac{}{}`/`\\sqrt{}` operand: the leading term of the final result."""
    for number in _LOOSE_NUMBER.finditer(text, opening, end):
        if number.group(1) is not None:  # `\frac38`: the numerator digit, the fraction kept in lowest terms
            denominator = int(number.group(2))
            if denominator == 0:
                continue
            value = Fraction(int(number.group(1)), denominator)
            return Result(*number.span(1), "final_result", None, value, denominator)
        start, stop = number.span()
        before = text[start - 1]
        if before in "^_" or (before == "{" and start - 1 != opening - 1) or stop - start > MAX_NUMBER_CHARS:
            continue
        form = NumberForm.parse(number.group())
        return Result(start, stop, "final_result", None, _form_value(form))
    return None


def boxed_result(text: str) -> Result | None:
    """The number in the last `\\boxed{N}` (or the numerator of `\\boxed{\\frac{a}{b}}`), for the `final_result`
    fallback of solutions whose last calculation ends in the box: `$130-62=\\boxed{68}$`."""
    boxed = _boxed_spans(text)
    if not boxed:
        return None
    start, end = boxed[-1]
    opening = text.find("{", start) + 1
    match = _BOXED_NUMBER.match(text, opening)
    if match is None:
        return _leading_boxed_number(text, opening, end)
    if match.group("number") is not None:
        number_start, number_end = match.span("number")
        if number_end - number_start > MAX_NUMBER_CHARS:
            return None
        form = NumberForm.parse(match.group("number"))
        return Result(number_start, number_end, "final_result", None, _form_value(form))
    denominator = int(match.group("denominator"))
    if denominator == 0:
        return None
    number_start, number_end = match.span("numerator")
    value = Fraction(int(match.group("numerator")), denominator)
    return Result(number_start, number_end, "final_result", None, value, denominator)


def other_numbers(
    text: str, protected: Spans | list[tuple[int, int]] | None = None, discard: frozenset | set = frozenset()
) -> list[Result]:
    """Numbers in the reasoning that stand alone as a statement (`which makes 210 pages`): not in the final
    answer, not a step label, not an operand, base, exponent, index or bound (`\\frac{1}{4}`, `2^5`, `x_3`,
    `less than 5`). Which of them may change is decided with the question (see corruption.py); those whose value
    is in `discard` (given, and the caller drops them) are left out before the other checks."""
    protected = _as_spans(protected, text)
    results = []
    for match in NUMBER.finditer(text):
        start, end = match.span()
        if end - start > MAX_NUMBER_CHARS or protected.overlaps(start, end):
            continue
        value = None
        if discard:
            value = _form_value(NumberForm.parse(match.group()))
            if value in discard and not unary_minus(text, start):
                continue
        if _OPERAND_AFTER.match(text, end) or text.startswith("(", end):  # `is 8(11 + 13 + 27)`: a coefficient
            continue
        before = max(0, start - 24)
        if _operand_before(text, before, start):
            continue
        if _LIST_ITEM_BEFORE.search(text, before, start):
            continue
        if _is_marker(text, start, end):
            continue
        tier = "stated" if _STATED_BEFORE.search(text, before, start) else "any_number"
        if value is None:
            value = _form_value(NumberForm.parse(match.group()))
        results.append(Result(start, end, tier, None, value))
    return results


def find_other_numbers(text: str, question: str = "", protected: list[tuple[int, int]] | None = None) -> list[Result]:
    """`other_numbers` without those whose value is given in the question (kept for callers of version 1)."""
    given = given_values(question)
    return [result for result in other_numbers(text, protected) if result.value not in given]
