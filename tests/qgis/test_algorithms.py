"""The four algorithms through ``processing.run`` on the real scenes, loaded as QGIS layers.

Outputs are compared with the command line (``hls-translate predict``: same engine, same options, so the
same pixels) and with numpy, and their georeferencing with the inputs'.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback,
                       QgsProcessingOutputLayerDefinition, QgsProject, QgsRasterLayer, QgsVectorLayer)

import processing
from support import REPO
from support.data import SPAIN, T19UDP, T29RKH
from support.qgis_gui import InfoLog
from support.onnx_models import LINEAR_OUTPUT, fixed_linear_expected, fixed_linear_onnx

pytestmark = pytest.mark.qgis

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
#: DATA_TYPE's option number for physical float32 values (what `hls-translate predict` writes by default)
FLOAT32 = 0


def sample_files(skip=("B10",)):
    return [f for f in sorted(glob.glob(str(SAMPLE / "*.tif"))) if not any(f.endswith(f"_{s}.tif") for s in skip)]


def layers(paths):
    out = [QgsRasterLayer(p, os.path.splitext(os.path.basename(p))[0]) for p in paths]
    assert all(layer.isValid() for layer in out)
    return out


def read(path, band=1):
    ds = gdal.Open(str(path))
    b = ds.GetRasterBand(band)
    return b.ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection(), b.GetNoDataValue(), b.GetDescription()


def cli(*args):
    from hls_translate.cli import main

    assert main(["predict", *map(str, args), "--quiet"]) == 0


def assert_same_grid(out, ref):
    a, b = gdal.Open(str(out)), gdal.Open(str(ref))
    assert (a.RasterXSize, a.RasterYSize) == (b.RasterXSize, b.RasterYSize)
    assert a.GetGeoTransform() == pytest.approx(b.GetGeoTransform(), rel=0, abs=1e-12)
    assert a.GetSpatialRef().IsSame(b.GetSpatialRef())


class Canceller(QgsProcessingFeedback):
    """Asks to cancel as soon as the first progress after 0 arrives."""

    def __init__(self):
        super().__init__()
        self.progress_seen = []
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, value):
        self.progress_seen.append(value)
        if value > 0:
            self.cancel()


# --- registration ------------------------------------------------------------------------------------
def test_provider_and_algorithms_registered(plugin):
    from qgis.core import QgsApplication

    reg = QgsApplication.processingRegistry()
    provider = reg.providerById("hls_translate")
    assert provider is not None and provider.name() == "HLS Band Translator"
    assert sorted(a.name() for a in provider.algorithms()) == [
        "evaluate_band", "model_info", "synthesize_band", "synthesize_folder", "translate_raster"]
    for alg in provider.algorithms():
        helptext = alg.shortHelpString()
        for p in alg.parameterDefinitions():
            assert p.name() == p.name().upper()
            assert p.help(), f"{alg.id()} {p.name()} has no help string"
            assert p.name() in helptext, f"{alg.id()} help does not explain {p.name()}"


def test_shared_parameters_are_declared_once_with_the_librarys_choices(plugin):
    from qgis.core import QgsApplication

    from hls_translate.core.engine import DRIVERS, DTYPES, PredictOptions
    from hls_translate.core.scene import RESAMPLING_METHODS
    from hls_translate.processing_provider.choices import option_names
    from hls_translate.core.runtime import DEVICES
    from hls_translate.core.tiling import BLEND_MODES

    reg = QgsApplication.processingRegistry()
    synth, trans, evaluate = (reg.algorithmById(f"hls_translate:{n}")
                              for n in ("synthesize_band", "translate_raster", "evaluate_band"))
    shared = ("TILE_SIZE", "OVERLAP", "BLEND", "BATCH_SIZE", "DEVICE", "THREADS")
    for name in shared:  # the same declaration: label, default, help
        a, b = synth.parameterDefinition(name), trans.parameterDefinition(name)
        assert (a.description(), a.defaultValue(), a.help()) == (b.description(), b.defaultValue(), b.help()), name
    assert synth.parameterDefinition("BLEND").options() == list(BLEND_MODES)
    assert synth.parameterDefinition("DEVICE").options() == list(DEVICES)
    # DATA_TYPE: the engine's data types keep their option numbers; "input" (the inputs' convention) is
    # appended and is the default (issue 13, point 6)
    data_types = option_names(synth.parameterDefinition("DATA_TYPE"))
    assert data_types[:2] == list(DTYPES) and data_types[2:] == ["input"]
    assert synth.parameterDefinition("DATA_TYPE").defaultValue() == 2
    assert synth.parameterDefinition("FORMAT").options() == list(DRIVERS)
    for alg in (synth, evaluate):
        assert alg.parameterDefinition("RESAMPLING").options()[1:] == list(RESAMPLING_METHODS)
    defaults = PredictOptions()
    assert BLEND_MODES[synth.parameterDefinition("BLEND").defaultValue()] == defaults.blend
    assert synth.parameterDefinition("BATCH_SIZE").defaultValue() == defaults.batch_size
    assert trans.parameterDefinition("GAP_FILL") is None
    for name in ("EXTENT", "DATA_TYPE", "FORMAT", "CREATION_OPTIONS"):  # output parameters: shared too
        a, b = synth.parameterDefinition(name), trans.parameterDefinition(name)
        assert (a.description(), a.defaultValue(), a.help()) == (b.description(), b.defaultValue(), b.help()), name


# --- synthesize_band -----------------------------------------------------------------------------------
def test_synthesize_per_band_layers_equals_cli_and_keeps_georeferencing(plugin, adain_model, tmp_path):
    files = sample_files()
    out = tmp_path / "qgis_cirrus.tif"
    fb = QgsProcessingFeedback()
    progress = []
    fb.progressChanged.connect(progress.append)
    res = processing.run("hls_translate:synthesize_band", {
        "INPUT": layers(files), "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "DATA_TYPE": FLOAT32,
        "OUTPUT": str(out)}, feedback=fb)
    assert res["OUTPUT"] == str(out) and res["TARGETS"] == "cirrus"
    assert "B8A NIR narrow" in res["INPUT_BANDS"] and "-> nir_narrow" in res["INPUT_BANDS"]
    assert res["TILES_RUN"] > 0 and isinstance(res["SECONDS"], float)
    assert progress and progress[-1] == pytest.approx(100.0) and progress == sorted(progress)
    cli_out = tmp_path / "cli_cirrus.tif"
    cli("--model", adain_model, "--input", *files, "--target", "cirrus", "--out", cli_out)
    q, gt, proj, nodata, desc = read(out)
    c = read(cli_out)[0]
    assert q.dtype == np.float32 and np.array_equal(q, c)
    assert_same_grid(out, files[0])
    assert nodata == -9999 and desc == "B10 cirrus (synthesized)"
    valid = q != nodata
    assert valid.all()  # the sample has no nodata pixels
    assert 0.0 < float(q.mean()) < 0.2  # a reflectance, not DN


def test_synthesize_multiband_two_targets_files_names_and_cli(plugin, adain_model, tmp_path):
    layer = QgsRasterLayer(str(T19UDP), "T19UDP stack")
    project = QgsProject()
    project.addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(project)
    out = tmp_path / "t19.tif"
    res = processing.run("hls_translate:synthesize_band", {
        "INPUT": [layer], "MODEL": adain_model, "TARGET_BANDS": ["cirrus", "red_edge_1"], "TILE_SIZE": 128,
        "OVERLAP": 16, "BATCH_SIZE": 3, "DATA_TYPE": FLOAT32,
        "OUTPUT": QgsProcessingOutputLayerDefinition(str(out), project)},
        context=context)
    files = res["OUTPUT_FILES"]  # a list (issue 13, point 12; it was a ';'-joined string)
    assert isinstance(files, list)
    assert files == [str(tmp_path / "t19_red_edge_1.tif"), str(tmp_path / "t19_cirrus.tif")] or \
        sorted(files) == sorted([str(tmp_path / "t19_cirrus.tif"), str(tmp_path / "t19_red_edge_1.tif")])
    assert not out.exists()
    # layers to load are named after the target bands; OUTPUT's own (unwritten) path is not among them
    # ... after their scene too (issue 13, point 7)
    names = {os.path.basename(k): d.name for k, d in context.layersToLoadOnCompletion().items()}
    scene = "T19UDP_20170729_L1C_13band_160m_stack"
    assert names == {"t19_cirrus.tif": f"{scene}: B10 cirrus (synthesized)",
                     "t19_red_edge_1.tif": f"{scene}: B05 red edge 1 (synthesized)"}
    cli_out = tmp_path / "cli.tif"
    cli("--model", adain_model, "--input", T19UDP, "--target", "cirrus", "--target", "red_edge_1", "--tile", 128,
        "--overlap", 16, "--batch", 3, "--out", cli_out)
    for band, key in ((1, "cirrus"), (2, "red_edge_1")):
        q = read(tmp_path / f"t19_{key}.tif")[0]
        assert np.array_equal(q, read(cli_out, band)[0]), key
        assert_same_grid(tmp_path / f"t19_{key}.tif", T19UDP)
    stack = gdal.Open(str(T19UDP)).ReadAsArray()
    q = read(tmp_path / "t19_cirrus.tif")[0]
    inputs_nodata = (np.delete(stack, 10, axis=0) == 0).any(axis=0)  # every band but B10 is an input
    assert inputs_nodata.any() and not inputs_nodata.all()
    np.testing.assert_array_equal(q == -9999, inputs_nodata)  # nodata exactly where an input is nodata


def test_synthesize_resamples_multiresolution_bands(plugin, adain_model, tmp_path, bigearthnet_patch):
    files = sorted(str(p) for p in bigearthnet_patch.glob("*_B*.tif"))
    files = [f for f in files if not f.endswith("_B09.tif")]
    with pytest.raises(QgsProcessingException, match="different grids"):  # refusing stays available
        processing.run("hls_translate:synthesize_band", {
            "INPUT": layers(files), "MODEL": adain_model, "TARGET_BANDS": ["water_vapour"], "RESAMPLING": 0,
            "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()
    out = tmp_path / "wv.tif"
    processing.run("hls_translate:synthesize_band", {  # the default: bilinear onto the finest grid
        "INPUT": layers(files), "MODEL": adain_model, "TARGET_BANDS": ["water_vapour"], "DATA_TYPE": FLOAT32,
        "OUTPUT": str(out)})
    cli_out = tmp_path / "cli.tif"
    cli("--model", adain_model, "--input", *files, "--target", "water_vapour", "--resampling", "bilinear",
        "--out", cli_out)
    assert np.array_equal(read(out)[0], read(cli_out)[0])
    ten_m = next(f for f in files if f.endswith("_B02.tif"))
    assert_same_grid(out, ten_m)  # onto the finest band's grid


def test_band_mapping_overrides_detection(plugin, adain_model, tmp_path):
    # a copy of the Spain stack without band descriptions: nothing to detect until the mapping says
    bare = tmp_path / "bare.tif"
    gdal.Translate(str(bare), str(SPAIN), bandList=[4, 3, 2, 9])
    ds = gdal.Open(str(bare), gdal.GA_Update)
    for i in range(1, 5):
        ds.GetRasterBand(i).SetDescription("")
    ds = None
    params = {"INPUT": [str(bare)], "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "OUTPUT": str(tmp_path / "a.tif")}
    with pytest.raises(QgsProcessingException, match="cannot tell which band"):
        processing.run("hls_translate:synthesize_band", params)
    processing.run("hls_translate:synthesize_band", {**params, "BAND_MAPPING": "1=B04; 2=B03; 3=B02; 4=B8A"})
    named = tmp_path / "named.tif"  # the same bands with their descriptions (B4, B3, B2, B8A) kept
    gdal.Translate(str(named), str(SPAIN), bandList=[4, 3, 2, 9])
    ref = tmp_path / "ref.tif"
    processing.run("hls_translate:synthesize_band", {**params, "INPUT": [str(named)], "OUTPUT": str(ref)})
    assert np.array_equal(read(tmp_path / "a.tif")[0], read(ref)[0])


def test_loaded_layer_statistics_do_not_change_values(plugin, adain_model, tmp_path):
    """QGIS/GDAL statistics written to a .aux.xml beside a band file must not change how it is read."""
    params = {"MODEL": adain_model, "TARGET_BANDS": ["cirrus"]}
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    processing.run("hls_translate:synthesize_band", {**params, "INPUT": layers(sample_files()), "OUTPUT": str(a)})
    copy = tmp_path / "copy"
    copy.mkdir()
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "YES")  # the suite turns side-car files off; this test needs them
    try:
        for f in sample_files():
            shutil.copy(f, copy)
            ds = gdal.Open(str(copy / os.path.basename(f)))
            ds.GetRasterBand(1).ComputeStatistics(False)
            ds = None
        assert len(list(copy.glob("*.aux.xml"))) == len(sample_files())
        processing.run("hls_translate:synthesize_band",
                       {**params, "INPUT": layers(sorted(str(p) for p in copy.glob("*.tif"))), "OUTPUT": str(b)})
    finally:
        gdal.SetConfigOption("GDAL_PAM_ENABLED", None)
    assert np.array_equal(read(a)[0], read(b)[0])


def test_cancel_leaves_no_output(plugin, adain_model, tmp_path):
    out = tmp_path / "cancelled.tif"
    fb = Canceller()
    with pytest.raises(QgsProcessingException, match="cancel") as ei:
        processing.run("hls_translate:synthesize_band", {
            "INPUT": [str(SPAIN)], "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "TILE_SIZE": 64,
            "BATCH_SIZE": 2, "OUTPUT": str(out)}, feedback=fb)
    assert "cancelled: cancelled" not in str(ei.value).lower()
    assert fb.progress_seen and max(fb.progress_seen) < 50  # it stopped early, at the first batch
    assert os.listdir(tmp_path) == []  # no output, no temporary part file


def _bad(tmp_path, adain_model):
    vector = QgsVectorLayer("Point?crs=EPSG:4326", "points", "memory")
    base = {"INPUT": sample_files(), "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "OUTPUT": str(tmp_path / "o.tif")}
    t29 = [str(T29RKH / "B02.tif"), str(T29RKH / "B05.tif"), str(T29RKH / "B11.tif")]
    return [
        ({**base, "INPUT": [vector]}, "layer 'points' is not a raster layer"),
        ({**base, "MODEL": str(tmp_path / "missing.onnx")}, "model file not found"),
        ({**base, "MODEL": sample_files()[0]}, "not an ONNX model|no hls_translate metadata"),
        ({**base, "TARGET_BANDS": ["thermal_1"]}, "cannot synthesize thermal_1"),
        ({**base, "INPUT": t29, "RESAMPLING": 0}, "different grids"),
        ({**base, "BAND_MAPPING": "B04"}, "BAND_MAPPING: entry 'B04' is not KEY=BAND"),
        ({**base, "BAND_MAPPING": "nosuchfile.tif=B04"}, "matches no input layer"),
        ({**base, "INPUT": [str(SPAIN)], "BAND_MAPPING": "1=B99"}, "unknown band"),
        ({**base, "GAP_FILL": True}, "gap-fill keeps the real pixels"),
        ({**base, "TILE_SIZE": 66}, "not a multiple of the model's stride 4"),
        ({**base, "OUTPUT": str(tmp_path / "no_such_dir" / "o.tif")}, "does not exist"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_bad_input_gives_clear_processing_exception(plugin, adain_model, tmp_path, case):
    params, message = _bad(tmp_path, adain_model)[case]
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("hls_translate:synthesize_band", params)
    assert not (tmp_path / "o.tif").exists()


# --- translate_raster ----------------------------------------------------------------------------------
def test_translate_conditional_model_equals_synthesize(plugin, adain_model, tmp_path):
    a, b = tmp_path / "translate.tif", tmp_path / "synth.tif"
    res = processing.run("hls_translate:translate_raster", {
        "INPUT": str(SPAIN), "MODEL": adain_model, "TARGET": "cirrus", "OUTPUT": str(a)})
    assert res["TARGETS"] == "cirrus"
    processing.run("hls_translate:synthesize_band", {
        "INPUT": [str(SPAIN)], "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "OUTPUT": str(b)})
    assert np.array_equal(read(a)[0], read(b)[0])
    assert_same_grid(a, SPAIN)
    with pytest.raises(QgsProcessingException, match="conditional model; name the band"):
        processing.run("hls_translate:translate_raster", {"INPUT": str(SPAIN), "MODEL": adain_model,
                                                           "OUTPUT": str(tmp_path / "c.tif")})



def test_gdal_cache_bounded_during_the_run_and_restored(plugin, adain_model, tmp_path, monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(4 << 30)
    try:
        fb = InfoLog()
        processing.run("hls_translate:translate_raster", {"INPUT": str(SPAIN), "MODEL": adain_model,
                                                          "TARGET": "cirrus", "OUTPUT": str(tmp_path / "t.tif")},
                       feedback=fb)
        assert gdal.GetCacheMax() == 4 << 30
    finally:
        gdal.SetCacheMax(before)
    assert any(line.startswith("GDAL block cache limited to 256 MB") for line in fb.lines), fb.lines


@pytest.mark.data
@pytest.mark.parametrize("named", [True, False], ids=["band-descriptions", "unnamed-bands-in-model-order"])
def test_translate_fixed_band_model_matches_formula(plugin, tmp_path, named):
    model = fixed_linear_onnx(str(tmp_path / "fixed.onnx"))
    src = tmp_path / "in.tif"
    # T19UDP bands 4 (red), 9 (B8A), 12 (B11): a UTM uint16 stack
    gdal.Translate(str(src), str(T19UDP), bandList=[4, 9, 12] if not named else [12, 4, 9, 1])
    ds = gdal.Open(str(src), gdal.GA_Update)
    if not named:  # no band names, no sensor to tell nodata: the file must say it
        for i in range(1, 4):
            ds.GetRasterBand(i).SetDescription("")
            ds.GetRasterBand(i).SetNoDataValue(0)
    ds = None
    fb = QgsProcessingFeedback()
    warnings = []
    fb.pushWarning = lambda msg: warnings.append(msg)  # type: ignore[assignment]
    out = tmp_path / "out.tif"
    res = processing.run("hls_translate:translate_raster", {"INPUT": str(src), "MODEL": model, "DATA_TYPE": FLOAT32,
                                                            "OUTPUT": str(out)}, feedback=fb)
    assert res["TARGETS"] == LINEAR_OUTPUT
    y, gt, proj, nodata, desc = read(out)
    assert_same_grid(out, T19UDP)
    raw = gdal.Open(str(T19UDP)).ReadAsArray().astype(np.float64)
    phys = raw[[3, 8, 11]] * 1e-4  # red, B8A, B11 in physical units
    want = fixed_linear_expected(phys)
    ok = (raw[[3, 8, 11]] != 0).all(axis=0)
    np.testing.assert_array_equal(y != nodata, ok)
    np.testing.assert_allclose(y[ok], want[ok], rtol=0, atol=2e-6)
    if named:  # Sentinel-2 band names: the output is described in its terms
        assert desc.startswith("B09 water vapour") and not warnings
    else:  # unnamed bands were taken in the model's order, and the log says so
        assert "water" in desc.lower()
        assert warnings and "band 1 -> red, band 2 -> nir_narrow, band 3 -> swir_1" in warnings[0]


# --- model_info ------------------------------------------------------------------------------------------
def test_model_info_outputs_equal_metadata(plugin, adain_model, tmp_path):
    from hls_translate.core.bands import band_class
    from hls_translate.core.metadata import read_metadata

    md = read_metadata(adain_model)
    out = tmp_path / "md.json"
    res = processing.run("hls_translate:model_info", {"MODEL": adain_model, "OUTPUT_JSON": str(out)})
    assert res["FAMILY"] == md.family and res["ARCHITECTURE"] == md.architecture
    assert res["CONDITIONAL"] == 1

    assert res["TARGET_BANDS"].split(",") == [band_class(i).key for i in md.target_bands]
    assert res["SOURCE_BANDS"].split(",") == [band_class(i).key for i in md.source_bands]
    assert (res["TILE_SIZE"], res["OVERLAP"], res["STRIDE"]) == (md.tiling.tile_size, md.tiling.overlap, md.tiling.stride)
    assert json.loads(out.read_text()) == json.loads(md.to_json()) == json.loads(res["METADATA_JSON"])
    assert res["OUTPUT_JSON"] == str(out)
    with pytest.raises(QgsProcessingException, match="no hls_translate metadata|not an ONNX model"):
        processing.run("hls_translate:model_info", {"MODEL": str(SPAIN)})


# --- evaluate_band ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthesized_t19(plugin, adain_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "t19_cirrus.tif"
    processing.run("hls_translate:synthesize_band", {
        "INPUT": [str(T19UDP)], "MODEL": adain_model, "TARGET_BANDS": ["cirrus"], "DATA_TYPE": FLOAT32,
        "OUTPUT": str(out)})
    return out


@pytest.mark.parametrize("strip_pixels", [4 << 20, 687 * 40], ids=["one-strip", "many-strips"])
def test_evaluate_band_equals_core_metrics(plugin, synthesized_t19, tmp_path, monkeypatch, strip_pixels):
    from hls_translate.core import metrics
    from hls_translate.processing_provider import evaluate_band

    monkeypatch.setattr(evaluate_band, "STRIP_PIXELS", strip_pixels)
    diff = tmp_path / "diff.tif"
    res = processing.run("hls_translate:evaluate_band", {
        "SYNTHESIZED": str(synthesized_t19), "REFERENCE": str(T19UDP), "DIFFERENCE": str(diff)})
    assert res["BAND"] == "cirrus"
    pred, _, _, nodata, _ = read(synthesized_t19)
    raw = read(T19UDP, 11)[0]  # B10 of the stack
    ref = raw.astype(np.float32) * np.float32(1e-4)
    valid = (pred != nodata) & (raw != 0)
    want = metrics.score(pred, ref, valid)
    assert res["N_PIXELS"] == want.n_pixels > 0
    for k in ("rmse", "mae", "bias", "psnr", "ssim"):
        assert res[k.upper()] == pytest.approx(getattr(want, k), rel=1e-9, abs=1e-12), k
    d, _, _, dnod, ddesc = read(diff)
    assert_same_grid(diff, T19UDP)
    np.testing.assert_array_equal(d != dnod, valid)
    np.testing.assert_allclose(d[valid], (pred - ref)[valid], rtol=0, atol=1e-7)
    assert ddesc == "B10 cirrus synthesized minus reference"


def test_evaluate_band_refuses_mismatches(plugin, synthesized_t19, tmp_path):
    with pytest.raises(QgsProcessingException, match="is cirrus .* but the reference band is blue"):
        processing.run("hls_translate:evaluate_band", {
            "SYNTHESIZED": str(synthesized_t19), "REFERENCE": str(T19UDP), "REFERENCE_BAND": 2})
    with pytest.raises(QgsProcessingException, match="different grids"):
        processing.run("hls_translate:evaluate_band", {
            "SYNTHESIZED": str(synthesized_t19), "REFERENCE": str(SPAIN)})
    b04 = sample_files()[3]
    with pytest.raises(QgsProcessingException, match="has no cirrus band"):
        processing.run("hls_translate:evaluate_band", {"SYNTHESIZED": str(synthesized_t19), "REFERENCE": b04})


def test_bands_detected_from_hls_file_names(plugin, adain_model, tmp_path):
    """Per-band files named like an HLS S30 granule (band descriptions removed): the names alone tell the
    bands, including the sensor-specific codes."""
    granule = tmp_path / "HLS.S30.T30SXH.2019150T105031.v2.0"
    granule.mkdir()
    paths = []
    for code in ("B02", "B03", "B04", "B8A", "B11", "B12"):
        dst = granule / f"{granule.name}.{code}.tif"
        gdal.Translate(str(dst), str(SAMPLE / f"Spain_7370579_S2L1C_crop_{code}.tif"))
        ds = gdal.Open(str(dst), gdal.GA_Update)
        ds.GetRasterBand(1).SetDescription("")
        ds = None
        paths.append(str(dst))
    fb = QgsProcessingFeedback()
    log = []
    fb.pushInfo = log.append  # type: ignore[assignment]
    res = processing.run("hls_translate:synthesize_band", {
        "INPUT": layers(paths), "MODEL": adain_model, "TARGET_BANDS": ["red_edge_1"], "OUTPUT": str(tmp_path / "re1.tif")},
        feedback=fb)
    assert "input bands (S30;" in "\n".join(log)
    assert "B8A NIR narrow (HLS.S30.T30SXH.2019150T105031.v2.0.B8A.tif band 1) -> nir_narrow" in res["INPUT_BANDS"]
    assert read(tmp_path / "re1.tif")[4] == "B05 red edge 1 (synthesized)"


def test_outputs_that_are_inputs_are_refused_before_work(plugin, adain_model, tmp_path):
    """OUTPUT on the model, model_info's OUTPUT_JSON on the model, evaluate_band's DIFFERENCE on its
    REFERENCE: refused, and the file is untouched."""
    import shutil

    model = tmp_path / "m.onnx"
    shutil.copy(adain_model, model)
    before = model.read_bytes()
    with pytest.raises(QgsProcessingException, match="one of the input files"):
        processing.run("hls_translate:synthesize_band", {"INPUT": [str(SPAIN)], "MODEL": str(model),
                                                         "TARGET_BANDS": [10], "OUTPUT": str(model)})
    with pytest.raises(QgsProcessingException, match="one of the input files"):
        processing.run("hls_translate:model_info", {"MODEL": str(model), "OUTPUT_JSON": str(model)})
    assert model.read_bytes() == before
    with pytest.raises(QgsProcessingException, match="does not exist"):
        processing.run("hls_translate:model_info", {"MODEL": str(model), "OUTPUT_JSON": str(tmp_path / "no" / "m.json")})
    ref = tmp_path / "ref.tif"
    shutil.copy(SPAIN, ref)
    ref_before = ref.read_bytes()
    with pytest.raises(QgsProcessingException, match="one of the input files"):
        processing.run("hls_translate:evaluate_band", {"SYNTHESIZED": str(SPAIN), "SYNTHESIZED_BAND": 11,
                                                       "REFERENCE": str(ref), "REFERENCE_BAND": 11,
                                                       "DIFFERENCE": str(ref)})
    assert ref.read_bytes() == ref_before
    assert not [p for p in os.listdir(tmp_path) if ".part" in p]
