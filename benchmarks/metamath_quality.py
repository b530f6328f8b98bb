"""How good are the metamath builder's corruptions on real, human-written text, per MetaMathQA row type?

Three sets from benchmarks/metamath_sets.py: GSM8K (8,792 GSM_AnsAug rows), MATH (7,498 MATH_AnsAug rows) and
SV/FOBAR rows derived from both (and, as `gsm8k_builder`, the GSM8K rows through the gsm8k builder, which reads
the calculator annotations). The metamath builder's per-row function runs on every row; each pair is then
judged by this script's own code, not by the builder's pair columns (only `tier` is read, to group pairs):

- the changed number: numbers are found with a regex of our own, the texts with numbers masked must be
  identical and exactly one number must differ in value ("more than one number" counts the rest);
- answer lines untouched: `#### X`, `The answer is: X` and `The value of x is N` lines; separately, every
  `\\boxed{…}` (the issue counts its content as the final answer; a `final_result` fallback may change it);
- changes the final answer: the changed number (or the `\\frac{…}{…}` it sits in, when in lowest terms) equals the
  value on the `The answer is:` line (read without a `\\text{ units}` or degree sign), is one of the numbers of
  an answer made of several (a point's coordinates, an interval's ends, a list), or lies inside a verbatim
  restatement of that answer;
- in the question: its value is one of the numbers written in the query, in digits or in words (`eleven`; not
  `one`, mostly a pronoun);
- intermediate result: right of an `=` and not followed by an operator, a factorial's `!` or (in LaTeX math) a
  factor, so a result and not an operand, exponent or coefficient, and not the 0 of an equation set to zero
  (`x^2 - 4x + 3 = 0`); or the value of a computed term or factor of the previous side of a chain
  (`= 9^2 - 12 = 81 - 12`); or, in LaTeX math, a new number of a context step, one part computed and the rest
  carried (`(2\\cdot 3 + 5)^2 = 11^2`, `m + 2m + 3m + 1 = 6m + 1`: the sides share their text before and after,
  the differing parts evaluate equal, or the whole sides are the same polynomial in up to three variables; surds,
  π, binomials and factorials are compared in floating point, to 1e-9); or, in LaTeX math, a new coefficient of
  an equation that rearranges, scales or expands one of the three before it (`3x = 400 - 7x` … `10x = 400`: the
  differences of the sides proportional at seven points); and neither the answer nor a number of the question.
  "confirmed"
  additionally needs our own exact evaluator to compute the `=`'s left side to that value (SV/FOBAR left sides
  linear in x are evaluated at the row's answer, the value of x).

Per set and per type it prints coverage, the tier mix, these shares and the builder's CPU time per row, then
PASS/FAIL for the issue's targets (the intermediate target twice: on the builder's tiers, as the issue words it,
and on this judge's stricter reading).

    python benchmarks/metamath_quality.py [--seed 0] [--sets gsm8k math sv_fobar gsm8k_builder] [--examples 10]
                                          [--json out.json] [--markdown] [--distances] [--disagreements N]
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Indel, Levenshtein

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metamath_sets  # noqa: E402
from metamath_sets import Parser, Unsupported, constant, evaluate, tokenize  # noqa: E402

from prefbuild.builders import gsm8k, metamath  # noqa: E402

NUMBER_TOKEN = re.compile(r"(?<![\d.])(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)")  # deliberately not the builder's regex
LATEX_THOUSANDS = re.compile(r"(?<=\d)(?:,\\!|\{,\})(?=\d{3})")
ANSWER_LINE = re.compile(r"^(?:####.*|.*The answer is:.*|.*The value of [xX] is .*)$", re.MULTILINE)
BOXED = re.compile(r"\\boxed\{")
# Units and words written after an answer: `2 \\text{ euros}`, `0.4\\mbox{ miles}`, `30^\\circ`
ANSWER_UNIT = re.compile(r"\\(?:text|mbox)\{[^{}]*\}|\^\{?\\circ\}?")
ASY = re.compile(r"\[asy\].*?(?:\[/asy\]|\Z)", re.DOTALL)
FRACTION_PARTS = re.compile(r"\d+")  # the numerator and denominator of a `\frac{a}{b}` or `a/b`
BRACELESS_BEFORE = re.compile(r"\\[dt]?frac\s*\Z")
BRACELESS_FRAC = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
FRAC_AROUND = re.compile(r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")  # spaces too: `\\frac {73}{8}`
# In LaTeX math, `a/b` between two bare integers is a fraction too (`$12/14 = 6/7$`, `$(1/4)^3 = 1/64$`)
SLASH_OR_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|(?<![\d.^_])(\d+)/(\d+)(?![\d.])")
# An operand, coefficient or base, not a result: `= 24 + 3`, `= 3x`, `= 2\\pi`, `= 2^5`, `= 3 x 4` (GSM8K's times)
OPERATOR_AFTER = re.compile(
    r"(?:[ \t]*(?:[-+*/^×÷(]|\\cdot|\\times|\\div|x[ \t]+\$?\d)|[A-Za-z]|!"  # `= 4!`: the factorial's operand
    # a LaTeX factor, also after a space: `= 2 \\cos 5x`, `= \\frac{1}{2} \\log_2 x`, `= \\frac{1}{9} \\left(…\\right)`
    r"|[ \t]*\\(?:pi|sqrt|frac|dfrac|tfrac|cdot|times|left|log|ln|sin|cos|tan|cot|sec|csc|exp|mathbf|binom)(?![A-Za-z]))"
)
# One symbol after a coefficient, and nothing more of the product: `x`, `x^2`, `n`, `\sqrt{6}`, `\pi`
MONOMIAL_AFTER = re.compile(r"[ \t]*(?:[A-Za-z](?![A-Za-z])(?:\^\{?\d\}?)?|\\sqrt\s*\{?\d+\}?|\\pi(?![A-Za-z]))")
MATH_FACTOR_AFTER = re.compile(r"[ \t]*[A-Za-z(]")  # in LaTeX math, `= 2 m(...)` / `\frac{1}{2} h`: a factor
MATH_ENVIRONMENT_BEGIN = re.compile(r"\\begin\{(?:align|aligned|alignat|eqnarray|equation|gather|multline|split)\*?\}")
MATH_ENVIRONMENT_END = re.compile(r"\\end\{(?:align|aligned|alignat|eqnarray|equation|gather|multline|split)\*?\}")
EQUALS_BEFORE = re.compile(r"(?:=|\\approx)\s*(?:\\\$|\$|\\left\(|\(|-|\{)*\s*$")
TOKENS = re.compile(r"[0-9]|[A-Za-z]+|[^\sA-Za-z0-9]")  # a crude subword proxy: digits split, as in Llama
SETS = ("gsm8k", "math", "sv_fobar", "gsm8k_builder")
REFERENCE_TIERS = ("verified", "unverified", "any_number", "final_result")
NOT_INTERMEDIATE_TIERS = ("equation_zero", "any_number", "final_result")  # the builder's own word on what is not

# The issue's targets: (set, figure, comparison, bound)
TARGETS = [
    ("gsm8k", "coverage", ">=", 0.995),
    ("math", "coverage", ">=", 0.97),
    # "Intermediate results (not any_number, not final_result)": the builder's tiers, and our judge's own reading
    ("gsm8k", "intermediate_tiers", ">=", 0.92),
    ("gsm8k", "intermediate", ">=", 0.92),
    ("math", "intermediate_tiers", ">=", 0.55),
    ("math", "intermediate", ">=", 0.55),
    *[(name, "answer_lines_changed", "==", 0) for name in SETS],
    *[(name, "final_answer_outside_final_result", "<=", 0.01) for name in SETS],
    *[(name, "question_number_outside_final_result", "<=", 0.02) for name in SETS],
]


def normalise(text: str) -> str:
    return LATEX_THOUSANDS.sub("", text)


def value_of(token: str) -> Fraction:
    return Fraction(token.replace(",", ""))


@functools.lru_cache(maxsize=8)
def answer_value(response: str) -> tuple[str, Fraction | None]:
    """The text after the last `The answer is:` and its value when it is a number or a simple fraction."""
    if "The answer is:" in response:
        text = response.rsplit("The answer is:", 1)[-1].strip()
    else:  # the gsm8k builder's completions end with `#### X` only
        text = response.rsplit("####", 1)[-1].strip() if "####" in response else ""
    plain = ANSWER_UNIT.sub("", text)  # `2 \\text{ euros}`, `0.4\\mbox{ miles}`, `30^\\circ`: the number is the answer
    plain = plain.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "").replace(" ", "")
    plain = normalise(plain).replace("\\!", "")
    negative = plain.startswith("-")
    plain = plain.removeprefix("-")
    value = None
    if re.fullmatch(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+", plain):
        value = value_of(plain)
    elif match := re.fullmatch(r"\\[dt]?frac\{(\d+)\}\{(\d+)\}", plain):
        if int(match.group(2)):
            value = Fraction(int(match.group(1)), int(match.group(2)))
    elif match := re.fullmatch(r"(\d+)/(\d+)", plain):
        if int(match.group(2)):
            value = Fraction(int(match.group(1)), int(match.group(2)))
    if value is not None and negative:
        value = -value
    return text, value


@functools.lru_cache(maxsize=8)
def answer_parts(response: str) -> frozenset[Fraction]:
    """The numbers of an answer made of several: the coordinates of a point `(3, -1)`, the ends of an interval
    `[0,3)`, the members of a list `2, 3, \\text{ and } 4`. Each is (a part of) the final answer."""
    text, _ = answer_value(response)
    plain = ANSWER_UNIT.sub(" ", normalise(text)).replace("\\left", "").replace("\\right", "").replace("$", "")
    plain = re.sub(r"\\[!,;]|\\text\{\s*and\s*\}|\band\b", " ", plain).strip()
    plain = plain.strip("()[]").replace("\\{", "").replace("\\}", "")
    if "," not in plain or re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", plain.replace(" ", "")):
        return frozenset()  # one number (`1,000` is a thousand)
    values = set()
    for part in plain.split(","):
        part = part.replace(" ", "")
        negative = part.startswith("-")
        part = part.removeprefix("-")
        if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", part):
            value = Fraction(part)
        elif (frac := re.fullmatch(r"\\[dt]?frac\{(\d+)\}\{([1-9]\d*)\}", part)) is not None:
            value = Fraction(int(frac.group(1)), int(frac.group(2)))
        else:
            continue
        values.add(-value if negative else value)
    return frozenset(values)


def boxed_contents(text: str) -> list[str]:
    found = []
    for match in BOXED.finditer(text):
        depth, position = 1, match.end()
        while position < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        found.append(text[match.end() : position - 1])
    return found


def changed_numbers(chosen: str, rejected: str) -> tuple[list[tuple[re.Match, re.Match]], bool]:
    """The number tokens that differ in value, and whether everything outside the numbers is identical."""
    before, after = list(NUMBER_TOKEN.finditer(chosen)), list(NUMBER_TOKEN.finditer(rejected))
    same_shape = NUMBER_TOKEN.sub("#", chosen) == NUMBER_TOKEN.sub("#", rejected) and len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after) if value_of(a.group()) != value_of(b.group())]
    return changed, same_shape


def signed(text: str, match: re.Match) -> Fraction:
    """The token's value, negative when a unary minus is attached (`= -5`, `(-3`, `$-2`)."""
    value = value_of(match.group())
    start = match.start()
    if start and text[start - 1] == "-" and (start < 2 or not (text[start - 2].isalnum() or text[start - 2] in ")}")):
        return -value
    return value


