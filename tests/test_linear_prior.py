"""The ``adain_unet`` linear prior (``linear_prior: true``): the least-squares fit the network's output is
added to, carried in the model as moment matrices, solved per item in float64 inside the graph.

Checked on real scenes against ``training.evaluate.LinearBaseline`` (numpy, float64), in torch and after
export in ONNX Runtime, and through a short training run."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.torch, pytest.mark.data]

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import NUM_CLASSES, resolve_band  # noqa: E402
from hls_translate.core.errors import ModelError  # noqa: E402
from hls_translate.core.models import create_model  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.data import prepare_data  # noqa: E402
from hls_translate.training.evaluate import LinearBaseline  # noqa: E402
from hls_translate.training.export import export_model  # noqa: E402

from support.training import TINY_MODEL, tiny_config, write_config  # noqa: E402

T19UDP = {"path": "s2_l1c_13band_T19UDP_160m/T19UDP_20170729_L1C_13band_160m_stack.tif", "name": "T19UDP",
          "level": "TOA"}
B = {c: resolve_band(c, "S2").id for c in ("B02", "B03", "B04", "B05", "B8A", "B10", "B11", "B12")}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Two BigEarthNet L2A patches (12 bands) and the T19UDP L1C tile (13 bands, the only one with
    cirrus): two band sets; the Spain scene held out."""
    tmp = tmp_path_factory.mktemp("prior")
    raw = tiny_config(tmp / "run")
    raw["data"]["train"].append(dict(T19UDP))
    cfg = load_train_config(str(write_config(tmp / "c.yaml", raw)))
    data = prepare_data(cfg)
    base = LinearBaseline.fit(data.train)
    torch.manual_seed(0)
    model = create_model("adain_unet", **TINY_MODEL, linear_prior=True)
    model.set_normalization(data.stats)
    model.set_linear_prior([(ids, g, w) for _, ids, g, w in base.grams])
    with torch.no_grad():  # zero residual: the model is its linear prior
        model.head.proj.weight.zero_()
        model.head.proj.bias.zero_()
    spain = data.validation[0]
    vals = np.zeros((NUM_CLASSES, 64, 64), np.float32)
    for ch, c in enumerate(spain.band_ids):
        vals[c] = spain.values[ch, 100:164, 200:264]
    return model.eval(), base, vals, spain.band_ids


def _tasks(band_ids):
    every = list(band_ids)
    return [(B["B04"], [c for c in every if c != B["B04"]]),  # all other bands incl. cirrus: L1C set only
            (B["B05"], [B["B8A"]]),
            (B["B12"], [B["B11"]]),
            (B["B03"], [B["B02"], B["B04"], B["B8A"]]),
            (B["B10"], [B["B8A"], B["B11"]])]  # cirrus target: only T19UDP has it


def _inputs(vals, tasks):
    n = len(tasks)
    bands = np.repeat(vals[None], n, axis=0)
    present = np.zeros((n, NUM_CLASSES), np.float32)
    for i, (_, src) in enumerate(tasks):
        present[i, src] = 1.0
    target = np.array([t for t, _ in tasks], np.int64)
    return bands, present, target


def test_prior_equals_the_least_squares_baseline(fitted):
    model, base, vals, band_ids = fitted
    assert sorted(model.prior_weights.tolist(), reverse=True)[:3] == pytest.approx([2 / 3, 1 / 3, 0.0])
    tasks = _tasks(band_ids)
    bands, present, target = _inputs(vals, tasks)
    with torch.no_grad():
        out = model(torch.from_numpy(bands), torch.from_numpy(present), torch.from_numpy(target)).numpy()
    for i, (t, src) in enumerate(tasks):
        ref = base.predict(vals, src, t)
        # the fitted relation is not trivial: it differs from the target's training mean by far more
        assert np.abs(ref - float(model.normalization.mean[t])).mean() > 20 * 1e-5
        np.testing.assert_allclose(out[i, 0], ref, atol=1e-5, err_msg=f"target {t} from {src}")


def test_prior_survives_onnx_export(fitted, tmp_path):
    model, base, vals, band_ids = fitted
    path = str(tmp_path / "prior.onnx")
    export_model(model, path, model_version="test")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    tasks = _tasks(band_ids)
    bands, present, target = _inputs(vals, tasks)
    # a source value that is NaN in an absent band must not reach the output
    bands[:, resolve_band("L30:B10").id] = np.nan
    out = sess.run(None, {"bands": bands, "present": present, "target": target})[0]
    for i, (t, src) in enumerate(tasks):
        np.testing.assert_allclose(out[i, 0], base.predict(vals, src, t), atol=1e-5)


def test_prior_errors_are_clear(fitted):
    model, base, _, _ = fitted
    plain = create_model("adain_unet", **TINY_MODEL)
    with pytest.raises(ModelError, match="linear_prior: false"):
        plain.set_linear_prior([(ids, g, w) for _, ids, g, w in base.grams])
    small = create_model("adain_unet", **TINY_MODEL, linear_prior=True, prior_groups=1)
    with pytest.raises(ModelError, match="2 distinct band sets.*prior_groups=1"):
        small.set_linear_prior([(ids, g, w) for _, ids, g, w in base.grams])
    with pytest.raises(ModelError, match="never set"):
        small.export_copy()
    with pytest.raises(ValueError, match="prior_groups"):
        create_model("adain_unet", **TINY_MODEL, linear_prior=True, prior_groups=0)


