"""`prefbuild stats DIR --model M` and `prefbuild filter`: score a pairs folder's displacement risk, drop risky pairs.

Both read a folder with `open_pairs` and write through `write_pairs_folder` (prefbuild/folder.py), which keeps
every other fact of stats.json, re-renders the card and writes atomically. Scoring adds the per-pair columns
`ches` and `ches_normalized`; filtering removes pairs and counts each under the reason `filtered_<column>`, so
`input_rows = rows paired + skipped rows` still holds. stats.json's `history` lists the commands that changed the
folder after its build, in order; the card prints them as the way to rebuild it.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prefbuild.displacement.scores import FILTER_COLUMNS, METHOD, SCORE_COLUMNS, model_facts, software_versions
from prefbuild.errors import PrefbuildError

logger = logging.getLogger(__name__)

FILTER_MODES = ("drop_top", "drop_bottom", "keep_below", "keep_above")


def _suggest(value: str, choices: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1)
    return f" Did you mean: {close[0]}?" if close else ""


def _scored_splits(pairs: Any, split: str | None) -> list[str]:
    return [pairs.check_split(split)] if split is not None else list(pairs.splits)


SCORE_CHUNK = 2_048  # pairs tokenised at once: a 395k-pair split is never held as Python strings and ids at once


def score_pairs(
    pairs: Any,
    model: Any,
    tokenizer: Any,
    splits: list[str],
    *,
    limit: int | None,
    batch_size: int,
    device: str,
    progress: bool = False,
) -> dict[str, dict[str, np.ndarray]]:
    """{split: {"ches": values, "ches_normalized": values}} for the first `limit` pairs (all without) of `splits`,
    SCORE_CHUNK pairs at a time."""
    from tqdm.auto import tqdm

    from prefbuild.displacement.ches import ches_for_rows
    from prefbuild.folder import PAIR_COLUMNS

    result = {}
    for split in splits:
        table = pairs.table(split).select(list(PAIR_COLUMNS))
        if limit is not None:
            table = table.slice(0, limit)
        started = time.perf_counter()
        ches, normalised = [], []
        with tqdm(total=table.num_rows, desc=f"CHES {split}", unit="pair", disable=not progress) as bar:
            for start in range(0, table.num_rows, SCORE_CHUNK):
                rows = table.slice(start, SCORE_CHUNK).to_pylist()
                part = ches_for_rows(model, tokenizer, rows, batch_size=batch_size, device=device)
                ches += part[0]
                normalised += part[1]
                bar.update(len(rows))
        logger.info("CHES of %s: %d pairs in %.1f s", split, table.num_rows, time.perf_counter() - started)
        result[split] = {"ches": np.asarray(ches, dtype=np.float64), "ches_normalized": np.asarray(normalised)}
    return result


def score_folder(
    folder: str | Path,
    model: str,
    *,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    device: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
    progress: bool = False,
) -> Any:
    """CHES of every pair of `folder` (or of `split`, its first `limit` pairs) under `model`; returns the stats.

    Without `out` nothing is written: the returned FolderStats has, per scored split, `displacement` summaries,
    and at the top `displacement` (model, hash, method, versions). With `out`, writes a copy of the folder whose
    scored splits gain the columns `ches` and `ches_normalized` (the splits not scored get the columns empty:
    earlier scores, perhaps from another model, are not kept) and whose card gains a "Displacement risk" section.
    """
    from prefbuild.analysis.analyze import load_model
    from prefbuild.displacement.scores import score_records, split_score_summaries
    from prefbuild.folder import DisplacementInfo, open_pairs

    if batch_size < 1:
        raise PrefbuildError(f"--batch-size must be >= 1, got {batch_size}.")
    if out is not None and limit is not None:
        raise PrefbuildError(
            f"--limit {limit} scores only part of each split, but --out writes every pair; drop --limit to write an "
            "annotated copy, or --out to print the scores of the first pairs."
        )
    if out is not None:
        _check_out(folder, out, overwrite)
    pairs = open_pairs(folder, split=split, limit=limit, flag="DIR", hub=False)
    splits = _scored_splits(pairs, split)
    device = _check_device(device)
    loaded, tokenizer = load_model(model, device=device)
    scores = score_pairs(
        pairs, loaded, tokenizer, splits, limit=limit, batch_size=batch_size, device=device, progress=progress
    )
    stats = pairs.stats
    stats.displacement = DisplacementInfo(
        method=METHOD,
        model=model_facts(model, loaded),
        splits=splits,
        limit=limit,
        batch_size=batch_size,
        device=str(device),
        versions=software_versions(),
    )
    if out is None:
        for name, summaries in split_score_summaries(scores).items():
            stats.splits[name].displacement = score_records(summaries)
        return stats
    tables = pairs.tables()
    card = _card(pairs, tables)
    for name, table in tables.items():
        for column in SCORE_COLUMNS:
            values = pa.array(scores[name][column], pa.float64()) if name in scores else pa.nulls(table.num_rows)
            tables[name] = _set_column(tables[name], column, values.cast(pa.float64()))
    if command is None:  # called from Python: the command line that does the same
        argv = ["stats", str(folder), "--model", str(model), *(["--split", split] if split else [])]
        command = _command([*argv, "--batch-size", str(batch_size), "--out", str(out)])
    stats.add_history("stats", command)
    return _write(tables, stats, out, card, overwrite=True)


def _check_device(device: str | None) -> str:
    """The device to score on: `device`, checked, or CUDA when there is one, else the CPU."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise PrefbuildError(f"--device '{device}' is not a device; use cpu, cuda, cuda:N or mps.") from None
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(kind, True):
        raise PrefbuildError(f"--device '{device}': this machine has no {kind.upper()} device; use --device cpu.")
    return device


