"""Benchmark contamination of preference data: n-gram overlap with the documents models are scored on.

The method is GPT-3's and lm-evaluation-harness's (`lm_eval/decontamination/janitor.py`): lower-case ASCII
letters, delete ASCII punctuation, split on whitespace, and call a text contaminated by a benchmark when it shares
one word 13-gram with any of the benchmark's documents. One deviation: GSM8K's calculator annotations
(`<<48/2=24>>`) are removed first, on both sides, since deleting their punctuation would glue numbers together
(`48/2=24` → `48224`) and hide overlaps between annotated and plain copies of one solution.

A pair overlaps a benchmark when its prompt, chosen or rejected text does. Speed (the 395k-pair MetaMath build
against four benchmarks in seconds, see BENCHMARKS.md) comes from doing the per-word work in Arrow and NumPy:
identical texts are checked once; words are mapped to ids of the benchmarks' vocabulary (a word the benchmarks
never use cannot be part of a shared 13-gram, so it breaks the window); each window of 13 ids is hashed to 64
bits and looked up through a bitmap, then a sorted array. Examples in the report are re-checked exactly in Python.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefbuild import cards
from prefbuild.errors import PrefbuildError, unknown_name_error
from prefbuild.folder import (
    CardSpec,
    DecontaminationReport,
    DistanceSummary,
    FolderStats,
    SplitStats,
    coerce_splits,
)

DEFAULT_NGRAM = 13
DROP_REASON = "benchmark_overlap"
EMPTY_WORD = -2  # id of the "" word Arrow's split leaves for leading / trailing whitespace (unknown words are -1)
EXAMPLES_PER_BENCHMARK = 3
EXAMPLE_CHARS = 300
_ANNOTATION = r"<<[^<>]*>>"
_PUNCTUATION = "[" + re.escape(string.punctuation) + "]"
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so every id lands on a distinct residue
_BITMAP_BITS = 26  # 64 MiB of flags: ~2% of windows pass it for 1.7M benchmark 13-grams (2^24 let 10% through: slower)
_CHUNK_WORDS = 4_000_000  # words hashed at a time (bounds memory: ~6 arrays of 8 bytes per word)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's scored documents: Hub id, configs, the split models are scored on, the text fields."""

    name: str
    hub_id: str
    configs: tuple[str | None, ...]
    split: str
    fields: tuple[str, ...]  # each field is a document; "a.b" reaches into a nested field
    label: str
    continuations: str | None = None  # multiple choice: also "first field + each of these" (what gets scored)


# The test sets of the paper's benchmarks (HellaSwag is scored on validation: its test labels are hidden).
BENCHMARKS = {
    "gsm8k": Benchmark("gsm8k", "openai/gsm8k", ("main",), "test", ("question", "answer"), "GSM8K test"),
    "math": Benchmark(
        "math",
        "EleutherAI/hendrycks_math",
        (
            "algebra",
            "counting_and_probability",
            "geometry",
            "intermediate_algebra",
            "number_theory",
            "prealgebra",
            "precalculus",
        ),
        "test",
        ("problem", "solution"),
        "MATH test",
    ),
    "arc_challenge": Benchmark(
        "arc_challenge",
        "allenai/ai2_arc",
        ("ARC-Challenge",),
        "test",
        ("question", "choices.text"),
        "ARC-Challenge test",
    ),
    "hellaswag": Benchmark(
        "hellaswag", "Rowan/hellaswag", (None,), "validation", ("ctx",), "HellaSwag validation", "endings"
    ),
}

# Builders whose own `eval` split is the split a benchmark is scored on (arc's `eval` is ARC validation: not scored).
BENCHMARK_EVAL_SPLITS = {
    "gsm8k": "GSM8K test (openai/gsm8k, split `test`)",
    "hellaswag": "HellaSwag validation (Rowan/hellaswag, split `validation`, what lm-eval scores)",
}


def benchmark_splits(builder: str) -> dict[str, str]:
    """Output splits of a build that *are* a benchmark's scored split: {"eval": "GSM8K test (...)"}, else {}."""
    label = BENCHMARK_EVAL_SPLITS.get(builder)
    return {"eval": label} if label else {}


# ---------------------------------------------------------------------------------------------- normalisation


def normalise_text(text: str) -> list[str]:
    """The words one text is compared on (Python twin of `_normalised_word_lists`, used for examples)."""
    text = re.sub(_ANNOTATION, "", text)
    text = text.translate(_PY_TABLE)
    return text.split()


_PY_TABLE = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, string.punctuation)


# What str.split() splits on besides ASCII spaces; turned into spaces so Arrow's (2x faster) ASCII split matches it
_UNICODE_SPACE = (
    "[\\x{1c}-\\x{1f}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"
)


