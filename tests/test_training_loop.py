"""The training loop on real data with a tiny model: exact resume, NaN stop, checkpoints, GAN option,
export of a trained checkpoint with its summary and validation metrics."""

import json
import math
import os

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.errors import ConfigError  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.objectives import lr_factor  # noqa: E402
from hls_translate.training.trainer import TrainingDiverged, train  # noqa: E402

from support.training import tiny_config, write_config  # noqa: E402


def _cfg(tmp_path, name="c.yaml", **sections):
    return load_train_config(str(write_config(tmp_path / name, tiny_config(tmp_path / "run", **sections))))


def _params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.data
def test_resume_is_exact(tmp_path):
    torch.set_num_threads(1)
    cfg_a = load_train_config(str(write_config(tmp_path / "a.yaml", tiny_config(tmp_path / "runa", run={"steps": 6}))))
    straight = train(cfg_a, log=lambda m: None)
    cfg_b = load_train_config(str(write_config(tmp_path / "b.yaml", tiny_config(tmp_path / "runb", run={"steps": 6}))))
    half = train(cfg_b, stop_at=3, log=lambda m: None)
    assert half.step == 3
    state = load_checkpoint(half.last_checkpoint)
    assert state["step"] == 3 and state["sampler"]["step"] == 3
    resumed = train(cfg_b, resume=half.last_checkpoint, log=lambda m: None)
    assert resumed.step == 6
    a, b = _params(straight.model), _params(resumed.model)
    assert torch.allclose(a, b, atol=1e-6, rtol=0), float((a - b).abs().max())
    # and not trivially: the parameters moved during the second half
    assert not torch.allclose(_params(half.model), b, atol=1e-4)
    sa = load_checkpoint(straight.last_checkpoint)
    sb = load_checkpoint(resumed.last_checkpoint)
    for k in sa["optimizers"]["model"]["state"]:
        assert torch.allclose(sa["optimizers"]["model"]["state"][k]["exp_avg"],
                              sb["optimizers"]["model"]["state"][k]["exp_avg"], atol=1e-6)
    assert sa["schedulers"]["model"]["last_epoch"] == sb["schedulers"]["model"]["last_epoch"] == 6


@pytest.mark.data
def test_checkpoint_layout_best_and_summary(tmp_path):
    res = train(_cfg(tmp_path, run={"steps": 4, "validate_every": 2, "checkpoint_every": 2, "tensorboard": True}),
                log=lambda m: None)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.yaml", "last.pt", "log.jsonl", "tb"]
    assert not [p for p in run.iterdir() if p.name.endswith(".part")]
    st = load_checkpoint(str(run / "last.pt"))
    for key in ("format", "format_version", "model_name", "model_config", "objective_name", "objective_config",
                "modules", "config", "step", "epoch", "optimizers", "schedulers", "sampler", "rng", "metrics",
                "training_summary"):
        assert key in st, key
    assert st["format_version"] == 2 and st["objective_name"] == "translation"
    assert sorted(st["modules"]) == sorted(st["optimizers"]) == sorted(st["schedulers"]) == ["model"]
    assert "module." not in "".join(st["modules"]["model"])
    assert st["config"]["run"]["steps"] == 4 and st["config"]["data"]["validation"][0]["name"] == "Spain"
    ts = st["training_summary"]
    assert [s["name"] for s in ts["held_out_scenes"]] == ["Spain"]
    assert [s["name"] for s in ts["train_scenes"]] == ["ben_a", "ben_b"]
    assert ts["steps"] == 4 and ts["samples_seen"] == 16 and ts["chip_size"] == 32
    m = st["metrics"]
    assert m["held_out"] == ["Spain"] and m["source_set"] == "all other bands" and len(m["per_target"]) == 12
    assert all(math.isfinite(v["rmse"]) and v["rmse"] > 0 for v in m["per_target"].values())
    # the statistics in the model are the training scenes'
    mean = st["modules"]["model"]["normalization.mean"]
    assert mean[3].item() == pytest.approx(ts["statistics"]["red"]["mean"], rel=1e-6)
    events = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4]
    assert [e["step"] for e in events if e["event"] == "validation"] == [2, 4]
    assert all(math.isfinite(e["loss"]) for e in events if e["event"] == "train")
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    scalars, images = set(acc.Tags()["scalars"]), acc.Tags()["images"]
    assert {"train/loss", "train/lr", "train/samples_per_s", "train/data_share", "val/mean_rmse",
            "val_rmse/B05", "val_ssim/B05"} <= scalars
    assert [e.step for e in acc.Scalars("val/mean_rmse")] == [2, 4]
    assert len(images) == 3 and all("input | synthesized | real" in t for t in images)
    img = acc.Images(images[0])[-1]
    assert img.width == 3 * 64 + 4 and img.height == 64  # input | synthesized | real of the 64 px crop
    best = load_checkpoint(str(run / "best.pt"))
    assert best["step"] in (2, 4) and best["metrics"]["mean_rmse"] == min(
        e["mean_rmse"] for e in events if e["event"] == "validation")
    assert res.metrics["mean_rmse"] == m["mean_rmse"]


