"""Checkpoint files: format v2 holds only plain data and tensors (a safe load rebuilds it), a file that
carries code is refused without running it (export, resume, evaluate), and a format-1 checkpoint still
loads, exports and resumes."""

import os
import pickle
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.data]

from hls_translate import cli  # noqa: E402
from hls_translate.core.errors import ModelError  # noqa: E402
from hls_translate.training.checkpoint import FORMAT, load_checkpoint, rng_state, set_rng_state  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support.training import tiny_config, write_config  # noqa: E402


class _Payload:
    """Pickles as a call of os.system: loading it with plain pickle would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpt")
    cfg = load_train_config(str(write_config(tmp / "c.yaml", tiny_config(tmp / "run", run={"steps": 4}))))
    train(cfg, stop_at=2, log=lambda m: None)
    return tmp, cfg


def test_v2_is_plain_data_for_a_safe_load(run):
    tmp, _ = run
    st = torch.load(str(tmp / "run" / "last.pt"), weights_only=True)  # no allow-list at all
    assert st["format"] == FORMAT and st["format_version"] == 2
    assert isinstance(st["rng"]["numpy"]["keys"], torch.Tensor)


def test_rng_state_round_trip():
    st = rng_state()
    a = (random.random(), np.random.random(), torch.rand(1).item())
    set_rng_state(st)
    assert (random.random(), np.random.random(), torch.rand(1).item()) == a


def _evil_checkpoint(path, marker, run_dir):
    good = torch.load(str(run_dir / "last.pt"), weights_only=True)
    good["metrics"] = {"note": _Payload(marker)}
    torch.save(good, str(path))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_carrying_code_is_refused_everywhere(run, tmp_path, capsys):
    tmp, _ = run
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    _evil_checkpoint(evil, marker, tmp / "run")
    with pytest.raises(ModelError, match=r"not a safe checkpoint.*posix.system|not a safe checkpoint.*system"):
        load_checkpoint(str(evil))
    commands = [["export", "--checkpoint", str(evil), "--out", str(tmp_path / "m.onnx")],
                ["train", "--resume", str(evil), "--print-config"],
                ["evaluate", "--checkpoint", str(evil), "--out", str(tmp_path / "ev")],
                ["evaluate", "--checkpoint", str(tmp / "run" / "last.pt"), "--pair-model", str(evil),
                 "--out", str(tmp_path / "ev2")]]
    for argv in commands:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "not a safe checkpoint" in err and "Traceback" not in err, argv
    # a plain pickle renamed .pt is refused the same way, before any format check
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"format": FORMAT, "x": _Payload(marker)}))
    with pytest.raises(ModelError, match="not a safe checkpoint"):
        load_checkpoint(str(plain))
    assert not marker.exists()  # nothing ran
    assert not (tmp_path / "m.onnx").exists()


def _as_v1(v2):
    """The same training state in the layout of format 1 (keys and NumPy RNG state as it was saved)."""
    v1 = {k: v for k, v in v2.items() if k not in ("modules", "optimizers", "schedulers", "objective_name",
                                                   "objective_config", "objective_state")}
    names = {"normalization.mean": "norm_mean", "normalization.std": "norm_std", "normalization.fitted": "norm_fitted"}
    v1["format_version"] = 1
    v1["model_state"] = {names.get(k, k): v for k, v in v2["modules"]["model"].items()}
    v1["optimizer"] = v2["optimizers"]["model"]
    v1["scheduler"] = v2["schedulers"]["model"]
    n = v2["rng"]["numpy"]
    v1["rng"] = dict(v2["rng"], numpy=(n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                                       n["cached_gaussian"]))
    config = dict(v2["config"])
    obj = config.pop("objective")
    config["loss"] = {"l1": 1.0, "adversarial": 0.0, **obj["params"]}
    v1["config"] = config
    return v1


def test_a_format_1_checkpoint_loads_exports_and_resumes(run, tmp_path):
    tmp, cfg = run
    v2 = torch.load(str(tmp / "run" / "last.pt"), weights_only=True)
    old = tmp_path / "v1.pt"
    torch.save(_as_v1(v2), str(old))
    st = load_checkpoint(str(old))
    assert st["upgraded_from"] == 1 and st["objective_name"] == "translation"
    assert set(st["modules"]["model"]) == set(v2["modules"]["model"])
    assert "loss" not in st["config"] and st["config"]["objective"]["name"] == "translation"
    out = tmp_path / "m.onnx"
    assert cli.main(["export", "--checkpoint", str(old), "--out", str(out)]) == 0 and out.is_file()
    # resuming the format-1 file continues exactly like the format-2 one
    import dataclasses

    res_v1 = train(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out_dir=str(tmp_path / "r1"))),
                   resume=str(old), log=lambda m: None)
    res_v2 = train(dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out_dir=str(tmp_path / "r2"))),
                   resume=str(tmp / "run" / "last.pt"), log=lambda m: None)
    assert res_v1.step == res_v2.step == 4
    for a, b in zip(res_v1.model.parameters(), res_v2.model.parameters()):
        assert torch.equal(a, b)


def test_parts_left_by_killed_runs_do_not_pile_up(run, tmp_path):
    """A run killed with SIGKILL mid-write leaves its part; the next checkpoint write removes it."""
    import subprocess
    import sys

    from hls_translate.training.checkpoint import save_checkpoint
    from hls_translate.core.fileio import part_path

    tmp, _ = run
    state = torch.load(str(tmp / "run" / "last.pt"), weights_only=True)
    target = tmp_path / "last.pt"
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        stale = part_path(str(target)).replace(f".{os.getpid()}.", f".{p.pid}.")
        open(stale, "wb").close()
    assert len([q for q in os.listdir(tmp_path) if q.endswith(".part")]) == 3
    save_checkpoint(str(target), state)
    assert os.listdir(tmp_path) == ["last.pt"]
