"""The one exception type the command line turns into a one-line `Error: …` and exit code 1."""

import difflib
from collections.abc import Iterable


class PrefbuildError(Exception):
    """A user-facing error: the message names what went wrong, where, and how to fix it."""


def unknown_name_error(kind: str, name: str, available: Iterable[str]) -> PrefbuildError:
    """`Unknown builder 'arcc'. Did you mean: arc? Available: arc, gsm8k, hellaswag, metamath.`"""
    available = sorted(available)
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return PrefbuildError(f"Unknown {kind} '{name}'.{hint} Available: {', '.join(available)}.")
