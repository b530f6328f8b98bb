"""Push a folder written by `prefbuild build` / `prefbuild mix` to the Hugging Face Hub as one commit.

The folder is checked before anything touches the network: it must hold stats.json, the shards stats.json lists,
and a README.md whose YAML survives a DatasetCardData round trip. `--dry-run OUT` stops there and copies exactly
the files the commit would add into OUT.

The token comes from huggingface_hub's usual places (`HF_TOKEN`, then the cached `hf auth login`); it is passed
to the client and never printed, logged or written anywhere by prefbuild.
"""

from __future__ import annotations

import shutil
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

from prefbuild.cards import check_card
from prefbuild.errors import PrefbuildError
from prefbuild.output import read_output_folder


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


def _folder_files(folder: Path) -> list[str]:
    """Every regular file under `folder` as a POSIX path relative to it; hidden files and folders are left out."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        files.append(relative.as_posix())
    return files


def plan_push(folder: str | Path, repo_id: str, commit_message: str | None = None) -> PushPlan:
    """Check `folder` and `repo_id` and list the commit operations, without touching the network."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if not folder.is_dir():
        raise PrefbuildError(f"'{folder}' is not a folder. Push the folder `prefbuild build --out DIR` wrote.")
    # stats.json present and valid, every listed split has shards that open; no column data is read
    _, stats = read_output_folder(folder, columns=[])
    card = folder / "README.md"
    if not card.is_file():
        raise PrefbuildError(f"'{folder}' is not a prefbuild output folder: it has no README.md (dataset card).")
    check_card(card.read_text(encoding="utf-8"), where=str(card))
    files = _folder_files(folder)
    if commit_message is None:
        what = stats.get("builder", {}).get("name") or stats.get("mix", {}).get("name") or folder.name
        commit_message = f"Upload {what} preference pairs built with prefbuild {stats.get('prefbuild_version', '')}"
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
    sizes = {name: (folder / name).stat().st_size for name in files}
    return PushPlan(folder, repo_id, files, sizes, operations, commit_message.strip())


def write_dry_run(plan: PushPlan, out: str | Path) -> Path:
    """Copy exactly the files the commit would add into `out` (refused if it exists and is not empty)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PrefbuildError(f"--dry-run folder '{out}' already exists and is not empty; choose a new folder.")
    for name in plan.files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plan.folder / name, target)
    out.mkdir(parents=True, exist_ok=True)
    return out


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
    return PrefbuildError(f"Cannot reach the Hub at {endpoint}: {reason}")


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
) -> PushResult:
    """Upload a built folder to the dataset repo `repo_id` in one commit, creating the repo (and branch) if needed.

    With `dry_run`, write the files into that folder instead and touch no network. `token` defaults to
    huggingface_hub's `get_token()` (HF_TOKEN, then the cached login); `endpoint` to `HF_ENDPOINT` / the Hub.
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
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations=plan.operations,
            commit_message=plan.commit_message,
            repo_type="dataset",
            revision=revision,
        )
    except (HfHubHTTPError, OSError) as error:  # the Hub's answer, or the network
        raise _hub_error(error, repo_id, api.endpoint) from None
    except ValueError as error:  # the Hub's own README.md metadata validation
        reasons = " ".join(str(error).split())
        raise PrefbuildError(f"The Hub refused the card's metadata: {reasons}") from None
    except Exception as error:
        # huggingface_hub's HTTP client (httpx, or httpx2 in hub 2.x) raises its own transport errors
        if not type(error).__module__.startswith("httpx"):
            raise
        raise _hub_error(error, repo_id, api.endpoint) from None
    return PushResult(plan=plan, commit_url=commit.commit_url)
