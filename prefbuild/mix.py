"""Dataset mixtures: several preference sets sampled by weight into one Hub-ready folder with provenance.

A mixture config (recipes/mix/<name>.yaml) lists sources. Each is one of:

- a folder written by `prefbuild build` (its `train` and `eval` splits);
- a third-party preference set prefbuild can normalise to prompt / chosen / rejected (`NORMALISERS`), by Hub id
  or as a local copy in the same schema (`schema: <Hub id>`);
- any dataset that already has prompt / chosen / rejected columns, e.g. a prefbuild set pushed to the Hub
  (`schema: pairs`).

Splits: a mixture has `train` and `eval`. `train` draws from each source's training split (`train`,
UltraFeedback's `train_prefs`), `eval` from its evaluation split (`eval`, UltraFeedback's `test_prefs`); sources
without one (ORCA, Truthy) add no eval rows. `weight` picks the train rows: a float in (0, 1] is a fraction of
them, an int >= 1 a row count. `eval_weight` does the same for eval and defaults to the train rate (a fraction,
or count / train rows). Picks are seeded per (seed, source, split); the mixed split is then shuffled with the seed.
"""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from prefbuild import __version__, cards, safe_yaml, stats
from prefbuild.decontaminate import DecontaminationRequest, insert_card_section
from prefbuild.errors import PrefbuildError
from prefbuild.formats import FORMATS, MESSAGE, check_format
from prefbuild.output import read_output_folder, refuse_existing, write_output_folder
from prefbuild.seeding import row_seed

MIX_SPLITS = ("train", "eval")
PAIRS_SCHEMA = "pairs"  # any dataset with prompt / chosen / rejected columns
PREFBUILD_SCHEMA = "prefbuild"  # a folder written by `prefbuild build` (detected by its stats.json)
NOT_SELECTED = "not_selected"  # a usable row the entry's weight left out of the mixture
Normalised = dict[str, str | None]  # system, prompt, chosen, rejected


@dataclass(frozen=True)
class Normaliser:
    """How a third-party preference set becomes prompt / chosen / rejected.

    hub_id: the dataset's Hub id (also the `schema:` name for a local copy).  license: its licence (SPDX-ish Hub id).
    split_map: source split -> mixture split.  required_fields: fields every row must have.
    normalise(row) -> {"system", "prompt", "chosen", "rejected"} or a skip reason (str).  citation: BibTeX or "".
    """

    hub_id: str
    license: str
    split_map: dict[str, str]
    required_fields: tuple[str, ...]
    normalise: Callable[[dict[str, Any]], Normalised | str]
    citation: str = ""


def _text_pair(system: Any, prompt: Any, chosen: Any, rejected: Any) -> Normalised | str:
    """Check the four strings a normaliser extracted; a skip reason names the first problem."""
    for name, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
            return f"empty_{name}"
    if chosen.strip() == rejected.strip():
        return "chosen_equals_rejected"
    system = system.strip() if isinstance(system, str) and system.strip() else None
    return {"system": system, "prompt": prompt, "chosen": chosen, "rejected": rejected}


def normalise_orca(row: dict[str, Any]) -> Normalised | str:
    """Intel/orca_dpo_pairs: `system`, `question`, `chosen` (GPT-4), `rejected` (Llama-2-13b-chat)."""
    return _text_pair(row.get("system"), row.get("question"), row.get("chosen"), row.get("rejected"))


def normalise_truthy(row: dict[str, Any]) -> Normalised | str:
    """jondurbin/truthy-dpo-v0.1: `system`, `prompt`, `chosen`, `rejected` strings."""
    return _text_pair(row.get("system"), row.get("prompt"), row.get("chosen"), row.get("rejected"))


def _last_assistant(messages: Any, prompt: str) -> str | None:
    """The reply of a single-turn [user, assistant] conversation whose user turn is `prompt`; None otherwise."""
    if not isinstance(messages, list) or len(messages) != 2:
        return None
    user, assistant = messages
    if not isinstance(user, dict) or not isinstance(assistant, dict):
        return None
    if user.get("role") != "user" or assistant.get("role") != "assistant" or user.get("content") != prompt:
        return None
    return assistant.get("content")


