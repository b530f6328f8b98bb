"""MetaMathQA-style evaluation sets derived from real, human-written text (GSM8K and MATH).

MetaMathQA has eight row types; four of them can be rebuilt mechanically from the sources its questions come
from, so the metamath builder can be measured on human-written text of each shape:

- `GSM_AnsAug`: a GSM8K answer with its `<<…>>` calculator annotations removed and `\\nThe answer is: X`
  appended (the `#### X` line kept).
- `MATH_AnsAug`: a MATH solution + `\\nThe answer is: ` + the content of its last `\\boxed{…}`.
- `GSM_FOBAR` / `GSM_SV`: one number given in the question replaced by `x`. The calculator annotations give the
  computation graph; each step is recomputed as an exact linear form `a·x + b` (Fractions built from numbers
  this module tokenised; nothing from the dataset is evaluated or sympified). Rows are kept only when every step
  stays linear in x, the answer depends on x, and solving `a·x + b = answer` gives back the replaced number.
  FOBAR writes the original reasoning with x and then solves; SV writes MetaMathQA's "We can set up the equation
  as follows" solution.
- `MATH_FOBAR` / `MATH_SV`: only where it is mechanically sound: the answer is one number or `\\frac{a}{b}`;
  the last `LHS = A` / `LHS = \\boxed{A}` in the solution has a flat arithmetic left side (`\\cdot`, `\\times`,
  `\\frac{a}{b}`, `^n`, parentheses) that our parser reads and that evaluates to A; one integer ≥ 3 of the problem
  appears exactly once in the problem and exactly once in the whole solution, as an operand of that left side in
  which the answer is linear; it is not also spelled out ("five") and not inside a run (`5 + 6 + 7 + 8 + 9`).
  That integer becomes `X` (MetaMathQA's MATH_SV/FOBAR use a capital X). The solution's earlier lines stay as
  written, so they may still show numbers derived from the replaced one; the final equation is always right.

Every row keeps `type` and `original_question`. Deterministic for a given seed.

    python benchmarks/metamath_sets.py [--out-dir DIR] [--seed 0]     # writes one JSONL per set, prints counts
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
GSM8K_DIR = DATA / "gsm8k"
MATH_FILE = DATA / "math" / "train.jsonl"

ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
GIVEN = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)(?![\w]|[.,]\d)")  # a plain number written in a GSM8K question
MAX_ABS = Fraction(10**12)


class Unsupported(ValueError):
    """The derivation does not handle this row (reason in the message)."""


# ---------------------------------------------------------------------------------------------------------------
# Exact linear forms a·x + b


@dataclass(frozen=True)
class Linear:
    a: Fraction  # coefficient of x
    b: Fraction

    @property
    def depends(self) -> bool:
        return self.a != 0

    def __add__(self, other: Linear) -> Linear:
        return Linear(self.a + other.a, self.b + other.b)

    def __sub__(self, other: Linear) -> Linear:
        return Linear(self.a - other.a, self.b - other.b)

    def __mul__(self, other: Linear) -> Linear:
        if self.depends and other.depends:
            raise Unsupported("x times x")
        return Linear(self.a * other.b + other.a * self.b, self.b * other.b)

    def __truediv__(self, other: Linear) -> Linear:
        if other.depends:
            raise Unsupported("division by an expression in x")
        if other.b == 0:
            raise Unsupported("division by zero")
        return Linear(self.a / other.b, self.b / other.b)

    def at(self, x: Fraction) -> Fraction:
        return self.a * x + self.b


def number_text(value: Fraction) -> str:
    """12, 0.25, -3, 7/12: a decimal when it terminates, else a fraction."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        places = 0
        while (value * 10**places).denominator != 1:
            places += 1
        return f"{float(value):.{places}f}"
    return f"{value.numerator}/{value.denominator}"


def linear_text(form: Linear, name: str = "x") -> str:
    """3x + 2, (3/2)x - 4, x, 0.5x."""
    if form.a == 1:
        text = name
    elif form.a == -1:
        text = f"-{name}"
    else:
        coefficient = number_text(form.a)
        text = f"({coefficient}){name}" if "/" in coefficient else f"{coefficient}{name}"
    if form.b > 0:
        text += f" + {number_text(form.b)}"
    elif form.b < 0:
        text += f" - {number_text(-form.b)}"
    return text


