"""Everything that turns a mixture's tables into its Hub-ready folder: per-source and per-split statistics
(the typed stats.json of prefbuild.folder), the card's metadata and context. `prefbuild.folder.write_pairs_folder`
adds the distance summaries, renders the card, draws the histogram and writes the folder atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from prefbuild import __version__, cards
from prefbuild.folder import (
    CardSpec,
    DistanceSummary,
    FolderStats,
    MixInfo,
    SourceSplitStats,
    SourceStats,
    SplitStats,
    coerce_splits,
    write_pairs_folder,
)
from prefbuild.mix.config import NOT_SELECTED, PREFBUILD_SCHEMA, MixConfig
from prefbuild.mix.load import LoadedSource


def source_facts(loaded: LoadedSource, splits: dict[str, SourceSplitStats]) -> SourceStats:
    """stats.json's record of one entry: where it came from, what share it asked for (`weight`: fraction or
    count), what its own folder recorded (builder, seed, command) and its per-split counts."""
    facts = {
        "name": loaded.entry.name,
        "source": cards.public_path(loaded.entry.source),
        "schema": loaded.schema,
        "hub_id": loaded.hub_id,
        "license": loaded.license,
        "weight": loaded.entry.share,
        "eval_weight": loaded.entry.eval_share,
    }
    facts.update({key: value for key, value in loaded.details.items() if value is not None})
    facts["splits"] = {split: value.to_json() for split, value in splits.items()}
    return SourceStats.from_json(facts)  # from the dict: the recorded details keep their place before `splits`


def source_split_facts(loaded: LoadedSource, split: str, picked: pa.Table) -> SourceSplitStats:
    """One entry's counts for one split: source_rows = selected + not_selected + sum(skipped)."""
    usable = loaded.rows[split].num_rows
    return SourceSplitStats(
        source_rows=loaded.available[split],
        usable_pairs=usable,
        skipped=dict(loaded.skipped.get(split, {})),
        selected=picked.num_rows,
        not_selected=usable - picked.num_rows,
        edit_distance={
            level: DistanceSummary.of(picked.column(f"edit_distance_{level}").to_numpy()) for level in ("char", "word")
        },
    )


def split_statistics(split: str, table: pa.Table, sources_stats: list[SourceStats]) -> SplitStats:
    """A mixed split's counts (its distance summaries are added by write_pairs_folder).

    input_rows = pairs + sum(skipped), as for a build: every source row read is either in the mixture, left out
    by its entry's share (`<name>:not_selected`) or unusable (`<name>:<builder's skip reason>`).
    """
    skipped = {}
    for facts in sources_stats:
        split_facts = facts.splits.get(split)
        if split_facts is None:
            continue
        for reason, count in split_facts.skipped.items():
            skipped[f"{facts.name}:{reason}"] = count
        if split_facts.not_selected:
            skipped[f"{facts.name}:{NOT_SELECTED}"] = split_facts.not_selected
    return SplitStats(
        input_rows=sum(facts.splits[split].source_rows for facts in sources_stats if split in facts.splits),
        pairs=table.num_rows,
        skipped=skipped,
        dropped_pairs={},
        sources={facts.name: facts.splits[split].selected for facts in sources_stats if split in facts.splits},
    )


def write_mixture(
    out: Path,
    config: MixConfig,
    tables: dict[str, pa.Table],
    loaded: list[LoadedSource],
    sources_stats: list[SourceStats],
    split_stats: dict[str, SplitStats],
    *,
    seed: int,
    fmt: str,
    system_prompt: str | None,
    command: str | None,
    config_path: str | None,
    decontamination: dict[str, Any] | None,
    plot: bool,
    overwrite: bool,
) -> FolderStats:
    """Write the mixture's folder (shards, stats.json, README.md card, edit_distance.png); return its stats."""
    header = FolderStats(
        prefbuild_version=__version__,
        mix=MixInfo(name=config.name, config=cards.public_path(config_path) if config_path else None, seed=seed),
        seed=seed,
        format=fmt,
        system_prompt=system_prompt,
        command=cards.public_command(command),
        sources=sources_stats,
        splits=split_stats,
        decontamination=decontamination,
    )

    def card(mix_stats: FolderStats, written: dict[str, pa.Table]) -> CardSpec:
        return CardSpec(
            template="mix",
            metadata=mix_card_metadata(config, mix_stats),
            context=mix_card_context(config, mix_stats, written, loaded, plot=plot),
            plot_title=config.pretty_name or f"{config.name} preference mixture",
        )

    return write_pairs_folder(out, tables, header, card=card, plot=plot, overwrite=overwrite)


