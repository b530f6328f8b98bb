"""Byte-identity guard: the package samples build to the bytes pinned in tests/fixtures/byte_identity_samples.json.

benchmarks/byte_identity.py builds every sample and fixture set (builds, mixtures, decontamination) and compares
digests between commits; this test pins the cheap part, the three package samples, so that a change which alters
what prefbuild writes fails here, loudly, instead of going unnoticed. Parquet, PNG and card bytes depend on the
installed pyarrow / matplotlib / huggingface_hub / datasets, so those files are compared only with the versions
the pins were made with; stats.json always is.
"""

import importlib.util
import json

import pytest

from tests.conftest import FIXTURES, REPO

PINS = FIXTURES / "byte_identity_samples.json"
REGENERATE = "python benchmarks/byte_identity.py --quick --pins tests/fixtures/byte_identity_samples.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("byte_identity", REPO / "benchmarks" / "byte_identity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("byte-identity") / "digests.json"
    assert module.main(["--quick", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _differences(pins: dict, built: dict, files: set[str] | None) -> list[str]:
    differences = []
    for folder, pinned in pins["folders"].items():
        got = built["folders"].get(folder, {}).get("files", {})
        for name in sorted(set(pinned) | set(got)):
            if (files is None or name in files) and pinned.get(name) != got.get(name):
                differences.append(f"{folder}/{name}")
    return differences


def test_sample_stats_json_bytes_are_pinned(built):
    pins = json.loads(PINS.read_text())
    assert set(built["folders"]) == set(pins["folders"])
    differences = _differences(pins, built, {"stats.json"})
    assert not differences, (
        f"prefbuild now writes different stats.json bytes for {differences}. If that is intended, regenerate the "
        f"pins (`{REGENERATE}`) and say why in the commit; otherwise the change broke byte identity."
    )


def test_sample_folder_bytes_are_pinned(built):
    pins = json.loads(PINS.read_text())
    if built["versions"] != pins["versions"]:
        pytest.skip(f"pins made with {pins['versions']}, installed {built['versions']}: only stats.json compared")
    differences = _differences(pins, built, None)
    assert not differences, (
        f"prefbuild now writes different bytes for {differences}. If that is intended, regenerate the pins "
        f"(`{REGENERATE}`) and say why in the commit; otherwise the change broke byte identity."
    )
