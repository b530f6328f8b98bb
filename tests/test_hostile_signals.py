"""Ctrl-C and SIGTERM with a real subprocess: one line, exit 130, no worker tracebacks, and either the old folder
or the new one at --out with no temporary siblings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import FIXTURES, REPO

pytestmark = pytest.mark.slow  # each case starts a Python process that imports datasets


def _start(args: list, cwd: Path) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "prefbuild", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so the signal reaches the workers as a real Ctrl-C does
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    return process, lines


def _siblings(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_ctrl_c_with_two_workers_is_one_line(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "metamath" / "train.jsonl").read_text().splitlines()]
    with open(tmp_path / "rows.jsonl", "w") as handle:
        for index in range(40_000):
            row = rows[index % len(rows)]
            handle.write(json.dumps({**row, "query": f"{row['query']} #{index}"}) + "\n")
    args = ["build", "metamath", "--source", "rows.jsonl", "--out", "out", "--num-proc", "2", "--eval-size", "0"]
    process, lines = _start(args, tmp_path)
    deadline = time.monotonic() + 120
    while not any("Building metamath" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    time.sleep(0.2)
    err = "".join(lines)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.replace("\r", "\n").splitlines() if line.startswith("Error")] == [
        "Error: interrupted."
    ]
    assert not (tmp_path / "out").exists() and _siblings(tmp_path) == []


@pytest.mark.parametrize("delay", [1.0, 3.0, 4.5, 6.0])
def test_sigterm_during_overwrite_leaves_the_old_or_the_new_folder(tmp_path, delay):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text('{"old": true}')
    process, lines = _start(["build", "arc", "--source", FIXTURES / "arc", "--out", out, "--overwrite"], tmp_path)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    time.sleep(0.2)
    err = "".join(lines)
    assert "Traceback" not in err
    # 130: stopped by prefbuild; -15: the signal came before prefbuild's handlers (imports) or after it finished
    assert process.returncode in (0, 130, -signal.SIGTERM), err
    stats = json.loads((out / "stats.json").read_text())
    assert stats == {"old": True} or (stats["builder"]["name"] == "arc" and (out / "README.md").is_file())
    assert _siblings(tmp_path) == []


def test_signals_wait_for_the_renames():
    from prefbuild.paths import deferred_signals

    # Python's own Ctrl-C handler as the one to restore, whatever earlier tests left; the signal raised in the main
    # thread (os.kill may hand it to another thread, and the main thread then handles it at an unpredictable time)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    reached_end = False
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                signal.raise_signal(signal.SIGINT)
                time.sleep(0.1)  # the handler has run by now, and only recorded the signal
                reached_end = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached_end