def normalise_ultrafeedback(row: dict[str, Any]) -> Normalised | str:
    """HuggingFaceH4/ultrafeedback_binarized: `prompt` and `chosen` / `rejected` message lists [user, assistant]."""
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "empty_prompt"
    chosen = _last_assistant(row.get("chosen"), prompt)
    rejected = _last_assistant(row.get("rejected"), prompt)
    if chosen is None or rejected is None:
        return "not_single_turn"  # we keep the prompt a string; multi-turn rows would lose context
    return _text_pair(None, prompt, chosen, rejected)


NORMALISERS: dict[str, Normaliser] = {
    "Intel/orca_dpo_pairs": Normaliser(
        hub_id="Intel/orca_dpo_pairs",
        license="apache-2.0",
        split_map={"train": "train"},
        required_fields=("system", "question", "chosen", "rejected"),
        normalise=normalise_orca,
    ),
    "jondurbin/truthy-dpo-v0.1": Normaliser(
        hub_id="jondurbin/truthy-dpo-v0.1",
        license="cc-by-4.0",
        split_map={"train": "train"},
        required_fields=("system", "prompt", "chosen", "rejected"),
        normalise=normalise_truthy,
    ),
    "HuggingFaceH4/ultrafeedback_binarized": Normaliser(
        hub_id="HuggingFaceH4/ultrafeedback_binarized",
        license="mit",
        split_map={"train_prefs": "train", "test_prefs": "eval"},
        required_fields=("prompt", "chosen", "rejected"),
        normalise=normalise_ultrafeedback,
        citation="""@misc{cui2023ultrafeedback,
  title         = {UltraFeedback: Boosting Language Models with High-quality Feedback},
  author        = {Cui, Ganqu and Yuan, Lifan and Ding, Ning and Yao, Guanming and Zhu, Wei and Ni, Yuan
                   and Xie, Guotong and Liu, Zhiyuan and Sun, Maosong},
  year          = {2023},
  eprint        = {2310.01377},
  archivePrefix = {arXiv}
}""",
    ),
}


@dataclass
class MixEntry:
    """One source of a mixture.

    name: provenance label, written to the `source` column (unique within the mixture).
    source: a folder written by `prefbuild build`, a Hub id, or a local copy of a third-party set.
    schema: how to read it: a Hub id from `NORMALISERS`, `pairs`, or `prefbuild`; inferred when omitted.
    weight: train rows: a float in (0, 1] is a fraction, an int >= 1 a row count (1.0 = all rows, 1 = one row).
    eval_weight: eval rows, same rules; defaults to the rate `weight` gives on train.
    """

    name: str
    source: str
    schema: str | None = None
    weight: float | int = 1.0
    eval_weight: float | int | None = None


@dataclass
class MixConfig:
    """A mixture recipe (recipes/mix/<name>.yaml).

    name: the mixture's name.  pretty_name: the card's title (default: "<name> preference mixture").
    seed: seeds sampling and shuffling (default 0).  format: `standard` or `conversational` (default standard).
    system_prompt: system message for conversational rows that carry none of their own.
    sources: the entries, in the order the card lists them.
    """

    name: str
    sources: list[MixEntry]
    pretty_name: str | None = None
    seed: int = 0
    format: str = "standard"
    system_prompt: str | None = None


CONFIG_KEYS = {"name", "pretty_name", "seed", "format", "system_prompt", "sources"}
ENTRY_KEYS = {"name", "source", "schema", "weight", "eval_weight"}


def _entry_label(index: int, raw: dict[str, Any]) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"Mixture entry {index + 1}" + (f" ('{name}')" if name else "")


