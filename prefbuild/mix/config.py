"""A mixture recipe (recipes/mix/<name>.yaml) as validated dataclasses.

The keys a recipe may use are the dataclasses' init fields (`dataclasses.fields`), so the YAML, the Python API
and the error messages cannot drift apart. Every error is one line naming the entry, the key, the value and the
fix: "Mixture entry 3 ('orca'): `fraction` 1.5 is not a fraction in (0, 1]. ...".

How many rows an entry gives is explicit: `fraction: 0.5` (half of the usable rows) or `rows: 6` (six rows);
`eval_fraction` / `eval_rows` do the same for eval, which otherwise follows the rate train got. The old
`weight` / `eval_weight` (a float is a fraction, an int a row count, so 1.0 is every row and 1 is one row) are
still read, with a deprecation warning naming the new spelling.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import MISSING, InitVar, dataclass, field, fields
from pathlib import Path
from typing import Any

from prefbuild import safe_yaml
from prefbuild.builders import orca, truthy, ultrafeedback
from prefbuild.builders.base import Builder
from prefbuild.errors import PrefbuildError
from prefbuild.formats import FORMATS

logger = logging.getLogger(__name__)

MIX_SPLITS = ("train", "eval")
PAIRS_SCHEMA = "pairs"  # any dataset with prompt / chosen / rejected columns
PREFBUILD_SCHEMA = "prefbuild"  # a folder written by `prefbuild build` (detected by its stats.json)
NOT_SELECTED = "not_selected"  # a usable row the entry's share left out of the mixture
# Existing preference sets a mixture reads by Hub id (or a local copy with `schema: <Hub id>`): their builders
THIRD_PARTY: dict[str, Builder] = {
    builder.default_source: builder for builder in (orca.BUILDER, truthy.BUILDER, ultrafeedback.BUILDER)
}
SCHEMAS = (*THIRD_PARTY, PAIRS_SCHEMA, PREFBUILD_SCHEMA)


def entry_label(position: int | None, name: Any) -> str:
    """How errors name an entry: "Mixture entry 3 ('orca')" (1-based position in the recipe)."""
    where = "Mixture entry" + (f" {position}" if position is not None else "")
    if isinstance(name, str) and name:
        return f"{where} ('{name}')" if position is not None else f"{where} '{name}'"
    return where


def _fraction(label: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PrefbuildError(f"{label}: `{key}` must be a fraction in (0, 1], got {value!r}. Use `rows` for a count.")
    if not 0 < value <= 1:
        raise PrefbuildError(
            f"{label}: `{key}` {value} is not a fraction in (0, 1]. Use 1.0 for every row, or `rows` for a count."
        )
    return float(value)


def _rows(label: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PrefbuildError(f"{label}: `{key}` must be a row count >= 1, got {value!r}. Use `fraction` for a share.")
    if value < 1:
        raise PrefbuildError(f"{label}: `{key}` {value} must be >= 1 (a row count). Use `fraction` for a share.")
    return value


def check_weight(label: str, key: str, value: Any) -> float | int:
    """The deprecated `weight`: a fraction in (0, 1] (float) or a row count >= 1 (int)."""
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


@dataclass
class MixEntry:
    """One source of a mixture.

    name (`str`): provenance label, written to the `source` column (unique within the mixture).
    source (`str`): a folder written by `prefbuild build`, a Hub id, or a local copy of a third-party set.
    schema (`str`, *optional*): how to read it: a Hub id from `THIRD_PARTY`, `pairs`, or `prefbuild`; inferred
        when omitted.
    fraction (`float`, *optional*, defaults to `1.0` when neither it nor `rows` is set): share of the usable
        train rows, in (0, 1].
    rows (`int`, *optional*): number of train rows, >= 1 (at most the usable ones).
    eval_fraction / eval_rows (*optional*): the same for eval; by default eval follows the rate train got.
    weight / eval_weight (*optional*, deprecated): the old spelling, a float is a fraction and an int a count.
    """

    name: str = field(metadata={"help": "provenance label, written to the `source` column"})
    source: str = field(metadata={"help": "a prefbuild folder, a Hub id, or a local copy of a third-party set"})
    schema: str | None = field(default=None, metadata={"help": f"one of {', '.join(SCHEMAS)}; inferred if omitted"})
    fraction: float | None = field(default=None, metadata={"help": "share of the usable train rows, in (0, 1]"})
    rows: int | None = field(default=None, metadata={"help": "number of train rows, >= 1"})
    eval_fraction: float | None = field(default=None, metadata={"help": "share of the usable eval rows"})
    eval_rows: int | None = field(default=None, metadata={"help": "number of eval rows"})
    weight: float | int | None = field(default=None, metadata={"help": "deprecated: use fraction or rows"})
    eval_weight: float | int | None = field(default=None, metadata={"help": "deprecated: eval_fraction/eval_rows"})
    position: InitVar[int | None] = None  # 1-based place in the recipe, for error messages only

    def __post_init__(self, position: int | None) -> None:
        label = entry_label(position, self.name)
        for key in ("name", "source"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise PrefbuildError(f"{label}: `{key}` is missing.")
        if self.schema is not None and self.schema not in SCHEMAS:
            close = difflib.get_close_matches(str(self.schema), SCHEMAS, n=1, cutoff=0.5)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise PrefbuildError(f"{label}: unknown `schema` '{self.schema}'.{hint} Available: {', '.join(SCHEMAS)}.")
        self.fraction, self.rows = self._share(label, "", self.fraction, self.rows, self.weight)
        if self.fraction is None and self.rows is None:
            self.fraction = 1.0
        self.eval_fraction, self.eval_rows = self._share(
            label, "eval_", self.eval_fraction, self.eval_rows, self.eval_weight
        )

    @staticmethod
    def _share(label: str, prefix: str, fraction: Any, rows: Any, weight: Any) -> tuple[float | None, int | None]:
        given = [f"`{prefix}{key}`" for key, value in (("fraction", fraction), ("rows", rows)) if value is not None]
        if weight is not None:
            given.append(f"`{prefix}weight`")
        if len(given) > 1:
            raise PrefbuildError(
                f"{label}: {' and '.join(given)} are both set; give one: `{prefix}fraction` (a share of the rows) "
                f"or `{prefix}rows` (a count)."
            )
        if weight is not None:
            weight = check_weight(label, f"{prefix}weight", weight)
            new = f"{prefix}rows: {weight}" if isinstance(weight, int) else f"{prefix}fraction: {weight}"
            logger.warning(
                "%s: `%sweight: %s` is deprecated; write `%s` (`%sfraction` is a share of the rows, `%srows` a count).",
                label,
                prefix,
                weight,
                new,
                prefix,
                prefix,
            )
            return (None, weight) if isinstance(weight, int) else (weight, None)
        if fraction is not None:
            return _fraction(label, f"{prefix}fraction", fraction), None
        if rows is not None:
            return None, _rows(label, f"{prefix}rows", rows)
        return None, None

    @property
    def share(self) -> float | int:
        """The train share as one value: a float fraction or an int row count (what stats.json records)."""
        return self.rows if self.rows is not None else self.fraction

    @property
    def eval_share(self) -> float | int | None:
        """The eval share (float fraction or int count), or None when eval follows the train rate."""
        return self.eval_rows if self.eval_rows is not None else self.eval_fraction

    def share_key(self, split: str) -> str:
        """The key the recipe used for a split's share, for messages: `rows`, `weight`, `eval_fraction` ..."""
        prefix = "" if split == "train" else "eval_"
        if getattr(self, f"{prefix}weight") is not None:
            return f"{prefix}weight"
        return f"{prefix}rows" if getattr(self, f"{prefix}rows") is not None else f"{prefix}fraction"

    @property
    def deprecated_spelling(self) -> bool:
        return self.weight is not None or self.eval_weight is not None