def _normalised_word_lists(texts: pa.Array) -> pa.ListArray:
    """Arrow twin of `normalise_text`: annotations and punctuation deleted (one regex pass), ASCII lower-cased,
    split on whitespace as str.split() does."""
    texts = pc.replace_substring_regex(texts, f"{_ANNOTATION}|{_PUNCTUATION}", "")
    texts = pc.ascii_lower(texts)
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(texts), True))
    if pc.any(non_ascii).as_py():
        spaced = pc.replace_substring_regex(pc.filter(texts, non_ascii), _UNICODE_SPACE, " ")
        texts = pc.replace_with_mask(texts, non_ascii, spaced)
    # Leading or trailing whitespace gives an empty first or last word (str.split() drops it): "" is kept out of
    # the vocabulary, so it breaks no window of real words, and `junctions` skips it.
    return pc.ascii_split_whitespace(texts)


def _vocabulary_ids(words: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """Each word's position in the benchmarks' vocabulary, -1 for words the benchmarks never use."""
    ids = pc.fill_null(pc.index_in(words, value_set=vocabulary), -1)
    return ids.to_numpy(zero_copy_only=False).astype(np.int64)


def _window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """64-bit polynomial hash of every window of `n` consecutive ids (wrapping uint64 arithmetic).

    Built from hashes of 4-id blocks, so a 13-gram costs 4 + 4 passes over the array instead of 13.
    """
    count = ids.size - n + 1
    values = ids.astype(np.uint64)
    values += np.uint64(1)  # -1 (unknown word) wraps to 0; such windows are discarded anyway
    blocks = n // 4
    with np.errstate(over="ignore"):
        if blocks:
            block_count = ids.size - 3
            quads = values[:block_count].copy()
            for k in range(1, 4):
                quads *= _HASH_BASE
                quads += values[k : k + block_count]
            shift = _HASH_BASE**4
            hashes = quads[:count].copy()
            for block in range(1, blocks):
                hashes *= shift
                hashes += quads[4 * block : 4 * block + count]
        else:
            hashes = np.zeros(count, dtype=np.uint64)
        for k in range(4 * blocks, n):
            hashes *= _HASH_BASE
            hashes += values[k : k + count]
    return hashes


def starts_empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is several times slower on uint64)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def _valid_windows(ids: np.ndarray, offsets: np.ndarray, n: int, starts: np.ndarray | None = None) -> np.ndarray:
    """Whether the windows of `n` ids starting at `starts` (default: every start) lie inside one text (offsets
    delimit texts) and hold no out-of-vocabulary word (id < 0)."""
    if starts is None:
        starts = np.arange(ids.size - n + 1)
    bad = np.concatenate([[0], np.cumsum(ids < 0)])
    clean = bad[starts + n] - bad[starts] == 0
    text_end = offsets[np.searchsorted(offsets, starts, side="right")]
    return clean & (starts + n <= text_end)


# ---------------------------------------------------------------------------------------------- benchmark index


@dataclass
class BenchmarkIndex:
    """Every n-gram of the benchmark documents, hashed; which benchmarks hold each; the shared vocabulary."""

    ngram: int
    names: list[str]
    labels: dict[str, str]
    sources: dict[str, str]
    documents: dict[str, list[str]]
    vocabulary: pa.Array
    hashes: np.ndarray  # sorted unique uint64
    masks: np.ndarray  # uint32 bit b set: benchmark names[b] holds the n-gram
    bitmap: np.ndarray
    ngram_counts: dict[str, int] = field(default_factory=dict)
    _exact: dict[str, dict[tuple[str, ...], int]] = field(default_factory=dict)

    def exact_match(self, name: str, words: list[str]) -> tuple[str, str] | None:
        """The first shared n-gram between `words` and benchmark `name`, and the benchmark document holding it."""
        n = self.ngram
        if name not in self._exact:
            table: dict[tuple[str, ...], int] = {}
            for index, document in enumerate(self.documents[name]):
                doc_words = normalise_text(document)
                for start in range(len(doc_words) - n + 1):
                    table.setdefault(tuple(doc_words[start : start + n]), index)
            self._exact[name] = table
        table = self._exact[name]
        for start in range(len(words) - n + 1):
            gram = tuple(words[start : start + n])
            if gram in table:
                return " ".join(gram), self.documents[name][table[gram]]
        return None


def _nested(value: Any, path: list[str]) -> list[str]:
    if path:
        value = value.get(path[0]) if isinstance(value, dict) else None
        return _nested(value, path[1:]) if value is not None else []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for element in value for item in _nested(element, [])]
    return []


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _all_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _all_strings(item)]
    return []


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a local benchmark file: `.parquet`, `.json` (a list or one object) or JSON lines."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _split_files(folder: Path, split: str) -> list[Path]:
    files = []
    for pattern in (f"{split}.jsonl", f"{split}.json", f"{split}.parquet", f"{split}-*.parquet"):
        files += sorted(folder.rglob(pattern))
    return files


def load_benchmark_documents(name: str, data_dir: str | Path | None = None) -> tuple[list[str], str, str]:
    """(documents, label, where they came from) for a benchmark name or a local file."""
    path = Path(name).expanduser()
    if name not in BENCHMARKS and path.is_file():
        if path.suffix == ".txt":
            documents = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif path.suffix in (".jsonl", ".json", ".parquet"):
            try:
                documents = [text for row in read_rows(path) for text in _all_strings(row)]
            except (json.JSONDecodeError, UnicodeDecodeError, OSError, pa.ArrowInvalid) as error:
                raise PrefbuildError(f"--benchmarks file '{name}' does not read: {error}") from None
        else:
            raise PrefbuildError(f"--benchmarks file '{name}' must be .jsonl, .json, .parquet or .txt.")
        return documents, path.name, str(path)
    if name not in BENCHMARKS:
        raise unknown_name_error("benchmark", name, [*BENCHMARKS, "or a local .jsonl/.json/.parquet/.txt file"])
    benchmark = BENCHMARKS[name]
    if data_dir is not None:
        folder = Path(data_dir).expanduser() / name
        files = _split_files(folder, benchmark.split) if folder.is_dir() else []
        if not files:
            raise PrefbuildError(
                f"--data-dir has no {benchmark.label} for '{name}': expected {folder}/{benchmark.split}.jsonl (or "
                f".parquet) in the Hub schema of {benchmark.hub_id}."
            )
        rows = [row for file in files for row in read_rows(file)]
        where = str(folder)
    else:
        rows = _hub_rows(benchmark)
        where = f"{benchmark.hub_id} ({benchmark.split})"
    documents = [text for row in rows for text in benchmark_documents(benchmark, row)]
    if not documents:
        raise PrefbuildError(f"{benchmark.label} from {where} has none of the fields {', '.join(benchmark.fields)}.")
    return documents, benchmark.label, where


def benchmark_documents(benchmark: Benchmark, row: dict[str, Any]) -> list[str]:
    """A row's documents: each text field, and for multiple choice the context followed by each choice (the text
    a model scores), so an n-gram that runs from a HellaSwag context into its ending is found."""
    documents = [text for key in benchmark.fields for text in _nested(row, key.split("."))]
    if benchmark.continuations and documents:
        context = documents[0]
        documents += [f"{context} {choice}" for choice in _nested(row, benchmark.continuations.split("."))]
    return documents


def _hub_rows(benchmark: Benchmark) -> list[dict[str, Any]]:
    import datasets

    rows: list[dict[str, Any]] = []
    for config in benchmark.configs:
        try:
            rows += datasets.load_dataset(benchmark.hub_id, config, split=benchmark.split).to_list()
        except Exception as error:  # noqa: BLE001 - offline, gated or renamed datasets raise many types
            raise PrefbuildError(
                f"Could not load {benchmark.label} ({benchmark.hub_id}) from the Hub: {str(error).splitlines()[0]} "
                f"Offline, pass --data-dir DIR with DIR/{benchmark.name}/{benchmark.split}.jsonl."
            ) from None
    return rows


def build_index(names: list[str], data_dir: str | Path | None = None, ngram: int = DEFAULT_NGRAM) -> BenchmarkIndex:
    """Load the benchmarks (or local files) and index their n-grams."""
    if ngram < 1:
        raise PrefbuildError(f"--ngram must be >= 1, got {ngram}.")
    if not names:
        raise PrefbuildError("--benchmarks is empty; name at least one of: " + ", ".join(BENCHMARKS) + ".")
    if len(names) > 32:
        raise PrefbuildError(f"At most 32 benchmarks at once, got {len(names)}.")
    loaded = {name: load_benchmark_documents(name, data_dir) for name in names}
    documents = {name: docs for name, (docs, _, _) in loaded.items()}
    word_lists = {name: _normalised_word_lists(pa.array(docs, pa.large_string())) for name, docs in documents.items()}
    vocabulary = pc.unique(pa.chunked_array([pc.list_flatten(lists) for lists in word_lists.values()]))
    vocabulary = pc.filter(vocabulary, pc.not_equal(vocabulary, ""))
    all_hashes, all_masks, counts = [], [], {}
    for bit, name in enumerate(names):
        lists = word_lists[name]
        ids = _vocabulary_ids(pc.list_flatten(lists), vocabulary)
        offsets = np.asarray(lists.offsets.to_numpy(), dtype=np.int64)
        offsets = offsets - offsets[0]
        if ids.size >= ngram:
            hashes = _sorted_unique(_window_hashes(ids, ngram)[_valid_windows(ids, offsets, ngram)])
        else:
            hashes = np.zeros(0, dtype=np.uint64)
        counts[name] = int(hashes.size)
        all_hashes.append(hashes)
        all_masks.append(np.full(hashes.size, 1 << bit, dtype=np.uint32))
    hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, np.uint64)
    masks = np.concatenate(all_masks) if all_masks else np.zeros(0, np.uint32)
    order = np.argsort(hashes)
    hashes, masks = hashes[order], masks[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1]))) if hashes.size else starts_empty()
    unique = hashes[starts]
    merged = np.bitwise_or.reduceat(masks, starts) if unique.size else masks
    bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
    bitmap[(unique >> np.uint64(64 - _BITMAP_BITS)).astype(np.int64)] = True
    return BenchmarkIndex(
        ngram=ngram,
        names=list(names),
        labels={name: label for name, (_, label, _) in loaded.items()},
        sources={name: where for name, (_, _, where) in loaded.items()},
        documents=documents,
        vocabulary=vocabulary,
        hashes=unique,
        masks=merged.astype(np.uint32),
        bitmap=bitmap,
        ngram_counts=counts,
    )


