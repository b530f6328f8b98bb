"""Console output of the `prefbuild` command: one handler on the `prefbuild` logger, set up by `cli.main`.

Library modules log through `logger = logging.getLogger(__name__)` and never print. `setup_logging` gives the
`prefbuild` logger a console handler that prints each message bare, as the `print` calls it replaces did, on
stderr: stdout is left to a command's result (`prefbuild stats DIR --json | jq` works whatever the library logs,
e.g. CHES scoring progress). DEBUG lines name their logger. Used as a library (no `setup_logging`), records
propagate to whatever logging the caller configured, as any library's do.

Under torchrun or `accelerate launch` every process runs `cli.main`: only rank 0 prints INFO; the other ranks print
WARNING and above, prefixed with `[rank N]`. With `--debug` / `PREFBUILD_DEBUG=1` the level is DEBUG and every
rank prints everything (prefixed), since a multi-process problem is usually on one rank.
"""

from __future__ import annotations

import logging
import os
import sys

DEBUG_ENV = "PREFBUILD_DEBUG"
_OFF = ("", "0", "false", "no", "off")


def debug_from_env() -> bool:
    """True when `PREFBUILD_DEBUG` is set to anything but empty, 0, false, no or off."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in _OFF


def process_rank() -> int:
    """This process's global rank: torch.distributed's once it is initialised, else RANK (set by torchrun and
    accelerate launch), else LOCAL_RANK, else 0. torch is not imported here: if it was never imported, no process
    group can exist."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank()
    for name in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return 0


def rank_prefix() -> str:
    """`[rank N] ` on ranks other than 0, so interleaved lines of several processes say where they come from."""
    rank = process_rank()
    return f"[rank {rank}] " if rank else ""


class ConsoleHandler(logging.Handler):
    """Bare messages on stderr. The stream is looked up for each record, so redirections made after setup
    (pytest's capsys, contextlib.redirect_stderr) see the output."""

    def __init__(self, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.INFO)
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        # The rank is read per record: torch.distributed may be initialised after setup (by the trainer)
        if not self.debug and record.levelno < logging.WARNING and process_rank() != 0:
            return False
        return super().filter(record)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno < logging.INFO:
            message = f"DEBUG {record.name}: {message}"
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        prefix = rank_prefix()
        return "\n".join(prefix + line for line in message.split("\n")) if prefix else message

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def setup_logging(debug: bool = False) -> logging.Logger:
    """Give the `prefbuild` logger its console handler (replacing one set up before) and return the logger.

    debug: DEBUG level instead of INFO; `PREFBUILD_DEBUG=1` turns it on too. The logger stops propagating, so a
    root handler configured by another library does not print each line twice.
    """
    debug = debug or debug_from_env()
    logger = logging.getLogger("prefbuild")
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(ConsoleHandler(debug))
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger
