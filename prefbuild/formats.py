"""Output formats: TRL's standard (strings) and conversational (message lists) preference formats."""

from __future__ import annotations

import pyarrow as pa

from prefbuild.errors import PrefbuildError

FORMATS = ("standard", "conversational")
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SYSTEM = "system"  # a builder's per-row system message column (ORCA, Truthy); consumed by `to_format`


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PrefbuildError(f"Unknown --format '{fmt}'. Available: {', '.join(FORMATS)}.")


def to_format(table: pa.Table, fmt: str, system_prompt: str | None = None) -> pa.Table:
    """Standard-format pairs → `fmt`, placing each row's own system message (the `SYSTEM` column, if any).

    standard: a row's system message becomes the prompt's first paragraph (`{system}\n\n{prompt}`);
    conversational: see `to_conversational`, where a row's own system message wins over `system_prompt`.
    The `SYSTEM` column is dropped; a table without one is returned as is in standard.
    """
    check_format(fmt)
    systems = None
    if SYSTEM in table.column_names:
        systems = table.column(SYSTEM).to_pylist()
        table = table.drop_columns([SYSTEM])
    if fmt == "conversational":
        return to_conversational(table, system_prompt, systems=systems)
    if systems is None:
        return table
    prompts = table.column("prompt").to_pylist()
    joined = [prompt if not system else f"{system}\n\n{prompt}" for system, prompt in zip(systems, prompts)]
    return table.set_column(table.schema.get_field_index("prompt"), "prompt", pa.array(joined, pa.string()))


def to_conversational(
    table: pa.Table, system_prompt: str | None = None, *, systems: list[str | None] | None = None
) -> pa.Table:
    """prompt → [system?, user] messages; chosen / rejected → one assistant message each.

    The system message is the row's own (`systems`, one per row, None for none) or else `system_prompt`.
    Completions keep their text exactly, including a leading space (ARC's ` {choice}`): the chat template,
    not us, decides on whitespace between turns.
    """
    texts = table.column("prompt").to_pylist()
    own = systems if systems is not None else [None] * len(texts)
    prompts = [
        ([{"role": "system", "content": system}] if (system := row_system or system_prompt) else [])
        + [{"role": "user", "content": text}]
        for row_system, text in zip(own, texts)
    ]

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
