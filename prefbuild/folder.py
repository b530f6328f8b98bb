"""The pairs folder as one object: what `prefbuild build`, `mix` and `decontaminate` write, and every verb reads.

A folder is `data/<split>-XXXXX-of-YYYYY.parquet` shards, `stats.json`, `README.md` (the card) and, unless
turned off, `edit_distance.png`. This module owns it:

- `SplitStats` / `FolderStats` (with `DistanceSummary`, `GroupStats`, the displacement records `DisplacementInfo`,
  `FilterEntry`, `HistoryEntry`): the single, typed schema of `stats.json`.
  `to_json()` gives the dict written to the file, in the order prefbuild has always written it, and `from_json()`
  reads one back; keys this version does not know are kept (`extra`) and a file read and written again keeps its
  key order, so rewriting a folder (`prefbuild decontaminate`) changes only what changed.
- `write_pairs_folder`: builders and mixtures hand it their tables and a header (`FolderStats` with the counts);
  it adds the per-pair edit-distance columns when missing, summarises them, renders the card and writes the
  folder atomically.
- `open_pairs`: the one loader of a pairs dataset (a prefbuild folder, or a Hub dataset id) for every verb.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefbuild.errors import PrefbuildError

if TYPE_CHECKING:
    import datasets
    from huggingface_hub import DatasetCardData

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
LEVELS = ("char", "word", "token")  # edit-distance levels, in the order stats.json and the columns list them
DISTANCE_COLUMN = "edit_distance_{}"
FIRST_DIFF_COLUMN = "first_diff_token"
STATS_FILE = "stats.json"
_SPLIT_NAME = re.compile(r"\w[\w.]*")


# ---------------------------------------------------------------------------------------------- stats.json schema


class _Record:
    """A stats.json object as a dataclass: `to_json` / `from_json`, unknown keys kept in `extra`.

    Subclasses list their fields in the order stats.json writes them. A field is written when it is not None, or
    always when it is in `_ALWAYS`. A record read by `from_json` remembers its keys' order: writing it again keeps
    that order (and the keys an older prefbuild did not write stay absent unless set), so a folder rewritten by
    another verb changes only what that verb changed.
    """

    _ALWAYS: ClassVar[frozenset[str]] = frozenset()
    _order: tuple[str, ...] | None = None  # set by from_json

    # --- per-field conversion (overridden where a field holds other records) ---
    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        return copy.deepcopy(value)

    def _dump_field(self, name: str, value: Any) -> Any:
        return copy.deepcopy(value)

    def _key_items(self) -> list[tuple[str, str, Any]]:
        """(json key, field name, value) for every field in canonical order; `extra` excluded."""
        return [(f.name, f.name, getattr(self, f.name)) for f in fields(self) if f.name != "extra"]

    @classmethod
    def _field_of_key(cls, key: str) -> str | None:
        names = {f.name for f in fields(cls)} - {"extra"}
        return key if key in names else None

    def to_json(self) -> dict[str, Any]:
        items = self._key_items()
        by_key = {key: (name, value) for key, name, value in items}
        extra = getattr(self, "extra", {})
        result: dict[str, Any] = {}
        for key in self._order or ():
            if key in extra:
                result[key] = copy.deepcopy(extra[key])
            elif key in by_key and by_key[key][1] is not None:
                result[key] = self._dump_field(by_key[key][0], by_key[key][1])
            elif key in by_key and self._field_of_key(key) == by_key[key][0]:
                result[key] = None  # read as null, still null
        for key, name, value in items:
            if key in result:
                continue
            if self._order is None:
                if value is not None or name in self._ALWAYS:
                    result[key] = None if value is None else self._dump_field(name, value)
            elif value is not None and value != {}:
                result[key] = self._dump_field(name, value)
        for key, value in extra.items():
            result.setdefault(key, copy.deepcopy(value))
        return result

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):
        if not isinstance(data, Mapping):
            raise PrefbuildError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}.")
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = cls._field_of_key(key)
            if name is None:
                extra[key] = copy.deepcopy(value)
            else:
                cls._collect(values, name, key, value)
        known = {f.name for f in fields(cls)}
        if "extra" in known:
            values["extra"] = extra
        elif extra:
            values.update(extra)
        record = cls(**values)
        record._order = tuple(data)
        return record

    @classmethod
    def _collect(cls, values: dict[str, Any], name: str, key: str, value: Any) -> None:
        values[name] = None if value is None else cls._load_field(name, value)

    def unset(self, name: str) -> None:
        """Remove an optional field: None, and not written even when it was read (a null would be kept)."""
        setattr(self, name, None)
        if self._order is not None:
            self._order = tuple(key for key in self._order if self._field_of_key(key) != name)

    # --- the raw-dict spelling of older code: read-only, deprecated ---
    def __getitem__(self, key: str) -> Any:
        warnings.warn(
            f"{type(self).__name__}[{key!r}] reads stats.json as a dict; use the attribute instead "
            "(prefbuild.folder). Dict-style access is removed in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Deprecated dict-style read (see `__getitem__`); `default` when the key is not written."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: str) -> bool:
        return key in self.to_json()


@dataclass
class DistanceSummary(_Record):
    """`stats.summarise` of one level's per-pair distances: count, mean, median, p10, p90, min, max (None when the
    split has no pairs) and, for distances in [0, 1], `histogram` (20 bins of 5 %) and `histogram_log` (log bins),
    each `{"edges": [...], "counts": [...]}`. Also the summary of a per-pair score (`first_diff_token`, a split's
    `displacement` CHES scores: `histogram` over bins shared by all splits, no `histogram_log`)."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p10: float | None = None
    p90: float | None = None
    min: float | None = None
    max: float | None = None
    histogram: dict[str, list] | None = None
    histogram_log: dict[str, list] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"count", "mean", "median", "p10", "p90", "min", "max"})

    @classmethod
    def of(cls, values: Any, *, unit_interval: bool = True) -> DistanceSummary:
        from prefbuild.stats import summarise

        return cls.from_json(summarise(np.asarray(values, dtype=np.float64), unit_interval=unit_interval))