# ---------------------------------------------------------------------------------------------- checking texts


def word_ids(texts: pa.Array, index: BenchmarkIndex) -> tuple[np.ndarray, np.ndarray]:
    """Every text's normalised words as ids in the benchmarks' vocabulary (-1: a word they never use), flat,
    with offsets delimiting the texts."""
    lists = _normalised_word_lists(texts)
    offsets = np.asarray(lists.offsets.to_numpy(), dtype=np.int64)
    offsets = offsets - offsets[0]
    words = pc.list_flatten(lists)
    ids = _vocabulary_ids(words, index.vocabulary).astype(np.int32)
    # The empty word leading / trailing whitespace leaves can only be first or last: mark it -2 (not a word)
    ends = np.unique(np.concatenate([offsets[:-1], offsets[1:] - 1]))
    ends = ends[(ends >= 0) & (ends < ids.size)]
    if ends.size:
        empty = pc.equal(pc.binary_length(pc.take(words, pa.array(ends))), 0).to_numpy(zero_copy_only=False)
        ids[ends[empty]] = EMPTY_WORD
    return ids, offsets


def masks_from_ids(ids: np.ndarray, offsets: np.ndarray, index: BenchmarkIndex) -> np.ndarray:
    """For each text (delimited by offsets), a uint32 bit mask of the benchmarks it shares an n-gram with."""
    n = index.ngram
    count = offsets.size - 1
    result = np.zeros(count, dtype=np.uint32)
    if count == 0 or index.hashes.size == 0:
        return result
    shift = np.uint64(64 - _BITMAP_BITS)
    start = 0
    while start < count:
        # a chunk of whole texts holding about _CHUNK_WORDS words
        stop = max(int(np.searchsorted(offsets, offsets[start] + _CHUNK_WORDS, side="right")) - 1, start + 1)
        chunk_offsets = offsets[start : stop + 1] - offsets[start]
        chunk = ids[offsets[start] : offsets[stop]]
        if chunk.size >= n:
            hashes = _window_hashes(chunk, n)
            candidates = np.flatnonzero(index.bitmap[hashes >> shift])
            if candidates.size:
                candidates = candidates[_valid_windows(chunk, chunk_offsets, n, candidates)]
                found = np.minimum(np.searchsorted(index.hashes, hashes[candidates]), index.hashes.size - 1)
                hit = index.hashes[found] == hashes[candidates]
                positions, masks = candidates[hit], index.masks[found[hit]]
                text_of = start + np.searchsorted(chunk_offsets, positions, side="right") - 1
                for bit in range(len(index.names)):  # one pass per benchmark beats np.bitwise_or.at on many hits
                    flag = np.uint32(1 << bit)
                    result[np.unique(text_of[(masks & flag) != 0])] |= flag
        start = stop
    return result