@dataclass
class MixConfig:
    """A mixture recipe (recipes/mix/<name>.yaml).

    name (`str`): the mixture's name.
    sources (`list[MixEntry]`): the entries, in the order the card lists them.
    pretty_name (`str`, *optional*): the card's title (default: "<name> preference mixture").
    seed (`int`, *optional*, defaults to `0`): seeds sampling and shuffling.
    format (`str`, *optional*, defaults to `"standard"`): `standard` or `conversational`.
    system_prompt (`str`, *optional*): system message for conversational rows that carry none of their own.
    """

    name: str = field(metadata={"help": "the mixture's name"})
    sources: list[MixEntry] = field(metadata={"help": "the entries, in the order the card lists them"})
    pretty_name: str | None = field(default=None, metadata={"help": "the card's title"})
    seed: int = field(default=0, metadata={"help": "seeds sampling and shuffling"})
    format: str = field(default="standard", metadata={"help": "standard or conversational"})
    system_prompt: str | None = field(default=None, metadata={"help": "system message for conversational rows"})


def init_keys(cls: type) -> list[str]:
    """The keys a recipe may use for `cls`: its init fields, in declaration order."""
    return [item.name for item in fields(cls) if item.init]


def required_keys(cls: type) -> list[str]:
    return [item.name for item in fields(cls) if item.init and item.default is MISSING]


def _unknown_keys(where: str, raw: dict[str, Any], cls: type) -> None:
    unknown = sorted(set(raw) - set(init_keys(cls)))
    if unknown:
        raise PrefbuildError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}. Allowed: {', '.join(sorted(init_keys(cls)))}."
        )


def parse_entry(position: int, item: Any) -> MixEntry:
    """One `sources:` item (1-based `position`) into a MixEntry; errors name the entry."""
    label = entry_label(position, item.get("name") if isinstance(item, dict) else None)
    if not isinstance(item, dict):
        raise PrefbuildError(f"{label}: expected a mapping with `name`, `source` and `fraction`, got {item!r}.")
    _unknown_keys(label, item, MixEntry)
    for key in required_keys(MixEntry):
        if key not in item:
            raise PrefbuildError(f"{label}: `{key}` is missing.")
    return MixEntry(**item, position=position)


def parse_config(raw: Any, where: str = "mixture config") -> MixConfig:
    """Validate a loaded YAML mapping into a MixConfig; every error names the entry and the key."""
    if not isinstance(raw, dict):
        raise PrefbuildError(f"{where} must be a YAML mapping with `name` and `sources`.")
    _unknown_keys(where, raw, MixConfig)
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
    for position, item in enumerate(sources, start=1):
        entry = parse_entry(position, item)
        if entry.name in names:
            raise PrefbuildError(
                f"{entry_label(position, entry.name)}: the name '{entry.name}' is used twice; names label the "
                "`source` column."
            )
        names.add(entry.name)
        entries.append(entry)
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