def _summaries(raw: Mapping[str, Any]) -> dict[str, DistanceSummary]:
    return {level: DistanceSummary.from_json(value) for level, value in raw.items()}


@dataclass
class GroupStats(_Record):
    """Counts of one group of a split (`by_type` in a MetaMathQA build): input_rows = rows paired + rows skipped."""

    input_rows: int = 0
    pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    dropped_pairs: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"input_rows", "pairs", "skipped", "dropped_pairs"})


@dataclass
class SplitStats(_Record):
    """One split of stats.json (`splits.<name>`).

    input_rows: source rows read.  pairs: pairs written.  skipped: {reason: source rows that gave no pair}.
    dropped_pairs: {reason: pairs a builder (or --drop) removed from rows that kept others}. For a build
    `input_rows = rows paired + sum(skipped)`; for a mixture `input_rows = pairs + sum(skipped)` (a source's rows the
    weight left out are skipped as `<source>:not_selected`).
    edit_distance: {level: DistanceSummary} for char, word and (with a tokenizer) token.
    first_diff_token: summary of the first differing token index (with a tokenizer).
    tiers: {tier: pairs} for builders with a `tier` column.  groups: {"by_<column>": {value: GroupStats}} for
    builders with a group column (MetaMathQA's `type`).  sources: {entry name: pairs} in a mixture.
    displacement: {score column: DistanceSummary} of the per-pair CHES scores (`ches`, `ches_normalized`) of a
    scored folder (`prefbuild stats --model`), over the pairs that have a score.
    """

    input_rows: int = 0
    pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    dropped_pairs: dict[str, int] = field(default_factory=dict)
    edit_distance: dict[str, DistanceSummary] = field(default_factory=dict)
    first_diff_token: DistanceSummary | None = None
    tiers: dict[str, int] | None = None
    groups: dict[str, dict[str, GroupStats]] = field(default_factory=dict)
    sources: dict[str, int] | None = None
    displacement: dict[str, DistanceSummary] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"input_rows", "pairs", "skipped", "dropped_pairs", "edit_distance"})

    @property
    def skipped_rows(self) -> int:
        return sum(self.skipped.values())

    @property
    def paired_rows(self) -> int:
        """Source rows that gave at least one pair (for a build: input_rows - skipped rows)."""
        return self.input_rows - self.skipped_rows

    def distance(self, level: str, statistic: str) -> float | None:
        """One statistic of one level, None when not computed: `split.distance("char", "mean")`."""
        summary = self.edit_distance.get(level)
        return None if summary is None else getattr(summary, statistic)

    def _key_items(self) -> list[tuple[str, str, Any]]:
        items = []
        for f in fields(self):
            if f.name == "extra":
                continue
            if f.name == "groups":
                items += [(key, "groups", value) for key, value in self.groups.items()]
            else:
                items.append((f.name, f.name, getattr(self, f.name)))
        return items

    @classmethod
    def _field_of_key(cls, key: str) -> str | None:
        if key.startswith("by_"):
            return "groups"
        return super()._field_of_key(key) if key != "groups" else None

    @classmethod
    def _collect(cls, values: dict[str, Any], name: str, key: str, value: Any) -> None:
        if name == "groups":
            values.setdefault("groups", {})[key] = {
                group: GroupStats.from_json(facts) for group, facts in value.items()
            }
        else:
            super()._collect(values, name, key, value)

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name in ("edit_distance", "displacement"):
            return _summaries(value)
        if name == "first_diff_token":
            return DistanceSummary.from_json(value)
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name in ("edit_distance", "displacement"):
            return {level: summary.to_json() for level, summary in value.items()}
        if name == "first_diff_token":
            return value.to_json()
        if name == "groups":
            return {group: facts.to_json() for group, facts in value.items()}
        return super()._dump_field(name, value)


