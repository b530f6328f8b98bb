"""The build engine: source rows → builder (pure per-row function) → pairs → statistics → output folder.

Each row's outcome travels through `datasets.map(batched=True)` as rows of one table: the pairs themselves,
plus one status row per skipped source row and per dropped pair. Counting those status rows afterwards makes
`input_rows = rows paired + rows skipped` hold for any `num_proc`, with no side channel between processes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from huggingface_hub import DatasetCardData

from prefbuild import __version__, bad_rows, cards, stats
from prefbuild.builders import Builder, RowOutcome, get_builder
from prefbuild.compat import dataset_fingerprint, dataset_table
from prefbuild.decontaminate import DecontaminationRequest, benchmark_splits
from prefbuild.errors import PrefbuildError
from prefbuild.folder import (
    DISTANCE_COLUMN,
    PAIR_COLUMNS,
    BuilderInfo,
    CardSpec,
    FolderStats,
    GroupStats,
    SourceInfo,
    SplitStats,
    add_edit_distances,
    open_pairs,
    summarise_distances,
    write_pairs_folder,
)
from prefbuild.formats import check_format, to_format
from prefbuild.output import refuse_existing
from prefbuild.seeding import row_rng
from prefbuild.sources import check_fields, load_source, split_location

STATUS = "_status"  # "" for a pair, "skip:<reason>" for a skipped row, "drop:<reason>" for a dropped pair
ROW_ID = "_row_id"
GROUP = "_group"  # the source row's `builder.group_column` value, on pairs and status rows alike
# Per-pair edit distances, computed by the map's workers next to the rows they build (stats.py's definitions)
DISTANCE_COLUMNS = (DISTANCE_COLUMN.format("char"), DISTANCE_COLUMN.format("word"))
# pair_rows slices the map's output when its runs of pairs average at least this many rows (or are this few)
MIN_PAIRS_PER_SLICE = 20
MAX_PAIR_SLICES = 1_000
# A worker process costs about 0.3 s to start and feed (fork, datasets' queue manager, the pickled builder); a
# split gets one only for every this many rows (MetaMath's 1,000-row eval split: 0.2-0.6 s with 2, 0.17 s here)
MIN_ROWS_PER_PROCESS = 2_000
MISSING_GROUP = "(missing)"
# With a group column: True on the first row each source row emits (its pair, drop or skip), so the source rows
# per group are counted from the map's output instead of read again from the source
FIRST = "_first"
FEW_SHOT_SEPARATOR = "\n\n"


@dataclass
class BuildReport:
    out: Path
    stats: FolderStats  # what out/stats.json holds
    seconds: dict[str, float] = field(default_factory=dict)


def _pair_schema(builder: Builder, grouped: bool = False) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in PAIR_COLUMNS]
    fields += [pa.field(name, dtype) for name, dtype in builder.metadata_schema.items()]
    fields += [pa.field(name, pa.float64()) for name in DISTANCE_COLUMNS]
    fields += [pa.field(ROW_ID, pa.string()), pa.field(STATUS, pa.string())]
    if grouped:
        fields += [pa.field(GROUP, pa.string()), pa.field(FIRST, pa.bool_())]
    return pa.schema(fields)


def _group_column(builder: Builder, dataset: datasets.Dataset) -> str | None:
    """The builder's group column when this split of the source has it, else None (no per-group statistics)."""
    column = builder.group_column
    return column if column and column in dataset.column_names else None


def _group_value(value: Any) -> str:
    return MISSING_GROUP if value is None or value == "" else str(value)


