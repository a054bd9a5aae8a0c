"""The core is family-blind: a model family and an objective registered from the test suite only
(``tests/support/toy_family.py``, no library file touched) train, resume exactly, export, evaluate and
``predict`` through the same commands as the built-in family.  (QGIS's translate_raster on it:
tests/qgis/test_toy_family_qgis.py.)"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.data]

from hls_translate import cli  # noqa: E402
from hls_translate.core.metadata import read_metadata  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support import REPO, toy_family  # noqa: E402
from support.training import write_config  # noqa: E402

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"


_TRAINED = {}


def _config(tmp, name, **run):
    cfg = toy_family.toy_config(tmp / name, run={"steps": 30, "log_every": 5, **run})
    return write_config(tmp / f"{name}.yaml", cfg)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy family registered for the module, and one straight 30-step run of it (``toy/straight``)."""
    with toy_family.registered():
        tmp = tmp_path_factory.mktemp("toy")
        _TRAINED["straight"] = train(load_train_config(str(_config(tmp, "straight"))), log=lambda m: None)
        yield tmp


def test_trains_resumes_exactly_and_learns(toy):
    losses = [h["loss"] for h in _TRAINED["straight"].history]
    assert losses[-1] < 0.7 * losses[0], losses  # the per-pixel map is learnt
    p = _config(toy, "cut")
    assert cli.main(["train", "--config", str(p), "--stop-at", "15"]) == 0
    last = str(toy / "cut" / "last.pt")
    assert load_checkpoint(last)["step"] == 15
    assert cli.main(["train", "--resume", last]) == 0  # the checkpoint's own config, through the command
    a, b = load_checkpoint(str(toy / "straight" / "last.pt")), load_checkpoint(last)
    assert b["step"] == 30 and b["model_name"] == toy_family.TOY_MODEL and b["objective_name"] == toy_family.TOY_OBJECTIVE
    for k, v in a["modules"]["model"].items():
        assert torch.allclose(v, b["modules"]["model"][k], atol=1e-6, rtol=0), k
    assert b["training_summary"]["tasks"]["mode"] == "fixed_bands"


def test_exports_and_predicts_the_per_pixel_map(toy, tmp_path):
    last = toy / "straight" / "last.pt"
    onnx = tmp_path / "toy.onnx"
    assert cli.main(["export", "--checkpoint", str(last), "--out", str(onnx)]) == 0
    md = read_metadata(str(onnx))
    assert md.family == "toy" and md.architecture == toy_family.TOY_MODEL and not md.conditional
    assert md.kind == "fixed_bands"
    assert md.input("bands").bands == (3, 8, 11) and md.output.bands == (4, 12)
    out = tmp_path / "re.tif"
    assert cli.main(["predict", "--model", str(onnx), "--input", str(SAMPLE), "--target", "B05", "--target", "B12",
                     "--out", str(out)]) == 0
    # the same per-pixel map computed from the checkpoint's weights by hand
    st = load_checkpoint(str(last))["modules"]["model"]
    w, bias = st["conv.weight"][:, :, 0, 0].double().numpy(), st["conv.bias"].double().numpy()
    mean, std = st["normalization.mean"].double().numpy(), st["normalization.std"].double().numpy()
    with open_scene(str(SAMPLE)) as scene:
        x, ok = scene.read_stack(["B04", "B8A", "B11"])
    z = (x.astype(np.float64) - mean[[3, 8, 11], None, None]) / std[[3, 8, 11], None, None]
    want = (np.einsum("oc,chw->ohw", w, z) + bias[:, None, None]) * std[[4, 12], None, None] + mean[[4, 12], None, None]
    with open_scene(str(out)) as res:
        got, got_ok = res.read_stack(["red_edge_1", "swir_2"])
    valid = ok.all(axis=0)
    assert valid.mean() > 0.9 and (got_ok.all(axis=0) == valid).all()
    np.testing.assert_allclose(got[:, valid], want[:, valid], rtol=0, atol=2e-5)


def test_evaluates_against_the_linear_baseline(toy, tmp_path, capsys):
    last = toy / "straight" / "last.pt"
    onnx = tmp_path / "toy.onnx"
    assert cli.main(["export", "--checkpoint", str(last), "--out", str(onnx)]) == 0
    cfg = toy / "straight.yaml"
    for model in (["--checkpoint", str(last)], ["--model", str(onnx)]):
        out = tmp_path / ("ev_" + model[0].strip("-"))
        assert cli.main(["evaluate", *model, "--config", str(cfg), "--out", str(out), "--max-size", "64"]) == 0
        rep = json.loads((out / "evaluation.json").read_text())
        rows = [r for r in rep["rows"] if r["scene"] == "Spain"]
        assert sorted(r["target"] for r in rows) == ["B05", "B12"]
        for r in rows:
            assert sorted(r["sources"]) == ["B04", "B11", "B8A"]
            assert np.isfinite(r["model"]["rmse"]) and r["model"]["rmse"] > 0 and r["baseline"]["rmse"] > 0