@dataclass
class BuilderInfo(_Record):
    """`builder`: the builder's registry name and version (bumped when its output changes)."""

    name: str = ""
    version: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"name", "version"})


@dataclass
class SourceInfo(_Record):
    """`source`: where a build's rows came from. id: the Hub id, or a local path as given when relative, else its
    name. config: the Hub config. local: "file", "folder" or None (a Hub id). sha256: a local source's content hash
    (`cards.content_hash`)."""

    id: str = ""
    config: str | None = None
    local: str | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"id", "config", "local", "sha256"})

    @property
    def is_local(self) -> bool:
        """Whether the source was a local path (folders built before `local` was recorded: whether `id` exists)."""
        if self._order is not None and "local" not in self._order:
            return Path(self.id).expanduser().exists()
        return bool(self.local)


@dataclass
class MixInfo(_Record):
    """`mix`: the mixture's name, its config file (public path; None when mixed from Python) and seed."""

    name: str = ""
    config: str | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"name", "config", "seed"})


@dataclass
class SourceSplitStats(_Record):
    """One mixture entry's counts for one split (`sources[i].splits.<split>`): source_rows = selected +
    not_selected + sum(skipped). usable_pairs: rows the entry's builder could use; selected: taken by the share;
    edit_distance: {level: DistanceSummary} of the pairs taken."""

    source_rows: int = 0
    usable_pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    selected: int = 0
    not_selected: int = 0
    edit_distance: dict[str, DistanceSummary] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"source_rows", "usable_pairs", "skipped", "selected", "not_selected", "edit_distance"}
    )

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        return _summaries(value) if name == "edit_distance" else super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name == "edit_distance":
            return {level: summary.to_json() for level, summary in value.items()}
        return super()._dump_field(name, value)


@dataclass
class SourceStats(_Record):
    """One mixture entry (`sources[i]`): name, source (public path or Hub id), schema, hub_id, license, weight,
    eval_weight (the share asked for: a fraction or a row count), what the entry's own folder recorded (builder,
    seed, command: in `extra`, in the order written) and splits {split: SourceSplitStats}."""

    name: str = ""
    source: str | None = None
    schema: str | None = None
    hub_id: str | None = None
    license: str | None = None
    weight: float | int | None = None
    eval_weight: float | int | None = None
    splits: dict[str, SourceSplitStats] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"name", "source", "schema", "hub_id", "license", "weight", "eval_weight", "splits"}
    )

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name == "splits":
            return {split: SourceSplitStats.from_json(facts) for split, facts in value.items()}
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name == "splits":
            return {split: facts.to_json() for split, facts in value.items()}
        return super()._dump_field(name, value)


@dataclass
class BenchmarkFacts(_Record):
    """`decontamination.benchmarks.<name>`: what was checked against: label, source (Hub id and split, or a local
    file or folder by its public name), documents and distinct n-grams."""

    label: str = ""
    source: str | None = None
    documents: int = 0
    ngrams: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"label", "source", "documents", "ngrams"})


@dataclass
class BenchmarkOverlap(_Record):
    """One split against one benchmark: pairs that share an n-gram with it, and examples ({pair, field, ngram,
    text, benchmark_document})."""

    pairs: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"pairs", "examples"})


@dataclass
class SplitOverlap(_Record):
    """`decontamination.splits.<split>`: pairs checked, pairs overlapping any benchmark, per benchmark, and (with
    --drop) the pairs removed."""

    checked_pairs: int = 0
    overlapping_pairs: int = 0
    by_benchmark: dict[str, BenchmarkOverlap] = field(default_factory=dict)
    dropped_pairs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"checked_pairs", "overlapping_pairs", "by_benchmark"})

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name == "by_benchmark":
            return {bench: BenchmarkOverlap.from_json(facts) for bench, facts in value.items()}
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name == "by_benchmark":
            return {bench: facts.to_json() for bench, facts in value.items()}
        return super()._dump_field(name, value)


@dataclass
class DecontaminationReport(_Record):
    """`decontamination`: the benchmark-overlap report of `--decontaminate` / `prefbuild decontaminate`: method,
    ngram, drop (whether overlapping pairs were removed), benchmarks {name: BenchmarkFacts} and splits {split:
    SplitOverlap}. (Folders written before #15 also hold `seconds`, kept in `extra`.)"""

    method: str = ""
    ngram: int = 13
    drop: bool = False
    benchmarks: dict[str, BenchmarkFacts] = field(default_factory=dict)
    splits: dict[str, SplitOverlap] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"method", "ngram", "drop", "benchmarks", "splits"})

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name == "benchmarks":
            return {bench: BenchmarkFacts.from_json(facts) for bench, facts in value.items()}
        if name == "splits":
            return {split: SplitOverlap.from_json(facts) for split, facts in value.items()}
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name in ("benchmarks", "splits"):
            return {key: facts.to_json() for key, facts in value.items()}
        return super()._dump_field(name, value)

    @classmethod
    def coerce(cls, report: DecontaminationReport | Mapping[str, Any]) -> DecontaminationReport:
        return report if isinstance(report, DecontaminationReport) else cls.from_json(report)