def text_masks(texts: pa.Array, index: BenchmarkIndex) -> np.ndarray:
    """For each text, a uint32 bit mask of the benchmarks it shares an n-gram with (0: none)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=np.uint32)
    return masks_from_ids(*word_ids(texts, index), index)


def _ragged_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """concatenate(arange(s, s + l) for s, l in zip(starts, lengths)), without a Python loop."""
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))


def junctions(
    ids: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each (left, right) text pair, the last n-1 words of left followed by the first n-1 of right: every
    n-gram that runs from a prompt into its completion lies in there."""
    keep = n - 1
    starts_, ends = offsets[:-1].copy(), offsets[1:].copy()
    # the empty word that leading / trailing whitespace leaves would break every window across the join
    nonempty = ends > starts_
    ends[nonempty] -= ids[ends[nonempty] - 1] == EMPTY_WORD
    nonempty = ends > starts_
    starts_[nonempty] += ids[starts_[nonempty]] == EMPTY_WORD
    left_end, right_start = ends[left], starts_[right]
    left_start = np.maximum(left_end - keep, starts_[left])
    left_length = left_end - left_start
    right_length = np.minimum(ends[right] - right_start, keep)
    starts = np.stack([left_start, right_start], axis=1).ravel()
    lengths = np.stack([left_length, right_length], axis=1).ravel()
    joined = ids[_ragged_positions(starts, lengths)]
    joined_offsets = np.concatenate([[0], np.cumsum(left_length + right_length)])
    return joined, joined_offsets


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """A prompt/chosen/rejected column as one string per pair (conversational messages joined by newlines)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    from prefbuild.stats import completion_text

    return pa.array([completion_text(value or []) for value in column.to_pylist()], pa.large_string())


def pair_masks(table: pa.Table, index: BenchmarkIndex) -> dict[str, np.ndarray]:
    """Each pair's benchmark mask per text: prompt, chosen, rejected, and where the prompt runs into each
    completion ("prompt+chosen", "prompt+rejected"). Identical texts are normalised and checked once."""
    columns = {name: _as_text(table.column(name)) for name in ("prompt", "chosen", "rejected")}
    if len({column.type for column in columns.values()}) > 1:  # one chunked array needs one type
        columns = {name: column.cast(pa.large_string()) for name, column in columns.items()}
    encoded = pc.dictionary_encode(pa.chunked_array(list(columns.values()))).combine_chunks()
    ids, offsets = word_ids(encoded.dictionary, index)
    unique_masks = masks_from_ids(ids, offsets, index)
    which = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    rows = table.num_rows
    result = {name: unique_masks[which[i * rows : (i + 1) * rows]] for i, name in enumerate(columns)}
    prompts = which[:rows]
    for completion, position in (("chosen", 1), ("rejected", 2)):
        joined, joined_offsets = junctions(
            ids, offsets, prompts, which[position * rows : (position + 1) * rows], index.ngram
        )
        result[f"prompt+{completion}"] = masks_from_ids(joined, joined_offsets, index)
    return result


# ---------------------------------------------------------------------------------------------- report and drop


def _excerpt(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " […]"


def check_tables(tables: dict[str, pa.Table], index: BenchmarkIndex) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The report per split and benchmark (counts and examples) and each split's per-pair mask."""
    report_splits: dict[str, Any] = {}
    split_masks: dict[str, np.ndarray] = {}
    for split, table in tables.items():
        by_column = pair_masks(table, index)
        mask = np.bitwise_or.reduce(list(by_column.values())) if table.num_rows else np.zeros(0, np.uint32)
        split_masks[split] = mask
        by_benchmark = {}
        for bit, name in enumerate(index.names):
            flagged = np.flatnonzero(mask & np.uint32(1 << bit))
            examples = []
            for row in flagged[:EXAMPLES_PER_BENCHMARK].tolist():
                for column in by_column:
                    if by_column[column][row] & (1 << bit):
                        parts = [_as_text(table.column(part).slice(row, 1))[0].as_py() for part in column.split("+")]
                        text = "\n".join(parts)
                        match = index.exact_match(name, normalise_text(text))
                        examples.append(
                            {
                                "pair": row,
                                "field": column,
                                "ngram": match[0] if match else None,
                                "text": _excerpt(text),
                                "benchmark_document": _excerpt(match[1]) if match else None,
                            }
                        )
                        break
            by_benchmark[name] = {"pairs": int(flagged.size), "examples": examples}
        report_splits[split] = {
            "checked_pairs": table.num_rows,
            "overlapping_pairs": int(np.count_nonzero(mask)),
            "by_benchmark": by_benchmark,
        }
    return report_splits, split_masks


def _one_pair_per_row(split_stats: SplitStats) -> bool:
    return split_stats.paired_rows == split_stats.pairs