def fraction_around(text: str, match: re.Match, slash: bool = False) -> tuple[int, int, Fraction] | None:
    """(start, end, value) of the `\\frac{a}{b}` (with `slash`, also the `a/b`) the number is a or b of."""
    pattern = SLASH_OR_FRAC if slash else FRAC_AROUND
    for frac in pattern.finditer(text, max(0, match.start() - 30), min(len(text), match.end() + 30)):
        if frac.start() <= match.start() and match.end() <= frac.end():
            numerator, denominator = (
                (frac.group(1), frac.group(2)) if frac.group(1) else (frac.group(3), frac.group(4))
            )
            return frac.start(), frac.end(), Fraction(int(numerator), int(denominator)) if int(denominator) else None
    return None


def in_boxed(text: str, position: int) -> bool:
    """Inside the braces of a `\\boxed{…}`."""
    for match in BOXED.finditer(text, 0, position):
        depth, index = 1, match.end()
        while index < position and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth and index == position:
            return True
    return False


def in_math(text: str, position: int) -> bool:
    """Inside `$…$`, `$$…$$`, `\\[…\\]` or a math environment (`align*`, `aligned`, `equation`, …)."""
    before = text[:position]
    displays = before.count("$$")  # `$$…$$` display math, then the single dollars of `$…$`
    dollars = len(re.findall(r"(?<!\\)\$", before.replace("$$", "")))
    return (
        displays % 2 == 1
        or dollars % 2 == 1
        or before.rfind("\\[") > before.rfind("\\]")
        or _last_start(MATH_ENVIRONMENT_BEGIN, before) > _last_start(MATH_ENVIRONMENT_END, before)
    )


def _last_start(pattern: re.Pattern, text: str) -> int:
    found = -1
    for match in pattern.finditer(text):
        found = match.start()
    return found


# Numbers a question spells out. Not `one`, which is mostly a pronoun or article (`one of the`, `no one`)
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
    if word != "one"
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
UNIT_WORDS = "one two three four five six seven eight nine".split()
NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")(?:-(" + "|".join(UNIT_WORDS) + r"))?\b", re.IGNORECASE)


@functools.lru_cache(maxsize=8)
def question_values(query: str) -> frozenset[Fraction]:
    query = normalise(query)
    values = {value_of(match.group()) for match in NUMBER_TOKEN.finditer(query)}
    # and the question's negative numbers (`f(-1)`, `x = -3`), which a signed result is compared with
    values |= {signed(query, match) for match in NUMBER_TOKEN.finditer(query)}
    for frac in FRAC_AROUND.finditer(query):
        if int(frac.group(2)):
            values.add(Fraction(int(frac.group(1)), int(frac.group(2))))
    for frac in BRACELESS_FRAC.finditer(query):  # `\\frac 56` is 5/6: its 5 and 6 are the question's too
        numerator, denominator = int(frac.group(1)), int(frac.group(2))
        values |= {Fraction(numerator), Fraction(denominator)} | (
            {Fraction(numerator, denominator)} if denominator else set()
        )
    # and the numbers it spells out: `eleven` is the question's 11, `twenty-four` its 24
    for match in NUMBER_WORD.finditer(query):
        tens, units = match.group(1).lower(), (match.group(2) or "").lower()
        values.add(Fraction(NUMBER_WORDS[tens] + (UNIT_WORDS.index(units) + 1 if units else 0)))
    return frozenset(values)


def _plain(latex: str) -> str:
    try:
        text = metamath_sets._latex_to_plain(latex)
    except Unsupported:
        return ""
    return text.replace("×", "*").replace("÷", "/").replace(" x ", " * ")


def _plain_words(text: str, has_unknown: bool) -> str:
    """GSM8K-style arithmetic with unit words dropped; `x` is the unknown in SV/FOBAR rows, else GSM8K's times."""
    if not has_unknown:
        return metamath_sets._written_calculation(text)
    text = text.replace("$", "").replace("%", "/100")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    return re.sub(r"[A-Za-z']{2,}|[A-WYZa-wyz]", " ", text)


def align_row_left(left: str) -> str:
    """The text before an `=` without the `&` of a LaTeX `align` row: `9-8+7\\times 6 &= 9-8+42` has 9-8+7\\times 6
    on its left. A row that opens with `&=` continues the row before it, whose right side up to its `\\\\` row
    break is the left side: in `&= 9-8+42 \\\\ &= 1 + 42`, 1 + 42 has 9-8+42 on its left."""
    stripped = left.rstrip()
    if not stripped.endswith("&"):
        return left
    stripped = stripped[:-1].rstrip()
    if stripped.endswith("\\\\"):  # `... \\ &=` on one line, or the `\\` that ends the row above
        return stripped[:-2].rstrip()  # (also when the `\\` opens this row's line: `…+1\n\\ &= …`)
    before, _, row = stripped.rpartition("\n")
    if not row.strip() and before.rstrip().endswith("\\\\"):
        return before.rstrip()[:-2]
    return stripped


def confirmed_by_evaluator(text: str, equals_at: int, value: Fraction, unknown: Fraction | None = None) -> bool:
    """Does some arithmetic suffix of the text before `=` evaluate to `value` (our own parser, exact)?

    With `unknown` (the value of x in SV/FOBAR rows, i.e. their answer), left sides linear in x count too:
    `9x = 18` is confirmed when 9 times the answer is 18.
    """
    latex = "\\" in text  # in GSM8K text `$` is the dollar sign, not a math delimiter
    left = align_row_left(text[max(0, equals_at - 120) : equals_at])
    for stop in ("\n", "=", ":", ";", "\\[", "\\approx", "\\\\", *(("$",) if latex else ())):
        cut = left.rfind(stop)
        if cut != -1:
            left = left[cut + len(stop) :]
    for start in range(len(left)):
        if not (left[start].isdigit() or left[start] in "(\\.") or (start and left[start - 1] not in " ($\\{"):
            continue
        candidate = _plain(left[start:].strip()) if latex else _plain_words(left[start:], unknown is not None)
        if not candidate or not re.search(r"[-+*/^]|\d\s*[xX]", candidate.lstrip("-")):
            continue
        try:
            tree = Parser(tokenize(candidate, variables=unknown is not None)).parse()
            result = evaluate(tree, lambda node: constant(node.value))
        except (Unsupported, ZeroDivisionError, ValueError, OverflowError):
            continue
        if result.at(unknown if unknown is not None else Fraction(0)) == value:
            return True
    return False