def mix_card_metadata(config: MixConfig, mix_stats: FolderStats):
    """YAML for a mixture: every source's licence, Hub ids as source_datasets, size bucket, tags."""
    from huggingface_hub import DatasetCardData

    licenses = sorted({s.license for s in mix_stats.sources if s.license}) or ["other"]
    hub_ids = sorted({s.hub_id for s in mix_stats.sources if s.hub_id})
    return DatasetCardData(
        license=licenses if len(licenses) > 1 else licenses[0],
        language=["en"],
        task_categories=["text-generation"],
        tags=["dpo", "dpop", "preference", "prefbuild", "mixture", mix_stats.format],
        size_categories=[cards.size_category(mix_stats.pairs)],
        source_datasets=hub_ids or None,
        pretty_name=config.pretty_name or f"{config.name} preference mixture",
    )


def _share_text(share: float | int | None) -> str:
    if share is None:
        return "same rate as train"
    if isinstance(share, int):
        return f"{share:,} rows"
    return "all rows" if share == 1 else f"{100 * share:g}% of the rows"


def _taken(splits: dict[str, SourceSplitStats], split: str) -> str:
    if split not in splits:
        return "–"
    return f"{splits[split].selected:,} of {splits[split].usable_pairs:,}"


def mix_counts_table(splits: Mapping[str, SplitStats | dict[str, Any]]) -> str:
    """Per split: source rows = pairs + rows the shares left out + rows no builder could use."""
    rows = [["split", "source rows", "pairs", "not selected (weight)", "unusable rows"]]
    for name, split in coerce_splits(splits).items():
        left_out = sum(count for key, count in split.skipped.items() if key.endswith(f":{NOT_SELECTED}"))
        rows.append(
            [
                f"`{name}`",
                f"{split.input_rows:,}",
                f"{split.pairs:,}",
                f"{left_out:,}",
                f"{split.skipped_rows - left_out:,}",
            ]
        )
    return cards.markdown_table(rows, numeric=4)


def config_yaml(config: MixConfig, mix_stats: FolderStats) -> str:
    """The mixture config as YAML a reader can save and run, with sources as recorded (public paths).

    Shares are written in the spelling the config used: `fraction` / `rows` (`eval_fraction` / `eval_rows`), or,
    for a config that still used the deprecated `weight` / `eval_weight` anywhere, those (so that its card is
    byte for byte what it was).
    """
    deprecated = any(entry.deprecated_spelling for entry in config.sources)
    raw: dict[str, Any] = {"name": config.name}
    if config.pretty_name:
        raw["pretty_name"] = config.pretty_name
    raw.update({"seed": mix_stats.seed, "format": mix_stats.format})
    if mix_stats.system_prompt:
        raw["system_prompt"] = mix_stats.system_prompt
    raw["sources"] = []
    for entry, facts in zip(config.sources, mix_stats.sources):
        item = {"name": entry.name, "source": facts.source}
        if entry.schema is not None:
            item["schema"] = entry.schema
        for prefix, share in (("", entry.share), ("eval_", entry.eval_share)):
            if share is None:
                continue
            key = "weight" if deprecated else "rows" if isinstance(share, int) else "fraction"
            item[f"{prefix}{key}"] = share
        raw["sources"].append(item)
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=1000).rstrip("\n")