def drop_overlapping(
    table: pa.Table,
    mask: np.ndarray,
    split_stats: SplitStats,
    *,
    reason: str = DROP_REASON,
    group_column: str | None = None,
) -> pa.Table:
    """Remove flagged pairs and account for them so `input_rows = rows paired + rows skipped` still holds.

    A source row all of whose pairs go counts as a skipped row under `reason` (`benchmark_overlap`; `prefbuild
    filter` passes `filtered_<column>`); pairs removed from a row that keeps others count as dropped pairs under the
    same reason. Rows are told apart by their prompt when a split has several pairs per row (ARC, HellaSwag: one
    pair per wrong answer, all with the question's prompt). `split_stats` is updated in place (its tier counts are
    redone from the tables by `write_pairs_folder`), and with `group_column` (a column of the pairs, e.g.
    MetaMathQA's `type`) its `by_<group_column>` counts: pairs, skips, drops and tiers per group.
    """
    flagged = mask != 0
    dropped = int(np.count_nonzero(flagged))
    if not dropped:
        return table
    one_per_row = _one_pair_per_row(split_stats)
    prompts = None
    if not one_per_row:
        prompts = pc.dictionary_encode(_as_text(table.column("prompt"))).indices.to_numpy(zero_copy_only=False)
    kept = table.filter(pa.array(~flagged))
    _count_removed(split_stats, flagged, prompts, reason)
    split_stats.pairs = kept.num_rows
    if group_column is not None and f"by_{group_column}" in split_stats.groups:
        from prefbuild.build import MISSING_GROUP

        # a pair's group as the build counted it (`build._group_value`): an empty value is MISSING_GROUP
        values = table.column(group_column).to_pylist()
        groups = np.array([MISSING_GROUP if value in (None, "") else str(value) for value in values], dtype=object)
        for value, facts in split_stats.groups[f"by_{group_column}"].items():
            inside = groups == value
            _count_removed(facts, flagged & inside, None if prompts is None else np.where(inside, prompts, -1), reason)
            facts.pairs -= int(np.count_nonzero(flagged & inside))
            if facts.tiers is not None and "tier" in kept.column_names:
                facts.tiers = _nonzero(_value_counts(table.filter(pa.array(inside & ~flagged)), "tier", facts.tiers))
    if split_stats.sources is not None and "source" in kept.column_names:  # a mixture's per-source counts
        split_stats.sources = _value_counts(kept, "source", split_stats.sources)
    _resummarise(kept, split_stats)
    return kept


def _count_removed(counts: Any, flagged: np.ndarray, prompts: np.ndarray | None, reason: str) -> None:
    """Add the rows all of whose pairs are flagged to `counts.skipped[reason]`, the other flagged pairs to
    `counts.dropped_pairs[reason]`. `prompts` numbers each pair's source row (None: one pair per row; -1: not
    counted here)."""
    dropped = int(np.count_nonzero(flagged))
    if not dropped:
        return
    if prompts is None:
        rows_removed, pairs_removed = dropped, 0
    else:
        counted = prompts >= 0
        total = np.bincount(prompts[counted])
        removed = np.bincount(prompts[flagged & counted], minlength=total.size)
        emptied = (removed == total) & (total > 0)
        rows_removed = int(np.count_nonzero(emptied))
        pairs_removed = dropped - int(removed[emptied].sum())
    if rows_removed:
        counts.skipped[reason] = counts.skipped.get(reason, 0) + rows_removed
    if pairs_removed:
        counts.dropped_pairs[reason] = counts.dropped_pairs.get(reason, 0) + pairs_removed


def _value_counts(table: pa.Table, column: str, previous: dict[str, int]) -> dict[str, int]:
    """Pairs per value of `column` in `table`, over the keys of `previous` (a value with no pair left keeps 0)."""
    counts = {item["values"]: item["counts"] for item in pc.value_counts(table.column(column)).to_pylist()}
    return {name: counts.get(name, 0) for name in previous}


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """Tier counts as a build writes them: only the tiers some pair has."""
    return {name: count for name, count in counts.items() if count}


def _resummarise(table: pa.Table, split_stats: SplitStats) -> None:
    """Edit-distance summaries of the pairs that remain (from the per-pair columns the folder already holds)."""
    for level in list(split_stats.edit_distance):
        column = f"edit_distance_{level}"
        if column in table.column_names:
            split_stats.edit_distance[level] = DistanceSummary.of(table.column(column).to_numpy(zero_copy_only=False))


def decontaminate_tables(
    tables: dict[str, pa.Table],
    split_stats: dict[str, SplitStats] | dict[str, dict[str, Any]],
    benchmarks: list[str],
    *,
    data_dir: str | Path | None = None,
    ngram: int = DEFAULT_NGRAM,
    drop: bool = False,
    index: BenchmarkIndex | None = None,
) -> tuple[dict[str, pa.Table], DecontaminationReport]:
    """Check every split against the benchmarks; with `drop`, remove overlapping pairs (updating `split_stats`
    in place; stats.json dicts are accepted too and updated the same way).

    Returns the (possibly filtered) tables and the report that stats.json keeps under `decontamination`. The
    report holds no wall-clock timings (they made a decontaminated folder differ on every rebuild) and names a
    local benchmark file or folder by `cards.public_path` (never an absolute local path).
    """
    index = index or build_index(benchmarks, data_dir=data_dir, ngram=ngram)
    report_splits, masks = check_tables(tables, index)
    if drop:
        typed = coerce_splits(split_stats)
        tables = {split: drop_overlapping(table, masks[split], typed[split]) for split, table in tables.items()}
        for split, facts in split_stats.items():
            if not isinstance(facts, SplitStats):  # a caller holding stats.json dicts sees the same update
                facts.clear()
                facts.update(typed[split].to_json())
        for facts in report_splits.values():
            facts["dropped_pairs"] = facts["overlapping_pairs"]
    report = {
        "method": f"word {index.ngram}-gram overlap on normalised text (lm-eval / GPT-3 decontamination)",
        "ngram": index.ngram,
        "drop": drop,
        "benchmarks": {
            name: {
                "label": index.labels[name],
                "source": cards.public_path(index.sources[name]),
                "documents": len(index.documents[name]),
                "ngrams": index.ngram_counts[name],
            }
            for name in index.names
        },
        "splits": report_splits,
    }
    return tables, DecontaminationReport.from_json(report)