def _build_batch(
    batch: dict[str, list],
    indices: list[int],
    builder: Builder,
    seed: int,
    options: dict[str, Any],
    row_seconds: float = bad_rows.ROW_SECONDS,
    group_column: str | None = None,
) -> dict[str, list]:
    """Run the builder on a batch of rows; return pairs and status rows as columns.

    A row is isolated from the rest: one marked bad at load time, one with an oversized field, one that runs
    past `row_seconds` or into Python's own limits becomes a skip status row. Any other exception out of
    `build_row` is a builder bug and stops the build. With `group_column`, every pair and status row also carries
    its source row's value of that column, so skips and drops can be counted per group (MetaMathQA `type`) as
    well as per split, and `_first` marks the first row each source row emits. Each row also gets its
    chosen/rejected edit distances (`edit_distance_char`, `_word`; 0 on status rows, whose texts are empty):
    computed here, they run in the map's processes instead of after it.
    """
    columns = [*PAIR_COLUMNS, *builder.metadata_schema, ROW_ID, STATUS]
    out: dict[str, list] = {name: [] for name in columns}
    if group_column:
        out[GROUP], out[FIRST] = [], []
    empty = dict.fromkeys(builder.metadata_schema)
    source_columns = {key: list(batch[key]) for key in batch if key != bad_rows.BAD_ROW}  # read each column once
    marks = batch[bad_rows.BAD_ROW] if bad_rows.BAD_ROW in batch else None
    keys = list(source_columns)
    checked = list(builder.checked_fields())
    groups = source_columns.get(group_column) if group_column else None
    group, first = "", True

    def emit(pair: dict[str, Any], row_id: str, status: str) -> None:
        nonlocal first
        for name in columns[:-2]:
            out[name].append(pair.get(name))
        out[ROW_ID].append(row_id)
        out[STATUS].append(status)
        if group_column:
            out[GROUP].append(group)
            out[FIRST].append(first)
            first = False

    def skip(row_id: str, reason: str) -> None:
        emit({**empty, "prompt": "", "chosen": "", "rejected": ""}, row_id, f"skip:{reason}")

    clock = bad_rows.RowClock(row_seconds)
    with clock.running():
        for position, (index, values) in enumerate(zip(indices, zip(*source_columns.values()))):
            if groups is not None:
                group, first = _group_value(groups[position]), True
            if marks is not None and marks[position]:
                skip(str(index), marks[position])
                continue
            row = dict(zip(keys, values))
            if bad_rows.oversized_field(row, checked) is not None:
                skip(str(index), bad_rows.TOO_LONG)
                continue
            result = _run_row(builder, row, index, seed, options, clock)
            if isinstance(result, str):
                skip(str(index), result)
                continue
            row_id, outcome = result
            _emit_outcome(builder, outcome, row_id, emit, skip)
    # Bit for bit what add_edit_distances computes on the pairs table: both are per pair. One thread, because the
    # map's processes already share the cores.
    out[DISTANCE_COLUMNS[0]] = stats.normalised_levenshtein(out["chosen"], out["rejected"], workers=1)
    out[DISTANCE_COLUMNS[1]] = stats.word_levenshtein(out["chosen"], out["rejected"])
    return out


def _run_row(
    builder: Builder, row: dict, index: int, seed: int, options: dict[str, Any], clock: bad_rows.RowClock
) -> tuple[str, RowOutcome] | str:
    """(row id, outcome), or the skip reason when the row ran past the clock or into Python's own limits."""
    try:
        try:
            clock.started = time.monotonic()  # the row clock's alarm raises RowTimeLimit past its bound
            row_id = builder.row_id(row, index)
            outcome = builder.build_row(row, row_id, seed, options)
            clock.started = None
            return row_id, outcome
        except Exception as error:  # a builder bug, not a bad row: bad rows come back as a skip reason
            clock.started = None
            if bad_rows.engine_limit(error):
                return bad_rows.ENGINE_LIMITS
            raise RuntimeError(f"builder '{builder.name}' failed on row {index}: {error!r}") from error
    except bad_rows.RowTimeLimit:  # outside the inner block too: the alarm may land in its except clause
        return bad_rows.TIME_LIMIT


def _emit_outcome(builder: Builder, outcome: RowOutcome, row_id: str, emit: Callable, skip: Callable) -> None:
    """Emit a row's pairs, dropped pairs and skip reason; refuse an outcome that breaks the accounting."""
    if outcome.skip_reason is not None and outcome.pairs:
        # input_rows = rows paired + rows skipped holds only if each row is exactly one of the two
        raise RuntimeError(f"builder '{builder.name}' returned pairs and a skip reason for row {row_id!r}")
    for pair in outcome.pairs:
        emit(pair, row_id, "")
    for reason, count in outcome.dropped.items():
        for _ in range(count):
            emit({"prompt": "", "chosen": "", "rejected": ""}, row_id, f"drop:{reason}")
    if outcome.skip_reason is not None:
        skip(row_id, outcome.skip_reason)
    elif not outcome.pairs:
        raise RuntimeError(f"builder '{builder.name}' returned neither pairs nor a skip reason for row {row_id!r}")


