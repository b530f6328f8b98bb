"""Bounded loading of Hub ids (tokenizers, models, datasets): an unreachable Hub is one line within seconds.

Left alone, `from_pretrained` / `load_dataset` on an unreachable Hub print 25-50 s of huggingface_hub's
`Retrying in 8s [Retry 5/5]` lines and end in "We couldn't connect…" or "is not cached in None", with no word on
what to do. `hub_access` wraps such a load:

1. `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE` / `HF_DATASETS_OFFLINE`) set: nothing is sent; the load reads the
   local cache, and a miss becomes one line saying the variable is set.
2. Otherwise one HEAD request to the endpoint (`HF_ENDPOINT`, default https://huggingface.co), bounded to
   `PROBE_TIMEOUT_S` in all (name resolution included: it runs in a thread we stop waiting for). Any HTTP answer,
   even an error status, means reachable. No answer: the load runs in offline mode, so a cached copy still loads,
   and a miss becomes one line naming the host. Measured: a closed port or a server that accepts and never answers
   fails in about `PROBE_TIMEOUT_S` plus the loader's own import time.
3. Reachable: the load runs as usual (huggingface_hub's own 10 s per-request timeouts), and a connection failure
   in the middle of it (a chain holding a transport error, not an HTTP status) becomes the same one line. A 401,
   404 or 500 keeps the caller's own message.

The probe's answer is kept for the process (per endpoint), so a build that loads a tokenizer and a source probes once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import urlparse

from prefbuild.errors import PrefbuildError

PROBE_TIMEOUT_S = 5.0  # connect + read of the probe; a healthy Hub answers a HEAD in well under 1 s
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def endpoint() -> str:
    """The Hub endpoint huggingface_hub talks to (`HF_ENDPOINT`, default https://huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def offline_variable() -> str | None:
    """The name of the offline switch that is on (as huggingface_hub and datasets read them), or None."""
    from huggingface_hub import constants

    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE"):
            return name
    if constants.HF_HUB_OFFLINE:  # set in-process (e.g. by a test or a notebook)
        return "HF_HUB_OFFLINE"
    return None


def is_local(name: str | os.PathLike) -> bool:
    """Whether `name` is meant as a path (it exists, or reads like one), not a Hub id `name` / `owner/name`."""
    text = str(name)
    return os.path.exists(os.path.expanduser(text)) or text.startswith((".", "/", "~")) or text.count("/") > 1


@lru_cache(maxsize=8)
def probe(url: str, timeout: float | None = None) -> str | None:
    """None if `url` gives any HTTP answer within `timeout` seconds (default `PROBE_TIMEOUT_S`), else why not."""
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    outcome: list[str | None] = []

    def send() -> None:
        from huggingface_hub.utils import get_session

        try:
            get_session().head(url, timeout=timeout, follow_redirects=False)
            outcome.append(None)
        except Exception as error:  # noqa: BLE001 - every transport failure means "unreachable"
            outcome.append(_describe(error, timeout))

    thread = threading.Thread(target=send, name="prefbuild-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)  # +1 s: the request's own timeout fires first when it can
    if not outcome:
        return f"no answer within {timeout:g} s"
    return outcome[0]


def _describe(error: BaseException, timeout: float) -> str:
    name = type(error).__name__
    if "Timeout" in name:
        return f"no answer within {timeout:g} s"
    text = str(error).strip().splitlines()[0] if str(error).strip() else name
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "nodename nor servname" in text.lower():
        return "host name not resolved"
    return text[:120]


def _network_failure(error: BaseException) -> str | None:
    """Why a load failed if it was the network (a transport error in the chain), else None."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, HfHubHTTPError | OfflineModeIsEnabled):
            return None  # the Hub answered (401, 404, 500 …): the caller's message says more
        if isinstance(error, httpx2.TransportError | TimeoutError | ConnectionError):
            return _describe(error, PROBE_TIMEOUT_S)
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def _forced_offline() -> Iterator[None]:
    """Run the block as if HF_HUB_OFFLINE were set: transformers and datasets read the cache and send nothing."""
    import datasets.config
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


@contextmanager
def hub_access(kind: str, name: str, hint: str) -> Iterator[None]:
    """Load the Hub id `name` (a `kind`: "tokenizer", "model", "dataset") in the block, within bounded time.

    `hint` is the fix to offer, e.g. "Pass --tokenizer a local folder". Raises `PrefbuildError` with one line naming
    the host (or the offline variable) when the Hub cannot serve `name` and no cached copy exists. Other errors
    (a 404, a bad config) pass through unchanged for the caller's own handling.
    """
    switch = offline_variable()
    if switch is not None:
        try:
            with _forced_offline():  # one switch is enough: HF_DATASETS_OFFLINE alone leaves transformers online
                yield
        except OSError as error:  # transformers: OSError; datasets: ConnectionError / FileNotFoundError subclasses
            raise PrefbuildError(
                f"Cannot load {kind} '{name}': {switch} is set and it is not in the local Hugging Face cache. "
                f"{hint}, or unset {switch} to download it."
            ) from error
        return

    url = endpoint()
    host = urlparse(url).netloc or url
    why = probe(url)
    if why is not None:
        try:
            with _forced_offline():
                yield
        except OSError as error:
            raise PrefbuildError(
                f"Cannot load {kind} '{name}': the Hugging Face Hub at {host} is unreachable ({why}) and it is not "
                f"in the local cache. {hint}."
            ) from error
        return

    try:
        yield
    except Exception as error:
        why = _network_failure(error)
        if why is None:
            raise
        raise PrefbuildError(
            f"Cannot load {kind} '{name}': the Hugging Face Hub at {host} stopped answering ({why}). {hint}."
        ) from error
