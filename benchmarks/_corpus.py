"""A MetaMath-size corpus (MetaMathQA schema) for the build and statistics benchmarks.

From real GSM8K text when `../shared/data/gsm8k/` exists: each answer with its `<<…>>` calculator annotations
removed and `\\nThe answer is: X` appended (how MetaMathQA writes GSM8K-style responses). GSM8K has 8,792 rows,
so the rows are replicated to reach 395,000; copy k > 0 of a row gets ` (variant <letters>)` after its query
so every row has its own content id (and so its own seeded corruption), with no digit added to the question.
Without `../shared`, seeded generated word problems in the same style stand in.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GSM8K_DIR = REPO.parent / "shared" / "data" / "gsm8k"
METAMATH_ROWS = 395_000  # MetaMathQA's size


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
                    {"query": row["question"], "response": response, "type": "GSM_AnsAug", "original_question": ""}
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
        rows.append({"query": query, "response": response, "type": "GSM_AnsAug", "original_question": ""})
    return rows


def metamath_corpus(rows: int = METAMATH_ROWS, seed: int = 0) -> tuple[list[dict], str]:
    """`rows` MetaMathQA rows and a description of where their text comes from."""
    if GSM8K_DIR.is_dir():
        base = gsm8k_rows(GSM8K_DIR)
        origin = f"real GSM8K text from {GSM8K_DIR} ({len(base):,} rows replicated)"
    else:
        base = generated_rows(min(rows, 20_000), seed)
        origin = f"generated GSM8K-style problems ({len(base):,} replicated; {GSM8K_DIR} not found)"
    corpus = []
    for index in range(rows):
        copy, position = divmod(index, len(base))
        row = base[position]
        if copy:
            row = {**row, "query": f"{row['query']} (variant {_letters(copy)})"}
        corpus.append(row)
    return corpus, origin


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False))
            file.write("\n")
    return path
