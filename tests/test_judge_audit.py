"""The hand labels behind benchmarks/judge_audit.py are well formed, and its figures count them as documented."""

import sys
from collections import Counter

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import judge_audit  # noqa: E402

LEGEND = {"R", "Rp", "Rg", "F", "G", "O", "?"}


def test_every_label_is_in_the_legend_and_marks_its_number():
    items = judge_audit.read_labels()
    assert len(items) == 238
    assert Counter(item["stratum"] for item in items) == {
        "uniform": 90,
        "after_equals": 50,
        "context": 48,
        "prose": 50,
    }
    for item in items:
        assert item["label"] in LEGEND
        assert item["end"] - item["start"] == len(item["number"])
        assert f"⟦{item['number']}⟧" in item["context"]


def test_figures_count_precision_and_recall_by_label():
    items = [{"label": label} for label in ("R", "R", "Rp", "O", "G", "F", "?")]
    verdicts = [True, False, True, True, False, False, True]  # the unsure one counts nowhere
    data = judge_audit.figures(items, verdicts)
    assert data["judge_says_intermediate"] == 3
    assert data["precision"] == 2 / 3
    assert data["false_positives"] == {"O": 1}
    assert data["recall_R"] == (1, 2)
    assert data["recall_R_Rp"] == (2, 3)


def test_context_candidates_are_numbers_of_a_side_that_shares_text_with_the_one_before():
    rows = [
        {"response": "So $(2\\cdot 3 + 5)^2 = 11^2 = 121$.\nThe answer is: 121"},
        {"response": "We get $x = 4$ and $3 + 4 = 7$.\nThe answer is: 7"},  # no shared text: not drawn
    ]
    found = judge_audit.context_candidates(rows)
    assert [(row, number) for row, _, _, number in found] == [(0, "11")]
    text = rows[0]["response"]
    assert text[found[0][1] : found[0][2]] == "11"


def test_draw_context_is_seeded_and_unlabelled():
    rows = [{"response": f"Then $f({n} + 1) = f({n + 1})$.\nThe answer is: 0"} for n in range(2, 12)]
    first, second = judge_audit.draw_context(rows, 4), judge_audit.draw_context(rows, 4)
    assert first == second
    assert {item["stratum"] for item in first} == {"context"}
    assert all(item["label"] == "" and f"⟦{item['number']}⟧" in item["context"] for item in first)


def test_prose_candidates_are_first_statements_written_again_later():
    rows = [
        {
            "response": "There are 51 cards left, so $\\frac{4}{51}$. Then $2^3 = 8$ and 8 again, "
            "and she keeps 12 eggs: $12 - 5 = 7$.\nThe answer is: 7"
        }
    ]
    found = [number for _, _, _, number in judge_audit.prose_candidates(rows)]
    # 4 and 5 are written once; 8 is first written after an `=`, 3 is an exponent, the 7s follow an `=`
    assert found == ["51", "12"]
    drawn = judge_audit.draw_context(rows, 1, stratum="prose")
    assert drawn[0]["stratum"] == "prose" and drawn[0]["label"] == ""


def _judged(text: str, query: str = "What is it?", answer: str = "99") -> dict:
    """The judge's reading of the number between [ and ] in a one-line MATH-style solution."""
    start = text.index("[")
    text = text.replace("[", "", 1).replace("]", "", 1) + f"\nThe answer is: {answer}"
    match = next(m for m in judge_audit.metamath_quality.NUMBER_TOKEN.finditer(text) if m.start() == start)
    return judge_audit.metamath_quality.classify({"query": query}, text, match, confirm=False)