def solving_steps(form: Linear, answer: Fraction, name: str = "x", style: str = "fobar") -> list[str]:
    """The lines that solve `form = answer` for the unknown, ending with `name = value`."""
    lines = []
    rest = answer - form.b
    if form.b != 0:
        sign, amount = ("Subtracting", form.b) if form.b > 0 else ("Adding", -form.b)
        verb = "from" if form.b > 0 else "to"
        lhs = linear_text(Linear(form.a, Fraction(0)), name)
        if style == "fobar":
            lines.append(f"{sign} {number_text(amount)} {verb} both sides, we get: {lhs} = {number_text(rest)}.")
        else:
            lines.append(f"To isolate {name}, we {sign.lower()[:-3]} {number_text(amount)} {verb} both sides:")
            lines.append(f"{lhs} = {number_text(rest)}")
    value = rest / form.a
    if form.a != 1:
        if form.a.denominator == 1 or "/" not in number_text(form.a):
            how = f"Dividing both sides by {number_text(form.a)}"
        else:
            how = f"Multiplying both sides by {number_text(1 / form.a)}"
        if style == "fobar":
            lines.append(f"{how}, we get: {name} = {number_text(value)}.")
        else:
            verb = "divide both sides by" if how.startswith("Dividing") else "multiply both sides by"
            lines.append(f"To solve for {name}, we {verb} {how.rsplit(' ', 1)[1]}:")
            lines.append(f"{name} = {number_text(value)}")
    elif style != "fobar" and form.b == 0:
        lines.append(f"{name} = {number_text(value)}")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# A small arithmetic parser for GSM8K annotations and flat LaTeX expressions (whitelisted tokens only)

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|([-+*/()^])|([xX])(?![A-Za-z]))")


@dataclass
class Node:
    """A parsed expression: a number literal (op == "num"), the unknown (op == "var") or an operation."""

    op: str
    value: Fraction | None = None
    text: str = ""
    left: Node | None = None
    right: Node | None = None
    parens: bool = False


def tokenize(text: str, variables: bool = False) -> list[tuple[str, str]]:
    """Numbers, `+ - * / ^ ( )` and, with `variables`, the unknown x/X (`3x` reads as `3 * x`)."""
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position or (match.group(3) and not variables):
            raise Unsupported(f"token at {text[position : position + 10]!r}")
        if match.group(1):
            token = ("num", match.group(1))
        elif match.group(2):
            token = ("op", match.group(2))
        else:
            token = ("var", match.group(3))
        if (
            tokens
            and (token[0] == "var" or token == ("op", "("))
            and (tokens[-1][0] in ("num", "var") or tokens[-1] == ("op", ")"))
        ):
            tokens.append(("op", "*"))  # implicit multiplication: 3x, 2(x + 1), (a)(b)
        tokens.append(token)
        position = match.end()
    if not tokens or len(tokens) > 60:
        raise Unsupported("empty or too long expression")
    return tokens


class Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.position = tokens, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise Unsupported("unexpected end")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.sum()
        if self.peek() is not None:
            raise Unsupported("trailing tokens")
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            node = Node(self.take()[1], left=node, right=self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            node = Node(self.take()[1], left=node, right=self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == ("op", "-"):
            self.take()
            return Node("neg", left=self.unary())
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            exponent = self.atom()
            if exponent.op != "num" or exponent.value.denominator != 1 or not 0 <= exponent.value <= 12:
                raise Unsupported("exponent other than a small whole number")
            node = Node("^", left=node, right=exponent)
        return node

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node("num", value=Fraction(text), text=text)
        if kind == "var":
            return Node("var", text=text)
        if text == "(":
            node = self.sum()
            if self.take() != ("op", ")"):
                raise Unsupported("unbalanced parentheses")
            node.parens = True
            return node
        raise Unsupported(f"operator {text!r} where a number belongs")


def evaluate(node: Node, literal) -> Linear:
    """The node's value as a linear form; `literal(node)` gives each number literal's form."""
    if node.op == "num":
        return literal(node)
    if node.op == "var":
        return Linear(Fraction(1), Fraction(0))
    if node.op == "neg":
        return Linear(Fraction(0), Fraction(0)) - evaluate(node.left, literal)
    left, right = evaluate(node.left, literal), evaluate(node.right, literal)
    if node.op == "^":
        if right.depends:
            raise Unsupported("x in an exponent")
        exponent = int(right.b)
        if left.depends and exponent != 1:
            raise Unsupported("a power of x")
        if exponent != 1 and abs(left.b) ** exponent > MAX_ABS:
            raise Unsupported("number too large")
        return left if exponent == 1 else constant(left.b**exponent)
    result = {"+": Linear.__add__, "-": Linear.__sub__, "*": Linear.__mul__, "/": Linear.__truediv__}[node.op](
        left, right
    )
    if abs(result.a) > MAX_ABS or abs(result.b) > MAX_ABS:
        raise Unsupported("number too large")
    return result


def render(node: Node, literal_text, times: str = " * ", top: bool = True) -> str:
    """The expression written back with each literal replaced by `literal_text(node)` (parentheses kept)."""
    if node.op in ("num", "var"):
        text = literal_text(node) if node.op == "num" else node.text
    elif node.op == "neg":
        text = "-" + render(node.left, literal_text, times, False)
    else:
        operator = {"+": " + ", "-": " - ", "*": times, "/": " / ", "^": "^"}[node.op]
        text = (
            render(node.left, literal_text, times, False) + operator + render(node.right, literal_text, times, False)
        )
    return f"({text})" if node.parens and not top else text


def constant(value: Fraction) -> Linear:
    return Linear(Fraction(0), value)


# ---------------------------------------------------------------------------------------------------------------
# GSM8K


def gsm8k_source(folder: Path = GSM8K_DIR) -> list[dict]:
    rows = []
    for split in ("train", "test"):
        with open(folder / f"{split}.jsonl", encoding="utf-8") as file:
            rows.extend(json.loads(line) for line in file)
    return rows


def final_answer(answer: str) -> str:
    return answer.rsplit("####", 1)[1].strip()


def gsm8k_ansaug(row: dict) -> dict:
    final = final_answer(row["answer"])
    response = f"{ANNOTATION.sub('', row['answer'])}\nThe answer is: {final}"
    return {"query": row["question"], "response": response, "type": "GSM_AnsAug", "original_question": row["question"]}


@dataclass
class Step:
    start: int  # span of `<<…>>result` in the answer
    end: int
    tree: Node
    value: Fraction  # the annotation's own result, as written after `>>`
    form: Linear | None = None  # the step's value as a function of x


_RESULT = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")


def _annotation_steps(answer: str) -> list[Step]:
    steps = []
    for match in ANNOTATION.finditer(answer):
        written = _RESULT.match(answer, match.end())
        if written is None:
            raise Unsupported("annotation without a written result")
        tree = Parser(tokenize(match.group(1).replace("x", "*"))).parse()
        value = Fraction(written.group().replace(",", ""))
        if evaluate(tree, lambda node: constant(node.value)).b != value:
            raise Unsupported("annotation does not evaluate to its written result")
        steps.append(Step(match.start(), written.end(), tree, value))
    if not steps:
        raise Unsupported("no calculator annotation")
    return steps


def _symbolic_steps(steps: list[Step], given: Fraction, question_values: frozenset = frozenset()) -> None:
    """Each step's form in x: literals equal to the given number become x, earlier results their forms.

    A literal whose value is both an earlier result in x and a number of the question (or an earlier result
    without x) is ambiguous: `buys 6` potatoes and a cereal costing 0.5x = 6. Such rows are refused.
    """
    for index, step in enumerate(steps):
        earlier = steps[:index]

        def literal(node: Node, earlier: list[Step] = earlier) -> Linear:
            if node.value == given:
                return Linear(Fraction(1), Fraction(0))
            for previous in reversed(earlier):
                if previous.value == node.value and previous.form.depends:
                    if node.value in question_values or any(
                        other.value == node.value and not other.form.depends for other in earlier
                    ):
                        raise Unsupported("a number that is both a result in x and a given or constant")
                    return previous.form
            return constant(node.value)

        step.form = evaluate(step.tree, literal)
        if step.form.depends and step.form.at(given) != step.value:
            raise Unsupported("step in x does not reproduce the original result")
        if not step.form.depends and step.form.b != step.value:
            raise Unsupported("x cancelled out of a step")  # a·x with a == 0 after cancellation
        if (
            any(previous.value == step.value for previous in earlier)
            and step.form.depends
            and not all(previous.value != step.value or previous.form == step.form for previous in earlier)
        ):
            raise Unsupported("two results with one value but different forms")


def _literal_forms(steps: list[Step], index: int, given: Fraction):
    """literal_text for step `index`: x for the given, an earlier dependent result's linear text, else as written."""

    def literal_text(node: Node) -> str:
        if node.value == given:
            return "x"
        for previous in reversed(steps[:index]):
            if previous.value == node.value and previous.form.depends:
                text = linear_text(previous.form)
                return f"({text})" if " " in text else text
        return node.text

    return literal_text


def _full_expression(steps: list[Step], index: int, given: Fraction) -> str:
    """Step `index` written out in x, earlier dependent results expanded into their own expressions."""

    def literal_text(node: Node) -> str:
        if node.value == given:
            return "x"
        for position in range(index - 1, -1, -1):
            previous = steps[position]
            if previous.value == node.value and previous.form.depends:
                return f"({_full_expression(steps, position, given)})"
        return node.text

    return render(steps[index].tree, literal_text)


_SENTENCE_BREAK = re.compile(r"[.:;,!?](?:\s|$)|\n|=")


def _written_calculation(text: str) -> str:
    """`36 businesses - 24 businesses`, `$12/hour x 5 hours`, `45 * 200%` as plain arithmetic (unit words dropped)."""
    text = text.replace("×", "*").replace("÷", "/").replace("$", "").replace("%", "/100")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(?<![A-Za-z])x(?![A-Za-z])", "*", text)  # GSM8K writes `0.2 x 50`
    return re.sub(r"[A-Za-z']+", " ", text)


def _written_expression_start(text: str, cut: int, value: Fraction) -> int | None:
    """Where the human-written `a op b = ` before an annotation starts, when it evaluates like the annotation.

    The longest calculation in the clause before `=` that our parser reads and that gives the annotation's value.
    """
    before = text[:cut]
    equals = re.search(r"=\s*\$?\s*$", before)
    if equals is None:
        return None
    breaks = [match.end() for match in _SENTENCE_BREAK.finditer(before, 0, equals.start())]
    clause = breaks[-1] if breaks else 0
    for start in range(clause, equals.start()):
        char, previous = before[start], before[start - 1] if start else " "
        if not (char.isdigit() or char in "($") or previous.isdigit() or previous in ".,":
            continue
        written = _written_calculation(before[start : equals.start()])
        if not re.search(r"[-+*/]", written):
            continue
        try:
            if evaluate(Parser(tokenize(written)).parse(), lambda node: constant(node.value)).b == value:
                return start
        except (Unsupported, ZeroDivisionError):
            continue
    return None


def _question_with_x(question: str, match: re.Match) -> str:
    return question[: match.start()] + "x" + question[match.end() :]


def gsm8k_unknown_x(row: dict, seed: int, index: int) -> tuple[dict, dict]:
    """(FOBAR row, SV row) with one given number of the question replaced by x; raises Unsupported."""
    question, answer = row["question"], row["answer"]
    answer_text = final_answer(answer)
    answer_value = Fraction(answer_text.replace(",", ""))
    steps = _annotation_steps(answer)
    given_numbers = list(GIVEN.finditer(question))
    counts = Counter(Fraction(match.group()) for match in given_numbers)
    literals = {node.value for step in steps for node in _literals(step.tree)}
    results = {step.value for step in steps}
    candidates = [
        match
        for match in given_numbers
        if counts[Fraction(match.group())] == 1
        and Fraction(match.group()) in literals
        and Fraction(match.group()) not in results
        and Fraction(match.group()) != answer_value
        and Fraction(match.group()) != 0
    ]
    random.Random(f"{seed}:{index}").shuffle(candidates)
    last_error = "no given number is used in a calculation"
    for match in candidates:
        given = Fraction(match.group())
        try:
            return _derive(row, steps, match, given, answer_text, answer_value, frozenset(counts))
        except Unsupported as error:
            last_error = str(error)
    raise Unsupported(last_error)


def _literals(node: Node):
    if node.op == "num":
        yield node
    else:
        for child in (node.left, node.right):
            if child is not None:
                yield from _literals(child)


def _derive(row, steps, match, given, answer_text, answer_value, question_values=frozenset()) -> tuple[dict, dict]:
    answer = row["answer"]
    _symbolic_steps(steps, given, question_values)
    final_index = max((i for i, step in enumerate(steps) if step.value == answer_value), default=None)
    if final_index is None:
        raise Unsupported("no calculation gives the answer")
    final = steps[final_index].form
    if not final.depends:
        raise Unsupported("the answer does not depend on the replaced number")
    if (answer_value - final.b) / final.a != given:
        raise Unsupported("solving for x does not give the replaced number back")
    given_text = match.group()

    # FOBAR: the reasoning up to the line of the final calculation, written with x.
    body = answer.rsplit("####", 1)[0]
    cut = body.find("\n", steps[final_index].end)
    body = body if cut == -1 else body[:cut]
    pieces, position = [], 0
    dependent_values = {number_text(step.value) for step in steps[: final_index + 1] if step.form.depends}

    def kept(text: str) -> str:
        """Text between rewritten calculations, with the given replaced; a result in x restated there is refused."""
        text = ANNOTATION.sub("", text)
        if re.search(
            rf"(?:[-+*/×=]\s*){re.escape(given_text)}(?![\d.])|(?<![\w.,]){re.escape(given_text)}(?:\s*[-+*/×=(]|[a-z])",
            text,
        ):
            raise Unsupported("the given number is used in a calculation without an annotation")  # `4*n`, `4n+n`
        text = _replace_given(text, given_text)
        if any(number.replace(",", "") in dependent_values for number in GIVEN.findall(text)):
            raise Unsupported("a result that depends on x is restated outside its calculation")
        return text

    for index, step in enumerate(steps[: final_index + 1]):
        if not step.form.depends:
            continue
        start = _written_expression_start(body, step.start, step.value)
        if start is None and re.search(r"=\s*\$?\s*$", body[: step.start]):
            raise Unsupported("a written calculation in x that our parser cannot read")
        replaced_from = step.start if start is None else start
        pieces.append(kept(body[position:replaced_from]))
        written = render(step.tree, _literal_forms(steps, index, given))
        simplified = linear_text(step.form)
        pieces.append(simplified if written == simplified else f"{written} = {simplified}")
        position = step.end
    pieces.append(kept(body[position:]))
    reasoning = ANNOTATION.sub("", "".join(pieces)).rstrip()
    value = number_text(given)
    fobar_response = "\n".join(
        [
            reasoning,
            f"We are given that the answer is {answer_text}, so we can write: {linear_text(final)} = {answer_text}.",
            *solving_steps(final, answer_value),
            f"The value of x is {value}.\nThe answer is: {value}",
        ]
    )
    question_x = _question_with_x(row["question"], match)
    fobar = {
        "query": f"{question_x}\nIf we know the answer to the above question is {answer_text}, "
        "what is the value of unknown variable x?",
        "response": fobar_response,
        "type": "GSM_FOBAR",
        "original_question": row["question"],
    }
    equation = _full_expression(steps, final_index, given)
    simplified = linear_text(final)
    sv_lines = [
        "To solve this problem, we need to determine the value of x, the number the question calls x.",
        "We can set up the equation as follows:",
        f"{equation} = {answer_text}",
        "Let's simplify and solve for x:",
    ]
    if simplified != equation:
        sv_lines.append(f"{simplified} = {answer_text}")
    sv_lines += solving_steps(final, answer_value, style="sv")
    sv_lines.append(f"The value of x is {value}.\nThe answer is: {value}")
    sv = {
        "query": f"{question_x} The answer is {answer_text}. What is the value of unknown variable x?",
        "response": "\n".join(sv_lines),
        "type": "GSM_SV",
        "original_question": row["question"],
    }
    return fobar, sv


def _replace_given(text: str, given_text: str) -> str:
    return re.sub(rf"(?<![\w.,]){re.escape(given_text)}(?![\w]|[.,]\d)", "x", text)


# ---------------------------------------------------------------------------------------------------------------
# MATH


def math_source(path: Path = MATH_FILE) -> list[dict]:
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def last_boxed(text: str) -> tuple[int, int, str] | None:
    """(start of `\\boxed{`, end of its closing brace, content) of the last \\boxed{…}, braces balanced."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth, position = 0, start + len("\\boxed")
    for position in range(start + len("\\boxed"), len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return start, position + 1, text[start + len("\\boxed{") : position]
    return None


def math_ansaug(row: dict) -> dict | None:
    boxed = last_boxed(row["solution"])
    if boxed is None:
        return None
    return {
        "query": row["problem"],
        "response": f"{row['solution']}\nThe answer is: {boxed[2]}",
        "type": "MATH_AnsAug",
        "original_question": row["problem"],
    }


_LATEX_OPERATORS = (
    ("\\cdot", "*"),
    ("\\times", "*"),
    ("\\div", "/"),
    ("\\left(", "("),
    ("\\right)", ")"),
    ("\\$", ""),
    ("{,}", ""),
    ("\\!", ""),
    ("\\,", ""),
    ("\\ ", ""),
    ("\\left", ""),
    ("\\right", ""),
)
_FRAC = re.compile(r"\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_MATH_GIVEN = re.compile(r"(?<![\w.,^_{\\])(\d+)(?![\w}]|[.,]\d|\^)")
_LHS_START = re.compile(r"\$|\\\[|=|\\quad|\\implies|\\Rightarrow|&|\\\\|:|;|\(\s*$")


def _latex_to_plain(latex: str) -> str:
    text = latex
    for command, plain in _LATEX_OPERATORS:
        text = text.replace(command, plain)
    text = _FRAC.sub(r"(\1/\2)", text)
    text = re.sub(r"\^\{?(\d)\}?", r"^\1", text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text).replace("$", "")
    if "\\" in text or "{" in text or "}" in text:
        raise Unsupported("LaTeX beyond flat arithmetic")
    return text


def _final_calculations(solution: str, answer: str):
    """(start, end, LaTeX) of each `LHS = A` / `LHS = \\boxed{A}` in the solution, last first."""
    found = []
    for match in re.finditer(rf"=\s*(?:\\boxed\{{\s*)?{re.escape(answer)}(?![\d.])", solution):
        before = solution[: match.start()]
        starts = [m.end() for m in _LHS_START.finditer(before, max(0, match.start() - 200))]
        start = starts[-1] if starts else max(0, match.start() - 200)
        found.append((start, match.start(), solution[start : match.start()]))
    return found[::-1]


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
_TENS_WORDS = {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}


def _spelled_out(number: int, text: str) -> bool:
    """Is the number also written as a word (`five`, `fifth`, `twelve`)? Then a digit in the solution may be it."""
    words = []
    if number < len(_NUMBER_WORDS):
        words.append(_NUMBER_WORDS[number])
    if number in _TENS_WORDS:
        words.append(_TENS_WORDS[number])
    stems = [word[:-1] if word.endswith("e") or word.endswith("y") else word for word in words]
    return any(re.search(rf"\b{stem}", text, re.IGNORECASE) for stem in stems)


def _math_answer_value(text: str) -> Fraction | None:
    """12, -3, 0.25, \\frac{7}{12}, -\\dfrac{1}{2}: the answers whose value we read; anything else is None."""
    text = text.strip()
    negative = text.startswith("-")
    text = text.removeprefix("-").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        value = Fraction(text)
    elif match := re.fullmatch(r"\\[dt]?frac\{(\d+)\}\{([1-9]\d*)\}", text):
        value = Fraction(int(match.group(1)), int(match.group(2)))
    else:
        return None
    return -value if negative else value


def math_unknown_x(row: dict, seed: int, index: int) -> tuple[dict, dict]:
    """(MATH_FOBAR row, MATH_SV row) with one integer of the problem replaced by X; raises Unsupported."""
    problem, solution = row["problem"], row["solution"]
    boxed = last_boxed(solution)
    answer_value = _math_answer_value(boxed[2]) if boxed else None
    if answer_value is None:
        raise Unsupported("answer is not a single number or fraction")
    if re.search(r"(?<![A-Za-z\\])X(?![A-Za-z])", problem + solution):
        raise Unsupported("the row already uses X")
    answer_text = boxed[2].strip()
    problem_numbers = list(_MATH_GIVEN.finditer(problem))
    counts = Counter(match.group() for match in problem_numbers)
    solution_counts = Counter(match.group() for match in re.finditer(r"\d+", solution))
    last_error = "the answer is not the result of an `=`"
    for start, _end, lhs_latex in _final_calculations(solution, answer_text):
        try:
            tree = Parser(tokenize(_latex_to_plain(lhs_latex))).parse()
            if tree.op == "num":
                raise Unsupported("no calculation before the answer")
            if evaluate(tree, lambda node: constant(node.value)).b != answer_value:
                raise Unsupported("the last calculation does not give the answer")
        except (Unsupported, ZeroDivisionError) as error:
            last_error = str(error)
            continue
        literal_texts = Counter(node.text for node in _literals(tree))
        candidates = [
            match
            for match in problem_numbers
            if counts[match.group()] == 1
            and literal_texts[match.group()] == 1
            and solution_counts[match.group()] == 1
            and Fraction(int(match.group())) not in (0, answer_value)
        ]
        random.Random(f"{seed}:{index}").shuffle(candidates)
        for match in candidates:
            given = Fraction(int(match.group()))
            try:
                form = evaluate(
                    tree,
                    lambda node, match=match: (
                        Linear(Fraction(1), Fraction(0)) if node.text == match.group() else constant(node.value)
                    ),
                )
            except (Unsupported, ZeroDivisionError):
                continue
            if not form.depends or (answer_value - form.b) / form.a != given:
                continue
            if given < 3:  # 1 and 2 also appear as constants (`2\\cdot`, `n+1`): too likely a coincidence
                continue
            if _spelled_out(int(given), problem + solution):  # "five flights" and a given 5: which one is used?
                continue
            if {given - 1, given + 1} <= {node.value for node in _literals(tree)}:  # `5 + 6 + 7 + 8 + 9`: a run
                continue
            return _math_rows(row, match, lhs_latex, start, given, form, answer_value)
        last_error = "no given integer is a linear operand of the calculation giving the answer"
        break  # only the last calculation that gives the answer
    raise Unsupported(last_error)


def row_answer_text(solution: str) -> str:
    return last_boxed(solution)[2].strip()


def _math_rows(row, match, lhs_latex, segment_start, given, form, answer_value) -> tuple[dict, dict]:
    problem, solution = row["problem"], row["solution"]
    problem_x = problem[: match.start()] + "X" + problem[match.end() :]
    lhs_x = re.sub(rf"(?<!\d){match.group()}(?!\d)", "{X}", lhs_latex).strip().replace("{X}", "X")
    lhs_x = re.sub(r"(\\[A-Za-z]+)X", r"\1 X", lhs_x)
    answer_text, value = row_answer_text(solution), number_text(given)
    head = solution[:segment_start].rstrip()
    for opener in ("$", "\\[", "=", "&"):
        head = head.removesuffix(opener).rstrip()
    if head.count("\\begin") != head.count("\\end") or head.count("$") % 2:
        raise Unsupported("the calculation sits inside a LaTeX environment")
    fobar_lines = [
        f"{head} ${lhs_x}$." if head else f"${lhs_x}$.",
        f"We are given that the answer is {answer_text}, so we can write: ${lhs_x} = {answer_text}$.",
    ]
    fobar_lines += [
        line.replace(": ", ": $", 1)[:-1] + "$." if ": " in line else line
        for line in solving_steps(form, answer_value, name="X")
    ]
    fobar_lines.append(f"The value of X is {value}.\nThe answer is: {value}")
    sv_lines = [
        "To solve this problem, we need to determine the value of X, the number the question calls X.",
        "We can set up the equation as follows:",
        f"${lhs_x} = {answer_text}$",
        "Let's simplify and solve for X:",
    ]
    simplified = linear_text(form, "X")
    if simplified.replace(" ", "") != lhs_x.replace(" ", ""):
        sv_lines.append(f"${simplified} = {answer_text}$")
    sv_lines += [f"${line}$" if "=" in line else line for line in solving_steps(form, answer_value, "X", "sv")]
    sv_lines.append(f"The value of X is {value}.\nThe answer is: {value}")
    fobar = {
        "query": f"{problem_x}\nIf we know the answer to the above question is {answer_text}, "
        "what is the value of unknown variable X?",
        "response": "\n".join(fobar_lines),
        "type": "MATH_FOBAR",
        "original_question": problem,
    }
    sv = {
        "query": f"{problem_x} The answer is {answer_text}. What is the value of unknown variable X?",
        "response": "\n".join(sv_lines),
        "type": "MATH_SV",
        "original_question": problem,
    }
    return fobar, sv


# ---------------------------------------------------------------------------------------------------------------
# The sets


def build_sets(seed: int = 0, gsm8k_dir: Path = GSM8K_DIR, math_file: Path = MATH_FILE) -> dict:
    """{"gsm8k": rows, "math": rows, "sv_fobar": rows} and {"counts": ..., "unsupported": ...} per derivation."""
    gsm8k = gsm8k_source(gsm8k_dir)
    math = math_source(math_file)
    sets = {"gsm8k": [gsm8k_ansaug(row) for row in gsm8k], "math": [], "sv_fobar": []}
    report: dict[str, Counter] = {
        "math_no_boxed": Counter(),
        "gsm8k_unknown_x": Counter(),
        "math_unknown_x": Counter(),
    }
    for row in math:
        converted = math_ansaug(row)
        if converted is None:
            report["math_no_boxed"]["no \\boxed{}"] += 1
        else:
            sets["math"].append(converted)
    for derive, source, key in (
        (gsm8k_unknown_x, gsm8k, "gsm8k_unknown_x"),
        (math_unknown_x, math, "math_unknown_x"),
    ):
        fobar_rows, sv_rows = [], []
        for index, row in enumerate(source):
            try:
                fobar, sv = derive(row, seed, index)
            except (Unsupported, ZeroDivisionError) as error:
                report[key][str(error) if not str(error).startswith("token at") else "unsupported token"] += 1
                continue
            report[key]["derived"] += 1
            fobar_rows.append(fobar)
            sv_rows.append(sv)
        sets["sv_fobar"] += fobar_rows + sv_rows
    return sets, {key: dict(counter.most_common()) for key, counter in report.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=None, help="write <set>.jsonl files here")
    parser.add_argument("--show", type=int, default=0, help="print this many derived rows of each type")
    args = parser.parse_args()
    sets, report = build_sets(args.seed)
    for name, rows in sets.items():
        print(f"{name:<9} {len(rows):>6,} rows  {dict(Counter(row['type'] for row in rows))}")
    for key, counts in report.items():
        print(f"{key}: {counts}")
    if args.show:
        rng = random.Random(args.seed)
        rows = sets["sv_fobar"]
        for kind in ("GSM_FOBAR", "GSM_SV", "MATH_FOBAR", "MATH_SV"):
            of_kind = [row for row in rows if row["type"] == kind]
            for row in rng.sample(of_kind, min(args.show, len(of_kind))):
                print(f"\n=== {kind}\n--- query\n{row['query']}\n--- response\n{row['response']}")
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for name, rows in sets.items():
            with open(args.out_dir / f"{name}.jsonl", "w", encoding="utf-8") as file:
                for row in rows:
                    file.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