UNIT_AFTER = re.compile(r"\^\{?\\circ\}?|\\%|%")
# Before a term, factor or group member of a side: an operator, or the opening of a group that is not an exponent,
# an index or a function's argument (`\\sqrt{16 + 25}`, `\\frac{16+50}{6}`, `2(30)`, `(15)(4)`)
TERM_BEFORE = re.compile(r"(?:[-+*/]|\\cdot|\\times|\\div|(?<![\^_])\{|(?<![A-Za-z])\()\s*(?:\\\$|\$|\(|\{|-)*\s*$")


def _top_level_terms(text: str) -> list[str]:
    """`9^2 - 2 \\cdot 6` → [`9^2`, `2 \\cdot 6`]: split at + and - outside parentheses and braces."""
    terms, depth, current = [], 0, ""
    for index, char in enumerate(text):
        depth += char in "({["
        depth -= char in ")}]"
        if depth == 0 and char in "+-" and current.strip() and text[index - 1] not in "^{(":
            terms.append(current)
            current = ""
        else:
            current += char
    return [*terms, current]


# An operation in plain arithmetic: an operator, or an implicit product (`5(7)`, `(23+1)(12+1)`, `2(30)`)
OPERATION = re.compile(r"[-+*/^]|\d\s*\(|\)\s*[(\d]")
BRACED = re.compile(r"\{([^{}]*)\}")  # the innermost `{ … }` groups
PARENTHESISED = re.compile(r"(?:\\left)?\(([^()]*)(?:\\right)?\)")  # the innermost `( … )` groups


def _top_level_cuts(text: str) -> list[int]:
    """Positions of the + and - signs that separate the top-level terms of `text`."""
    cuts, depth, seen = [], 0, False
    for index, char in enumerate(text):
        depth += char in "({["
        depth -= char in ")}]"
        if depth == 0 and char in "+-" and seen and text[index - 1] not in "^{(":
            cuts.append(index)
        seen = seen or not char.isspace()
    return cuts


TOP_LEVEL_PRODUCT = re.compile(r"\\cdot|\\times|\\div|[*/]")


def _depth(text: str, position: int) -> int:
    """How many brackets are open at `position`."""
    depth = 0
    for char in text[:position]:
        depth += char in "([{"
        depth -= char in ")]}"
    return depth


def bracketed_groups(text: str) -> list[str]:
    """The contents of every balanced `(…)`, `[…]` and `{…}` group of `text`, inner groups included."""
    groups, stack = [], []
    for index, char in enumerate(text):
        if char in "([{":
            stack.append(index)
        elif char in ")]}" and stack:
            groups.append(text[stack.pop() + 1 : index])
    return groups


LEFT_STOPS = re.compile(r"\\(?:geq?|leq?|quad|Rightarrow|Longrightarrow|implies|approx)(?![A-Za-z])|[<>]")
TRAILING_STOPS = re.compile(rf"(?:\s*(?:{LEFT_STOPS.pattern}))+\s*\Z")
LEFT_WINDOW = 300  # characters read back from an `=`: a long align row (`p(4) &= (0 - 1)(0 - 2)… + 17 \\cdot 4`) fits


def left_side(text: str, equals_at: int, latex: bool) -> str:
    """The side before this `=`, back to the previous `=`, line, `$`, `\\[`, `:` or `;` (and an align row's `&`)."""
    left = align_row_left(text[max(0, equals_at - LEFT_WINDOW) : equals_at])
    for stop in ("\n", "=", ":", ";", "\\[", "\\\\", *(("$",) if latex else ())):
        cut = left.rfind(stop)
        while stop == "$" and cut > 0 and left[cut - 1] == "\\":  # `\$0.25` is a dollar sign, not a delimiter
            cut = left.rfind(stop, 0, cut - 1)
        if cut != -1:
            left = left[cut + len(stop) :]
    if latex:  # `2P \\ge 51 - (165 - 44\\sqrt{11}) = …`: a relation or an arrow ends the side too
        # (a row that ends in `\\quad\\Rightarrow` before its `\\\\ &=` keeps what comes before the arrows)
        trailing = TRAILING_STOPS.search(left)
        body = left[: trailing.start()] if trailing else left
        stops = list(LEFT_STOPS.finditer(body))
        left = body[stops[-1].end() :] if stops else body
    return left


RIGHT_STOPS = re.compile(
    r"\\\]|\\\\|\\approx|\\(?:q?quad|leq?|geq?|equiv|pmod|bmod|[Rr]ightarrow|Longrightarrow|implies|to)(?![A-Za-z])"
)


def right_side_end(text: str, equals_at: int) -> int:
    """Where the side after this `=` ends: at the next `=`, `$`, line, row break, `\\]`, `;`, `<`, `>`, `&`,
    `\\quad`, `\\approx`, `\\le`, `\\ge`, `\\equiv`, `\\pmod`, an arrow, or a `,` or `.` followed by a space,
    outside brackets (`\\left(` is no `\\le`)."""
    depth, index = 0, equals_at + 1
    while index < len(text):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index  # `\gcd(9118,611)` with `\text{gcd}(…` opened before the `=`: that group closes here
            depth -= 1
        elif char in "=$\n;<>&" or (char == "\\" and RIGHT_STOPS.match(text, index)):
            return index
        elif char in ",." and depth == 0 and (index + 1 == len(text) or text[index + 1].isspace()):
            return index
        index += 1
    return index


# Written without changing a value: spacing, `\left`/`\right`, degree signs
_SILENT = re.compile(r"\s+|\\[!,;]|\\left(?![A-Za-z])|\\right(?![A-Za-z])|\^\{?\\circ\}?")


def _squeezed(text: str, start: int, end: int) -> tuple[str, list[int]]:
    """text[start:end] without _SILENT parts, and the position in `text` of each character kept."""
    kept, positions, index = [], [], start
    while index < end:
        silent = _SILENT.match(text, index, end)
        if silent and silent.end() > index:
            if kept and kept[-1].isalpha() and text[silent.end() : silent.end() + 1].isalpha():
                kept.append(" ")  # `\\cdot x` stays two words, not `\\cdotx`
                positions.append(index)
            index = silent.end()
            continue
        kept.append(text[index])
        positions.append(index)
        index += 1
    return "".join(kept), positions


FLAT_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")


def _flat_plain(text: str) -> str:
    """Flat LaTeX arithmetic as plain text, `\\frac{42 \\times 41}{2}` included ("" when it is more than that)."""
    text = text.strip()
    while FLAT_FRAC.search(text):  # innermost first: the braces of a fraction hold an expression
        text = FLAT_FRAC.sub(r"((\1)/(\2))", text)
    return _plain(text)


def _value_of_latex(text: str) -> Fraction | None:
    """The exact value of flat LaTeX arithmetic; None when it has none (a variable, a root, a function)."""
    plain = _flat_plain(text)
    if not plain:
        return None
    try:
        result = evaluate(Parser(tokenize(plain)).parse(), lambda node: constant(node.value))
    except (Unsupported, ZeroDivisionError, ValueError, OverflowError):
        return None
    return None if result.depends else result.b


# Surds and π have no exact value in our evaluator; in floating point, `\\sqrt{4096} = 64` and
# `6^2\\pi - 3^2\\pi = 36\\pi - 9\\pi` still compare (to 1e-9). A separate small parser: no `eval`, only these tokens.
SURD_TOKEN = re.compile(
    r"\s+|(\d+(?:\.\d+)?|\.\d+)|\\[dt]?(?:frac|binom)(?![A-Za-z])|\\sqrt(?![A-Za-z])|\\pi(?![A-Za-z])|[-+*/^(){}\[\]!]"
)
SURD_WORDS = (("\\left", ""), ("\\right", ""), ("\\cdot", "*"), ("\\times", "*"), ("\\div", "/"))
SURD_LIMIT = 1e15
FLOAT_ONLY = re.compile(r"\^\{-|[-+*/^]|\\cdot|\\times|\\frac")  # `10^{-1}`, nested fractions: exact reading fails
SURD_OPERATION = re.compile(r"\\sqrt(?![A-Za-z])|\\pi(?![A-Za-z])")  # what only the floating-point check reads


