"""The metamath builder on our fixture rows and end to end through the engine."""

import json
import random
import re
from fractions import Fraction

import datasets
import pyarrow.parquet as pq
import pytest

from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.builders.metamath import MAX_RESPONSE_CHARS
from prefbuild.corrupt import TIERS, NumberForm, candidate_numbers, corrupt_row
from prefbuild.errors import PrefbuildError

from .conftest import FIXTURES

SOURCE = FIXTURES / "metamath"
BUILDER = BUILDERS["metamath"]
# Hand-written rows of every MetaMathQA type, each with the numbers that may change (`may_change`), the tier they
# are found in and the final calculation's result (the `final_result` fallback).
ROW_TYPES = json.loads((SOURCE / "row_types.json").read_text())
TYPES = {
    "GSM_AnsAug",
    "GSM_Rephrased",
    "GSM_SV",
    "GSM_FOBAR",
    "MATH_AnsAug",
    "MATH_Rephrased",
    "MATH_SV",
    "MATH_FOBAR",
}
NUMBER_TOKEN = re.compile(r"[0-9]+(?:(?:[.,]|\{,\})[0-9]+)*")  # independent of the builder's own number regex
ANSWER_LINES = re.compile(r"^####.*$|The answer is.*$|The value of .* is .*$", re.MULTILINE)


def fixture_rows():
    return [json.loads(line) for line in (SOURCE / "train.jsonl").read_text().splitlines()]


def build_fixture(index: int, seed: int = 0, **options):
    row = fixture_rows()[index]
    return BUILDER.build_row(row, BUILDER.row_id(row, index), seed, {**BUILDER.options, **options})


def build(row: dict, seed: int = 0, **options):
    return BUILDER.build_row(row, BUILDER.row_id(row, 0), seed, {**BUILDER.options, **options})


def test_fixture_covers_every_row_type():
    assert {row["type"] for row in ROW_TYPES} == TYPES


@pytest.mark.parametrize("row", ROW_TYPES, ids=[f"{row['type']}-{i}" for i, row in enumerate(ROW_TYPES)])
def test_expected_candidate_set_per_row_type(row):
    pool, reason = candidate_numbers(row["response"], row["query"])
    assert reason is None
    assert sorted(row["response"][r.start : r.end] for r in pool) == sorted(row["may_change"])
    assert {r.tier for r in pool} == {row["tier"]}


@pytest.mark.parametrize("row", ROW_TYPES, ids=[f"{row['type']}-{i}" for i, row in enumerate(ROW_TYPES)])
def test_only_the_candidates_change_and_never_an_answer_line(row):
    for seed in range(12):
        (pair,) = build(row, seed).pairs
        assert pair["original_value"] in row["may_change"] and pair["tier"] == row["tier"]
        assert pair["type"] == row["type"]
        assert ANSWER_LINES.findall(pair["rejected"]) == ANSWER_LINES.findall(row["response"])
        # exactly one number token differs, everything else is identical
        assert NUMBER_TOKEN.sub("#", pair["chosen"]) == NUMBER_TOKEN.sub("#", pair["rejected"])
        before, after = NUMBER_TOKEN.findall(pair["chosen"]), NUMBER_TOKEN.findall(pair["rejected"])
        assert sum(a != b for a, b in zip(before, after)) == 1
        if row["tier"] != "final_result":  # the final answer, wherever it is restated, stays
            assert "\\boxed" not in row["response"] or (
                pair["rejected"][pair["rejected"].index("\\boxed") :]
                == row["response"][row["response"].index("\\boxed") :]
            )


def test_final_result_fallback_can_be_switched_off():
    (sv,) = [row for row in ROW_TYPES if row["tier"] == "final_result"]
    (pair,) = build(sv).pairs
    assert pair["tier"] == "final_result" and pair["original_value"] == "8"
    assert pair["rejected"].endswith("The value of x is 8.\nThe answer is: 8")  # the answer lines still say 8
    outcome = build(sv, final_result_fallback=False)
    assert outcome.pairs == [] and outcome.skip_reason == "only_final_result"
    # a row with an intermediate result is unaffected by the option
    assert build(ROW_TYPES[0], final_result_fallback=False).pairs == build(ROW_TYPES[0]).pairs


