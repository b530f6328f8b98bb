"""Output paths that cannot hurt, and writes that leave either the old folder or the new one.

Every verb that writes a folder (build, mix, push --dry-run, tiny-model, analyze, repro) checks its output path
with `check_out` before doing any work:

- never `/`, the home folder, the current folder, or a folder that contains one of them, even with --overwrite;
- never the input itself, a folder that contains an input, or a path inside an input folder;
- never a symbolic link (dangling or not: writing through it would land somewhere else);
- never an existing file (--overwrite replaces folders only), a path under a file, or one in an unwritable folder;
- an existing folder only with --overwrite.

`deferred_signals()` holds SIGINT / SIGTERM back while a few renames run, so that an interrupted command never
leaves a half-swapped folder or a temporary sibling behind (the command line turns SIGTERM into an exception, like
Ctrl-C, so the same clean-up runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from prefbuild.errors import PrefbuildError


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def protected_folders() -> dict[Path, str]:
    """Folders no command may replace or write into as a whole (/, the current folder, the home folder)."""
    folders = {Path("/").resolve(): "the root folder", _resolved(Path.cwd()): "the current folder"}
    with contextlib.suppress(RuntimeError):  # no home folder (e.g. no HOME and no passwd entry)
        folders.setdefault(_resolved(Path.home()), "your home folder")
    return folders


def check_out(
    out: str | Path, *, overwrite: bool, inputs: Iterable[str | Path | None] = (), flag: str = "--out"
) -> Path:
    """Refuse an output path that would destroy or leak something; return it as a Path (not resolved).

    inputs: the paths the command reads (source files or folders); Hub ids that are not local paths are ignored.
    overwrite: an existing folder is accepted (it will be replaced).
    """
    out = Path(out).expanduser()  # "" is "."
    if out.is_symlink():
        target = os.readlink(out)
        state = "" if out.exists() else ", which does not exist"
        raise PrefbuildError(
            f"{flag} '{out}' is a symbolic link (to '{target}'{state}). Give a real folder path, not a link."
        )
    resolved = _resolved(out)
    for folder, what in protected_folders().items():
        if _is_within(folder, resolved):
            holds = "is" if folder == resolved else "contains"
            raise PrefbuildError(f"{flag} '{out}' {holds} {what}; refusing to write there. Give a new folder.")
    for source in inputs:
        if source is None:
            continue
        path = Path(source).expanduser()
        if not path.exists():
            continue  # a Hub id, or something the command will report as missing
        source_resolved = _resolved(path)
        if source_resolved == resolved:
            raise PrefbuildError(f"{flag} '{out}' is the input '{source}' itself; write to a new folder.")
        if _is_within(source_resolved, resolved):
            raise PrefbuildError(f"{flag} '{out}' contains the input '{source}'; write to a folder outside it.")
        if _is_within(resolved, source_resolved):
            raise PrefbuildError(f"{flag} '{out}' lies inside the input '{source}'; write to a folder outside it.")
    if out.exists():
        if not out.is_dir():
            raise PrefbuildError(f"{flag} '{out}' is an existing file, not a folder; choose another path.")
        if not overwrite:
            raise PrefbuildError(f"Output folder '{out}' already exists. Pass --overwrite to replace it.")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise PrefbuildError(f"Cannot create {flag} '{out}': '{parent}' is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PrefbuildError(f"Cannot create {flag} '{out}': no permission to write in '{parent}'.")
    return out


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on the first one that came (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        handler = previous[received[0]]
        if callable(handler):
            handler(received[0], None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(received[0])
