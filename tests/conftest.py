"""Shared test helpers. Tests are offline: the Hub is never contacted."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def console_logging():
    """Each test sees the console the `prefbuild` command sets up (`cli.main` calls `setup_logging`): the library's
    INFO lines on stdout, warnings on stderr, so capsys reads them as a user would. The logger's state is put back
    afterwards, so a test's `--debug` or RANK does not leak into the next."""
    import logging

    from prefbuild.log import ConsoleHandler, setup_logging

    logger = logging.getLogger("prefbuild")
    saved = (logger.level, logger.propagate)
    setup_logging(debug=False)
    yield
    # Only our handler goes: pytest attaches its own capture handlers to non-propagating loggers per test phase
    for handler in [handler for handler in logger.handlers if isinstance(handler, ConsoleHandler)]:
        logger.removeHandler(handler)
    logger.level, logger.propagate = saved


@pytest.fixture
def run_cli(capsys):
    """Run `prefbuild ARGS…` in-process; return (exit code, stdout, stderr)."""
    from prefbuild.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as exit_:  # argparse usage errors and --help
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
