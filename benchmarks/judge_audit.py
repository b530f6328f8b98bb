"""How far can metamath_quality.py's judge be trusted? Its verdicts against hand labels of 238 numbers in MATH text.

The labels (benchmarks/data/judge_audit_math.jsonl) were written by reading each number in its solution, before
looking at either the judge's or the builder's verdict, for 238 numbers of the MATH set that
benchmarks/metamath_sets.py builds from ../shared/data/math (seed 0):

- stratum `uniform`: 90 numbers drawn uniformly over the numbers of randomly drawn solutions (answer lines and
  `[asy]` code left out);
- stratum `after_equals`: 50 numbers drawn the same way among those with an `=` in the 8 characters before them,
  where results and non-results are hardest to tell apart;
- stratum `context`: 48 numbers drawn (`--draw-context 48`, seed 0) among the numbers right of an `=` whose side
  shares text with the side before it (`(2\\cdot 3 + 5)^2 = 11^2`), where the judge reads "context steps": one
  part of an expression computed, the rest carried unchanged (context_candidates says how sides are cut);
- stratum `prose`: 50 numbers drawn (`--draw-prose 50`, seed 0) among the numbers a solution writes for the first
  time outside an `=` and writes again later (prose_candidates): where results stated in words (`Rp`) would be.

Labels, by the issue's definitions (an intermediate result is the result of a calculation or of a solved
equation, and not the final answer, not a number of the question, not an operand, base, exponent, index, bound
or label):

  R   an intermediate result written as one (after `=`, or a term a chain computed: `= 3600 + 6400`)
  Rp  an intermediate result stated in prose (`then 11 people to choose from`, 14 - 3)
  Rg  a computed result whose value is also a number of the question (excluded by the value rule)
  F   the final answer, or a part of it (a coordinate of the answer point, a restatement in `\\boxed{}`)
  G   a number given in the question, or restated from it
  O   an operand, coefficient of a formula, exponent, base, index, bound, list item, label, or a fact
  ?   unsure (left out of every figure)

The judge's verdict is `classify(..., confirm=False)["intermediate"]`, the same reading as its ceiling. Reported:
its precision (of the numbers it calls intermediate results, how many are R or Rp) and its recall on R and on
R + Rp, per stratum and together. Every label's context is checked against the text first, so a change in the
MATH set's conversion fails loudly instead of scoring other numbers.

    python benchmarks/judge_audit.py [--show-misses] [--draw-context N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import metamath_quality  # noqa: E402
import metamath_sets  # noqa: E402

LABELS_FILE = HERE / "data" / "judge_audit_math.jsonl"
POSITIVE = ("R", "Rp")
NEGATIVE = ("Rg", "F", "G", "O")


def read_labels(path: Path = LABELS_FILE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judge_verdicts(items: list[dict], rows: list[dict]) -> list[bool]:
    """The judge's reading of each labelled number, after checking that the number is where the label says."""
    verdicts = []
    for item in items:
        row = rows[item["row"]]
        text = metamath_quality.normalise(row["response"])
        start, end = item["start"], item["end"]
        context = text[max(0, start - 100) : start] + "⟦" + text[start:end] + "⟧" + text[end : end + 40]
        if context != item["context"]:
            raise SystemExit(f"Error: label for row {item['row']} at {start} no longer matches the MATH set's text")
        match = next((m for m in metamath_quality.NUMBER_TOKEN.finditer(text) if m.start() == start), None)
        if match is None or match.end() != end:
            raise SystemExit(
                f"Error: the judge's number regex no longer reads {item['number']!r} at row {item['row']}"
            )
        verdicts.append(
            bool(metamath_quality.classify({"query": row["query"]}, text, match, confirm=False)["intermediate"])
        )
    return verdicts