def surd_value(latex: str) -> float | None:
    """The value of LaTeX arithmetic with `\\sqrt`, `\\sqrt[n]`, `\\frac` and `\\pi`, in floating point (None when
    it holds anything else: a variable, a function, a number too large)."""
    for command, plain in SURD_WORDS:
        latex = latex.replace(command, plain)
    tokens, position = [], 0
    while position < len(latex):
        match = SURD_TOKEN.match(latex, position)
        if match is None:
            return None
        if not match.group().isspace():
            tokens.append(match.group())
        position = match.end()
    if not tokens or len(tokens) > 200:
        return None
    parser = _SurdParser(tokens)
    try:
        value = parser.sum()
    except (ValueError, ZeroDivisionError, OverflowError, IndexError):
        return None
    return value if parser.position == len(tokens) else None


class _SurdParser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.position = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        self.position += 1
        return self.tokens[self.position - 1]

    def checked(self, value: float) -> float:
        if not math.isfinite(value) or abs(value) > SURD_LIMIT:
            raise ValueError("out of range")
        return value

    def sum(self) -> float:
        value = self.product()
        while self.peek() in ("+", "-"):
            value = self.checked(value + self.product() if self.take() == "+" else value - self.product())
        return value

    def product(self) -> float:
        value = self.unary()
        while self.peek() is not None and self.peek() not in ("+", "-", ")", "}", "]", "^", "!"):
            operator = self.take() if self.peek() in ("*", "/") else "*"  # `2\\sqrt{3}`, `(a)(b)`: implicit
            value = self.checked(value * self.unary() if operator == "*" else value / self.unary())
        return value

    def unary(self) -> float:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        return self.power()

    def power(self) -> float:
        value = self.atom()
        while self.peek() == "!":  # `5!`: small whole numbers only
            self.take()
            if value != int(value) or not 0 <= value <= 20:
                raise ValueError("factorial")
            value = float(math.factorial(int(value)))
        if self.peek() == "^":
            self.take()
            exponent = self.atom()
            if abs(exponent) > 12 or (value < 0 and exponent != int(exponent)):
                raise ValueError("exponent too large, or a root of a negative number")
            value = self.checked(value**exponent)
        return value

    def argument(self) -> float:
        """A command's argument: a `{…}` group, or one digit (`\\frac 14`)."""
        if self.peek() == "{":
            return self.atom()
        token = self.take()
        if not token[0].isdigit():
            raise ValueError("argument")
        if len(token) > 1:
            self.tokens.insert(self.position, token[1:])
        return float(token[0])

    def atom(self) -> float:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            mixed = self.tokens[self.position : self.position + 7]  # `2\\frac{1}{3}` is 2 + 1/3, a mixed number
            if (
                token.isdigit()
                and len(mixed) == 7
                and mixed[0].endswith("frac")
                and (mixed[1], mixed[3], mixed[4], mixed[6]) == ("{", "}", "{", "}")
                and mixed[2].isdigit()
                and mixed[5].isdigit()
                and 0 < int(mixed[2]) < int(mixed[5])
            ):
                self.position += 7
                return int(token) + int(mixed[2]) / int(mixed[5])
            return float(token)
        if token in ("(", "{", "["):
            value = self.sum()
            if self.take() != {"(": ")", "{": "}", "[": "]"}[token]:
                raise ValueError("unbalanced")
            return value
        if token == "\\pi":
            return math.pi
        if token.endswith("binom"):
            n, k = self.argument(), self.argument()
            if n != int(n) or k != int(k) or not 0 <= k <= n <= 200:
                raise ValueError("binomial")
            return self.checked(float(math.comb(int(n), int(k))))
        if token.endswith("frac"):
            numerator = self.argument()
            return self.checked(numerator / self.argument())
        if token == "\\sqrt":
            index = 2.0
            if self.peek() == "[":
                self.take()
                index = self.sum()
                if self.take() != "]" or index not in (2.0, 3.0, 4.0):
                    raise ValueError("root index")
            radicand = self.argument()
            if radicand < 0:
                raise ValueError("not real")
            return radicand ** (1 / index)
        raise ValueError(f"token {token!r}")


def _same_surd(left: str, right: str) -> bool:
    left_value, right_value = surd_value(left), surd_value(right)
    return left_value is not None and right_value is not None and math.isclose(left_value, right_value, rel_tol=1e-9)


# Five points fix a polynomial of degree 4 or less: sides equal at all five are the same polynomial
POINTS = (Fraction(2), Fraction(3), Fraction(-5, 7), Fraction(11, 3), Fraction(13))


def _same_polynomial(left: str, right: str) -> bool:
    """Are two LaTeX expressions in one and the same variable (`m + 2m + 3m`, `6m`) equal at every point?"""
    plain_left, plain_right = _flat_plain(left), _flat_plain(right)
    if not plain_left or not plain_right:
        return _same_surd_polynomial(left, right)
    left, right = plain_left, plain_right
    names = set(re.findall(r"[A-Za-z]+", left)) | set(re.findall(r"[A-Za-z]+", right))
    if not left or not right or len(names) != 1 or len(next(iter(names))) != 1:
        return False
    name = re.compile(rf"(?<![A-Za-z]){next(iter(names))}(?![A-Za-z])")
    for point in POINTS:
        values = []
        for side in (left, right):
            try:
                tree = Parser(tokenize(name.sub(f"({point})", side))).parse()
                values.append(evaluate(tree, lambda node: constant(node.value)).b)
            except Unsupported:  # beyond the exact evaluator (60 tokens and more): in floating point
                return _same_surd_polynomial(left, right)
            except (ZeroDivisionError, ValueError, OverflowError):
                return False
        if values[0] != values[1]:
            return False
    return True


# a prefix that ends in a command taking arguments, or in `^`, holds the part's operator (`\\frac`, not `\\times`)
CUT_ARGUMENT = re.compile(r"(?:\\(?:[dt]?frac|sqrt|d?binom|overline|text|mathrm)|[\^_])\Z")


def _unmatched(part: str) -> tuple[int, int]:
    """How many closing brackets of `part` open before it, and how many of its opening brackets close after it."""
    depth, closers = 0, 0
    for char in part:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth:
                depth -= 1
            else:
                closers += 1
    return closers, depth


def _whole_parts(a: str, b: str, prefix: int, suffix: int) -> tuple[int, int]:
    """Widen the differing parts of two sides to whole expressions: `\\frac{1\\cdot(\\sqrt{2}+2)}{…}` and
    `\\frac{\\sqrt{2}+2}{2-4}` differ from the `{` on, and the parts are the two fractions, not `1\\cdot(…}{…}`."""
    for _ in range(len(a) + len(b)):
        unmatched = [_unmatched(a[prefix : len(a) - suffix]), _unmatched(b[prefix : len(b) - suffix])]
        command = CUT_ARGUMENT.search(a[:prefix])
        widen_prefix = prefix and (unmatched[0][0] or unmatched[1][0] or command)
        # a shared suffix that opens with `{` is the last argument of a command in the parts (`\\frac{87}` + `{19}`)
        widen_suffix = suffix and (unmatched[0][1] or unmatched[1][1] or a[len(a) - suffix] == "{")
        if not widen_prefix and not widen_suffix:
            break
        if widen_prefix:
            prefix = command.start() if command else prefix - 1  # a command goes with its arguments, whole
        suffix -= bool(widen_suffix)
    return prefix, suffix


def _same_surd_polynomial(left: str, right: str) -> bool:
    """`\\sqrt{(t-2)^2+(t+4)^2}` and `\\sqrt{2t^2 + 4t + 20}`, `2\\pi r + \\pi r`, `\\pi (2r)^2(3h) = 12\\pi r^2 h`: up
    to three variables, surds or π, the same value at five points (each variable its own values), in floating
    point."""
    names = sorted(set(VARIABLE.findall(left)) | set(VARIABLE.findall(right)))
    if not 1 <= len(names) <= 3:
        return False
    patterns = [re.compile(rf"(?<![\\A-Za-z]){name}(?![A-Za-z])") for name in names]
    for point in POINTS:
        sides = [left, right]
        for index, pattern in enumerate(patterns):
            value = float(abs(point)) * (1 + 0.37 * index) + 0.11 * index  # unrelated values per variable
            sides = [pattern.sub(f"({value!r})", side) for side in sides]
        if not _same_surd(*sides):
            return False
    return True


def _whole_sides_agree(text: str, left_start: int, left_end: int, a: str, b: str, match: re.Match) -> bool:
    """When the differing parts are no whole expressions: both whole sides have the same value (floating point),
    and the left side never wrote the number."""
    written = {value_of(m.group()) for m in NUMBER_TOKEN.finditer(text, left_start, left_end)}
    return value_of(match.group()) not in written and _same_surd(a, b)