def _check_out(folder: str | Path, out: str | Path, overwrite: bool) -> None:
    """Refuse an existing `out` without --overwrite, and a dangerous one (prefbuild/paths.py) in any case; `out` may
    be the folder itself with --overwrite (replaced atomically once the copy is written)."""
    from prefbuild.output import refuse_existing

    if Path(out).resolve() != Path(folder).resolve():
        refuse_existing(Path(out), overwrite)
    elif not overwrite:
        raise PrefbuildError(f"--out '{out}' is the folder being read; give another folder, or add --overwrite.")


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _card(pairs: Any, tables: dict[str, pa.Table]) -> tuple[Any, bool]:
    """The card factory for the written copy, as `decontaminate` makes it (a builder's card rendered again from
    the new stats, a mixture's redrawn), and whether the folder has figures. Call it before changing the stats."""
    from functools import partial

    from prefbuild import cards
    from prefbuild.decontaminate import _folder_card
    from prefbuild.folder import FolderStats

    path = pairs.path
    old_card = (path / "README.md").read_text(encoding="utf-8") if (path / "README.md").is_file() else ""
    plot = (path / "edit_distance.png").is_file()
    before = (FolderStats.from_json(pairs.stats.to_json()), cards.example_pairs(tables))
    return partial(_folder_card, old=old_card, plot=plot, before=before), plot


def _write(
    tables: dict[str, pa.Table], stats: Any, out: str | Path, card: tuple[Any, bool], *, overwrite: bool
) -> Any:
    from prefbuild.folder import write_pairs_folder

    factory, plot = card
    return write_pairs_folder(out, tables, stats, card=factory, plot=plot, overwrite=overwrite)


def _filter_mode(
    drop_top: float | None, drop_bottom: float | None, keep_below: float | None, keep_above: float | None
):
    given = {
        mode: value
        for mode, value in zip(FILTER_MODES, (drop_top, drop_bottom, keep_below, keep_above))
        if value is not None
    }
    if len(given) != 1:
        raise PrefbuildError("Give exactly one of --drop-top F, --drop-bottom F, --keep-below X, --keep-above X.")
    mode, value = next(iter(given.items()))
    if not math.isfinite(value):
        raise PrefbuildError(f"--{mode.replace('_', '-')} must be a finite number, got {value}.")
    if mode.startswith("drop") and not 0 < value < 1:
        raise PrefbuildError(
            f"--{mode.replace('_', '-')} is the fraction of each split's pairs to drop, in (0, 1); got {value} "
            "(0.1 drops 10%)."
        )
    return mode, value


def _missing_column_error(folder: str | Path, by: str, split: str) -> PrefbuildError:
    if by in SCORE_COLUMNS:
        return PrefbuildError(
            f"Split '{split}' of '{folder}' has no `{by}` column: score the folder first with "
            f"`prefbuild stats {folder} --model M --out DIR2`, then filter DIR2."
        )
    if by == "edit_distance_token":
        return PrefbuildError(
            f"Split '{split}' of '{folder}' has no `edit_distance_token` column: it was built without --tokenizer. "
            "Rebuild it with `--tokenizer T`, or filter --by edit_distance_char or edit_distance_word."
        )
    return PrefbuildError(f"Split '{split}' of '{folder}' has no `{by}` column; rebuild it with this prefbuild.")


