"""Corrupt one intermediate result of a worked solution into a plausible slip, leaving the final answer alone.

Tiers, best first (the chosen number is drawn uniformly from the best non-empty tier):

- `verified`: a number right after `=` whose left side parses and evaluates to it (`48/2 = 24`);
- `unverified`: a number right after `=` whose left side could not be checked (`x = 7`, `2 apples + 3 = 5`);
- `any_number`: any other number in the reasoning that is not a step label or a given restated from the question.

Slips (drawn uniformly from those that apply, each keeping the written form):

- `offset`: ±1 or ±2 in the last significant place (752 → 753, 1,250 → 1,240, 0.25 → 0.27, 10 → 11, 10,000 → 9,000);
- `digit_slip`: one digit off by one or two neighbouring digits swapped (752 → 762, 752 → 725);
- `off_by_one_step`: the calculation redone with one operand one step off (16 * 47 = 752 → 15 * 47 = 705).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from prefbuild.corrupt.expression import ExpressionError, evaluate
from prefbuild.corrupt.numbers import NumberForm
from prefbuild.corrupt.results import Result, find_other_numbers, find_results, protected_spans

TIERS = ("verified", "unverified", "any_number")
SLIPS = ("offset", "digit_slip", "off_by_one_step")
_OFFSETS = (-2, -1, 1, 2)


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


def _offset(form: NumberForm, rng: random.Random) -> int:
    scaled = form.scaled
    zeros = 0
    while scaled and scaled % 10 ** (zeros + 1) == 0:
        zeros += 1
    # The last significant place, one place lower when that is the only significant digit or it leaves two or
    # more zeros: 752 → ±1, 750 → ±10, 10 → ±1, 1,500 → ±100, 10,000 → ±1,000.
    single_digit = scaled // 10**zeros < 10
    unit = 10 ** (zeros - 1 if zeros >= 2 or (zeros == 1 and single_digit) else zeros)
    delta = rng.choice(_OFFSETS) * unit
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


def slip_number(form: NumberForm, rng: random.Random, expression: tuple | None = None) -> tuple[int, str]:
    """A new value (in `form`'s scaled units) that differs from the original, and the slip that made it."""
    slip = rng.choice(SLIPS if expression is not None else SLIPS[:2])
    if slip == "digit_slip":
        new = _digit_slip(form, rng)
    elif slip == "off_by_one_step":
        new = _off_by_one_step(form, expression, rng)
    else:
        new = None
    if new is None:
        return _offset(form, rng), "offset"
    return new, slip


def candidate_numbers(
    text: str, question: str = "", results: list[Result] | None = None, protected: list[tuple[int, int]] | None = None
) -> list[Result]:
    """The best non-empty tier of candidates: verified results, else unverified results, else other numbers."""
    if protected is None:
        protected = protected_spans(text)
    if results is None:
        results = find_results(text, protected)
    verified = [result for result in results if result.tier == "verified"]
    if verified:
        return verified
    if results:
        return results
    return find_other_numbers(text, question, protected)


def corrupt_intermediate_result(
    text: str,
    rng: random.Random,
    question: str = "",
    results: list[Result] | None = None,
    protected: list[tuple[int, int]] | None = None,
) -> Corruption | None:
    """Change exactly one intermediate number of `text`; None when there is no number to change.

    `results` lets a caller supply results it found another way (GSM8K's calculator annotations);
    `protected` adds spans that must not change to the final-answer spans found in `text`.
    """
    spans = protected_spans(text)
    if protected:
        spans += protected
    pool = candidate_numbers(text, question, results, spans)
    if not pool:
        return None
    chosen = pool[rng.randrange(len(pool))]
    original = text[chosen.start : chosen.end]
    form = NumberForm.parse(original)
    scaled, slip = slip_number(form, rng, chosen.expression)
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
