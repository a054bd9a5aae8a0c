"""The toy family of tests/support/toy_family.py (registered from the test suite only) exported to ONNX and
run by QGIS's translate_raster headless through ``qgis_process``: the same pixels as ``hls-translate
predict`` (the other half of the proof that the house is family-blind: tests/test_toy_family.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from osgeo import gdal

from support.data import SPAIN

pytestmark = [pytest.mark.qgis, pytest.mark.data]


@pytest.fixture(scope="module")
def toy_onnx(tmp_path_factory, data_dir):
    pytest.importorskip("torch")
    from hls_translate import cli
    from support import toy_family
    from support.training import write_config

    d = tmp_path_factory.mktemp("toy")
    with toy_family.registered():
        cfg = toy_family.toy_config(d / "run", run={"steps": 10})
        assert cli.main(["train", "--config", str(write_config(d / "toy.yaml", cfg))]) == 0
        out = d / "toy.onnx"
        assert cli.main(["export", "--checkpoint", str(d / "run" / "last.pt"), "--out", str(out)]) == 0
    return out


def test_translate_raster_runs_the_toy_family_like_predict(qgis_process, toy_onnx, tmp_path):
    from hls_translate import cli

    a, b = tmp_path / "qgis.tif", tmp_path / "cli.tif"
    r = qgis_process(["--json", "run", "hls_translate:translate_raster", "--", f"INPUT={SPAIN}",
                      f"MODEL={toy_onnx}", f"OUTPUT={a}"])
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    res = json.loads(r.stdout[r.stdout.index("{"):])["results"]
    assert res["TARGETS"].replace(" ", "").split(",") == ["red_edge_1", "swir_2"]
    assert cli.main(["predict", "--model", str(toy_onnx), "--input", str(SPAIN), "--target", "B05",
                     "--target", "B12", "--out", str(b)]) == 0
    qa, cl = gdal.Open(str(a)), gdal.Open(str(b))
    assert qa.RasterCount == cl.RasterCount == 2
    assert qa.GetGeoTransform() == cl.GetGeoTransform() == gdal.Open(str(SPAIN)).GetGeoTransform()
    for i in (1, 2):
        x, y = qa.GetRasterBand(i).ReadAsArray(), cl.GetRasterBand(i).ReadAsArray()
        assert np.array_equal(x, y), i
        assert np.isfinite(x).all() and (x != qa.GetRasterBand(i).GetNoDataValue()).mean() > 0.9
