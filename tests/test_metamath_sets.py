"""The SV/FOBAR derivation and the independent judge of benchmarks/ (no ../shared needed: hand-written rows)."""

import sys
from fractions import Fraction

import pytest

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import metamath_quality  # noqa: E402
import metamath_sets  # noqa: E402

NATALIA = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
}
MATH_ROW = {
    "problem": "A box of 25 chocolate candies costs $\\$6$. How many dollars does it cost to buy 600 chocolate candies?",
    "solution": "600 chocolate candies is $\\frac{600}{25} = 24$ times as many candies as 25 candies.  Multiplying "
    "the number of candies by 24 multiplies the cost by 24, so 600 candies costs $24\\cdot 6=\\boxed{144}$ dollars.",
}


def test_gsm8k_fobar_and_sv_solve_back_to_the_replaced_number():
    fobar, sv = metamath_sets.gsm8k_unknown_x(NATALIA, seed=0, index=0)
    assert fobar["type"] == "GSM_FOBAR" and sv["type"] == "GSM_SV"
    assert fobar["original_question"] == sv["original_question"] == NATALIA["question"]
    assert "clips to x of her friends" in fobar["query"]
    assert fobar["query"].endswith(
        "If we know the answer to the above question is 72, what is the value of unknown variable x?"
    )
    assert "x/2" in fobar["response"] or "0.5x" in fobar["response"]
    assert "1.5x = 72" in fobar["response"]
    assert fobar["response"].endswith("The value of x is 48.\nThe answer is: 48")
    assert "48" not in fobar["response"].split("We are given")[0]  # the reasoning is written with x
    assert sv["query"].endswith("What is the value of unknown variable x?")
    assert sv["response"].startswith("To solve this problem, we need to determine the value of x")
    assert "x + (x / 2) = 72" in sv["response"]
    assert sv["response"].endswith("The value of x is 48.\nThe answer is: 48")


def test_gsm8k_row_whose_answer_is_quadratic_in_every_given_is_refused():
    row = {"question": "A square has side 7. What is its area?", "answer": "7*7 = <<7*7=49>>49\n#### 49"}
    with pytest.raises(metamath_sets.Unsupported):
        metamath_sets.gsm8k_unknown_x(row, seed=0, index=0)


def test_linear_forms_are_exact_and_refuse_products_in_x():
    x = metamath_sets.Linear(Fraction(1), Fraction(0))
    three = metamath_sets.constant(Fraction(3))
    assert (x * three + three) / three == metamath_sets.Linear(Fraction(1), Fraction(1))
    with pytest.raises(metamath_sets.Unsupported):
        x * x
    with pytest.raises(metamath_sets.Unsupported):
        three / x


def test_math_fobar_replaces_a_linear_operand_with_capital_x():
    fobar, sv = metamath_sets.math_unknown_x(MATH_ROW, seed=0, index=0)
    assert "costs $\\$X$" in fobar["query"]
    assert "$24\\cdot X = 144$" in fobar["response"]
    assert fobar["response"].endswith("The value of X is 6.\nThe answer is: 6")
    assert sv["type"] == "MATH_SV" and sv["response"].endswith("The value of X is 6.\nThe answer is: 6")


def test_math_ansaug_takes_the_last_boxed_answer():
    row = metamath_sets.math_ansaug(MATH_ROW)
    assert row["response"].endswith("dollars.\nThe answer is: 144")
    assert metamath_sets.last_boxed("$\\boxed{\\frac{7}{12}}$")[2] == "\\frac{7}{12}"


@pytest.mark.parametrize(
    ("rejected", "expected"),
    [
        ("He has 5 + 3 = 9 apples.\nThen 8 - 2 = 6.", {"intermediate": True, "confirmed": True, "one_number": True}),
        ("He has 5 + 3 = 8 apples.\nThen 8 - 2 = 7.", {"final_answer": True, "intermediate": False}),
        ("He has 4 + 3 = 8 apples.\nThen 8 - 2 = 6.", {"question_number": True, "result": False}),
    ],
)
def test_judge_tells_results_from_answers_and_givens(rejected, expected):
    row = {"query": "Sam has 5 apples and gets 3 more. He eats 2. How many are left?"}
    chosen = "He has 5 + 3 = 8 apples.\nThen 8 - 2 = 6.\n#### 6\nThe answer is: 6"
    verdict = metamath_quality.judge(row, {"chosen": chosen, "rejected": rejected + "\n#### 6\nThe answer is: 6"})
    assert {key: verdict[key] for key in expected} == expected


def test_judge_flags_changed_answer_lines_boxes_and_extra_numbers():
    row = {"query": "Sam has 5 apples and gets 3 more. He eats 2. How many are left?"}
    chosen = "He has 5 + 3 = 8 apples.\nThen 8 - 2 = 6.\n#### 6\nThe answer is: 6"
    assert not metamath_quality.judge(row, {"chosen": chosen, "rejected": chosen.replace("8", "9")})["one_number"]
    boxed = "So $8 - 2 = \\boxed{6}$.\nThe answer is: 6"
    assert metamath_quality.judge(row, {"chosen": boxed, "rejected": boxed.replace("{6}", "{7}")})["boxed_changed"]
    changed = metamath_quality.judge(row, {"chosen": chosen, "rejected": chosen.replace("is: 6", "is: 7")})
    assert changed["answer_lines_changed"]
