"""What the algorithms give back (issue 13): outputs in their inputs' convention beside real bands, layers
named after their scene with a grey stretch and metadata, a clip extent, targets checked before the run,
mixed resolutions resampled by default, readable model information, evaluate_band's plot."""

from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (QgsPointXY, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback,
                       QgsProcessingOutputLayerDefinition, QgsProject, QgsRasterLayer)

import processing
from support import REPO
from support.qgis_gui import InfoLog

pytestmark = pytest.mark.qgis

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
ALG = "hls_translate:synthesize_band"


def sample(code):
    return str(SAMPLE / f"Spain_7370579_S2L1C_crop_{code}.tif")


def loaded(context, path):
    """The layer QGIS loads for ``path`` when the algorithm finishes, post-processed as QGIS does."""
    details = context.layerToLoadOnCompletionDetails(path)
    layer = QgsRasterLayer(path, details.name)
    if details.postProcessor() is not None:
        details.postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())
    return details, layer


def test_output_mixes_with_real_bands_and_loads_named_styled_described(plugin, tmp_path):
    inputs = [sample(c) for c in ("B02", "B03", "B04", "B05", "B8A", "B11", "B12")]  # no B06 (red edge 2)
    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    out = tmp_path / "re2.tif"
    res = processing.run(ALG, {"INPUT": inputs, "TARGET_BANDS": ["red_edge_2"],
                               "OUTPUT": QgsProcessingOutputLayerDefinition(str(out), project)}, context=context)
    assert res["OUTPUT_FILES"] == [str(out)]
    # stored as the inputs are: int16 DN, nodata 0, no scale tag, so QGIS shows both in the same units
    synth, real = QgsRasterLayer(str(out), "s"), QgsRasterLayer(sample("B06"), "r")
    assert synth.dataProvider().dataType(1) == real.dataProvider().dataType(1)
    assert synth.dataProvider().sourceNoDataValue(1) == real.dataProvider().sourceNoDataValue(1) == 0
    centre = synth.extent().center()
    s, r = (layer.dataProvider().sample(QgsPointXY(centre), 1)[0] for layer in (synth, real))
    assert 0.5 < s / r < 2 and s > 100  # both DN (reflectance x 10000), of the same size
    details, layer = loaded(context, str(out))
    assert details.name == "Spain_7370579_S2L1C_crop: B06 red edge 2 (synthesized)"
    renderer = layer.renderer()
    assert renderer.type() == "singlebandgray"
    lo, hi = layer.dataProvider().cumulativeCut(1, 0.02, 0.98)
    ce = renderer.contrastEnhancement()
    assert (ce.minimumValue(), ce.maximumValue()) == pytest.approx((lo, hi)) and hi > lo
    md = layer.metadata()
    assert md.title() == details.name
    assert "hls_translate_default.onnx" in md.abstract() and "of scene Spain_7370579_S2L1C_crop" in md.abstract()
    assert "from B02 blue, B03 green, B04 red, B05 red edge 1, B8A NIR narrow, B11 SWIR 1, B12 SWIR 2" in md.abstract()
    assert "int16, nodata 0" in md.abstract() and md.history()
    ds = gdal.Open(str(out))
    assert ds.GetMetadataItem("HLS_TRANSLATE_SCENE") == "Spain_7370579_S2L1C_crop"  # not "B02"


def test_hls_scene_layers_named_by_tile_and_date(plugin, tmp_path):
    granule = tmp_path / "HLS.S30.T30SXH.2019150T105031.v2.0"
    granule.mkdir()
    paths = []
    for code in ("B02", "B04", "B8A", "B11"):
        dst = granule / f"{granule.name}.{code}.tif"
        gdal.Translate(str(dst), sample(code), noData=-9999)
        ds = gdal.Open(str(dst), gdal.GA_Update)
        ds.GetRasterBand(1).SetScale(1e-4)
        ds.GetRasterBand(1).SetOffset(0)
        ds = None
        paths.append(str(dst))
    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    out = tmp_path / "c.tif"
    processing.run(ALG, {"INPUT": paths, "TARGET_BANDS": [10], "OUTPUT": QgsProcessingOutputLayerDefinition(
        str(out), project)}, context=context)
    details, _ = loaded(context, str(out))
    assert details.name == "S30 T30SXH 2019-05-30: B10 cirrus (synthesized)"
    ds = gdal.Open(str(out))
    b = ds.GetRasterBand(1)  # like HLS bands: int16, -9999, the scale written as a tag
    assert (b.DataType, b.GetNoDataValue(), b.GetScale()) == (gdal.GDT_Int16, -9999, 1e-4)


