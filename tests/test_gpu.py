"""The GPU path: the benchmark script runs (tiny shapes on a CPU here), and on a machine with CUDA the pool trains
the same models there as on the CPU. Nothing here needs a GPU to pass where none is present."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mia_lib import train

REPO = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_script_runs_in_smoke_mode(tmp_path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "gpu_pool.py"), "--device", "cpu", "--smoke", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["smoke"] and {"cnn32_mnist_fp32", "resnet9_cifar_fp32"} <= set(res["cases"])
    assert all(r["step_s"] > 0 for r in res["cases"].values())
    assert res["cnn32_largest_shard_fp32"] == 4 and res["cnn32_projection_minutes_fp32"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["mlp", "cnn32"])
def test_cuda_pool_equals_cpu_pool(name):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(64, 1, 8, 8, generator=g), torch.arange(64) % 10
    keep = train.balanced_keep(4, 64, 0)
    seeds = [train.model_seed(0, m) for m in range(4)]
    sched = train.batch_schedule(keep, seeds, 2, 16)
    recipe = train.Recipe(epochs=2, batch_size=16, lr=0.05)
    out = {}
    for dev in ("cpu", "cuda"):
        mods = train.init_states(name, (1, 8, 8), 10, seeds)
        out[dev] = train.train_vmapped(mods, X, y, sched, recipe, torch.device(dev), progress=False)[0]
    for k in out["cpu"]:
        torch.testing.assert_close(out["cuda"][k].cpu(), out["cpu"][k], rtol=1e-4, atol=1e-5)