def check_weight(label: str, key: str, value: Any) -> float | int:
    """A fraction in (0, 1] (float) or a row count >= 1 (int); anything else names the entry and the fix."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PrefbuildError(f"{label}: `{key}` must be a fraction in (0, 1] or a row count >= 1, got {value!r}.")
    if isinstance(value, int):
        if value < 1:
            raise PrefbuildError(f"{label}: `{key}` {value} must be >= 1 as a row count, or a fraction in (0, 1].")
        return value
    if not 0 < value <= 1:
        raise PrefbuildError(
            f"{label}: `{key}` {value} is not a fraction in (0, 1]. Use 1.0 for every row, or an integer row count."
        )
    return value


def parse_config(raw: Any, where: str = "mixture config") -> MixConfig:
    """Validate a loaded YAML mapping into a MixConfig; every error names the entry and the key."""
    if not isinstance(raw, dict):
        raise PrefbuildError(f"{where} must be a YAML mapping with `name` and `sources`.")
    unknown = sorted(set(raw) - CONFIG_KEYS)
    if unknown:
        raise PrefbuildError(
            f"{where}: unknown key(s) {', '.join(unknown)}. Allowed: {', '.join(sorted(CONFIG_KEYS))}."
        )
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise PrefbuildError(f"{where}: `name` (the mixture's name) is missing.")
    fmt = raw.get("format", "standard")
    if fmt not in FORMATS:
        raise PrefbuildError(f"{where}: unknown `format` '{fmt}'. Available: {', '.join(FORMATS)}.")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PrefbuildError(f"{where}: `seed` must be an integer >= 0, got {seed!r}.")
    sources = raw.get("sources")
    if not isinstance(sources, list) or not sources:
        raise PrefbuildError(f"{where}: `sources` must be a non-empty list of entries with `name` and `source`.")
    entries, names = [], set()
    for index, item in enumerate(sources):
        label = _entry_label(index, item)
        if not isinstance(item, dict):
            raise PrefbuildError(f"{label}: expected a mapping with `name`, `source` and `weight`, got {item!r}.")
        unknown = sorted(set(item) - ENTRY_KEYS)
        if unknown:
            raise PrefbuildError(
                f"{label}: unknown key(s) {', '.join(unknown)}. Allowed: {', '.join(sorted(ENTRY_KEYS))}."
            )
        for key in ("name", "source"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise PrefbuildError(f"{label}: `{key}` is missing.")
        if item["name"] in names:
            raise PrefbuildError(f"{label}: the name '{item['name']}' is used twice; names label the `source` column.")
        names.add(item["name"])
        schema = item.get("schema")
        known = [*NORMALISERS, PAIRS_SCHEMA, PREFBUILD_SCHEMA]
        if schema is not None and schema not in known:
            close = difflib.get_close_matches(str(schema), known, n=1, cutoff=0.5)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise PrefbuildError(f"{label}: unknown `schema` '{schema}'.{hint} Available: {', '.join(known)}.")
        weight = check_weight(label, "weight", item.get("weight", 1.0))
        eval_weight = item.get("eval_weight")
        if eval_weight is not None:
            eval_weight = check_weight(label, "eval_weight", eval_weight)
        entries.append(MixEntry(item["name"], item["source"], schema, weight, eval_weight))
    system_prompt = raw.get("system_prompt")
    if system_prompt and fmt != "conversational":
        raise PrefbuildError(f"{where}: `system_prompt` applies only to format conversational (format is {fmt}).")
    return MixConfig(raw["name"], entries, raw.get("pretty_name"), seed, fmt, system_prompt)


def load_config(path: str | Path) -> MixConfig:
    path = Path(path)
    if not path.is_file():
        raise PrefbuildError(f"Mixture config '{path}' does not exist. Mixture recipes live under recipes/mix/.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PrefbuildError(
            f"Mixture config '{path}' is not UTF-8 text (byte {error.object[error.start]:#04x} at position "
            f"{error.start}); save it as UTF-8."
        ) from None
    raw = safe_yaml.load(text, where=f"Mixture config '{path}'")
    return parse_config(raw, where=f"Mixture config '{path}'")


# ---- loading one source ---------------------------------------------------------------------------------------


@dataclass
class LoadedSource:
    """A source's rows per mixture split, already in the mixture's target format.

    rows: table of prompt / chosen / rejected per split.  available: source rows read per split.
    skipped: reason -> count per split (rows the normaliser could not use).  license / hub_id / citation: card facts.
    """

    entry: MixEntry
    schema: str
    rows: dict[str, pa.Table]
    available: dict[str, int]
    skipped: dict[str, dict[str, int]]
    license: str | None
    hub_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    citation: str = ""


def _read_local_rows(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Rows of a local copy: `<split>.jsonl` / `<split>.json` / `<split>.parquet`, or Hub-style
    `data/<split>-XXXXX-of-YYYYY.parquet`. The split is the file name up to the first `-` or `.`."""
    files = sorted([*folder.glob("*.jsonl"), *folder.glob("*.json"), *folder.glob("*.parquet")])
    files += sorted((folder / "data").glob("*.parquet")) if (folder / "data").is_dir() else []
    splits: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        split = path.name.split("-")[0].split(".")[0]
        try:
            if path.suffix == ".parquet":
                rows = pq.read_table(path).to_pylist()
            elif path.suffix == ".jsonl":
                rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            else:
                rows = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            raise PrefbuildError(
                f"Cannot read '{path}': not UTF-8 text (byte {error.object[error.start]:#04x} at byte offset "
                f"{error.start}); save the file as UTF-8."
            ) from None
        except (json.JSONDecodeError, pa.ArrowInvalid, OSError) as error:
            raise PrefbuildError(f"Cannot read '{path}': {error}") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise PrefbuildError(f"Cannot read '{path}': expected one JSON object per row.")
        splits.setdefault(split, []).extend(rows)
    return splits


