"""A MetaMath-size corpus (MetaMathQA schema) for the build and statistics benchmarks.

`mixed` (the default when `../shared/data/` has GSM8K and MATH): MetaMathQA's row types in its proportions, from
the sets of benchmarks/metamath_sets.py: 160,000 GSM_AnsAug rows (MetaMathQA's 80k AnsAug + 80k Rephrased; we
have no rephrasings, so GSM8K answers stand in for both), 40,000 GSM_SV, 40,000 GSM_FOBAR, 125,000 MATH_AnsAug
(75k AnsAug + 50k Rephrased), 15,000 MATH_SV and 15,000 MATH_FOBAR (from the few dozen MATH rows our derivation
handles, so heavily replicated).

`gsm8k`: real GSM8K text only: each answer with its `<<…>>` calculator annotations removed and
`\\nThe answer is: X` appended (how MetaMathQA writes GSM8K-style responses), the corpus of the earlier figures.

Rows are replicated to reach 395,000; copy k > 0 of a row gets ` (variant <letters>)` after its query so every
row has its own content id (and so its own seeded corruption), with no digit added to the question. Copies keep
the row's `original_question`, like MetaMathQA's augmentations of one question. Without `../shared`, seeded
generated word problems in the same style stand in.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GSM8K_DIR = REPO.parent / "shared" / "data" / "gsm8k"
MATH_FILE = REPO.parent / "shared" / "data" / "math" / "train.jsonl"
METAMATH_ROWS = 395_000  # MetaMathQA's size
# MetaMathQA's rows per type (MetaMath paper, Table 1), Rephrased folded into AnsAug (see the module docstring)
MIXED_SHARES = {
    "GSM_AnsAug": 160_000,
    "GSM_SV": 40_000,
    "GSM_FOBAR": 40_000,
    "MATH_AnsAug": 125_000,
    "MATH_SV": 15_000,
    "MATH_FOBAR": 15_000,
}
CORPORA = ("mixed", "gsm8k")


def _letters(number: int) -> str:
    """0 → a, 25 → z, 26 → ba: a copy tag without digits (digits in a query change what counts as a given)."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = string.ascii_lowercase[digit] + text
        if number == 0:
            return text


def gsm8k_rows(folder: Path = GSM8K_DIR) -> list[dict]:
    """GSM8K train + test as MetaMathQA rows (8,792)."""
    from prefbuild.builders.gsm8k import strip_annotations

    rows = []
    for split in ("train", "test"):
        with open(folder / f"{split}.jsonl", encoding="utf-8") as file:
            for line in file:
                row = json.loads(line)
                final = row["answer"].rsplit("####", 1)[1].strip()
                response = f"{strip_annotations(row['answer'])}\nThe answer is: {final}"
                rows.append(
                    {
                        "query": row["question"],
                        "response": response,
                        "type": "GSM_AnsAug",
                        "original_question": row["question"],
                    }
                )
    return rows


_NAMES = ("Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Ken", "Alexis", "Tina", "Randy")
_ITEMS = ("clips", "apples", "books", "pencils", "cookies", "stickers", "marbles", "cards")


def generated_rows(count: int, seed: int = 0) -> list[dict]:
    """Seeded GSM8K-style word problems with worked answers (used when ../shared is absent)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        a, b, c = rng.randint(2, 60), rng.randint(2, 12), rng.randint(1, 40)
        product = a * b
        total = product + c
        price = rng.choice((0.25, 0.5, 1.5, 2, 3))
        cost = total * price
        cost_text = f"{cost:g}" if cost != int(cost) else str(int(cost))
        query = (
            f"{name} buys {b} boxes of {item} with {a} {item} in each box, then finds {c} more. "
            f"Each of the {item} sells for ${price:g}. How much money does {name} make selling all of them?"
        )
        response = (
            f"{name} has {a} * {b} = {product} {item} from the boxes.\n"
            f"With the ones found, {name} has {product} + {c} = {total} {item}.\n"
            f"Selling them makes {total} * {price:g} = ${cost_text}.\n"
            f"#### {cost_text}\nThe answer is: {cost_text}"
        )
        rows.append({"query": query, "response": response, "type": "GSM_AnsAug", "original_question": query})
    return rows


def _replicate(base: list[dict], rows: int) -> list[dict]:
    corpus = []
    for index in range(rows):
        copy, position = divmod(index, len(base))
        row = base[position]
        if copy:
            row = {**row, "query": f"{row['query']} (variant {_letters(copy)})"}
        corpus.append(row)
    return corpus


def mixed_rows(rows: int = METAMATH_ROWS, seed: int = 0) -> list[dict]:
    """MetaMathQA's types in its proportions (scaled to `rows`), interleaved by a seeded shuffle."""
    from metamath_sets import build_sets

    sets, _ = build_sets(seed)
    by_type: dict[str, list[dict]] = {}
    for row in (*sets["gsm8k"], *sets["math"], *sets["sv_fobar"]):
        by_type.setdefault(row["type"], []).append(row)
    total = sum(MIXED_SHARES.values())
    counts = {kind: share * rows // total for kind, share in MIXED_SHARES.items()}
    counts["GSM_AnsAug"] += rows - sum(counts.values())
    corpus = [row for kind, count in counts.items() for row in _replicate(by_type[kind], count)]
    random.Random(seed).shuffle(corpus)
    return corpus


def metamath_corpus(rows: int = METAMATH_ROWS, seed: int = 0, kind: str = "mixed") -> tuple[list[dict], str]:
    """`rows` MetaMathQA rows and a description of where their text comes from."""
    if kind not in CORPORA:
        raise ValueError(f"corpus must be one of {', '.join(CORPORA)}, got {kind!r}")
    if kind == "mixed" and GSM8K_DIR.is_dir() and MATH_FILE.is_file():
        corpus = mixed_rows(rows, seed)
        mix = ", ".join(f"{name} {share // 1000}k" for name, share in MIXED_SHARES.items())
        return corpus, f"MetaMathQA's type mix from real GSM8K + MATH text ({mix}, replicated)"
    if GSM8K_DIR.is_dir():
        base = gsm8k_rows(GSM8K_DIR)
        origin = f"real GSM8K text from {GSM8K_DIR} ({len(base):,} rows replicated)"
    else:
        base = generated_rows(min(rows, 20_000), seed)
        origin = f"generated GSM8K-style problems ({len(base):,} replicated; {GSM8K_DIR} not found)"
    return _replicate(base, rows), origin


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False))
            file.write("\n")
    return path
