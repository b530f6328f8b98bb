"""Rows the build engine cannot hand to a builder, and the bounds that keep one row from stopping a build.

Before anything is built, every source split is checked column by column:

- undecodable text: a string cell that is not valid UTF-8 (JSON files are read without checking it);
- wrong types: a value whose shape is not what the builder reads (an int or a list where text belongs), judged
  against `Builder.field_types` (default: every required field is text). A column whose Arrow type already
  matches is accepted without looking at its rows; only mixed or foreign columns are read row by row.

`--on-bad-rows error` (the default) stops at the first such row with one line naming the file, the row and the
field; `--on-bad-rows skip` counts each under `undecodable_text` / `wrong_field_type` and builds the rest.

While building, each row is bounded (`skip` reasons, whatever the policy, since the row itself is well formed):

- `text_too_long`: a field holding more than MAX_FIELD_CHARS characters is never handed to the builder;
- `row_time_limit`: a row still building after ROW_SECONDS is abandoned (SIGALRM, on the main thread of each
  process; the build's output then depends on the machine's speed, which is why the bound is ~1,000x the
  slowest real row);
- `beyond_engine_limits`: the row ran into one of Python's own limits (recursion depth, the 4,300-digit
  int/str conversion limit).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from prefbuild.compat import dataset_table
from prefbuild.errors import PrefbuildError

BAD_ROWS_POLICIES = ("error", "skip")
BAD_ROW = "_bad_row"  # marker column added to a source split when --on-bad-rows skip finds bad rows
MAX_FIELD_CHARS = 100_000  # longest MetaMathQA response: ~5,000 characters; HellaSwag / ARC fields: < 1,000
ROW_SECONDS = 10.0  # a MetaMath row takes ~0.1 ms on average; the slowest real rows, a few ms

UNDECODABLE = "undecodable_text"
WRONG_TYPE = "wrong_field_type"
TOO_LONG = "text_too_long"
TIME_LIMIT = "row_time_limit"
ENGINE_LIMITS = "beyond_engine_limits"


def check_policy(on_bad_rows: str) -> None:
    if on_bad_rows not in BAD_ROWS_POLICIES:
        raise PrefbuildError(
            f"--on-bad-rows must be one of {', '.join(BAD_ROWS_POLICIES)}, got {on_bad_rows!r}. "
            "error stops at the first malformed row; skip counts it and goes on."
        )


# ---------------------------------------------------------------------------------------------- value shapes
# A spec is a type or tuple of types (isinstance), [spec] (a list whose items match), or {key: spec} (a mapping
# whose keys, where present, match). None matches everywhere: a missing value is the builder's to name.


def matches(value: Any, spec: Any) -> bool:
    if value is None:
        return True
    if isinstance(spec, list):
        return isinstance(value, list) and all(matches(item, spec[0]) for item in value)
    if isinstance(spec, dict):
        return isinstance(value, dict) and all(matches(value.get(key), inner) for key, inner in spec.items())
    if isinstance(value, bool) and bool not in (spec if isinstance(spec, tuple) else (spec,)):
        return False  # bool is an int subclass; a label of `true` is not a label
    return isinstance(value, spec)


def arrow_matches(dtype: pa.DataType, spec: Any) -> bool:
    """True when every value of an Arrow column of type `dtype` matches `spec` (so its rows need no check)."""
    if pa.types.is_null(dtype):
        return True
    if isinstance(spec, list):
        is_list = pa.types.is_list(dtype) or pa.types.is_large_list(dtype)
        return is_list and arrow_matches(dtype.value_type, spec[0])
    if isinstance(spec, dict):
        if not pa.types.is_struct(dtype):
            return False
        present = {dtype.field(i).name: dtype.field(i).type for i in range(dtype.num_fields)}
        return all(key not in present or arrow_matches(present[key], inner) for key, inner in spec.items())
    types = spec if isinstance(spec, tuple) else (spec,)
    if str in types and (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
        return True
    return int in types and pa.types.is_integer(dtype)


def describe_spec(spec: Any) -> str:
    if isinstance(spec, list):
        return f"a list of {describe_spec(spec[0])}"
    if isinstance(spec, dict):
        return "a mapping with " + ", ".join(f"{key!r}: {describe_spec(inner)}" for key, inner in spec.items())
    names = {str: "text", int: "an integer", float: "a number", bool: "true/false"}
    types = spec if isinstance(spec, tuple) else (spec,)
    return " or ".join(names.get(kind, kind.__name__) for kind in types)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -------------------------------------------------------------------------------------------- the source check


def _undecodable(column: pa.ChunkedArray) -> list[int]:
    """Rows of `column` holding a string (at any depth) that is not valid UTF-8."""
    rows, offset = [], 0
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            for index in range(len(chunk)):  # only a failing chunk is read row by row
                try:
                    chunk.slice(index, 1).validate(full=True)
                except pa.ArrowInvalid:
                    rows.append(offset + index)
        offset += len(chunk)
    return rows


def _has_strings(dtype: pa.DataType) -> bool:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return True
    if isinstance(dtype, pa.ExtensionType):
        return _has_strings(dtype.storage_type)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _has_strings(dtype.value_type)
    if pa.types.is_struct(dtype):
        return any(_has_strings(dtype.field(i).type) for i in range(dtype.num_fields))
    return False


def find_bad_rows(
    dataset: datasets.Dataset, field_types: dict[str, Any], where: str, on_bad_rows: str
) -> dict[int, str]:
    """Row index -> skip reason for every bad row of one source split (empty for a clean split).

    With on_bad_rows="error", raise at the first bad row instead, naming `where` (the file), the row and the field.
    """
    table = dataset_table(dataset)
    bad: dict[int, str] = {}

    def found(index: int, field: str, reason: str, what: str) -> None:
        if on_bad_rows == "error":
            raise PrefbuildError(
                f"{where}, row {index + 1}, field '{field}': {what}. Fix the row, or pass --on-bad-rows skip to "
                f"count such rows as skipped ({reason}) and build the rest."
            )
        bad.setdefault(index, reason)

    undecodable_fields: set[str] = set()
    for name in table.column_names:
        if _has_strings(table.column(name).type):
            for index in _undecodable(table.column(name)):
                undecodable_fields.add(name)
                found(index, name, UNDECODABLE, "text that is not valid UTF-8")
    for name, spec in field_types.items():
        if name not in table.column_names or arrow_matches(table.schema.field(name).type, spec):
            continue
        if name in undecodable_fields:  # its values cannot be read back; the rows are already marked
            continue
        for start, batch in _column_batches(dataset, name):
            for offset, value in enumerate(batch):
                if not matches(value, spec):
                    kind = type(value).__name__
                    found(
                        start + offset, name, WRONG_TYPE, f"expected {describe_spec(spec)}, got {kind} {_short(value)}"
                    )
    return bad


def _column_batches(dataset: datasets.Dataset, name: str, size: int = 10_000) -> Iterator[tuple[int, list]]:
    column = dataset.select_columns([name])
    for start in range(0, len(column), size):
        yield start, column[start : start + size][name]


def mark_bad_rows(dataset: datasets.Dataset, bad: dict[int, str]) -> datasets.Dataset:
    """The split with a BAD_ROW column (reason or "") and the cells of bad rows nulled, so nothing fails to decode.

    Rows keep their positions: index-based row ids and `--limit` see the same rows as without bad ones.
    """
    table = dataset_table(dataset)
    mask = pa.array([bad.get(index) == UNDECODABLE for index in range(table.num_rows)], pa.bool_())
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if _has_strings(column.type) and _undecodable(column):  # only these would fail to decode in a batch
            column = pc.if_else(mask, pa.scalar(None, column.type), column)
        columns.append(column)
    reasons = pa.array([bad.get(index, "") for index in range(table.num_rows)], pa.string())
    marked = pa.Table.from_arrays([*columns, reasons], names=[*table.column_names, BAD_ROW])
    marked = marked.replace_schema_metadata(table.schema.metadata)
    features = datasets.Features({**dataset.features, BAD_ROW: datasets.Value("string")})
    return datasets.Dataset(datasets.table.InMemoryTable(marked), info=datasets.DatasetInfo(features=features))


# ------------------------------------------------------------------------------------------- per-row bounds


def oversized_field(row: dict[str, Any], fields: tuple[str, ...] | list[str]) -> str | None:
    """The first of `fields` holding more than MAX_FIELD_CHARS characters of text (at any depth), else None."""
    for name in fields:
        if _text_size(row.get(name)) > MAX_FIELD_CHARS:
            return name
    return None


def _text_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_size(item) for item in value)
    if isinstance(value, dict):
        return sum(_text_size(item) for item in value.values())
    return 0


class RowTimeLimit(BaseException):
    """Raised inside a row's build when it has run past ROW_SECONDS. A BaseException, so that a builder's own
    `except Exception` cannot swallow it."""


def engine_limit(error: BaseException) -> bool:
    """True for an exception that is one of Python's own per-value limits, not a builder bug."""
    if isinstance(error, RecursionError):
        return True
    return isinstance(error, ValueError) and "integer string conversion" in str(error)


