"""The private `datasets` APIs prefbuild uses (prefbuild/compat.py) still behave as prefbuild expects.

Each test fails with a message naming prefbuild/compat.py when a `datasets` upgrade changes one of them.
"""

import datasets
import pyarrow as pa
import pytest

from prefbuild import compat

MESSAGES = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))


def test_features_yaml_list_is_what_cards_record():
    schema = pa.schema(
        [("prompt", pa.string()), ("chosen", MESSAGES), ("edit_distance_char", pa.float64()), ("tier", pa.int64())]
    )
    expected = [
        {"name": "prompt", "dtype": "string"},
        {"name": "chosen", "list": [{"name": "content", "dtype": "string"}, {"name": "role", "dtype": "string"}]},
        {"name": "edit_distance_char", "dtype": "float64"},
        {"name": "tier", "dtype": "int64"},
    ]
    assert compat.features_to_yaml_list(schema) == expected, (
        f"datasets {datasets.__version__} writes `dataset_info.features` differently: cards would change. "
        "Update prefbuild/compat.py.features_to_yaml_list (and the byte-identity pins if intended)."
    )


def test_dataset_table_is_the_rows_in_order():
    dataset = datasets.Dataset.from_dict({"a": [1, 2, 3, 4]})
    table = compat.dataset_table(dataset)
    assert isinstance(table, pa.Table) and table.column("a").to_pylist() == [1, 2, 3, 4]
    picked = compat.dataset_table(dataset.select([3, 1]))
    assert picked.column("a").to_pylist() == [4, 2], "an indices mapping must be applied (prefbuild/compat.py)"


def test_dataset_fingerprint_is_a_string_that_follows_the_data():
    dataset = datasets.Dataset.from_dict({"a": [1, 2]})
    first = compat.dataset_fingerprint(dataset)
    mapped = dataset.map(lambda row: {"a": row["a"] + 1})
    assert isinstance(first, str) and first and compat.dataset_fingerprint(mapped) != first


def test_a_missing_upstream_api_fails_loudly(monkeypatch):
    monkeypatch.delattr(datasets.Features, "_to_yaml_list")
    with pytest.raises(compat.UpstreamChanged, match=r"Features._to_yaml_list.*prefbuild/compat.py"):
        compat.features_to_yaml_list(pa.schema([("prompt", pa.string())]))