@dataclass
class ScoringModel(_Record):
    """`displacement.model`: the model a folder's CHES scores were computed under. id: its public name; local:
    whether it was a local folder; sha256: a local model's content hash (`cards.content_hash`); revision: a Hub
    model's commit; class_name (key `class`): its Python class; dtype; hidden_size."""

    id: str = ""
    local: bool | None = None
    sha256: str | None = None
    revision: str | None = None
    class_name: str | None = None
    dtype: str | None = None
    hidden_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"id", "local", "sha256", "revision", "class_name", "dtype", "hidden_size"}
    )

    def _key_items(self) -> list[tuple[str, str, Any]]:
        return [("class" if key == "class_name" else key, name, value) for key, name, value in super()._key_items()]

    @classmethod
    def _field_of_key(cls, key: str) -> str | None:
        if key == "class":
            return "class_name"
        return None if key == "class_name" else super()._field_of_key(key)


@dataclass
class DisplacementInfo(_Record):
    """`displacement`: how a folder's CHES scores were computed (`prefbuild stats --model`): method (the formula),
    model (ScoringModel), splits scored, limit (pairs per split; None: all), batch_size, device and versions
    ({package: version})."""

    method: str = ""
    model: ScoringModel | None = None
    splits: list[str] | None = None
    limit: int | None = None
    batch_size: int | None = None
    device: str | None = None
    versions: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"method", "model", "splits", "limit", "batch_size", "device", "versions"}
    )

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        return ScoringModel.from_json(value) if name == "model" else super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        return value.to_json() if name == "model" else super()._dump_field(name, value)


@dataclass
class FilterSplit(_Record):
    """`filters[i].splits.<split>`: pairs before and after one `prefbuild filter` run, pairs dropped and the cut
    (the lowest value dropped by drop_top, the highest by drop_bottom, the bound of keep_*; None: none dropped)."""

    pairs_before: int = 0
    pairs_dropped: int = 0
    pairs_after: int = 0
    cut: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"pairs_before", "pairs_dropped", "pairs_after", "cut"})


@dataclass
class FilterEntry(_Record):
    """`filters[i]`: one `prefbuild filter` run: by (the column), mode (drop_top, drop_bottom, keep_below,
    keep_above), value, reason (the skip / drop reason counted), splits {split: FilterSplit}, input (the folder
    filtered, public name) and command."""

    by: str = ""
    mode: str = ""
    value: float = 0.0
    reason: str = ""
    splits: dict[str, FilterSplit] = field(default_factory=dict)
    input: str | None = None
    command: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"by", "mode", "value", "reason", "splits", "input", "command"})

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name == "splits":
            return {split: FilterSplit.from_json(facts) for split, facts in value.items()}
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name == "splits":
            return {split: facts.to_json() for split, facts in value.items()}
        return super()._dump_field(name, value)

    @classmethod
    def coerce(cls, entry: FilterEntry | Mapping[str, Any]) -> FilterEntry:
        return entry if isinstance(entry, FilterEntry) else cls.from_json(entry)


@dataclass
class HistoryEntry(_Record):
    """`history[i]`: one command that changed the folder after it was built: verb (`stats`, `filter`) and command."""

    verb: str = ""
    command: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"verb", "command"})


