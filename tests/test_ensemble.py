"""An ensemble of trained runs (``hls-translate export --checkpoint A B ...``): one ONNX file whose output is
the mean of its members', run by ``predict`` like any model; members that cannot stand in for each other
are refused before any export work, with the member and the difference named."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support.data import SPAIN  # noqa: E402
from support.training import tiny_config  # noqa: E402

pytestmark = pytest.mark.data

SPECTRAL = {"width": 8, "blocks": 1, "linear_prior": True, "interpolation_prior": True}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three short real trainings on BigEarthNet L2A patches: seeds 0 and 1 of one config, and one with
    spatial context (a different receptive field)."""
    from hls_translate.training.config import config_from_dict
    from hls_translate.training.trainer import train

    tmp = tmp_path_factory.mktemp("ensemble")
    out = {}
    for name, seed, params in (("a", 0, SPECTRAL), ("b", 1, SPECTRAL), ("ctx", 0, {**SPECTRAL, "context": 1})):
        raw = tiny_config(tmp / name, model={"name": "spectral_mlp", "params": dict(params)})
        raw["data"]["chip_size"] = 8
        raw["run"].update(steps=6, batch_size=16, seed=seed)
        out[name] = train(config_from_dict(raw), log=lambda m: None).last_checkpoint
    out["tmp"] = tmp
    return out


def _band(path):
    """(physical values, valid mask, quantum, dataset) of a one-band output of predict."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    raw = band.ReadAsArray().astype(np.float64)
    valid = raw != band.GetNoDataValue() if band.GetNoDataValue() is not None else np.isfinite(raw)
    scale, offset = float(band.GetScale() or 1.0), float(band.GetOffset() or 0.0)
    integer = band.DataType in (gdal.GDT_Int16, gdal.GDT_UInt16, gdal.GDT_Int32)
    return raw * scale + offset, valid, (scale if integer else 1e-6), ds


def test_the_ensemble_outputs_the_mean_of_its_members_through_predict(runs):
    """Each member exported alone and the ensemble exported from both: on the real Spain scene the
    ensemble's predicted red edge 1 is the mean of the members' (to float32 rounding), differs from either
    member, keeps the georeferencing, and its metadata names both members and their seeds."""
    from hls_translate.cli import main
    from hls_translate.core.metadata import read_metadata

    tmp = runs["tmp"]
    models = {}
    for name, ckpts in (("a", [runs["a"]]), ("b", [runs["b"]]), ("ab", [runs["a"], runs["b"]])):
        models[name] = str(tmp / f"{name}.onnx")
        assert main(["export", "--checkpoint", *ckpts, "--out", models[name]]) == 0
    outs = {}
    for name, model in models.items():
        outs[name] = str(tmp / f"b05_{name}.tif")
        assert main(["predict", "--model", model, "--input", str(SPAIN), "--target", "B05", "--out", outs[name]]) == 0
    a, va, quantum, _ = _band(outs["a"])
    b, vb, _, _ = _band(outs["b"])
    ab, vab, _, ds = _band(outs["ab"])
    valid = va & vb
    assert valid.mean() > 0.9 and np.array_equal(vab, valid)
    assert float(np.abs(a - b)[valid].max()) > 1e-3  # the members disagree ...
    # ... and the ensemble is their mean (to the output's rounding: one quantum for each of three roundings)
    assert float(np.abs(ab - (a + b) / 2)[valid].max()) <= 1.5 * quantum + 1e-6
    from osgeo import gdal

    src = gdal.Open(str(SPAIN))
    assert ds.GetGeoTransform() == src.GetGeoTransform() and ds.GetProjection() == src.GetProjection()

    md = read_metadata(models["ab"])
    members = md.training["ensemble"]
    assert [m["checkpoint"] for m in members] == [runs["a"], runs["b"]]
    assert [m["seed"] for m in members] == [0, 1] and "seed" not in md.training
    assert "mean of 2 models of one config (seeds 0, 1)" in md.description
    assert md.architecture == "spectral_mlp" and md.tiling.receptive_field == 1
    assert md.metrics == {}  # a member's own validation scores are not the ensemble's
    json.dumps(md.training)


def test_the_onnx_ensemble_matches_the_torch_mean_on_real_bands(runs):
    """ONNX Runtime against the torch mean of the members, on real Spain bands, with the L30 source set."""
    from hls_translate.core import bands as _bands
    from hls_translate.core.models.ensemble import ModelEnsemble
    from hls_translate.core.runtime import OnnxModel
    from hls_translate.core.scene import open_scene
    from hls_translate.training.checkpoint import load_checkpoint, model_from_checkpoint
    from hls_translate.training.export import export_ensemble

    members = [model_from_checkpoint(load_checkpoint(runs[k])) for k in ("a", "b")]
    path = str(runs["tmp"] / "ab_api.onnx")
    export_ensemble([runs["a"], runs["b"]], path, model_version="t")
    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, _ = scene.read_stack(ids)
    bands = torch.zeros(1, len(_bands.BAND_CLASSES), 96, 96)
    bands[0, ids] = torch.from_numpy(values[:, :96, :96].astype(np.float32))
    l30 = [_bands.band_class(k).id for k in ("coastal_aerosol", "blue", "green", "red", "nir_narrow", "swir_1",
                                             "swir_2", "cirrus")]
    present = torch.zeros(1, len(_bands.BAND_CLASSES))
    present[0, l30] = 1.0
    target = torch.tensor([_bands.band_class("red_edge_2").id])
    ens = ModelEnsemble([m.export_copy() for m in members]).eval()
    with torch.no_grad():
        single = [m.export_copy()(bands, present, target).numpy() for m in members]
        ref = ens(bands, present, target).numpy()
    assert np.abs(ref - (single[0] + single[1]) / 2).max() <= 1e-6
    assert np.abs(single[0] - single[1]).max() > 1e-3
    out = OnnxModel(path).session.run(None, {"bands": bands.numpy(), "present": present.numpy(),
                                             "target": target.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-4


def test_members_that_cannot_stand_in_for_each_other_are_refused_naming_the_difference(runs, capsys):
    from hls_translate.cli import main

    tmp = runs["tmp"]
    out = tmp / "bad.onnx"
    assert main(["export", "--checkpoint", runs["a"], runs["ctx"], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "receptive field differs (3 vs 1)" in err and runs["ctx"] in err
    assert main(["export", "--checkpoint", runs["a"], runs["a"], "--out", str(out)]) == 2
    assert "more than once" in capsys.readouterr().err
    assert main(["export", "--checkpoint", runs["a"], str(tmp / "missing.pt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "missing.pt" in err
    assert not out.exists()