def test_judge_reads_context_steps_and_checks_them():
    for text in (
        r"$(2\cdot 3 + 5)^2 = [11]^2$",
        r"$f(2^2-6)=f(-[2])$",
        r"$\cos (300^\circ - 360^\circ) = \cos (-[60]^\circ)$",
        r"$\frac{42 \times 41}{2} = [21] \times 41$",
        r"$\gcd(9118, 3055 \div 5) = \gcd(9118, [611])$",
        r"$32+8+4-6+r=[38]+r$",
        r"$\lfloor x \rfloor + \lfloor 2x \rfloor = m + 2m + 3m + 1 = [6]m + 1$",  # the same polynomial in m
        r"$2^{10} \cdot 2^{15} = 2^{10+15} = 2^{[25]}$",
        # an align row: the left side is the row above, up to its `\\`
        "\\begin{align*}\n(2x-5)(x+7) &= 2x(x) + 2x(7) -5(x) -5(7)\\\\\n&=2x^2 +[14]x - 5x -35\n\\end{align*}",
        r"$\sqrt{\frac{1}{\sqrt{4096}}} = \sqrt{\frac{1}{[64]}}$",  # surds, in floating point
        r"$6^2\pi - 3^2\pi - 3^2\pi = 36\pi - [9]\pi - 9\pi$",  # and pi
        r"$\frac{1\cdot(\sqrt{2}+2)}{(\sqrt{2}-2)\cdot(\sqrt{2}+2)} = \frac{\sqrt{2}+2}{2-[4]}$",  # whole parts
        r"$\sqrt{(t-2)^2+(t+4)^2} = \sqrt{2t^2 + 4t + [20]}$",  # one variable under a root
        r"$29 + (3 \cdot 10^{-1} + 8 \cdot 10^{-1}) = 29 + [11] \cdot 10^{-1}$",  # past the exact evaluator
        # a long row: more than the exact evaluator's 60 tokens, read in floating point
        r"$(0 - 1)(0 - 2)(0 - 3)(0 - r) + 17 \cdot 0 + (4 - 1)(4 - 2)(4 - 3)(4 - r) + 17 \cdot 4 = 6r + [24] - 6r + 68$",
        r"$(2^4 \cdot x^4) + 3(x^{1+3}) = [16]x^4 + 3x^4$",  # `\cdot x` is two words
        r"$\frac{87}{19} = [4] + \frac{11}{19}$",  # the `{19}` both sides end with belongs to the fractions
        r"$\frac{5\sqrt{7}+\sqrt{7}+7\sqrt{5}+\sqrt{5}}{\sqrt{35}} = \frac{6\sqrt{7}+[8]\sqrt{5}}{\sqrt{35}}$",  # sides
        r"$\frac{1}{2}\left(\frac{2}{5}+\frac{4}{7}\right)=\frac{1}{2}\cdot\frac{14+[20]}{35}$",  # whole sides, exact
        r"$\dfrac{6}{3\times 2\times 1} \times 5 = [1] \times 5$",  # the part's value, though the part wrote a 1
        r"$\pi (2r)^2(3h)=[12]\pi r^2 h$",  # two variables
        r"$2P \ge 51 - (165 - 44 \sqrt{11}) = 44 \sqrt{11} - [114]$",  # the side begins after `\ge`
        r"$\frac{44\cdot 45}{2} = [22]\cdot 45 \equiv 0\bmod 9$",  # and ends before `\equiv`
        r"$5+\sqrt{141}-1+5=[9]+\sqrt{141} \rightarrow (p,q)$",  # or an arrow
        r"$x^2 - 5x = \left( x - \frac{5}{2} \right)^2 - \frac{[25]}{4}$",  # `\left(` is no `\le`
        r"$\binom{5}{2}(1)^3(-2x^2)^2=[10](4x^4)$",  # binomial coefficients
    ):
        assert _judged(text)["intermediate"], text
    for text in (
        r"$2 \cdot 3 + 5 = 2 \cdot [8]$",  # the parts are equal but the sides are not: wrong arithmetic
        r"$2 \cdot 3 + 5 = 6 + [5]$",  # 5 is carried, not computed
        r"$(y-1)^3 - (y-1) + 1 = y^3 - 3y^[2] + 2y + 1$",  # a new exponent of an expansion
        r"$x(x+1) = x^2 + [1]x$",  # 1 is a number the left side wrote
        r"$\sqrt{(t-2)^2+(t+4)^2} = \sqrt{2t^2 + 4t + [21]}$",  # not the same polynomial
        r"$\frac{\sqrt{3}}{\sqrt{8}} = \frac{\sqrt{6}}{\sqrt{[17]}}$",  # not the same value
        r"$\sqrt{180} = \sqrt{[6]^2}\sqrt5$",  # a factorisation's base
        r"$\frac18\cdot \frac[17] = \frac{1}{56}$",  # braceless digits: a numerator and a denominator
        r"$\pi (2r)^2(3h)=[13]\pi r^2 h$",  # not the same in r and h
    ):
        assert not _judged(text)["intermediate"], text


