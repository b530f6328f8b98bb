"""Dataset cards: YAML metadata built in code (huggingface_hub's DatasetCardData) plus a body rendered from
`data_cards/<name>.md` with Jinja2. A template that uses a field the build does not provide fails the build
(StrictUndefined), never the upload.

Every builder card receives the context `build_card_context` returns; `data_cards/_pairs.md` holds the sections
all builder cards share (statistics, edit distances, examples, rebuild command) and is included by each of them.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
from huggingface_hub import DatasetCard, DatasetCardData

from prefbuild.errors import PrefbuildError

# The paper every card cites: the pairs exist to train with DPOP.
SMAUG_CITATION = """@article{pal2024smaug,
  title   = {Smaug: Fixing Failure Modes of Preference Optimisation with DPO-Positive},
  author  = {Pal, Arka and Karkhanis, Deep and Dooley, Samuel and Roberts, Manley and Naidu, Siddartha
             and White, Colin},
  journal = {arXiv preprint arXiv:2402.13228},
  year    = {2024}
}"""
EXAMPLE_PAIRS = 2  # shown in each card, from the first split
EXAMPLE_CHARS = 600  # longer texts are cut (with a marker) so a card stays readable


def card_directory() -> Path:
    """data_cards/ inside an installed wheel, else the repository's top-level data_cards/ (editable install)."""
    packaged = Path(__file__).parent / "data_cards"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "data_cards"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(card_directory())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # a line holding only a {% tag %} leaves no blank line behind
        lstrip_blocks=True,
        autoescape=False,
    )


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def configs_metadata(shards: dict[str, list[str]]) -> list[dict[str, Any]]:
    """`configs` YAML that makes `load_dataset(DIR)` and the Hub see our split names (`eval`, not `validation`)."""
    return [
        {
            "config_name": "default",
            "data_files": [{"split": split, "path": f"data/{split}-*"} for split in shards],
        }
    ]


def render_card(template: str, metadata: DatasetCardData, context: dict[str, Any]) -> str:
    """README.md text: `---\\n<yaml>\\n---\\n` followed by the rendered template body."""
    try:
        body = _environment().get_template(f"{template}.md").render(**context)
    except jinja2.TemplateNotFound as error:
        raise PrefbuildError(f"No card template data_cards/{error.name} in {card_directory()}.") from None
    except jinja2.UndefinedError as error:
        raise PrefbuildError(
            f"Card template data_cards/{template}.md uses a field the build does not provide: {error.message}."
        ) from None
    return f"---\n{metadata.to_yaml()}\n---\n\n{body.lstrip()}"


def check_card(text: str, where: str = "README.md") -> DatasetCardData:
    """Parse a card's YAML with huggingface_hub and check it survives a DatasetCardData round trip.

    Raises PrefbuildError naming `where` when the YAML block is missing or does not parse.
    """
    if not text.startswith("---\n"):
        raise PrefbuildError(f"{where} has no YAML metadata block (it must start with '---').")
    try:
        data = DatasetCard(text).data
    except Exception as error:  # huggingface_hub raises ValueError / yaml errors for a malformed block
        raise PrefbuildError(f"{where} has invalid YAML metadata: {str(error).splitlines()[0]}") from None
    again = DatasetCardData(**data.to_dict())
    if again.to_dict() != data.to_dict():
        raise PrefbuildError(f"{where}: metadata changes in a DatasetCardData round trip.")
    return data


def markdown_table(rows: list[list[str]], numeric: int = 1) -> str:
    """A GitHub-flavoured Markdown table; the first row is the header, the last `numeric` columns right-aligned."""
    header, *body = rows
    aligns = [" --- "] * (len(header) - numeric) + [" ---: "] * numeric
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def counts_table(splits: dict[str, dict[str, Any]]) -> str:
    """Per split: source rows, pairs, skipped rows, dropped pairs."""
    rows = [["split", "source rows", "pairs", "skipped rows", "dropped pairs"]]
    for name, split in splits.items():
        rows.append(
            [
                f"`{name}`",
                f"{split['input_rows']:,}",
                f"{split['pairs']:,}",
                f"{sum(split.get('skipped', {}).values()):,}",
                f"{sum(split.get('dropped_pairs', {}).values()):,}",
            ]
        )
    return markdown_table(rows, numeric=4)


def reasons_table(splits: dict[str, dict[str, Any]]) -> str:
    """Every skip and drop reason with its count per split; empty string when nothing was skipped."""
    rows = [["split", "what", "reason", "count"]]
    for name, split in splits.items():
        for label, key in (("skipped row", "skipped"), ("dropped pair", "dropped_pairs")):
            for reason, count in sorted((split.get(key) or {}).items()):
                rows.append([f"`{name}`", label, f"`{reason}`", f"{count:,}"])
    return markdown_table(rows) if len(rows) > 1 else ""


