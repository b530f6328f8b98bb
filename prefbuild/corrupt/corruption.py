"""Corrupt one intermediate result of a worked solution into a plausible slip, leaving the final answer alone.

What may change (decided by value, so that a restatement anywhere is caught):

- never the final answer: the answer lines (`#### X`, `The answer is: X`, `The value of x is X`, "so the answer is
  X" to the end of its line) and `\\boxed{...}` are never touched, and a result whose value equals the final
  answer (`x = 8` before `The value of x is 8`, the last calculation `= 18` before `#### 18`, `= \\frac{7}{12}`
  before `\\boxed{\\frac{7}{12}}`) is not an intermediate result;
- never a number given in the question, including its restatement as an equation's right side (`120x = 960` for
  "the total is 960"): a result whose value equals a number of the question is left alone. The rule is by value,
  so a computed result that happens to equal a given number (3 * 4 = 12 with "12 apples" in the question) is left
  alone too: it would read as a misstated problem as often as a slip. A fraction result is compared as a fraction
  (`\\frac{1}{4}` is not a given 1), and a negative result (`= -9`) is given only when the question has -9;
- never an operand, base, exponent, index, bound or label: results are numbers after `=` that end their term,
  and the `any_number` fallback skips numbers next to an operator, a brace, `^`, `_`, a comparison or words such
  as "less than", "at least", "times" (prefbuild/corrupt/results.py).

Tiers, best first (the chosen number is drawn uniformly from the best non-empty tier; verified_term and solved
results form one tier, computed only when no verified result qualifies, which keeps the equation solver off the
path of most rows):

- `verified`: a number right after `=` (or a rounded one after `\\approx`) whose left side parses and evaluates to
  it (`48/2 = 24`, `5!=120`, `\\sqrt{2\\cdot169}=13\\sqrt2`, `\\frac{1000}{23} \\approx 43.48`), or a component of a
  tuple whose left side is a tuple computing it (`\\left(\\frac{1+5}{2}, \\frac{1+1}{2}\\right) = (3, 1)`), or in
  LaTeX text a fraction in lowest terms written with a slash (`4/6=2/3`). In an
  `align` environment the left side of `&=` is the row's left part, or the previous row's right side when the row
  opens with `&=`;
- `verified_term`: a new number in the right side of a checked equality, `$1.50 + 5 \\cdot $0.25 = $1.50 +
  $1.25`: both sides compute (`117 = 9 \\times 13` writes a number as a product, whose factors are operands),
  evaluate to the same value and 1.25 is not on the left. Numbers next to `^` or `_` (exponents, bases, indices)
  are not terms; next to a brace only as a term or factor of a group (`\\frac{16+50}{6}`, `\\sqrt{25+144}`), a whole
  radicand (`\\sqrt{13-9} = \\sqrt{4}`) or a whole numerator (`\\frac{9}{2}`'s 9, changed as a fraction). When a
  product is rewritten as a product, a new factor must be a product of the left's factors (`5 \\cdot 7 \\cdot 97 =
  35 \\cdot 97`), not a new factorisation (`8 = 1 \\cdot 8 = 2 \\cdot 4`, a factorial written out). The terms of a
  right side that opens with a group (`= \\sqrt{25+144}`, `= (15)(4)`) are read only when no other `verified_term`
  or `solved` result qualifies; last of all, the numbers of a context step, which computes one part of an expression
  and carries the rest unchanged (`(2\\cdot 3 + 5)^2 = 11^2`: 11; `f(2^2-6)=f(-2)`: 2; `32+8-6+r=34+r`: 34): the
  sides share the tokens around the part, and the two parts evaluate to the same value, or with one symbol are
  the same polynomial (`-(x + 3)(x - 5) = -x^2 + 2x + 15`: 2 and 15, an expansion's coefficients; results.py);
- `solved`: a number right after `=` ending a one-variable equation whose root another equation or statement of
  the text confirms (`3x + 6 = 18` … `3x = 12`: 12; `90 - x = 85` … `x = 5`: 5; prefbuild/corrupt/equations.py);
- `solved_term`: when no result above qualifies, a new coefficient or constant that a simplification step computed,
  in a one-variable equation derived from an earlier one with the same root (`x / 0.8 = 600` … `1.25x = 600`:
  1.25; `20 - (4 + 2 + x) = 11` … `-x + 14 = 11`: 14), neither given nor the answer. SV rows, whose only `=` results are the question's total
  and the answer, reach their intermediate results here;
- `unverified`: a number right after `=` that could not be checked (`2 apples + 3 = 5`, `f(2) = 7`);
- `equation_zero`: when no other unverified result exists, the 0 of an unchecked or solved `= 0` (`y^2 - 4y + 1 =
  0`, `x^2 - 10x + 24 = 0` … `x = 4`): an equation set to zero, not a computed result, so not counted as an
  intermediate result; its slip
  misstates the equation, which still makes a better pair than one that contradicts its answer line;
- `stated`: a number stated in prose as the value of something, after a verb such as "is", "gives", "yields",
  "we get" (`so its radius is 5`, `Adding 14 and 36 yields 50`): a result written in words, unchecked;
- `any_number`: another number standing alone in the reasoning (`which makes 210 pages`); list items
  (`1, 4, 9, 16`) and `[asy]` diagram code are never candidates;
- `final_result`: the fallback when nothing above qualifies: the final calculation's result, i.e. the last
  result whose value is the final answer (`120x / 120 = 960 / 120`, `x = 8` → `x = 9`), else the number in the
  last `\\boxed{…}` (`$130-62=\\boxed{68}$` → `\\boxed{69}`; the answer lines still say 68). Its rejected
  completion contradicts its own answer line; `final_result_fallback=False` skips such rows as
  `only_final_result` instead. This is the only tier that may touch a `\\boxed{…}`.

Slips come from a slip model (`SLIP_MODELS`), drawn uniformly among the model's slips that apply, each keeping the
written form:

- `small` (default): `offset`: ±1 or ±2 in the last significant place (752 → 753, 1,250 → 1,240, 0.25 → 0.27,
  10 → 11, 10,000 → 9,000); `digit_slip`: one digit off by one or two neighbouring digits swapped (752 → 762,
  752 → 725); `off_by_one_step`: the calculation redone with one operand one step off (16 * 47 = 752 →
  15 * 47 = 705).
- `wide`: slips of the size in the authors' datasheet (`= $47` → `= $52`): `wide_offset`: ±5–25 % of the value,
  at least 3 in the last significant place (47 → 52, 752 → 689, 0.25 → 0.21); `off_by_one_step` as above.

A fraction result (`= \\frac{7}{12}`) changes its numerator only and stays in lowest terms (`\\frac{5}{12}`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from prefbuild.corrupt.equations import solved_terms
from prefbuild.corrupt.expression import ExpressionError, evaluate
from prefbuild.corrupt.numbers import MAX_NUMBER_CHARS, NumberForm, written_value
from prefbuild.corrupt.results import (
    Result,
    Spans,
    answer_lines,
    boxed_result,
    chain_terms,
    context_terms,
    direct_results,
    final_answer_values,
    given_values,
    negative_given_values,
    other_numbers,
    protected_spans,
    solve_unverified,
    unary_minus,
    verify_result,
)

TIERS = (
    "verified",
    "verified_term",
    "solved",
    "solved_term",
    "unverified",
    "equation_zero",
    "stated",
    "any_number",
    "final_result",
)
SLIP_MODELS = {
    "small": ("offset", "digit_slip", "off_by_one_step"),
    "wide": ("wide_offset", "off_by_one_step"),
}
DEFAULT_SLIP_MODEL = "small"
SLIPS = ("offset", "digit_slip", "off_by_one_step", "wide_offset")
SKIP_REASONS = ("no_number_to_corrupt", "only_final_result")
_OFFSETS = (-2, -1, 1, 2)
_CHECKED = frozenset({"verified", "verified_term", "solved"})


@dataclass(frozen=True)
class Corruption:
    """The corrupted text and what changed: `text[start:end]` was `original` and is now `new`."""

    text: str
    start: int
    end: int  # end of the new value in the corrupted text
    original: str
    new: str
    tier: str
    slip: str


def _unit(scaled: int) -> int:
    zeros = 0
    while scaled and scaled % 10 ** (zeros + 1) == 0:
        zeros += 1
    # The last significant place, one place lower when that is the only significant digit or it leaves two or
    # more zeros: 752 → ±1, 750 → ±10, 10 → ±1, 1,500 → ±100, 10,000 → ±1,000.
    single_digit = scaled // 10**zeros < 10
    return 10 ** (zeros - 1 if zeros >= 2 or (zeros == 1 and single_digit) else zeros)


def _offset(form: NumberForm, rng: random.Random) -> int:
    scaled = form.scaled
    delta = rng.choice(_OFFSETS) * _unit(scaled)
    return scaled + delta if scaled + delta > 0 else scaled + abs(delta)


def _wide_offset(form: NumberForm, rng: random.Random) -> int:
    """±5–25 % of the value, at least 3 units of the last significant place: 47 → 52, 752 → 689."""
    scaled = form.scaled
    unit = _unit(scaled)
    steps = max(3, round(scaled / unit * rng.uniform(0.05, 0.25)))
    delta = rng.choice((-1, 1)) * steps * unit
    return scaled + delta if scaled + delta > 0 else scaled + abs(delta)


def _digit_slip(form: NumberForm, rng: random.Random) -> int | None:
    digits = list(str(form.scaled))
    position = rng.randrange(len(digits))
    if rng.random() < 0.5 and len(digits) > 1:
        position = min(position, len(digits) - 2)
        digits[position], digits[position + 1] = digits[position + 1], digits[position]
    else:
        digits[position] = str((int(digits[position]) + rng.choice((-1, 1))) % 10)
    if digits[0] == "0" and len(digits) > 1:
        return None
    new = int("".join(digits))
    return new if new != form.scaled and new > 0 else None


def _off_by_one_step(form: NumberForm, expression: tuple | None, rng: random.Random) -> int | None:
    """Redo a top-level `a + b`, `a - b` or `a * b` with one literal operand one step (±1) off."""
    if expression is None or expression[0] not in ("+", "-", "*"):
        return None
    literals = [index for index in (1, 2) if expression[index][0] == "n"]
    if not literals:
        return None
    index = rng.choice(literals)
    changed = list(expression)
    changed[index] = ("n", expression[index][1] + rng.choice((-1, 1)))
    try:
        value = evaluate(tuple(changed))
    except ExpressionError:
        return None
    if value <= 0:
        return None
    scaled = form.scaled_of(value)
    return scaled if scaled is not None and scaled != form.scaled else None


def slip_number(
    form: NumberForm, rng: random.Random, expression: tuple | None = None, slip_model: str = DEFAULT_SLIP_MODEL
) -> tuple[int, str]:
    """A new value (in `form`'s scaled units) that differs from the original, and the slip that made it."""
    slips = SLIP_MODELS[slip_model]
    if expression is None:
        slips = tuple(slip for slip in slips if slip != "off_by_one_step")
    slip = rng.choice(slips)
    if slip == "digit_slip":
        new = _digit_slip(form, rng)
    elif slip == "off_by_one_step":
        new = _off_by_one_step(form, expression, rng)
    else:
        new = None
    if new is not None:
        return new, slip
    if slip_model == "wide":
        return _wide_offset(form, rng), "wide_offset"
    return _offset(form, rng), "offset"


def _slip_numerator(form: NumberForm, denominator: int, rng: random.Random, slip_model: str) -> tuple[int, str]:
    """A new numerator that keeps the fraction in lowest terms when it was (7/12 → 5/12, never 6/12)."""
    reduced = math.gcd(form.scaled, denominator) == 1
    for _ in range(8):
        new, slip = slip_number(form, rng, None, slip_model)
        if not reduced or math.gcd(new, denominator) == 1:
            return new, slip
    new = form.scaled + 1
    while reduced and math.gcd(new, denominator) != 1:
        new += 1
    return new, "offset"


def candidate_numbers(
    text: str,
    question: str = "",
    results: list[Result] | None = None,
    protected: list[tuple[int, int]] | None = None,
    final_result_fallback: bool = True,
) -> tuple[list[Result], str | None]:
    """The best non-empty tier of candidates, or ([], skip reason).

    Checked (verified or solved) results, else unverified results, else other numbers, else the final result.
    `protected` adds spans that must not change to the final-answer spans found in `text`.
    """
    lines = answer_lines(text)
    spans = Spans(protected_spans(text, lines) + list(protected or ()))
    answers = final_answer_values(text, lines)
    given = given_values(question)
    negative_given = negative_given_values(question)
    continuing: list[int] = []
    grouped: list[int] = []
    droppable = frozenset(given - answers)  # given and not the answer: never a candidate
    if results is None:
        # A result whose value is given (and not the answer) is dropped by `keep` below: not read at all. One whose
        # value is the answer goes to `finals`, which needs its span, and its left side only if it is chosen.
        results, continuing, grouped = direct_results(text, spans, droppable, answers)
    finals: list[Result] = []

    def is_given(value, start: int) -> bool:
        """A fraction is given when the fraction is (`\\frac{1}{4}` is not a given 1), -9 when -9 is (not a 9)."""
        if value not in given and value not in negative_given:
            return False  # the common case, without looking for a sign
        return value in (negative_given if unary_minus(text, start) else given)

    def keep(found: list[Result]) -> list[Result]:
        """The results that are intermediate: not the final answer (kept aside for `final_result`), not given."""
        kept = []
        for result in found:
            if result.end - result.start > MAX_NUMBER_CHARS or spans.overlaps(result.start, result.end):
                continue
            value = result.value if result.value is not None else written_value(text[result.start : result.end])
            if value in answers:
                finals.append(result)
            elif is_given(value, result.start):
                continue
            else:
                kept.append(result)
        return kept

    # The cheap checks first, the equation solver only when they leave nothing: most rows stop at `verified`.
    intermediate = keep(results)
    verified = [result for result in intermediate if result.tier == "verified"]
    if verified:
        return verified, None
    intermediate = solve_unverified(text, intermediate) + keep(chain_terms(text, continuing, spans, droppable))
    # `x^2 - 10x + 24 = 0` … `x = 4`: a solved equation's 0 states the equation, it was not computed
    zeros = [result for result in intermediate if result.value == 0 and result.tier in ("solved", "unverified")]
    if zeros:
        intermediate = [result for result in intermediate if not (result.value == 0 and result in zeros)]
    checked = [result for result in intermediate if result.tier in _CHECKED]
    if not checked and grouped:
        # right sides that open with a group (`= \\sqrt{25+144}`, `= (15)(4)`): their terms are read only when no
        # other checked result qualifies, which keeps this work off most rows
        intermediate += keep(chain_terms(text, grouped, spans, droppable))
        checked = [result for result in intermediate if result.tier in _CHECKED]
    if not checked and not intermediate:
        # steps that compute one part of an expression and carry the rest (`(2\\cdot 3 + 5)^2 = 11^2`): read only
        # when no other result after an `=` qualifies (they cost CPU on every `=` of a row)
        taken = {result.start for result in zeros}
        intermediate += [result for result in keep(context_terms(text, spans)) if result.start not in taken]
        checked = [result for result in intermediate if result.tier in _CHECKED]
    if checked:
        return checked, None
    terms = []
    for start, end in solved_terms(text):
        value = written_value(text[start:end])
        if value not in answers and value not in given and not spans.overlaps(start, end):
            terms.append(Result(start, end, "solved_term", None, value))
    if terms:
        return terms, None
    # `y^2 - 4y + 1 = 0`: an unchecked `= 0` mostly states an equation set to zero rather than a computed
    # result, so it is taken only when no other unverified result exists, under its own tier (a slip in the
    # equation is still a better pair than one that contradicts its answer line)
    if intermediate:
        return intermediate, None
    if zeros:
        return [result._replace(tier="equation_zero") for result in zeros], None
    others = other_numbers(text, spans, droppable)  # a given number is never in the pool
    pool = [result for result in others if result.value not in answers and not is_given(result.value, result.start)]
    stated = [result for result in pool if result.tier == "stated"]
    if stated:
        return stated, None
    if pool:
        return pool, None
    finals.sort(key=lambda result: result.start)
    final = finals[-1:] or [result for result in others if result.value in answers][-1:]
    if not final:
        boxed = boxed_result(text)
        final = [boxed] if boxed is not None and not _inside_extra(boxed, protected) else []
    if not final:
        return [], "no_number_to_corrupt"
    if not final_result_fallback:
        return [], "only_final_result"
    return [verify_result(text, final[0])._replace(tier="final_result")], None


def _inside_extra(result: Result, protected: list[tuple[int, int]] | None) -> bool:
    """Whether a caller's own protected spans (GSM8K's kept annotations) cover the result."""
    return any(result.start < end and start < result.end for start, end in protected or ())


def corrupt_row(
    text: str,
    rng: random.Random,
    question: str = "",
    results: list[Result] | None = None,
    protected: list[tuple[int, int]] | None = None,
    *,
    final_result_fallback: bool = True,
    slip_model: str = DEFAULT_SLIP_MODEL,
) -> Corruption | str:
    """Change exactly one intermediate number of `text`, or return the skip reason (one of `SKIP_REASONS`).

    `results` lets a caller supply results it found another way (GSM8K's calculator annotations);
    `protected` adds spans that must not change to the final-answer spans found in `text`.
    """
    if slip_model not in SLIP_MODELS:
        raise ValueError(f"slip_model must be one of {', '.join(SLIP_MODELS)}, got {slip_model!r}")
    pool, reason = candidate_numbers(text, question, results, protected, final_result_fallback)
    if not pool:
        return reason or "no_number_to_corrupt"
    chosen = pool[rng.randrange(len(pool))]
    original = text[chosen.start : chosen.end]
    form = NumberForm.parse(original)
    if chosen.denominator is not None:
        scaled, slip = _slip_numerator(form, chosen.denominator, rng, slip_model)
    else:
        scaled, slip = slip_number(form, rng, chosen.expression, slip_model)
    new = form.with_scaled(scaled)
    return Corruption(
        text=text[: chosen.start] + new + text[chosen.end :],
        start=chosen.start,
        end=chosen.start + len(new),
        original=original,
        new=new,
        tier=chosen.tier,
        slip=slip,
    )


def corrupt_intermediate_result(
    text: str,
    rng: random.Random,
    question: str = "",
    results: list[Result] | None = None,
    protected: list[tuple[int, int]] | None = None,
    *,
    final_result_fallback: bool = True,
    slip_model: str = DEFAULT_SLIP_MODEL,
) -> Corruption | None:
    """`corrupt_row` with None instead of a skip reason."""
    corruption = corrupt_row(
        text,
        rng,
        question,
        results,
        protected,
        final_result_fallback=final_result_fallback,
        slip_model=slip_model,
    )
    return corruption if isinstance(corruption, Corruption) else None
