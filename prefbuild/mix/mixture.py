"""`mix_datasets`: load every entry, take each one's share of its splits, shuffle, and write one folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from prefbuild import bad_rows
from prefbuild.decontaminate import DecontaminationRequest
from prefbuild.errors import PrefbuildError
from prefbuild.folder import FolderStats, add_edit_distances
from prefbuild.formats import check_format
from prefbuild.mix.config import MIX_SPLITS, MixConfig, entry_label
from prefbuild.mix.load import load_entry
from prefbuild.mix.sampling import sample_indices, shuffle_order, split_counts
from prefbuild.mix.write import source_facts, source_split_facts, split_statistics, write_mixture
from prefbuild.output import refuse_existing


@dataclass
class MixReport:
    out: Path
    stats: FolderStats  # what out/stats.json holds


def with_edit_distances(table: pa.Table) -> pa.Table:
    """Append edit_distance_char / edit_distance_word between chosen and rejected (computed once, per entry: they
    travel with the rows into the shuffled mixture)."""
    return add_edit_distances(table)


def mix_datasets(
    config: MixConfig,
    *,
    out: str | Path,
    overwrite: bool = False,
    fmt: str | None = None,
    system_prompt: str | None = None,
    seed: int | None = None,
    command: str | None = None,
    config_path: str | None = None,
    plot: bool = True,
    decontaminate: DecontaminationRequest | None = None,
    on_bad_rows: str = "error",
) -> MixReport:
    """Take every entry of `config` by its share, shuffle with the seed, and write a Hub-ready folder `out`.

    `fmt`, `system_prompt` and `seed` override the config's. Columns: prompt, chosen, rejected, source (the entry
    name), edit_distance_char, edit_distance_word. stats.json holds per-source counts and edit distances.
    on_bad_rows: a third-party or `pairs` row with undecodable text or a wrong type stops the mixture ("error",
    naming file, row and field) or is counted under the entry's skip reasons ("skip"), as in `build_dataset`.
    """
    out = Path(out)
    refuse_existing(out, overwrite, inputs=[config_path, *(entry.source for entry in config.sources)])
    fmt = fmt or config.format
    check_format(fmt)
    bad_rows.check_policy(on_bad_rows)
    system_prompt = system_prompt if system_prompt is not None else config.system_prompt
    if system_prompt and fmt != "conversational":
        raise PrefbuildError("--system-prompt applies only to --format conversational.")
    seed = config.seed if seed is None else seed
    if seed < 0:
        raise PrefbuildError(f"--seed must be >= 0, got {seed}.")

    loaded = [
        load_entry(entry, index, fmt, system_prompt, on_bad_rows=on_bad_rows)
        for index, entry in enumerate(config.sources)
    ]
    parts: dict[str, list[pa.Table]] = {split: [] for split in MIX_SPLITS}
    sources_stats = []
    for index, source in enumerate(loaded):
        name = source.entry.name
        split_facts = {}
        usable = {split: source.rows[split].num_rows for split in MIX_SPLITS if split in source.rows}
        counts = split_counts(entry_label(index + 1, name), source.entry, usable)
        for split, count in counts.items():
            indices = pa.array(sample_indices(seed, name, split, usable[split], count), pa.int64())
            picked = source.rows[split].take(indices)
            picked = picked.append_column("source", pa.array([name] * picked.num_rows, pa.string()))
            picked = with_edit_distances(picked)
            parts[split].append(picked)
            split_facts[split] = source_split_facts(source, split, picked)
        sources_stats.append(source_facts(source, split_facts))

    tables, split_stats = {}, {}
    for split, pieces in parts.items():
        if not pieces:
            continue
        table = pa.concat_tables(pieces)
        table = table.take(pa.array(shuffle_order(seed, config.name, split, table.num_rows), pa.int64()))
        tables[split] = table
        split_stats[split] = split_statistics(split, table, sources_stats)
    if not tables:
        raise PrefbuildError("The mixture has no rows: no entry has a train or eval split.")
    decontamination = None
    if decontaminate is not None:  # overlap with benchmark test sets; --decontaminate-drop removes those pairs
        tables, decontamination = decontaminate.apply(tables, split_stats)

    mix_stats = write_mixture(
        out,
        config,
        tables,
        loaded,
        sources_stats,
        split_stats,
        seed=seed,
        fmt=fmt,
        system_prompt=system_prompt,
        command=command,
        config_path=config_path,
        decontamination=decontamination,
        plot=plot,
        overwrite=overwrite,
    )
    return MixReport(out=out, stats=mix_stats)