def test_training_sets_the_prior_and_checkpoints_keep_it(tmp_path):
    raw = tiny_config(tmp_path / "run", model={"name": "adain_unet", "params": {**TINY_MODEL, "linear_prior": True}})
    p = write_config(tmp_path / "c.yaml", raw)
    assert cli.main(["train", "--config", str(p)]) == 0
    state = load_checkpoint(str(tmp_path / "run" / "last.pt"))
    weights = state["modules"]["model"]["prior_weights"]
    assert weights.dtype == torch.float64 and weights.tolist()[:1] == [1.0]  # one band set (12-band L2A)
    cfg = load_train_config(str(p))
    data = prepare_data(cfg)
    ref = LinearBaseline.fit(data.train).grams
    g = sum(w * gm for _, _, gm, w in ref) / sum(w for _, _, _, w in ref)
    np.testing.assert_allclose(state["modules"]["model"]["prior_moments"][0].numpy(), g, rtol=1e-12, atol=1e-15)
    # the exported checkpoint runs in ONNX Runtime (export verifies it against torch)
    assert cli.main(["export", "--checkpoint", str(tmp_path / "run" / "last.pt"),
                     "--out", str(tmp_path / "m.onnx")]) == 0


def _numpy_interpolation(vals, src, t):
    """The target interpolated linearly in wavelength between its nearest continuum bands present below
    and above (one side only: that band), written independently of the model's tensor code."""
    from hls_translate.core.bands import BAND_CLASSES

    wl = {c.id: c.wavelength_nm for c in BAND_CLASSES}
    ok = [c for c in src if BAND_CLASSES[c].key not in ("water_vapour", "cirrus", "thermal_1", "thermal_2")]
    lo = [c for c in ok if wl[c] <= wl[t]]
    hi = [c for c in ok if wl[c] > wl[t]]
    if lo and hi:
        a, b = max(lo, key=wl.get), min(hi, key=wl.get)
        f = (wl[t] - wl[a]) / (wl[b] - wl[a])
        return (1 - f) * vals[a] + f * vals[b]
    return vals[max(lo, key=wl.get) if lo else min(hi, key=wl.get)]


@pytest.mark.parametrize("gate", ["interpolation", "linear"])
def test_interpolation_prior_gates_between_the_two_priors_in_torch_and_onnx(fitted, tmp_path, gate):
    """``spectral_mlp`` with ``interpolation_prior``: with its correction zeroed, a gate held open gives the
    wavelength interpolation of the nearest present bands, a gate held shut the least-squares fit; the same
    in ONNX Runtime.  On real Spain pixels, where the two differ."""
    prior_model, base, vals, band_ids = fitted
    torch.manual_seed(0)
    model = create_model("spectral_mlp", width=16, blocks=1, linear_prior=True, interpolation_prior=True)
    model.normalization.load_state_dict(prior_model.normalization.state_dict())
    model.set_linear_prior([(ids, g, w) for _, ids, g, w in base.grams])
    with torch.no_grad():
        w = model.head.proj.weight.view(2, -1, model.head.proj.in_features)
        b = model.head.proj.bias.view(2, -1)
        w.zero_()
        b.zero_()
        b[1, -1] = 40.0 if gate == "interpolation" else -40.0  # the gate channel's bias
    model.eval()
    tasks = [t for t in _tasks(band_ids) if t[0] != B["B10"]]  # cirrus is never interpolated to
    bands, present, target = _inputs(vals, tasks)
    refs = [(_numpy_interpolation(vals, src, t) if gate == "interpolation" else base.predict(vals, src, t))
            for t, src in tasks]
    # the two priors differ on these pixels, so the gate is tested, not a coincidence
    assert all(np.abs(_numpy_interpolation(vals, s, t) - base.predict(vals, s, t)).mean() > 1e-3 for t, s in tasks)
    with torch.no_grad():
        out = model(torch.from_numpy(bands), torch.from_numpy(present), torch.from_numpy(target)).numpy()
    for i, (t, src) in enumerate(tasks):
        np.testing.assert_allclose(out[i, 0], refs[i], atol=1e-5, err_msg=f"target {t} from {src}")
    path = str(tmp_path / "interp.onnx")
    export_model(model, path, model_version="test")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"bands": bands, "present": present, "target": target})[0]
    for i in range(len(tasks)):
        np.testing.assert_allclose(onnx_out[i, 0], refs[i], atol=1e-5)


def test_interpolation_prior_needs_the_linear_prior():
    with pytest.raises(ValueError, match="interpolation_prior: true needs linear_prior: true"):
        create_model("spectral_mlp", width=8, blocks=1, interpolation_prior=True)
