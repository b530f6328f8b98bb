"""Everything that turns a mixture's tables into its Hub-ready folder, in one place: per-source and per-split
statistics (stats.json), the card's metadata and context, the histogram, and the atomic write.

One module so that the typed output folder (`prefbuild.folder.write_pairs_folder`) can replace it in one step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import yaml

from prefbuild import __version__, cards, stats
from prefbuild.decontaminate import insert_card_section
from prefbuild.mix.config import NOT_SELECTED, PREFBUILD_SCHEMA, MixConfig
from prefbuild.mix.load import LoadedSource
from prefbuild.output import write_output_folder


def source_facts(loaded: LoadedSource) -> dict[str, Any]:
    """stats.json's record of one entry: where it came from and what share it gave (`weight`: fraction or count)."""
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
    return facts


def source_split_facts(loaded: LoadedSource, split: str, picked: pa.Table) -> dict[str, Any]:
    """One entry's counts for one split: source_rows = selected + not_selected + sum(skipped)."""
    usable = loaded.rows[split].num_rows
    char = picked.column("edit_distance_char").to_pylist()
    word = picked.column("edit_distance_word").to_pylist()
    return {
        "source_rows": loaded.available[split],
        "usable_pairs": usable,
        "skipped": loaded.skipped.get(split, {}),
        "selected": picked.num_rows,
        "not_selected": usable - picked.num_rows,
        "edit_distance": {"char": stats.summarise(char), "word": stats.summarise(word)},
    }


def split_statistics(split: str, table: pa.Table, sources_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """A mixed split's stats.json entry.

    input_rows = pairs + sum(skipped), as for a build: every source row read is either in the mixture, left out
    by its entry's share (`<name>:not_selected`) or unusable (`<name>:<builder's skip reason>`).
    """
    skipped = {}
    for facts in sources_stats:
        split_facts = facts["splits"].get(split, {})
        for reason, count in split_facts.get("skipped", {}).items():
            skipped[f"{facts['name']}:{reason}"] = count
        if split_facts.get("not_selected"):
            skipped[f"{facts['name']}:{NOT_SELECTED}"] = split_facts["not_selected"]
    char = table.column("edit_distance_char").to_numpy()
    word = table.column("edit_distance_word").to_numpy()
    return {
        "input_rows": sum(facts["splits"].get(split, {}).get("source_rows", 0) for facts in sources_stats),
        "pairs": table.num_rows,
        "skipped": skipped,
        "dropped_pairs": {},
        "edit_distance": {"char": stats.summarise(char), "word": stats.summarise(word)},
        "sources": {f["name"]: f["splits"][split]["selected"] for f in sources_stats if split in f["splits"]},
    }


def write_mixture(
    out: Path,
    config: MixConfig,
    tables: dict[str, pa.Table],
    loaded: list[LoadedSource],
    sources_stats: list[dict[str, Any]],
    split_stats: dict[str, dict[str, Any]],
    *,
    seed: int,
    fmt: str,
    system_prompt: str | None,
    command: str | None,
    config_path: str | None,
    decontamination: dict[str, Any] | None,
    plot: bool,
    overwrite: bool,
) -> dict[str, Any]:
    """Write the mixture's folder (shards, stats.json, README.md card, edit_distance.png); return stats.json."""
    mix_stats = {
        "prefbuild_version": __version__,
        "mix": {"name": config.name, "config": cards.public_path(config_path) if config_path else None, "seed": seed},
        "seed": seed,
        "format": fmt,
        "system_prompt": system_prompt,
        "command": cards.public_command(command),
        "sources": sources_stats,
        "splits": split_stats,
    }
    if decontamination is not None:
        mix_stats["decontamination"] = decontamination
    metadata = mix_card_metadata(config, mix_stats)
    features = datasets.Features.from_arrow_schema(next(iter(tables.values())).schema)._to_yaml_list()
    context = mix_card_context(config, mix_stats, tables, loaded, plot=plot)

    def render(folder: Path, shards: dict[str, list[str]]) -> str:
        metadata.configs = cards.configs_metadata(shards)
        metadata.dataset_info = cards.dataset_info_metadata(folder, shards, features)
        return insert_card_section(cards.render_card("mix", metadata, {**context, "shards": shards}), mix_stats)

    title = config.pretty_name or f"{config.name} preference mixture"
    extra = {"edit_distance.png": lambda path: stats.plot_histograms(mix_stats, str(path), title)}
    write_output_folder(out, tables, mix_stats, render, overwrite=overwrite, extra_files=extra if plot else None)
    return mix_stats


def mix_card_metadata(config: MixConfig, mix_stats: dict[str, Any]):
    """YAML for a mixture: every source's licence, Hub ids as source_datasets, size bucket, tags."""
    from huggingface_hub import DatasetCardData

    licenses = sorted({s["license"] for s in mix_stats["sources"] if s["license"]}) or ["other"]
    hub_ids = sorted({s["hub_id"] for s in mix_stats["sources"] if s["hub_id"]})
    pairs = sum(split["pairs"] for split in mix_stats["splits"].values())
    return DatasetCardData(
        license=licenses if len(licenses) > 1 else licenses[0],
        language=["en"],
        task_categories=["text-generation"],
        tags=["dpo", "dpop", "preference", "prefbuild", "mixture", mix_stats["format"]],
        size_categories=[cards.size_category(pairs)],
        source_datasets=hub_ids or None,
        pretty_name=config.pretty_name or f"{config.name} preference mixture",
    )


def _share_text(share: float | int | None) -> str:
    if share is None:
        return "same rate as train"
    if isinstance(share, int):
        return f"{share:,} rows"
    return "all rows" if share == 1 else f"{100 * share:g}% of the rows"


def _taken(splits: dict[str, Any], split: str) -> str:
    if split not in splits:
        return "–"
    return f"{splits[split]['selected']:,} of {splits[split]['usable_pairs']:,}"


def mix_counts_table(splits: dict[str, dict[str, Any]]) -> str:
    """Per split: source rows = pairs + rows the shares left out + rows no builder could use."""
    rows = [["split", "source rows", "pairs", "not selected (weight)", "unusable rows"]]
    for name, split in splits.items():
        left_out = sum(count for key, count in split["skipped"].items() if key.endswith(f":{NOT_SELECTED}"))
        rows.append(
            [
                f"`{name}`",
                f"{split['input_rows']:,}",
                f"{split['pairs']:,}",
                f"{left_out:,}",
                f"{sum(split['skipped'].values()) - left_out:,}",
            ]
        )
    return cards.markdown_table(rows, numeric=4)


def config_yaml(config: MixConfig, mix_stats: dict[str, Any]) -> str:
    """The mixture config as YAML a reader can save and run, with sources as recorded (public paths).

    Shares are written in the spelling the config used: `fraction` / `rows` (`eval_fraction` / `eval_rows`), or,
    for a config that still used the deprecated `weight` / `eval_weight` anywhere, those (so that its card is
    byte for byte what it was).
    """
    deprecated = any(entry.deprecated_spelling for entry in config.sources)
    raw: dict[str, Any] = {"name": config.name}
    if config.pretty_name:
        raw["pretty_name"] = config.pretty_name
    raw.update({"seed": mix_stats["seed"], "format": mix_stats["format"]})
    if mix_stats["system_prompt"]:
        raw["system_prompt"] = mix_stats["system_prompt"]
    raw["sources"] = []
    for entry, facts in zip(config.sources, mix_stats["sources"]):
        item = {"name": entry.name, "source": facts["source"]}
        if entry.schema is not None:
            item["schema"] = entry.schema
        for prefix, share in (("", entry.share), ("eval_", entry.eval_share)):
            if share is None:
                continue
            key = "weight" if deprecated else "rows" if isinstance(share, int) else "fraction"
            item[f"{prefix}{key}"] = share
        raw["sources"].append(item)
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=1000).rstrip("\n")