@dataclass
class FolderStats(_Record):
    """stats.json: how a folder was made and what it holds.

    A build's header: prefbuild_version, builder {name, version}, source {id, config, local, sha256}, seed,
    few_shot, format, system_prompt, tokenizer, limit, options, command; then splits, benchmark_splits
    ({split: benchmark label} for splits that are a benchmark's scored set) and, after --decontaminate,
    decontamination (the overlap report). A mixture's: prefbuild_version, mix {name, config, seed}, seed, format,
    system_prompt, command, sources (a SourceStats per entry); then splits.
    A scored or filtered folder adds displacement (DisplacementInfo: how its CHES scores were computed), filters
    (a FilterEntry per `prefbuild filter` run) and `history` (the commands that changed it after its build, read
    as HistoryEntry records through `history`; the list itself stays in `extra` as plain dicts, where callers of
    `filter_folder` read it).
    """

    prefbuild_version: str | None = None
    builder: BuilderInfo | None = None
    mix: MixInfo | None = None
    source: SourceInfo | None = None
    seed: int | None = None
    few_shot: int | None = None
    format: str | None = None
    system_prompt: str | None = None
    tokenizer: str | None = None
    limit: int | None = None
    options: dict[str, Any] | None = None
    command: str | None = None
    sources: list[SourceStats] | None = None
    splits: dict[str, SplitStats] = field(default_factory=dict)
    benchmark_splits: dict[str, str] | None = None
    decontamination: DecontaminationReport | None = None
    displacement: DisplacementInfo | None = None
    filters: list[FilterEntry] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _BUILD_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"prefbuild_version", "builder", "source", "seed", "few_shot", "format", "system_prompt", "tokenizer"}
        | {"limit", "options", "command", "splits"}
    )
    _MIX_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"prefbuild_version", "mix", "seed", "format", "system_prompt", "command", "sources", "splits"}
    )

    @property
    def _ALWAYS(self) -> frozenset[str]:  # type: ignore[override]
        return self._MIX_KEYS if self.mix is not None else self._BUILD_KEYS

    @property
    def kind(self) -> str:
        """ "mix" for a mixture, "build" for a builder's folder."""
        return "mix" if self.mix is not None else "build"

    @property
    def builder_name(self) -> str | None:
        return self.builder.name if self.builder is not None else None

    @property
    def pairs(self) -> int:
        """Pairs over all splits."""
        return sum(split.pairs for split in self.splits.values())

    @property
    def folder_format(self) -> str:
        """The pairs' format: "standard" (strings) or "conversational" (message lists)."""
        return self.format or "standard"

    @property
    def history(self) -> list[HistoryEntry]:
        """`history`: the commands that changed the folder after its build, in order (read-only copies)."""
        return [HistoryEntry.from_json(entry) for entry in self.extra.get("history") or []]

    def add_history(self, verb: str, command: str | None) -> None:
        """Append a command to `history` (written after the keys the folder already had)."""
        self.extra.setdefault("history", []).append(HistoryEntry(verb=verb, command=command).to_json())

    def add_filter(self, entry: FilterEntry) -> None:
        """Append a `prefbuild filter` run to `filters`."""
        self.filters = [*(self.filters or []), entry]

    @classmethod
    def _load_field(cls, name: str, value: Any) -> Any:
        if name == "splits":
            if not isinstance(value, Mapping):
                raise PrefbuildError("stats.json: 'splits' must be a mapping of split names.")
            return {split: SplitStats.from_json(facts) for split, facts in value.items()}
        if name == "sources":
            return [SourceStats.from_json(facts) for facts in value]
        if name == "filters":
            return [FilterEntry.from_json(entry) for entry in value]
        if name in _HEADER_RECORDS:
            return _HEADER_RECORDS[name].from_json(value)
        return super()._load_field(name, value)

    def _dump_field(self, name: str, value: Any) -> Any:
        if name == "splits":
            return {split: facts.to_json() for split, facts in value.items()}
        if name in ("sources", "filters"):
            return [facts.to_json() for facts in value]
        if name in _HEADER_RECORDS:
            return value.to_json()
        return super()._dump_field(name, value)

    def to_text(self) -> str:
        """stats.json's bytes (as text): two-space indented JSON, non-ASCII kept, one trailing newline."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def write(self, folder: str | Path) -> Path:
        """Write `folder/stats.json` (not atomic by itself; `write_pairs_folder` writes the whole folder atomically)."""
        path = Path(folder) / STATS_FILE
        path.write_text(self.to_text(), encoding="utf-8")
        return path

    @classmethod
    def coerce(cls, stats: FolderStats | Mapping[str, Any]) -> FolderStats:
        """A FolderStats from itself or from stats.json as a dict (callers that still hold the raw dict)."""
        return stats if isinstance(stats, FolderStats) else cls.from_json(stats)

    @classmethod
    def load(cls, folder: str | Path) -> FolderStats:
        """Read and check `folder/stats.json`; PrefbuildError (one line naming the file) when it is not one."""
        path = Path(folder) / STATS_FILE
        if not path.is_file():
            raise PrefbuildError(f"'{folder}' is not a prefbuild output folder: it has no stats.json.")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PrefbuildError(f"'{path}' is not valid JSON: {error}.") from None
        return cls.parse(raw, where=f"'{path}'")

    @classmethod
    def parse(cls, raw: Any, where: str = "stats.json") -> FolderStats:
        """`from_json` after the checks `load` makes (splits a mapping, split names words, input_rows integers)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("splits"), dict):
            raise PrefbuildError(f"{where} is not a prefbuild stats file: it has no 'splits' mapping.")
        for split, facts in raw["splits"].items():
            if not _SPLIT_NAME.fullmatch(split):
                raise PrefbuildError(f"{where} lists a split named {split!r}; split names are letters, digits, _.")
            rows = facts.get("input_rows") if isinstance(facts, dict) else None
            if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
                raise PrefbuildError(
                    f"{where}: split '{split}' must be a mapping with an integer 'input_rows', got {facts!r:.60}."
                )
        try:
            return cls.from_json(raw)
        except (TypeError, AttributeError, ValueError) as error:
            raise PrefbuildError(f"{where} does not follow prefbuild's stats schema: {error}.") from None


_HEADER_RECORDS: dict[str, type[_Record]] = {
    "builder": BuilderInfo,
    "source": SourceInfo,
    "mix": MixInfo,
    "decontamination": DecontaminationReport,
    "displacement": DisplacementInfo,
}