@dataclass(frozen=True)
class DecontaminationRequest:
    """What `--decontaminate` on `prefbuild build` / `prefbuild mix` asks for; `apply` runs it on the tables."""

    benchmarks: tuple[str, ...]
    data_dir: str | None = None
    ngram: int = DEFAULT_NGRAM
    drop: bool = False

    def apply(
        self, tables: dict[str, pa.Table], split_stats: dict[str, SplitStats] | dict[str, dict[str, Any]]
    ) -> tuple[dict[str, pa.Table], DecontaminationReport]:
        return decontaminate_tables(
            tables, split_stats, list(self.benchmarks), data_dir=self.data_dir, ngram=self.ngram, drop=self.drop
        )


# ---------------------------------------------------------------------------------------------- card and summary

CARD_BEGIN = "<!-- prefbuild:contamination -->"
CARD_END = "<!-- /prefbuild:contamination -->"


def render_card_section(stats: FolderStats | dict[str, Any]) -> str:
    """The card's "Benchmark contamination" section ("" when stats has neither a report nor benchmark splits)."""
    stats = FolderStats.coerce(stats)
    report = stats.decontamination
    benchmark_splits_ = stats.benchmark_splits or {}
    if not report and not benchmark_splits_:
        return ""
    lines = [CARD_BEGIN, "## Benchmark contamination", ""]
    for split, label in benchmark_splits_.items():
        lines += [
            f"**The `{split}` split is {label}**, a set models are scored on. Evaluate on it, never train on it; "
            "`prefbuild train` warns when it is used as the training split.",
            "",
        ]
    if report:
        names = list(report.benchmarks)
        lines += [
            f"Every pair's prompt, chosen and rejected text was checked for {report.method} against:",
            "",
            *[
                f"- `{name}`: {facts.label} ({facts.documents:,} documents from `{facts.source}`)"
                for name, facts in report.benchmarks.items()
            ],
            "",
            "| split | pairs checked | overlapping | " + " | ".join(f"`{name}`" for name in names) + " |",
            "| --- | ---: | ---: |" + " ---: |" * len(names),
        ]
        for split, facts in report.splits.items():
            cells = [f"{facts.by_benchmark[name].pairs:,}" for name in names]
            lines.append(
                f"| `{split}` | {facts.checked_pairs:,} | {facts.overlapping_pairs:,} | " + " | ".join(cells) + " |"
            )
        lines.append("")
        if report.drop:
            lines += [
                f"Overlapping pairs were removed (`--drop`), counted under the reason `{DROP_REASON}`.",
                "",
            ]
        examples = [
            (split, name, example)
            for split, facts in report.splits.items()
            for name in names
            for example in facts.by_benchmark[name].examples[:1]
        ]
        for split, name, example in examples:
            lines += [
                f"Example, `{split}` pair {example['pair']} ({example['field']}) and `{name}`: shared "
                f"{report.ngram}-gram “{example['ngram']}”.",
                "",
            ]
    lines.append(CARD_END)
    return "\n".join(lines) + "\n"


def insert_card_section(card: str, stats: FolderStats | dict[str, Any]) -> str:
    """`card` with its contamination section replaced (or added before "## Examples", else at the end)."""
    return cards.replace_card_section(card, render_card_section(stats), CARD_BEGIN, CARD_END)


def render_summary(report: DecontaminationReport | dict[str, Any]) -> str:
    """Plain-text lines: per split, pairs checked and overlapping per benchmark."""
    report = DecontaminationReport.coerce(report)
    names = list(report.benchmarks)
    lines = [f"Benchmark overlap ({report.ngram}-grams): " + ", ".join(names)]
    for split, facts in report.splits.items():
        per = ", ".join(f"{name} {facts.by_benchmark[name].pairs:,}" for name in names)
        verb = "dropped" if report.drop else "overlapping"
        lines.append(f"  {split}: {facts.overlapping_pairs:,} of {facts.checked_pairs:,} pairs {verb} ({per})")
    return "\n".join(lines)


def parse_benchmarks(text: str) -> list[str]:
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if name and name not in names:
            names.append(name)
    return names