def _read_hub_rows(hub_id: str, splits: list[str]) -> dict[str, list[dict[str, Any]]]:
    from prefbuild.sources import load_source

    dataset = load_source(hub_id)
    return {split: dataset[split].to_list() for split in splits if split in dataset}


def _infer_schema(entry: MixEntry, label: str) -> str:
    path = Path(entry.source).expanduser()
    if entry.schema is not None:
        return entry.schema
    if (path / "stats.json").is_file():
        return PREFBUILD_SCHEMA
    if entry.source in NORMALISERS:
        return entry.source
    if path.exists():
        raise PrefbuildError(
            f"{label}: '{entry.source}' is not a folder written by `prefbuild build` (no stats.json). For a local "
            f"copy of a third-party set, add `schema:` with its Hub id ({', '.join(NORMALISERS)}) or `pairs`."
        )
    from prefbuild.builders import BUILDERS

    builder = entry.name if entry.name in BUILDERS else path.name if path.name in BUILDERS else None
    if builder is not None:
        raise PrefbuildError(
            f"{label}: folder '{entry.source}' does not exist. Build it first: "
            f"`prefbuild build {builder} --out {entry.source}`."
        )
    close = difflib.get_close_matches(entry.source, list(NORMALISERS), n=1, cutoff=0.6)
    hint = f" Did you mean: {close[0]}?" if close else ""
    raise PrefbuildError(
        f"{label}: unknown source '{entry.source}': no such folder, and not a third-party set prefbuild can "
        f"normalise.{hint} Known: {', '.join(NORMALISERS)}. Build folders first with `prefbuild build`, or add "
        "`schema: pairs` for a Hub dataset that already has prompt / chosen / rejected columns."
    )


def _string_table(pairs: list[Normalised]) -> pa.Table:
    return pa.table(
        {
            "system": pa.array([p["system"] for p in pairs], pa.string()),
            "prompt": pa.array([p["prompt"] for p in pairs], pa.string()),
            "chosen": pa.array([p["chosen"] for p in pairs], pa.string()),
            "rejected": pa.array([p["rejected"] for p in pairs], pa.string()),
        }
    )