def coerce_splits(splits: Mapping[str, SplitStats | Mapping[str, Any]]) -> dict[str, SplitStats]:
    return {
        name: facts if isinstance(facts, SplitStats) else SplitStats.from_json(facts) for name, facts in splits.items()
    }


# ---------------------------------------------------------------------------------------------- edit distances

STATISTICS_ROWS = 50_000  # pairs whose texts are held as Python strings at once while distances are computed


def _completion_texts(column: pa.ChunkedArray | pa.Array) -> list[str]:
    from prefbuild.stats import completion_text

    values = column.to_pylist()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return values
    return [completion_text(value) for value in values]


def add_edit_distances(table: pa.Table, tokenizer: Any = None) -> pa.Table:
    """`table` with `edit_distance_char` / `edit_distance_word` appended when missing, and with a tokenizer
    `edit_distance_token` / `first_diff_token`; conversational completions are compared as their text.

    Distances are per pair, so they are computed STATISTICS_ROWS pairs at a time: the same values while only one
    slice of the texts is held as Python strings (all 391,745 MetaMath pairs at once: ~1 GB).
    """
    from prefbuild import stats

    if "edit_distance_char" not in table.column_names or "edit_distance_word" not in table.column_names:
        char_parts, word_parts = [np.zeros(0, dtype=np.float64)], [np.zeros(0, dtype=np.float64)]
        for start in range(0, table.num_rows, STATISTICS_ROWS):
            part = table.slice(start, STATISTICS_ROWS)
            chosen, rejected = _completion_texts(part.column("chosen")), _completion_texts(part.column("rejected"))
            char_parts.append(stats.normalised_levenshtein(chosen, rejected))
            word_parts.append(stats.word_levenshtein(chosen, rejected))
            del chosen, rejected
        for level, parts in (("char", char_parts), ("word", word_parts)):
            name = DISTANCE_COLUMN.format(level)
            if name not in table.column_names:
                table = table.append_column(name, pa.array(np.concatenate(parts), pa.float64()))
    if tokenizer is not None and "edit_distance_token" not in table.column_names:
        chosen, rejected = _completion_texts(table.column("chosen")), _completion_texts(table.column("rejected"))
        token, first = stats.token_statistics(chosen, rejected, tokenizer)
        table = table.append_column("edit_distance_token", pa.array(token, pa.float64()))
        table = table.append_column(FIRST_DIFF_COLUMN, pa.array(first, pa.int64()))
    return table


def summarise_distances(table: pa.Table) -> tuple[dict[str, DistanceSummary], DistanceSummary | None]:
    """Summaries of a table's per-pair distance columns: {level: summary} and the first differing token's."""
    summaries = {}
    for level in LEVELS:
        name = DISTANCE_COLUMN.format(level)
        if name in table.column_names:
            summaries[level] = DistanceSummary.of(table.column(name).to_numpy())
    first = None
    if FIRST_DIFF_COLUMN in table.column_names:
        first = DistanceSummary.of(table.column(FIRST_DIFF_COLUMN).to_numpy().astype(np.float64), unit_interval=False)
    return summaries, first


# ---------------------------------------------------------------------------------------------- writing


@dataclass
class CardSpec:
    """How `write_pairs_folder` renders README.md.

    template: the card template, data_cards/<template>.md.  metadata: the card's YAML (`configs` and
    `dataset_info` are filled in once the shards exist).  context: the template's variables besides `shards`
    (`stats` is stats.json as a dict).  plot_title: the histogram's title ("" for the default).
    kept: instead of a template, an existing card's text whose YAML `dataset_info` is refreshed (a folder that
    no template can redraw).
    """

    template: str | None = None
    metadata: DatasetCardData | None = None
    context: dict[str, Any] = field(default_factory=dict)
    plot_title: str = ""
    kept: str | None = None


CardFactory = Callable[["FolderStats", "dict[str, pa.Table]"], CardSpec]


def features_yaml(table: pa.Table) -> list[dict[str, Any]]:
    """The `dataset_info.features` YAML list of a table's schema (as `datasets` writes it)."""
    from prefbuild.compat import features_to_yaml_list

    return features_to_yaml_list(table.schema)


def render_folder_card(
    spec: CardSpec,
    stats: FolderStats,
    tables: dict[str, pa.Table],
    folder: Path,
    shards: dict[str, list[str]],
    plot: bool = True,
) -> str:
    """README.md's text for a folder whose shards are written at `folder`; the contamination and displacement
    sections are added (`plot`: the folder has its figures)."""
    from prefbuild import cards
    from prefbuild.decontaminate import insert_card_section
    from prefbuild.displacement.scores import insert_card_section as insert_displacement_section

    features = features_yaml(next(iter(tables.values())))
    if spec.kept is not None:
        if not spec.kept.startswith("---\n"):
            text = spec.kept
        else:
            from huggingface_hub import DatasetCard

            card = DatasetCard(spec.kept)
            card.data.dataset_info = cards.dataset_info_metadata(folder, shards, features)
            text = str(card)
    else:
        metadata = spec.metadata
        metadata.configs = cards.configs_metadata(shards)
        metadata.dataset_info = cards.dataset_info_metadata(folder, shards, features)
        text = cards.render_card(spec.template, metadata, {**spec.context, "shards": shards})
    return insert_displacement_section(insert_card_section(text, stats), stats, plot)