def drop_mask(values: np.ndarray, mode: str, value: float) -> tuple[np.ndarray, float | None]:
    """Which pairs a filter drops (True = drop), and the cut: the lowest dropped value for drop_top, the highest
    for drop_bottom, the bound itself for keep_*. drop_top / drop_bottom drop ⌊F × pairs⌋ pairs (never more than
    the fraction asked); ties at the cut are broken by pair order (the later pair goes first)."""
    count = values.size
    if mode in ("keep_below", "keep_above"):
        return (values >= value) if mode == "keep_below" else (values <= value), value
    dropped = math.floor(value * count + 1e-9)
    mask = np.zeros(count, dtype=bool)
    if dropped == 0:
        return mask, None
    # Stable sort of (-values) for the top: among equal values the earlier pair ranks first and is dropped first
    order = np.argsort(-values if mode == "drop_top" else values, kind="stable")[:dropped]
    mask[order] = True
    return mask, float(values[order[-1]])


def filter_folder(
    folder: str | Path,
    by: str,
    *,
    out: str | Path,
    drop_top: float | None = None,
    drop_bottom: float | None = None,
    keep_below: float | None = None,
    keep_above: float | None = None,
    split: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> Any:
    """Write a copy of `folder` without the pairs the rule drops; returns the written stats.

    by: a per-pair column (FILTER_COLUMNS). Exactly one rule: drop_top / drop_bottom F drops the ⌊F × pairs⌋
    pairs with the highest / lowest value in each split; keep_below / keep_above X keeps the pairs whose value is
    below / above X. split: filter only this split (the others are copied unchanged). A source row all of whose
    pairs go is counted as a skipped row under `filtered_<by>`, a pair removed from a row that keeps others as a
    dropped pair under it; stats.json's `filters` records the rule, the cut and the counts.
    """
    from prefbuild.decontaminate import drop_overlapping
    from prefbuild.folder import FilterEntry, FilterSplit, open_pairs

    if by not in FILTER_COLUMNS:
        raise PrefbuildError(
            f"Unknown --by '{by}'.{_suggest(by, FILTER_COLUMNS)} Available: {', '.join(FILTER_COLUMNS)}."
        )
    mode, value = _filter_mode(drop_top, drop_bottom, keep_below, keep_above)
    _check_out(folder, out, overwrite)
    pairs = open_pairs(folder, split=split, flag="DIR", hub=False)
    stats, tables = pairs.stats, pairs.tables()
    card = _card(pairs, tables)
    reason = f"filtered_{by}"
    entry = FilterEntry(by=by, mode=mode, value=value, reason=reason)
    for name in _scored_splits(pairs, split):
        table = tables[name]
        if by not in table.column_names:
            raise _missing_column_error(folder, by, name)
        column = table.column(by)
        if column.null_count:
            raise PrefbuildError(
                f"Split '{name}' of '{folder}' has {column.null_count:,} pairs without a `{by}` value (that split was "
                f"not scored); score it with `prefbuild stats {folder} --model M --out DIR2`, or pass --split with a "
                "scored split."
            )
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        mask, cut = drop_mask(values, mode, value)
        group_column = _group_column(stats.splits[name], table)
        tables[name] = drop_overlapping(table, mask, stats.splits[name], reason=reason, group_column=group_column)
        entry.splits[name] = FilterSplit(
            pairs_before=table.num_rows, pairs_dropped=int(mask.sum()), pairs_after=tables[name].num_rows, cut=cut
        )
    if all(facts.pairs_after == 0 for facts in entry.splits.values()):
        raise PrefbuildError(f"The filter drops every pair of {', '.join(entry.splits)}; loosen it.")
    if command is None:  # called from Python: the command line that does the same
        rule = [f"--{mode.replace('_', '-')}", f"{value:g}", *(["--split", split] if split else [])]
        command = _command(["filter", str(folder), "--by", by, *rule, "--out", str(out)])
    entry.input, entry.command = _public(folder), command
    stats.add_filter(entry)
    stats.add_history("filter", command)
    return _write(tables, stats, out, card, overwrite=True)


def _command(argv: list[str]) -> str:
    """`prefbuild ARGV` as stats.json records commands: local paths made public (`cards.public_argv`)."""
    import shlex

    from prefbuild.cards import public_argv

    return shlex.join(["prefbuild", *public_argv(argv)])


def _public(folder: str | Path) -> str:
    from prefbuild.cards import public_path

    return public_path(str(folder))


def _group_column(split_stats: Any, table: pa.Table) -> str | None:
    """The column whose per-value counts stats.json keeps (`by_type` → `type`), when the pairs still carry it."""
    for key in split_stats.groups:
        column = key.removeprefix("by_")
        if column in table.column_names:
            return column
    return None
