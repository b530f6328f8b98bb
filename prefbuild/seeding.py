"""Per-row seeds derived from (global seed, row id), so results depend on neither order nor `num_proc`."""

import hashlib
import random


def row_seed(seed: int, row_id: str, salt: str = "") -> int:
    """A 64-bit seed that is a pure function of the global seed, the row id and an optional salt."""
    digest = hashlib.blake2b(f"{seed}\x1f{salt}\x1f{row_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def row_rng(seed: int, row_id: str, salt: str = "") -> random.Random:
    return random.Random(row_seed(seed, row_id, salt))
