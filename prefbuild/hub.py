"""Push a folder written by `prefbuild build` / `prefbuild mix` to the Hugging Face Hub as one commit.

The folder is checked before anything touches the network: it must hold stats.json, the shards stats.json lists,
and a README.md whose YAML (read with alias and depth bounds) survives a DatasetCardData round trip. Exactly the
files a prefbuild folder consists of are sent (README.md, stats.json, edit_distance.png, ches.png, the listed
shards), never a symbolic link and never anything else lying in the folder. `--dry-run OUT` stops there and writes
exactly those files into OUT, atomically. Every HTTP request has connect and read timeouts (HUB_CONNECT_SECONDS,
HUB_READ_SECONDS).

The token comes from huggingface_hub's usual places (`HF_TOKEN`, then the cached `hf auth login`); it is passed
to the client and never printed, logged or written anywhere by prefbuild.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from prefbuild import safe_yaml
from prefbuild.cards import check_card
from prefbuild.errors import PrefbuildError
from prefbuild.folder import open_pairs
from prefbuild.output import atomic_folder
from prefbuild.paths import check_out

# Seconds to open a connection / to wait for each answer. huggingface_hub's own client waits forever (timeout=None).
HUB_CONNECT_SECONDS = 10.0
HUB_READ_SECONDS = 60.0
# besides data/<split>-XXXXX-of-YYYYY.parquet; ches.png in a folder scored by `prefbuild stats --model --out`
FOLDER_FILES = ("README.md", "stats.json", "edit_distance.png", "ches.png")


@dataclass
class PushPlan:
    """What a push sends: one `CommitOperationAdd` per file of the folder, in one commit.

    folder: the built folder.  repo_id: `ORG/NAME` of the dataset repo.
    files: paths inside the repo (POSIX, sorted), one per operation.  sizes: bytes per file.
    operations: the commit operations handed to `HfApi.create_commit`.  commit_message: the commit's title.
    """

    folder: Path
    repo_id: str
    files: list[str]
    sizes: dict[str, int]
    operations: list[CommitOperationAdd]
    commit_message: str


@dataclass
class PushResult:
    """plan: what was (or would be) sent.  commit_url: the Hub's commit URL; None for a dry run.
    dry_run_folder: where a dry run copied the files; None for a real push."""

    plan: PushPlan
    commit_url: str | None = None
    dry_run_folder: Path | None = None


def check_repo_id(repo_id: str) -> None:
    """Refuse anything that is not `ORG/NAME` with the Hub's allowed characters."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PrefbuildError(
            f"--repo-id '{repo_id}' is not of the form ORG/NAME (your user name or an organisation, then the "
            "dataset name), e.g. my-org/arc-dpop."
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PrefbuildError(f"--repo-id '{repo_id}' is not a valid Hub repository id: {error}") from None


def _folder_files(folder: Path, splits: list[str]) -> list[str]:
    """The files a prefbuild folder consists of, as POSIX paths relative to it: the card, stats.json, the
    histogram when there is one, and each listed split's shards. Anything else in the folder stays home; a
    symbolic link among these files (it could point at a token or another dataset) is refused."""
    shard = re.compile(r"(?P<split>.+)-\d{5}-of-\d{5}\.parquet")
    names = [name for name in FOLDER_FILES if (folder / name).exists() or (folder / name).is_symlink()]
    data = folder / "data"
    if data.is_symlink():
        raise PrefbuildError(f"'{data}' is a symbolic link; push sends only files that lie inside '{folder}'.")
    for path in sorted(data.iterdir()) if data.is_dir() else []:
        match = shard.fullmatch(path.name)
        if match and match["split"] in splits:
            names.append(f"data/{path.name}")
    for name in names:
        path = folder / name
        if path.is_symlink():
            raise PrefbuildError(
                f"'{path}' is a symbolic link; push sends only regular files that lie inside '{folder}'. "
                "Replace the link with the file itself."
            )
        if not path.is_file():
            raise PrefbuildError(f"'{path}' is not a regular file; push sends only regular files.")
    return sorted(names)


def _check_card_file(card: Path) -> None:
    """The card is UTF-8 text whose YAML block parses within safe_yaml's bounds, then survives the round trip."""
    try:
        text = card.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PrefbuildError(
            f"{card} is not UTF-8 text (byte {error.object[error.start]:#04x} at position {error.start}); "
            "save the card as UTF-8."
        ) from None
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        safe_yaml.load(text[4:end] if end != -1 else text[4:], where=f"{card}'s YAML metadata")
    check_card(text, where=str(card))


