"""Every card prefbuild writes, read as a Hub visitor reads it: parsed with a CommonMark parser (markdown-it-py,
with GitHub's tables), its YAML through huggingface_hub's DatasetCardData, its counts added up, and no local path
in anything that is pushed (README.md, stats.json).

The cards: each builder on tests/fixtures (standard, and ARC conversational with a system prompt), a mixture of
the fixtures in the layout recipes/mix/tiny.yaml expects, and the four folders `prefbuild demo` writes.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, DatasetCardData
from markdown_it import MarkdownIt

from prefbuild import cards
from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.mix import mix_datasets, parse_config
from tests.conftest import FIXTURES, REPO

MARKDOWN = MarkdownIt("commonmark").enable("table")  # the Hub renders GitHub-flavoured Markdown: CommonMark + tables
BUILDER_SECTIONS = ["How to use it", "Build facts", "Counts", "Edit distances between chosen and rejected"]
BUILDER_SECTIONS += ["Examples", "Licence", "Citation"]
MIX_SECTIONS = ["Composition", "How to use it", "Rebuild", "Counts", "Edit distances between chosen and rejected"]
MIX_SECTIONS += ["Examples", "Licence", "Citation"]
OPTIONS = {"metamath": {"eval_size": 3}}


def card_body(card: str) -> str:
    """The Markdown after the YAML block (the Hub strips the block before rendering)."""
    assert card.startswith("---\n")
    return card[4:].split("\n---\n", 1)[1]


def markdown_tables(tokens) -> list[list[list[str]]]:
    """Every table as rows of cell texts (header row first)."""
    tables, cell = [], False
    for token in tokens:
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            tables[-1].append([])
        elif token.type in ("th_open", "td_open"):
            cell = True
        elif token.type == "inline" and cell:
            tables[-1][-1].append(token.content)
            cell = False
    return tables


def check_markdown(card: str, sections: list[str]) -> tuple[list, list[list[list[str]]]]:
    """Parse a card body with CommonMark; every fence closes on a fence line, each section is a heading and not
    code, no fence marker is glued to text. Returns the tokens and the tables."""
    body = card_body(card)
    tokens = MARKDOWN.parse(body)
    lines = body.split("\n")
    for token in tokens:
        if token.type == "fence":
            start, end = token.map
            closing = lines[end - 1].strip()
            assert end - start >= 2 and set(closing) == {token.markup[0]} and len(closing) >= len(token.markup), (
                f"the fence opened on line {start + 1} ({lines[start]!r}) does not close: {closing!r}"
            )
            inner = [line for line in token.content.splitlines() if line.lstrip().startswith(token.markup)]
            assert not inner, f"the fence opened on line {start + 1} swallowed another fence: {inner}"
        if token.type == "inline":
            assert "```" not in token.content, f"a fence marker glued to text: {token.content[:80]!r}"
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert [h for h in headings if h in sections] == sections, headings
    assert "{{" not in body and "{%" not in body
    return tokens, markdown_tables(tokens)


def table_with(tables, first_header: list[str]) -> list[dict[str, str]]:
    """The table whose header starts with `first_header`, as dicts keyed by header."""
    for table in tables:
        if table[0][: len(first_header)] == first_header:
            return [dict(zip(table[0], row)) for row in table[1:]]
    raise AssertionError(f"no table with header {first_header}: {[t[0] for t in tables]}")


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.fixture(scope="module")
def every_card(tmp_path_factory) -> dict[str, Path]:
    """name -> built folder, for every kind of card prefbuild writes. Sources and outputs are absolute paths."""
    from prefbuild.cli import main
    from prefbuild.demo import run_demo

    root = tmp_path_factory.mktemp("every-card")
    folders = {}
    for name in sorted(BUILDERS):
        folders[name] = root / name
        build_dataset(
            name,
            source=str(FIXTURES / name),
            out=folders[name],
            options=OPTIONS.get(name),
            plot=name == "arc",
            command=f"prefbuild build {name} --source {FIXTURES / name} --out {folders[name]}",
        )
    folders["arc-conversational"] = root / "arc-conversational"
    build_dataset(
        "arc",
        source=str(FIXTURES / "arc" / "train.jsonl"),  # a single local file
        out=folders["arc-conversational"],
        fmt="conversational",
        system_prompt="Answer with the correct choice.",
        few_shot=2,
        plot=False,
    )
    # token-level distances, with a tokenizer saved in a local folder (absolute path)
    from prefbuild.train.tiny_model import DEFAULT_CORPUS, train_tokenizer

    train_tokenizer(DEFAULT_CORPUS).save_pretrained(root / "tokenizer")
    folders["metamath-tokens"] = root / "metamath-tokens"
    build_dataset(
        "metamath",
        source=str(FIXTURES / "metamath"),
        out=folders["metamath-tokens"],
        options=OPTIONS["metamath"],
        tokenizer=str(root / "tokenizer"),
    )
    # the tiny mixture, in the layout recipes/mix/tiny.yaml expects, run through the CLI with absolute paths
    layout = root / "layout"
    shutil.copytree(FIXTURES, layout / "tests" / "fixtures")
    for name in ("arc", "hellaswag"):
        shutil.copytree(folders[name], layout / "runs" / name)
    config = (REPO / "recipes" / "mix" / "tiny.yaml").read_text().replace("runs/", f"{layout}/runs/")
    config = config.replace("tests/fixtures", f"{layout}/tests/fixtures")
    (layout / "tiny.yaml").write_text(config)
    folders["mix"] = root / "mix"
    assert main(["mix", "--config", str(layout / "tiny.yaml"), "--out", str(folders["mix"])]) == 0
    run_demo(root / "demo", train=False, echo=lambda line: None)
    for name in ("metamath", "arc", "hellaswag", "mix"):
        folders[f"demo-{name}"] = root / "demo" / name
    return folders


CARDS = [
    *sorted(BUILDERS),
    "arc-conversational",
    "metamath-tokens",
    "mix",
    "demo-metamath",
    "demo-arc",
    "demo-hellaswag",
    "demo-mix",
]


@pytest.mark.parametrize("name", CARDS)
def test_card_renders_as_commonmark_with_closed_fences_and_tables(every_card, name):
    card = (every_card[name] / "README.md").read_text(encoding="utf-8")
    mixture = name.endswith("mix")
    tokens, tables = check_markdown(card, MIX_SECTIONS if mixture else BUILDER_SECTIONS)
    fences = [token.info for token in tokens if token.type == "fence"]
    assert fences[:2] == ["python", "bash"] and fences[-1] == "bibtex"
    assert fences.count("text") == 3 * 2  # two example pairs: prompt, chosen, rejected
    headers = [table[0] for table in tables]
    assert ["split", "level", "mean", "median", "p10", "p90"] in headers
    if mixture:
        assert headers[0] == ["source", "schema", "licence", "weight", "train pairs", "eval pairs", "char mean"]
        assert "yaml" in fences
    else:
        assert ["fact", "value"] in headers
    images = [t for t in tokens if t.type == "inline" for t in t.children or [] if t.type == "image"]
    assert [image.attrs["src"] for image in images] == (
        ["edit_distance.png"] if (every_card[name] / "edit_distance.png").exists() else []
    )


@pytest.mark.parametrize("name", CARDS)
def test_card_metadata_round_trips_through_dataset_card_data(every_card, name):
    card = (every_card[name] / "README.md").read_text(encoding="utf-8")
    data = DatasetCard(card).data
    assert DatasetCardData(**data.to_dict()).to_dict() == data.to_dict()
    assert cards.check_card(card).to_dict() == data.to_dict()


@pytest.mark.parametrize("name", CARDS)
def test_counts_add_up_in_the_card_and_stats_json(every_card, name):
    folder = every_card[name]
    stats = json.loads((folder / "stats.json").read_text())
    _, tables = check_markdown(
        (folder / "README.md").read_text(), MIX_SECTIONS if name.endswith("mix") else BUILDER_SECTIONS
    )
    rows = {row["split"].strip("`"): row for row in table_with(tables, ["split", "source rows"])}
    assert list(rows) == list(stats["splits"])
    for split, facts in stats["splits"].items():
        row, skipped = rows[split], sum(facts["skipped"].values())
        assert number(row["source rows"]) == facts["input_rows"]
        assert number(row["pairs"]) == facts["pairs"]
        if name.endswith("mix"):
            # every row read is in the mixture, left out by its weight, or unusable; stats.json says which
            assert facts["input_rows"] == facts["pairs"] + skipped
            parts = number(row["pairs"]) + number(row["not selected (weight)"]) + number(row["unusable rows"])
            assert number(row["source rows"]) == parts
            for source in stats["sources"]:
                if split in source["splits"]:
                    counts = source["splits"][split]
                    left = counts["selected"] + counts["not_selected"] + sum(counts["skipped"].values())
                    assert counts["source_rows"] == left
        else:
            assert number(row["source rows"]) == number(row["rows paired"]) + number(row["skipped rows"])
            assert number(row["skipped rows"]) == skipped
            assert number(row["dropped pairs"]) == sum(facts["dropped_pairs"].values())
            assert number(row["pairs"]) >= number(row["rows paired"])  # each paired row made a pair or more


def test_mixture_counts_name_every_left_out_row(every_card):
    stats = json.loads((every_card["mix"] / "stats.json").read_text())
    # tiny.yaml: hellaswag weight 6 of 11 train pairs → 5 not selected; orca 0.5 of 4 usable → 2 not selected
    assert stats["splits"]["train"]["skipped"]["hellaswag:not_selected"] == 5
    assert stats["splits"]["train"]["skipped"]["orca:not_selected"] == 2
    assert stats["splits"]["train"]["skipped"]["orca:chosen_equals_rejected"] == 1
    card = (every_card["mix"] / "README.md").read_text()
    assert "| `hellaswag` | `train` | `not_selected` | 5 |" in card


@pytest.mark.parametrize("name", CARDS)
def test_nothing_pushed_names_a_local_path(every_card, name):
    folder = every_card[name]
    leaks = {str(folder.parent.parent), str(Path.home()), str(REPO), str(FIXTURES)}
    for file in ("README.md", "stats.json"):
        text = (folder / file).read_text()
        for leak in leaks:
            assert leak not in text, f"{name}/{file} names {leak}"


def test_local_sources_are_recorded_by_name_and_content_hash(every_card):
    stats = json.loads((every_card["arc"] / "stats.json").read_text())
    assert stats["source"] == {
        "id": "arc",
        "config": None,
        "local": "folder",
        "sha256": cards.content_hash(FIXTURES / "arc"),
    }
    assert stats["command"] == "prefbuild build arc --source arc --out arc"
    card = (every_card["arc"] / "README.md").read_text()
    assert f"| source | `arc`: a local folder (SHA-256 `{stats['source']['sha256'][:16]}…` of its content)" in card
    tokens = json.loads((every_card["metamath-tokens"] / "stats.json").read_text())
    assert tokens["tokenizer"] == "tokenizer" and "token" in tokens["splits"]["train"]["edit_distance"]
    single = json.loads((every_card["arc-conversational"] / "stats.json").read_text())["source"]
    assert (single["id"], single["local"]) == ("train.jsonl", "file")
    assert single["sha256"] == cards.content_hash(FIXTURES / "arc" / "train.jsonl")
    demo = json.loads((every_card["demo-arc"] / "stats.json").read_text())
    assert demo["source"]["id"] == "prefbuild/samples/arc"
    assert demo["command"] == "prefbuild build arc --source prefbuild/samples/arc --out arc"
    mix = json.loads((every_card["mix"] / "stats.json").read_text())
    assert [source["source"] for source in mix["sources"]] == ["arc", "hellaswag", "orca", "truthy", "ultrafeedback"]
    assert mix["mix"]["config"] == "tiny.yaml"
    assert mix["command"] == "prefbuild mix --config tiny.yaml --out mix"


def test_public_paths_and_commands():
    assert cards.public_path("tests/fixtures/arc") == "tests/fixtures/arc"  # relative: as given
    assert cards.public_path("allenai/ai2_arc") == "allenai/ai2_arc"  # a Hub id
    assert cards.public_path("/home/someone/data/arc") == "arc"
    assert cards.public_path("~/data/arc.jsonl") == "arc.jsonl"
    assert cards.public_path("../shared/data/gsm8k") == "gsm8k"  # climbs out of the working directory
    assert cards.public_argv(["build", "arc", "--source", "/x/y/arc", "--out=/tmp/z/out", "--seed", "3"]) == [
        "build",
        "arc",
        "--source",
        "arc",
        "--out=out",
        "--seed",
        "3",
    ]
    assert cards.public_command("prefbuild mix --config /a/b/smaug.yaml --out data/mix") == (
        "prefbuild mix --config smaug.yaml --out data/mix"
    )
    assert cards.public_command("made by hand (no command)") == "made by hand (no command)"
    # argparse abbreviations are paths too; a system prompt that looks like a path but is none stays
    assert cards.public_argv(["--sour", "/x/arc", "--system-prompt", "/no_think", "--out", "--out"]) == [
        "--sour",
        "arc",
        "--system-prompt",
        "/no_think",
        "--out",
        "--out",
    ]


def test_demo_mixture_says_how_it_was_made(every_card):
    card = card_body((every_card["demo-mix"] / "README.md").read_text())
    assert "prefbuild demo (mixture step)" not in card
    assert "```bash\nprefbuild demo --no-train --out demo\n```" in card
    assert "`prefbuild demo` made this mixture in code" in card


def test_demo_card_reads_correctly_as_html(every_card):
    """The ARC card from `prefbuild demo`, rendered to HTML as a Markdown preview would: real sections, tables
    and code blocks, and no local path."""
    html = MARKDOWN.render(card_body((every_card["demo-arc"] / "README.md").read_text()))
    assert html.count("<table>") == 4  # build facts, counts, skip reasons, edit distances
    assert '<pre><code class="language-bash">prefbuild build arc --source prefbuild/samples/arc --out arc\n' in html
    assert "<h2>Build facts</h2>" in html and "<h2>Citation</h2>" in html
    assert '<img src="edit_distance.png"' in html
    for leak in (str(every_card["demo-arc"]), str(REPO), str(Path.home())):
        assert leak not in html


@pytest.mark.parametrize("name", ["arc", "arc-conversational", "metamath-tokens", "mix"])
def test_dataset_info_has_the_hubs_meaning(every_card, name, tmp_path):
    """num_bytes and dataset_size: in-memory Arrow bytes, as `datasets` computes them when it prepares the folder;
    download_size: the parquet files."""
    import datasets

    folder = every_card[name]
    info = DatasetCard((folder / "README.md").read_text()).data.dataset_info
    builder = datasets.load_dataset_builder(str(folder), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    prepared = {split: builder.info.splits[split].num_bytes for split in builder.info.splits}
    assert {split["name"]: split["num_bytes"] for split in info["splits"]} == prepared
    assert info["dataset_size"] == sum(prepared.values())
    assert info["download_size"] == sum(path.stat().st_size for path in (folder / "data").glob("*.parquet"))
    assert info["download_size"] != info["dataset_size"]


def test_examples_holding_code_blocks_keep_the_card_intact(tmp_path):
    """A completion with its own Markdown code block (UltraFeedback, ORCA answers) gets a longer fence."""
    source = tmp_path / "code"
    source.mkdir()
    row = {
        "prompt": "Print hello in Python.",
        "chosen": "```python\nprint('hello')\n```\nThat prints it.",
        "rejected": "````\nhello\n````",
    }
    (source / "train.jsonl").write_text(json.dumps(row) + "\n")
    config = parse_config({"name": "code", "sources": [{"name": "code", "source": str(source), "schema": "pairs"}]})
    mix_datasets(config, out=tmp_path / "mix", plot=False)
    tokens, _ = check_markdown((tmp_path / "mix" / "README.md").read_text(), MIX_SECTIONS)
    examples = [token for token in tokens if token.type == "fence" and token.info == "text"]
    assert [token.content for token in examples] == [f"{row[key]}\n" for key in ("prompt", "chosen", "rejected")]
    assert {token.markup for token in examples} == {"`````"}  # longer than the rejected text's four backticks


def test_a_build_without_pairs_has_a_card_that_renders(tmp_path):
    """Every row skipped: the card says so, its Markdown holds, its counts add up, and the plot still draws."""
    rows = [json.loads(line) for line in (FIXTURES / "arc" / "train.jsonl").read_text().splitlines()[:2]]
    (tmp_path / "unlabeled.jsonl").write_text("".join(json.dumps({**row, "answerKey": ""}) + "\n" for row in rows))
    build_dataset("arc", source=str(tmp_path / "unlabeled.jsonl"), out=tmp_path / "arc")
    card = (tmp_path / "arc" / "README.md").read_text()
    _, tables = check_markdown(card, BUILDER_SECTIONS)
    assert "This build produced no pairs." in card
    assert table_with(tables, ["split", "source rows"]) == [
        {"split": "`train`", "source rows": "2", "rows paired": "0", "skipped rows": "2", "pairs": "0",
         "dropped pairs": "0"}
    ]  # fmt: skip
    assert (tmp_path / "arc" / "edit_distance.png").read_bytes()[:4] == b"\x89PNG"


def test_content_hash_names_the_data_not_its_place(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b" / "copy"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "train.jsonl").write_text('{"x": 1}\n')
    assert cards.content_hash(first) == cards.content_hash(second)  # where it lies does not count
    (second / ".cache").mkdir()
    (second / ".cache" / "lock").write_text("")
    assert cards.content_hash(first) == cards.content_hash(second)  # hidden entries are not data
    (second / "validation.jsonl").write_text('{"x": 2}\n')
    assert cards.content_hash(first) != cards.content_hash(second)
    assert cards.content_hash(first / "train.jsonl") == hashlib.sha256(b'{"x": 1}\n').hexdigest()
