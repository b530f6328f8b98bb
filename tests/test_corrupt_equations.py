"""The one-variable equation solver: exact rationals from our own parse tree, and what it confirms."""

import time
from fractions import Fraction

import pytest

from prefbuild.corrupt import find_results, read_equations, solved_equals
from prefbuild.corrupt.equations import rational_roots, solved_terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90 - x = 85", {Fraction(5)}),
        ("2.5x = 300", {Fraction(120)}),
        ("2X = 42", {Fraction(21)}),
        ("120x = 960", {Fraction(8)}),
        ("x * 6 = 90", {Fraction(15)}),
        (r"$\frac{1}{4}x = 2\frac{1}{2}$", {Fraction(10)}),  # exact fractions, a mixed number
        (r"$\dfrac{x}{3} + \sqrt{49} = 9$", {Fraction(6)}),
        (r"$20\% \cdot x = 30$", {Fraction(150)}),
        (r"$\left(x - 1\right) \cdot 3 = 18{,}000$", {Fraction(6001)}),  # LaTeX thousands
        ("x^2 = 49", {Fraction(7), Fraction(-7)}),  # a quadratic: rational roots only
        ("x^3 - 6x^2 + 11x = 6", {Fraction(1), Fraction(2), Fraction(3)}),  # a cubic: rational root theorem
        ("n+3 = 3n+3", {Fraction(0)}),  # the variable on both sides
    ],
)
def test_solves_one_variable_equations_exactly(text, expected):
    (equation,) = read_equations(text).values()
    assert set(equation.roots) == expected


def test_large_cubic_goes_to_sympy():
    # (x - 2)(x^2 + 1,000,003): the constant term is beyond the divisor search, so sympy finds the roots of a
    # Poly built from our Fraction coefficients (never from text)
    cubic = (Fraction(-2_000_006), Fraction(1_000_003), Fraction(-2), Fraction(1))
    assert rational_roots(cubic) == frozenset({Fraction(2)})
    assert rational_roots((Fraction(-2), Fraction(0), Fraction(1))) == frozenset()  # x^2 = 2: no rational root


@pytest.mark.parametrize(
    "text",
    [
        "x = 2 + y",  # two variables
        "x^9 = 512",  # degree above the bound
        "x / (x - 1) = 2",  # division by a variable
        "2^x = 8",  # a variable exponent
        "x = x",  # no root to find
        "x = " + "9" * 500,  # refused by the evaluator's digit bound
    ],
)
def test_refuses_what_it_cannot_solve(text):
    assert read_equations(text) == {}


@pytest.mark.parametrize(
    ("text", "solved"),
    [
        ("From 90 - x = 85 we get x = 5.", ["85", "5"]),  # each confirms the other
        ("So 2.5x = 300\nx = 120", ["300", "120"]),
        ("2X = 42, so X = 21.", ["42", "21"]),
        ("3x + 6 = 18\n3x = 12\nThe value of x is 4.", ["18", "12"]),  # confirmed by the answer line
        ("x = 7 and later x = 7 again", []),  # two restatements confirm nothing
        ("2x = 14, so x = 8.", []),  # a wrong step is not confirmed
    ],
)
def test_solved_results_are_confirmed_by_another_equation(text, solved):
    found = [(text[r.start : r.end], r.tier) for r in find_results(text)]
    assert [value for value, tier in found if tier == "solved"] == solved


def test_solved_terms_are_new_numbers_of_derived_equations():
    text = (
        "We can set up the equation as follows:\n20 + 10x - 5 = 45\nLet's simplify and solve for x:\n"
        "10x + 15 = 45\n10x = 30\nx = 3\nThe value of x is 3."
    )
    assert sorted(text[start:end] for start, end in solved_terms(text)) == ["15"]  # 10 was written before


def test_bounded_work_on_many_equations():
    text = "x + 1 = 2\n" * 5_000
    started = time.perf_counter()
    solved_equals(text, [text.index("=")])
    solved_terms(text)
    assert time.perf_counter() - started < 2.0
