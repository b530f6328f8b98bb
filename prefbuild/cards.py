"""Dataset cards: YAML metadata built in code (huggingface_hub's DatasetCardData) plus a body rendered from
`data_cards/<name>.md` with Jinja2. A template that uses a field the build does not provide fails the build
(StrictUndefined), never the upload.

Every builder card receives the context `build_card_context` returns; `data_cards/_pairs.md` holds the sections
all builder cards share (statistics, edit distances, examples, rebuild command) and is included by each of them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
from huggingface_hub import DatasetCard, DatasetCardData

from prefbuild.errors import PrefbuildError
from prefbuild.folder import FolderStats, SourceInfo, SourceSplitStats, SplitStats, coerce_splits

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


def render_section(template: str, heading: str, context: dict[str, Any]) -> str:
    """One `## heading` section of data_cards/<template>.md (up to the next `## ` line), rendered on its own: the
    same text the whole template gives for it when the section uses only `context`."""
    source = (card_directory() / f"{template}.md").read_text(encoding="utf-8")
    start = source.index(f"\n## {heading}\n") + 1
    end = source.find("\n## ", start + 1)
    fragment = source[start : end + 1 if end != -1 else len(source)]
    return _environment().from_string(fragment).render(**context)


def replace_card_section(card: str, section: str, begin: str, end: str) -> str:
    """`card` with the section between the `begin` / `end` markers replaced by `section` (which carries its own
    markers), or, when the card has none, `section` added before "## Examples", else at the end. An empty
    `section` removes an existing one and leaves a card without one as it is."""
    if begin in card and end in card:
        before, rest = card.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        return before + section + ("\n" + after if after else "")
    if not section:
        return card
    if "\n## Examples" in card:
        before, after = card.split("\n## Examples", 1)
        return before.rstrip("\n") + "\n\n" + section + "\n## Examples" + after
    return card.rstrip("\n") + "\n\n" + section


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


def counts_table(splits: Mapping[str, SplitStats | dict[str, Any]]) -> str:
    """Per split: source rows = rows paired + skipped rows, then the pairs those rows made and the pairs dropped.

    `rows paired` is source rows minus skipped rows: the build engine refuses a row that gives neither pairs nor a
    skip reason, or both, so the two add up by construction and the table shows the reader that they do.
    """
    rows = [["split", "source rows", "rows paired", "skipped rows", "pairs", "dropped pairs"]]
    for name, split in coerce_splits(splits).items():
        rows.append(
            [
                f"`{name}`",
                f"{split.input_rows:,}",
                f"{split.paired_rows:,}",
                f"{split.skipped_rows:,}",
                f"{split.pairs:,}",
                f"{sum(split.dropped_pairs.values()):,}",
            ]
        )
    return markdown_table(rows, numeric=5)


def reasons_table(splits: Mapping[str, SplitStats | dict[str, Any]]) -> str:
    """Every skip and drop reason with its count per split; empty string when nothing was skipped."""
    rows = [["split", "what", "reason", "count"]]
    for name, split in coerce_splits(splits).items():
        for label, counts in (("skipped row", split.skipped), ("dropped pair", split.dropped_pairs)):
            for reason, count in sorted(counts.items()):
                rows.append([f"`{name}`", label, f"`{reason}`", f"{count:,}"])
    return markdown_table(rows) if len(rows) > 1 else ""


def edit_distance_rows(splits: Mapping[str, SplitStats | SourceSplitStats | dict[str, Any]]) -> list[list[str]]:
    """The cells of `edit_distance_table`'s body, one row per split and level (the mixture card prefixes a source).

    `splits`: a folder's SplitStats, or a mixture entry's SourceSplitStats (anything with `edit_distance`)."""
    rows = []
    typed = {
        name: split if hasattr(split, "edit_distance") else SplitStats.from_json(split)
        for name, split in splits.items()
    }
    for name, split in typed.items():
        for level, summary in split.edit_distance.items():
            cells = [_percent(value) for value in (summary.mean, summary.median, summary.p10, summary.p90)]
            rows.append([f"`{name}`", level, *cells])
    return rows


def edit_distance_table(splits: Mapping[str, SplitStats | dict[str, Any]]) -> str:
    """Per split and level (char, word, token when computed): mean, median, p10, p90."""
    return markdown_table([["split", "level", "mean", "median", "p10", "p90"], *edit_distance_rows(splits)], numeric=4)


def _text(value: Any) -> str:
    """A cell as text: strings as they are, conversational message lists as `role: content` lines."""
    if isinstance(value, str):
        text = value
    else:
        text = "\n".join(f"{message['role']}: {message['content']}" for message in value)
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " […]"


def code_fence(*texts: str) -> str:
    """A backtick fence longer than any backtick run in `texts`, so that a completion holding a Markdown code block
    (UltraFeedback, ORCA answers) cannot close the card's block early (CommonMark: the closing fence must be at
    least as long as the opening one)."""
    longest = max((len(run) for text in texts for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def example_pairs(tables: dict[str, pa.Table], count: int = EXAMPLE_PAIRS) -> list[dict[str, str]]:
    """The first `count` pairs of the first non-empty split, as text, for the card's Examples section.

    Each pair also carries `fence`: the backtick fence its three code blocks use (`code_fence`).
    """
    for split, table in tables.items():
        if table.num_rows:
            rows = table.slice(0, count).select(["prompt", "chosen", "rejected"]).to_pylist()
            examples = [{"split": split, **{key: _text(value) for key, value in row.items()}} for row in rows]
            return [
                {**pair, "fence": code_fence(pair["prompt"], pair["chosen"], pair["rejected"])} for pair in examples
            ]
    return []


# ---- what may be published: no absolute local paths ----------------------------------------------------------

# Flags whose value is a local path in the commands prefbuild records (build, mix) and prints.
PATH_FLAGS = ("--source", "--out", "--tokenizer", "--config", "--dry-run", "--model", "--data")
HASH_CHUNK = 1 << 20


def public_path(value: str) -> str:
    """A path as stats.json and the card may record it: as the user gave it when relative, else its name.

    An absolute path, a `~` path or one that climbs out of the working directory (`..`) would publish the
    uploader's file layout and would not run anywhere else; its last component is what a reader can act on.
    Hub ids (`allenai/ai2_arc`) are relative paths to this function and come back unchanged.
    """
    path = Path(value)
    if value.startswith("~") or path.is_absolute() or ".." in path.parts:
        return path.name or value
    return value


def _is_path_flag(flag: str) -> bool:
    """A PATH_FLAGS flag, or an abbreviation argparse would expand to one (`--sou` for `--source`)."""
    return len(flag) > 3 and flag.startswith("--") and any(name.startswith(flag) for name in PATH_FLAGS)


def public_argv(argv: Sequence[str]) -> list[str]:
    """A command line with every local path made public (`public_path`): the value after a PATH_FLAGS flag
    (`--out DIR` or `--out=DIR`), and any other argument that is an absolute path that exists here (a system
    prompt such as `/no_think` is not a path and stays)."""
    result, after_flag = [], False
    for arg in argv:
        flag, equals, value = arg.partition("=")
        if after_flag:
            arg = public_path(arg)
        elif equals and _is_path_flag(flag):
            arg = f"{flag}={public_path(value)}"
        elif (arg.startswith(("/", "~")) or os.path.isabs(arg)) and Path(arg).expanduser().exists():
            arg = public_path(arg)
        after_flag = not after_flag and not equals and _is_path_flag(arg)
        result.append(arg)
    return result


def public_command(command: str | None) -> str | None:
    """`public_argv` on a recorded command string; a string that is not a shell command line is kept as is."""
    if not command:
        return command
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    public = public_argv(argv)
    return command if public == argv else shlex.join(public)


def content_hash(path: str | Path) -> str:
    """SHA-256 of a local source: a file's bytes (what `sha256sum FILE` prints); for a folder, each visible file's
    relative path and bytes, in path order.

    It names a local source's content in stats.json and the card without publishing where it lay.
    """
    path = Path(path).expanduser()
    digest = hashlib.sha256()
    # hidden entries (.git, .cache, a .venv) are not data and may be large: a folder's hash skips them
    visible = (p for p in path.rglob("*") if not any(part.startswith(".") for part in p.relative_to(path).parts))
    files = [path] if path.is_file() else sorted(p for p in visible if p.is_file())
    for file in files:
        if file is not path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        if file is not path:
            digest.update(b"\0")
    return digest.hexdigest()


def source_facts(source: str, config: str | None, name: str | None = None) -> dict[str, Any]:
    """stats.json's `source`: a Hub id as is; a local file or folder as a public name plus its content hash.

    id: the Hub id, or the local path as given when relative, else its name (or `name` when given).
    config: the Hub config.  local: "file", "folder" or None (a Hub id).  sha256: the local content's hash.
    """
    path = Path(source).expanduser()
    if not path.exists():
        return {"id": source, "config": config, "local": None, "sha256": None}
    return {
        "id": name or public_path(source),
        "config": config,
        "local": "file" if path.is_file() else "folder",
        "sha256": content_hash(path),
    }


def is_local_source(source: SourceInfo | dict[str, Any]) -> bool:
    """Whether stats.json's `source` was a local path (folders built before `local` was recorded: the path)."""
    if isinstance(source, SourceInfo):
        return source.is_local
    if "local" in source:
        return bool(source["local"])
    return Path(source["id"]).expanduser().exists()