@pytest.mark.data
def test_refuses_to_overwrite_a_run(tmp_path):
    cfg = _cfg(tmp_path, run={"steps": 2})
    train(cfg, log=lambda m: None)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, log=lambda m: None)
    with pytest.raises(ConfigError, match="already at step 2"):
        train(cfg, resume=str(tmp_path / "run" / "last.pt"), log=lambda m: None)


@pytest.mark.data
def test_resume_with_other_data_is_refused(tmp_path):
    cfg = _cfg(tmp_path, run={"steps": 4})
    train(cfg, stop_at=2, log=lambda m: None)
    other = _cfg(tmp_path, name="d.yaml", run={"steps": 4}, data={"chip_size": 16})
    with pytest.raises(ConfigError, match="data.chip_size"):
        train(other, resume=str(tmp_path / "run" / "last.pt"), log=lambda m: None)


@pytest.mark.data
def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from hls_translate.core import models

    original = models.create_model

    def poisoned(name, **kw):
        m = original(name, **kw)
        calls = {"n": 0}
        orig = m.forward

        def forward(*a):
            calls["n"] += 1
            out = orig(*a)
            return out * float("nan") if calls["n"] == 4 else out  # the 4th training step
        m.forward = forward
        return m

    monkeypatch.setattr(models, "create_model", poisoned)
    cfg = _cfg(tmp_path, run={"steps": 6, "checkpoint_every": 2})
    with pytest.raises(TrainingDiverged) as ei:
        train(cfg, log=lambda m: None)
    msg = str(ei.value)
    assert msg.startswith("step 4:") and "not finite" in msg and "last.pt" in msg
    st = load_checkpoint(str(tmp_path / "run" / "last.pt"))
    assert st["step"] == 2
    assert all(torch.isfinite(v).all() for v in st["modules"]["model"].values() if v.is_floating_point())


@pytest.mark.data
def test_adversarial_loss_runs_and_is_logged(tmp_path):
    res = train(_cfg(tmp_path, run={"steps": 3, "log_every": 1},
                     objective={"name": "translation", "params": {"adversarial": 0.05, "disc_width": 8}}),
                log=lambda m: None)
    assert len(res.history) == 3
    assert all(math.isfinite(h["adv"]) and h["adv"] > 0 and math.isfinite(h["disc"]) for h in res.history)
    st = load_checkpoint(res.last_checkpoint)
    assert "discriminator" in st["modules"] and "discriminator" in st["optimizers"]