def test_final_result_in_a_box_when_nothing_else_qualifies():
    row = {"query": "Compute $130 - 62$.", "response": "We have $130-62=\\boxed{68}$.\nThe answer is: 68"}
    (pair,) = build(row).pairs
    assert pair["tier"] == "final_result" and pair["original_value"] == "68"
    assert pair["rejected"].endswith("The answer is: 68")


def test_fraction_result_keeps_its_form_and_lowest_terms():
    (row,) = [row for row in ROW_TYPES if row.get("fraction_denominator")]
    for seed in range(20):
        (pair,) = build(row, seed).pairs
        numerator = int(pair["new_value"])
        assert f"\\frac{{{numerator}}}{{15}}" in pair["rejected"]
        assert numerator != 11 and numerator > 0 and all(numerator % p for p in (3, 5))


def test_latex_thousands_keep_their_separator():
    (row,) = [row for row in ROW_TYPES if "{,}" in row["may_change"][0]]
    for seed in range(10):
        (pair,) = build(row, seed).pairs
        assert re.fullmatch(r"[0-9]{1,3}\{,\}[0-9]{3}", pair["new_value"]), pair["new_value"]


def test_wide_slips_are_the_datasheet_size():
    # The authors' datasheet shows `= $47` corrupted to `= $52`: about 10 %, more than ±1/±2
    row = {
        "query": "Pens cost $4 each. Sam buys 10 pens and a $7 bag, and pays $1 tax.",
        "response": "Pens: 4 * 10 = $40. Total: 40 + 7 = $47 before tax.\nThe answer is: 48",
    }
    small, wide = set(), set()
    for seed in range(60):
        for model, found in (("small", small), ("wide", wide)):
            (pair,) = build(row, seed, slip_model=model).pairs
            if pair["original_value"] == "47":
                found.add((pair["slip"], int(pair["new_value"])))
    assert {slip for slip, _ in small} <= {"offset", "digit_slip", "off_by_one_step"}
    assert {slip for slip, _ in wide} <= {"wide_offset", "off_by_one_step"}
    offsets = [value for slip, value in wide if slip == "wide_offset"]
    assert offsets and all(3 <= abs(value - 47) <= 12 for value in offsets)


def test_unknown_slip_model_is_refused_before_building():
    with pytest.raises(PrefbuildError, match="--slip-model must be one of small, wide, got 'huge'"):
        BUILDER.prepare({}, {"slip_model": "huge"}, 0)


def test_row_without_numbers_is_skipped_under_a_named_reason():
    outcome = build_fixture(7)  # "A mile is longer than a kilometre."
    assert outcome.pairs == [] and outcome.skip_reason == "no_number_to_corrupt"


def test_empty_response_is_skipped():
    outcome = BUILDER.build_row({"query": "q", "response": " "}, "id", 0, {})
    assert outcome.skip_reason == "empty_query_or_response"


@pytest.mark.parametrize("seed", range(5))
def test_latex_row_changes_a_verified_result_never_the_boxed_answer(seed):
    (pair,) = build_fixture(3, seed).pairs  # $\frac{12}{4} = 3$ and $2^5 = 32$ ... \boxed{35}
    assert pair["tier"] == "verified" and pair["original_value"] in {"3", "32"}
    assert "\\boxed{35}" in pair["rejected"] and pair["rejected"].endswith("The answer is: 35")


def test_fallback_tiers():
    # x / 2 = 12 (12 is given), so x = 24 (the answer): only the final result is left
    (pair,) = build_fixture(8).pairs
    assert pair["tier"] == "final_result" and pair["original_value"] == "24"
    # no `=`: "30 pages on each of the 7 days, which makes 210 pages": 30 is given, 210 the answer, 7 (a week) is
    # another number
    (pair,) = build_fixture(11).pairs
    assert pair["tier"] == "any_number" and pair["original_value"] == "7"
    row = {"query": "How far did she walk?", "response": "She walked 3 km, then 4 km.\nThe answer is: 7"}
    (pair,) = build(row).pairs
    assert pair["tier"] == "any_number" and pair["original_value"] in {"3", "4"}
    row = {"query": "What is the radius?", "response": "The area is $25\\pi$, so the radius is 5.\nThe answer is: 10"}
    (pair,) = build(row).pairs
    assert pair["tier"] == "stated" and pair["original_value"] == "5"


def test_step_labels_and_years_are_not_results():
    for seed in range(20):
        (pair,) = build_fixture(6, seed).pairs  # "Step 1: 40% * 250 = 100 ...", "In 1998"
        assert pair["original_value"] == "150"  # 100 is the answer