def _to_format(table: pa.Table, fmt: str, system_prompt: str | None) -> pa.Table:
    """system / prompt / chosen / rejected strings → the target format's prompt / chosen / rejected.

    standard: a row's own system message (ORCA, Truthy) is kept as the prompt's first paragraph.
    conversational: [system?, user] / [assistant] / [assistant]; a row without a system message gets
    `system_prompt`.
    """
    systems = table.column("system").to_pylist()
    prompts = table.column("prompt").to_pylist()
    if fmt == "standard":
        joined = [prompt if not system else f"{system}\n\n{prompt}" for system, prompt in zip(systems, prompts)]
        return pa.table(
            {
                "prompt": pa.array(joined, pa.string()),
                "chosen": table.column("chosen"),
                "rejected": table.column("rejected"),
            }
        )
    messages = pa.list_(MESSAGE)
    prompt_messages = []
    for system, prompt in zip(systems, prompts):
        system = system or system_prompt
        prompt_messages.append(
            ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        )

    def assistant(column: str) -> pa.Array:
        return pa.array(
            [[{"role": "assistant", "content": text}] for text in table.column(column).to_pylist()], messages
        )

    return pa.table(
        {
            "prompt": pa.array(prompt_messages, messages),
            "chosen": assistant("chosen"),
            "rejected": assistant("rejected"),
        }
    )


def _load_prefbuild(entry: MixEntry, label: str, fmt: str, system_prompt: str | None) -> LoadedSource:
    tables, recorded = read_output_folder(Path(entry.source).expanduser())
    folder_format = recorded.get("format", "standard")
    if folder_format != fmt and folder_format == "conversational":
        raise PrefbuildError(
            f"{label}: '{entry.source}' was built with --format conversational but the mixture is {fmt}. Rebuild it "
            "with --format standard, or mix with --format conversational."
        )
    rows, available = {}, {}
    for split in MIX_SPLITS:
        if split not in tables:
            continue
        table = tables[split].select(["prompt", "chosen", "rejected"])
        if folder_format == "standard":
            table = table.add_column(0, "system", pa.nulls(table.num_rows, pa.string()))
            table = _to_format(table, fmt, system_prompt)
        rows[split] = table
        available[split] = table.num_rows
    builder = recorded.get("builder", {}).get("name")
    license_id, hub_id = None, recorded.get("source", {}).get("id")
    if builder:
        from prefbuild.builders import BUILDERS

        if builder in BUILDERS:
            license_id = BUILDERS[builder].license
            if hub_id and cards.is_local_source(recorded["source"]):
                hub_id = BUILDERS[builder].default_source
    details = {
        "builder": recorded.get("builder"),
        "seed": recorded.get("seed"),
        "command": cards.public_command(recorded.get("command")),
    }
    skipped = {split: {} for split in rows}
    return LoadedSource(entry, PREFBUILD_SCHEMA, rows, available, skipped, license_id, hub_id, details)


def _load_pairs(entry: MixEntry, label: str, fmt: str, system_prompt: str | None) -> LoadedSource:
    path = Path(entry.source).expanduser()
    raw = _read_local_rows(path) if path.is_dir() else _read_hub_rows(entry.source, ["train", "eval", "test"])
    rows, available, skipped = {}, {}, {}
    for split, target in (("train", "train"), ("eval", "eval"), ("test", "eval")):
        if split not in raw or target in rows:
            continue
        pairs, reasons = [], {}
        for row in raw[split]:
            for column in ("prompt", "chosen", "rejected"):
                if column not in row:
                    raise PrefbuildError(f"{label}: split '{split}' has no column '{column}' (schema pairs needs it).")
            if any(isinstance(row[c], list) for c in ("prompt", "chosen", "rejected")):  # None: counted below
                raise PrefbuildError(f"{label}: schema pairs reads string columns; '{split}' has message lists.")
            outcome = _text_pair(None, row["prompt"], row["chosen"], row["rejected"])
            if isinstance(outcome, str):
                reasons[outcome] = reasons.get(outcome, 0) + 1
            else:
                pairs.append(outcome)
        rows[target] = _to_format(_string_table(pairs), fmt, system_prompt)
        available[target], skipped[target] = len(raw[split]), dict(sorted(reasons.items()))
    hub_id = None if path.exists() else entry.source
    return LoadedSource(entry, PAIRS_SCHEMA, rows, available, skipped, None, hub_id)