def test_lr_schedule(tmp_path):
    cfg = _cfg(tmp_path, run={"steps": 100}, optim={"warmup_steps": 10, "min_lr_ratio": 0.1})
    f = [lr_factor(s, cfg.optim, cfg.run.steps) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[99] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


@pytest.mark.data
def test_cli_train_then_export_carries_summary_and_metrics(tmp_path):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", run={"steps": 3}))
    assert cli.main(["train", "--config", str(p)]) == 0
    onnx_path = tmp_path / "m.onnx"
    assert cli.main(["export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--out", str(onnx_path)]) == 0
    from hls_translate.core.metadata import read_metadata

    md = read_metadata(str(onnx_path))
    assert [s["name"] for s in md.training["held_out_scenes"]] == ["Spain"]
    assert md.metrics["held_out"] == ["Spain"] and len(md.metrics["per_target"]) == 12
    assert md.training["steps"] == 3
    # the statistics in the metadata are the training data's
    st = load_checkpoint(str(tmp_path / "run" / "last.pt"))
    assert md.normalization[8].mean == pytest.approx(st["training_summary"]["statistics"]["nir_narrow"]["mean"], rel=1e-6)
    assert 10 not in md.source_bands  # cirrus never seen in these training scenes


@pytest.mark.data
def test_gpu_options_fail_clearly_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="run.device: cuda"):
        train(_cfg(tmp_path, run={"device": "cuda"}), log=lambda m: None)
    with pytest.raises(ConfigError, match="run.amp: fp16"):
        train(_cfg(tmp_path, run={"amp": "fp16"}), log=lambda m: None)
    np.testing.assert_equal(os.path.exists(tmp_path / "run" / "last.pt"), False)


@pytest.mark.data
def test_cli_stop_and_resume_from_the_checkpoint_config(tmp_path, capsys):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", run={"steps": 4}))
    assert cli.main(["train", "--config", str(p), "--stop-at", "2"]) == 0
    last = str(tmp_path / "run" / "last.pt")
    assert load_checkpoint(last)["step"] == 2
    # no --config: the checkpoint's own config, with an override of the run section
    assert cli.main(["train", "--resume", last, "run.log_every=1"]) == 0
    st = load_checkpoint(last)
    assert st["step"] == 4 and st["config"]["run"]["log_every"] == 1
    assert "resumed" in capsys.readouterr().err
    # changing the data section on resume is refused, naming the key
    assert cli.main(["train", "--resume", last, "run.steps=6", "data.min_valid_fraction=0.5"]) == 2
    assert "data.min_valid_fraction" in capsys.readouterr().err


@pytest.mark.data
def test_resume_never_rewinds_a_newer_run_unless_forced(tmp_path, capsys):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", run={"steps": 6, "checkpoint_every": 2}))
    assert cli.main(["train", "--config", str(p), "--stop-at", "2"]) == 0
    old = tmp_path / "old.pt"
    old.write_bytes((tmp_path / "run" / "last.pt").read_bytes())
    assert cli.main(["train", "--resume", str(tmp_path / "run" / "last.pt"), "--stop-at", "4"]) == 0
    last = tmp_path / "run" / "last.pt"
    assert load_checkpoint(str(last))["step"] == 4
    # the older copy would write its state into the run folder recorded in it: refused, naming both steps
    assert cli.main(["train", "--resume", str(old)]) == 2
    err = capsys.readouterr().err
    assert "is at step 2" in err and "already at step 4" in err and "--force" in err
    assert load_checkpoint(str(last))["step"] == 4  # untouched
    # into a new folder it continues; with --force it rewinds on purpose
    assert cli.main(["train", "--resume", str(old), f"run.out_dir={tmp_path / 'other'}", "--stop-at", "3"]) == 0
    assert load_checkpoint(str(tmp_path / "other" / "last.pt"))["step"] == 3
    assert cli.main(["train", "--resume", str(old), "--force", "--stop-at", "3"]) == 0
    assert load_checkpoint(str(last))["step"] == 3