def figures(items: list[dict], verdicts: list[bool]) -> dict:
    labels = Counter(item["label"] for item in items)
    said = [(item["label"], verdict) for item, verdict in zip(items, verdicts, strict=True) if item["label"] != "?"]
    called = [label for label, verdict in said if verdict]
    return {
        "numbers": len(items),
        "labels": dict(sorted(labels.items())),
        "judge_says_intermediate": len(called),
        "precision": sum(label in POSITIVE for label in called) / len(called) if called else None,
        "false_positives": dict(Counter(label for label in called if label in NEGATIVE)),
        "recall_R": _recall(said, ("R",)),
        "recall_R_Rp": _recall(said, POSITIVE),
    }


def _recall(said: list[tuple[str, bool]], positive: tuple[str, ...]) -> tuple[int, int]:
    hits = [verdict for label, verdict in said if label in positive]
    return sum(hits), len(hits)


# A side of an `=` in math text: up to the next `=`, `$`, line, row break `\\\\`, `\\]` or `&`
SIDE_STOP = re.compile(r"=|\$|\n|\\\\|\\\]|&|\\quad|\\Rightarrow|\\implies|,\s|\.\s")


def _solution_body(row: dict) -> tuple[str, int, list[tuple[int, int]]]:
    """A row's normalised solution, where its answer line begins, and the spans of its `[asy]` code."""
    text = metamath_quality.normalise(row["response"])
    body_end = text.find("The answer is:")
    return text, len(text) if body_end == -1 else body_end, [m.span() for m in metamath_quality.ASY.finditer(text)]


def context_candidates(rows: list[dict]) -> list[tuple[int, int, int, str]]:
    """(row, start, end, number) of every number right of an `=` whose side shares text with the side before it:
    the two sides, without spaces, begin or end with the same 2 or more characters that are not digits, and the
    number lies between that shared beginning and end (`(2\\cdot 3 + 5)^2 = ⟦11⟧^2`, `f(2^2-6)=f(-⟦2⟧)`).
    The sides are cut by this script's own rule, not the judge's; answer lines and `[asy]` code are left out."""
    found = []
    for index, (text, body_end, skip) in enumerate(map(_solution_body, rows)):
        for equals in re.finditer(r"(?<![<>!\\])=(?!=)", text[:body_end]):
            at = equals.start()
            if any(a <= at < b for a, b in skip) or not metamath_quality.in_math(text, at):
                continue
            before = [m.end() for m in SIDE_STOP.finditer(text, max(0, at - 200), at)]
            left_start = before[-1] if before else max(0, at - 200)
            after = SIDE_STOP.search(text, at + 1, body_end)
            right_end = after.start() if after else body_end
            left, right = text[left_start:at], text[at + 1 : right_end]
            a, b = re.sub(r"\s+", "", left), re.sub(r"\s+", "", right)
            prefix = len(os.path.commonprefix([a, b]))
            suffix = len(os.path.commonprefix([a[::-1], b[::-1]]))
            shared_prefix = re.sub(r"[\d.]+$", "", a[:prefix])  # never a shared part of a number
            shared_suffix = re.sub(r"^[\d.]+", "", a[len(a) - suffix :] if suffix else "")
            if len(shared_prefix) < 2 and len(shared_suffix) < 2:
                continue
            if len(shared_prefix) + len(shared_suffix) >= min(len(a), len(b)):
                continue  # one side is the shared text only
            # the differing part of the right side, in text positions: skip the shared characters, not spaces
            kept = [i for i in range(at + 1, right_end) if not text[i].isspace()]
            first = kept[len(shared_prefix)]
            last = kept[len(kept) - len(shared_suffix) - 1]
            for match in metamath_quality.NUMBER_TOKEN.finditer(text, first, last + 1):
                found.append((index, match.start(), match.end(), match.group()))
    return found


# A number not read as a side's value: `=` just before it, or a letter, `^` or `_` glued to it
NOT_PROSE = re.compile(r"(?:=|\\[A-Za-z]+\{?|[\^_]\{?)[\s$]*\Z")