def test_operands_bases_exponents_and_bounds_are_not_candidates():
    response = (
        "The numbers less than 5 are 1, 2, 3 and 4. We need $\\frac{1}{4}$ of $2^{10}$, twice.\n"
        "That gives 9 cookies.\nThe answer is: 9"
    )
    pool, reason = candidate_numbers(response, "How many cookies?")
    assert reason is None and [(r.tier, response[r.start : r.end]) for r in pool] == [("final_result", "9")]


def test_number_too_long_and_response_too_long_are_skipped_not_raised():
    digits = "7" * 10_000
    outcome = build({"query": "q", "response": f"So 3 + 4 = {digits}.\nThe answer is: 7"})
    assert outcome.skip_reason == "number_too_long"
    outcome = build({"query": "q", "response": "3 + 4 = 7. " * (MAX_RESPONSE_CHARS // 11 + 1)})
    assert outcome.skip_reason == "response_too_long"
    # the engine itself never converts such a number (Python refuses int() past 4,300 digits)
    assert isinstance(corrupt_row(f"So 3 + 4 = {digits} and 2 + 2 = 4.", random.Random(0)), object)
    with pytest.raises(ValueError, match="longer than"):
        NumberForm.parse(digits)


@pytest.mark.parametrize(
    "response",
    [
        "\\boxed{" * 7_000 + "1 + 1 = 2",
        "The answer is: 1\n" * 2_800 + "1 + 1 = 2",
        "Step 1: 1 + 1 = 2\n" * 2_500,
        "= 2 " * 12_000,
        "#### 1\n" * 6_000 + "1 + 1 = 2",
    ],
)
def test_hostile_responses_stay_linear(response):
    # Each under MAX_RESPONSE_CHARS so the engine runs on them; quadratic work on 50 KB would take minutes
    import time

    assert len(response) <= MAX_RESPONSE_CHARS
    started = time.process_time()
    outcome = build({"query": "Q?", "response": response})
    assert outcome.skip_reason in (None, "no_number_to_corrupt", "only_final_result")
    assert time.process_time() - started < 5.0


def grouped_rows():
    rows = []
    for group in range(40):
        for variant in ("AnsAug", "Rephrased", "SV", "FOBAR")[: 1 + group % 4]:
            question = f"Question {group}: how many apples are {group} + 1?"
            rows.append(
                {
                    "query": f"{variant}: {question}",
                    "response": f"{group} + 1 = {group + 1} apples.\nThe answer is: {group + 1}",
                    "type": f"GSM_{variant}",
                    "original_question": question,
                }
            )
    return rows


def test_eval_hold_out_takes_whole_question_groups():
    dataset = datasets.Dataset.from_list(grouped_rows())  # 100 rows in 40 groups of 1 to 4
    first = BUILDER.prepare({"train": dataset}, {"eval_size": 10}, 0)
    again = BUILDER.prepare({"train": dataset}, {"eval_size": 10}, 0)
    other = BUILDER.prepare({"train": dataset}, {"eval_size": 10}, 1)
    eval_questions = set(first["eval"]["original_question"])
    assert eval_questions.isdisjoint(first["train"]["original_question"])
    assert 10 <= len(first["eval"]) <= 13  # at least eval_size, at most one group's size more
    assert len(first["eval"]) + len(first["train"]) == len(dataset)
    assert first["eval"]["query"] == again["eval"]["query"]
    assert set(other["eval"]["original_question"]) != eval_questions
    for question in eval_questions:  # whole groups
        assert first["eval"]["original_question"].count(question) == dataset["original_question"].count(question)


def test_eval_hold_out_falls_back_to_rows_without_original_question():
    dataset = datasets.Dataset.from_list(fixture_rows()).remove_columns("original_question")
    first = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 0)
    again = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 0)
    other = BUILDER.prepare({"train": dataset}, {"eval_size": 3}, 1)
    assert len(first["eval"]) == 3 and len(first["train"]) == len(dataset) - 3
    assert first["eval"]["query"] == again["eval"]["query"] != other["eval"]["query"]
    assert set(first["eval"]["query"]).isdisjoint(first["train"]["query"])
    assert set(BUILDER.prepare({"train": dataset}, {"eval_size": 0}, 0)) == {"train"}


@pytest.mark.parametrize(("size", "message"), [(-1, "must be an integer >= 0"), (12, "leaves no train rows")])
def test_bad_eval_size_is_refused(size, message):
    dataset = datasets.Dataset.from_list(fixture_rows())
    with pytest.raises(PrefbuildError, match=message):
        BUILDER.prepare({"train": dataset}, {"eval_size": size}, 0)


def test_end_to_end_build(tmp_path):
    report = build_dataset(
        "metamath", source=str(SOURCE), out=tmp_path / "out", options={"eval_size": 2}, seed=3, plot=False
    )
    splits = report.stats["splits"]
    assert set(splits) == {"train", "eval"}
    assert sum(s["input_rows"] for s in splits.values()) == len(fixture_rows())
    for split in splits.values():
        assert split["input_rows"] == split["pairs"] + sum(split["skipped"].values())
        assert set(split.get("tiers", {})) <= set(TIERS)
    table = pq.read_table(next((tmp_path / "out" / "data").glob("train*.parquet")))
    assert {"tier", "slip", "original_value", "new_value", "span_start", "span_end", "type"} <= set(table.column_names)
    assert str(table.schema.field("span_start").type) == "int32"


def test_options_reach_the_build(tmp_path):
    report = build_dataset(
        "metamath",
        source=str(SOURCE),
        out=tmp_path / "out",
        options={"eval_size": 0, "final_result_fallback": False, "slip_model": "wide"},
        plot=False,
    )
    train = report.stats["splits"]["train"]
    assert "final_result" not in train.get("tiers", {}) and train["skipped"].get("only_final_result", 0) >= 2
    assert report.stats["options"]["slip_model"] == "wide"


def test_eval_size_zero_gives_no_eval_split(tmp_path):
    report = build_dataset("metamath", source=str(SOURCE), out=tmp_path / "out", options={"eval_size": 0}, plot=False)
    assert set(report.stats["splits"]) == {"train"}


@pytest.mark.slow
def test_generated_rows_num_proc_invariant(tmp_path, monkeypatch):
    monkeypatch.setattr("prefbuild.build.MIN_ROWS_PER_PROCESS", 1)  # worker processes even for 200 rows
    rows = [
        {"query": f"Q{i}", "response": f"Take {i} * 3 = {i * 3} and {i} + 7 = {i + 7}.\nThe answer is: {i}"}
        for i in range(200)
    ]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tables = []
    for num_proc in (1, 2):
        out = tmp_path / f"out{num_proc}"
        build_dataset(
            "metamath", source=str(source), out=out, options={"eval_size": 10}, num_proc=num_proc, plot=False
        )
        tables.append({p.name: pq.read_table(p) for p in sorted((out / "data").glob("*.parquet"))})
    assert tables[0].keys() == tables[1].keys()
    for name in tables[0]:
        assert tables[0][name].equals(tables[1][name])


# Builder 2.1.0: the classes of disagreement with benchmarks/metamath_quality.py's judge that were the builder's
@pytest.mark.parametrize(
    ("query", "response", "may_change"),
    [
        # a number written as a product: its factors are operands, not results (so no verified_term)
        (
            "Simplify $\\sqrt{117}$.",
            "Since $117 = 9 \\times 13$, $\\sqrt{117} = 3\\sqrt{13}$. So $4 + 6 = 10$.\nThe answer is: 3",
            ["10"],
        ),
        # a result followed by a degree sign and an operator continues the expression: 180 is an operand
        (
            "Angle A is 73 degrees. Find its supplement.",
            "The supplement is $180^\\circ - 73^\\circ = 107^\\circ$, and $107 + 3 = 110$.\nThe answer is: 107",
            ["110"],
        ),
        # a fraction result is given only when the fraction is: 1 is given, 1/4 is not
        (
            "A pie has 1 filling. What is half of a half?",
            "Half of a half is $\\frac{1}{2} \\cdot \\frac{1}{2} = \\frac{1}{4}$, so $\\frac{1}{4} \\cdot 8 = 2$.\n"
            "The answer is: 7",
            ["1", "2"],
        ),
        # a negative result is given only when the question has that negative number
        (
            "Let f(x) = x - 9. Find f(0) + 12.",
            "We have $f(0) = 0 - 9 = -9$, so $-9 + 12 = 3$.\nThe answer is: 3",
            ["9"],
        ),
        (
            "Let f(0) = -9. Find f(0) + 12.",
            "We have $f(0) = -9$ and $-9 + 12 = 3$, so $3 \\cdot 2 = 6$.\nThe answer is: 5",
            ["6"],
        ),
    ],
)
def test_candidates_of_builder_2_1_0(query, response, may_change):
    pool, reason = candidate_numbers(response, query)
    assert reason is None
    assert sorted(response[result.start : result.end] for result in pool) == sorted(may_change)


def test_a_number_before_a_parenthesis_is_a_coefficient_not_a_stated_result():
    response = (
        "The minimal value is when each part is 8, and the solution is $8(11 + 13 + 27)$ in all.\nThe answer is: 408"
    )
    pool, _ = candidate_numbers(response, "Find the minimum of 11, 13 and 27.")
    assert "8(" not in [response[result.start : result.end + 1] for result in pool]


# Builder 2.2.0: MATH text's LaTeX. Each row: the question, the response, the numbers that may change and their tier.
@pytest.mark.parametrize(
    ("query", "response", "may_change", "tier"),
    [
        # an `align` environment: `&=` rows, and a row that opens with `&=` continues the previous row's right side
        (
            "Calculate: $9-8+7\\times6+5-4\\times3+2-1$",
            "By the order of operations: \\begin{align*}\n9-8+7\\times 6 +5-4\\times 3+2-1 &= 9-8+42 +5-12 + 2 -1\\\\\n"
            "&=1 + 42 +5-12 + 2-1\\\\\n&=48-12 + 2 -1\\\\\n&= 36 +1 = \\boxed{37}.\n\\end{align*}\nThe answer is: 37",
            ["42", "12", "48", "36"],  # 1 is on the left already (a carried operand), 37 is the answer
            "verified_term",
        ),
        # `5!=120` is a factorial, not "not equal"; 3 != 4 (with a space) stays a comparison
        (
            "In how many ways can 5 people sit in a row, then 4 more? Is 3 != 4?",
            "There are $5!=120$ ways and $4!=24$ ways, and 3 != 4, so $120 \\cdot 24 = \\boxed{2880}$.\n"
            "The answer is: 2880",
            ["120", "24"],
            "verified",
        ),
        # a tuple result whose left side is a tuple computing it (1 is given in the question)
        (
            "What is the midpoint of the segment with endpoints (1,1) and (5,1)? Then move it 4 units left.",
            "The midpoint is $\\left( \\frac{1+5}{2}, \\frac{1+1}{2} \\right) = (3, 1).$ Moving it gives "
            "$(3-4,1) = \\boxed{(-1,1)}$.\nThe answer is: (-1,1)",
            ["3"],
            "verified",
        ),
        # terms inside a \frac group (6, the denominator, is the group's whole content: an operand)
        (
            "If $x = 2$ and $y = 5$, then what is the value of $\\frac{x^4+2y^2}{6}$ ?",
            "We have  \\[\\frac{x^4 + 2y^2}{6} = \\frac{2^4 + 2(5^2)}{6} = \\frac{16+2(25)}{6} = \\frac{16+50}{6} = "
            "\\frac{66}{6} = \\boxed{11}.\\]\nThe answer is: 11",
            ["16", "25", "50"],  # 66/6 is the answer 11
            "verified_term",
        ),
        # a surd result, checked by value
        (
            "Simplify $\\sqrt{338}$ and add 1.",
            "We have $\\sqrt{338}=\\sqrt{2\\cdot169}=13\\sqrt2$, so the sum is $\\boxed{13\\sqrt2+1}$.\n"
            "The answer is: 13\\sqrt2+1",
            [],  # 13 is part of the answer
            None,
        ),
        # a rounded result after \approx, when the left side computes it (\pi \approx 3.1416 states a constant)
        (
            "What is the largest four-digit negative integer congruent to $1 \\pmod{23}?$",
            "We need $n<-\\frac{1000}{23} \\approx -43.48$ (and $\\pi \\approx 3.1416$ plays no part), so $n = -44$ "
            "and $23 \\cdot -44 +1 =\\boxed{-1011}$.\nThe answer is: -1011",
            ["43.48"],
            "verified",
        ),
        # a factorisation writes the constants it found, not ones computed from the left: 3 and 4 are not terms
        (
            "Factor $x^2 + 7x + 12$ and find the sum of the constants.",
            "We have $x^2 + 7x + 12 = (x + 3)(x + 4)$, so the sum is $\\boxed{7}$.\nThe answer is: 7",
            ["7"],
            "final_result",
        ),
        # a product written anew as a product: the new factors are operands (2 and 4 are no results)
        (
            "What are the divisor pairs of 8?",
            "We have $8=1\\cdot8=2\\cdot4$, and $5 \\cdot 7 \\cdot 97 = 35 \\cdot 97$.\nThe answer is: 2",
            ["35"],  # 35 is 5 * 7, computed from the left's factors
            "verified_term",
        ),
        # the answer of an answer line is what its last `=` gives: 6840 and 120 are results, 6960 the answer
        (
            "In how many ways can the prizes be given?",
            "There are $20\\times 19\\times 18=6840$ ways in this case, and $3\\times 2\\times 20=120$ in the other, "
            "so the answer is $6840+120=\\boxed{6960}$.\nThe answer is: 6960",
            ["6840", "120"],
            "verified",
        ),
        # a fraction followed by a factor is a coefficient, not a result; degree signs are units
        (
            "A triangle has base $x$ and height $2x-1$; its angle is $38^\\circ$.",
            "The area is $\\frac{1}{2}bh=\\frac{1}{2}x(2x-1)$, and the other angle is $90^\\circ - 38^\\circ = "
            "52^\\circ$.\nThe answer is: 52",
            ["52"],
            "final_result",
        ),
    ],
)
def test_candidates_of_builder_2_2_0(query, response, may_change, tier):
    pool, reason = candidate_numbers(response, query)
    if not may_change:
        assert tier is None and all(result.tier == "final_result" for result in pool)
        return
    assert reason is None
    assert sorted(response[result.start : result.end] for result in pool) == sorted(may_change)
    assert {result.tier for result in pool} == {tier}


# Builder 2.3.0: context steps (a step computes one part of an expression and carries the rest), slash fractions
# in LaTeX text, and a box on an "answer is" line of prose. Each row: question, response, may change, tier.
@pytest.mark.parametrize(
    ("query", "response", "may_change", "tier"),
    [
        # a computed base: 11 is 2*3+5 (2, 3 and 5 are given; 121 is the answer)
        (
            "Evaluate $(2x+5)^2$ when $x = 3$.",
            "We have $(2x+5)^2 = (2\\cdot 3 + 5)^2 = 11^2 = \\boxed{121}$.\nThe answer is: 121",
            ["11"],
            "verified_term",
        ),
        # a computed argument: f(2^2-6) = f(-2); the 2 of g(2) is given, and f(-2) = -2+3 only restates it
        (
            "If $f(x) = x+3$ and $g(x) = x^2 - 6$, what is $f(g(2))$?",
            "$f(g(2))=f(2^2-6)=f(-2)=-2+3=\\boxed{1}$.\nThe answer is: 1",
            ["2"],
            "verified_term",
        ),
        # a carried unknown: `3(4)+5+y = 12+5+y = 17+y`, the parts before `+5+y` and `+y` are computed
        (
            "What is $3(4)+5+y$ when $y=3$?",
            "We have $3(4)+5+y = 12+5+y = 17+y$, so with $y = 3$ we get $\\boxed{20}$.\nThe answer is: 20",
            ["12", "17"],
            "verified_term",
        ),
        # a computed angle inside a function: 300 - 360 = -60 (degree signs are units)
        (
            "Compute $\\cos 300^\\circ$.",
            "\\[\\cos 300^\\circ = \\cos (300^\\circ - 360^\\circ) = \\cos (-60^\\circ) = \\cos 60^\\circ = "
            "\\boxed{\\frac{1}{2}}.\\]\nThe answer is: \\frac{1}{2}",
            ["60"],
            "verified_term",
        ),
        # the terms of a radicand, behind LaTeX spacing (`\\!`); 13 is the answer
        (
            "What is the distance between $(-5,-2)$ and $(7,3)$?",
            "We use the distance formula: \\[\\sqrt{(-5 -7)^2 + (-2-3)^2} = \\!\\sqrt{144 + 25} = \\boxed{13}.\\]\n"
            "The answer is: 13",
            ["144", "25"],
            "verified_term",
        ),
        # a factorisation into powers writes operands, and an exponent is no result (2^{3+4} = 2^{7}: not 7)
        (
            "Simplify $\\sqrt{8\\cdot50}$ and $2^{3+4}$.",
            "We find $\\sqrt{8\\cdot50}=\\sqrt{(2\\cdot2)^2\\cdot5^2}$ and $2^{3+4} = 2^{7}$, so the sum is "
            "$\\boxed{148}$.\nThe answer is: 148",
            ["148"],
            "final_result",
        ),
        # a fraction in lowest terms written with a slash, solved (not `= 12/3 = 4`'s 12: an expression)
        (
            "If $5p + q = 4$ and $4p - q = 2$, what is $3p + 12/3$?",
            "Adding the equations gives $9p=6$, which implies $p=2/3$. Also $12/3 = 4$, so the sum is "
            "$\\boxed{6}$.\nThe answer is: 6",
            ["2"],  # p = 2/3 (changed in its numerator); 6 is the answer, 4 given
            "solved",
        ),
        # a bound in a subscript is no result (k=0), and a question's slash fraction is given: 0.4 restates 2/5
        (
            "She dreamed for 2/5 of the $x$ hours. What is $\\sum_{k=0}^{2} k$?",
            "She dreamed for $x \\cdot 2/5 = 0.4x$ hours and slept $x - 0.4x = 0.6x$ hours. Also "
            "$\\sum_{k=0}^{2} k = 0+1+2 = \\boxed{3}$.\nThe answer is: 3",
            ["0.6"],
            "verified",
        ),
        # a fraction times a symbol is a result when the left side computes it; a formula's coefficient is not
        (
            "A sector is 3/4 of a circle of radius 5. What is twice the length of its arc?",
            "A cone has $V = \\frac{4}{3}\\pi r^3$; the arc is $\\frac{3}{4}(2\\pi(5))=\\frac{15}{2}\\pi$, and twice "
            "that is $\\boxed{15\\pi}$.\nThe answer is: 15\\pi",
            ["15"],  # the 15 of 15/2, changed as the fraction (4 and 3 of the formula are operands)
            "verified",
        ),
        # a polynomial step: an expansion computes its new coefficients (same polynomial on both sides, exactly);
        # a factorisation writes operands, and an equation (`2x + 3 = 11`) is no identity
        (
            "Write $-(x+3)(x-5)$ in the form $ax^2+bx+c$ and factor $x^2 + 3x + 2$. Then solve $2x + 3 = 11$.",
            "We get $-(x + 3)(x - 5) = -x^2 + 2x + 15$ and $x^2 + 3x + 2 = (x + 1)(x + 2)$. From $2x + 3 = 11$, "
            "$x = \\boxed{4}$.\nThe answer is: 4",
            ["15"],  # 2 and 3 are given (the question's numbers), 11 is given
            "verified_term",
        ),
        # "the answer is" with a box: the box is the answer, the calculation before it is reasoning
        (
            "Find the sum of three pairwise coprime factors of $27000$ greater than 1.",
            "The factors are $2^3$, $3^3$ and $5^3$. Therefore, the answer is "
            "\\[2^3+3^3+5^3=8+27+125=\\boxed{160}.\\]\nThe answer is: 160",
            ["8", "27", "125"],
            "verified_term",
        ),
    ],
)
def test_candidates_of_builder_2_3_0(query, response, may_change, tier):
    pool, reason = candidate_numbers(response, query)
    assert reason is None
    assert sorted(response[result.start : result.end] for result in pool) == sorted(may_change)
    assert {result.tier for result in pool} == {tier}


def test_a_context_step_fraction_keeps_its_form():
    response = (
        "We have $3 \\div \\frac{6}{11} = \\frac{3}{6} \\cdot 11 = \\frac{1}{2} \\cdot 11 = \\boxed{\\frac{11}{2}}$.\n"
        "The answer is: \\frac{11}{2}"
    )
    pool, _ = candidate_numbers(response, "What is $3 \\div \\frac{6}{11}$?")
    assert [(result.tier, result.value, result.denominator) for result in pool] == [
        ("verified_term", Fraction(1, 2), 2)
    ]
    corruption = corrupt_row(response, random.Random(0), "What is $3 \\div \\frac{6}{11}$?")
    assert corruption.text.count("\\frac{1}{2}") == 0 and "\\cdot 11 = \\boxed{\\frac{11}{2}}" in corruption.text


# The context stage's cheaper readings (round 6) must answer exactly as the plain ones they replaced.
def _reference_context_parts(left, right):
    """`_context_parts` as written for builder 2.3.0: slices and re-reads the token lists for every suffix."""
    from prefbuild.corrupt.results import _after_prose, _balanced

    most = 0
    while most < len(right) - 1 and most < len(left) - 1 and left[-1 - most][:2] == right[-1 - most][:2]:
        most += 1
    for suffix in range(most, -1, -1):
        left_rest, right_rest = left[: len(left) - suffix], right[: len(right) - suffix]
        after = right[len(right) - suffix] if suffix else None
        keys, wanted = [token[:2] for token in left_rest], [token[:2] for token in right_rest[:-1]]
        places = {}
        for at, key in enumerate(keys):
            if wanted and key == wanted[0]:
                size = 1
                while size < len(wanted) and at + size < len(keys) and keys[at + size] == wanted[size]:
                    size += 1
                for length in range(1, size + 1):
                    places[length] = at
        for prefix in [*sorted(places, reverse=True), 0]:
            if prefix + suffix == 0 and not any(token[0] == "v" for token in right):
                return None
            if prefix:
                if wanted[prefix - 1][0] in "fs":
                    continue
                left_part = left_rest[places[prefix] + prefix :]
            else:
                left_part = _after_prose(left_rest)
                opened = sum(token[0] == "(" for token in left_part) - sum(token[0] == ")" for token in left_part)
                while opened > 0 and left_part and left_part[0][0] == "(":
                    left_part, opened = left_part[1:], opened - 1
            right_part = right_rest[prefix:]
            if left_part and _balanced(left_part) and _balanced(right_part):
                return left_part, right_part, (right_rest[prefix - 1] if prefix else None), after
    return None


_CONTEXT_TOKENS = [("n", "2"), ("n", "3"), ("+", "+"), ("-", "-"), ("*", "\\cdot"), ("(", "("), (")", ")")]
_CONTEXT_TOKENS += [("(", "{"), (")", "}"), ("f", "\\frac"), ("s", "\\sqrt"), ("v", "x"), ("w", "so"), ("?", "&")]


def test_context_parts_match_the_plain_reading():
    from prefbuild.corrupt.results import _context_parts

    rng = random.Random(6)
    for _ in range(4000):
        left = [(*rng.choice(_CONTEXT_TOKENS), i, i + 1) for i in range(rng.randint(1, 9))]
        right = [(*rng.choice(_CONTEXT_TOKENS), i, i + 1) for i in range(rng.randint(0, 9))]
        if rng.random() < 0.6:  # a shared prefix and suffix, as context steps have
            right = left[: rng.randint(0, 4)] + right + left[len(left) - rng.randint(0, min(4, len(left))) :]
        assert _context_parts(left, right) == _reference_context_parts(left, right), (left, right)


def test_balanced_kinds_is_balanced():
    from prefbuild.corrupt.results import _balanced, _balanced_kinds

    rng = random.Random(6)
    for _ in range(2000):
        kinds = "".join(rng.choice("()n+") for _ in range(rng.randint(0, 10)))
        start = rng.randint(0, len(kinds))
        end = rng.randint(start, len(kinds))
        assert _balanced_kinds(kinds, start, end) == _balanced([(kind,) for kind in kinds[start:end]])


@pytest.mark.parametrize(
    "question",
    [
        "Twenty-four ELEVEN often tent",
        "two_three,four;five(six)seven",
        "İstanbul has nine bridges and ｔｗｏ towers",  # a dotted capital I lower-cases to i + a combining dot
        "\u212aelvin twelve",  # the Kelvin sign lower-cases to an ASCII k
        "2two three3 thirty-one",
        "",
    ],
)
def test_spelled_words_are_the_letter_runs_of_the_question(question):
    from prefbuild.corrupt.results import _SPELLED, _spelled_words

    words = re.compile(r"[a-z]+")  # the plain reading the fast one must equal

    assert _spelled_words(question) == _SPELLED.intersection(words.findall(question.lower()))


def test_context_terms_are_the_same_with_and_without_the_token_cache():
    from prefbuild.corrupt.results import _EQUALS, _context_terms

    # `11^2  = 121`: the span of 11^2 ends before the spaces as a right side, after them as a left one
    text = "$(2\\cdot 3 + 5)^2 = 11^2  = 121$ and $f(g(2))=f(2^2-6) = f(-2)=-2+3=1$"
    cache = {}
    for equals in _EQUALS.finditer(text):
        assert _context_terms(text, equals.start(), cache) == _context_terms(text, equals.start(), None)
    assert {
        text[term.start : term.end]
        for equals in _EQUALS.finditer(text)
        for term in _context_terms(text, equals.start())
    } == {"11", "2"}  # 11 and the 2 of f(-2)
