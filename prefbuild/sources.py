"""Loading a builder's source: a Hub dataset id, or a local file or folder in the same schema as on the Hub."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import datasets

from prefbuild.errors import PrefbuildError

# File extensions `datasets` can load, mapped to its packaged loader names.
LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
SPLIT_FILES = ("train", "validation", "test")


def load_source(source: str, config: str | None = None, split_names: Iterable[str] = ()) -> datasets.DatasetDict:
    """Load every split of a source.

    - a file (.jsonl, .json, .parquet, .csv) → one split, `train`;
    - a folder with train / validation / test files → those splits, and the `split_names` files too (a source's
      own split names, e.g. UltraFeedback's `train_prefs.jsonl`);
    - a folder written by `save_to_disk`, or any folder `datasets.load_dataset` understands;
    - anything else is taken as a Hub dataset id (with `config`).
    """
    path = Path(source).expanduser()
    logger = datasets.logging.get_logger("datasets")
    level = logger.level
    logger.setLevel(datasets.logging.CRITICAL)  # its own error lines would duplicate our one-line Error
    try:
        if path.is_file():
            return _load_files({"train": [str(path)]}, path.suffix)
        if path.is_dir():
            return _load_folder(path, split_names)
        if path.suffix in LOADERS or source.startswith((".", "/", "~")):
            raise PrefbuildError(f"Cannot read --source '{source}': no such file or folder.")
        from prefbuild.hub_access import hub_access

        try:
            with hub_access("dataset", source, "Pass --source a local file or folder in the same schema"):
                return datasets.load_dataset(source, config)
        except datasets.exceptions.DatasetNotFoundError as error:  # its cause only says "is not cached in None"
            raise PrefbuildError(
                f"Cannot load --source '{source}': {str(error).splitlines()[0]} Check the id, run `hf auth login` "
                "for a gated or private set, or pass --source a local file or folder."
            ) from None
    except PrefbuildError:
        raise
    except Exception as error:  # datasets raises many types; the user needs one line naming the source
        undecodable = _first_undecodable_line(path) if path.exists() else None
        if undecodable is not None:
            raise PrefbuildError(undecodable) from None
        raise PrefbuildError(f"Cannot load --source '{source}': {root_cause(error)}") from None
    finally:
        logger.setLevel(level)


def _first_undecodable_line(path: Path) -> str | None:
    """Why a local text file did not load, when the reason is bytes that are not UTF-8: file, line and byte.

    `datasets` reads JSON with pyarrow, which does not check UTF-8 (prefbuild.bad_rows then finds such rows);
    but when a file also mixes types in a column, or is CSV, it fails to parse the file as a whole, so no row
    can be skipped around the bad bytes.
    """
    files = (
        [path] if path.is_file() else [p for p in sorted(path.iterdir()) if p.suffix in (".jsonl", ".json", ".csv")]
    )
    for file in files:
        with open(file, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    return (
                        f"'{file}', line {number}: text that is not valid UTF-8 (byte {line[error.start]:#04x} at "
                        f"position {error.start}), and the file cannot be parsed around it. Fix or remove the line."
                    )
    return None


def root_cause(error: BaseException) -> str:
    """The innermost exception's first line (datasets wraps parse errors in a generic message)."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _load_files(data_files: dict[str, list[str]], suffix: str) -> datasets.DatasetDict:
    loader = LOADERS.get(suffix)
    if loader is None:
        names = ", ".join(sorted(LOADERS))
        raise PrefbuildError(f"Cannot read --source file type '{suffix}'. Supported: {names}.")
    if loader == "json":
        for files in data_files.values():
            for file in files:
                _check_json_start(Path(file))
    return datasets.load_dataset(loader, data_files=data_files)


def _check_json_start(path: Path) -> None:
    """Refuse an empty JSON file, or one that does not start with an object or a list: pyarrow's JSON reader
    crashes the whole process (a segmentation fault, no error) on one whose first value is `null`."""
    with open(path, "rb") as handle:
        start = handle.read(4096).lstrip()
    if not start:
        raise PrefbuildError(f"'{path}' is empty: it holds no rows.")
    if start[:1] not in (b"{", b"["):
        first = start.split(maxsplit=1)[0][:20].decode("utf-8", errors="replace")
        raise PrefbuildError(
            f"'{path}' must hold JSON objects (one per line, or a list of them); it starts with {first!r}."
        )


def _load_folder(path: Path, split_names: Iterable[str] = ()) -> datasets.DatasetDict:
    if (path / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(path))
    data_files: dict[str, list[str]] = {}
    suffixes = set()
    for split in dict.fromkeys((*SPLIT_FILES, *split_names)):
        for suffix in LOADERS:
            candidate = path / f"{split}{suffix}"
            if candidate.is_file():
                data_files.setdefault(split, []).append(str(candidate))
                suffixes.add(suffix)
    if len(suffixes) > 1:
        raise PrefbuildError(f"--source folder '{path}' mixes file types {sorted(suffixes)}; use one per folder.")
    if data_files:
        return _load_files(data_files, suffixes.pop())
    return datasets.load_dataset(str(path))


def split_location(source: str, split: str) -> str:
    """Where a split's rows come from, for error messages: the file when the source is local, else the split."""
    path = Path(source).expanduser()
    if path.is_file():
        return f"'{path}'"
    if path.is_dir():
        for suffix in LOADERS:
            if (path / f"{split}{suffix}").is_file():
                return f"'{path / f'{split}{suffix}'}'"
    return f"--source '{source}' split '{split}'"


def check_fields(splits: datasets.DatasetDict, required: tuple[str, ...], source: str, builder: str) -> None:
    """Refuse a source whose rows lack a field the builder reads, before anything is built."""
    for split, dataset in splits.items():
        missing = [name for name in required if name not in dataset.column_names]
        if missing:
            raise PrefbuildError(
                f"--source '{source}' split '{split}' has no field {', '.join(repr(m) for m in missing)} "
                f"(builder '{builder}' reads: {', '.join(required)}; found: {', '.join(dataset.column_names)})."
            )
