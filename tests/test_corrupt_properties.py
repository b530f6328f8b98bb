"""Property tests over generated worked solutions: one number changes, in form, and never the final answer.

Three families of generated rows: GSM-style calculations (`16 * $47 = $752`), SV/FOBAR rows that set up and solve
a linear equation in x (MetaMathQA's wording), and LaTeX rows with fractions, `\\cdot` and `{,}` thousands.
"""

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from prefbuild.builders import BUILDERS
from prefbuild.corrupt import SLIP_MODELS, TIERS, NumberForm, corrupt_intermediate_result, slip_number

# Independent of the builder's own number regex; LaTeX thousands (`18{,}360`) are one number
NUMBER_TOKEN = re.compile(r"[0-9]+(?:(?:[.,]|\{,\})[0-9]+)*")
ANSWER_LINES = re.compile(r"^####.*$|The answer is:.*$|The value of x is.*$", re.MULTILINE)
BOXED = re.compile(r"\\boxed\{[^}]*\}")


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


@st.composite
def sv_or_fobar(draw) -> tuple[str, str]:
    """A GSM_SV or GSM_FOBAR row: `a * x + b = c` set up and solved, in MetaMathQA's wording."""
    a, x, b = draw(st.integers(2, 40)), draw(st.integers(1, 500)), draw(st.integers(1, 900))
    c = a * x + b
    if draw(st.booleans()):  # SV: the question gives a, b and c
        query = f"Each box holds {a} pens and {b} pens are loose. There are {c} pens. What is the value of unknown variable x?"
        response = (
            "To solve this problem, we need to determine the value of x, which represents the number of boxes.\n"
            f"We can set up the equation as follows:\n{a} * x + {b} = {c}\nLet's simplify and solve for x:\n"
            f"{a}x + {b} = {c}\nTo isolate x, we subtract {b} from both sides of the equation:\n"
            f"{a}x + {b} - {b} = {c} - {b}\n{a}x = {c - b}\nTo solve for x, we divide both sides by {a}:\n"
            f"x = {x}\nThe value of x is {x}.\nThe answer is: {x}"
        )
    else:  # FOBAR: the answer of the original question is given
        query = f"Each of x boxes holds {a} pens and {b} pens are loose. How many pens?\nIf we know the answer to the above question is {c}, what is the value of unknown variable x?"
        response = (
            f"There are x boxes with {a} pens each, so {a}x pens in boxes.\nWith the loose pens: {a}x + {b}.\n"
            f"We are given that the answer is {c}, so we can write: {a}x + {b} = {c}.\n"
            f"Subtracting {b} from both sides, we get: {a}x = {c - b}.\n"
            f"Dividing both sides by {a}, we get: x = {x}.\nThe value of x is {x}.\nThe answer is: {x}"
        )
    return query, response


@st.composite
def latex_solution(draw) -> tuple[str, str]:
    """A MATH-style row: fractions, `\\cdot`, powers and `{,}` thousands in `$...$`, ending in `\\boxed{}`."""
    from fractions import Fraction

    p, q = draw(st.integers(1, 9)), draw(st.integers(2, 12))
    r, t = draw(st.integers(1, 9)), draw(st.integers(2, 12))
    total = Fraction(p, q) + Fraction(r, t)
    base, power = draw(st.integers(2, 9)), draw(st.integers(2, 4))
    big = draw(st.integers(1_000, 90_000))
    factor = draw(st.integers(2, 9))
    frac = draw(st.sampled_from(["\\frac", "\\dfrac"]))
    lines = [
        f"We have ${frac}{{{p}}}{{{q}}} + {frac}{{{r}}}{{{t}}} = {frac}{{{total.numerator}}}{{{total.denominator}}}$.",
        f"Also ${base}^{power} = {base**power}$ and ${big:,} \\cdot {factor} = {big * factor:,}$.".replace(",", "{,}"),
    ]
    answer = draw(st.integers(1, 10**6))
    lines.append(f"So the result is $\\boxed{{{answer}}}$.\nThe answer is: {answer}")
    query = f"Compute ${frac}{{{p}}}{{{q}}} + {frac}{{{r}}}{{{t}}}$ and ${base}^{power}$."
    return query, "\n".join(lines)


def build(
    response: str, seed: int, row_id: str = "row", query: str = "In 2019 she had 12 apples. How many?", **options
):
    builder = BUILDERS["metamath"]
    row = {"query": query, "response": response}
    return builder.build_row(row, row_id, seed, {**builder.options, **options})