def map_processes(num_proc: int, rows: int) -> int | None:
    """`datasets.map`'s num_proc for a split of `rows` rows: at most `num_proc`, one per MIN_ROWS_PER_PROCESS
    rows, and None (this process) below two. The output does not depend on it."""
    processes = min(num_proc, rows // MIN_ROWS_PER_PROCESS)
    return processes if processes > 1 else None


def _fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def pair_rows(table: pa.Table, statuses: pa.ChunkedArray) -> pa.Table:
    """The rows of a mapped table that are pairs (status ""), in order, copying no text where that is cheap.

    Status rows are few (MetaMath: ~3,000 among 395,000 rows), so the pairs are a few thousand runs of consecutive
    rows, each a zero-copy slice of the map's memory-mapped output. Copying them instead (`filter`, then the
    shard writer's combine_chunks) cost 1-2 s per copy of MetaMath's 0.43 GB of pairs, mostly page faults on
    fresh memory, which this VM's host backs page by page (BENCHMARKS.md). When runs are short (many skips) the
    pairs are taken into one chunk, or filtered where a string column is too big for one chunk (Arrow's 32-bit
    offsets). The written bytes do not depend on which: the shard writer lays each row group out in one chunk.
    """
    keep = pc.equal(statuses, "")
    mask = np.concatenate(([False], keep.to_numpy(zero_copy_only=False), [False]))
    edges = np.flatnonzero(mask[1:] != mask[:-1])  # alternately the start of a run of pairs and its end
    runs = list(zip(edges[0::2].tolist(), edges[1::2].tolist()))
    if len(runs) == 1 and runs[0] == (0, table.num_rows):
        return table
    if len(runs) <= max(MAX_PAIR_SLICES, table.num_rows // MIN_PAIRS_PER_SLICE):
        return (
            pa.concat_tables([table.slice(start, end - start) for start, end in runs]) if runs else table.slice(0, 0)
        )
    try:
        return table.take(pc.indices_nonzero(keep))
    except pa.ArrowInvalid as error:
        if "overflow" not in str(error):
            raise
        return table.filter(keep)


def _status_counts(statuses: pa.ChunkedArray, prefix: str) -> dict[str, int]:
    counts = pc.value_counts(statuses).to_pylist()
    found = {item["values"][len(prefix) :]: item["counts"] for item in counts if item["values"].startswith(prefix)}
    return dict(sorted(found.items()))


def _few_shot_pool(train: datasets.Dataset, builder: Builder) -> tuple[list[str], list[str]]:
    """Solved examples (row id, text) from the train split, in the builder's own format."""
    ids, texts = [], []
    checked = list(builder.checked_fields())
    for index, row in enumerate(train):
        if row.pop(bad_rows.BAD_ROW, None) or bad_rows.oversized_field(row, checked) is not None:
            continue  # a row the build skips is no example either
        text = builder.format_example(row)
        if text:
            ids.append(builder.row_id(row, index))
            texts.append(text)
    return ids, texts


def _check_few_shot_pool(pool: tuple[list[str], list[str]], shots: int) -> None:
    if len(pool[0]) <= shots:
        raise PrefbuildError(
            f"--few-shot {shots} needs more than {shots} solved examples in the train split; it has {len(pool[0])}."
        )


def _prefix_few_shot(table: pa.Table, pool: tuple[list[str], list[str]], shots: int, seed: int) -> pa.Table:
    """Prefix each prompt with `shots` examples drawn (seeded by row) from the pool, never the row itself.

    Pairs from one source row share their examples, so they differ only in the completion.
    """
    pool_ids, pool_texts = pool
    copies = Counter(pool_ids)
    prefixes: dict[str, str] = {}
    prompts = []
    for row_id, prompt in zip(table.column(ROW_ID).to_pylist(), table.column("prompt").to_pylist()):
        if row_id not in prefixes:
            rng = row_rng(seed, row_id, "few-shot")
            # Draw enough to survive dropping every copy of the row itself (a duplicated source row shares its
            # content-hash id), so each prompt gets exactly `shots` examples.
            own = copies.get(row_id, 0)
            if len(pool_ids) - own < shots:
                raise PrefbuildError(
                    f"--few-shot {shots}: row {row_id!r} has only {len(pool_ids) - own} other examples."
                )
            drawn = [i for i in rng.sample(range(len(pool_ids)), shots + own) if pool_ids[i] != row_id][:shots]
            prefixes[row_id] = FEW_SHOT_SEPARATOR.join(pool_texts[i] for i in drawn) + FEW_SHOT_SEPARATOR
        prompts.append(prefixes[row_id] + prompt)
    return table.set_column(table.schema.get_field_index("prompt"), "prompt", pa.array(prompts, pa.string()))


def _load_tokenizer(name: str | None) -> Any:
    if name is None:
        return None
    from contextlib import nullcontext

    from transformers import AutoTokenizer

    from prefbuild.hub_access import hub_access, is_local

    hint = "Pass --tokenizer a local folder (one written by `save_pretrained` or `prefbuild tiny-model`)"
    try:
        with hub_access("tokenizer", name, hint) if not is_local(name) else nullcontext():
            return AutoTokenizer.from_pretrained(name)
    except PrefbuildError:
        raise
    except Exception as error:
        raise PrefbuildError(f"Cannot load --tokenizer '{name}': {str(error).splitlines()[0]}") from None


def group_statistics(
    table: pa.Table, input_groups: pa.Array | pa.ChunkedArray | list[Any]
) -> dict[str, dict[str, Any]]:
    """Per-group counts of one split: {group: {input_rows, pairs, skipped, dropped_pairs, tiers}}.

    `table` is the split's mapped table (pairs and status rows, each with its `_group`); `input_groups` the
    source rows' group values. As for the split: input_rows = rows paired + rows skipped, per group.
    """
    if not isinstance(input_groups, (pa.Array, pa.ChunkedArray)):
        input_groups = pa.array(input_groups)
    if not pa.types.is_string(input_groups.type):
        input_groups = pc.cast(input_groups, pa.string())
    input_rows: Counter = Counter()
    for item in pc.value_counts(input_groups).to_pylist():  # counted in Arrow: no Python pass over the rows
        input_rows[_group_value(item["values"])] += item["counts"]
    result: dict[str, dict[str, Any]] = {
        group: {"input_rows": count, "pairs": 0, "skipped": Counter(), "dropped_pairs": Counter(), "tiers": Counter()}
        for group, count in input_rows.items()
    }
    keys = [GROUP, STATUS, *(["tier"] if "tier" in table.column_names else [])]
    # One aggregate over (group, status, tier) instead of a Python loop over 395,000 rows
    counted = table.select(keys).group_by(keys).aggregate([([], "count_all")]).to_pylist()
    for item in counted:
        counts, status, number = result[item[GROUP]], item[STATUS], item["count_all"]
        if status == "":
            counts["pairs"] += number
            if item.get("tier") is not None:
                counts["tiers"][item["tier"]] += number
        elif status.startswith("skip:"):
            counts["skipped"][status[len("skip:") :]] += number
        else:
            counts["dropped_pairs"][status[len("drop:") :]] += number
    for counts in result.values():
        for key in ("skipped", "dropped_pairs", "tiers"):
            counts[key] = dict(sorted(counts[key].items()))
        if "tier" not in table.column_names:
            del counts["tiers"]
    return dict(sorted(result.items()))


def split_statistics(
    table: pa.Table, statuses: pa.ChunkedArray, input_rows: int, tokenizer: Any = None
) -> tuple[pa.Table, SplitStats]:
    """Add per-pair edit-distance columns to a split's pairs and summarise them with the split's counts."""
    table = add_edit_distances(table, tokenizer)
    edit_distance, first = summarise_distances(table)
    summary = SplitStats(
        input_rows=input_rows,
        pairs=table.num_rows,
        skipped=_status_counts(statuses, "skip:"),
        dropped_pairs=_status_counts(statuses, "drop:"),
        edit_distance=edit_distance,
        first_diff_token=first,
    )
    if "tier" in table.column_names:
        tiers = pc.value_counts(table.column("tier")).to_pylist()
        summary.tiers = dict(sorted((item["values"], item["counts"]) for item in tiers))
    return table, summary


def resolve_options(builder: Builder, options: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(builder.options))
    if unknown:
        valid = ", ".join(sorted(builder.options)) or "none"
        raise PrefbuildError(f"Builder '{builder.name}' has no option {', '.join(unknown)}. Its options: {valid}.")
    return {**builder.options, **options}


def build_dataset(
    name: str,
    *,
    out: str | Path,
    source: str | None = None,
    source_config: str | None = None,
    seed: int = 0,
    num_proc: int = 1,
    limit: int | None = None,
    overwrite: bool = False,
    few_shot: int = 0,
    fmt: str = "standard",
    system_prompt: str | None = None,
    tokenizer: str | None = None,
    options: dict[str, Any] | None = None,
    command: str | None = None,
    plot: bool = True,
    source_name: str | None = None,
    on_bad_rows: str = "error",
    decontaminate: DecontaminationRequest | None = None,
) -> BuildReport:
    """Build a preference dataset with builder `name` and write the Hub-ready folder `out`.

    on_bad_rows: "error" stops at the first row with undecodable text or a wrong type (one line naming the
    file, the row and the field); "skip" counts such rows under a skip reason (prefbuild/bad_rows.py).
    The returned report's `stats` is what `out/stats.json` holds. Nothing pushed names an absolute local path: a
    local source is recorded as given when relative, else by its name (or `source_name`), with its content hash;
    paths in `command` and `tokenizer` are recorded the same way.
    """
    builder = get_builder(name)
    out = Path(out)
    refuse_existing(out, overwrite, inputs=[source])
    check_format(fmt)
    bad_rows.check_policy(on_bad_rows)
    if system_prompt and fmt != "conversational":
        raise PrefbuildError("--system-prompt applies only to --format conversational.")
    for flag, value, least in (("--seed", seed, 0), ("--num-proc", num_proc, 1), ("--few-shot", few_shot, 0)):
        if value < least:
            raise PrefbuildError(f"{flag} must be >= {least}, got {value}.")
    if limit is not None and limit < 1:
        raise PrefbuildError(f"--limit must be >= 1, got {limit}.")
    options = resolve_options(builder, options)
    token_model = _load_tokenizer(tokenizer)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    if source is None:
        source, source_config = builder.default_source, source_config or builder.default_config
    raw = load_source(source, source_config, split_names=builder.split_map)
    check_fields(raw, builder.required_fields, source, builder.name)
    for split in list(raw):
        bad = bad_rows.find_bad_rows(raw[split], builder.checked_fields(), split_location(source, split), on_bad_rows)
        if bad:
            raw[split] = bad_rows.mark_bad_rows(raw[split], bad)
    splits = {target: raw[split] for split, target in builder.split_map.items() if split in raw}
    if not splits:
        found = ", ".join(raw) or "none"
        expected = ", ".join(builder.split_map)
        raise PrefbuildError(
            f"--source '{source}' has no split the '{name}' builder uses ({expected}); found: {found}."
        )
    if builder.prepare is not None:
        splits = builder.prepare(splits, options, seed)
    if limit is not None:
        splits = {split: ds.select(range(min(limit, len(ds)))) for split, ds in splits.items()}
    seconds["load"] = time.perf_counter() - started

    # Few-shot problems (no train split, too few examples) fail here, before any row is built
    pool = _few_shot_pool(splits["train"], builder) if few_shot and "train" in splits else None
    if few_shot and pool is None:
        raise PrefbuildError(f"--few-shot needs a train split to draw examples from; '{source}' has none.")
    if pool is not None:
        _check_few_shot_pool(pool, few_shot)

    started = time.perf_counter()
    mapped, group_columns = {}, {}
    for split, dataset in splits.items():
        group_columns[split] = _group_column(builder, dataset)
        features = datasets.Features.from_arrow_schema(_pair_schema(builder, grouped=bool(group_columns[split])))
        fn_kwargs = {"builder": builder, "seed": seed, "options": options}
        if group_columns[split]:
            fn_kwargs["group_column"] = group_columns[split]
        mapped[split] = dataset.map(
            _build_batch,
            batched=True,
            with_indices=True,
            remove_columns=dataset.column_names,
            features=features,
            fn_kwargs=fn_kwargs,
            num_proc=map_processes(num_proc, len(dataset)),
            load_from_cache_file=False,
            new_fingerprint=_fingerprint(builder.name, builder.version, seed, options, dataset_fingerprint(dataset)),
            desc=f"Building {name} {split}",
        )
    seconds["pairs"] = time.perf_counter() - started

    # The source's content hash (0.35 s for MetaMathQA's 0.38 GB; file reads and hashing release the GIL) runs on
    # the core the single-threaded statistics leave free. Started only now: no thread runs while the map forks.
    hasher = ThreadPoolExecutor(1, thread_name_prefix="prefbuild-source-hash")
    source_facts = hasher.submit(cards.source_facts, source, source_config, source_name)
    hasher.shutdown(wait=False)
    started = time.perf_counter()
    tables, split_stats = {}, {}
    for split, dataset in mapped.items():
        table = dataset_table(dataset)
        statuses = table.column(STATUS)
        pairs = pair_rows(table, statuses)
        if few_shot:
            pairs = _prefix_few_shot(pairs, pool, few_shot, seed)
        pairs, split_stats[split] = split_statistics(pairs, statuses, len(splits[split]), token_model)
        if group_columns[split]:
            column = group_columns[split]
            # One value per source row, from the map's output: reading the column back through a hold-out's
            # indices mapping (`splits[split][column]`) took datasets 1.1 s at 395,000 rows
            source_groups = table.column(GROUP).filter(table.column(FIRST))
            groups = group_statistics(table, source_groups)
            split_stats[split].groups[f"by_{column}"] = {
                name: GroupStats.from_json(facts) for name, facts in groups.items()
            }
            del source_groups
            pairs = pairs.drop_columns([GROUP, FIRST])
        pairs = pairs.drop_columns([ROW_ID, STATUS])
        pairs = to_format(pairs, fmt, system_prompt)  # places a row's own `system` column (ORCA, Truthy)
        tables[split] = pairs
    seconds["statistics"] = time.perf_counter() - started
    # The source rows and the mapped tables (pairs plus status rows) are not needed past this point; holding them
    # through the write kept both in memory next to the pairs being written.
    del raw, splits, mapped, dataset, table, statuses, pairs

    decontamination = None
    if decontaminate is not None:  # overlap with benchmark test sets; --decontaminate-drop removes those pairs
        started = time.perf_counter()
        tables, decontamination = decontaminate.apply(tables, split_stats)
        seconds["decontaminate"] = time.perf_counter() - started

    header = FolderStats(
        prefbuild_version=__version__,
        builder=BuilderInfo(name=builder.name, version=builder.version),
        source=SourceInfo.from_json(source_facts.result()),
        seed=seed,
        few_shot=few_shot,
        format=fmt,
        system_prompt=system_prompt,
        tokenizer=cards.public_path(tokenizer) if tokenizer else tokenizer,
        limit=limit,
        options=options,
        command=cards.public_command(command),
        splits=split_stats,
        benchmark_splits=benchmark_splits(builder.name),
        decontamination=decontamination,
    )
    started = time.perf_counter()
    build_stats = write_pairs_folder(
        out,
        tables,
        header,
        card=lambda done, written: builder_card(builder, done, written, plot),
        plot=plot,
        overwrite=overwrite,
    )
    seconds["write"] = time.perf_counter() - started
    return BuildReport(out=out, stats=build_stats, seconds=seconds)


def builder_card(builder: Builder, build_stats: FolderStats, tables: dict[str, pa.Table], plot: bool) -> CardSpec:
    """The card of a builder's folder: its template, YAML metadata and context from the finished stats."""
    context = cards.build_card_context(
        builder, build_stats, tables, summary=stats.render_summary(build_stats), plot=plot
    )
    return CardSpec(
        template=builder.card,
        metadata=card_metadata(builder, build_stats),
        context=context,
        plot_title=builder.pretty_name,
    )


def card_metadata(builder: Builder, build_stats: FolderStats) -> DatasetCardData:
    """The card's YAML: licence inherited from the source, size bucket, tags and the source's Hub id.

    A local `--source` is a copy of the builder's Hub source in its schema, so `source_datasets` names the Hub id
    the rows come from (the body says which path was read). `configs` is filled in once shard names are known.
    """
    source = build_stats.source.id
    if build_stats.source.is_local:
        source = builder.default_source
    return DatasetCardData(
        license=builder.license,
        language=["en"],
        task_categories=["text-generation"],
        tags=["dpo", "dpop", "preference", "prefbuild", builder.name, build_stats.folder_format],
        size_categories=[cards.size_category(build_stats.pairs)],
        source_datasets=[source],
        pretty_name=builder.pretty_name,
    )


def folder_statistics(folder: str | Path, tokenizer: str | None = None) -> FolderStats:
    """Statistics of a built folder: counts and skips from stats.json, distances recomputed from the shards."""
    pairs = open_pairs(folder, hub=False)
    recorded = pairs.stats
    token_model = _load_tokenizer(tokenizer)
    result = FolderStats.from_json({key: value for key, value in recorded.to_json().items() if key != "splits"})
    for split, table in pairs.tables().items():
        strings = table.select(["chosen", "rejected", *(["tier"] if "tier" in table.column_names else [])])
        split_recorded = recorded.splits[split]
        _, summary = split_statistics(
            strings, pa.chunked_array([], pa.string()), split_recorded.input_rows, token_model
        )
        summary.skipped, summary.dropped_pairs = split_recorded.skipped, split_recorded.dropped_pairs
        summary.groups = split_recorded.groups  # per-group counts cannot be recomputed from the shards
        result.splits[split] = summary
    from prefbuild.displacement.scores import summarise_score_columns

    summarise_score_columns(pairs.tables(), result)  # CHES summaries of a scored folder (`stats --model --out`)
    return result
