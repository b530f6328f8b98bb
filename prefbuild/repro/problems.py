"""Seeded multi-step arithmetic word problems with MetaMath-style worked solutions (the toy reproduction's data).

Each problem is a MetaMathQA-schema row (`query`, `response`, `type`, `original_question`), so the project's own
`metamath` builder turns it into a low-edit pair exactly as it does for the real dataset. A response looks like

    She buys 3 * 5 = 15 apples.
    Then she has 12 + 15 = 27 apples.
    She gives away 7, so she has 27 - 7 = 20 apples.
    #### 20
    The answer is: 20

Numbers stay small (every intermediate result is in 0..`MAX_VALUE`) so that a model of about a million parameters
trained for a few CPU minutes can learn the arithmetic as token-level facts. The same `(seed, index)` always gives
the same problem, independently of how many are generated.

Every solution has at least `MIN_INTERMEDIATE` intermediate results (results of a line before the last calculation)
that the `metamath` builder may corrupt: not equal to the answer and not a number stated in the question (the
builder leaves both alone). So the builder always corrupts a true intermediate step, as the paper does, never the
final one (before 0.2 of the toy data, ~4 % of the pairs fell back to the final result).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from prefbuild.seeding import row_rng

MIN_INTERMEDIATE = 2  # corruptible intermediate results per solution (see the module docstring)
MAX_VALUE = 60  # largest starting amount and intermediate result; keeps the arithmetic learnable at toy scale
PROBLEM_TYPE = "TOY_ARITH"

# The query ends on "\nAnswer:" and the response starts with a space, so prompt + response (TRL concatenates
# them with no separator) reads naturally and tokenises on a word boundary.
ANSWER_CUE = "\nAnswer:"
ANSWER_PREFIX = "The answer is: "
_ANSWER = re.compile(r"The answer is:\s*(-?\d+)")
_INTEGER = re.compile(r"\d+")

NAMES = (("Sam", "he"), ("Mia", "she"), ("Leo", "he"), ("Ana", "she"), ("Tom", "he"), ("Eva", "she"))
ITEMS = ("apples", "pens", "coins", "books", "cards", "shells", "stamps", "eggs")
FRIENDS = ("a friend", "a cousin", "a neighbour", "the teacher")


@dataclass(frozen=True)
class Problem:
    """One problem: the question, the worked solution and the final answer."""

    query: str
    response: str
    answer: int
    # the results of each calculation line, in order; the last one is the answer
    results: tuple[int, ...] = field(default=())

    @property
    def intermediate_results(self) -> tuple[int, ...]:
        """Results of the calculations before the last one that the builder may corrupt (see the module docstring)."""
        given = {int(number) for number in _INTEGER.findall(self.query)}
        return tuple(value for value in self.results[:-1] if value != self.answer and value not in given)

    def as_metamath_row(self) -> dict[str, str]:
        """The problem in MetaMathQA's schema, as the `metamath` builder reads it."""
        question = self.query[: -len(ANSWER_CUE)]
        return {"query": self.query, "response": self.response, "type": PROBLEM_TYPE, "original_question": question}


def _step(rng: random.Random, total: int, name: str, pronoun: str, item: str) -> tuple[str, list[str], int] | None:
    """One operation on the running total: (question sentence, solution lines, new total), or None if none fits."""
    kind = rng.choice(("buy_groups", "add", "give", "double", "share"))
    he = pronoun.capitalize()
    if kind == "buy_groups":
        groups, each = rng.randint(2, 5), rng.randint(2, 9)
        bought = groups * each
        if total + bought > MAX_VALUE:
            return None
        return (
            f"{he} buys {groups} bags with {each} {item} each.",
            [
                f"{he} buys {groups} * {each} = {bought} {item}.",
                f"Then {pronoun} has {total} + {bought} = {total + bought} {item}.",
            ],
            total + bought,
        )
    if kind == "add":
        found = rng.randint(2, 20)
        if total + found > MAX_VALUE:
            return None
        return (
            f"{he} finds {found} more {item}.",
            [f"After finding {found}, {pronoun} has {total} + {found} = {total + found} {item}."],
            total + found,
        )
    if kind == "give":
        if total < 3:
            return None
        given = rng.randint(1, total - 1)
        friend = rng.choice(FRIENDS)
        return (
            f"{he} gives {given} {item} to {friend}.",
            [f"{he} gives away {given}, so {pronoun} has {total} - {given} = {total - given} {item}."],
            total - given,
        )
    if kind == "double":
        if 2 * total > MAX_VALUE:
            return None
        return (
            f"Then the number of {item} {name} has doubles.",
            [f"Doubling gives {total} * 2 = {2 * total} {item}."],
            2 * total,
        )
    # share: split equally and keep one share
    divisors = [d for d in (2, 3, 4, 5) if total % d == 0 and total // d > 0]
    if not divisors:
        return None
    parts = rng.choice(divisors)
    return (
        f"{he} splits the {item} into {parts} equal groups and keeps one group.",
        [f"One group is {total} / {parts} = {total // parts} {item}."],
        total // parts,
    )


def make_problem(seed: int, index: int, *, steps: tuple[int, int] = (2, 3)) -> Problem:
    """The problem number `index` of the stream seeded by `seed`: a start amount and 2-3 operations on it.

    Drafts whose solution has fewer than `MIN_INTERMEDIATE` corruptible intermediate results are redrawn (from the
    same seeded stream, so the problem is still a pure function of `(seed, index)`).
    """
    rng = row_rng(seed, str(index), "toy-arith")
    while True:
        problem = _draft_problem(rng, steps)
        if len(problem.intermediate_results) >= MIN_INTERMEDIATE:
            return problem


def _draft_problem(rng: random.Random, steps: tuple[int, int]) -> Problem:
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    total = rng.randint(3, 30)
    sentences = [f"{name} has {total} {item}."]
    lines: list[str] = []
    wanted = rng.randint(*steps)
    while len(sentences) <= wanted:  # the start sentence plus `wanted` operations
        step = _step(rng, total, name, pronoun, item)
        if step is None:
            continue
        sentence, solution, total = step
        sentences.append(sentence)
        lines.extend(solution)
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    response = " " + "\n".join(lines) + f"\n#### {total}\n{ANSWER_PREFIX}{total}"
    results = tuple(int(line.rsplit(" = ", 1)[1].split()[0]) for line in lines)
    return Problem(query=f"Question: {question}{ANSWER_CUE}", response=response, answer=total, results=results)


def make_problems(seed: int, count: int, *, start: int = 0) -> list[Problem]:
    """`count` problems of the stream seeded by `seed`, from index `start` (disjoint ranges never overlap)."""
    return [make_problem(seed, index) for index in range(start, start + count)]


def extract_answer(text: str) -> int | None:
    """The integer after the first `The answer is:` in a generated solution, or None if there is none."""
    match = _ANSWER.search(text)
    return int(match.group(1)) if match else None