def check_pair(pair: dict, response: str) -> None:
    """One number changed, in the same written form, and the final answer untouched (its box too, outside the
    final_result fallback)."""
    assert pair["chosen"] == response
    assert pair["tier"] in TIERS
    assert ANSWER_LINES.findall(pair["rejected"]) == ANSWER_LINES.findall(response)
    if pair["tier"] != "final_result":
        assert BOXED.findall(pair["rejected"]) == BOXED.findall(response)
    changed = one_number_changed(pair["chosen"], pair["rejected"])
    assert changed is not None, (pair["chosen"], pair["rejected"])
    old, new = changed
    assert old == pair["original_value"] and new == pair["new_value"]
    assert pair["rejected"][pair["span_start"] : pair["span_end"]] == new
    assert pair["chosen"][pair["span_start"] : pair["span_start"] + len(old)] == old
    plain = lambda text: float(text.replace("{,}", "").replace(",", ""))  # noqa: E731
    assert plain(old) != plain(new)
    assert len(old.partition(".")[2]) == len(new.partition(".")[2])
    assert ("{,}" in old) == ("{,}" in new) or plain(new) < 1000


@settings(max_examples=150, deadline=None)
@given(sv_or_fobar(), st.integers(0, 2**32), st.sampled_from(sorted(SLIP_MODELS)))
def test_sv_and_fobar_rows_change_one_number_never_the_answer_or_a_given(row, seed, slip_model):
    query, response = row
    outcome = build(response, seed, query=query, slip_model=slip_model)
    (pair,) = outcome.pairs
    check_pair(pair, response)
    given_numbers = set(re.findall(r"[0-9]+", query))
    answer = response.rsplit("The answer is: ", 1)[1]
    if pair["tier"] != "final_result":
        assert pair["original_value"] not in given_numbers and pair["original_value"] != answer
    assert build(response, seed, query=query, slip_model=slip_model).pairs == outcome.pairs


@settings(max_examples=150, deadline=None)
@given(latex_solution(), st.integers(0, 2**32), st.sampled_from(sorted(SLIP_MODELS)))
def test_latex_rows_change_one_number_in_form(row, seed, slip_model):
    query, response = row
    outcome = build(response, seed, query=query, slip_model=slip_model)
    (pair,) = outcome.pairs
    check_pair(pair, response)
    if pair["tier"] == "verified" and "frac" in pair["rejected"][pair["span_start"] - 8 : pair["span_start"]]:
        # a fraction result stays in lowest terms
        denominator = re.match(r"\}\{([0-9]+)\}", pair["rejected"][pair["span_end"] :]).group(1)
        from math import gcd

        assert gcd(int(pair["new_value"]), int(denominator)) == 1
    assert build(response, seed, query=query, slip_model=slip_model).pairs == outcome.pairs


@settings(max_examples=300, deadline=None)
@given(solution(), st.integers(0, 2**32))
def test_exactly_one_number_changes_and_never_the_answer(response, seed):
    outcome = build(response, seed)
    if outcome.skip_reason is not None:
        # Only when nothing may change: every result (even the last one, the fallback) is a number of the question
        # (2019, 12) or the answer, e.g. `0 + 12 = 12\nThe answer is: 0`, and there is no other number to change.
        assert outcome.skip_reason == "no_number_to_corrupt"
        answer = float(response.rsplit(" ", 1)[1].replace(",", "").rstrip(".$}"))
        results = [
            float(value.replace(",", "")) for value in re.findall(r"= \$?([0-9][0-9,]*(?:\.[0-9]+)?)", response)
        ]
        assert results and all(value in (2019, 12, answer) for value in results), response
        return
    (pair,) = outcome.pairs
    assert pair["chosen"] == response
    assert ANSWER_LINES.findall(pair["rejected"]) == ANSWER_LINES.findall(response)
    if pair["tier"] != "final_result":
        assert BOXED.findall(pair["rejected"]) == BOXED.findall(response)
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
    # every generated calculation is correct arithmetic; only results equal to the answer or a given are left out
    assert pair["tier"] in ("verified", "verified_term", "stated", "any_number", "final_result")


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
    st.sampled_from(sorted(SLIP_MODELS)),
)
def test_slip_keeps_form_and_changes_value(scaled, decimals, commas, seed, slip_model):
    form = NumberForm(scaled, decimals, commas)
    new_scaled, slip = slip_number(form, random.Random(seed), slip_model=slip_model)
    assert slip in SLIP_MODELS[slip_model]
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