def plan_push(folder: str | Path, repo_id: str, commit_message: str | None = None) -> PushPlan:
    """Check `folder` and `repo_id` and list the commit operations, without touching the network."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if not folder.is_dir():
        raise PrefbuildError(f"'{folder}' is not a folder. Push the folder `prefbuild build --out DIR` wrote.")
    for name in ("stats.json", "README.md"):
        if (folder / name).is_symlink():
            raise PrefbuildError(f"'{folder / name}' is a symbolic link; push sends only files inside '{folder}'.")
    # stats.json present and valid, every listed split has shards that open; no column data is read
    pairs = open_pairs(folder, hub=False)
    pairs.tables(columns=[])
    stats = pairs.stats
    card = folder / "README.md"
    if not card.is_file():
        raise PrefbuildError(f"'{folder}' is not a prefbuild output folder: it has no README.md (dataset card).")
    _check_card_file(card)
    files = _folder_files(folder, pairs.splits)
    if commit_message is None:
        what = next((info.name for info in (stats.builder, stats.mix) if info is not None and info.name), folder.name)
        commit_message = f"Upload {what} preference pairs built with prefbuild {stats.prefbuild_version or ''}"
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
    sizes = {name: (folder / name).stat().st_size for name in files}
    return PushPlan(folder, repo_id, files, sizes, operations, commit_message.strip())


def write_dry_run(plan: PushPlan, out: str | Path) -> Path:
    """Copy exactly the files the commit would add into `out`, atomically (refused if it exists and is not
    empty, or lies inside / contains the folder being pushed)."""
    out = Path(out).expanduser()
    empty = out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    if out.exists() and not empty and not out.is_symlink() and out.is_dir():
        raise PrefbuildError(f"--dry-run folder '{out}' already exists and is not empty; choose a new folder.")
    check_out(out, overwrite=empty, inputs=[plan.folder], flag="--dry-run")
    with atomic_folder(out, overwrite=empty, flag="--dry-run") as tmp:
        for name in plan.files:
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plan.folder / name, target)
    return out


@contextlib.contextmanager
def _bounded_http(connect: float, read: float) -> Iterator[None]:
    """huggingface_hub's shared client, with connect / read / write timeouts while the block runs."""
    from huggingface_hub.utils import _http

    try:
        import httpx2  # huggingface_hub 2.x
    except ImportError:  # huggingface_hub 1.x uses httpx, whose Timeout is the same
        import httpx as httpx2

    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

    def bounded_client() -> httpx2.Client:
        client = previous()
        client.timeout = httpx2.Timeout(read, connect=connect)
        return client

    _http.set_client_factory(bounded_client)
    try:
        yield
    finally:
        _http.set_client_factory(previous)


def _hub_error(error: Exception, repo_id: str, endpoint: str) -> PrefbuildError:
    """One line that says what went wrong and what to do; never the token."""
    if isinstance(error, OfflineModeIsEnabled):
        return PrefbuildError("HF_HUB_OFFLINE is set, so nothing can be pushed. Unset it, or use --dry-run OUT.")
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            return PrefbuildError(
                "The Hub rejected the token (401 Unauthorized). Set a valid HF_TOKEN or run `hf auth login`."
            )
        if status == 403:
            return PrefbuildError(
                f"No permission to write to '{repo_id}' (403 Forbidden): the token needs write access to the "
                f"'{repo_id.split('/')[0]}' namespace."
            )
        if isinstance(error, RepositoryNotFoundError) or status == 404:
            return PrefbuildError(f"Dataset repo '{repo_id}' was not found on {endpoint} and could not be created.")
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return PrefbuildError(f"The Hub refused the push to '{repo_id}' ({status}): {first}")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "Timeout" in type(error).__name__:
        return PrefbuildError(
            f"The Hub at {endpoint} did not answer in time ({type(error).__name__}: {reason}). Check the network "
            "and HF_ENDPOINT, then try again; --dry-run OUT checks everything without the network."
        )
    return PrefbuildError(
        f"Cannot reach the Hub at {endpoint}: {reason}. Check the network and HF_ENDPOINT, then try again."
    )


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    dry_run: str | Path | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    timeout: tuple[float, float] = (HUB_CONNECT_SECONDS, HUB_READ_SECONDS),
) -> PushResult:
    """Upload a built folder to the dataset repo `repo_id` in one commit, creating the repo (and branch) if needed.

    With `dry_run`, write the files into that folder instead and touch no network. `token` defaults to
    huggingface_hub's `get_token()` (HF_TOKEN, then the cached login); `endpoint` to `HF_ENDPOINT` / the Hub.
    `timeout`: (connect, read) seconds for each HTTP request; huggingface_hub retries some requests a bounded
    number of times (at most 5, with backoff), so a silent server fails the push within a bounded time.
    """
    plan = plan_push(folder, repo_id, commit_message)
    if dry_run is not None:
        return PushResult(plan=plan, dry_run_folder=write_dry_run(plan, dry_run))
    token = token or get_token()
    if not token:
        raise PrefbuildError(
            "No Hugging Face token found. Set HF_TOKEN to a token with write access, or run `hf auth login`."
        )
    api = HfApi(endpoint=endpoint, token=token)
    try:
        with _bounded_http(*timeout):
            commit = _commit(api, plan, repo_id, private, revision)
    except (HfHubHTTPError, OSError) as error:  # the Hub's answer, or the network
        raise _hub_error(error, repo_id, api.endpoint) from None
    except (KeyError, TypeError, json.JSONDecodeError) as error:  # a 200 answer without the fields we need
        raise PrefbuildError(
            f"The Hub at {api.endpoint} sent an answer prefbuild cannot read ({type(error).__name__}: {error}). "
            "Check HF_ENDPOINT points at a Hugging Face Hub, then try again."
        ) from None
    except ValueError as error:  # the Hub's own README.md metadata validation
        reasons = " ".join(str(error).split())
        raise PrefbuildError(f"The Hub refused the card's metadata: {reasons}") from None
    except Exception as error:
        # huggingface_hub's HTTP client (httpx, or httpx2 in hub 2.x) raises its own transport errors
        if not type(error).__module__.startswith("httpx"):
            raise
        raise _hub_error(error, repo_id, api.endpoint) from None
    if not isinstance(getattr(commit, "commit_url", None), str) or not commit.commit_url:
        raise PrefbuildError(
            f"The Hub at {api.endpoint} accepted the commit but sent no commit URL; check the repo '{repo_id}'."
        )
    return PushResult(plan=plan, commit_url=commit.commit_url)


def _commit(api: HfApi, plan: PushPlan, repo_id: str, private: bool, revision: str | None) -> object:
    """Create the repo (and branch) if needed and send the plan's operations as one commit."""
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    return api.create_commit(
        repo_id,
        operations=plan.operations,
        commit_message=plan.commit_message,
        repo_type="dataset",
        revision=revision,
    )