def rebuild_instructions(mix_stats: FolderStats) -> tuple[str, str]:
    """The command that rebuilds the mixture and one sentence saying how it was made.

    `prefbuild mix --config` records its own command line. The demo mixes in code, so its command is the demo
    itself. A mixture made from Python has no recorded command: it gets the `prefbuild mix` line that rebuilds
    it from the config the card shows, saved as `mix.yaml`.
    """
    command = mix_stats.command
    config = mix_stats.mix.config
    if command and command.startswith("prefbuild demo"):
        return command, (
            "`prefbuild demo` made this mixture in code (no config file), from the sets it builds out of the sample "
            "rows shipped in prefbuild. This command rebuilds those sets and, as `mix/` in its output folder, this "
            "mixture byte for byte; the config below is the one it uses:"
        )
    if command:
        where = f" (`{config}`)" if config else ""
        return command, (
            "With the same source folders (rebuilt with the commands in their own cards) and the same config"
            f"{where}, shown below:"
        )
    return "prefbuild mix --config mix.yaml --out OUT", (
        "This mixture was made from Python (`prefbuild.mix.mix_datasets`), not from the command line. Save the "
        "config below as `mix.yaml` and, with the same source folders, run:"
    )


def mix_card_context(
    config: MixConfig,
    mix_stats: FolderStats,
    tables: dict[str, pa.Table],
    loaded: list[LoadedSource],
    *,
    plot: bool,
) -> dict[str, Any]:
    """What data_cards/mix.md may use: stats, composition / counts / reasons / edit-distance tables, examples."""
    composition = [["source", "schema", "licence", "weight", "train pairs", "eval pairs", "char mean"]]
    distances = [["source", "split", "level", "mean", "median", "p10", "p90"]]
    reasons = [["source", "split", "reason", "count"]]
    for facts in mix_stats.sources:
        splits = facts.splits
        shown = splits.get("train", next(iter(splits.values()), None))
        char = shown.edit_distance.get("char") if shown is not None else None
        mean = char.mean if char is not None else None
        composition.append(
            [
                f"`{facts.name}`",
                f"`{facts.hub_id or facts.source}`"
                + ("" if facts.schema != PREFBUILD_SCHEMA else " (prefbuild build)"),
                facts.license or "see source",
                _share_text(facts.weight),
                _taken(splits, "train"),
                _taken(splits, "eval"),
                "–" if mean is None else f"{100 * mean:.1f}%",
            ]
        )
        distances += [[f"`{facts.name}`", *row] for row in cards.edit_distance_rows(splits)]
        for split, value in splits.items():
            for reason, count in value.skipped.items():
                reasons.append([f"`{facts.name}`", f"`{split}`", f"`{reason}`", f"{count:,}"])
            if value.not_selected:
                reasons.append([f"`{facts.name}`", f"`{split}`", f"`{NOT_SELECTED}`", f"{value.not_selected:,}"])
    command, rebuild_note = rebuild_instructions(mix_stats)
    return {
        "config": config,
        "stats": mix_stats.to_json(),  # templates see stats.json's own shape
        "command": command,
        "rebuild_note": rebuild_note,
        "config_yaml": config_yaml(config, mix_stats),
        "plot": plot,
        "composition_table": cards.markdown_table(composition, numeric=3),
        "counts_table": mix_counts_table(mix_stats.splits),
        "reasons_table": cards.markdown_table(reasons, numeric=1) if len(reasons) > 1 else "",
        "edit_distance_table": cards.edit_distance_table(mix_stats.splits),
        "source_edit_distance_table": cards.markdown_table(distances, numeric=4),
        "examples": cards.example_pairs(tables),
        "citations": [source.citation for source in loaded if source.citation],
        "smaug_citation": cards.SMAUG_CITATION,
        "pairs": mix_stats.pairs,
        "share_alike": any(f.license == "cc-by-sa-4.0" for f in mix_stats.sources),
    }
