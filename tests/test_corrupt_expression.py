"""The whitelisted parser and bounded evaluator: both solution styles, and hostile inputs refused fast."""

import time

import pytest

from prefbuild.corrupt import ExpressionError, find_results, parse_expression, safe_evaluate


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16 * $47", 752),
        ("2.5 x 6", 15),
        ("1,250 * 8", 10_000),
        ("6 × 7", 42),
        ("84 ÷ 2", 42),
        ("20% * 50", 10),
        ("(2 + 3) * 4", 20),
        ("2(3 + 4)", 14),
        ("-3 + 10", 7),
        ("2 ** 10", 1024),
        (r"\frac{12}{4}", 3),
        (r"\dfrac{1}{4} + \frac{3}{4}", 1),
        ("2^5", 32),
        ("2^{10}", 1024),
        (r"\sqrt{49}", 7),
        (r"3 \cdot 12", 36),
        (r"3 \times 12 \div 4", 9),
        (r"\left(1 + 2\right) \cdot 3", 9),
        ("2^3^2", 512),  # right-associative
        (r"2\frac{1}{2}", 2.5),  # a mixed number
        (r"3 \frac{1}{2} \cdot 2", 7),
        (r"60,\!000 + 18{,}360", 78_360),  # LaTeX thousands
        (r"20\% \cdot \$50", 10),
        ("0.2 * 50", 10),
        ("5!", 120),  # factorials, up to 17!
        (r"\frac{6!}{4!2!}", 15),
        ("(2+1)! + 1", 7),
        (r"90^\circ - 45^{\circ}", 45),  # a degree sign is a unit
    ],
)
def test_evaluates_both_styles(text, value):
    assert safe_evaluate(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9**9",
        "9^9^9^9",
        "2 ** 1000",
        "10 ** 16",
        "(" * 10_000 + "1" + ")" * 10_000,
        "-" * 10_000 + "1",
        "1" * 10_000,
        "1" * 10_000 + " + 1",
        "١٢ + ٣",  # Arabic-Indic digits
        "１２ + ３",  # full-width digits
        "__import__('os').system('echo hi')",
        "1 / 0",
        "0 ^ -1",
        "2 ^ 0.5",
        r"\sqrt{-4}",
        "(1 + 2",
        "1 +",
        "",
        "+".join(["1"] * 1000),
        "18!",  # above MAX_MAGNITUDE: refused before it is computed
        "99999!",
        "3.5!",
        "(0-1)!",
        "5!!!",
    ],
)
def test_hostile_inputs_are_refused_fast(text):
    started = time.perf_counter()
    assert safe_evaluate(text) is None
    assert time.perf_counter() - started < 0.05


def test_refusal_names_the_reason():
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse_expression("(" * 30 + "1" + ")" * 30)
    with pytest.raises(ExpressionError, match="digits"):
        parse_expression("1" * 100)
    with pytest.raises(ExpressionError, match="not part of an arithmetic expression"):
        parse_expression("os.system(1)")


def results(text):
    return [(text[r.start : r.end], r.tier) for r in find_results(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She spends 16 * $47 = $752 on pens.", [("752", "verified")]),
        ("In 6 hours she runs 2.5 x 6 = 15 miles.", [("15", "verified")]),
        ("1,250 * 8 = 10,000 apples", [("10,000", "verified")]),
        # 5 is the first term of `5 * 4`, not a direct result, but a new number of a checked chain step
        ("(2 + 3) * 4 = 5 * 4 = 20", [("5", "verified_term"), ("20", "verified")]),
        ("2x = 14, so x = 7.", [("14", "solved"), ("7", "solved")]),  # 2x = 14 and x = 7 agree on x
        ("2x = 14, so y = 7.", [("14", "unverified"), ("7", "unverified")]),
        (r"We have $\frac{12}{4} = 3$ and $2^5 = 32$.", [("3", "verified"), ("32", "verified")]),
        (r"Since \sqrt{49} = 7 and 3 \cdot 12 = 36,", [("7", "verified"), ("36", "verified")]),
        (r"so $3 + 4 = \boxed{7}$", []),  # the boxed final answer is never a candidate
        ("40 kids * 10% = 4 kids", [("4", "verified")]),  # unit words are dropped
        ("200 blueberries/pint * 2 pints/pie = 400 blueberries/pie", [("400", "verified")]),
        ("3.5 kw hours/week * $0.14/kw hour = $0.49/week", [("0.49", "verified")]),
        ("1200m-300m = 900m", [("900", "verified")]),
        ("10/50 = 20% of them", [("20", "verified")]),
        ("x <= 5 and y >= 3 and 2 == 2", []),
        ("The total is 3 + 4 = 7.\n#### 7\nThe answer is: 7", [("7", "verified")]),
        ("He pays 12 - 5 = -3? No: 5 - 12 = -7 dollars", [("3", "unverified"), ("7", "verified")]),
        (r"so $\frac{1}{3} + \frac{1}{4} = \frac{7}{12}$.", [("7", "verified")]),  # a fraction: its numerator
        (r"so $\frac{1}{3} + \frac{1}{4} = \dfrac{5}{12}$.", [("5", "unverified")]),
        (r"$2\pi \cdot 6 = 12\pi$ and $\frac{6x}{2} = 3x$", [("12", "verified"), ("3", "verified")]),
        # a surd result is verified by value (3 * sqrt(2) = sqrt(18)); a vector's coefficient is no result
        (r"$\sqrt{18} = 3\sqrt{2}$ and $= 2 \mathbf{v}$", [("3", "verified")]),
        (r"$60,\!000 \times 2 = 120,\!000$", [("120,\\!000", "verified")]),
        (r"$18{,}000 - 4{,}500 = 13{,}500$", [("13{,}500", "verified")]),
        (r"$2\frac{1}{2} \cdot 4 = 10$", [("10", "verified")]),  # a mixed number is 2 + 1/2
        (r"$180 - 120 = 60^\circ$ so $74\implies x=2$", [("60", "verified"), ("2", "unverified")]),
        (r"$\$1.50 + 5 \cdot \$0.25 = \$1.50 + \$1.25 = \$2.75$", [("1.25", "verified_term"), ("2.75", "verified")]),
        ("[asy]\nreal x = 1.5;\n[/asy] so 2 + 3 = 5", [("5", "verified")]),  # diagram code is never read
    ],
)
def test_finds_results_in_both_styles(text, expected):
    assert results(text) == expected


@pytest.mark.parametrize(
    "text",
    ["= " + "9" * 10_000, "x = " + "1," * 5_000 + "000", "= \\frac{" * 5_000, "\\boxed{" * 10_000 + "= 3"],
)
def test_result_finder_never_raises_on_huge_numbers_or_unclosed_braces(text):
    started = time.perf_counter()
    find_results(text)
    assert time.perf_counter() - started < 2.0


def test_result_finder_is_fast_on_hostile_text():
    text = "(" * 20_000 + "1 = 1" + "= 2" * 5_000 + "9**9**9**9 = 3"
    started = time.perf_counter()
    find_results(text)
    assert time.perf_counter() - started < 2.0
