"""Dataset cards: YAML valid for huggingface_hub, the inherited licence, counts, skips, distances, examples, rebuild
command and citations in every builder's card; a template error fails the build, not the upload."""

import dataclasses
import shutil

import pytest
from huggingface_hub import DatasetCard, DatasetCardData

from prefbuild import cards
from prefbuild.build import build_dataset
from prefbuild.builders import BUILDERS
from prefbuild.errors import PrefbuildError
from tests.conftest import FIXTURES

# What each card must say about its licence: ARC's ShareAlike carries over; the others are MIT.
LICENCE_TEXT = {
    "arc": ("cc-by-sa-4.0", "this dataset is also **CC BY-SA 4.0**"),
    "hellaswag": ("mit", "this\ndataset is **MIT**"),
    "metamath": ("mit", "this dataset is **MIT**"),
    "gsm8k": ("mit", "this dataset is **MIT**"),
    "orca": ("apache-2.0", "dataset is **Apache 2.0** too"),
    "truthy": ("cc-by-4.0", "**CC BY 4.0** too"),
    "ultrafeedback": ("mit", "this dataset is **MIT**"),
}
SOURCE_CITATION = {
    "arc": "clark2018arc",
    "hellaswag": "zellers2019hellaswag",
    "metamath": "yu2023metamath",
    "gsm8k": "cobbe2021gsm8k",
    "orca": "mukherjee2023orca",
    "truthy": "durbin2023truthy",
    "ultrafeedback": "cui2023ultrafeedback",
}
OPTIONS = {"metamath": {"eval_size": 3}}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request, tmp_path_factory):
    name = request.param
    if not (FIXTURES / name).is_dir():
        pytest.skip(f"no fixture rows for builder '{name}'")
    out = tmp_path_factory.mktemp("cards") / name
    command = f"prefbuild build {name} --source tests/fixtures/{name} --out {name}"
    report = build_dataset(
        name, source=str(FIXTURES / name), out=out, options=OPTIONS.get(name), command=command, plot=False
    )
    return name, out, report.stats, (out / "README.md").read_text(encoding="utf-8")


def test_every_builder_has_a_card_and_a_licence_rule():
    assert set(LICENCE_TEXT) >= set(BUILDERS)
    for builder in BUILDERS.values():
        assert (cards.card_directory() / f"{builder.card}.md").is_file()
        assert builder.license == LICENCE_TEXT[builder.name][0]


def test_metadata_round_trips_through_huggingface_hub(built):
    name, _, stats, text = built
    data = DatasetCard(text).data
    assert DatasetCardData(**data.to_dict()).to_dict() == data.to_dict()
    assert cards.check_card(text).to_dict() == data.to_dict()
    builder = BUILDERS[name]
    assert data.license == builder.license
    assert data.language == ["en"] and data.task_categories == ["text-generation"]
    assert {"dpo", "dpop", "preference", "prefbuild", name} <= set(data.tags)
    assert data.source_datasets == [builder.default_source]  # a local copy names the Hub set it mirrors
    assert data.pretty_name == builder.pretty_name
    pairs = sum(split["pairs"] for split in stats["splits"].values())
    assert data.size_categories == [cards.size_category(pairs)]
    assert data.configs == [
        {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in stats["splits"]]}
    ]


def test_body_holds_counts_licence_and_how_to_rebuild(built):
    name, _, stats, text = built
    body = text.split("\n---\n", 1)[1]
    for split, facts in stats["splits"].items():
        skipped = sum(facts["skipped"].values())
        dropped = sum(facts["dropped_pairs"].values())
        paired = facts["input_rows"] - skipped
        assert (
            f"| `{split}` | {facts['input_rows']:,} | {paired:,} | {skipped:,} | {facts['pairs']:,} | {dropped:,} |"
            in body
        )
        for reason, count in facts["skipped"].items():
            assert f"| `{split}` | skipped row | `{reason}` | {count:,} |" in body
        char = facts["edit_distance"]["char"]
        assert f"| `{split}` | char | {100 * char['mean']:.1f}% | {100 * char['median']:.1f}% |" in body
    assert LICENCE_TEXT[name][1] in body
    assert f"```bash\nprefbuild build {name} --source tests/fixtures/{name} --out {name}\n```" in body
    assert f"| builder | `{name}` version {BUILDERS[name].version} |" in body
    assert "| seed | 0 |" in body
    assert "@article{pal2024smaug" in body and SOURCE_CITATION[name] in body
    assert "**train, pair 1**" in body and "Chosen:" in body and "Rejected:" in body
    assert "edit_distance.png" not in body  # built with plot=False: the card does not point at a missing image
    assert "{{" not in body and "{%" not in body


def test_histogram_is_linked_when_written(tmp_path):
    build_dataset("arc", source=str(FIXTURES / "arc"), out=tmp_path / "arc")
    assert (
        "![Histogram of edit distances between chosen and rejected](edit_distance.png)"
        in (tmp_path / "arc" / "README.md").read_text()
    )
    assert (tmp_path / "arc" / "edit_distance.png").is_file()


def test_rebuild_command_is_reconstructed_without_a_recorded_one(tmp_path):
    report = build_dataset(
        "arc", source=str(FIXTURES / "arc"), out=tmp_path / "arc", seed=3, limit=5, fmt="conversational", plot=False
    )
    # the absolute fixture path is recorded by its name: a reader runs it where their copy of the source lies
    expected = "prefbuild build arc --source arc --seed 3 --limit 5 --format conversational --out OUT"
    assert cards.rebuild_command(report.stats, BUILDERS["arc"].default_source) == expected
    assert expected in (tmp_path / "arc" / "README.md").read_text()


@pytest.fixture
def broken_card(tmp_path, monkeypatch):
    """A copy of data_cards/ with a builder card that uses a field the build does not provide."""
    folder = tmp_path / "data_cards"
    shutil.copytree(cards.card_directory(), folder)
    (folder / "broken.md").write_text("# {{ builder.pretty_name }}\n\n{{ stats.no_such_field }}\n")
    monkeypatch.setattr(cards, "card_directory", lambda: folder)
    cards._environment.cache_clear()
    monkeypatch.setitem(BUILDERS, "arc", dataclasses.replace(BUILDERS["arc"], card="broken"))
    yield
    cards._environment.cache_clear()


def test_a_missing_template_field_fails_the_build_and_writes_nothing(broken_card, tmp_path, run_cli):
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "out", "--no-plot")
    assert code == 1
    assert err.splitlines()[-1] == (  # earlier lines are the progress bars of the build itself
        "Error: Card template data_cards/broken.md uses a field the build does not provide: "
        "'dict object' has no attribute 'no_such_field'."
    )
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temporary folder left behind


def test_unknown_template():
    with pytest.raises(PrefbuildError, match=r"No card template data_cards/nope\.md"):
        cards.render_card("nope", DatasetCardData(license="mit"), {})


def test_check_card_refuses_a_card_without_metadata():
    with pytest.raises(PrefbuildError, match="has no YAML metadata block"):
        cards.check_card("# Title only\n")
    with pytest.raises(PrefbuildError, match="invalid YAML metadata"):
        cards.check_card("---\nlicense: [unclosed\n---\n\n# Title\n")


def test_markdown_tables():
    assert cards.markdown_table([["a", "b"], ["x", "1"]]) == "| a | b |\n| --- | ---: |\n| x | 1 |"
    assert cards.size_category(999) == "n<1K" and cards.size_category(1000) == "1K<n<10K"