def edit_distance_table(splits: dict[str, dict[str, Any]]) -> str:
    """Per split and level (char, word, token when computed): mean, median, p10, p90."""
    rows = [["split", "level", "mean", "median", "p10", "p90"]]
    for name, split in splits.items():
        for level, summary in split["edit_distance"].items():
            cells = [_percent(summary.get(key)) for key in ("mean", "median", "p10", "p90")]
            rows.append([f"`{name}`", level, *cells])
    return markdown_table(rows, numeric=4)


def _text(value: Any) -> str:
    """A cell as text: strings as they are, conversational message lists as `role: content` lines."""
    if isinstance(value, str):
        text = value
    else:
        text = "\n".join(f"{message['role']}: {message['content']}" for message in value)
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " […]"


def example_pairs(tables: dict[str, pa.Table], count: int = EXAMPLE_PAIRS) -> list[dict[str, str]]:
    """The first `count` pairs of the first non-empty split, as text, for the card's Examples section."""
    for split, table in tables.items():
        if table.num_rows:
            rows = table.slice(0, count).select(["prompt", "chosen", "rejected"]).to_pylist()
            return [{"split": split, **{key: _text(value) for key, value in row.items()}} for row in rows]
    return []


def rebuild_command(build_stats: dict[str, Any], default_source: str | None = None) -> str:
    """The recorded command line, or one reconstructed from stats.json when the build ran from Python."""
    if build_stats.get("command"):
        return build_stats["command"]
    argv = ["prefbuild", "build", build_stats["builder"]["name"]]
    source = build_stats["source"]
    if source["id"] != default_source:
        argv += ["--source", source["id"]]
    if source.get("config"):
        argv += ["--source-config", source["config"]]
    argv += ["--seed", str(build_stats["seed"])]
    for flag, key in (("--limit", "limit"), ("--few-shot", "few_shot"), ("--tokenizer", "tokenizer")):
        if build_stats.get(key):
            argv += [flag, str(build_stats[key])]
    if build_stats.get("format", "standard") != "standard":
        argv += ["--format", build_stats["format"]]
    if build_stats.get("system_prompt"):
        argv += ["--system-prompt", build_stats["system_prompt"]]
    for option, value in sorted((build_stats.get("options") or {}).items()):
        flag = "--" + option.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        else:
            argv += [flag, str(value)]
    argv += ["--out", "OUT"]
    return shlex.join(argv)


def build_card_context(
    builder: Any, build_stats: dict[str, Any], tables: dict[str, pa.Table], *, summary: str, plot: bool
) -> dict[str, Any]:
    """Everything a builder card template may use (StrictUndefined: a name not listed here fails the build).

    builder: the Builder (name, version, license, pretty_name, default_source …).
    stats: stats.json as a dict.  summary: the plain-text table `prefbuild build` prints.
    command: the exact command that rebuilds the folder.  plot: whether edit_distance.png is in the folder.
    counts_table / reasons_table / edit_distance_table: Markdown tables ("" for reasons when none).
    examples: [{"split", "prompt", "chosen", "rejected"}] as text.  local_source: the source was a local path.
    smaug_citation: BibTeX of arXiv 2402.13228.  pairs: total pairs over all splits.
    """
    splits = build_stats["splits"]
    return {
        "builder": builder,
        "stats": build_stats,
        "summary": summary,
        "command": rebuild_command(build_stats, builder.default_source),
        "plot": plot,
        "counts_table": counts_table(splits),
        "reasons_table": reasons_table(splits),
        "edit_distance_table": edit_distance_table(splits),
        "examples": example_pairs(tables),
        "local_source": Path(build_stats["source"]["id"]).expanduser().exists(),
        "smaug_citation": SMAUG_CITATION,
        "pairs": sum(split["pairs"] for split in splits.values()),
    }


def dataset_info_metadata(
    folder: Path, shards: dict[str, list[str]], features: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Hub's `dataset_info` block: features, and per split the example count and shard bytes.

    Besides informing the Hub viewer, it makes `datasets.load_dataset(DIR)`'s cache key depend on the content:
    without it, that key is only the folder's name and the card's `configs`, so two folders named `arc` collide.
    """
    import pyarrow.parquet as pq

    splits, total = [], 0
    for split, names in shards.items():
        num_bytes = sum((folder / name).stat().st_size for name in names)
        num_examples = sum(pq.ParquetFile(folder / name).metadata.num_rows for name in names)
        splits.append({"name": split, "num_bytes": num_bytes, "num_examples": num_examples})
        total += num_bytes
    return {"features": features, "splits": splits, "download_size": total, "dataset_size": total}