def is_context_step(text: str, equals_at: int, match: re.Match) -> bool:
    """Is the number part of a step that computes one part of an expression and carries the rest unchanged?

    `(2\\cdot 3 + 5)^2 = 11^2`, `f(2^2-6)=f(-2)`, `\\cos (300^\\circ - 360^\\circ) = \\cos (-60^\\circ)`,
    `32+8+4-6+r=38+r`, `\\frac{42 \\times 41}{2} = 21 \\times 41`. The two sides (spacing and degree signs aside)
    share a text before and after; what differs is, on the left, a computation, and on the right a part holding the
    number, and our evaluator gives both parts the same value; the number is not one the left part already wrote;
    and when both whole sides evaluate, they are equal too."""
    if BRACELESS_BEFORE.search(text, max(0, match.start() - 8), match.start()):
        return False  # `\\frac17`: the digits are a fraction's numerator and denominator, not the number 17
    left = left_side(text, equals_at, True)
    # an align row's left side ends before its `\\\\ &`, not at the `=`: find where the text holds it
    left_start = text.rfind(left, max(0, equals_at - LEFT_WINDOW - 10), equals_at) if left.strip() else -1
    if left_start == -1:
        return False
    left_end = left_start + len(left)
    end = right_side_end(text, equals_at)
    if match.end() > end:
        return False
    a, a_at = _squeezed(text, left_start, left_end)
    b, b_at = _squeezed(text, equals_at + 1, end)
    b = b.rstrip(".,")
    b_at = b_at[: len(b)]
    if not a or not b:
        return False
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    while prefix and (a[prefix - 1].isdigit() or a[prefix - 1] == "."):  # never split a number: `32+8…` / `38+r`
        prefix -= 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    while suffix and (a[len(a) - suffix].isdigit() or a[len(a) - suffix] == "."):
        suffix -= 1
    prefix, suffix = _whole_parts(a, b, prefix, suffix)
    left_part, right_part = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if not left_part or not right_part:
        return False
    part_start, part_end = b_at[prefix], b_at[len(b) - suffix - 1] + 1
    if not (part_start <= match.start() and match.end() <= part_end):
        return False
    exponent = re.search(r"[\^_]\{?$", text[max(0, match.start() - 2) : match.start()])
    if exponent and right_part.strip("{}") != match.group():
        # `(y-1)^3 - (y-1) + 1 = y^3 - 3y^2 + 2y + 1`: a new exponent inside a rewritten expression is the
        # expansion's, not a value; `2^{10+15} = 2^{25}` computes the exponent itself
        return False
    base = re.match(r"\s*\^", text[match.end() : part_end])
    if base and base.end() < part_end - match.end():
        # `\\sqrt{180} = \\sqrt{6^2}\\sqrt5`: a base whose power the part writes is a factorisation's; in
        # `(2\\cdot 3 + 5)^2 = 11^2` the power is shared and the part is the base alone
        return False
    left_text = text[a_at[prefix] : a_at[len(a) - suffix - 1] + 1]
    plain_left = _flat_plain(left_part)
    floating = not plain_left and (SURD_OPERATION.search(left_part) or FLOAT_ONLY.search(left_part))
    if not floating and (not plain_left or not OPERATION.search(plain_left.strip().lstrip("-"))):
        return False  # the left part must be a computation, not a number carried over
    alone = right_part.strip("{}() ") == match.group()  # `\\dfrac{6}{3\\times 2\\times 1} = ⟦1⟧`: the part's value
    if not alone and value_of(match.group()) in {value_of(m.group()) for m in NUMBER_TOKEN.finditer(left_text)}:
        return False  # a number the left part already wrote is carried, not computed
    if floating:  # `\\sqrt{4096}`, `6^2\\pi - 3^2\\pi`, `10^{-1}`: beyond the exact evaluator
        if VARIABLE.search(left_part) and not _same_surd(left_part, right_part):
            # `x^{-1} \\cdot \\frac{x}{2}`, `\\pi r^2`: in one variable, the whole sides at five points
            return _same_surd_polynomial(a, b)
        if surd_value(left_part) is None or surd_value(right_part) is None:
            # parts that are no whole expressions (`5\\sqrt{7}+…+7\\sqrt{5}+` against `6\\sqrt{7}+8`): the sides
            return _whole_sides_agree(text, left_start, left_end, a, b, match)
        if not _same_surd(left_part, right_part):
            return False
        whole_left, whole_right = surd_value(text[left_start:left_end]), surd_value(text[equals_at + 1 : end])
        return whole_left is None or whole_right is None or math.isclose(whole_left, whole_right, rel_tol=1e-9)
    left_value, right_value = _value_of_latex(left_part), _value_of_latex(right_part)  # degree signs dropped
    if left_value is None and re.search(r"[A-Za-z]", plain_left):
        # `m + 2m + 3m + 1 = 6m + 1`: in a variable, the whole sides must be the same polynomial
        return _same_polynomial(a, b)
    if left_value is not None and right_value is None:
        return _whole_sides_agree(text, left_start, left_end, a, b, match)  # `(…) = \\cdot\\frac{14+20}{35}`
    if left_value is None or left_value != right_value:
        return False
    whole_left, whole_right = _value_of_latex(text[left_start:left_end]), _value_of_latex(text[equals_at + 1 : end])
    return whole_left is None or whole_right is None or whole_left == whole_right


def is_chain_term(text: str, equals_at: int, value: Fraction, latex: bool, written: str | None = None) -> bool:
    """Is `value` the value of a computed part (not a bare number) of the side before this `=`: a term or factor
    (`= 9^2 - 12 = 81 - 12`), the first terms together (`25 - 12 + 9 = 13 + 9`) or a parenthesised group
    (`2(19+11) = 2(30)`)?"""
    if equals_at <= 0:
        return False
    left = left_side(text, equals_at, latex)
    if written and written in left:
        return False  # `\\frac{1}{2} \\times QA = \\frac{1}{2} \\times 2`: the same fraction carried over, an operand
    terms = _top_level_terms(left)
    factors = [factor for term in terms for factor in re.split(r"\\cdot|\\times|\*", term) if factor.strip()]
    leading = [left[:cut] for cut in _top_level_cuts(left)[1:]]  # `25 - 12` of `25 - 12 + 9`
    # and the first factors of a term together: `88 \\div 4` of `88 \\div 4 \\div 2`, `2^2\\cdot 3\\cdot 5` of `… \\cdot 11`
    for term in terms:
        cuts = [match.start() for match in TOP_LEVEL_PRODUCT.finditer(term) if _depth(term, match.start()) == 0]
        leading += [term[:cut] for cut in cuts[1:]]
    # Every bracketed group, nested or not, and its terms: `2(19+11) = 2(30)`, `(5^2 - 4^2)^3 = (25-16)^3`,
    # `\\dfrac{-5-5}{2-(-3)} = \\dfrac{-10}{5}`, `10\\sqrt[3]{3^3+4^3+5^3} = 10\\sqrt[3]{27+64+125}`
    groups = [part for group in bracketed_groups(left) for part in (group, *_top_level_terms(group))]
    for term in terms + factors + leading + groups:
        plain = _plain(term.strip()) if latex else metamath_sets._written_calculation(term)
        if not plain or not OPERATION.search(plain.strip().lstrip("-")):
            continue  # a bare number carried over is an operand, not a result
        try:
            # magnitudes: the sign stays outside the number (`8(-8) - 6(4) = -64 - 24`: 64 is the term 8(-8))
            if abs(evaluate(Parser(tokenize(plain)).parse(), lambda node: constant(node.value)).b) == abs(value):
                return True
        except (Unsupported, ZeroDivisionError, ValueError, OverflowError):
            continue
    return False


# A variable: a letter that is not part of a LaTeX command (`x`, `xy`, but not the `cdot` of `\cdot`)
VARIABLE = re.compile(r"(?<![\\A-Za-z])[A-Za-z](?![A-Za-z])")


def is_equation_set_to_zero(text: str, start: int, end: int, latex: bool) -> bool:
    """`xy - x + 3y = 0`, `(a - 2)(a + 1) = 0`: a right side that is a lone 0 and a left side that is a sum or a
    product in a variable (not a bare `y = 0` or `\\sin^2 x = 0`, which state a solved value)."""
    equals_at = text.rfind("=", 0, start)
    if (
        right_side_end(text, equals_at) < end
        or text[equals_at + 1 : start].strip(" ${(")
        or (text[end : right_side_end(text, equals_at)].strip(" )}.,"))
    ):
        return False
    left = re.split(
        r"\\(?:Rightarrow|Longrightarrow|implies|iff|quad|text\{[^{}]*\})|,\s", left_side(text, equals_at, latex)
    )[-1]
    # a sum (`x^2 - 4x + 3`, top-level + or -) or a product (`(a - 2)(a + 1)`, `b(b - 7)`, `\\cdot`); not one
    # term, `y`, `f(0)` or `\\sin^2 x`, whose value the 0 states
    operation = (
        _top_level_cuts(left.strip())
        or re.search(r"[\w)]\s*\([^()]*[-+][^()]*\)", left)
        or re.search(r"\\cdot|\\times", left)
    )
    return bool(VARIABLE.search(left)) and bool(operation)


