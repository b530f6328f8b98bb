"""CLI behaviour and exact error output: one `Error: …` line, exit code 1, no traceback, no partial output."""

import json

import pytest

from prefbuild.cli import VERBS, build_parser

from .conftest import FIXTURES, REPO


def verbs() -> list[str]:
    return sorted(build_parser()._subparsers._group_actions[0].choices)


def test_build_then_stats(run_cli, tmp_path):
    code, out, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "arc", "--no-plot")
    assert code == 0, err
    assert f"Wrote {tmp_path / 'arc'}" in out
    assert "train skipped rows: answer_key_not_in_labels 1, no_distinct_wrong_choice 1, unlabeled 1" in out
    code, out, err = run_cli("stats", tmp_path / "arc", "--json", "--plot", tmp_path / "hist.png")
    assert code == 0, err
    stats = json.loads(out)
    assert stats["splits"]["train"]["pairs"] == 14 and stats["splits"]["eval"]["pairs"] == 8
    assert (tmp_path / "hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recorded = json.loads((tmp_path / "arc" / "stats.json").read_text())
    assert recorded["command"] == "prefbuild build arc --source arc --out arc --no-plot"  # no local paths
    assert stats["splits"]["train"]["edit_distance"]["char"]["mean"] == pytest.approx(
        recorded["splits"]["train"]["edit_distance"]["char"]["mean"]
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "arcc", "--out", "{tmp}/x"], "Error: Unknown builder 'arcc'. Did you mean: arc, orca?"),
        (
            ["build", "arc", "--source", "{tmp}/missing.jsonl", "--out", "{tmp}/x"],
            "Error: Cannot read --source '{tmp}/missing.jsonl': no such file or folder.",
        ),
        (
            ["build", "arc", "--source", "{fixtures}/hellaswag", "--out", "{tmp}/x"],
            "Error: --source '{fixtures}/hellaswag' split 'train' has no field 'id', 'question', 'choices', "
            "'answerKey' (builder 'arc' reads: id, question, choices, answerKey; found: ",
        ),
        (
            ["build", "arc", "--source", "{tmp}/bad.jsonl", "--out", "{tmp}/x"],
            "Error: Cannot load --source '{tmp}/bad.jsonl': Expected object or value at position 24",
        ),
        (
            ["build", "arc", "--source", "{fixtures}/arc", "--out", "{tmp}/x", "--num-proc", "0"],
            "Error: --num-proc must be >= 1, got 0.",
        ),
        (
            ["build", "arc", "--source", "{fixtures}/arc", "--out", "{tmp}/x", "--format", "chat"],
            "Error: Unknown --format 'chat'. Available: standard, conversational.",
        ),
        (["stats", "{tmp}"], "Error: '{tmp}' is not a prefbuild output folder: it has no stats.json."),
    ],
)
def test_errors_are_one_line_with_exit_code_1(run_cli, tmp_path, argv, message):
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "question": \n')
    argv = [arg.format(tmp=tmp_path, fixtures=FIXTURES) for arg in argv]
    code, out, err = run_cli(*argv)
    assert code == 1
    last = err.splitlines()[-1]  # progress bars may precede it on stderr
    assert last.startswith(message.format(tmp=tmp_path, fixtures=FIXTURES)), err
    assert "Traceback" not in err and "Error" not in err[: -len(last) - 1]
    assert not (tmp_path / "x").exists()


def test_existing_output_is_refused(run_cli, tmp_path):
    (tmp_path / "x").mkdir()
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "x")
    assert (code, err) == (
        1,
        f"Error: Output folder '{tmp_path / 'x'}' already exists. Pass --overwrite to replace it.\n",
    )


def test_builder_option_for_another_builder_is_refused(run_cli, tmp_path):
    from prefbuild.builders import BUILDERS

    options = {option for builder in BUILDERS.values() for option in builder.options}
    if "eval_size" not in options:
        pytest.skip("no builder declares eval_size yet")
    code, _, err = run_cli("build", "arc", "--source", FIXTURES / "arc", "--out", tmp_path / "x", "--eval-size", "3")
    assert (code, err) == (1, "Error: --eval-size does not apply to builder 'arc'.\n")


def test_every_verb_has_help_and_is_in_the_readme(run_cli):
    readme = (REPO / "README.md").read_text()
    assert len(verbs()) == len(VERBS)
    for verb in verbs():
        code, out, _ = run_cli(verb, "--help")
        assert code == 0 and out.strip(), verb
        assert f"prefbuild {verb}" in readme, f"README does not mention `prefbuild {verb}`"


def test_python_dash_m_works():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "prefbuild", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("prefbuild ")
