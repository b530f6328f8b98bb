"""Property tests over generated worked solutions: one number changes, in form, and never the final answer."""

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from prefbuild.builders import BUILDERS
from prefbuild.corrupt import NumberForm, corrupt_intermediate_result, slip_number

NUMBER_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*")  # independent of the builder's own number regex
ANSWER_LINES = re.compile(r"^####.*$|The answer is:.*$|\\boxed\{[^}]*\}", re.MULTILINE)


def written(value: float, decimals: int, commas: bool) -> str:
    return f"{value:,.{decimals}f}" if commas else f"{value:.{decimals}f}"


@st.composite
def calculation(draw) -> str:
    a = draw(st.integers(0, 20_000))
    b = draw(st.integers(1, 500))
    op, symbol = draw(st.sampled_from([("+", "+"), ("-", "-"), ("*", "*"), ("*", "x"), ("*", "×"), ("*", r"\cdot")]))
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    decimals = draw(st.sampled_from([0, 0, 0, 1, 2]))
    commas = draw(st.booleans())
    currency = draw(st.sampled_from(["", "", "$"]))
    unit = draw(st.sampled_from(["", " apples", " miles", "%", " dollars."]))
    prose = draw(st.sampled_from(["", "So ", "Step 2: ", "In 2019 she had ", "Then "]))
    if value < 0:
        return f"{prose}{b} + {a} = {currency}{written(a + b, decimals, commas)}{unit}"
    left = f"{written(a, 0, commas)} {symbol} {b}"
    if draw(st.booleans()):
        left = f"${left}"  # LaTeX-style math delimiters
        return f"{prose}{left} = {written(value, decimals, commas)}$"
    return f"{prose}{left} = {currency}{written(value, decimals, commas)}{unit}"


@st.composite
def solution(draw) -> str:
    lines = draw(st.lists(calculation(), min_size=1, max_size=5))
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["Let x be the total, so x = 12.", "We count 7 boxes of 3 toys."])))
    answer = written(draw(st.integers(0, 10**6)), 0, draw(st.booleans()))
    endings = draw(
        st.sampled_from(
            [
                [f"The answer is: {answer}"],
                [f"#### {answer}"],
                [f"#### {answer}", f"The answer is: {answer}"],
                [f"So the total is $\\boxed{{{answer}}}$.", f"The answer is: {answer}"],
            ]
        )
    )
    return "\n".join(lines + endings)


def one_number_changed(chosen: str, rejected: str) -> tuple[str, str] | None:
    """The (old, new) number when exactly one number token differs and nothing else does."""
    if NUMBER_TOKEN.sub("#", chosen) != NUMBER_TOKEN.sub("#", rejected):
        return None
    changed = [(a, b) for a, b in zip(NUMBER_TOKEN.findall(chosen), NUMBER_TOKEN.findall(rejected)) if a != b]
    return changed[0] if len(changed) == 1 else None


def build(response: str, seed: int, row_id: str = "row"):
    builder = BUILDERS["metamath"]
    row = {"query": "In 2019 she had 12 apples. How many?", "response": response}
    return builder.build_row(row, row_id, seed, dict(builder.options))


@settings(max_examples=300, deadline=None)
@given(solution(), st.integers(0, 2**32))
def test_exactly_one_number_changes_and_never_the_answer(response, seed):
    outcome = build(response, seed)
    assert outcome.skip_reason is None
    (pair,) = outcome.pairs
    assert pair["chosen"] == response
    assert ANSWER_LINES.findall(pair["rejected"]) == ANSWER_LINES.findall(response)
    changed = one_number_changed(pair["chosen"], pair["rejected"])
    assert changed is not None, (pair["chosen"], pair["rejected"])
    old, new = changed
    assert old == pair["original_value"] and new == pair["new_value"]
    assert pair["rejected"][pair["span_start"] : pair["span_end"]] == new
    assert pair["chosen"][pair["span_start"] : pair["span_start"] + len(old)] == old
    # the value differs and the written form is kept
    assert float(old.replace(",", "")) != float(new.replace(",", ""))
    assert len(old.partition(".")[2]) == len(new.partition(".")[2])
    if "," not in old:
        assert "," not in new
    elif float(new.replace(",", "")) >= 1000:
        assert "," in new
    assert pair["tier"] == "verified"  # every generated calculation is correct arithmetic


@settings(max_examples=100, deadline=None)
@given(solution(), st.integers(0, 2**32))
def test_same_seed_same_output_and_seed_matters_somewhere(response, seed):
    assert build(response, seed).pairs == build(response, seed).pairs


def test_different_seeds_choose_differently():
    response = "\n".join(f"Step: {a} + {a} = {2 * a}" for a in range(10, 20)) + "\nThe answer is: 5"
    rejected = {build(response, seed).pairs[0]["rejected"] for seed in range(20)}
    assert len(rejected) > 10


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10**9),
    st.integers(0, 3),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_slip_keeps_form_and_changes_value(scaled, decimals, commas, seed):
    form = NumberForm(scaled, decimals, commas)
    new_scaled, slip = slip_number(form, random.Random(seed))
    assert new_scaled != scaled and new_scaled > 0
    text = form.with_scaled(new_scaled)
    assert NumberForm.parse(text).scaled == new_scaled
    assert NumberForm.parse(text).decimals == decimals


def test_later_uses_of_the_original_value_stay():
    response = "She has 3 * 4 = 12 apples.\nShe eats 2, so 12 - 2 = 10.\nThe answer is: 10"
    for seed in range(30):
        corruption = corrupt_intermediate_result(response, random.Random(seed))
        rejected = corruption.text
        if corruption.original == "12":
            assert rejected.count("12 - 2 = 10") == 1  # the later use of 12 is untouched
        assert rejected.endswith("The answer is: 10")