def rebuild_command(build_stats: FolderStats | dict[str, Any], default_source: str | None = None) -> str:
    """The recorded command line, or one reconstructed from stats.json when the build ran from Python.

    Paths are public (`public_path`): a reader can run it where the source lies under the recorded name.
    """
    build_stats = FolderStats.coerce(build_stats)
    if build_stats.command:
        return public_command(build_stats.command)
    argv = ["prefbuild", "build", build_stats.builder_name]
    source = build_stats.source
    if source.id != default_source:
        argv += ["--source", public_path(source.id)]
    if source.config:
        argv += ["--source-config", source.config]
    argv += ["--seed", str(build_stats.seed)]
    for flag, value in (("--limit", build_stats.limit), ("--few-shot", build_stats.few_shot)):
        if value:
            argv += [flag, str(value)]
    if build_stats.tokenizer:
        argv += ["--tokenizer", public_path(str(build_stats.tokenizer))]
    if build_stats.folder_format != "standard":
        argv += ["--format", build_stats.folder_format]
    if build_stats.system_prompt:
        argv += ["--system-prompt", build_stats.system_prompt]
    for option, value in sorted((build_stats.options or {}).items()):
        flag = "--" + option.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        else:
            argv += [flag, str(value)]
    argv += ["--out", "OUT"]
    return shlex.join(argv)