def prose_candidates(rows: list[dict]) -> list[tuple[int, int, int, str]]:
    """(row, start, end, number) of every number the solution states for the first time, not right after an `=`,
    a command, `^` or `_`, not glued to a letter, not in `\\boxed{}`, and writes again later: where a value the
    reasoning reaches in prose would be (`There are ⟦51⟧ cards remaining … \\frac{4}{51}`). This script's own rule,
    not the judge's; answer lines and `[asy]` code are left out."""
    found = []
    for index, (text, body_end, skip) in enumerate(map(_solution_body, rows)):
        skip += [(m.start(), text.find("}", m.end())) for m in re.finditer(r"\\boxed\{", text)]
        numbers = list(metamath_quality.NUMBER_TOKEN.finditer(text, 0, body_end))
        for position, match in enumerate(numbers):
            if any(a <= match.start() < b for a, b in skip) or re.match(
                r"[A-Za-z]", text[match.end() : match.end() + 1]
            ):
                continue
            if NOT_PROSE.search(text[max(0, match.start() - 10) : match.start()]):
                continue
            if any(m.group() == match.group() for m in numbers[:position]):
                continue
            if any(m.group() == match.group() for m in numbers[position + 1 :]):
                found.append((index, match.start(), match.end(), match.group()))
    return found


def draw_context(rows: list[dict], count: int, seed: int = 0, stratum: str = "context") -> list[dict]:
    """`count` numbers drawn at random (fixed seed) from the candidates of a stratum (context_candidates or
    prose_candidates), unlabelled, to be read by eye."""
    candidates = {"context": context_candidates, "prose": prose_candidates}[stratum](rows)
    drawn = random.Random(seed).sample(candidates, count)
    items = []
    for index, start, end, number in sorted(drawn):
        text = metamath_quality.normalise(rows[index]["response"])
        context = text[max(0, start - 100) : start] + "⟦" + number + "⟧" + text[end : end + 40]
        items.append(
            {
                "stratum": stratum,
                "row": index,
                "start": start,
                "end": end,
                "number": number,
                "label": "",
                "context": context,
            }
        )
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--show-misses", action="store_true", help="print each number the judge and the label split on"
    )
    parser.add_argument(
        "--draw-context",
        type=int,
        default=0,
        metavar="N",
        help="print N unlabelled numbers of the `context` stratum (seed 0) as JSON lines, to label by reading",
    )
    parser.add_argument(
        "--draw-prose",
        type=int,
        default=0,
        metavar="N",
        help="print N unlabelled numbers of the `prose` stratum (seed 0) as JSON lines, to label by reading",
    )
    args = parser.parse_args()
    sets, _ = metamath_sets.build_sets(0)
    draws = {"context": args.draw_context, "prose": args.draw_prose}
    if any(draws.values()):
        stratum = next(name for name, count in draws.items() if count)
        for item in draw_context(sets["math"], draws[stratum], stratum=stratum):
            print(json.dumps(item, ensure_ascii=False))
        return
    items = read_labels()
    verdicts = judge_verdicts(items, sets["math"])
    for stratum in ("uniform", "after_equals", "context", "prose", None):
        chosen = [(i, v) for i, v in zip(items, verdicts, strict=True) if stratum in (None, i["stratum"])]
        data = figures([i for i, _ in chosen], [v for _, v in chosen])
        precision = "n/a" if data["precision"] is None else f"{data['precision']:.0%}"
        print(
            f"{stratum or 'all':<13} numbers {data['numbers']:>3}  labels {data['labels']}\n"
            f"{'':<13} judge calls {data['judge_says_intermediate']} intermediate: precision {precision} "
            f"(false positives {data['false_positives'] or 0}); recall on R {data['recall_R'][0]}/{data['recall_R'][1]}, "
            f"on R + Rp {data['recall_R_Rp'][0]}/{data['recall_R_Rp'][1]}"
        )
    if args.show_misses:
        for item, verdict in zip(items, verdicts, strict=True):
            if item["label"] != "?" and verdict != (item["label"] in POSITIVE):
                print(f"- [{item['label']}] judge {'yes' if verdict else 'no'}: {item['context']!r}")


if __name__ == "__main__":
    main()
