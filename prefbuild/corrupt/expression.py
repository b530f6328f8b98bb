"""A whitelisted arithmetic parser and a bounded evaluator for the left side of `<expression> = <number>`.

Dataset text is never given to `eval`, `exec` or `sympify`. It is tokenised by one regular expression into a
closed set of tokens (ASCII numbers, + - × ÷ ^ %, parentheses and braces, `\\frac`, `\\sqrt`, `\\cdot`, ...),
parsed by a small recursive-descent parser into tuples, and evaluated with bounds: at most `MAX_TOKENS` tokens,
`MAX_DEPTH` levels of nesting, `MAX_DIGITS` digits per number, magnitudes up to `MAX_MAGNITUDE` and integer
exponents up to `MAX_EXPONENT`. Anything else raises `ExpressionError`, so a hostile row (`9**9**9**9`,
10,000 nested parentheses, a 10,000-digit number, non-ASCII digits) is refused in microseconds, never run.

Evaluation is in floats: magnitudes stay below 2**53, so integers are exact and verification compares with a
tolerance of half a unit in the result's last written place.
"""

from __future__ import annotations

import math
import re

from prefbuild.corrupt.numbers import _plain

MAX_TOKENS = 120
MAX_DEPTH = 24
MAX_DIGITS = 15
MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e15
MAX_FACTORIAL = 17  # 17! = 3.6e14, the largest factorial below MAX_MAGNITUDE


class ExpressionError(ValueError):
    """The text is not a whitelisted arithmetic expression, or evaluating it would exceed a bound."""