# Seven points: two polynomials of degree 6 or less that agree at all seven are the same polynomial
STEP_POINTS = (2.0, 3.0, 5 / 7, 11 / 3, 13.0, 0.5, 1.75)
STATEMENT_BREAK = re.compile(
    r"\$|\n|\\\]|\\\[|[.,;:]\s|\\quad|\\text|\\Rightarrow|\\Longrightarrow|\\implies|\\begin\{[a-z]+\*?\}"
)
SPACING = re.compile(r"\\q?quad(?![A-Za-z])|\\[,;!: ]|&")  # LaTeX spacing and align tabs: no part of a side
FACTORED = re.compile(r"\)\s*(?:\\cdot\s*)?\(")  # `(x - 3)(x + 4)`: a factorisation's numbers are its roots'


def _equation_at(text: str, equals_at: int) -> tuple[int, int, str, str] | None:
    """(start, end, left, right) of the equation whose `=` is at `equals_at`: each side up to the next statement
    break (a `$`, a line, `\\\\[`, a clause's punctuation, `\\Rightarrow`) or another `=`."""
    breaks = [m.end() for m in STATEMENT_BREAK.finditer(text, max(0, equals_at - LEFT_WINDOW), equals_at)]
    start = max([breaks[-1] if breaks else max(0, equals_at - LEFT_WINDOW), text.rfind("=", 0, equals_at) + 1])
    stop = STATEMENT_BREAK.search(text, equals_at + 1, equals_at + LEFT_WINDOW)
    end = stop.start() if stop else min(len(text), equals_at + LEFT_WINDOW)
    following = text.find("=", equals_at + 1, end)
    end = following if following != -1 else end
    left, right = (
        SPACING.sub("", side).strip().rstrip(".,;:") for side in (text[start:equals_at], text[equals_at + 1 : end])
    )
    return (start, end, left, right) if left and right else None


def _difference_at(left: str, right: str, name: re.Pattern, point: float) -> float | None:
    values = [surd_value(name.sub(f"({point!r})", side.replace("&", ""))) for side in (left, right)]
    return None if None in values else values[0] - values[1]


def is_equation_step(text: str, match: re.Match) -> bool:
    """Is the number a new coefficient of an equation in one variable that rearranges, scales or expands one of
    the three equations before it (`3x = 400 - 7x` … `⟦10⟧x = 400`; `9x^2-18x-720=0` … `x^2-2x-⟦80⟧=0`): both
    are `f = g` with `f - g` proportional at seven points? Not an exponent, not a number the earlier equation
    wrote, not a root of a factorised side `(x - 3)(x + ⟦4⟧) = 0`."""
    if value_of(match.group()) == 0 or re.search(r"[\^_]\{?\s*$", text[max(0, match.start() - 3) : match.start()]):
        return False  # `x^2 - x - 20 = 0`: the 0 of an equation set to zero computes nothing, as above
    after = text.find("=", match.end(), match.end() + LEFT_WINDOW)
    before = text.rfind("=", max(0, match.start() - LEFT_WINDOW), match.start())
    current = None
    for equals_at in (after, before):
        found = _equation_at(text, equals_at) if equals_at != -1 else None
        if found and found[0] <= match.start() and match.end() <= found[1]:
            current = found
            break
    if current is None:
        return False
    start, end, left, right = current
    side = left if match.start() < text.find("=", start) else right
    names = set(VARIABLE.findall(left + " " + right))
    if len(names) != 1 or FACTORED.search(side) or not re.search(r"\d", side):
        return False
    name = re.compile(rf"(?<![\\A-Za-z]){next(iter(names))}(?![A-Za-z])")
    value = value_of(match.group())
    earlier_at = start
    for _ in range(3):
        earlier_at = text.rfind("=", max(0, start - 2 * LEFT_WINDOW), earlier_at)
        if earlier_at == -1:
            return False
        earlier = _equation_at(text, earlier_at)
        if earlier is None or set(VARIABLE.findall(earlier[2] + " " + earlier[3])) != names:
            continue
        if value in {value_of(m.group()) for m in NUMBER_TOKEN.finditer(text, earlier[0], earlier[1])}:
            return False  # a number the earlier equation wrote is carried, not computed
        ratios = []
        for point in STEP_POINTS:
            now, then = _difference_at(left, right, name, point), _difference_at(earlier[2], earlier[3], name, point)
            if now is None or then is None or abs(then) < 1e-9:
                break
            ratios.append(now / then)
        if (
            len(ratios) == len(STEP_POINTS)
            and ratios[0]
            and all(math.isclose(ratio, ratios[0], rel_tol=1e-9) for ratio in ratios)
        ):
            return True
        earlier_at = earlier[0]
    return False


def classify(row: dict, chosen: str, match: re.Match, confirm: bool = True) -> dict:
    """What the number `match` of the (normalised) chosen text is: answer, given, result, intermediate result."""
    verdict = {"final_answer": False, "question_number": False, "result": False, "confirmed": False}
    value = signed(chosen, match)
    answer_text, answer = answer_value(chosen)
    latex = "\\" in chosen  # `$` delimits math only in LaTeX text; in GSM8K text it is the dollar sign
    frac = fraction_around(chosen, match, slash=latex and in_math(chosen, match.start()))
    values = {frac[2]} if frac and frac[2] is not None else {value}  # a fraction's number is the fraction
    start, end = (frac[0], frac[1]) if frac else (match.start(), match.end())
    in_restatement = False
    if answer_text:
        compact = answer_text.replace(" ", "")
        for occurrence in re.finditer(re.escape(compact), chosen):
            if occurrence.start() <= match.start() and match.end() <= occurrence.end():
                in_restatement = True
                break
    # `\frac{94}{144} = \boxed{\frac{47}{72}}`: a fraction not yet reduced is a step towards the answer, its
    # numerator a result; only a fraction in lowest terms is the answer because of its value
    unreduced = frac is not None and math.gcd(*map(int, FRACTION_PARTS.findall(chosen[frac[0] : frac[1]])[:2])) > 1
    verdict["final_answer"] = (
        (answer is not None and answer in (values if not unreduced else {value}))
        or bool(values & answer_parts(chosen))  # a coordinate of the answer point, a member of the answer list
        or (in_restatement and not re.fullmatch(r"\d+", answer_text.strip()))
        or in_boxed(chosen, match.start())  # the issue counts a box's content as the final answer
    )
    verdict["question_number"] = bool((values | ({value} if unreduced else set())) & question_values(row["query"]))
    right_of_equals = EQUALS_BEFORE.search(chosen, 0, start)
    unit = UNIT_AFTER.match(chosen, end)  # 110^\circ, 25\%: the unit belongs to the number
    after = unit.end() if unit else end
    operand = OPERATOR_AFTER.match(chosen, after) or (
        latex and in_math(chosen, start) and MATH_FACTOR_AFTER.match(chosen, after)
    )
    # `(5x)^2 = 25x^2`, `= 13\sqrt{6}`, `= 3y`: in math, a right side that is one monomial is a result, carried by
    # its coefficient (the number that changes), unless more of the expression follows
    monomial = None
    if right_of_equals and operand and latex and in_math(chosen, start):
        monomial = MONOMIAL_AFTER.match(chosen, after)
        if monomial and (
            OPERATOR_AFTER.match(chosen, monomial.end()) or MATH_FACTOR_AFTER.match(chosen, monomial.end())
        ):
            monomial = None
    verdict["result"] = bool(right_of_equals) and (not operand or monomial is not None)
    chain_term = False
    equals_at = chosen.rfind("=", 0, start)
    same_side = equals_at != -1 and not re.search(r"\n|\$\s*[A-Za-z]|[.;:,]\s", chosen[equals_at:start])
    if (right_of_equals and operand) or (not right_of_equals and same_side and TERM_BEFORE.search(chosen, 0, start)):
        # `= 9^2 - 2 \cdot 6 = 81 - 12`, `= \$1.50 + 5 \cdot \$0.25 = \$1.50 + \$1.25`: the value of a computed
        # term or factor of the previous side of the chain, carried on into the next one, is a result
        written = chosen[frac[0] : frac[1]] if frac else None
        chain_term = is_chain_term(chosen, equals_at, frac[2] if frac else value, latex, written)
        verdict["result"] = chain_term or monomial is not None
    if verdict["result"] and values == {0} and right_of_equals and is_equation_set_to_zero(chosen, start, end, latex):
        verdict["result"] = chain_term = False  # `x^2 - 4x + 3 = 0`: an equation, its 0 computes nothing
    if not verdict["result"] and latex and equals_at != -1 and in_math(chosen, start):
        # `(2\cdot 3 + 5)^2 = 11^2`: one part computed, the rest carried unchanged
        chain_term = verdict["result"] = is_context_step(chosen, equals_at, match)
    if not verdict["result"] and latex and in_math(chosen, start) and frac is None:
        # `3x = 400 - 7x` … `⟦10⟧x = 400`: a coefficient of an equation rearranged from the one before
        chain_term = verdict["result"] = is_equation_step(chosen, match)
    verdict["intermediate"] = verdict["result"] and not verdict["final_answer"] and not verdict["question_number"]
    if chain_term:
        verdict["confirmed"] = True
    elif verdict["result"] and verdict["intermediate"] and confirm:
        unknown = answer if "unknown variable" in row["query"] else None
        verdict["confirmed"] = equals_at != -1 and confirmed_by_evaluator(
            chosen, equals_at, frac[2] if frac else value, unknown
        )
    verdict["confirmed"] = verdict["confirmed"] and verdict["intermediate"]
    return verdict


