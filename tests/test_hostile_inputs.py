"""Hostile input to every data verb, holding one invariant (issue #11): each command exits 0 with correct
accounting, or prints exactly one `Error: …` line and exits 1. Never a traceback, never a hang past its bound,
never debris (temporary or backup siblings) and never a changed input.

Runs in-process through `prefbuild.cli.main`; signals are in test_hostile_signals.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from prefbuild.bad_rows import MAX_FIELD_CHARS

from .conftest import FIXTURES

BUILDERS = ("arc", "hellaswag", "gsm8k", "metamath")
SOURCE_FILE = {"arc": "train.jsonl", "hellaswag": "train.jsonl", "gsm8k": "train.jsonl", "metamath": "train.jsonl"}
TEXT_FIELD = {"arc": "question", "hellaswag": "ctx_a", "gsm8k": "answer", "metamath": "response"}
EXTRA = {"metamath": ["--eval-size", "0"]}


def debris(folder: Path) -> list[str]:
    """Temporary or backup siblings that prefbuild writes and must always remove."""
    return sorted(
        str(path.relative_to(folder)) for path in folder.rglob(".*") if ".tmp-" in path.name or ".old-" in path.name
    )


def check_outcome(code: int, out: str, err: str, workdir: Path) -> None:
    """The invariant: exit 0, or exit 1 with exactly one `Error:` line; no traceback; no debris."""
    assert "Traceback" not in out + err
    assert code in (0, 1), (code, err)
    if code == 1:  # progress bars (tqdm, carriage returns) may come before the one Error line
        lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
        assert lines[-1].startswith("Error: ") and sum(line.startswith("Error") for line in lines) == 1, err
    assert debris(workdir) == []


def rows_of(builder: str) -> list[dict]:
    path = FIXTURES / builder / SOURCE_FILE[builder]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def hostile_rows(builder: str) -> dict[str, tuple[list, str]]:
    """name -> (rows, the skip reason its bad row is counted under with --on-bad-rows skip)."""
    good = rows_of(builder)
    field = TEXT_FIELD[builder]
    cases = {
        "int_in_text": ({**good[0], field: 12345}, "wrong_field_type"),
        "list_in_text": ({**good[0], field: ["a", "b"]}, "wrong_field_type"),
        "dict_in_text": ({**good[0], field: {"x": 1}}, "wrong_field_type"),
        "huge_text": ({**good[0], field: "7 + 8 = 15. " * (MAX_FIELD_CHARS // 12 + 10)}, "text_too_long"),
    }
    if builder == "arc":
        cases["int_in_choice_text"] = (
            {**good[0], "choices": {"text": [1, "b"], "label": ["A", "B"]}},
            "wrong_field_type",
        )
    if builder == "hellaswag":
        cases["int_in_ending"] = ({**good[0], "endings": ["a", 2, "c", "d"]}, "wrong_field_type")
    return {name: ([bad, *good], reason) for name, (bad, reason) in cases.items()}


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("case", ["int_in_text", "list_in_text", "dict_in_text", "huge_text"])
def test_bad_rows_are_an_error_or_a_counted_skip(run_cli, tmp_path, builder, case):
    rows, reason = hostile_rows(builder)[case]
    source = write_rows(tmp_path / "rows.jsonl", rows)
    before = source.read_bytes()
    base = ["build", builder, "--source", source, "--no-plot", *EXTRA.get(builder, [])]

    code, out, err = run_cli(*base, "--out", tmp_path / "strict")
    check_outcome(code, out, err, tmp_path)
    if reason == "wrong_field_type":
        assert code == 1 and f"'{source}', row 1, field '{TEXT_FIELD[builder]}'" in err
        assert "--on-bad-rows skip" in err and not (tmp_path / "strict").exists()
    else:  # a row beyond the size budget is skipped under every policy: it is well formed, just too big
        assert code == 0

    code, out, err = run_cli(*base, "--out", tmp_path / "lenient", "--on-bad-rows", "skip")
    check_outcome(code, out, err, tmp_path)
    assert code == 0
    split = json.loads((tmp_path / "lenient" / "stats.json").read_text())["splits"]["train"]
    assert split["input_rows"] == len(rows)
    assert split["skipped"][reason] == 1
    assert_accounting(tmp_path / "lenient", "train")
    assert source.read_bytes() == before


def assert_accounting(folder: Path, split: str) -> None:
    """input_rows = rows that made pairs (distinct source ids in the shards) + skipped rows."""
    import pyarrow.parquet as pq

    recorded = json.loads((folder / "stats.json").read_text())["splits"][split]
    paired = set()
    for shard in (folder / "data").glob(f"{split}-*.parquet"):
        paired |= set(pq.read_table(shard, columns=["source_id"]).column("source_id").to_pylist())
    assert recorded["input_rows"] == len(paired) + sum(recorded["skipped"].values())


@pytest.mark.parametrize("builder", ["arc", "hellaswag"])
def test_wrong_type_inside_a_choice_list(run_cli, tmp_path, builder):
    name = "int_in_choice_text" if builder == "arc" else "int_in_ending"
    rows, reason = hostile_rows(builder)[name]
    source = write_rows(tmp_path / "rows.jsonl", rows)
    code, out, err = run_cli("build", builder, "--source", source, "--out", tmp_path / "o", "--no-plot")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and "row 1" in err
    code, out, err = run_cli("build", builder, "--source", source, "--out", tmp_path / "o", "--on-bad-rows", "skip")
    check_outcome(code, out, err, tmp_path)
    assert json.loads((tmp_path / "o" / "stats.json").read_text())["splits"]["train"]["skipped"][reason] == 1


@pytest.mark.parametrize("builder", BUILDERS)
def test_undecodable_bytes(run_cli, tmp_path, builder):
    good = rows_of(builder)
    lines = [json.dumps(row).encode() for row in good]
    field = TEXT_FIELD[builder]
    lines[1] = json.dumps({**good[1], field: "BAD"}).encode().replace(b"BAD", b"caf\xe9 \xff")
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    base = ["build", builder, "--source", source, "--no-plot", *EXTRA.get(builder, [])]
    code, out, err = run_cli(*base, "--out", tmp_path / "o")
    check_outcome(code, out, err, tmp_path)
    if builder == "hellaswag":
        # its fixture mixes int and string labels, so datasets parses the file in Python, which fails as a whole
        assert code == 1 and f"'{source}', line 2: text that is not valid UTF-8 (byte 0xe9 at position" in err
        return
    assert code == 1 and f"'{source}', row 2, field '{field}': text that is not valid UTF-8" in err
    code, out, err = run_cli(*base, "--out", tmp_path / "o", "--on-bad-rows", "skip")
    check_outcome(code, out, err, tmp_path)
    split = json.loads((tmp_path / "o" / "stats.json").read_text())["splits"]["train"]
    assert split["input_rows"] == len(good) and split["skipped"]["undecodable_text"] == 1


@pytest.mark.parametrize("builder", ["gsm8k", "metamath"])
def test_numbers_beyond_pythons_limits_skip_one_row(run_cli, tmp_path, builder):
    good = rows_of(builder)
    huge = "9" * 10_000
    field = TEXT_FIELD[builder]
    bad = {**good[0], field: f"So 2 + 3 = {huge} and 4 + 4 = 8.\n#### 8\nThe answer is: 8"}
    source = write_rows(tmp_path / "rows.jsonl", [bad, *good])
    code, out, err = run_cli(
        "build", builder, "--source", source, "--out", tmp_path / "o", "--no-plot", *EXTRA.get(builder, [])
    )
    check_outcome(code, out, err, tmp_path)
    assert code == 0
    split = json.loads((tmp_path / "o" / "stats.json").read_text())["splits"]["train"]
    assert split["input_rows"] == len(good) + 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"null\n", 1),  # pyarrow's JSON reader segfaults on this; prefbuild refuses it first
        (b"\n  5\n", 1),
        (b"", 1),
        (b"\x00\x01\x02garbage", 1),
        (b'{"query": "q", "response": "1 + 1 = 2"}\nnull\n', 0),  # a later null line is an all-null row: skipped
        (b'[{"query": "q", "response": "1 + 1 = 2"}]', 0),
    ],
)
def test_files_that_are_not_json_rows(run_cli, tmp_path, content, expected):
    source = tmp_path / "rows.jsonl"
    source.write_bytes(content)
    code, out, err = run_cli("build", "metamath", "--source", source, "--out", tmp_path / "o", "--eval-size", "0")
    check_outcome(code, out, err, tmp_path)
    assert code == expected


def test_on_bad_rows_takes_error_or_skip(run_cli, tmp_path):
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "o", "--on-bad-rows", "x")
    assert code == 2 and "invalid choice: 'x'" in err


# ---- output paths ----------------------------------------------------------------------------------------------


@pytest.fixture
def arc_source(tmp_path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(FIXTURES / "arc", source)
    return source


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("source_file", "is the input"),
        ("source_folder", "is the input"),
        ("inside_source", "lies inside the input"),
        ("contains_source", "contains the input"),
    ],
)
def test_out_never_touches_the_source(run_cli, tmp_path, arc_source, where, message):
    paths = {
        "source_file": (arc_source / "train.jsonl", arc_source / "train.jsonl"),
        "source_folder": (arc_source, arc_source),
        "inside_source": (arc_source, arc_source / "out"),
        "contains_source": (arc_source, tmp_path),
    }
    source, out = paths[where]
    before = _tree(tmp_path)
    code, stdout, err = run_cli("build", "arc", "--source", source, "--out", out, "--overwrite")
    check_outcome(code, stdout, err, tmp_path)
    assert code == 1 and message in err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("target", ["/", "~", "."])
@pytest.mark.parametrize("verb", ["build", "mix", "tiny-model"])
def test_protected_folders_are_refused_even_with_overwrite(run_cli, tmp_path, monkeypatch, target, verb):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = {
        "build": ["build", "arc", "--source", FIXTURES / "arc"],
        "mix": ["mix", "--config", "mix.yaml"],
        "tiny-model": ["tiny-model"],
    }[verb]
    (tmp_path / "mix.yaml").write_text("name: m\nsources: [{name: a, source: x, weight: 1.0}]\n")
    code, out, err = run_cli(*argv, "--out", target, "--overwrite")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and "refusing to write there" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("kind", ["dangling", "to_folder", "file", "under_file"])
def test_links_and_files_as_out(run_cli, tmp_path, kind):
    target = tmp_path / "elsewhere"
    out = tmp_path / "out"
    if kind == "dangling":
        out.symlink_to(tmp_path / "missing")
    elif kind == "to_folder":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
        out.symlink_to(target)
    elif kind == "file":
        out.write_text("a file")
    else:
        (tmp_path / "file").write_text("a file")
        out = tmp_path / "file" / "out"
    for overwrite in ([], ["--overwrite"]):
        code, stdout, err = run_cli(
            "build", "arc", "--source", FIXTURES / "arc", "--out", out, "--no-plot", *overwrite
        )
        check_outcome(code, stdout, err, tmp_path)
        assert code == 1
    if kind == "to_folder":
        assert (target / "keep.txt").read_text() == "mine" and out.is_symlink()
    if kind == "file":
        assert out.read_text() == "a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_parent(run_cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", locked / "o")
        check_outcome(code, out, err, tmp_path)
        assert code == 1 and "no permission to write" in err
    finally:
        locked.chmod(0o700)


# ---- stats -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_arc(tmp_path_factory) -> Path:
    from prefbuild.build import build_dataset

    out = tmp_path_factory.mktemp("built") / "arc"
    build_dataset("arc", source=str(FIXTURES / "arc"), out=out, plot=False)
    return out


def _stats_case(folder: Path, case: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats_path = folder / "stats.json"
    stats = json.loads(stats_path.read_text())
    shard = next((folder / "data").glob("train-*.parquet"))
    table = pq.read_table(shard)
    if case == "null_splits":
        stats["splits"] = None
    elif case == "string_splits":
        stats["splits"] = "train"
    elif case == "split_not_mapping":
        stats["splits"]["train"] = 3
    elif case == "split_name_glob":
        stats["splits"]["*"] = stats["splits"]["train"]
    elif case == "missing_chosen":
        pq.write_table(table.drop_columns(["chosen"]), shard)
    elif case == "null_chosen":
        chosen = pa.array([None] + table.column("chosen").to_pylist()[1:], pa.string())
        pq.write_table(table.set_column(table.schema.get_field_index("chosen"), "chosen", chosen), shard)
    elif case == "int_chosen":
        pq.write_table(
            table.set_column(table.schema.get_field_index("chosen"), "chosen", pa.array(range(table.num_rows))), shard
        )
    elif case == "not_json":
        stats_path.write_bytes(b"\xff\xfe{")
        return
    stats_path.write_text(json.dumps(stats))


@pytest.mark.parametrize(
    "case",
    [
        "null_splits",
        "string_splits",
        "split_not_mapping",
        "split_name_glob",
        "missing_chosen",
        "null_chosen",
        "int_chosen",
        "not_json",
    ],
)
def test_stats_on_malformed_folders(run_cli, tmp_path, built_arc, case):
    folder = tmp_path / "arc"
    shutil.copytree(built_arc, folder)
    _stats_case(folder, case)
    for extra in ([], ["--json"]):
        code, out, err = run_cli("stats", folder, *extra)
        check_outcome(code, out, err, tmp_path)
        assert code == 1


def test_stats_plot_into_a_folder(run_cli, tmp_path, built_arc):
    (tmp_path / "x.png").mkdir()
    code, out, err = run_cli("stats", built_arc, "--plot", tmp_path / "x.png")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and "is a folder" in err


# ---- push --dry-run --------------------------------------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    ["---", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["---", "# card"]
)


@pytest.mark.parametrize("case", ["alias_bomb", "deep_yaml", "non_utf8_card", "link_to_secret", "link_shard"])
def test_push_dry_run_on_hostile_folders(run_cli, tmp_path, built_arc, case):
    folder = tmp_path / "arc"
    shutil.copytree(built_arc, folder)
    secret = tmp_path / "token"
    secret.write_text("hf_secret")
    if case == "alias_bomb":
        (folder / "README.md").write_text(ALIAS_BOMB + "\n")
    elif case == "deep_yaml":
        (folder / "README.md").write_text("---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n")
    elif case == "non_utf8_card":
        (folder / "README.md").write_bytes(b"---\nlicense: mit\n---\n\xff\xfe card")
    elif case == "link_to_secret":
        (folder / "README.md").unlink()
        (folder / "README.md").symlink_to(secret)
    else:
        shard = next((folder / "data").glob("train-*.parquet"))
        shutil.move(shard, tmp_path / "outside.parquet")
        shard.symlink_to(tmp_path / "outside.parquet")
    code, out, err = run_cli("push", folder, "--repo-id", "org/arc", "--dry-run", tmp_path / "dry")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and not (tmp_path / "dry").exists()
    assert "hf_secret" not in out + err


def test_push_sends_only_the_folders_own_files(run_cli, tmp_path, built_arc):
    folder = tmp_path / "arc"
    shutil.copytree(built_arc, folder)
    (tmp_path / "token").write_text("hf_secret")
    (folder / "notes.txt").write_text("private notes")
    (folder / "hf_token").symlink_to(tmp_path / "token")
    (folder / "data" / "scratch.parquet").write_bytes(b"not a shard")
    code, out, err = run_cli("push", folder, "--repo-id", "org/arc", "--dry-run", tmp_path / "dry")
    check_outcome(code, out, err, tmp_path)
    assert code == 0
    assert sorted(_tree(tmp_path / "dry")) == [
        "README.md",
        "data/eval-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "stats.json",
    ]


@pytest.mark.parametrize("where", ["inside", "itself", "under_file", "unwritable"])
def test_push_dry_run_destinations(run_cli, tmp_path, built_arc, where):
    folder = tmp_path / "arc"
    shutil.copytree(built_arc, folder)
    before = _tree(folder)
    if where == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        (tmp_path / "locked").mkdir(mode=0o500)
    (tmp_path / "file").write_text("x")
    dry = {
        "inside": folder / "dry",
        "itself": folder,
        "under_file": tmp_path / "file" / "dry",
        "unwritable": tmp_path / "locked" / "dry",
    }[where]
    code, out, err = run_cli("push", folder, "--repo-id", "org/arc", "--dry-run", dry)
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and _tree(folder) == before


def test_push_dry_run_on_a_full_disk(run_cli, tmp_path, built_arc, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("prefbuild.hub.shutil.copyfile", full)
    code, out, err = run_cli("push", built_arc, "--repo-id", "org/arc", "--dry-run", tmp_path / "dry")
    check_outcome(code, out, err, tmp_path)
    assert (code, err) == (1, f"Error: Cannot write --dry-run '{tmp_path / 'dry'}': No space left on device.\n")
    assert not (tmp_path / "dry").exists()


# ---- mix -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["non_utf8", "scalar", "list", "alias_bomb", "empty", "non_utf8_local_file", "local_file_of_numbers"]
)
def test_mix_hostile_configs(run_cli, tmp_path, case):
    config = tmp_path / "mix.yaml"
    local = tmp_path / "pairs"
    local.mkdir()
    (local / "train.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    entry = f"name: m\nsources: [{{name: x, source: {local}, schema: pairs, weight: 1.0}}]\n"
    if case == "non_utf8":
        config.write_bytes(b"name: m\xff\n")
    elif case == "scalar":
        config.write_text("42\n")
    elif case == "list":
        config.write_text("- a\n- b\n")
    elif case == "alias_bomb":
        config.write_text(ALIAS_BOMB.split("\n---")[0].removeprefix("---\n") + "\n")
    elif case == "empty":
        config.write_text("")
    elif case == "non_utf8_local_file":
        config.write_text(entry)
        (local / "train.jsonl").write_bytes(b'{"prompt": "p\xff", "chosen": "a", "rejected": "b"}\n')
    else:
        config.write_text(entry)
        (local / "train.jsonl").write_text("1\n2\n")
    code, out, err = run_cli("mix", "--config", config, "--out", tmp_path / "out")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and not (tmp_path / "out").exists()


# ---- tiny-model ------------------------------------------------------------------------------------------------


def test_tiny_model_never_replaces_a_model_without_overwrite(run_cli, tmp_path):
    out = tmp_path / "model"
    code, stdout, err = run_cli("tiny-model", "--out", out)
    check_outcome(code, stdout, err, tmp_path)
    assert code == 0
    weights = _tree(out)
    code, stdout, err = run_cli("tiny-model", "--out", out, "--seed", "1")
    check_outcome(code, stdout, err, tmp_path)
    assert code == 1 and "already exists" in err and _tree(out) == weights
    code, stdout, err = run_cli("tiny-model", "--out", out, "--seed", "1", "--overwrite")
    check_outcome(code, stdout, err, tmp_path)
    assert code == 0 and _tree(out) != weights


@pytest.mark.parametrize("verb", ["demo", "repro", "analyze"])
def test_verbs_that_empty_or_fill_a_folder_refuse_the_home_folder(run_cli, tmp_path, monkeypatch, verb):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "keep.txt").write_text("mine")
    argv = {
        "demo": ["demo", "--no-train", "--overwrite"],
        "repro": ["repro", "--quick", "--overwrite"],
        "analyze": ["analyze", "--model", tmp_path / "m", "--data", tmp_path / "d"],
    }[verb]
    code, out, err = run_cli(*argv, "--out", "~")
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and "your home folder; refusing to write there" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("verb", ["build", "push", "tiny-model"])
def test_a_folder_without_write_permission(run_cli, tmp_path, built_arc, monkeypatch, verb):
    """As the root user writes anywhere, the permission answer is stood in for; the check is the same."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "prefbuild.paths.os.access", lambda path, mode: False if Path(path) == locked else real_access(path, mode)
    )
    argv = {
        "build": ["build", "arc", "--source", FIXTURES / "arc", "--out", locked / "o"],
        "push": ["push", built_arc, "--repo-id", "org/arc", "--dry-run", locked / "o"],
        "tiny-model": ["tiny-model", "--out", locked / "o"],
    }[verb]
    code, out, err = run_cli(*argv)
    check_outcome(code, out, err, tmp_path)
    assert code == 1 and f"no permission to write in '{locked}'" in err and list(locked.iterdir()) == []


# ---- the bounded YAML loader -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ALIAS_BOMB.split("\n---")[0].removeprefix("---\n"), "expands to more than 100,000 values"),
        ("a: &a [x, *a]", "expands to more than 100,000 values"),  # a recursive alias
        ("x: " + "[" * 200 + "]" * 200, "nests deeper than 64 levels"),
        ("a: [1\n", "is not valid YAML"),
    ],
)
def test_safe_yaml_refuses_bombs_and_depth(text, message):
    from prefbuild.errors import PrefbuildError
    from prefbuild.safe_yaml import load

    with pytest.raises(PrefbuildError, match=message):
        load(text, where="test.yaml")


def test_safe_yaml_reads_what_safe_load_reads():
    import yaml

    from prefbuild.safe_yaml import load

    for path in sorted(Path(__file__).parent.parent.glob("recipes/**/*.yaml")):
        assert load(path.read_text(), where=str(path)) == yaml.safe_load(path.read_text())
    shared = "base: &b {x: 1, y: [1, 2]}\nuse: *b\nagain: *b\n"
    assert load(shared, where="t") == yaml.safe_load(shared)