def build_card_context(
    builder: Any, build_stats: FolderStats | dict[str, Any], tables: dict[str, pa.Table], *, summary: str, plot: bool
) -> dict[str, Any]:
    """Everything a builder card template may use (StrictUndefined: a name not listed here fails the build).

    builder: the Builder (name, version, license, pretty_name, default_source …).
    stats: stats.json as a dict (FolderStats.to_json()).  summary: the plain-text table `prefbuild build` prints.
    command: the exact command that rebuilds the folder.  plot: whether edit_distance.png is in the folder.
    counts_table / reasons_table / edit_distance_table: Markdown tables ("" for reasons when none).
    examples: [{"split", "prompt", "chosen", "rejected", "fence"}] as text.  local_source: the source was a local path
    (stats.source.local says "file" or "folder", stats.source.sha256 its content hash).
    smaug_citation: BibTeX of arXiv 2402.13228.  pairs: total pairs over all splits.
    """
    build_stats = FolderStats.coerce(build_stats)
    splits = build_stats.splits
    return {
        "builder": builder,
        "stats": build_stats.to_json(),  # templates test keys (`split.tiers is defined`): the file's own shape
        "summary": summary,
        "command": rebuild_command(build_stats, builder.default_source),
        "plot": plot,
        "counts_table": counts_table(splits),
        "reasons_table": reasons_table(splits),
        "edit_distance_table": edit_distance_table(splits),
        "examples": example_pairs(tables),
        "local_source": build_stats.source.is_local,
        "smaug_citation": SMAUG_CITATION,
        "pairs": build_stats.pairs,
    }


def arrow_bytes(path: str | Path) -> int:
    """In-memory Arrow bytes of a parquet shard, as `datasets` counts them when it prepares the split: it reads
    one row group per batch and adds up each batch's `nbytes`. Read one row group at a time (10,000 rows)."""
    import pyarrow.parquet as pq

    shard = pq.ParquetFile(path)
    return sum(shard.read_row_group(index).nbytes for index in range(shard.num_row_groups))


def dataset_info_metadata(
    folder: Path, shards: dict[str, list[str]], features: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Hub's `dataset_info` block, with each size field in the Hub's (and `datasets`') meaning:

    - per split `num_bytes`: the split's in-memory Arrow bytes (`arrow_bytes`), `num_examples` its rows;
    - `dataset_size`: the sum of the splits' Arrow bytes (what the set takes in memory or in the Arrow cache);
    - `download_size`: the parquet files' bytes (what a reader downloads).

    Besides informing the Hub viewer, it makes `datasets.load_dataset(DIR)`'s cache key depend on the content:
    without it, that key is only the folder's name and the card's `configs`, so two folders named `arc` collide.
    """
    import pyarrow.parquet as pq

    splits, arrow_total, parquet_total = [], 0, 0
    for split, names in shards.items():
        num_bytes = sum(arrow_bytes(folder / name) for name in names)
        num_examples = sum(pq.ParquetFile(folder / name).metadata.num_rows for name in names)
        splits.append({"name": split, "num_bytes": num_bytes, "num_examples": num_examples})
        arrow_total += num_bytes
        parquet_total += sum((folder / name).stat().st_size for name in names)
    return {"features": features, "splits": splits, "download_size": parquet_total, "dataset_size": arrow_total}