def judge(row: dict, pair: dict) -> dict:
    """This script's own view of one pair."""
    chosen, rejected = normalise(pair["chosen"]), normalise(pair["rejected"])
    changed, same_shape = changed_numbers(chosen, rejected)
    verdict = {
        "one_number": same_shape and len(changed) == 1,
        "answer_lines_changed": ANSWER_LINE.findall(chosen) != ANSWER_LINE.findall(rejected),
        "boxed_changed": boxed_contents(chosen) != boxed_contents(rejected),
        "final_answer": False,
        "question_number": False,
        "result": False,
        "confirmed": False,
        "intermediate": False,
        "line": ("", ""),
    }
    if not changed:
        return verdict
    match, new = changed[0]
    verdict.update(classify(row, chosen, match))
    line_start = chosen.rfind("\n", 0, match.start()) + 1
    line_end = chosen.find("\n", match.start())
    line_end = len(chosen) if line_end == -1 else line_end
    shift = len(new.group()) - len(match.group())
    verdict["line"] = (chosen[line_start:line_end], rejected[line_start : line_end + shift])
    return verdict


def has_intermediate_result(row: dict) -> bool:
    """The ceiling: does the response hold any number our judge reads as an intermediate result?"""
    return _has_intermediate_result(row["query"], row["response"])


@functools.cache  # figures() asks once per set and once per type
def _has_intermediate_result(query: str, response: str) -> bool:
    row = {"query": query}
    response = normalise(response)
    answer_lines = [(m.start(), m.end()) for m in ANSWER_LINE.finditer(response)]
    answer_lines += [m.span() for m in ASY.finditer(response)]  # diagram code is not reasoning
    for match in NUMBER_TOKEN.finditer(response):
        if any(start <= match.start() < end for start, end in answer_lines):
            continue
        if classify(row, response, match, confirm=False)["intermediate"]:
            return True
    return False


def run_set(
    rows: list[dict], seed: int, source_rows: list[dict] | None = None, builder=None
) -> tuple[list, list, float]:
    """The builder's per-row function on each row (on `source_rows` when the builder reads another schema)."""
    builder = builder or metamath.BUILDER
    options = dict(builder.options)
    source_rows = source_rows or rows
    started = time.process_time()
    outcomes = [builder.build_row(row, builder.row_id(row, i), seed, options) for i, row in enumerate(source_rows)]
    seconds = time.process_time() - started  # the builder only, not our judge
    return outcomes, [[judge(row, pair) for pair in outcome.pairs] for row, outcome in zip(rows, outcomes)], seconds


def figures(rows: list[dict], outcomes: list, verdicts: list) -> dict:
    pairs = [
        (pair, verdict)
        for outcome, row_verdicts in zip(outcomes, verdicts)
        for pair, verdict in zip(outcome.pairs, row_verdicts)
    ]
    n = len(pairs)
    skipped = Counter(outcome.skip_reason for outcome in outcomes if outcome.skip_reason)
    paired_rows = sum(bool(outcome.pairs) for outcome in outcomes)
    tiers = Counter(pair["tier"] for pair, _ in pairs)
    outside = [(pair, verdict) for pair, verdict in pairs if pair["tier"] != "final_result"]

    def share(items, key) -> float:
        return sum(verdict[key] for _, verdict in items) / len(items) if items else 0.0

    return {
        "rows": len(rows),
        # rows with at least one number our judge reads as an intermediate result: the most `intermediate` can be
        "ceiling": sum(map(has_intermediate_result, rows)) / len(rows) if rows else 0.0,
        "pairs": n,
        "coverage": paired_rows / len(rows) if rows else 0.0,
        "skipped": dict(skipped.most_common()),
        "tiers": {
            tier: tiers[tier]
            for tier in sorted(
                tiers,
                key=lambda t: (t not in REFERENCE_TIERS, REFERENCE_TIERS.index(t) if t in REFERENCE_TIERS else 0, t),
            )
        },
        "intermediate_tiers": sum(count for tier, count in tiers.items() if tier not in NOT_INTERMEDIATE_TIERS) / n
        if n
        else 0.0,
        "intermediate": share(pairs, "intermediate"),
        "confirmed": share(pairs, "confirmed"),
        "final_answer": share(pairs, "final_answer"),
        "question_number": share(pairs, "question_number"),
        "final_answer_outside_final_result": share(outside, "final_answer"),
        "question_number_outside_final_result": share(outside, "question_number"),
        "intermediate_outside_final_result": share(outside, "intermediate"),
        "answer_lines_changed": sum(verdict["answer_lines_changed"] for _, verdict in pairs),
        "boxed_changed": sum(verdict["boxed_changed"] for _, verdict in pairs),
        "boxed_changed_outside_final_result": sum(verdict["boxed_changed"] for _, verdict in outside),
        "more_than_one_number": sum(not verdict["one_number"] for _, verdict in pairs),
    }


def by_type(rows, outcomes, verdicts) -> dict[str, dict]:
    groups = defaultdict(lambda: ([], [], []))
    for row, outcome, row_verdicts in zip(rows, outcomes, verdicts):
        group = groups[row["type"]]
        group[0].append(row)
        group[1].append(outcome)
        group[2].append(row_verdicts)
    return {kind: figures(*groups[kind]) for kind in sorted(groups)}


def _tier_text(tiers: dict, pairs: int) -> str:
    short = {"verified": "ver", "unverified": "unv", "any_number": "any", "final_result": "fin"}
    return " ".join(f"{short.get(tier, tier)} {count / pairs:.1%}" for tier, count in tiers.items()) if pairs else ""


def print_table(name: str, overall: dict, types: dict[str, dict]) -> None:
    print(f"\n## {name}")
    header = (
        f"{'type':<12} {'rows':>6} {'pairs':>6} {'cover':>7} {'interm':>7} {'conf':>6} {'ceil':>6} {'ans*':>6} {'quest*':>6} "
        f"{'ans':>6} {'lines':>5} {'boxed':>5} {'>1num':>5}  tiers"
    )
    print(header)
    for label, data in [*types.items(), ("all", overall)]:
        print(
            f"{label:<12} {data['rows']:>6,} {data['pairs']:>6,} {data['coverage']:>7.2%} {data['intermediate']:>7.2%} "
            f"{data['confirmed']:>6.1%} {data['ceiling']:>6.1%} {data['final_answer_outside_final_result']:>6.2%} "
            f"{data['question_number_outside_final_result']:>6.2%} {data['final_answer']:>6.2%} "
            f"{data['answer_lines_changed']:>5} {data['boxed_changed']:>5} {data['more_than_one_number']:>5}  {_tier_text(data['tiers'], data['pairs'])}"
        )
    if overall["skipped"]:
        print(f"skipped: {overall['skipped']}")