def rebuild_instructions(mix_stats: dict[str, Any]) -> tuple[str, str]:
    """The command that rebuilds the mixture and one sentence saying how it was made.

    `prefbuild mix --config` records its own command line. The demo mixes in code, so its command is the demo
    itself. A mixture made from Python has no recorded command: it gets the `prefbuild mix` line that rebuilds
    it from the config the card shows, saved as `mix.yaml`.
    """
    command = mix_stats["command"]
    config = mix_stats["mix"]["config"]
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
    mix_stats: dict[str, Any],
    tables: dict[str, pa.Table],
    loaded: list[LoadedSource],
    *,
    plot: bool,
) -> dict[str, Any]:
    """What data_cards/mix.md may use: stats, composition / counts / reasons / edit-distance tables, examples."""
    composition = [["source", "schema", "licence", "weight", "train pairs", "eval pairs", "char mean"]]
    distances = [["source", "split", "level", "mean", "median", "p10", "p90"]]
    reasons = [["source", "split", "reason", "count"]]
    for facts in mix_stats["sources"]:
        splits = facts["splits"]
        mean = (
            splits.get("train", next(iter(splits.values()), {})).get("edit_distance", {}).get("char", {}).get("mean")
        )
        composition.append(
            [
                f"`{facts['name']}`",
                f"`{facts['hub_id'] or facts['source']}`"
                + ("" if facts["schema"] != PREFBUILD_SCHEMA else " (prefbuild build)"),
                facts["license"] or "see source",
                _share_text(facts["weight"]),
                _taken(splits, "train"),
                _taken(splits, "eval"),
                "–" if mean is None else f"{100 * mean:.1f}%",
            ]
        )
        distances += [[f"`{facts['name']}`", *row] for row in cards.edit_distance_rows(splits)]
        for split, value in splits.items():
            for reason, count in value["skipped"].items():
                reasons.append([f"`{facts['name']}`", f"`{split}`", f"`{reason}`", f"{count:,}"])
            if value.get("not_selected"):
                reasons.append([f"`{facts['name']}`", f"`{split}`", f"`{NOT_SELECTED}`", f"{value['not_selected']:,}"])
    command, rebuild_note = rebuild_instructions(mix_stats)
    return {
        "config": config,
        "stats": mix_stats,
        "command": command,
        "rebuild_note": rebuild_note,
        "config_yaml": config_yaml(config, mix_stats),
        "plot": plot,
        "composition_table": cards.markdown_table(composition, numeric=3),
        "counts_table": mix_counts_table(mix_stats["splits"]),
        "reasons_table": cards.markdown_table(reasons, numeric=1) if len(reasons) > 1 else "",
        "edit_distance_table": cards.edit_distance_table(mix_stats["splits"]),
        "source_edit_distance_table": cards.markdown_table(distances, numeric=4),
        "examples": cards.example_pairs(tables),
        "citations": [source.citation for source in loaded if source.citation],
        "smaug_citation": cards.SMAUG_CITATION,
        "pairs": sum(split["pairs"] for split in mix_stats["splits"].values()),
        "share_alike": any(f["license"] == "cc-by-sa-4.0" for f in mix_stats["sources"]),
    }
