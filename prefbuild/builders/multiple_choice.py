"""The multiple-choice builders' shared step: the correct choice paired with each wrong one.

ARC and HellaSwag score a question by comparing the model's log-likelihood of each ` {choice}` after the same
prompt, so a pair is (prompt, ` {correct}`, ` {wrong}`) for every wrong choice that is usable and differs from
the correct one. A wrong choice that is not is counted under a named reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prefbuild.builders.base import RowOutcome


def correct_versus_each_wrong(
    prompt: str,
    choices: Sequence[str | None],
    gold: int,
    pair_fields: Callable[[int], dict[str, Any]],
    *,
    noun: str,
    wrong: Iterable[int] | None = None,
) -> RowOutcome:
    """One pair per wrong choice: chosen ` {choices[gold]}`, rejected ` {choices[position]}`.

    choices: the choice texts as scored, with None where the builder found a choice unusable (empty, not text);
        counted as `empty_wrong_<noun>`. A wrong choice whose stripped text equals the correct one is counted as
        `wrong_<noun>_equals_correct`; a row left with no pair is skipped as `no_distinct_wrong_<noun>`.
    pair_fields(position): the builder's metadata columns for the pair against the choice at `position`.
    noun: the name of a choice in the skip reasons (`choice` for ARC, `ending` for HellaSwag).
    wrong: the positions to pair against, in order (default: every position but `gold`).
    """
    correct = choices[gold]
    pairs, dropped = [], {}
    for position in (index for index in range(len(choices)) if index != gold) if wrong is None else wrong:
        text = choices[position]
        if text is None:
            reason = f"empty_wrong_{noun}"
        elif text.strip() == correct.strip():  # lm-eval's HellaSwag cleanup can leave a trailing space
            reason = f"wrong_{noun}_equals_correct"
        else:
            pairs.append({"prompt": prompt, "chosen": f" {correct}", "rejected": f" {text}", **pair_fields(position)})
            continue
        dropped[reason] = dropped.get(reason, 0) + 1
    if not pairs:
        return RowOutcome.skip(f"no_distinct_wrong_{noun}", dropped)
    return RowOutcome(pairs=pairs, dropped=dropped)