def test_targets_the_model_cannot_make_are_refused_before_the_run(plugin, tmp_path):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    ok, message = alg.checkParameterValues({"INPUT": [sample("B04")], "TARGET_BANDS": "thermal_1,cirrus",
                                            "OUTPUT": str(tmp_path / "x.tif")}, QgsProcessingContext())
    assert not ok and message.startswith("hls_translate_default.onnx cannot synthesize thermal_1; it can synthesize: "
                                          "coastal_aerosol, blue")
    ok, message = alg.checkParameterValues({"INPUT": [sample("B04")], "TARGET_BANDS": "cirus",
                                            "OUTPUT": str(tmp_path / "x.tif")}, QgsProcessingContext())
    assert not ok and "TARGET_BANDS: 'cirus' is not one of the options: coastal_aerosol (0)" in message
    assert os.listdir(tmp_path) == []


def test_mixed_resolutions_resampled_by_default_and_logged(plugin, tmp_path, bigearthnet_patch):
    files = [str(p) for p in sorted(bigearthnet_patch.glob("*_B*.tif")) if p.name[-7:-4] in ("B02", "B05", "B09", "B11")]
    log = InfoLog()
    out = tmp_path / "o.tif"
    processing.run(ALG, {"INPUT": files, "TARGET_BANDS": [10], "OUTPUT": str(out)}, feedback=log)
    ds = gdal.Open(str(out))
    assert (ds.RasterXSize, ds.GetGeoTransform()[1]) == (120, 10.0)  # the 10 m band's grid
    assert any(line.startswith("note: 3 band(s) resampled (bilinear) onto the 10 grid of the finest band: red_edge_1 (20)")
               for line in log.lines), log.lines
    with pytest.raises(QgsProcessingException, match=r"different grids[\s\S]*choose a method under 'Resampling of "
                                                     r"bands on different grids' \(RESAMPLING\)"):
        processing.run(ALG, {"INPUT": files, "TARGET_BANDS": [10], "RESAMPLING": "none",
                             "OUTPUT": str(tmp_path / "x.tif")})


def test_clip_extent_and_creation_options(plugin, tmp_path):
    files = [sample(c) for c in ("B02", "B04", "B8A", "B11")]
    out = tmp_path / "clip.tif"
    processing.run(ALG, {"INPUT": files, "TARGET_BANDS": [10], "EXTENT": "-0.76,-0.75,38.105,38.115 [EPSG:4326]",
                         "CREATION_OPTIONS": "COMPRESS=LZW|PREDICTOR=2", "OUTPUT": str(out)})
    ds = gdal.Open(str(out))
    x0, dx, _, y0, _, dy = gdal.Open(files[0]).GetGeoTransform()
    col, row = int((-0.76 - x0) // dx), int((y0 - 38.115) // -dy)
    assert ds.GetGeoTransform()[0] == pytest.approx(x0 + col * dx) and ds.GetGeoTransform()[3] == pytest.approx(
        y0 + row * dy)
    assert ds.RasterXSize == int(np.ceil((-0.75 - x0) / dx)) - col
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        processing.run(ALG, {"INPUT": files, "TARGET_BANDS": [10], "EXTENT": "10,11,10,11 [EPSG:4326]",
                             "OUTPUT": str(tmp_path / "none.tif")})
    with pytest.raises(QgsProcessingException, match="creation option NOPE is not one of the GTiff"):
        processing.run(ALG, {"INPUT": files, "TARGET_BANDS": [10], "CREATION_OPTIONS": "NOPE=1",
                             "OUTPUT": str(tmp_path / "bad.tif")})
    assert sorted(os.listdir(tmp_path)) == ["clip.tif"]


def test_model_information_is_readable(plugin, tmp_path):
    log = InfoLog()
    html = tmp_path / "report.html"
    res = processing.run("hls_translate:model_info", {"OUTPUT_HTML": str(html)}, feedback=log)
    text = res["SUMMARY"]  # logged line by line (QGIS itself then logs the results dict)
    assert "{" not in text and "Held-out evaluation" in text and "held out (never trained on)  Spain" in text
    assert all(line in log.lines for line in text.splitlines())
    assert res["FAMILY"] == "spectral" and "<th>RMSE</th>" in html.read_text()


def test_evaluate_band_plot(plugin, tmp_path):
    synth = tmp_path / "b06.tif"
    processing.run(ALG, {"INPUT": [sample(c) for c in ("B02", "B04", "B05", "B8A", "B11")],
                         "TARGET_BANDS": ["red_edge_2"], "OUTPUT": str(synth)})
    plot = tmp_path / "plot.png"
    res = processing.run("hls_translate:evaluate_band", {"SYNTHESIZED": str(synth), "REFERENCE": sample("B06"),
                                                         "DIFFERENCE": str(tmp_path / "d.tif"), "PLOT": str(plot)})
    assert res["PLOT"] == str(plot) and res["N_PIXELS"] == 256 * 256 and res["RMSE"] < 0.05
    ds = gdal.Open(str(plot))
    assert ds.GetDriver().ShortName == "PNG" and ds.RasterXSize == 960