def markdown_table(results: dict) -> str:
    """One Markdown table, a row per set and type, for BENCHMARKS.md."""
    lines = [
        "| set | type | rows | pairs | coverage | intermediate: tiers · judge (confirmed) / ceiling | answer* | question* "
        "| answer (all) "
        "| answer lines · boxed · >1 number | tiers |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, result in results.items():
        types = list(result["by_type"].items())
        for label, data in types + [("**all**", result["all"])] if len(types) > 1 else types:
            lines.append(
                f"| {name} | {label} | {data['rows']:,} | {data['pairs']:,} | {data['coverage']:.2%} "
                f"| {data['intermediate_tiers']:.1%} · {data['intermediate']:.1%} ({data['confirmed']:.1%}) / "
                f"{data['ceiling']:.1%} "
                f"| {data['final_answer_outside_final_result']:.2%} | {data['question_number_outside_final_result']:.2%} "
                f"| {data['final_answer']:.1%} | {data['answer_lines_changed']} · {data['boxed_changed']} · "
                f"{data['more_than_one_number']} | {_tier_text(data['tiers'], data['pairs'])} |"
            )
    return "\n".join(lines)


def check_targets(results: dict) -> list[dict]:
    checks = []
    for name, key, comparison, bound in TARGETS:
        if name not in results:
            continue
        value = results[name]["all"][key]
        passed = {">=": value >= bound, "<=": value <= bound, "==": value == bound}[comparison]
        checks.append({"set": name, "figure": key, "value": value, "target": f"{comparison} {bound}", "pass": passed})
    return checks


def print_examples(name: str, rows, outcomes, verdicts, count: int, seed: int) -> None:
    items = [
        (row["type"], pair["tier"], verdict)
        for row, outcome, row_verdicts in zip(rows, outcomes, verdicts)
        for pair, verdict in zip(outcome.pairs, row_verdicts)
    ]
    print(f"\n## {count} random examples from {name} (type, tier, our verdict; the changed line before → after)")
    for kind, tier, verdict in random.Random(seed).sample(items, min(count, len(items))):
        flags = [key for key in ("intermediate", "confirmed", "final_answer", "question_number") if verdict[key]]
        before, after = verdict["line"]
        print(
            f"- {kind} [{tier}] {', '.join(flags) or 'not a result'}\n    {before.strip()[:220]}\n  → {after.strip()[:220]}"
        )


def print_disagreements(name: str, rows, outcomes, verdicts, count: int, seed: int) -> None:
    """Pairs the builder's tiers count as intermediate (not any_number, not final_result) and our judge does not,
    with the text around the change, to read by eye and decide which side is wrong."""
    items = [
        (row["type"], pair, verdict)
        for row, outcome, row_verdicts in zip(rows, outcomes, verdicts)
        for pair, verdict in zip(outcome.pairs, row_verdicts)
        if pair["tier"] not in NOT_INTERMEDIATE_TIERS and not verdict["intermediate"]
    ]
    tiers = Counter(pair["tier"] for _, pair, _ in items)
    print(f"\n## {name}: {len(items):,} pairs intermediate by the builder's tier, not by our judge: {dict(tiers)}")
    for kind, pair, verdict in random.Random(seed).sample(items, min(count, len(items))):
        flags = [key for key in ("result", "final_answer", "question_number") if verdict[key]]
        chosen, start = pair["chosen"], pair["span_start"]
        after = chosen[start + len(pair["original_value"]) :][:60]
        context = f"{chosen[max(0, start - 120) : start]}⟦{pair['original_value']} → {pair['new_value']}⟧{after}"
        print(f"- {kind} [{pair['tier']}] judge: {', '.join(flags) or 'not a result'}\n    {context!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS, help="gsm8k_builder: the gsm8k builder")
    parser.add_argument("--examples", type=int, default=0, help="print N random changed lines per set")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    parser.add_argument("--distances", action="store_true", help="also the edit-distance definitions on GSM8K")
    parser.add_argument("--markdown", action="store_true", help="also print the per-type table in Markdown")
    parser.add_argument(
        "--disagreements", type=int, default=0, help="print N random pairs the tiers call intermediate and we do not"
    )
    args = parser.parse_args()

    sets, derivation = metamath_sets.build_sets(args.seed)
    print("sets: " + ", ".join(f"{name} {len(sets[name.removesuffix('_builder')]):,} rows" for name in args.sets))
    print(
        f"SV/FOBAR derivation: GSM8K {derivation['gsm8k_unknown_x'].get('derived', 0):,} rows, "
        f"MATH {derivation['math_unknown_x'].get('derived', 0):,} rows (each gives one FOBAR and one SV row)"
    )
    results, runs = {}, {}
    for name in args.sets:
        if name == "gsm8k_builder":  # the same GSM8K rows through the gsm8k builder (calculator annotations)
            raw = metamath_sets.gsm8k_source()
            rows = sets["gsm8k"]
            outcomes, verdicts, seconds = run_set(rows, args.seed, raw, gsm8k.BUILDER)
        else:
            rows = sets[name]
            outcomes, verdicts, seconds = run_set(rows, args.seed)
        runs[name] = (rows, outcomes, verdicts)
        overall = figures(rows, outcomes, verdicts)
        overall["cpu_us_per_row"] = seconds / len(rows) * 1e6
        results[name] = {"all": overall, "by_type": by_type(rows, outcomes, verdicts)}
        print_table(name, overall, results[name]["by_type"])
        print(f"builder CPU time: {overall['cpu_us_per_row']:.0f} µs per row (build_row only, one process)")
    print(
        "\ncolumns: interm = changed number is an intermediate result (right of `=`, not an operand, not the answer,"
        " not in the question; our classifier); conf = ... and our evaluator computes it; ceil = rows with any number"
        " the judge reads as an intermediate result (the most interm can reach); ans* / quest* = share of"
        " pairs outside final_result whose changed number is the final answer / in the question; ans = same over"
        " all pairs; lines = pairs with a changed answer line; boxed = pairs with a changed \\boxed{}; >1num = pairs not differing in exactly"
        " one number"
    )
    if args.markdown:
        print("\n" + markdown_table(results))
    checks = check_targets(results)
    print("\n## targets")
    for check in checks:
        value = check["value"]
        shown = f"{value:.2%}" if isinstance(value, float) else str(value)
        print(
            f"{'PASS' if check['pass'] else 'FAIL'}  {check['set']:<9} {check['figure']:<38} {shown:>8}  (target {check['target']})"
        )
    if args.examples:
        for name, (rows, outcomes, verdicts) in runs.items():
            print_examples(name, rows, outcomes, verdicts, args.examples, args.seed)
    if args.disagreements:
        for name, (rows, outcomes, verdicts) in runs.items():
            print_disagreements(name, rows, outcomes, verdicts, args.disagreements, args.seed)
    if args.distances and "gsm8k" in runs:
        print_distances(runs["gsm8k"][1])
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "targets": checks, "derivation": derivation}, indent=2) + "\n"
        )


# ---------------------------------------------------------------------------------------------------------------
# Edit-distance definitions (compared with the paper's 6.5 % in BENCHMARKS.md)


def summary(values: list[float]) -> str:
    array = np.asarray(values)
    return (
        f"mean {array.mean():.4f}  median {np.median(array):.4f}  "
        f"p10 {np.percentile(array, 10):.4f}  p90 {np.percentile(array, 90):.4f}"
    )


def print_distances(outcomes: list) -> None:
    pairs = [pair for outcome in outcomes for pair in outcome.pairs]
    chosen = [pair["chosen"] for pair in pairs]
    rejected = [pair["rejected"] for pair in pairs]
    prompts = [pair["prompt"] for pair in pairs]
    char = [Levenshtein.normalized_distance(c, r) for c, r in zip(chosen, rejected)]
    print(f"\n## GSM8K edit distance (char, Levenshtein / longer length, as in stats.json): {summary(char)}")
    alternatives = {
        "word Levenshtein / longer word count": [
            Levenshtein.normalized_distance(c.split(), r.split()) for c, r in zip(chosen, rejected)
        ],
        "token Levenshtein / longer (digits split, words whole)": [
            Levenshtein.normalized_distance(TOKENS.findall(c), TOKENS.findall(r)) for c, r in zip(chosen, rejected)
        ],
        "char Levenshtein / shorter length": [
            Levenshtein.distance(c, r) / min(len(c), len(r)) for c, r in zip(chosen, rejected)
        ],
        "char Indel (1 - rapidfuzz ratio)": [Indel.normalized_distance(c, r) for c, r in zip(chosen, rejected)],
        "char 1 - difflib ratio": [
            1 - difflib.SequenceMatcher(None, c, r, autojunk=False).ratio() for c, r in zip(chosen, rejected)
        ],
        "char, prompt + completion": [
            Levenshtein.normalized_distance(p + c, p + r) for p, c, r in zip(prompts, chosen, rejected)
        ],
        "token positions differing (Hamming) / longer": [_positional_tokens(c, r) for c, r in zip(chosen, rejected)],
        "char Levenshtein over the changed line only": [
            Levenshtein.normalized_distance(*_changed_line(c, r)) for c, r in zip(chosen, rejected)
        ],
        "word Levenshtein over the changed line only": [
            Levenshtein.normalized_distance(*(line.split() for line in _changed_line(c, r)))
            for c, r in zip(chosen, rejected)
        ],
    }
    print("alternative definitions (mean; the paper reports 6.5 % for MetaMath):")
    for name, values in alternatives.items():
        print(f"  {name:<58} {statistics.fmean(values):.4f}")


def _positional_tokens(chosen: str, rejected: str) -> float:
    a, b = TOKENS.findall(chosen), TOKENS.findall(rejected)
    return (sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))) / max(len(a), len(b))


def _changed_line(chosen: str, rejected: str) -> tuple[str, str]:
    return next(((a, b) for a, b in zip(chosen.splitlines(), rejected.splitlines()) if a != b), (chosen, rejected))


if __name__ == "__main__":
    main()
