"""The Hub-ready output folder: `data/<split>-XXXXX-of-YYYYY.parquet`, `stats.json`, `README.md` (the card).

The folder is written into a temporary sibling and renamed into place, so a failed or interrupted build never
leaves a half-written DIR behind, and an existing DIR is replaced only with `overwrite=True`. `atomic_folder`
does this for every verb that writes a folder; prefbuild/paths.py says which output paths are refused.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefbuild.errors import PrefbuildError
from prefbuild.folder import PAIR_COLUMNS
from prefbuild.paths import check_out, deferred_signals

if TYPE_CHECKING:
    import datasets

    from prefbuild.folder import FolderStats

# In-memory Arrow size per shard; MetaMath's 394k pairs (~0.6 GB of text) become 3 shards.
MAX_SHARD_BYTES = 256 * 1024 * 1024
ROW_GROUP_SIZE = 10_000
MAX_WRITER_THREADS = 4  # shards encoded at once; each holds one row group's pages besides its rows


def refuse_existing(out: Path, overwrite: bool, inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse an output path that exists (without `overwrite`) or that would hurt (see prefbuild/paths.py)."""
    check_out(out, overwrite=overwrite, inputs=inputs)


def _user_mode() -> int:
    """0o777 less the process umask: the mode `mkdir` gives a new folder (mkdtemp's is 0o700)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


@contextlib.contextmanager
def atomic_folder(out: str | Path, *, overwrite: bool = False, flag: str = "--out") -> Iterator[Path]:
    """Yield a temporary sibling of `out` to write into; on success it becomes `out` in one rename.

    Afterwards exactly one of the old folder and the new one is at `out`, whatever fails or whichever signal
    arrives (SIGINT / SIGTERM are held back around the renames); no temporary or backup sibling is left. Without
    `overwrite`, a folder that another process put at `out` meanwhile is never replaced: the rename fails and
    this write reports it. Disk errors (full disk, permissions) become one PrefbuildError line.
    """
    out = Path(out).expanduser()
    tmp: Path | None = None
    try:
        with deferred_signals():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        os.chmod(tmp, _user_mode())
        yield tmp
        with deferred_signals():
            _replace(tmp, out, overwrite, flag)
            tmp = None
    except OSError as error:
        raise PrefbuildError(f"Cannot write {flag} '{out}': {error.strerror or error}.") from None
    finally:
        if tmp is not None:
            with deferred_signals():
                shutil.rmtree(tmp, ignore_errors=True)


def shard_names(split: str, num_shards: int) -> list[str]:
    return [f"data/{split}-{index:05d}-of-{num_shards:05d}.parquet" for index in range(num_shards)]


def _shard_slices(split: str, table: pa.Table, max_shard_bytes: int) -> list[tuple[str, pa.Table]]:
    """(name, rows) of each shard of a split: as many shards as `max_shard_bytes` of Arrow memory need."""
    num_shards = max(1, math.ceil(table.nbytes / max_shard_bytes))
    rows_per_shard = math.ceil(table.num_rows / num_shards) if table.num_rows else 0
    names = shard_names(split, num_shards)
    return [(name, table.slice(index * rows_per_shard, rows_per_shard)) for index, name in enumerate(names)]


def _write_shard(path: Path, rows: pa.Table) -> None:
    """One shard, each row group laid out as one Arrow chunk per column.

    The parquet writer's page boundaries follow the Arrow chunks, which follow how many processes built the rows
    (and `prefbuild.build.pair_rows`' slices), so without this --num-proc 1 and 2 wrote different bytes. Combining
    one row group at a time writes the same bytes as combining the whole shard, with 10,000 rows of fresh memory
    instead of a copy of the shard.
    No schema metadata: datasets stores a cache fingerprint (path-, mtime- and num_proc-dependent) and the
    features of the table it mapped (with our internal columns) there. Arrow types carry the features, and
    the card's dataset_info lists them.
    """
    rows = rows.replace_schema_metadata(None)
    if rows.num_rows <= ROW_GROUP_SIZE:
        pq.write_table(rows.combine_chunks(), path, row_group_size=ROW_GROUP_SIZE)
        return
    with pq.ParquetWriter(path, rows.schema) as writer:
        for start in range(0, rows.num_rows, ROW_GROUP_SIZE):
            writer.write_table(rows.slice(start, ROW_GROUP_SIZE).combine_chunks(), row_group_size=ROW_GROUP_SIZE)


def write_shards(folder: Path, split: str, table: pa.Table, max_shard_bytes: int = MAX_SHARD_BYTES) -> list[str]:
    slices = _shard_slices(split, table, max_shard_bytes)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name, rows in slices:
        _write_shard(folder / name, rows)
    return [name for name, _ in slices]


def _writer_threads(jobs: int) -> int:
    """Threads for writing shards: parquet encoding runs outside the GIL, so each core can encode a shard."""
    return max(1, min(jobs, os.cpu_count() or 1, MAX_WRITER_THREADS))


def _card_after(
    written: list[Future], render_card: Callable[[Path, dict[str, list[str]]], str], folder: Path, shards: dict
) -> str:
    """The card, rendered once every shard is written (a shard's error is raised here)."""
    for future in written:
        future.result()
    return render_card(folder, shards)


def write_output_folder(
    out: str | Path,
    tables: dict[str, pa.Table],
    stats: FolderStats | dict[str, Any],
    render_card: Callable[[Path, dict[str, list[str]]], str],
    *,
    overwrite: bool = False,
    extra_files: dict[str, Callable[[Path], None]] | None = None,
) -> dict[str, list[str]]:
    """Write the whole folder atomically and return the shard names per split (prefer
    `prefbuild.folder.write_pairs_folder`, which builds `stats` and the card for you).

    render_card receives the temporary folder and the shard names per split (the card's YAML `configs` point at
    them) and returns the README.md text; it runs once the shards are written (in a thread of its own, beside the
    extra files) and before anything is moved into place, so a card error fails the build cleanly.
    extra_files maps a file name to a function that writes it into the temporary folder (e.g. a histogram PNG);
    they run in the calling thread, while the shards are encoded in others.
    """
    out = Path(out)
    refuse_existing(out, overwrite)
    slices = {split: _shard_slices(split, table, MAX_SHARD_BYTES) for split, table in tables.items()}
    shards = {split: [name for name, _ in parts] for split, parts in slices.items()}
    jobs = [(name, rows) for parts in slices.values() for name, rows in parts]
    with atomic_folder(out, overwrite=overwrite) as tmp:
        if jobs:
            (tmp / "data").mkdir()
        # Shards are encoded in threads (parquet releases the GIL) while this thread draws the figures (Python,
        # holding it): MetaMath's three shards and its histogram PNG took 2.5 s one after the other. The card waits
        # for the shards, whose Arrow sizes it reads back (C++ too), in its own thread, still beside the figures.
        pool = ThreadPoolExecutor(_writer_threads(len(jobs)), thread_name_prefix="prefbuild-shards")
        card_thread = ThreadPoolExecutor(1, thread_name_prefix="prefbuild-card")
        try:
            written = [pool.submit(_write_shard, tmp / name, rows) for name, rows in jobs]
            card = card_thread.submit(_card_after, written, render_card, tmp, shards)
            if hasattr(stats, "to_text"):
                text = stats.to_text()
            else:
                text = json.dumps(stats, indent=2, ensure_ascii=False) + "\n"
            (tmp / "stats.json").write_text(text, encoding="utf-8")
            for name, write in (extra_files or {}).items():
                write(tmp / name)
            (tmp / "README.md").write_text(card.result(), encoding="utf-8")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after an error, no queued shard starts
            card_thread.shutdown(wait=True)
    return shards


def _replace(tmp: Path, out: Path, overwrite: bool, flag: str = "--out") -> None:
    """Move `tmp` to `out`; with `overwrite`, through a backup that is removed (or put back on failure)."""
    if not overwrite or not (out.exists() or out.is_symlink()):
        try:
            os.rename(tmp, out)  # fails on a non-empty folder: a concurrent writer's folder is never replaced
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise PrefbuildError(
                    f"{flag} '{out}' appeared while this command ran (another process wrote it); it was left as "
                    "it is. Pass --overwrite to replace it, or choose another folder."
                ) from None
            raise
        return
    if out.is_symlink() or not out.is_dir():
        raise PrefbuildError(f"{flag} '{out}' is not a folder; --overwrite replaces folders only.")
    backup = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, backup)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(backup, out)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def load_output_folder(folder: str | Path) -> datasets.DatasetDict:
    """`datasets` view of a built folder, loaded from its shards by explicit path.

    `datasets.load_dataset(DIR)` caches a local folder under its *name* and a hash of the card's metadata, so
    two folders called `arc` can share a cache entry; explicit data files are hashed with their modification
    times, so this never returns stale rows. Prefer it inside prefbuild.
    """
    import datasets

    folder = Path(folder)
    shards = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        split = path.name.split("-")[0]
        shards.setdefault(split, []).append(str(path))
    if not shards:
        raise PrefbuildError(f"'{folder}' is not a prefbuild output folder: it has no data/*.parquet shards.")
    return datasets.load_dataset("parquet", data_files=shards)


def read_output_folder(
    folder: str | Path, columns: list[str] | None = None
) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """Read a folder `prefbuild build` wrote: Arrow tables per split and stats.json as a dict.

    columns: read only these columns (`[]` checks that every shard opens without reading any data).
    Deprecated: use `prefbuild.folder.open_pairs(folder)` (`.tables()`, `.stats`, a typed `FolderStats`).
    """
    import warnings

    from prefbuild.folder import FolderStats, read_tables

    warnings.warn(
        "prefbuild.output.read_output_folder is deprecated; use prefbuild.folder.open_pairs(folder) "
        "(.tables(), .stats). It is removed in the next release.",
        DeprecationWarning,
        stacklevel=2,
    )

    stats = FolderStats.load(folder)
    return read_tables(folder, stats, columns=columns), stats.to_json()


PAIR_TEXT_COLUMNS = PAIR_COLUMNS  # the old name


def _is_text_or_messages(dtype: pa.DataType) -> bool:
    """A string, or TRL's conversational list of {role, content} strings."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return True
    if not (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) or not pa.types.is_struct(dtype.value_type):
        return False
    fields = {
        dtype.value_type.field(i).name: dtype.value_type.field(i).type for i in range(dtype.value_type.num_fields)
    }
    return all(name in fields and pa.types.is_string(fields[name]) for name in ("role", "content"))


def check_pair_columns(table: pa.Table, where: str) -> None:
    """prompt / chosen / rejected present, text (or message lists), and never null, in every row."""
    for name in PAIR_TEXT_COLUMNS:
        if name not in table.column_names:
            if name == "prompt":
                continue  # read with an explicit column selection that left it out
            raise PrefbuildError(f"{where} has no '{name}' column; it is not a prefbuild pairs folder.")
        column = table.column(name)
        if not _is_text_or_messages(column.type):
            raise PrefbuildError(f"{where}: column '{name}' holds {column.type}, not text; rebuild the folder.")
        if column.null_count:
            raise PrefbuildError(
                f"{where}: column '{name}' is empty (null) in {column.null_count} row(s); rebuild the folder."
            )
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            content = pc.list_flatten(column).combine_chunks() if column.num_chunks else None
            if content is not None and (content.null_count or content.field("content").null_count):
                raise PrefbuildError(f"{where}: column '{name}' has a message without content; rebuild the folder.")