def test_judge_false_positive_classes():
    assert not _judged(r"we get $n + 1 = [4]!$ so")["intermediate"]  # the operand of a factorial
    assert not _judged(r"simplifies to $xy - x + 3y = [0].$  Solving")["intermediate"]  # an equation set to 0
    assert _judged(r"at $x = 6$, $y = [0]$. From")["intermediate"]  # a solved value that is 0
    assert _judged(r"so $x=1$ and $y = -[2].$", answer="(1,-2)")["final_answer"]  # a coordinate of the answer
    assert _judged(r"so $s = [4]$.", answer="4\\text{ units}")["final_answer"]  # the answer with its unit
    assert _judged(r"so $c = [11] + 1$ and $= [11]:2$", query="She has eleven mangoes.")["question_number"]
    assert _judged(r"To get from [6] to 72 we", query=r"Solve $\frac 56 = \frac n{72}$.")["question_number"]
    reduced = _judged(r"$= \frac{(35+32+27)}{144} = \frac{[94]}{144} = \frac{47}{72}$", answer="\\frac{47}{72}")
    assert reduced["intermediate"] and not reduced["final_answer"]  # a numerator before the fraction is reduced
    assert _judged(r"$= \frac{[47]}{72}$", answer="\\frac{47}{72}")["final_answer"]
    assert _judged(r"gives $24h = 219 \Longrightarrow h = \frac {[73]}{8}$. Thus")["intermediate"]  # `\frac {`


def test_judge_reads_coefficients_of_rearranged_equations():
    latex = r"As $\frac{1}{2} < 1$, "  # a LaTeX solution: the judge reads `$` as math there
    for text in (
        r"we obtain $3x = 400 - 7x$. Adding $7x$ to both sides yields $[10]x = 400$. Dividing by $10$",
        r"the equation $9x^2-18x-720=0$ by $9$, we have $$x^2-2x-[80] = 0.$$ The square",
        r"both sides by 5, giving $180 = 5(F-32)$, so $[36] = F-32$.  Adding",
        "\\begin{align*} 0&=(4m)^2-4m\n\\\\\\Rightarrow\\qquad0&=[16]m^2-4m\n\\end{align*}",  # spacing, tabs
    ):
        assert _judged(latex + text)["intermediate"], text
    for text in (
        r"simplifies to $x^2 + x - 12 = 0.$  This factors as $(x - 3)(x + [4]) = 0,$ so",  # a factorisation
        r"we have $x^2-x-6=14 \Rightarrow x^2-x-20=[0]$. Since",  # the 0 of an equation set to zero
        r"we have $3x = 400 - 7x$ and $[10]y = 400$ too",  # another variable: no step
        r"we have $3x = 400 - 7x$ and so $[11]x = 400$ too",  # not the same equation
    ):
        assert not _judged(latex + text)["intermediate"], text


def test_surd_value_reads_roots_fractions_and_pi_and_nothing_else():
    surd_value = judge_audit.metamath_quality.surd_value
    assert surd_value(r"\sqrt{4096}") == 64
    assert surd_value(r"\sqrt[3]{27}") == 3
    assert surd_value(r"\frac 14 + 2\cdot 3") == 6.25
    assert abs(surd_value(r"36\pi") - 36 * 3.141592653589793) < 1e-9
    assert surd_value("-2^2") == -4
    assert surd_value(r"10\frac{2}{3}") == 10 + 2 / 3  # a mixed number
    assert surd_value(r"2\frac{\sqrt{9}}{2}") == 3  # not a mixed number: a product
    assert surd_value(r"\dfrac{5!}{1!4!}") == surd_value(r"\binom{5}{1}") == 5
    for text in ("2x", r"\sin 3", "(-2)^{1/2}", "0^{-1}", "2^{99}", "__import__('os')", "(1+2", "25!", "2.5!"):
        assert surd_value(text) is None, text
