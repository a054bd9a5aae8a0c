"""pix2pix and CycleGAN models (exported from short trainings on the real scenes) in QGIS: ``translate_raster``
headless through ``qgis_process`` on the real held-out Spain scene gives the pixels `hls-translate predict`
gives, and ``model_info`` says what each model is."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from test_qgis_process import json_results

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def family_models(tmp_path_factory, data_dir):
    pytest.importorskip("torch")
    from support.families import train_and_export

    pix = train_and_export(tmp_path_factory.mktemp("pix2pix"), "pix2pix", steps=3)
    cyc = train_and_export(tmp_path_factory.mktemp("cyclegan"), "cyclegan", steps=3)
    return {"pix2pix": pix["model"], "cyclegan A->B": cyc["model"], "cyclegan B->A": cyc["model_ba"]}


@pytest.mark.parametrize("which", ["pix2pix", "cyclegan A->B", "cyclegan B->A"])
def test_translate_raster_headless_equals_predict(qgis_process, family_models, which, tmp_path):
    from hls_translate.cli import main
    from hls_translate.core.bands import band_class
    from hls_translate.core.metadata import read_metadata
    from support.families import HELD_OUT_SCENE

    model = family_models[which]
    md = read_metadata(model)
    out = tmp_path / "qgis.tif"
    res = json_results(qgis_process(["--json", "run", "hls_translate:translate_raster", "--", f"INPUT={HELD_OUT_SCENE}",
                                     f"MODEL={model}", "DATA_TYPE=float32", f"OUTPUT={out}"]))
    keys = [band_class(c).key for c in md.output.bands]
    assert res["TARGETS"].split(",") == keys and res["TILES_RUN"] > 0
    cli_out = tmp_path / "cli.tif"
    assert main(["predict", "--model", model, "--input", str(HELD_OUT_SCENE), *[f"--target={k}" for k in keys],
                 "--out", str(cli_out), "--quiet"]) == 0
    a, b = gdal.Open(str(out)), gdal.Open(str(cli_out))
    assert np.array_equal(a.ReadAsArray(), b.ReadAsArray())
    src = gdal.Open(str(HELD_OUT_SCENE))
    assert a.RasterCount == len(keys) and a.GetGeoTransform() == src.GetGeoTransform()
    assert a.GetProjection() == src.GetProjection()
    values = a.ReadAsArray()
    assert np.isfinite(values).mean() > 0.99 and 0.0 < float(np.nanmean(values)) < 1.0  # reflectance
    info = json_results(qgis_process(["--json", "run", "hls_translate:model_info", "--", f"MODEL={model}"]))
    assert info["FAMILY"] == which.split()[0] and info["CONDITIONAL"] == 0
    assert info["TARGET_BANDS"].split(",") == keys