# Token kinds: n number, + - * / ^ operators, ( ) grouping, % percent, ! factorial, f \frac, s \sqrt, w word (breaks an
# expression), ? anything else (breaks an expression). Whitespace, `$` and LaTeX spacing are dropped.
_TOKEN = re.compile(
    r"""
    (?:[\s$]|\\[$,;:!\ ])*  # skipped: whitespace, `$` or `\$` (currency or math delimiter), LaTeX spacing
    (?:
    (?P<word>(?:x|X|times|plus|minus)(?![A-Za-z_])  # words that may be operators: one token each
    |(?:(?!(?:x|X|times|plus|minus)(?![A-Za-z_]))[A-Za-z_]+[ \t]*)+)  # other prose: one token per run of words
    |(?P<n>[0-9]{1,3}(?:(?:,|,\\!|\{,\})[0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)
    |(?P<mul>[*](?![*])|[×·∙⋅]|\\cdot(?![A-Za-z])|\\times(?![A-Za-z]))
    |(?P<add>\+)
    |(?P<sub>[-−–])
    |(?P<div>[/÷∕]|\\div(?![A-Za-z]))
    |(?P<pow>\*\*|\^)
    |(?P<open>\\left\s*[(\[]|\\left\s*\\\{|[(\[{])
    |(?P<close>\\right\s*[)\]]|\\right\s*\\\}|[)\]}])
    |(?P<pct>\\?%)
    |(?P<fact>!(?<=[0-9)}]!))  # a factorial right after a number or a bracket: `5!`, `(n-1)!` (`x != y` is other)
    |(?P<frac>\\[dt]?frac(?![A-Za-z]))
    |(?P<sqrt>\\sqrt(?![A-Za-z]))
    |(?P<command>\\[A-Za-z]+)
    |(?P<other>[^\s$])
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_KIND = {
    "n": "n",
    "pow": "^",
    "mul": "*",
    "div": "/",
    "add": "+",
    "sub": "-",
    "open": "(",
    "close": ")",
    "pct": "%",
    "fact": "!",
    "frac": "f",
    "sqrt": "s",
    "word": "w",
    "command": "w",
    "other": "?",
}
# What may stand on either side of a written ` x ` for it to mean multiplication: `2.5 x 6`, `(3) x 4`.
_OPERAND_END = frozenset("n)%!")
_OPERAND_START = frozenset("n(fs")
# Token kind by group number (the named groups are the pattern's only capturing groups, so `lastindex` names one).
_KIND_BY_INDEX = [""] * (_TOKEN.groups + 1)
for _name, _index in _TOKEN.groupindex.items():
    _KIND_BY_INDEX[_index] = _KIND[_name]


_DEGREE_SIGN = re.compile(r"\^\s*\{?\s*\\circ(?![A-Za-z])\s*\}?")


def without_degree_signs(text: str) -> str:
    """`text` with each degree sign (`^\\circ`, `^{\\circ}`) blanked out by as many spaces: positions stay the same."""
    return _DEGREE_SIGN.sub(lambda match: " " * len(match.group()), text)


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split `text` into (kind, text) tokens; `x`/`X` between two operands becomes multiplication."""
    tokens: list[tuple[str, str]] = []
    append = tokens.append
    if "\\circ" in text:  # `90^\\circ - 45^\\circ`: the degree sign is a unit, wherever it stands
        text = without_degree_signs(text)
    for match in _TOKEN.finditer(text):
        index = match.lastindex
        if index:  # None: only skipped characters were left at the end
            append((_KIND_BY_INDEX[index], match[index].rstrip()))
    if ("w", "x") not in tokens and ("w", "X") not in tokens:
        return tokens
    for index in range(1, len(tokens) - 1):
        kind, value = tokens[index]
        if kind == "w" and value in ("x", "X") and tokens[index - 1][0] in _OPERAND_END:
            if tokens[index + 1][0] in _OPERAND_START:
                tokens[index] = ("*", value)
    return tokens


_WORD_OPERATORS = {"x": "*", "X": "*", "times": "*", "plus": "+", "minus": "-"}


def trailing_expression(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The arithmetic just before an `=`, with unit words dropped.

    Words right after a number are its unit and are skipped, `/` between unit words is "per":
    `40 kids * 10%` → 40 * 10%, `200 blueberries/pint * 2 pints/pie` → 200 * 2, `45 minutes/trip x 6/trip` →
    45 * 6. Any other word or unknown character ends the prose before the expression, so what remains is the
    run of arithmetic after it.
    """
    expression: list[tuple[str, str]] = []
    in_unit = False  # inside the unit words that follow a number
    count = len(tokens)
    for index in range(count):
        token = tokens[index]
        kind = token[0]
        if kind == "w":
            after_operand = in_unit or (expression and expression[-1][0] in _OPERAND_END)
            word_operator = _WORD_OPERATORS.get(token[1])
            if word_operator and after_operand and index + 1 < count and tokens[index + 1][0] in _OPERAND_START:
                expression.append((word_operator, token[1]))
                in_unit = False
            elif after_operand:
                in_unit = True
            else:
                expression.clear()
                in_unit = False
        elif kind == "/":
            if (
                (in_unit or (expression and expression[-1][0] in _OPERAND_END))
                and index + 1 < count
                and tokens[index + 1][0] == "w"
            ):
                in_unit = True  # `pounds/crate`, `6/trip`: "per", part of the unit
            else:
                expression.append(token)
                in_unit = False
        elif kind == "?" or (in_unit and kind in _OPERAND_START):
            # `5 cars 3`: a number after a unit without an operator starts a new expression
            expression.clear()
            in_unit = False
            if kind != "?":
                expression.append(token)
        else:
            expression.append(token)
            in_unit = False
    return expression


class _Parser:
    """Recursive descent over a token list into tuples: ("n", v), ("neg", a), ("+", a, b), ..., ("%", a).

    `kinds` holds each token's kind plus an end marker "", so the next kind is `kinds[position]` without a bounds
    check (position never passes the end marker: it only moves past a token whose kind was matched).
    """

    __slots__ = ("tokens", "kinds", "position", "depth")

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        if len(tokens) > MAX_TOKENS:
            raise ExpressionError(f"more than {MAX_TOKENS} tokens")
        self.tokens = tokens
        self.kinds = [token[0] for token in tokens]
        self.kinds.append("")
        self.position = 0
        self.depth = 0

    def parse(self) -> tuple:
        node = self.expr()
        if self.position != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.position][1]!r}")
        return node

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH}")

    def expr(self) -> tuple:
        self.enter()
        node = self.term()
        kinds = self.kinds
        op = kinds[self.position]
        while op == "+" or op == "-":
            self.position += 1
            node = (op, node, self.term())
            op = kinds[self.position]
        self.depth -= 1
        return node

    def term(self) -> tuple:
        node = self.unary()
        kinds = self.kinds
        while True:
            kind = kinds[self.position]
            if kind == "*" or kind == "/":
                self.position += 1
                node = (kind, node, self.unary())
            elif kind == "f" and node[0] == "n" and self._mixed_number():  # 2\frac{1}{2} is 2 + 1/2
                node = ("+", node, self.unary())
            elif (
                kind == "(" or kind == "f" or kind == "s" or kind == "v" or (kind == "n" and node[0] == "!")
            ):  # implicit products: 2(3 + 4), 3\sqrt{2}, 2x, 4!2!
                node = ("*", node, self.unary())
            else:
                return node

    def _mixed_number(self) -> bool:
        """A whole number followed by `\\frac{a}{b}` with integer a and b: LaTeX's mixed number."""
        position, tokens = self.position, self.tokens
        if self.kinds[position + 1 : position + 7] != ["(", "n", ")", "(", "n", ")"]:
            return False
        return "." not in tokens[position - 1][1] and "." not in tokens[position + 2][1] + tokens[position + 5][1]

    def unary(self) -> tuple:
        """A signed operand: `-a`, `+a`, or a primary with its `%` signs and its `^ exponent` (right-associative:
        2^3^2 = 2^9). One method for what reads as unary → power → postfix → primary, the parser's hottest path."""
        kinds = self.kinds
        position = self.position
        kind = kinds[position]
        if kind == "-" or kind == "+":
            self.position = position + 1
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return ("neg", operand) if kind == "-" else operand
        if kind == "n":  # `primary`'s number, inlined
            text = _plain(self.tokens[position][1])
            if len(text) - ("." in text) > MAX_DIGITS:
                raise ExpressionError(f"number longer than {MAX_DIGITS} digits")
            position += 1
            node = ("n", float(text))
        else:
            node = self.primary()
            position = self.position
        while kinds[position] == "%" or kinds[position] == "!":
            node = (kinds[position], node)
            position += 1
        if kinds[position] == "^":
            self.position = position + 1
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            return ("^", node, exponent)
        self.position = position
        return node

    def primary(self) -> tuple:
        position = self.position
        kind = self.kinds[position]
        if kind == "n":
            text = _plain(self.tokens[position][1])
            if len(text) - ("." in text) > MAX_DIGITS:
                raise ExpressionError(f"number longer than {MAX_DIGITS} digits")
            self.position = position + 1
            return ("n", float(text))
        if kind == "v":  # a variable: only in equations (prefbuild.corrupt.equations); evaluate() refuses it
            self.position = position + 1
            return ("v", self.tokens[position][1])
        if kind == "(":
            self.position = position + 1
            node = self.expr()
            if self.kinds[self.position] != ")":
                raise ExpressionError("unbalanced parenthesis")
            self.position += 1
            return node
        if kind == "f":
            self.position = position + 1
            self.enter()
            numerator, denominator = self.primary(), self.primary()
            self.depth -= 1
            return ("/", numerator, denominator)
        if kind == "s":
            self.position = position + 1
            self.enter()
            node = ("sqrt", self.primary())
            self.depth -= 1
            return node
        found = repr(self.tokens[position][1]) if position < len(self.tokens) else "end of expression"
        raise ExpressionError(f"expected a number, got {found}")


_BINARY = frozenset("+-*/")


def parse_tokens(tokens: list[tuple[str, str]]) -> tuple:
    # Fast paths for the most common sides, the trees the parser builds for them without the descent: `a op b`
    # with op one of + - * / → (op, ("n", a), ("n", b)); a lone number → ("n", a); a lone variable → ("v", x) (the
    # sides of `x = 7`); `3x` → ("*", ("n", 3), ("v", x)). Anything else, or a number over MAX_DIGITS, takes the
    # parser.
    count = len(tokens)
    if count == 1:
        kind, value = tokens[0]
        if kind == "v":
            return ("v", value)
        if kind == "n":
            value = _plain(value)
            if len(value) - ("." in value) <= MAX_DIGITS:
                return ("n", float(value))
    elif count == 2:
        (left_kind, left), (right_kind, right) = tokens
        if left_kind == "n" and right_kind == "v":
            left = _plain(left)
            if len(left) - ("." in left) <= MAX_DIGITS:
                return ("*", ("n", float(left)), ("v", right))
    if count == 3:
        (left_kind, left), (op, _), (right_kind, right) = tokens
        if left_kind == "n" and right_kind == "n" and op in _BINARY:
            left, right = _plain(left), _plain(right)
            if len(left) - ("." in left) <= MAX_DIGITS and len(right) - ("." in right) <= MAX_DIGITS:
                return (op, ("n", float(left)), ("n", float(right)))
    return _Parser(tokens).parse()


def parse_expression(text: str) -> tuple:
    """Parse a whole string as one expression; raises `ExpressionError` on anything outside the whitelist."""
    if len(text) > 4 * MAX_TOKENS:
        raise ExpressionError(f"longer than {4 * MAX_TOKENS} characters")
    tokens = tokenize(text)
    if any(kind in "w?" for kind, _ in tokens):
        bad = next(value for kind, value in tokens if kind in "w?")
        raise ExpressionError(f"{bad!r} is not part of an arithmetic expression")
    return parse_tokens(tokens)


def _bounded(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ExpressionError(f"magnitude above {MAX_MAGNITUDE:.0e}")
    return value


def evaluate(node: tuple) -> float:
    """Evaluate a parsed tree within the bounds; raises `ExpressionError` instead of computing anything large."""
    # `-MAX_MAGNITUDE <= value <= MAX_MAGNITUDE` is `_bounded`'s test inlined (false for NaN and infinities too).
    op = node[0]
    if op == "n":
        value = node[1]
        if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return value
        raise ExpressionError(f"magnitude above {MAX_MAGNITUDE:.0e}")
    if op == "neg":
        return -evaluate(node[1])
    if op == "v":
        raise ExpressionError(f"variable {node[1]!r} has no value")
    if op == "%":
        return evaluate(node[1]) / 100.0
    if op == "!":
        return float(_factorial(evaluate(node[1])))
    if op == "sqrt":
        value = evaluate(node[1])
        if value < 0:
            raise ExpressionError("square root of a negative number")
        return math.sqrt(value)
    left = evaluate(node[1])
    right = evaluate(node[2])
    if op == "+":
        value = left + right
    elif op == "-":
        value = left - right
    elif op == "*":
        value = left * right
    elif op == "/":
        if right == 0:
            raise ExpressionError("division by zero")
        value = left / right
    else:
        return _power(left, right)
    if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
        return value
    raise ExpressionError(f"magnitude above {MAX_MAGNITUDE:.0e}")


def _factorial(value: float) -> int:
    """n! for a whole n from 0 to MAX_FACTORIAL; ExpressionError otherwise (never a large computation)."""
    if value != int(value) or not 0 <= value <= MAX_FACTORIAL:
        raise ExpressionError(f"factorial of {value!r}: only whole numbers from 0 to {MAX_FACTORIAL}")
    return math.factorial(int(value))


def _power(left: float, right: float) -> float:
    # op == "^": integer exponents only, and the result's size is checked before it is computed
    if right != int(right) or abs(right) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {right!r} is not an integer of at most {MAX_EXPONENT}")
    if left == 0:
        if right < 0:
            raise ExpressionError("zero to a negative power")
        return 0.0 if right else 1.0
    if abs(right) * math.log10(abs(left)) > math.log10(MAX_MAGNITUDE):
        raise ExpressionError(f"power above {MAX_MAGNITUDE:.0e}")
    return _bounded(left ** int(right))


def safe_evaluate(text: str) -> float | None:
    """The value of an arithmetic expression, or None when it is refused."""
    try:
        return evaluate(parse_expression(text))
    except ExpressionError:
        return None


def has_operation(node: tuple) -> bool:
    """True unless the tree is a bare (possibly signed) number: `7` is a restatement, not a calculation."""
    while node[0] == "neg":
        node = node[1]
    return node[0] != "n"
