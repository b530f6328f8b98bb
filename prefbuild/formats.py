"""Output formats: TRL's standard (strings) and conversational (message lists) preference formats."""

from __future__ import annotations

import pyarrow as pa

from prefbuild.errors import PrefbuildError

FORMATS = ("standard", "conversational")
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PrefbuildError(f"Unknown --format '{fmt}'. Available: {', '.join(FORMATS)}.")


def to_conversational(table: pa.Table, system_prompt: str | None = None) -> pa.Table:
    """prompt → [system?, user] messages; chosen / rejected → one assistant message each.

    Completions keep their text exactly, including a leading space (ARC's ` {choice}`): the chat template,
    not us, decides on whitespace between turns.
    """
    prefix = [{"role": "system", "content": system_prompt}] if system_prompt else []
    prompts = [[*prefix, {"role": "user", "content": text}] for text in table.column("prompt").to_pylist()]

    def assistant(column: str) -> pa.Array:
        return pa.array(
            [[{"role": "assistant", "content": text}] for text in table.column(column).to_pylist()],
            type=pa.list_(MESSAGE),
        )

    converted = {
        "prompt": pa.array(prompts, type=pa.list_(MESSAGE)),
        "chosen": assistant("chosen"),
        "rejected": assistant("rejected"),
    }
    for name, array in converted.items():
        table = table.set_column(table.schema.get_field_index(name), name, array)
    return table