def summarise_tables(tables: dict[str, pa.Table], header: FolderStats, tokenizer: Any = None) -> dict[str, pa.Table]:
    """Add the distance columns each table lacks and set `header.splits[s]`'s pairs, distance summaries and (for a
    split that counts them) pairs per tier from the tables."""
    result = {}
    for split, table in tables.items():
        table = add_edit_distances(table, tokenizer)
        facts = header.splits.setdefault(split, SplitStats(input_rows=table.num_rows))
        facts.pairs = table.num_rows
        facts.edit_distance, first = summarise_distances(table)
        if first is not None:
            facts.first_diff_token = first
        if facts.tiers is not None and "tier" in table.column_names:  # pairs per tier, after any --drop
            tiers = pc.value_counts(table.column("tier")).to_pylist()
            facts.tiers = dict(sorted((item["values"], item["counts"]) for item in tiers))
        result[split] = table
    from prefbuild.displacement.scores import summarise_score_columns

    summarise_score_columns(result, header)  # per-pair CHES columns (`prefbuild stats --model --out`), if any
    return result


def write_pairs_folder(
    out: str | Path,
    tables: dict[str, pa.Table],
    header: FolderStats,
    *,
    card: CardSpec | CardFactory,
    plot: bool = True,
    overwrite: bool = False,
    tokenizer: Any = None,
) -> FolderStats:
    """Write a Hub-ready folder: shards per split, stats.json, README.md and (with `plot`) edit_distance.png.

    header: stats.json without the distance summaries: the producer's facts and, per split, its counts (input
    rows, skips, drops, tiers, groups, a mixture's sources). The per-pair distance columns are added to the
    tables that lack them, each split's `pairs` and `edit_distance` (and `first_diff_token`) are set from the
    tables, then `card` (a CardSpec, or a function of the finished stats and tables returning one) renders the card.
    Everything is written into a temporary sibling and renamed into place (prefbuild/output.py). Returns the
    stats written (`header`, completed).
    """
    from prefbuild import stats as statistics
    from prefbuild.output import write_output_folder

    if not tables:
        raise PrefbuildError("Nothing to write: no split has rows.")
    tables = summarise_tables(tables, header, tokenizer)
    spec = card(header, tables) if callable(card) else card

    def render(folder: Path, shards: dict[str, list[str]]) -> str:
        return render_folder_card(spec, header, tables, folder, shards, plot)

    extra = {"edit_distance.png": lambda path: statistics.plot_histograms(header, str(path), spec.plot_title)}
    from prefbuild.displacement import scores

    if scores.has_scores(header):
        extra[scores.FIGURE] = lambda path: scores.plot_scores(header, str(path))
    write_output_folder(out, tables, header, render, overwrite=overwrite, extra_files=extra if plot else None)
    return header


# ---------------------------------------------------------------------------------------------- reading


def is_pairs_folder(path: str | Path) -> bool:
    """Whether `path` is a folder with a stats.json (written by `prefbuild build`, `mix` or `decontaminate`)."""
    return (Path(path).expanduser() / STATS_FILE).is_file()


def read_tables(
    folder: str | Path, stats: FolderStats, columns: list[str] | None = None, splits: list[str] | None = None
) -> dict[str, pa.Table]:
    """The shards of each split stats.json lists, as Arrow tables (`columns`: only these; `[]` opens each shard
    without reading data). PrefbuildError when a split has no shards or a shard does not open."""
    from prefbuild.output import PAIR_TEXT_COLUMNS, check_pair_columns

    folder = Path(folder)
    tables = {}
    for split in splits if splits is not None else list(stats.splits):
        paths = sorted((folder / "data").glob(f"{split}-*.parquet"))
        if not paths:
            raise PrefbuildError(
                f"'{folder}' has no data/{split}-*.parquet shards although stats.json lists '{split}'."
            )
        try:
            tables[split] = pa.concat_tables(pq.read_table(path, columns=columns) for path in paths)
        except (pa.ArrowInvalid, OSError) as error:
            raise PrefbuildError(f"Cannot read the '{split}' shards of '{folder}': {error}") from None
        if columns is None or set(columns) & set(PAIR_TEXT_COLUMNS):
            check_pair_columns(tables[split], f"'{folder}' split '{split}'")
    return tables


