"""Two training processes on CPU with gloo, started by torchrun, both train and stay in sync.

`accelerate launch --num_processes 2 --cpu` silently runs a single process, so the test uses torchrun.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from prefbuild.train.tiny_model import write_tiny_model
from tests.conftest_train import FIXTURES, offline_env, write_pair_folder

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_two_processes_with_gloo_both_train(tmp_path):
    model = write_tiny_model(tmp_path / "tiny-model")
    pairs = write_pair_folder(tmp_path / "pairs")
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(FIXTURES / "ddp_worker.py"), str(ROOT / "recipes" / "tiny" / "dpop.yaml"), str(model), str(pairs),
               str(out)]  # fmt: skip
    result = subprocess.run(command, env=offline_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for rank, record in enumerate(ranks):
        assert record["rank"] == rank
        assert record["world_size"] == 2
        assert record["distributed_type"] == "DistributedType.MULTI_CPU" and record["backend"] == "gloo"
        assert record["global_step"] == 3 and len(record["batches"]) == 3
        assert record["param_change"] > 0
        assert record["losses"] and all(math.isfinite(loss) for loss in record["losses"])
    # Each rank trained on its own shard of the data, and DDP kept the weights identical
    assert ranks[0]["batches"] != ranks[1]["batches"]
    assert ranks[0]["param_checksum"] == ranks[1]["param_checksum"]