def _load_normalised(entry: MixEntry, schema: str, label: str, fmt: str, system_prompt: str | None) -> LoadedSource:
    normaliser = NORMALISERS[schema]
    path = Path(entry.source).expanduser()
    if path.is_dir():
        raw = _read_local_rows(path)
    elif path.exists():
        raise PrefbuildError(f"{label}: '{entry.source}' is a file; a local copy is a folder of <split>.jsonl files.")
    else:
        raw = _read_hub_rows(entry.source, list(normaliser.split_map))
    if not any(split in raw for split in normaliser.split_map):
        raise PrefbuildError(
            f"{label}: '{entry.source}' has none of the splits {schema} uses ({', '.join(normaliser.split_map)}); "
            f"found: {', '.join(raw) or 'none'}."
        )
    rows, available, skipped = {}, {}, {}
    for split, target in normaliser.split_map.items():
        if split not in raw:
            continue
        pairs, reasons = [], {}
        for number, row in enumerate(raw[split]):
            missing = [name for name in normaliser.required_fields if name not in row]
            if missing:
                raise PrefbuildError(
                    f"{label}: row {number} of split '{split}' has no field {', '.join(missing)}; is '{entry.source}' "
                    f"in the schema of {schema} (fields: {', '.join(normaliser.required_fields)})?"
                )
            outcome = normaliser.normalise(row)
            if isinstance(outcome, str):
                reasons[outcome] = reasons.get(outcome, 0) + 1
            else:
                pairs.append(outcome)
        rows[target] = _to_format(_string_table(pairs), fmt, system_prompt)
        available[target], skipped[target] = len(raw[split]), dict(sorted(reasons.items()))
    return LoadedSource(
        entry, schema, rows, available, skipped, normaliser.license, normaliser.hub_id, citation=normaliser.citation
    )


def load_entry(entry: MixEntry, index: int, fmt: str, system_prompt: str | None) -> LoadedSource:
    """Read one mixture entry into the target format, with its counts and skip reasons."""
    label = _entry_label(index, {"name": entry.name})
    schema = _infer_schema(entry, label)
    try:
        if schema == PREFBUILD_SCHEMA:
            return _load_prefbuild(entry, label, fmt, system_prompt)
        if schema == PAIRS_SCHEMA:
            return _load_pairs(entry, label, fmt, system_prompt)
        return _load_normalised(entry, schema, label, fmt, system_prompt)
    except PrefbuildError as error:
        message = str(error)
        raise PrefbuildError(message if message.startswith(label) else f"{label}: {message}") from None


# ---- sampling and writing -------------------------------------------------------------------------------------


def rows_to_take(label: str, split: str, key: str, weight: float | int, available: int) -> int:
    """How many rows a weight takes from `available`: round(fraction × n) (at least 1 when n > 0), or the count."""
    if isinstance(weight, int):
        if weight > available:
            raise PrefbuildError(
                f"{label}: `{key}` asks for {weight:,} {split} rows but the source has {available:,} usable ones."
            )
        return weight
    return min(available, max(1, round(weight * available))) if available else 0


def sample_indices(seed: int, name: str, split: str, available: int, count: int) -> list[int]:
    """`count` distinct row indices out of `available`, seeded by (seed, source name, split), in source order."""
    rng = random.Random(row_seed(seed, name, f"mix:{split}"))
    return sorted(rng.sample(range(available), count))


@dataclass
class MixReport:
    out: Path
    stats: dict[str, Any]


