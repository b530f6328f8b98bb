"""Speed-ups must not change output: fast paths equal the plain definitions, and builds do not depend on num_proc."""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from prefbuild import stats
from prefbuild.build import build_dataset

REPO = Path(__file__).parent.parent
WHITESPACE = [chr(code) for code in range(0x110000) if chr(code).isspace()]


def plain_word_levenshtein(chosen: list[str], rejected: list[str]) -> np.ndarray:
    """The definition: rapidfuzz over `str.split()` word lists."""
    return process.cpdist(
        chosen, rejected, scorer=Levenshtein.normalized_distance, processor=str.split, dtype=np.float64
    )


def random_pairs(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of words, numbers and every kind of whitespace; the second one edited a little or a lot."""
    rng = random.Random(seed)
    pieces = ["a", "bb", "12", "7,500", "$3", "x^2", "é", "½", "\\frac{1}{2}", "=", "+", "#### 72", "The answer is:"]
    gaps = [" ", " ", " ", "\n", "  ", " \n", *WHITESPACE]
    chosen, rejected = [], []
    for _ in range(count):
        words = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        text = "".join(rng.choice(gaps) + word for word in words) + rng.choice(["", " ", "\n", "\u3000"])
        text = text[rng.randint(0, 2) :]
        edited = list(text)
        for _ in range(rng.choice([0, 1, 1, 2, 5])):
            position = rng.randint(0, len(edited))
            action = rng.choice(["insert", "delete", "replace"])
            if action == "insert" or not edited:
                edited.insert(position, rng.choice([*gaps, "9", "z", "é"]))
            elif action == "delete":
                del edited[min(position, len(edited) - 1)]
            else:
                edited[min(position, len(edited) - 1)] = rng.choice([*gaps, "9", "z"])
        chosen.append(text)
        rejected.append("".join(edited))
    return chosen, rejected


def test_word_levenshtein_equals_the_definition_bit_for_bit():
    chosen, rejected = random_pairs(5000)
    chosen += ["", "a", "", " ", "a b c", "a b c", "x\x1cy", "same text", "one two", "\xa0lead"]
    rejected += ["", "", "a", "", "a b d", "a  b\nc", "x y", "same text", "one two three", "lead"]
    assert np.array_equal(stats.word_levenshtein(chosen, rejected), plain_word_levenshtein(chosen, rejected))
    assert np.array_equal(stats.word_levenshtein(rejected, chosen), plain_word_levenshtein(rejected, chosen))


def test_word_count_equals_split_for_every_ascii_character_and_unicode_whitespace():
    texts = [f"a{chr(code)}b" for code in range(128)] + [f"{space}a{space}b{space}" for space in WHITESPACE]
    texts += ["", " ", "a", " a", "a ", "\x1f\x1fa\x1f", "é b", "a\u2009b"]
    assert [stats.word_count(text) for text in texts] == [len(text.split()) for text in texts]


def folder_digest(folder: Path) -> str:
    """Hash of what a build writes that must not depend on speed work: the parquet shards and stats.json."""
    digest = hashlib.sha256()
    for path in sorted((folder / "data").glob("*.parquet")) + [folder / "stats.json"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _corpus import generated_rows, write_jsonl

    rows = generated_rows(300, seed=3)
    rows[5] = {**rows[5], "response": "No numbers here at all."}  # a skipped row travels through every path too
    return write_jsonl(rows, tmp_path_factory.mktemp("corpus") / "metamath.jsonl")


def test_small_splits_are_built_in_this_process():
    from prefbuild.build import MIN_ROWS_PER_PROCESS, map_processes

    assert map_processes(1, 10**6) is None and map_processes(2, 1_000) is None  # MetaMath's eval split
    assert map_processes(2, 2 * MIN_ROWS_PER_PROCESS) == 2 and map_processes(2, 2 * MIN_ROWS_PER_PROCESS - 1) is None
    assert map_processes(8, 5 * MIN_ROWS_PER_PROCESS) == 5 and map_processes(2, 395_000) == 2


def test_metamath_build_same_bytes_for_any_num_proc(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setattr("prefbuild.build.MIN_ROWS_PER_PROCESS", 1)  # worker processes even for 300 rows
    digests = []
    for num_proc in (1, 2):
        out = tmp_path / f"out{num_proc}"
        report = build_dataset(
            "metamath",
            out=out,
            source=str(corpus_file),
            seed=7,
            num_proc=num_proc,
            options={"eval_size": 20},
            plot=False,
        )
        assert report.stats["splits"]["train"]["skipped"] == {"no_number_to_corrupt": 1}
        digests.append(folder_digest(out))
    assert digests[0] == digests[1]


def test_stored_word_distances_equal_the_definition(corpus_file, tmp_path):
    from prefbuild.output import read_output_folder

    build_dataset("metamath", out=tmp_path / "out", source=str(corpus_file), options={"eval_size": 20}, plot=False)
    tables, _ = read_output_folder(tmp_path / "out")
    for table in tables.values():
        chosen, rejected = table.column("chosen").to_pylist(), table.column("rejected").to_pylist()
        stored = table.column("edit_distance_word").to_numpy()
        assert np.array_equal(stored, plain_word_levenshtein(chosen, rejected))
        # computed by the map's workers, batch by batch: the same floats as over the whole split at once
        chars = process.cpdist(chosen, rejected, scorer=Levenshtein.normalized_distance, dtype=np.float64)
        assert np.array_equal(table.column("edit_distance_char").to_numpy(), chars)


def test_pair_rows_equal_the_filter_on_every_path(monkeypatch):
    """`pair_rows` slices runs of pairs out of the mapped table (few status rows), takes them into one chunk (many),
    or filters them where a column is too big for one chunk (Arrow's 32-bit string offsets): the same rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from prefbuild import build
    from prefbuild.build import STATUS, pair_rows

    statuses = ["", "skip:no_number", "", "drop:same_text", "", ""]
    batches = [
        pa.record_batch({"chosen": ["a", "", "c"], "n": [0.5, None, 1.0], STATUS: statuses[:3]}),
        pa.record_batch({"chosen": ["", "e", "f"], "n": [None, 2.0, 3.0], STATUS: statuses[3:]}),
    ]
    table = pa.Table.from_batches(batches)
    expected = table.filter(pc.equal(table.column(STATUS), ""))
    sliced = pair_rows(table, table.column(STATUS))
    assert sliced.equals(expected) and sliced.column("chosen").num_chunks == 3  # three runs: a | c | e f
    assert pair_rows(expected, expected.column(STATUS)) is expected  # nothing to drop
    nothing = table.slice(1, 1)
    assert pair_rows(nothing, nothing.column(STATUS)).num_rows == 0

    monkeypatch.setattr(build, "MAX_PAIR_SLICES", 1)
    monkeypatch.setattr(build, "MIN_PAIRS_PER_SLICE", 10)
    taken = pair_rows(table, table.column(STATUS))
    assert taken.equals(expected) and taken.column("chosen").num_chunks == 1

    def overflow(*args, **kwargs):
        raise pa.ArrowInvalid("offset overflow while concatenating arrays")

    monkeypatch.setattr(pc, "take", overflow)
    filtered = pair_rows(table, table.column(STATUS))
    assert filtered.equals(expected) and filtered.column("chosen").num_chunks == 2


def test_shards_do_not_depend_on_how_the_rows_are_chunked(tmp_path):
    """Page boundaries follow Arrow chunks; rows built by 1 or 2 processes come in different chunks."""
    import pyarrow as pa

    from prefbuild.output import write_shards

    rng = random.Random(0)
    texts = ["".join(rng.choice("abc 0123456789\n") for _ in range(rng.randint(200, 900))) for _ in range(4000)]
    whole = pa.table({"chosen": texts, "n": list(range(len(texts)))})
    chunked = pa.Table.from_batches(whole.to_batches(max_chunksize=777))
    halves = pa.concat_tables([whole.slice(0, 1999), whole.slice(1999)])
    written = []
    for name, table in (("whole", whole), ("chunked", chunked), ("halves", halves)):
        (tmp_path / name).mkdir()
        shards = write_shards(tmp_path / name, "train", table)
        written.append([(tmp_path / name / shard).read_bytes() for shard in shards])
    assert written[0] == written[1] == written[2]


def test_shards_written_a_row_group_at_a_time_equal_one_write_of_the_whole_shard(tmp_path, monkeypatch):
    """Past one row group, each row group is combined on its own: the bytes of one `pq.write_table` of the whole
    shard in one chunk, whatever the chunks, and row groups that end in a short one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prefbuild import output

    monkeypatch.setattr(output, "ROW_GROUP_SIZE", 300)
    rng = random.Random(1)
    texts = ["".join(rng.choice("ab 019\n") for _ in range(rng.randint(0, 300))) for _ in range(1000)]
    whole = pa.table({"chosen": texts, "n": [None if i % 7 == 0 else i / 3 for i in range(len(texts))]})
    pq.write_table(whole, tmp_path / "plain.parquet", row_group_size=300)
    sliced = pa.concat_tables([whole.slice(start, 37) for start in range(0, len(texts), 37)])
    for name, table in (
        ("whole", whole),
        ("sliced", sliced),
        ("batches", pa.Table.from_batches(whole.to_batches(91))),
    ):
        (tmp_path / name).mkdir()
        [shard] = output.write_shards(tmp_path / name, "train", table)
        assert (tmp_path / name / shard).read_bytes() == (tmp_path / "plain.parquet").read_bytes(), name


def test_shards_carry_no_datasets_metadata(tmp_path):
    # datasets' schema metadata held a path/mtime/num_proc-dependent cache fingerprint and the features of the
    # mapped table, including the engine's internal columns; the shards carry neither, and still load as strings.
    import datasets
    import pyarrow.parquet as pq

    from prefbuild.build import build_dataset

    from .conftest import FIXTURES

    out = build_dataset("arc", source=str(FIXTURES / "arc"), out=tmp_path / "arc", plot=False).out
    for shard in (out / "data").glob("*.parquet"):
        assert b"huggingface" not in (pq.read_schema(shard).metadata or {})
    features = datasets.load_dataset(str(out))["train"].features
    assert "_row_id" not in features and features["prompt"].dtype == "string"


def test_building_a_folder_does_not_import_torch(tmp_path):
    """`prefbuild build` needs no model: importing torch would cost every build ~0.35 GiB and seconds of start-up."""
    import subprocess

    code = (
        "import sys\n"
        "from prefbuild.cli import main\n"
        f"assert main(['build', 'arc', '--source', {str(REPO / 'prefbuild' / 'samples' / 'arc')!r}, '--out', "
        f"{str(tmp_path / 'arc')!r}]) == 0\n"
        "print(sorted(name for name in ('torch', 'transformers', 'trl') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip().splitlines()[-1] == "[]"
