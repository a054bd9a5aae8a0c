"""``spectral_mlp``: per-pixel, so a tiled pass equals a whole-image pass; the source sets a config trains
on purpose (``data.source_sets``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hls_translate.core import bands as _bands  # noqa: E402
from hls_translate.core.errors import ConfigError  # noqa: E402
from hls_translate.core.models import create_model  # noqa: E402
from support.adain_fixture import spain_stats  # noqa: E402
from support.data import SPAIN  # noqa: E402



def _model(seed=0, **kw):
    torch.manual_seed(seed)
    m = create_model("spectral_mlp", width=32, blocks=2, **kw)
    m.set_normalization(spain_stats())
    with torch.no_grad():  # a fresh model is the identity in its blocks: give them weights
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.data
def test_each_output_pixel_depends_on_its_own_pixel_only():
    m = _model()
    bands, present, target = m.example_inputs(2, 12, 12)
    with torch.no_grad():
        y0 = m(bands, present, target)
        b2 = bands.clone()
        b2[:, :, 5, 7] += 0.2
        y1 = m(b2, present, target)
    changed = (y1 - y0).abs() > 0
    assert changed[:, :, 5, 7].all()
    changed[:, :, 5, 7] = False
    assert not changed.any()
    assert m.tiling()["overlap"] == 0 and m.receptive_field() == 1


@pytest.mark.data
def test_context_layers_widen_the_receptive_field_and_the_overlap():
    m = _model(context=2)
    assert m.receptive_field() == 5 and m.tiling()["overlap"] == 2
    bands, present, target = m.example_inputs(1, 16, 16)
    with torch.no_grad():
        y0 = m(bands, present, target)
        b2 = bands.clone()
        b2[:, :, 8, 8] += 0.2
        diff = (m(b2, present, target) - y0).abs()[0, 0] > 0
    rows, cols = np.nonzero(diff.numpy())
    assert rows.min() >= 6 and rows.max() <= 10 and cols.min() >= 6 and cols.max() <= 10


@pytest.mark.data
def test_tiled_and_blended_equals_one_whole_pass_on_a_real_scene(tmp_path):
    """The engine's tiles (small, overlapping, cosine-blended) give the whole-image pass's values."""
    from hls_translate.core.engine import PredictOptions, predict_array
    from hls_translate.core.runtime import OnnxModel
    from hls_translate.core.scene import open_scene
    from hls_translate.training.export import export_model

    path = str(tmp_path / "spectral.onnx")
    export_model(_model(3, log_inputs=True), path, model_version="test", training={"note": "test"}, metrics={})
    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, valid = scene.read_stack(ids)
    values, valid = values[:, :200, :232], valid[:, :200, :232]
    model = OnnxModel(path)
    targets = [_bands.band_class("red_edge_1").id, _bands.band_class("swir_1").id]
    whole, _ = predict_array(model, values, valid, ids, targets, PredictOptions(tile_size=256, overlap=0))
    tiled, _ = predict_array(model, values, valid, ids, targets, PredictOptions(tile_size=48, overlap=8))
    assert np.isfinite(whole).all()
    assert float(np.abs(whole - tiled).max()) <= 1e-5
    # and the model did something spatially varied (not a constant)
    assert float(whole[0].std()) > 1e-3


@pytest.mark.data
def test_a_generated_band_embedding_reads_the_bands_physical_description_and_exports(tmp_path):
    """``band_embedding: wavelength``: no per-class table; the target's code is a function of its descriptor
    (wavelength, bandwidth, quantity), so two classes given the same descriptor get the same code; the
    exported graph gives torch's values on the real Spain scene."""
    from hls_translate.core.models.spectral import NOMINAL_FWHM_NM, band_descriptors
    from hls_translate.core.runtime import OnnxModel
    from hls_translate.core.scene import open_scene
    from hls_translate.training.export import export_model

    d = band_descriptors()
    assert d.shape[0] == len(_bands.BAND_CLASSES) and len(set(map(tuple, d.tolist()))) == d.shape[0]
    assert set(NOMINAL_FWHM_NM) == {c.key for c in _bands.BAND_CLASSES}
    m = _model(4, band_embedding="wavelength")
    assert not any(isinstance(x, torch.nn.Embedding) for x in m.modules())
    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, valid = scene.read_stack(ids)
    bands = torch.zeros(1, len(_bands.BAND_CLASSES), 64, 64)
    bands[0, ids] = torch.from_numpy(values[:, :64, :64])
    present = torch.zeros(1, len(_bands.BAND_CLASSES))
    present[0, ids] = 1.0
    nir_broad, nir_narrow = _bands.band_class("nir_broad").id, _bands.band_class("nir_narrow").id
    present[0, [nir_broad, nir_narrow]] = 0.0
    with torch.no_grad():
        a = m(bands, present, torch.tensor([nir_broad]))
        b = m(bands, present, torch.tensor([nir_narrow]))
        assert float((a - b).abs().max()) > 1e-4  # different descriptors, different codes
        m.band_descriptors[nir_narrow] = m.band_descriptors[nir_broad]
        c = m.condition_code(present, torch.tensor([nir_narrow]))
        assert torch.equal(c, m.condition_code(present, torch.tensor([nir_broad])))
    m = _model(4, band_embedding="wavelength")
    assert m.config.band_embedding == "wavelength"
    path = str(tmp_path / "wavelength.onnx")
    export_model(m, path, model_version="test", training={"note": "test"}, metrics={})
    target = torch.tensor([_bands.band_class("red_edge_2").id])
    present[0, target] = 0.0
    with torch.no_grad():
        ref = m(bands, present, target).numpy()
    out = OnnxModel(path).session.run(None, {"bands": bands.numpy(), "present": present.numpy(),
                                             "target": target.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-4 and float(ref.std()) > 1e-3


def _source_set_config(tmp_path, **data):
    from support.training import tiny_config

    return tiny_config(tmp_path, model={"name": "spectral_mlp", "params": {"width": 8, "blocks": 1}}, data=data)


@pytest.mark.data
def test_source_sets_are_drawn_with_their_probability(tmp_path):
    from hls_translate.training.config import config_from_dict
    from hls_translate.training.data import TaskPlan, load_scenes

    l30 = ["coastal_aerosol", "blue", "green", "red", "nir_narrow", "swir_1", "swir_2", "cirrus"]
    cfg = config_from_dict(_source_set_config(tmp_path, source_sets=[{"name": "L30", "p": 0.4, "bands": l30}]))
    scenes = load_scenes(cfg.data.train, cfg.data, "train", chip=cfg.data.chip_size)
    plan = TaskPlan(scenes, cfg.data)
    ids = {_bands.band_class(k).id for k in l30}
    rng = np.random.default_rng(0)
    draws = [plan.draw(rng) for _ in range(3000)]
    hits = [t for _, t in draws if set(t.sources) == {c for c in ids if c in scenes[0].band_ids} - {t.target}]
    assert 0.35 < len(hits) / len(draws) < 0.47
    assert plan.summary()["source_sets"][0]["name"] == "L30"


@pytest.mark.data
@pytest.mark.parametrize("sets, key", [
    ([{"p": 1.5, "bands": ["red"]}], "data.source_sets[0].p"),
    ([{"p": 0.6, "bands": ["red"]}, {"p": 0.6, "bands": ["blue"]}], "data.source_sets"),
    ([{"p": 0.2, "bands": ["reddish"]}], "data.source_sets[0].bands"),
    ([{"p": 0.2, "bands": ["red"], "weight": 1}], "weight"),
])
def test_source_set_errors_name_the_key(tmp_path, sets, key):
    from hls_translate.training.config import config_from_dict

    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict(_source_set_config(tmp_path, source_sets=sets))


@pytest.mark.data
def test_dropout_acts_in_training_only():
    m = _model(dropout=0.5)
    x = m.example_inputs(2, 8, 8)
    with torch.no_grad():
        assert torch.equal(m(*x), m(*x))  # eval: deterministic
        m.train()
        assert not torch.equal(m(*x), m(*x))


@pytest.mark.data
def test_spectral_model_trains_with_the_squared_error_and_exports_held_out_scores(tmp_path):
    """A short real training of spectral_mlp with a linear prior, L1 + squared error; its export carries an
    evaluation's held-out cells (export --evaluation)."""
    import json

    from hls_translate.cli import main
    from hls_translate.core.errors import ModelError
    from hls_translate.core.metadata import read_metadata
    from hls_translate.training.config import config_from_dict
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trainer import train

    raw = _source_set_config(tmp_path / "run", chip_size=8)
    raw["model"] = {"name": "spectral_mlp", "params": {"width": 16, "blocks": 2, "linear_prior": True,
                                                        "log_inputs": True}}
    raw["objective"] = {"name": "translation", "params": {"l1": 1.0, "mse": 0.5}}
    raw["run"].update(steps=8, batch_size=16)
    res = train(config_from_dict(raw), log=lambda m: None)
    lines = [json.loads(x) for x in open(tmp_path / "run" / "log.jsonl")]
    trains = [x for x in lines if x.get("event") == "train"]
    assert trains and all(x["mse"] > 0 and x["loss"] == pytest.approx(x["l1"] + 0.5 * x["mse"], rel=1e-4)
                          for x in trains)
    ev = tmp_path / "e"
    assert main(["evaluate", "--checkpoint", res.last_checkpoint, "--out", str(ev), "--sources", "all",
                 "--max-size", "48", "--no-gbt", "--no-figures", "--use-case"]) == 0
    out = str(tmp_path / "m.onnx")
    assert main(["export", "--checkpoint", res.last_checkpoint, "--out", out,
                 "--evaluation", str(ev / "evaluation.json")]) == 0
    held = read_metadata(out).metrics["held_out_evaluation"]
    assert held["scenes"] == ["Spain"] and "Spain:B05" in held["cells"]["all"]
    assert set(held["cells"]["all"]["Spain:B05"]) == {"rmse", "bias", "ssim", "linear_rmse"}
    assert "Spain:B06" in held["cells"]["landsat"]
    with pytest.raises(ModelError, match="not an evaluation.json"):
        export_checkpoint(res.last_checkpoint, str(tmp_path / "x.onnx"), evaluation={"rows": []})
