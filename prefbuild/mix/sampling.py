"""How many rows each entry gives to each split, and which: seeded per (seed, entry, split), in source order.

train takes the entry's `fraction` (round(fraction × usable), at least 1 when there are rows) or `rows`. eval
takes `eval_fraction` / `eval_rows` when set, else the rate train got (taken / usable), so a 6-of-11 train
draw takes ~55% of eval too; an entry with no train split applies its fraction as is, and a row count means
every eval row. The mixed split is then shuffled with the seed (`shuffle_order`).
"""

from __future__ import annotations

import random

from prefbuild.errors import PrefbuildError
from prefbuild.mix.config import MixEntry
from prefbuild.seeding import row_seed


def rows_to_take(label: str, split: str, key: str, share: float | int, available: int) -> int:
    """How many rows a share takes from `available`: round(fraction × n) (at least 1 when n > 0), or the count."""
    if isinstance(share, int):
        if share > available:
            raise PrefbuildError(
                f"{label}: `{key}` asks for {share:,} {split} rows but the source has {available:,} usable ones."
            )
        return share
    return min(available, max(1, round(share * available))) if available else 0


def split_counts(label: str, entry: MixEntry, usable: dict[str, int]) -> dict[str, int]:
    """Rows to take per split (`usable`: usable rows per split the entry has, train first)."""
    counts: dict[str, int] = {}
    train_rate = None
    for split, available in usable.items():
        if split == "train":
            counts[split] = rows_to_take(label, split, entry.share_key(split), entry.share, available)
            train_rate = counts[split] / available if available else 1.0
        elif entry.eval_share is not None:
            counts[split] = rows_to_take(label, split, entry.share_key(split), entry.eval_share, available)
        else:
            rate = train_rate  # eval follows the rate the share gave on train
            if rate is None:  # no train split: a fraction applies as is, a count means every eval row
                rate = entry.fraction if entry.fraction is not None else 1.0
            counts[split] = min(available, max(1, round(rate * available))) if available else 0
    return counts


def sample_indices(seed: int, name: str, split: str, available: int, count: int) -> list[int]:
    """`count` distinct row indices out of `available`, seeded by (seed, source name, split), in source order."""
    rng = random.Random(row_seed(seed, name, f"mix:{split}"))
    return sorted(rng.sample(range(available), count))


def shuffle_order(seed: int, mixture: str, split: str, rows: int) -> list[int]:
    """The order of a mixed split's rows: a seeded shuffle of the entries' picks, concatenated in recipe order."""
    order = list(range(rows))
    random.Random(row_seed(seed, mixture, f"shuffle:{split}")).shuffle(order)
    return order