def decontaminate_folder(
    folder: str | Path,
    benchmarks: list[str],
    *,
    data_dir: str | Path | None = None,
    ngram: int = DEFAULT_NGRAM,
    drop: bool = False,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> FolderStats:
    """Check a folder written by `prefbuild build` / `prefbuild mix`; write the report into stats.json and the card.

    Writes `out` (default: the folder itself, replaced atomically) with the same files, minus the overlapping
    pairs under `drop`. Returns the updated stats.
    """
    from prefbuild.folder import open_pairs, write_pairs_folder
    from prefbuild.output import refuse_existing

    folder = Path(folder)
    target = Path(out) if out is not None else folder
    if out is not None and target.resolve() != folder.resolve():
        refuse_existing(target, overwrite)
    pairs = open_pairs(folder, hub=False)
    stats, tables = pairs.stats, pairs.tables()
    before = (FolderStats.from_json(stats.to_json()), cards.example_pairs(tables))  # what the old card shows
    index = build_index(benchmarks, data_dir=data_dir, ngram=ngram)
    tables, report = decontaminate_tables(tables, stats.splits, benchmarks, drop=drop, index=index)
    stats.decontamination = report
    old_card = (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").is_file() else ""
    had_plot = (folder / "edit_distance.png").is_file()
    card = partial(_folder_card, old=old_card, plot=had_plot, before=before)
    return write_pairs_folder(target, tables, stats, card=card, plot=had_plot, overwrite=True)


def _folder_card(
    stats: FolderStats,
    tables: dict[str, pa.Table],
    *,
    old: str,
    plot: bool,
    before: tuple[FolderStats, list[dict[str, str]]],
) -> CardSpec:
    """A builder folder's card rendered again from the updated stats (counts change under --drop). A mixture's
    card cannot be rendered again without its config and sources: it keeps its text, with what --drop changes
    redrawn (`redraw_mixture_card`). Other folders keep their card. The YAML's split sizes are updated in every
    case; the histogram keeps its default title."""
    if stats.builder_name:
        from prefbuild.build import builder_card
        from prefbuild.builders import get_builder

        spec = builder_card(get_builder(stats.builder_name), stats, tables, plot)
        spec.plot_title = ""
        return spec
    if stats.kind == "mix":
        old = redraw_mixture_card(old, before[0], stats, before[1], cards.example_pairs(tables))
    return CardSpec(kept=old)


def redraw_mixture_card(
    card: str, before: FolderStats, after: FolderStats, examples_before: list[dict], examples_after: list[dict]
) -> str:
    """A mixture card's text with the parts that depend on the split counts drawn again from `after`: the pair
    total, the counts and edit-distance tables, the examples and the size bucket. Each part is rendered from
    `before` and from `after` and the first replaces the second, so a card whose text differs is left as it is."""
    from prefbuild.mix.write import mix_counts_table

    before_splits = {name: split.to_json() for name, split in before.splits.items()}
    after_splits = {name: split.to_json() for name, split in after.splits.items()}
    parts = [
        (f"{before.pairs:,} pairs in this folder", f"{after.pairs:,} pairs in this folder"),
        (mix_counts_table(before_splits), mix_counts_table(after_splits)),
        (cards.edit_distance_table(before.splits), cards.edit_distance_table(after.splits)),
        (
            cards.render_section("mix", "Examples", {"examples": examples_before}),
            cards.render_section("mix", "Examples", {"examples": examples_after}),
        ),
        (
            f"- {cards.size_category(before.pairs)}\n",
            f"- {cards.size_category(after.pairs)}\n",
        ),
    ]
    for old, new in parts:
        if old != new and card.count(old) == 1:
            card = card.replace(old, new)
    return card


def benchmark_split_warning(dataset_name: str | None, split: str) -> str | None:
    """The warning `prefbuild train` prints when its training split is a benchmark's scored split, or has pairs
    that overlap one (from the folder's stats.json); None when neither holds or the dataset is not a folder."""
    folder = Path(dataset_name or "").expanduser()
    if not dataset_name or not (folder / "stats.json").is_file():
        return None
    try:
        stats = FolderStats.load(folder)
    except (PrefbuildError, OSError):
        return None
    label = (stats.benchmark_splits or {}).get(split)
    if label:
        return (
            f"Warning: training on split '{split}' of {dataset_name}, which is {label}. A model trained on it cannot "
            "be scored on that benchmark; train on 'train' (`--dataset_train_split train`)."
        )
    facts = stats.decontamination.splits.get(split) if stats.decontamination is not None else None
    if facts is not None and facts.overlapping_pairs and not facts.dropped_pairs:
        return (
            f"Warning: {facts.overlapping_pairs:,} pairs of split '{split}' of {dataset_name} share 13-grams with "
            "benchmark test sets (stats.json, `decontamination`). Remove them with `prefbuild decontaminate "
            f"{dataset_name} --benchmarks ... --drop`."
        )
    return None
