"""Solve the one-variable equations of a worked solution, to verify results such as `2x = 14` or `x = 7`.

SV and FOBAR rows of MetaMathQA, and many MATH solutions, reach their intermediate results by solving an
equation: `90 - x = 85` … `x = 5`, `2.5x = 300` … `x = 120`, `3x + 6 = 18` … `3x = 12` … `x = 4`. Such a result
has no arithmetic on its left to evaluate, so it is checked another way: the equation it ends is solved for its
variable, and the result is *solved* (tier `solved`) when another equation or statement in the same text gives
that variable the same value:

- `x = 5` (an assignment) is solved when a non-assignment equation in `x` (`90 - x = 85`) has the root 5;
- `3x = 12` is solved when another equation in `x` (`3x + 6 = 18`, `x = 4`, or the line `The value of x is 4`)
  shares its root 4.

Equations are read with the same whitelisted tokenizer and parser as the evaluator (a single letter next to the
arithmetic is the variable) and turned into a polynomial with exact rational coefficients (`fractions.Fraction`:
`\\frac{1}{4}`, `2\\frac{1}{2}`, `\\sqrt{49}`, `20\\%`). Linear equations are solved in fractions; degrees 2 to
`MAX_DEGREE` go to sympy, whose polynomial is built from those coefficients (dataset text never reaches sympy)
and which returns only rational roots. All the evaluator's bounds apply, plus a degree bound, a size bound on
every coefficient and at most `MAX_EQUATIONS` equations a row. Only rows with a result left unverified by the
evaluator and a letter next to an operator pay for any of this.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from prefbuild.corrupt.expression import (
    _KIND_BY_INDEX,
    _TOKEN,
    MAX_EXPONENT,
    MAX_TOKENS,
    ExpressionError,
    _factorial,
    parse_tokens,
    tokenize,
)

MAX_DEGREE = 4
MAX_EQUATIONS = 24  # equations read per row (a MetaMathQA solution rarely has more than 20 `=` signs)
CONFIRM_WINDOW = 2  # equations either side of a candidate's that may confirm it
MAX_COEFFICIENT_BITS = 128  # numerator and denominator of every coefficient
_LEFT_CHARS = 160
_ARITHMETIC = frozenset("n+-*/^()%fsv")
# A single letter (not part of a word or a LaTeX command) right before or after arithmetic: `2x`, `x +`, `= n`.
VARIABLE_HINT = re.compile(
    r"[0-9)}][ \t]*[A-Za-z](?![A-Za-z])|(?<![A-Za-z\\])[A-Za-z][ \t]*(?:[-+*/=^]|\\cdot)|=[ \t]*[A-Za-z](?![A-Za-z])"
)
# Words of a solution that solves an equation step by step; only such rows are searched for derived equations
_SOLVING = re.compile(r"solv|simplif|isolate|both sides|[Tt]he value of|we get|gives us|[Cc]ombining")
# `_SOLVING`'s alternatives as plain substrings: `in` finds each far faster than the pattern searches for all
_SOLVING_WORDS = (
    "solv", "simplif", "isolate", "both sides", "The value of", "the value of", "we get", "gives us", "Combining",
    "combining",
)  # fmt: skip


@lru_cache(maxsize=4)  # solved_equals and solved_terms ask about the same row
def _has_variable(text: str) -> bool:
    """Whether `VARIABLE_HINT` finds a single letter next to arithmetic anywhere in the text."""
    return VARIABLE_HINT.search(text) is not None


_NUMBER_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LETTER = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
_EQUALS = re.compile(r"=(?<![<>!=\\]=)(?![=>])")
_VALUE_OF = re.compile(
    r"[Tt]he value of (?:the )?(?:unknown )?(?:variable )?\$?(?P<name>[A-Za-z])\$? is:?[ \t]*\$?[ \t]*(?P<sign>-)?"
    r"(?P<number>[0-9]+(?:\.[0-9]+)?)"
)

Polynomial = tuple[Fraction, ...]  # coefficients, constant first: 3x + 6 → (6, 3)


class Equation(NamedTuple):
    equals: int  # position of the `=` in the text
    variable: str
    roots: frozenset[Fraction]
    assignment: bool  # `x = 7`: the variable alone on the left, a number alone on the right
    left_start: int = 0  # where the text read for the left side starts (the arithmetic run is at its end)


def _check(value: Fraction) -> Fraction:
    if type(value) is int:
        if value.bit_length() > MAX_COEFFICIENT_BITS:
            raise ExpressionError("coefficient too large")
        return value
    if value.numerator.bit_length() > MAX_COEFFICIENT_BITS or value.denominator.bit_length() > MAX_COEFFICIENT_BITS:
        raise ExpressionError("coefficient too large")
    return value


def _divide(numerator: Fraction, denominator: Fraction) -> Fraction:
    """Exact division; whole numbers stay ints (int arithmetic is several times faster than Fraction's)."""
    if type(numerator) is int and type(denominator) is int:
        quotient, remainder = divmod(numerator, denominator)
        return quotient if not remainder else Fraction(numerator, denominator)  # type: ignore[return-value]
    return numerator / denominator


def _trim(coefficients: list[Fraction]) -> Polynomial:
    while len(coefficients) > 1 and coefficients[-1] == 0:
        coefficients.pop()
    if len(coefficients) - 1 > MAX_DEGREE:
        raise ExpressionError(f"degree above {MAX_DEGREE}")
    for value in coefficients:  # `_check` inlined: this runs for every node of every equation read
        if type(value) is int:
            if value.bit_length() > MAX_COEFFICIENT_BITS:
                raise ExpressionError("coefficient too large")
        elif (
            value.numerator.bit_length() > MAX_COEFFICIENT_BITS
            or value.denominator.bit_length() > MAX_COEFFICIENT_BITS
        ):
            raise ExpressionError("coefficient too large")
    return tuple(coefficients)


def _add(a: Polynomial, b: Polynomial, sign: int = 1) -> Polynomial:
    """a + b, or a - b with sign -1."""
    if sign == 1:
        total = [x + y for x, y in zip(a, b)]
    else:
        total = [x - y for x, y in zip(a, b)]
    if len(a) > len(b):
        total += a[len(b) :]
    elif len(b) > len(a):
        total += b[len(a) :] if sign == 1 else [-y for y in b[len(a) :]]
    return _trim(total)


def _multiply(a: Polynomial, b: Polynomial) -> Polynomial:
    if len(a) + len(b) - 2 > MAX_DEGREE:
        raise ExpressionError(f"degree above {MAX_DEGREE}")
    product: list[Fraction] = [0] * (len(a) + len(b) - 1)  # type: ignore[list-item]
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                product[i + j] += x * y
    return _trim(product)


def _exact_sqrt(value: Fraction) -> Fraction:
    if value < 0:
        raise ExpressionError("square root of a negative number")
    numerator, denominator = math.isqrt(value.numerator), math.isqrt(value.denominator)
    if numerator * numerator != value.numerator or denominator * denominator != value.denominator:
        raise ExpressionError("irrational square root")
    return Fraction(numerator, denominator)


def polynomial(node: tuple) -> Polynomial:
    """The tree as a polynomial in its one variable, with exact rational coefficients; ExpressionError otherwise."""
    op = node[0]
    if op == "n":
        value = node[1]  # the parser's float of a number of at most 15 digits: whole ones are exact
        if value.is_integer():
            return (int(value),)  # type: ignore[return-value]
        return (_check(Fraction(value).limit_denominator(10**12)),)
    if op == "v":
        return (0, 1)  # type: ignore[return-value]
    if op == "neg":
        return tuple(-c for c in polynomial(node[1]))
    if op == "%":
        return tuple(_divide(c, 100) for c in polynomial(node[1]))
    if op == "!":
        inner = polynomial(node[1])
        if len(inner) > 1 or inner[0] != int(inner[0]):
            raise ExpressionError("factorial of a variable or a fraction")
        return (_factorial(int(inner[0])),)
    if op == "sqrt":
        inner = polynomial(node[1])
        if len(inner) > 1:
            raise ExpressionError("square root of a variable")
        return (_exact_sqrt(inner[0]),)
    left, right = polynomial(node[1]), polynomial(node[2])
    if op == "+":
        return _add(left, right)
    if op == "-":
        return _add(left, right, -1)
    if op == "*":
        return _multiply(left, right)
    if op == "/":
        if len(right) > 1 or right[0] == 0:
            raise ExpressionError("division by a variable or by zero")
        return _trim([_divide(c, right[0]) for c in left])
    # "^": a non-negative integer exponent, bounded by the degree (or the evaluator's exponent bound for constants)
    if len(right) > 1 or right[0].denominator != 1:
        raise ExpressionError("exponent is not an integer")
    exponent = int(right[0])
    if len(left) == 1:
        if abs(exponent) > MAX_EXPONENT or (left[0] == 0 and exponent < 0):
            raise ExpressionError("exponent out of bounds")
        if left[0] and abs(exponent) * math.log2(max(abs(left[0].numerator), left[0].denominator, 2)) > 96:
            raise ExpressionError("power too large")
        return (_check(left[0] ** exponent if exponent >= 0 else Fraction(left[0]) ** exponent),)
    if exponent < 0 or exponent * (len(left) - 1) > MAX_DEGREE:
        raise ExpressionError(f"degree above {MAX_DEGREE}")
    result: Polynomial = (1,)  # type: ignore[assignment]
    for _ in range(exponent):
        result = _multiply(result, left)
    return result


def rational_roots(coefficients: Polynomial) -> frozenset[Fraction]:
    """The rational roots of a polynomial of degree 1 to MAX_DEGREE: degrees 1 and 2 in fractions (a quadratic's
    roots are rational exactly when its discriminant is a rational square), 3 and 4 by the rational root theorem
    when the coefficients are small, else with sympy (`sympy.roots` of a `Poly` built from our coefficients)."""
    degree = len(coefficients) - 1
    if degree < 1:
        raise ExpressionError("no variable left to solve for")
    if degree == 1:
        return frozenset({_divide(-coefficients[0], coefficients[1])})
    if degree == 2:
        c, b, a = coefficients
        try:
            root = _exact_sqrt(b * b - 4 * a * c)
        except ExpressionError:
            return frozenset()
        return frozenset({(-b + root) / (2 * a), (-b - root) / (2 * a)})
    roots = _small_rational_roots(coefficients)
    if roots is not None:
        return roots
    import sympy  # only here: a cubic or quartic with coefficients too large for the divisor search

    variable = sympy.Symbol("v")
    poly = sympy.Poly([sympy.Rational(c.numerator, c.denominator) for c in reversed(coefficients)], variable)
    return frozenset(Fraction(int(root.p), int(root.q)) for root in sympy.roots(poly, filter="Q"))


def _divisors(number: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    return small + [number // d for d in reversed(small) if d * d != number]


def _small_rational_roots(coefficients: Polynomial) -> frozenset[Fraction] | None:
    """Rational roots by the rational root theorem (±p/q, p dividing the constant term and q the leading one, after
    clearing denominators), when both are at most 10**6; None when they are larger (sympy's job)."""
    scale = math.lcm(*(c.denominator for c in coefficients))
    integers = [int(c * scale) for c in coefficients]
    roots = set()
    while integers and integers[0] == 0:  # a root at 0: divide it out
        roots.add(Fraction(0))
        integers.pop(0)
    if len(integers) <= 1:
        return frozenset(roots)
    constant, leading = abs(integers[0]), abs(integers[-1])
    if constant > 10**6 or leading > 10**6:
        return None
    numerators, denominators = _divisors(constant), _divisors(leading)
    if len(numerators) * len(denominators) > 400:
        return None
    # p/q is a root exactly when q**n * P(p/q) = sum(c_i * p**i * q**(n - i)) is 0: integer arithmetic only
    # (Horner's rule, with the powers of q written out), instead of evaluating P at a Fraction.
    degree = len(integers) - 1
    for q in denominators:
        terms = [c * q ** (degree - i) for i, c in enumerate(integers)]
        for p in numerators:
            for signed in (p, -p):
                value = 0
                for term in reversed(terms):
                    value = value * signed + term
                if value == 0:
                    roots.add(Fraction(signed, q))
    return frozenset(roots)


def _variables(tokens: list[tuple[str, str]], tail: bool) -> list[tuple[str, str]]:
    """Tokens with single letters as variables ("v"), cut to the arithmetic run at the end (tail) or start."""
    converted = []
    for kind, value in tokens:
        if kind == "w" and ((len(value) == 1 and value.isascii() and value.isalpha()) or value == "\\pi"):
            kind, value = "v", "π" if value == "\\pi" else value  # π: a symbol to carry (`2\\pi \\cdot 6 = 12\\pi`)
        elif kind == "w" and tail and len(value) > 2 and value[-2] == " " and value[-1].isalpha():
            # `we get n` is one prose token: its last word, a single letter, is the variable
            converted.clear()
            kind, value = "v", value[-1]
        converted.append((kind, value))
    if tail:
        start = len(converted)
        while start and converted[start - 1][0] in _ARITHMETIC:
            start -= 1
        return converted[start:]
    end = 0
    while end < len(converted) and converted[end][0] in _ARITHMETIC:
        end += 1
    return converted[:end]


def _parse_side(tokens: list[tuple[str, str]], tail: bool) -> tuple | None:
    # Prose can leave an unmatched bracket or a dangling operator at the far end: drop tokens there until it parses.
    if not tokens or len(tokens) > MAX_TOKENS:
        return None
    for skip in range(min(len(tokens), 6)):
        part = tokens[skip:] if tail else tokens[: len(tokens) - skip]
        try:
            return parse_tokens(part)
        except ExpressionError:
            continue
    return None


def _names(node: tuple, found: set[str]) -> set[str]:
    if node[0] == "v":
        found.add(node[1])
    elif node[0] != "n":
        for child in node[1:]:
            _names(child, found)
    return found


_BREAKS = (". ", ", ", "; ", ": ", "? ", "! ")


def _tail_tokens(text: str, start: int, equals: int) -> list[tuple[str, str]]:
    """`_variables(tokenize(text[start:equals]), tail=True)`, tokenising only what follows the last clause break.

    A `.`, `,`, `;`, `:`, `?` or `!` before a space (and not after a backslash, which would make it LaTeX spacing)
    is always a token of its own that is not arithmetic, and the tokenizer starts afresh after it; the trailing
    arithmetic run therefore never reaches back past it, and the tokens after it are the same either way."""
    cut = start
    for needle in _BREAKS:
        found = text.rfind(needle, cut, equals)
        if found >= 0 and text[found - 1 : found] != "\\":
            cut = found + 2
    return _variables(tokenize(text[cut:equals]), tail=True)


@lru_cache(maxsize=1024)  # read_equation and left_polynomial (`2 * 2x = 4x`) read the same left sides of a row
def _left_side(text: str, start: int, equals: int) -> tuple[tuple, frozenset[str], Polynomial | None] | None:
    """The arithmetic just left of `equals` (from `start`): its tree, its symbols and, when it has at most one
    symbol, its polynomial (None when it has none). None when there is no arithmetic there."""
    node = _parse_side(_tail_tokens(text, start, equals), tail=True)
    if node is None:
        return None
    names = frozenset(_names(node, set()))
    if len(names) > 1:
        return node, names, None
    try:
        return node, names, polynomial(node)
    except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
        return node, names, None


def left_polynomial(text: str, start: int, equals: int) -> tuple[Polynomial, set[str]] | None:
    """The arithmetic just left of `equals` (from `start`) as a polynomial in its one symbol, and that symbol."""
    side = _left_side(text, start, equals)
    if side is None or side[2] is None:
        return None
    return side[2], set(side[1])


@lru_cache(maxsize=1024)  # solved_equals, read_equations and solved_terms read the same row's equations
def read_equation(text: str, equals: int, next_equals: int) -> Equation | None:
    """The one-variable equation around the `=` at `equals` (its right side ends before `next_equals`)."""
    low = max(0, equals - _LEFT_CHARS)
    start = max(text.rfind("\n", low, equals), text.rfind("=", low, equals), text.rfind("$", low, equals)) + 1
    start = max(start, low)
    end = min(next_equals, equals + _LEFT_CHARS)
    for stop in ("\n", "$", ". ", ", ", "; "):
        found = text.find(stop, equals + 1, end)
        if found >= 0:
            end = found
    if _LETTER.search(text, start, end) is None:
        return None  # no single letter on either side: `2 + 3 = 5` has no variable to solve for
    # The left side first: when it has no arithmetic, two symbols or no polynomial, the right side cannot help
    side = _left_side(text, start, equals)
    if side is None or side[2] is None:
        return None
    left, left_names, left_polynomial_ = side
    right = _parse_side(_variables(tokenize(text[equals + 1 : end]), tail=False), tail=False)
    if right is None:
        return None
    names = _names(right, set(left_names))
    if len(names) != 1:
        return None
    try:
        roots = rational_roots(_add(left_polynomial_, polynomial(right), -1))
    except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
        return None
    if not roots:
        return None
    return Equation(equals, names.pop(), roots, left[0] == "v" and right[0] == "n", start)


def _equals_positions(text: str, limit: int = MAX_EQUATIONS) -> list[int]:
    positions = []
    for match in _EQUALS.finditer(text):
        positions.append(match.start())
        if len(positions) >= limit:
            break
    return positions


@lru_cache(maxsize=4)  # solved_equals and solved_terms read the same row's equations
def read_equations(text: str, limit: int = MAX_EQUATIONS) -> dict[int, Equation]:
    """Every one-variable equation in the text, by the position of its `=` (at most `limit` `=` signs read).
    The returned dict is shared between callers of the same text: do not change it."""
    positions = _equals_positions(text, limit)
    ends = [*positions[1:], len(text)]
    equations = {}
    for position, end in zip(positions, ends):
        equation = read_equation(text, position, end)
        if equation is not None:
            equations[equation.equals] = equation
    return equations


def stated_values(text: str) -> dict[str, set[Fraction]]:
    """`The value of x is 4` → {"x": {4}}."""
    values: dict[str, set[Fraction]] = {}
    for match in _VALUE_OF.finditer(text):
        value = Fraction(match.group("number"))
        values.setdefault(match.group("name"), set()).add(-value if match.group("sign") else value)
    return values


def solved_equals(text: str, equals_positions: list[int]) -> set[int]:
    """Which of the given `=` positions end an equation whose solution another equation or statement confirms.

    Confirmation is looked for among the `CONFIRM_WINDOW` equations on either side of the candidate's (a step and
    the steps that lead to it or follow from it are written together), so a row's work stays bounded."""
    if not equals_positions or not _has_variable(text):
        return set()
    positions = _equals_positions(text, 4 * MAX_EQUATIONS)
    index_of = {position: index for index, position in enumerate(positions)}
    ends = [*positions[1:], len(text)]
    read: dict[int, Equation | None] = {}

    def equation_at(index: int) -> Equation | None:
        if index not in read:
            read[index] = read_equation(text, positions[index], ends[index])
        return read[index]

    stated: dict[str, set[Fraction]] | None = None
    solved = set()
    # A candidate is confirmed by a `The value of x is N` line (unless it is an assignment itself) or by a neighbour
    # in the same variable sharing a root (not both assignments: two restatements `x = 7` confirm nothing). The
    # bound counts each candidate's equation and, when it reads as one, its whole window, as if all were read; a
    # neighbour is actually read only until one confirms.
    counted: set[int] = set()
    for position in equals_positions:
        index = index_of.get(position)
        if index is None or len(counted) >= MAX_EQUATIONS:
            continue
        counted.add(index)
        equation = equation_at(index)
        if equation is None:
            continue
        low, high = max(0, index - CONFIRM_WINDOW), min(len(positions), index + CONFIRM_WINDOW + 1)
        counted.update(range(low, high))
        if not equation.assignment:
            if stated is None:
                stated = stated_values(text)
            if equation.roots & stated.get(equation.variable, set()):
                solved.add(position)
                continue
        for other in range(low, high):
            if other == index:
                continue
            found = equation_at(other)
            if (
                found is not None
                and found.variable == equation.variable
                and not (equation.assignment and found.assignment)  # two restatements `x = 7` confirm nothing
                and equation.roots & found.roots
            ):
                solved.add(position)
                break
    return solved


def solved_terms(text: str) -> list[tuple[int, int]]:
    """Spans of the numbers on the left of one-variable equations derived from an earlier equation with the same
    root: the coefficients and constants a simplification step computed (`1.25x = 600` after `x / 0.8 = 600`:
    1.25; `-x + 14 = 11` after `20 - (4 + 2 + x) = 11`: 14). The first equation of a chain restates the problem.
    Exponents, indices and the operands of `a/b`, `\\frac{}{}` and `\\sqrt{}` are left out (`(1/6)x = 60`: a
    written fraction, not a computed number); givens and answers are the caller's."""
    if not _has_variable(text) or not any(word in text for word in _SOLVING_WORDS):
        return []
    # The new numbers on each equation's left are found first, from the text alone; equations are then read (the
    # costly part) only up to the last `=` that has one, as `read_equations` reads them: on MATH text most rows
    # that get here have none, and the spans are the same.
    positions = _equals_positions(text)
    ends = [*positions[1:], len(text)]
    found = [(index, _new_left_numbers(text, position)) for index, position in enumerate(positions)]
    found = [(index, numbers) for index, numbers in found if numbers]
    if not found:
        return []
    equations: list[Equation | None] = []
    spans = []
    for index, numbers in found:
        while len(equations) <= index:
            equations.append(read_equation(text, positions[len(equations)], ends[len(equations)]))
        equation = equations[index]
        if equation is None or equation.assignment:
            continue
        # Derived from an earlier equation of the same root: the set-up equation itself restates the problem
        if any(
            other is not None
            and not other.assignment
            and other.variable == equation.variable
            and other.roots & equation.roots
            for other in equations[:index]
        ):
            spans += numbers
    return spans


def _new_left_numbers(text: str, equals: int) -> list[tuple[int, int]]:
    """Spans of the numbers in the arithmetic just left of the `=` at `equals` (read from where `read_equation`
    starts) that are not exponents, indices or operands of `a/b`, `\\frac{}{}`, `\\sqrt{}`, and were not written
    before it: `125 * x = 1000` … `125x = 1000`: 125 is not new."""
    low = max(0, equals - _LEFT_CHARS)
    left_start = max(text.rfind("\n", low, equals), text.rfind("=", low, equals), text.rfind("$", low, equals)) + 1
    left_start = max(left_start, low)
    tokens = []
    for match in _TOKEN.finditer(text, left_start, equals):
        index = match.lastindex
        if not index:
            continue
        kind = _KIND_BY_INDEX[index]
        value = match[index].rstrip()
        if kind == "w" and ((len(value) == 1 and value.isalpha()) or value == "\\pi"):
            kind = "v"
        elif kind == "w" and value in ("x", "X"):
            kind = "v"
        tokens.append((kind, match.span(index)))
    start = len(tokens)
    while start and tokens[start - 1][0] in _ARITHMETIC:
        start -= 1
    numbers = []
    earlier = None
    for kind, (number_start, number_end) in tokens[start:]:
        if (
            kind != "n"
            or text[number_start - 1 : number_start] in "^_{/"
            or text[number_end : number_end + 1] in "}^/"
        ):
            continue
        if earlier is None:  # numbers written before this equation's left side
            earlier = set(_NUMBER_TEXT.findall(text, 0, left_start))
        if text[number_start:number_end] not in earlier:
            numbers.append((number_start, number_end))
    return numbers