def _source_facts(loaded: LoadedSource) -> dict[str, Any]:
    facts = {
        "name": loaded.entry.name,
        "source": cards.public_path(loaded.entry.source),
        "schema": loaded.schema,
        "hub_id": loaded.hub_id,
        "license": loaded.license,
        "weight": loaded.entry.weight,
        "eval_weight": loaded.entry.eval_weight,
    }
    facts.update({key: value for key, value in loaded.details.items() if value is not None})
    return facts


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
) -> MixReport:
    """Sample every entry of `config` by weight, shuffle with the seed, and write a Hub-ready folder `out`.

    `fmt`, `system_prompt` and `seed` override the config's. Columns: prompt, chosen, rejected, source (the entry
    name), edit_distance_char, edit_distance_word. stats.json holds per-source counts and edit distances.
    """
    out = Path(out)
    refuse_existing(out, overwrite, inputs=[config_path, *(entry.source for entry in config.sources)])
    fmt = fmt or config.format
    check_format(fmt)
    system_prompt = system_prompt if system_prompt is not None else config.system_prompt
    if system_prompt and fmt != "conversational":
        raise PrefbuildError("--system-prompt applies only to --format conversational.")
    seed = config.seed if seed is None else seed
    if seed < 0:
        raise PrefbuildError(f"--seed must be >= 0, got {seed}.")

    loaded = [load_entry(entry, index, fmt, system_prompt) for index, entry in enumerate(config.sources)]
    parts: dict[str, list[pa.Table]] = {split: [] for split in MIX_SPLITS}
    sources_stats = []
    for index, source in enumerate(loaded):
        label = _entry_label(index, {"name": source.entry.name})
        facts, split_facts = _source_facts(source), {}
        train_rate = None
        for split in MIX_SPLITS:
            if split not in source.rows:
                continue
            table = source.rows[split]
            usable = table.num_rows
            if split == "train" or source.entry.eval_weight is not None:
                key = "weight" if split == "train" else "eval_weight"
                weight = source.entry.weight if split == "train" else source.entry.eval_weight
                count = rows_to_take(label, split, key, weight, usable)
            else:
                rate = train_rate  # eval defaults to the rate the weight gave on train
                if rate is None:  # no train split: a fraction applies as is, a count means every eval row
                    rate = source.entry.weight if isinstance(source.entry.weight, float) else 1.0
                count = min(usable, max(1, round(rate * usable))) if usable else 0
            if split == "train":
                train_rate = count / usable if usable else 1.0
            picked = table.take(pa.array(sample_indices(seed, source.entry.name, split, usable, count), pa.int64()))
            picked = picked.append_column("source", pa.array([source.entry.name] * picked.num_rows, pa.string()))
            # Distances are computed once here and travel with the rows into the shuffled mixture
            chosen = [stats.completion_text(value) for value in picked.column("chosen").to_pylist()]
            rejected = [stats.completion_text(value) for value in picked.column("rejected").to_pylist()]
            char = stats.normalised_levenshtein(chosen, rejected)
            word = stats.word_levenshtein(chosen, rejected)
            picked = picked.append_column("edit_distance_char", pa.array(char, pa.float64()))
            picked = picked.append_column("edit_distance_word", pa.array(word, pa.float64()))
            parts[split].append(picked)
            # source_rows = selected + not_selected + sum(skipped): usable rows the weight left out are counted
            split_facts[split] = {
                "source_rows": source.available[split],
                "usable_pairs": usable,
                "skipped": source.skipped.get(split, {}),
                "selected": picked.num_rows,
                "not_selected": usable - picked.num_rows,
                "edit_distance": {
                    "char": stats.summarise(char),
                    "word": stats.summarise(word),
                },
            }
        facts["splits"] = split_facts
        sources_stats.append(facts)

    tables, split_stats = {}, {}
    for split, pieces in parts.items():
        if not pieces:
            continue
        table = pa.concat_tables(pieces)
        order = list(range(table.num_rows))
        random.Random(row_seed(seed, config.name, f"shuffle:{split}")).shuffle(order)
        table = table.take(pa.array(order, pa.int64()))
        char = table.column("edit_distance_char").to_numpy()
        word = table.column("edit_distance_word").to_numpy()
        tables[split] = table
        # input_rows = pairs + sum(skipped), as for a build: every source row read is either in the mixture,
        # left out by its entry's weight (`<name>:not_selected`) or unusable (`<name>:<normaliser's reason>`)
        skipped = {}
        for facts in sources_stats:
            split_facts = facts["splits"].get(split, {})
            for reason, count in split_facts.get("skipped", {}).items():
                skipped[f"{facts['name']}:{reason}"] = count
            if split_facts.get("not_selected"):
                skipped[f"{facts['name']}:{NOT_SELECTED}"] = split_facts["not_selected"]
        split_stats[split] = {
            "input_rows": sum(facts["splits"].get(split, {}).get("source_rows", 0) for facts in sources_stats),
            "pairs": table.num_rows,
            "skipped": skipped,
            "dropped_pairs": {},
            "edit_distance": {"char": stats.summarise(char), "word": stats.summarise(word)},
            "sources": {f["name"]: f["splits"][split]["selected"] for f in sources_stats if split in f["splits"]},
        }
    if not tables:
        raise PrefbuildError("The mixture has no rows: no entry has a train or eval split.")
    decontamination = None
    if decontaminate is not None:  # overlap with benchmark test sets; --decontaminate-drop removes those pairs
        tables, decontamination = decontaminate.apply(tables, split_stats)

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
    return MixReport(out=out, stats=mix_stats)


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


