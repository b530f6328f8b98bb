"""Console output through `logging`: --debug / PREFBUILD_DEBUG=1 tracebacks, rank-0-only INFO, no print in the library."""

import ast
import logging
from pathlib import Path

import pytest

from prefbuild.log import ConsoleHandler, process_rank, setup_logging

PACKAGE = Path(__file__).parents[1] / "prefbuild"
UNKNOWN_BUILDER = (
    "Error: Unknown builder 'arcc'. Did you mean: arc, orca? "
    "Available: arc, gsm8k, hellaswag, metamath, orca, truthy, ultrafeedback.\n"
)


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "PREFBUILD_DEBUG"):
        monkeypatch.delenv(name, raising=False)


def test_an_error_is_one_line_without_debug(run_cli, tmp_path):
    assert run_cli("build", "arcc", "--out", tmp_path / "x") == (1, "", UNKNOWN_BUILDER)


@pytest.mark.parametrize(
    "where", [["--debug", "build"], ["build", "--debug"], ["--debug", "--debug", "build"], ["env", "build"]]
)
def test_debug_shows_the_traceback_after_the_error_line(run_cli, tmp_path, monkeypatch, where):
    from_the_start = where[0] != "build"  # then a first DEBUG line names the version and the arguments
    if where[0] == "env":
        monkeypatch.setenv("PREFBUILD_DEBUG", "1")
        where = where[1:]
    code, out, err = run_cli(*where, "arcc", "--out", tmp_path / "x")
    assert code == 1 and out == ""
    if from_the_start:
        assert err.startswith("DEBUG prefbuild: prefbuild ")
        err = err.split("\n", 1)[1]
    assert err.startswith(UNKNOWN_BUILDER + "Traceback (most recent call last):\n")
    assert 'in get_builder\n    raise unknown_name_error("builder", name, BUILDERS)' in err
    assert err.endswith("prefbuild.errors.PrefbuildError: " + UNKNOWN_BUILDER.removeprefix("Error: "))


@pytest.mark.parametrize("value", ["0", "", "false", "off"])
def test_prefbuild_debug_set_to_off_is_off(run_cli, tmp_path, monkeypatch, value):
    monkeypatch.setenv("PREFBUILD_DEBUG", value)
    assert run_cli("build", "arcc", "--out", tmp_path / "x") == (1, "", UNKNOWN_BUILDER)


def test_train_takes_debug_before_the_verb_and_shows_the_cause_hidden_by_from_none(run_cli, tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("beta: [0.1\n")
    code, _, err = run_cli("train", "--config", recipe)
    assert code == 1 and err.startswith("Error: Recipe is not valid YAML: ") and err.count("\n") == 1
    code, _, err = run_cli("--debug", "train", "--config", recipe)
    assert code == 1 and err.startswith("DEBUG prefbuild: prefbuild ")
    assert err.split("\n")[1].startswith("Error: Recipe is not valid YAML: ")
    # `raise PrefbuildError(...) from None` hides the YAML error from users; --debug shows it first
    assert "yaml.parser.ParserError" in err and "During handling of the above exception" in err
    assert err.index("yaml.parser.ParserError") < err.index("prefbuild.errors.PrefbuildError: Recipe is not valid")


def test_debug_is_not_part_of_the_recorded_command():
    from prefbuild.cli import _recorded_command

    assert _recorded_command(["build", "arc", "--debug", "--out", "x", "--overwrite"]) == "prefbuild build arc --out x"


def test_an_unexpected_error_keeps_its_traceback_and_says_how_to_report_it(run_cli, monkeypatch, tmp_path):
    import prefbuild.cli

    def broken(args, argv):
        raise RuntimeError("a bug")

    monkeypatch.setattr(prefbuild.cli, "_run_stats", broken)
    with pytest.raises(RuntimeError, match="a bug") as raised:
        run_cli("stats", tmp_path)
    assert "it is a bug: please report it with the command you ran and this traceback" in raised.value.__notes__[0]


def test_log_lines_are_bare_on_stderr_and_debug_only_with_debug(capsys):
    """stdout is the command's result: `prefbuild stats DIR --json | jq` works whatever the library logs."""
    logger = logging.getLogger("prefbuild.some.module")
    setup_logging(debug=False)
    logger.debug("hidden")
    logger.info("Model saved to out.")
    logger.warning("careful\nsecond line")
    assert capsys.readouterr() == ("", "Model saved to out.\ncareful\nsecond line\n")
    setup_logging(debug=True)
    logger.debug("shown")
    assert capsys.readouterr() == ("", "DEBUG prefbuild.some.module: shown\n")
    console = [h for h in logging.getLogger("prefbuild").handlers if isinstance(h, ConsoleHandler)]
    assert len(console) == 1  # set up twice, one handler


def test_only_rank_0_prints_info(capsys, monkeypatch):
    logger = logging.getLogger("prefbuild.train.run")
    monkeypatch.setenv("RANK", "1")
    assert process_rank() == 1
    setup_logging(debug=False)
    logger.info("Model saved to out.")
    logger.warning("careful\nsecond line")
    assert capsys.readouterr() == ("", "[rank 1] careful\n[rank 1] second line\n")
    monkeypatch.setenv("RANK", "0")
    logger.info("Model saved to out.")
    assert capsys.readouterr() == ("", "Model saved to out.\n")
    # LOCAL_RANK alone (some launchers), and --debug: every rank prints everything, prefixed
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("LOCAL_RANK", "3")
    setup_logging(debug=True)
    logger.info("step 1")
    assert capsys.readouterr().err == "[rank 3] step 1\n"


def test_errors_on_other_ranks_say_which_rank(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    assert run_cli("build", "arcc", "--out", tmp_path / "x") == (1, "", "[rank 2] " + UNKNOWN_BUILDER)


def test_the_demo_used_as_a_library_narrates_through_its_logger(tmp_path, capsys):
    """`prefbuild demo` prints the narration (its output) on stdout; `run_demo()` called from Python logs it at INFO
    on `prefbuild.demo` instead of printing."""
    from prefbuild.demo import run_demo

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append((record.levelno, record.getMessage()))

    demo_logger = logging.getLogger("prefbuild.demo")
    demo_logger.addHandler(collect := Collect())
    try:
        run_demo(tmp_path / "demo", train=False)
    finally:
        demo_logger.removeHandler(collect)
    assert capsys.readouterr().out == ""
    assert len(messages) > 20 and {level for level, _ in messages} == {logging.INFO}
    assert messages[0][1].startswith("\n== 1. Build metamath from the package's sample rows\n$ prefbuild build ")
    assert messages[-1][1] == "Next: `prefbuild build arc --out data/arc` builds from the Hub; see `prefbuild --help`."


def _prints(path: Path) -> list[str]:
    """`print(...)`, `accelerator.print(...)` and `print` passed as a value (`echo=print`), by file:line."""
    where = path.relative_to(PACKAGE.parent)
    return [
        f"{where}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Name) and node.id == "print")
        or (isinstance(node, ast.Attribute) and node.attr == "print")
    ]


def test_library_code_logs_instead_of_printing():
    """Only cli.py prints: a command's result. Everything else logs, so torchrun's ranks and --debug apply to it."""
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "cli.py" for hit in _prints(path)]
    assert found == []