@pytest.mark.data
def test_the_users_config_in_the_run_folder_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    text = "# my notes, kept\n" + yaml.safe_dump(tiny_config(run, run={"steps": 2}), sort_keys=False)
    (run / "config.yaml").write_text(text)
    assert cli.main(["train", "--config", str(run / "config.yaml")]) == 0
    assert (run / "config.yaml").read_text() == text
    resolved = yaml.safe_load((run / "config.resolved.yaml").read_text())
    assert resolved["run"]["steps"] == 2 and resolved["objective"]["name"] == "translation"


def test_unbounded_run_settings_are_refused_before_work(tmp_path, capsys):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    for override, key in (("run.threads=100000", "run.threads"), ("run.batch_size=2000000", "run.batch_size"),
                          ("run.seed=-1", "run.seed"), (f"run.seed={2 ** 40}", "run.seed")):
        assert cli.main(["train", "--config", str(p), override]) == 2, override
        err = capsys.readouterr().err
        assert err.startswith(f"error: {key}:") and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.data
def test_stop_at_before_the_start_and_a_full_disk_are_one_line_errors(tmp_path, capsys, monkeypatch):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", run={"steps": 4}))
    assert cli.main(["train", "--config", str(p), "--stop-at", "0"]) == 2
    err = capsys.readouterr().err
    assert "--stop-at 0" in err and "nothing was trained" in err and "last.pt" not in err
    import errno

    from hls_translate.training import checkpoint

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "cannot write checkpoint" in err and "No space left" in err and "Traceback" not in err
    assert not [q for q in (tmp_path / "run").iterdir() if q.name.endswith(".part")]


def test_adam_uses_the_fused_kernel_where_torch_has_one_and_resume_keeps_this_machines_choice(tmp_path):
    from hls_translate.training.objectives.base import adam

    fused_cpu = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 4)
    p = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 50))
    opt = adam([p], lr=1e-2, betas=(0.5, 0.999), weight_decay=0.0)
    assert bool(opt.defaults.get("fused")) == fused_cpu
    # the same update as torch's default implementation, to float32 rounding
    q = torch.nn.Parameter(p.detach().clone())
    ref = torch.optim.Adam([q], lr=1e-2, betas=(0.5, 0.999), foreach=False)
    for step in range(5):
        for param, o in ((p, opt), (q, ref)):
            o.zero_grad()
            (param.sin() * (step + 1)).sum().backward()
            o.step()
    assert torch.allclose(p, q, atol=1e-6, rtol=0), float((p - q).abs().max())
    assert not torch.allclose(p, torch.linspace(-1.0, 1.0, 50), atol=1e-3)
    # a checkpoint saved with another kernel (e.g. on a GPU) resumes with the kernel this machine has
    saved = ref.state_dict()
    saved["param_groups"][0]["fused"] = not fused_cpu

    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(50))

    from hls_translate.training.objectives.base import Objective

    obj = Objective.__new__(Objective)
    obj.modules, obj.optimizers, obj.schedulers = {"model": One()}, {}, {}
    obj.optimizers["model"] = adam(obj.modules["model"].parameters(), lr=1e-2, betas=(0.5, 0.999))
    obj.schedulers["model"] = torch.optim.lr_scheduler.LambdaLR(obj.optimizers["model"], lambda s: 1.0)
    obj.scaler = torch.amp.GradScaler("cuda", enabled=False)
    obj.objective_name = "test"
    obj.load_state_dict({"modules": {"model": obj.modules["model"].state_dict()},
                         "optimizers": {"model": saved},
                         "schedulers": {"model": obj.schedulers["model"].state_dict()}})
    assert bool(obj.optimizers["model"].param_groups[0]["fused"]) == fused_cpu
    assert torch.equal(obj.optimizers["model"].state_dict()["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])
    obj.modules["model"].w.sum().backward()
    obj.optimizers["model"].step()  # runs with this machine's kernel
