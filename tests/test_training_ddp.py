"""DistributedDataParallel on CPU: two gloo processes under torchrun, through the real CLI."""

import json
import math
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.data]

from support.training import tiny_config, write_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_process_gloo_run(tmp_path):
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml", tiny_config(run, run={"steps": 4, "log_every": 1, "threads": 1,
                                                                  "checkpoint_every": 2}))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         os.path.join(HERE, "support", "ddp_train_worker.py"), str(cfg), str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2 and r0["code"] == r1["code"] == 0 and r0["step"] == r1["step"] == 4
    # identical parameters on both ranks after the steps
    p0, p1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    # ... which did train: they differ from a fresh model's
    from hls_translate.core.models import create_model
    fresh = create_model("adain_unet", **tiny_config(run)["model"]["params"]).state_dict()
    assert any(not torch.equal(p0[k], fresh[k]) for k in p0 if fresh[k].is_floating_point() and "normalization." not in k)
    # every rank's loss finite; ranks see different chips, so their local losses differ
    assert len(r0["losses"]) == len(r1["losses"]) == 4
    assert all(math.isfinite(x) for x in r0["losses"] + r1["losses"])
    assert r0["losses"] != r1["losses"]
    # checkpoints written by rank 0 only, once each: last.pt at steps 2 and 4, best.pt after the final validation
    assert r0["saved"] == ["last.pt", "best.pt", "last.pt"] and r1["saved"] == []
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.yaml", "last.pt", "log.jsonl"]
    from hls_translate.training.checkpoint import load_checkpoint
    st = load_checkpoint(str(run / "last.pt"))
    assert st["training_summary"]["world_size"] == 2 and st["training_summary"]["samples_seen"] == 4 * 4 * 2
    for k in p0:
        assert torch.equal(st["modules"]["model"][k], p0[k]), k
    # only rank 0 logged
    assert proc.stderr.count("model adain_unet:") == 1