class PairsFolder:
    """A pairs dataset opened by `open_pairs`: a prefbuild folder (with `stats`) or a Hub dataset (stats None).

    splits: split names.  table(split): the split as an Arrow table (pairs and every other column).
    dataset(split): the split as a `datasets.Dataset`.  datasets(): all splits as a `DatasetDict`.
    `limit` (from open_pairs) keeps the first rows of each split.
    """

    def __init__(
        self,
        name: str,
        path: Path | None,
        stats: FolderStats | None,
        *,
        limit: int | None = None,
        hub: datasets.DatasetDict | None = None,
        flag: str = "--data",
    ):
        self.name = name
        self.path = path
        self.stats = stats
        self.limit = limit
        self.flag = flag
        self._hub = hub
        self._tables: dict[str, pa.Table] = {}
        self._datasets: datasets.DatasetDict | None = None

    def __repr__(self) -> str:
        return f"PairsFolder({self.name!r}, splits={self.splits})"

    @property
    def splits(self) -> list[str]:
        if self.stats is not None:
            return list(self.stats.splits)
        return list(self._hub or {})

    def check_split(self, split: str) -> str:
        if split not in self.splits:
            raise PrefbuildError(
                f"--split '{split}' is not in '{self.name}'; its splits are: {', '.join(self.splits)}."
            )
        return split

    def table(self, split: str, columns: list[str] | None = None) -> pa.Table:
        """The split's rows as an Arrow table (at most `limit` rows)."""
        self.check_split(split)
        if self.path is None:
            from prefbuild.compat import dataset_table

            table = dataset_table(self._hub[split])
        else:
            key = f"{split}:{columns}"
            if key not in self._tables:
                self._tables[key] = read_tables(self.path, self.stats, columns=columns, splits=[split])[split]
            table = self._tables[key]
        if columns is not None and self.path is None:
            table = table.select(columns)
        return table if self.limit is None else table.slice(0, self.limit)

    def tables(self, columns: list[str] | None = None) -> dict[str, pa.Table]:
        return {split: self.table(split, columns) for split in self.splits}

    def datasets(self) -> datasets.DatasetDict:
        """Every split as a `datasets.DatasetDict`; a folder's shards are loaded by explicit path (never a stale
        cache entry of another folder with the same name)."""
        if self._datasets is None:
            if self.path is None:
                self._datasets = self._hub
            else:
                from prefbuild.output import load_output_folder

                self._datasets = load_output_folder(self.path)
            if self.limit is not None:
                import datasets as hf_datasets

                self._datasets = hf_datasets.DatasetDict(
                    {name: split.select(range(min(self.limit, len(split)))) for name, split in self._datasets.items()}
                )
        return self._datasets

    def dataset(self, split: str) -> datasets.Dataset:
        """One split as a `datasets.Dataset` (at most `limit` rows)."""
        self.check_split(split)
        return self.datasets()[split]


def open_pairs(
    name_or_path: str | Path,
    split: str | None = None,
    limit: int | None = None,
    *,
    flag: str = "--data",
    config: str | None = None,
    hub: bool = True,
) -> PairsFolder:
    """Open a pairs dataset: a folder written by `prefbuild build` / `mix` / `decontaminate`, or a Hub dataset id.

    split: check that this split exists (PrefbuildError listing the splits otherwise).  limit: keep the first
    `limit` rows of each split.  flag: how error messages name the argument (`--data`, `dataset_name`).
    config: the Hub dataset's config. A folder is read from its shards; a Hub id goes through `datasets`.
    hub: False for verbs that need a prefbuild folder (its stats.json): anything else is an error naming it.
    """
    name = str(name_or_path)
    if limit is not None and limit < 1:
        raise PrefbuildError(f"--limit must be >= 1, got {limit}.")
    path = Path(name).expanduser()
    if not hub or (path.is_dir() and is_pairs_folder(path)):
        pairs = PairsFolder(name, path, FolderStats.load(path), limit=limit, flag=flag)
    elif path.is_dir():
        pairs = PairsFolder(name, None, None, limit=limit, hub=_load_local(path, name, flag), flag=flag)
    elif path.exists():
        raise PrefbuildError(f"{flag} '{name}' is a file; expected a folder written by `prefbuild build`.")
    else:
        pairs = PairsFolder(name, None, None, limit=limit, hub=_load_hub(name, flag, config), flag=flag)
    if split is not None:
        pairs.check_split(split)
    return pairs


def _load_local(path: Path, name: str, flag: str) -> datasets.DatasetDict:
    """A folder without stats.json (parquet shards from elsewhere): its shards by path."""
    from prefbuild.output import load_output_folder

    return load_output_folder(path)


def _load_hub(name: str, flag: str, config: str | None) -> datasets.DatasetDict:
    import datasets as hf_datasets

    from prefbuild.hub_access import hub_access

    try:
        with hub_access("dataset", name, f"Pass {flag} a folder written by `prefbuild build`"):
            dataset = hf_datasets.load_dataset(name, name=config)
    except PrefbuildError:
        raise
    except Exception as error:  # noqa: BLE001 - offline, missing repo, bad schema all surface here
        raise PrefbuildError(f"Could not load dataset '{name}': {error}") from error
    if not isinstance(dataset, hf_datasets.DatasetDict):
        raise PrefbuildError(f"Dataset '{name}' has no named splits; expected 'train' and 'eval'.")
    return dataset
