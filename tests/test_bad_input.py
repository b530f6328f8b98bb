"""Bad input found in review: each case is one `Error: …` line (or a counted skip), never a traceback or a leak."""

import json

import pyarrow as pa
import pytest

from prefbuild.build import ROW_ID, _prefix_few_shot
from prefbuild.errors import PrefbuildError
from prefbuild.train.run import parse_recipe

from .conftest import FIXTURES, REPO


def test_hub_token_in_a_recipe_is_refused(tmp_path):
    # transformers pickles the config into output_dir/training_args.bin, which push_to_hub uploads
    with pytest.raises(PrefbuildError, match="`hub_token` would be saved in output_dir/training_args.bin"):
        parse_recipe(["--config", str(REPO / "recipes/tiny/dpop.yaml"), "--hub_token", "hf_secret"])


def test_recipe_that_is_not_yaml(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("beta: [0.3\n")
    with pytest.raises(PrefbuildError, match="Recipe is not valid YAML"):
        parse_recipe(["--config", str(recipe)])


def test_stats_plot_path_and_stats_file_are_checked(run_cli, tmp_path):
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "arc", "--no-plot")
    assert code == 0, err
    for plot in (tmp_path / "missing" / "x.png", tmp_path / "x.txt"):
        code, _, err = run_cli("stats", tmp_path / "arc", "--plot", plot)
        assert (code, err) == (1, f"Error: --plot '{plot}' must be a .png file in an existing folder.\n")
    (tmp_path / "arc" / "stats.json").write_text("[]")
    code, _, err = run_cli("stats", tmp_path / "arc")
    assert (code, err) == (
        1,
        f"Error: '{tmp_path / 'arc' / 'stats.json'}' is not a prefbuild stats file: it has no 'splits' mapping.\n",
    )


def test_few_shot_gets_exactly_k_examples_when_the_row_is_duplicated():
    # the pool holds row "a" three times (a duplicated source row shares its content-hash id)
    pool = (["a", "a", "b", "c", "a", "d"], ["A1", "A2", "B", "C", "A3", "D"])
    table = pa.table({"prompt": ["Q"] * 8, ROW_ID: ["a"] * 4 + ["e", "f", "g", "h"]})
    for seed in range(20):
        prompts = _prefix_few_shot(table, pool, 3, seed).column("prompt").to_pylist()
        for row_id, prompt in zip(table.column(ROW_ID).to_pylist(), prompts):
            examples = prompt.split("\n\n")[:-1]
            assert len(examples) == 3 and len(set(examples)) == 3
            if row_id == "a":
                assert set(examples) == {"B", "C", "D"}


def test_mix_reports_an_unreadable_local_file(tmp_path):
    from prefbuild.mix import mix_datasets, parse_config

    source = tmp_path / "pairs"
    source.mkdir()
    (source / "train.jsonl").write_text('{"prompt": "p", "chosen": \n')
    config = parse_config(
        {"name": "m", "sources": [{"name": "x", "source": str(source), "schema": "pairs", "weight": 1.0}]}
    )
    # read through sources.load_source, like a build's --source: the message names the folder and the position
    with pytest.raises(PrefbuildError, match=rf"^Mixture entry 1 \('x'\): Cannot load --source '{source}': .*26"):
        mix_datasets(config, out=tmp_path / "out")


def test_mix_counts_null_cells_instead_of_failing(tmp_path):
    from prefbuild.mix import mix_datasets, parse_config

    source = tmp_path / "pairs"
    source.mkdir()
    rows = [{"prompt": "p1", "chosen": "a", "rejected": "b"}, {"prompt": "p2", "chosen": "a", "rejected": None}]
    (source / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = parse_config(
        {"name": "m", "sources": [{"name": "x", "source": str(source), "schema": "pairs", "weight": 1.0}]}
    )
    stats = mix_datasets(config, out=tmp_path / "out", plot=False).stats
    assert stats["splits"]["train"]["pairs"] == 1


def test_wrong_type_names_the_file_row_and_field(run_cli, tmp_path):
    source = tmp_path / "rows.jsonl"
    source.write_text('{"query": "q", "response": "1 + 1 = 2"}\n{"query": 5, "response": "2 + 2 = 4"}\n')
    code, _, err = run_cli("build", "metamath", "--source", source, "--out", tmp_path / "o", "--eval-size", "0")
    assert code == 1
    assert err.splitlines()[-1] == (
        f"Error: '{source}', row 2, field 'query': expected text, got int 5. Fix the row, or pass --on-bad-rows "
        "skip to count such rows as skipped (wrong_field_type) and build the rest."
    )


def test_out_that_is_the_source_file(run_cli, tmp_path):
    source = tmp_path / "train.jsonl"
    source.write_text((FIXTURES / "arc" / "train.jsonl").read_text())
    code, _, err = run_cli("build", "arc", "--source", source, "--out", source, "--overwrite")
    assert (code, err) == (1, f"Error: --out '{source}' is the input '{source}' itself; write to a new folder.\n")


def test_dry_run_inside_the_set(run_cli, tmp_path):
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "arc", "--no-plot")
    assert code == 0
    dry = tmp_path / "arc" / "upload"
    code, _, err = run_cli("push", tmp_path / "arc", "--repo-id", "org/arc", "--dry-run", dry)
    assert (code, err) == (
        1,
        f"Error: --dry-run '{dry}' lies inside the input '{tmp_path / 'arc'}'; write to a folder outside it.\n",
    )
