"""The private `datasets` APIs prefbuild relies on, each in one small function.

`datasets` is pinned to the minor version these were checked against (pyproject.toml). tests/test_compat.py checks
each of them against what prefbuild expects and fails with a message naming this module when an upgrade changes
one: fix it here, nowhere else.

- `features_to_yaml_list`: the card's `dataset_info.features`, in the exact YAML form `datasets` itself writes
  into cards (`Features._to_yaml_list`, private). The Hub viewer and `datasets.load_dataset(DIR)` read it.
- `dataset_table`: a `Dataset`'s rows as one Arrow table without a copy (`Dataset.data.table`: `.data` is public,
  the `.table` attribute of its wrapper is not).
- `dataset_fingerprint`: the fingerprint `datasets` gave a dataset (`Dataset._fingerprint`, private), so that a
  map's own fingerprint can be derived from it instead of hashing the builder object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import datasets


class UpstreamChanged(RuntimeError):
    """A private `datasets` API prefbuild uses is gone or changed; the message says where to fix it."""


def _changed(what: str, error: Exception) -> UpstreamChanged:
    import datasets

    return UpstreamChanged(
        f"datasets {datasets.__version__} changed {what}, a private API prefbuild uses "
        f"(prefbuild/compat.py; pyproject.toml pins the datasets minor version it was checked with): {error!r}"
    )


def features_to_yaml_list(schema: pa.Schema) -> list[dict[str, Any]]:
    """`dataset_info.features` for an Arrow schema, as `datasets` writes it into a dataset card."""
    import datasets

    features = datasets.Features.from_arrow_schema(schema)
    try:
        return features._to_yaml_list()
    except AttributeError as error:
        raise _changed("Features._to_yaml_list", error) from None


def dataset_table(dataset: datasets.Dataset) -> pa.Table:
    """The dataset's rows as an Arrow table, in the dataset's order (an indices mapping, from `select` or
    `shuffle`, is applied; without one the table is the dataset's own, not a copy)."""
    if getattr(dataset, "_indices", None) is not None:
        return dataset.with_format("arrow")[:]
    try:
        table = dataset.data.table
    except AttributeError as error:
        raise _changed("Dataset.data.table", error) from None
    if not isinstance(table, pa.Table):
        raise _changed("Dataset.data.table", TypeError(f"expected a pyarrow.Table, got {type(table).__name__}"))
    return table


def dataset_fingerprint(dataset: datasets.Dataset) -> str:
    """The fingerprint `datasets` gave `dataset` (a hash of how it was made)."""
    try:
        fingerprint = dataset._fingerprint
    except AttributeError as error:
        raise _changed("Dataset._fingerprint", error) from None
    if not isinstance(fingerprint, str):
        raise _changed("Dataset._fingerprint", TypeError(f"expected a string, got {type(fingerprint).__name__}"))
    return fingerprint