class RowClock:
    """Bounds each row's build to `seconds`: while `running()`, a row that sets `started = time.monotonic()`
    (or runs inside `row()`) and is still going `seconds` later gets RowTimeLimit raised inside it.

    One interval timer (SIGALRM every 0.5 s) serves a whole batch; its handler raises only when the current row
    started more than `seconds` ago, so a row costs one `time.monotonic()`. Off the main thread, or where there
    is no SIGALRM (Windows), rows are not timed. A row blocked inside one long C call (a regex) is stopped when
    that call returns.
    """

    def __init__(self, seconds: float = ROW_SECONDS) -> None:
        self.seconds = seconds
        self.started: float | None = None

    def _alarm(self, signum: int, frame: Any) -> None:
        if self.started is not None and time.monotonic() - self.started > self.seconds:
            self.started = None
            raise RowTimeLimit()

    @contextmanager
    def running(self) -> Iterator[RowClock]:
        usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        if not usable:
            yield self
            return
        previous = signal.signal(signal.SIGALRM, self._alarm)
        interval = min(0.5, self.seconds)
        old_timer = signal.setitimer(signal.ITIMER_REAL, interval, interval)
        try:
            yield self
        finally:
            self.started = None
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if old_timer[0] > 0:  # someone else's timer (e.g. a test timeout) was running: give it back
                signal.setitimer(signal.ITIMER_REAL, *old_timer)

    @contextmanager
    def row(self) -> Iterator[None]:
        self.started = time.monotonic()
        try:
            yield
        finally:
            self.started = None
