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