def _weight_text(weight: float | int | None) -> str:
    if weight is None:
        return "same rate as train"
    if isinstance(weight, int):
        return f"{weight:,} rows"
    return "all rows" if weight == 1 else f"{100 * weight:g}% of the rows"


def _taken(splits: dict[str, Any], split: str) -> str:
    if split not in splits:
        return "–"
    return f"{splits[split]['selected']:,} of {splits[split]['usable_pairs']:,}"


def mix_counts_table(splits: dict[str, dict[str, Any]]) -> str:
    """Per split: source rows = pairs + rows the weights left out + rows no normaliser could use."""
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
    """The mixture config as YAML a reader can save and run, with sources as recorded (public paths)."""
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
        item["weight"] = entry.weight
        if entry.eval_weight is not None:
            item["eval_weight"] = entry.eval_weight
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
    rows = [["source", "schema", "licence", "weight", "train pairs", "eval pairs", "char mean"]]
    for facts in mix_stats["sources"]:
        splits = facts["splits"]

        char_mean = splits.get("train", next(iter(splits.values()), {})).get("edit_distance", {}).get("char", {})
        mean = char_mean.get("mean")
        rows.append(
            [
                f"`{facts['name']}`",
                f"`{facts['hub_id'] or facts['source']}`"
                + ("" if facts["schema"] != PREFBUILD_SCHEMA else " (prefbuild build)"),
                facts["license"] or "see source",
                _weight_text(facts["weight"]),
                _taken(splits, "train"),
                _taken(splits, "eval"),
                "–" if mean is None else f"{100 * mean:.1f}%",
            ]
        )
    composition = cards.markdown_table(rows, numeric=3)
    per_source = {}
    for facts in mix_stats["sources"]:
        per_source[facts["name"]] = {
            split: {
                "input_rows": value["source_rows"],
                "pairs": value["selected"],
                "skipped": value["skipped"],
                "dropped_pairs": {},
                "edit_distance": value["edit_distance"],
            }
            for split, value in facts["splits"].items()
        }
    distance_rows = [["source", "split", "level", "mean", "median", "p10", "p90"]]
    for name, splits in per_source.items():
        for line in cards.edit_distance_table(splits).splitlines()[2:]:
            distance_rows.append([f"`{name}`", *[cell.strip() for cell in line.strip("|").split("|")]])
    reasons = [["source", "split", "reason", "count"]]
    for facts in mix_stats["sources"]:
        for split, value in facts["splits"].items():
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
        "composition_table": composition,
        "counts_table": mix_counts_table(mix_stats["splits"]),
        "reasons_table": cards.markdown_table(reasons, numeric=1) if len(reasons) > 1 else "",
        "edit_distance_table": cards.edit_distance_table(mix_stats["splits"]),
        "source_edit_distance_table": cards.markdown_table(distance_rows, numeric=4),
        "examples": cards.example_pairs(tables),
        "citations": [source.citation for source in loaded if source.citation],
        "smaug_citation": cards.SMAUG_CITATION,
        "pairs": sum(split["pairs"] for split in mix_stats["splits"].values()),
        "share_alike": any(f["license"] == "cc-by-sa-4.0" for f in mix_stats["sources"]),
    }
