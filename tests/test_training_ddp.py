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


def _torchrun(tmp_path, cfg):
    """Train ``cfg`` (a written config file) in two gloo processes; the finished process and its out folder."""
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         os.path.join(HERE, "support", "ddp_train_worker.py"), str(cfg), str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, out


def _two_ranks(tmp_path, cfg):
    """Run ``cfg`` on 2 gloo processes; (the finished process, each rank's report, each rank's final
    parameters and buffers), after checking that both ranks end with the very same tensors."""
    proc, out = _torchrun(tmp_path, cfg)
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    p0, p1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    return proc, reports, (p0, p1)


def test_two_process_gloo_run(tmp_path):
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml", tiny_config(run, run={"steps": 4, "log_every": 1, "threads": 1,
                                                                  "checkpoint_every": 2}))
    proc, (r0, r1), (p0, p1) = _two_ranks(tmp_path, cfg)  # identical parameters on both ranks after the steps
    assert r0["world"] == r1["world"] == 2 and r0["code"] == r1["code"] == 0 and r0["step"] == r1["step"] == 4
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


def test_two_process_gloo_run_in_channels_last_memory(tmp_path):
    """``run.channels_last: on`` under DDP (what a CUDA run gets by default): the network is put in NHWC memory
    before DDP wraps it, so its gradient buckets match; both ranks end with the same trained parameters."""
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml", tiny_config(run, run={"steps": 3, "log_every": 1, "threads": 1,
                                                                  "channels_last": "on"}))
    proc, (r0, r1), (p0, p1) = _two_ranks(tmp_path, cfg)
    assert r0["step"] == r1["step"] == 3 and all(math.isfinite(x) for x in r0["losses"] + r1["losses"])
    assert "channels-last memory" in proc.stderr and "Grad strides do not match" not in proc.stderr
    from hls_translate.training.checkpoint import load_checkpoint

    st = load_checkpoint(str(run / "last.pt"))
    kernels = [v for v in st["modules"]["model"].values() if v.dim() == 4 and v.shape[1] > 1 and v.shape[-1] > 1]
    assert kernels and all(v.is_contiguous(memory_format=torch.channels_last) and not v.is_contiguous()
                           for v in kernels)
    from hls_translate.core.models import create_model
    fresh = create_model("adain_unet", **tiny_config(run)["model"]["params"]).state_dict()
    assert any(not torch.equal(p0[k], fresh[k]) for k in p0 if fresh[k].is_floating_point() and "normalization." not in k)


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_two_process_gloo_run_of_each_gan_family(tmp_path, family):
    """pix2pix (batch norm, dropout) and CycleGAN (two generators, image pools) average their gradients and
    batch-norm statistics by hand: both ranks end with the same generator, buffers included, and rank 0's
    checkpoint holds every rank's image pools."""
    from support.families import cyclegan_config, pix2pix_config

    make = pix2pix_config if family == "pix2pix" else cyclegan_config
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml", make(run, run={"steps": 3, "log_every": 1}))
    proc, (r0, r1), (p0, p1) = _two_ranks(tmp_path, cfg)
    assert r0["world"] == 2 and r0["step"] == r1["step"] == 3 and r0["losses"] != r1["losses"]
    import yaml

    from hls_translate.core.models import create_model
    from hls_translate.training.checkpoint import load_checkpoint

    section = yaml.safe_load(cfg.read_text())["model"]
    fresh = create_model(section["name"], **section["params"]).state_dict()
    assert any(not torch.equal(p0[k], fresh[k]) for k in p0 if p0[k].is_floating_point() and "normalization." not in k)
    st = load_checkpoint(str(run / "last.pt"))
    if family == "cyclegan":
        pools = st["objective_state"]["pools"]
        assert len(pools) == 2 and all(p["a"]["images"].shape[0] == 3 * 2 for p in pools)
        assert not torch.equal(pools[0]["a"]["images"], pools[1]["a"]["images"])  # each rank's own fakes
    else:
        assert any("running_mean" in k for k in p0)  # the batch-norm statistics agree too


def test_two_process_gloo_run_of_spade(tmp_path):
    """SPADE (parameter-free batch norm, spectral norm, a multi-scale discriminator) on the real T29RKH SCL:
    gradients and batch-norm statistics averaged by hand, so both ranks end with the same generator,
    buffers (running statistics, spectral-norm vectors) included, and it trained."""
    from support.spade import spade_config

    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml", spade_config(run, run={"steps": 3, "log_every": 1}))
    proc, (r0, r1), (p0, p1) = _two_ranks(tmp_path, cfg)
    assert r0["world"] == 2 and r0["step"] == r1["step"] == 3 and r0["losses"] != r1["losses"]
    assert any("running_mean" in k for k in p0) and any("parametrizations" in k for k in p0)
    from hls_translate.core.models import create_model
    from support.spade import SCL_PRESENT, SPADE_MODEL

    fresh = create_model("spade_generator", label_classes=SCL_PRESENT, **SPADE_MODEL).state_dict()
    assert any(not torch.equal(p0[k], fresh[k]) for k in p0 if p0[k].is_floating_point() and "normalization." not in k)
