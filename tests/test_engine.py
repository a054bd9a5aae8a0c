"""The streaming tiled inference engine: exact blending, nodata, gap-fill, streaming, outputs, errors.

Exactness is tested with models whose output is known (tests/support/onnx_models.py), on real values from the
Spain Sentinel-2 L1C scene; tiled-vs-whole behaviour with the seeded adain fixture model
(tests/support/adain_fixture.py).
"""

import glob
import os

import numpy as np
import pytest

from support import data as data_paths
from support.onnx_models import copy_model, fixed_model, tile_mean_model
from hls_translate.core.bands import band_class
from hls_translate.core import engine
from hls_translate.core.backends import raster_info
from hls_translate.core.grid import Grid
from hls_translate.core.products import BAND_CLASS_KEY
from hls_translate.core.scene import open_scene
from hls_translate.core.writer import OutputBand, write_raster
from hls_translate.core.engine import PredictOptions, predict, predict_array
from hls_translate.core.engine.runner import ArrayReader, run_tiles
from hls_translate.core.errors import (BandError, CancelledError, ConfigError, HLSTranslateError, MissingBandError,
                                       ModelError, ModelMetadataError, RasterWriteError)
from hls_translate.core.runtime import OnnxModel, ProviderError
from hls_translate.core.tiling import TileGrid, seam_error

RED, NIR, CIRRUS, WV, BLUE, GREEN, RE1 = 3, 8, 10, 9, 1, 2, 4
COPY_MAP = {CIRRUS: RED, WV: NIR}  # cirrus <- red, water vapour <- NIR narrow


@pytest.fixture(scope="module")
def spain(spain_tif):
    with open_scene(str(spain_tif)) as scene:
        values, valid = scene.read_stack(scene.bands)
        ids = [b.id for b in scene.bands]
    assert valid.all()
    return values, valid, ids


@pytest.fixture(scope="module")
def copy_onnx(tmp_path_factory):
    return copy_model(tmp_path_factory.mktemp("m") / "copy.onnx", COPY_MAP, tile=64, overlap=16, stride=8)


@pytest.fixture(scope="module")
def copy_loaded(copy_onnx):
    return OnnxModel(copy_onnx, device="cpu")


@pytest.fixture(scope="module")
def adain_onnx(tmp_path_factory):
    from support.adain_fixture import small_adain_onnx

    return small_adain_onnx(tmp_path_factory.mktemp("adain") / "adain.onnx")


def _large(values, valid, h, w):
    """A raster bigger than the scene, made by mirroring the real scene (no synthetic values)."""
    reps = (1, -(-h // values.shape[1]), -(-w // values.shape[2]))
    v = np.concatenate([values, values[:, ::-1]], axis=1)
    v = np.concatenate([v, v[:, :, ::-1]], axis=2)
    v = np.tile(v, (1, max(1, reps[1] // 2 + 1), max(1, reps[2] // 2 + 1)))[:, :h, :w]
    return np.ascontiguousarray(v), np.ones(v.shape, bool)


# --- exact blending with a model that copies its input --------------------------------------------------
@pytest.mark.parametrize("blend", ["cosine", "gaussian", "mean", "crop"])
@pytest.mark.parametrize("shape", [(37, 53), (300, 277), (512, 512), (1100, 700)],
                         ids=["smaller-than-tile", "not-stride-multiple", "scene", "large"])
def test_copy_model_mosaic_equals_input_everywhere(copy_loaded, spain, blend, shape):
    values, valid, ids = spain
    if shape[0] > values.shape[1] or shape[1] > values.shape[2]:
        values, valid = _large(values, valid, *shape)
    v, ok = values[:, :shape[0], :shape[1]], valid[:, :shape[0], :shape[1]]
    out, out_ok = predict_array(copy_loaded, v, ok, ids, ["cirrus", "water_vapour"],
                                PredictOptions(blend=blend, batch_size=3))
    assert out.shape == (2,) + shape and out.dtype == np.float32
    assert out_ok.all()
    expected = v[[ids.index(RED), ids.index(NIR)]]
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)  # borders and corners included
    assert np.abs(out[:, -1, :] - expected[:, -1, :]).max() <= 1e-6


def test_stride_gate_makes_unpadded_tiles_fail(copy_loaded):
    """The copy model really refuses sizes that are not multiples of its stride (so the test above
    proves the engine padded its tiles)."""
    bands = np.zeros((1, 15, 37, 53), np.float32)
    with pytest.raises(ModelError, match="inference failed"):
        copy_loaded.run({"bands": bands, "presence": np.ones((1, 15), np.float32),
                         "target": np.array([CIRRUS], np.int64)})


def test_same_result_for_any_batch_size_and_overlap(adain_onnx, spain):
    values, valid, ids = spain
    m = OnnxModel(adain_onnx, device="cpu")
    v, ok = values[:, :150, :170], valid[:, :150, :170]
    a, _ = predict_array(m, v, ok, ids, ["cirrus"], PredictOptions(batch_size=1))
    b, _ = predict_array(m, v, ok, ids, ["cirrus"], PredictOptions(batch_size=7))
    np.testing.assert_allclose(a, b, atol=1e-6)


# --- the real model: tiled vs one whole-image pass, seams ---------------------------------------------
def test_real_model_tiled_vs_whole_and_cosine_seams_are_smallest(adain_onnx, spain, capsys):
    values, valid, ids = spain
    m = OnnxModel(adain_onnx, device="cpu")
    h = w = 256
    v, ok = values[:, :h, :w], valid[:, :h, :w]
    tile, overlap = m.metadata.tiling.tile_size, m.metadata.tiling.overlap
    grid = TileGrid(h, w, tile, overlap, m.metadata.tiling.stride)
    report = []
    for target in ("red_edge_1", "swir_2"):
        seams, diffs = _seams(m, v, ok, ids, target, grid, report)
        for d in diffs.values():
            assert np.abs(d).max() > 0  # tiles see less context than the whole image: results differ
        assert seams["cosine"] < seams["mean"], report
        assert seams["cosine"] < seams["crop"], report
    with capsys.disabled():
        print("\n" + "\n".join(report))


def _seams(model, values, valid, ids, target, grid, report):
    """Seam error of each blend vs one whole-image pass (``grid`` is the tiling the blends use); appends
    a line per blend to ``report``.  Returns ({blend: seam error}, {blend: tiled - whole})."""
    whole, whole_ok = predict_array(model, values, valid, ids, [target],
                                    PredictOptions(tile_size=max(grid.height, grid.width)))
    assert whole_ok.all()
    seams, diffs = {}, {}
    for blend in ("cosine", "mean", "crop"):
        tiled, tiled_ok = predict_array(model, values, valid, ids, [target], PredictOptions(blend=blend))
        assert tiled_ok.all()
        d = diffs[blend] = (tiled - whole)[0]
        seams[blend] = seam_error(d, grid)[0]
        report.append(f"{target} {blend}: max |tiled-whole| {np.abs(d).max():.2e}, mean {np.abs(d).mean():.2e}, "
                      f"seam RMS {seams[blend]:.3e}")
    return seams, diffs


BUNDLED = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                        "resources", "models", "*.onnx")))


HELD_OUT = ("Spain", "T37MEM", "T29QND", "LC08_016037")


@pytest.mark.skipif(not BUNDLED, reason="no bundled model in resources/models")
@pytest.mark.data
def test_bundled_model_tiled_equals_whole_image_on_every_held_out_scene():
    """Issue 12's bound: at most 1e-3 reflectance between the tiled, blended run (the model's default tiling,
    and small 64 px tiles with a cosine-blended overlap) and one whole-image pass, on every held-out scene."""
    from hls_translate.core.scene import open_scene
    from hls_translate.training.config import load_train_config

    m = OnnxModel(BUNDLED[0], device="cpu")
    cfg = load_train_config(os.path.join(os.path.dirname(BUNDLED[0]), "..", "..", "training", "configs",
                                         "bundled.yaml"), [f"data.root={data_paths.DATA}"], check_model=False)
    assert tuple(s.name for s in cfg.data.validation) == HELD_OUT
    assert m.metadata.metrics["held_out_evaluation"]["scenes"] == list(HELD_OUT)
    worst = {}
    for spec in cfg.data.validation:
        with open_scene(os.path.join(str(data_paths.DATA), spec.path)) as scene:
            ids = [b.id for b in scene.bands if b.id in m.metadata.source_bands]
            values, valid = scene.read_stack(ids)
        values, valid = values[:, :256, :256], valid[:, :256, :256]
        h, w = values.shape[1:]
        targets = [t for t in ("red_edge_1", "swir_2", "blue") if band_class(t).id in ids][:2]
        whole, ok = predict_array(m, values, valid, ids, targets, PredictOptions(tile_size=max(h, w), overlap=0))
        for opts in (PredictOptions(), PredictOptions(tile_size=64, overlap=16)):
            tiled, ok2 = predict_array(m, values, valid, ids, targets, opts)
            np.testing.assert_array_equal(ok, ok2)
            worst[(spec.name, opts.tile_size)] = float(np.abs(tiled - whole)[ok].max())
    assert max(worst.values()) <= 1e-3, worst


# --- nodata, skipping, gap-fill, fill values ---------------------------------------------------------
def test_nodata_inputs_give_nodata_outputs_exactly(copy_loaded, spain):
    values, valid, ids = spain
    v, ok = values[:, :200, :200].copy(), valid[:, :200, :200].copy()
    ok[ids.index(RED), 10:30, 150:190] = False  # a hole in red
    ok[ids.index(NIR), 120:121, :] = False  # a line in NIR
    out, out_ok = predict_array(copy_loaded, v, ok, ids, ["cirrus", "water_vapour"])
    used = ok[ids.index(RED)] & ok[ids.index(NIR)]  # both targets are computed from red and NIR
    np.testing.assert_array_equal(out_ok[0], used)
    np.testing.assert_array_equal(out_ok[1], used)
    assert np.isnan(out[~out_ok]).all()
    np.testing.assert_allclose(out[0][used], v[ids.index(RED)][used], atol=1e-6)


def test_explicit_sources_limit_what_makes_nodata(copy_loaded, spain):
    values, valid, ids = spain
    v, ok = values[:, :100, :100].copy(), valid[:, :100, :100].copy()
    ok[ids.index(NIR), :50] = False
    out, out_ok = predict_array(copy_loaded, v, ok, ids, ["cirrus"], PredictOptions(sources=("B04",)), sensor="S2")
    assert out_ok.all()  # NIR is not used, so its hole does not matter
    np.testing.assert_allclose(out[0], v[ids.index(RED)], atol=1e-6)
    with pytest.raises(BandError, match="does not take B02 blue"):
        predict_array(copy_loaded, v, ok, ids, ["cirrus"], PredictOptions(sources=("B02",)), sensor="S2")


def test_gap_fill_keeps_real_pixels_and_synthesizes_only_holes(copy_loaded, spain, tmp_path):
    values, valid, ids = spain
    v, ok = values[:, :256, :256].copy(), valid[:, :256, :256].copy()
    ci = ids.index(CIRRUS)
    ok[ci, 100:140, 30:90] = False  # a hole in the cirrus band
    out, out_ok = predict_array(copy_loaded, v, ok, ids, ["cirrus"], PredictOptions(gap_fill=True))
    assert out_ok.all()
    hole = ~ok[ci]
    np.testing.assert_array_equal(out[0][~hole], v[ci][~hole])  # real pixels kept bit for bit
    np.testing.assert_allclose(out[0][hole], v[ids.index(RED)][hole], atol=1e-6)  # holes synthesized
    assert not np.allclose(v[ci][hole], v[ids.index(RED)][hole])


def test_tile_mean_model_sees_invalid_pixels_filled_with_the_band_mean(tmp_path, spain):
    values, valid, ids = spain
    red = values[ids.index(RED), :64, :64].copy()
    ok = np.ones((1, 64, 64), bool)
    ok[0, :16, :] = False  # a quarter of the tile is nodata
    mean_stat = 0.25
    with_stats = tile_mean_model(tmp_path / "with.onnx", RED, RE1, tile=64, means={RED: mean_stat})
    no_stats = tile_mean_model(tmp_path / "without.onnx", RED, RE1, tile=64)
    out, out_ok = predict_array(with_stats, red[None], ok, [RED], ["red_edge_1"])
    expected = (red[16:].sum(dtype=np.float64) + 16 * 64 * mean_stat) / 4096
    np.testing.assert_array_equal(out_ok[0], ok[0])
    np.testing.assert_allclose(out[0][ok[0]], expected, rtol=1e-5)
    out2, _ = predict_array(no_stats, red[None], ok, [RED], ["red_edge_1"])
    np.testing.assert_allclose(out2[0][ok[0]], red[16:].mean(dtype=np.float64), rtol=1e-5)


def test_fixed_band_model_picks_the_asked_outputs(tmp_path, spain):
    values, valid, ids = spain
    wts = np.array([[0.5, 0.25, 0.25], [0.0, 2.0, -1.0]])
    path = fixed_model(tmp_path / "fixed.onnx", [BLUE, GREEN, RED], [RE1, NIR], wts, tile=64, overlap=16, stride=4)
    v, ok = values[:, :130, :99], valid[:, :130, :99]
    out, out_ok = predict_array(path, v, ok, ids, ["nir_narrow", "red_edge_1"])
    x = v[[ids.index(BLUE), ids.index(GREEN), ids.index(RED)]].astype(np.float64)
    np.testing.assert_allclose(out[0], np.tensordot(wts[1], x, 1), atol=2e-6)
    np.testing.assert_allclose(out[1], np.tensordot(wts[0], x, 1), atol=2e-6)
    assert out_ok.all()
    lacking = [i for i, b in enumerate(ids) if b != GREEN]
    with pytest.raises(MissingBandError, match="green"):
        predict_array(path, v[lacking], ok[lacking], [ids[i] for i in lacking], ["nir_narrow"])
    with pytest.raises(MissingBandError, match="cannot synthesize.*cirrus"):
        predict_array(path, v, ok, ids, ["cirrus"])


# --- files: georeferencing, nodata, descriptions, metadata, dtype, driver ----------------------------------
def _info(path):
    from osgeo import gdal

    ds = gdal.Open(str(path))
    out = dict(transform=ds.GetGeoTransform(), crs=ds.GetProjection(), size=(ds.RasterXSize, ds.RasterYSize),
               count=ds.RasterCount, meta=ds.GetMetadata(), layout=ds.GetMetadata("IMAGE_STRUCTURE"),
               bands=[dict(desc=ds.GetRasterBand(i + 1).GetDescription(), nodata=ds.GetRasterBand(i + 1).GetNoDataValue(),
                           meta=ds.GetRasterBand(i + 1).GetMetadata(), scale=ds.GetRasterBand(i + 1).GetScale(),
                           dtype=gdal.GetDataTypeName(ds.GetRasterBand(i + 1).DataType),
                           block=ds.GetRasterBand(i + 1).GetBlockSize(),
                           overviews=ds.GetRasterBand(i + 1).GetOverviewCount(),
                           data=ds.GetRasterBand(i + 1).ReadAsArray()) for i in range(ds.RasterCount)])
    ds = None
    return out


def test_predict_writes_georeferenced_described_multiband_file(copy_onnx, t19udp_tif, tmp_path):
    out = tmp_path / "synth.tif"
    fractions, logs = [], []
    with open_scene(str(t19udp_tif)) as scene:
        result = predict(copy_onnx, scene, ["B10", "B09"], str(out), PredictOptions(device="cpu"),
                         progress=fractions.append, log=logs.append)
        red, red_ok = scene.read("B04")
        nir, nir_ok = scene.read("B8A")
        grid = scene.grid
    assert result.outputs == {"cirrus": str(out), "water_vapour": str(out)}
    assert result.provider == "CPUExecutionProvider"
    assert result.tiles_total == result.tiles_run + result.tiles_skipped
    assert result.tiles_skipped > 0  # the tile's no-data corner
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 5
    assert any("tiles" in line for line in logs)
    info = _info(out)
    assert info["transform"] == pytest.approx(grid.transform) and info["size"] == (grid.width, grid.height)
    assert Grid(info["crs"], info["transform"], *info["size"]).same_crs(grid)
    assert [b["desc"] for b in info["bands"]] == ["B10 cirrus (synthesized)", "B09 water vapour (synthesized)"]
    assert [b["meta"][BAND_CLASS_KEY] for b in info["bands"]] == ["cirrus", "water_vapour"]
    assert info["bands"][0]["meta"]["HLS_TRANSLATE_SOURCES"] == "B04 red,B8A NIR narrow"
    assert info["meta"]["HLS_TRANSLATE_MODEL"] == "copy.onnx"
    assert info["meta"]["HLS_TRANSLATE_SOURCE_BANDS"] == "B04 red,B8A NIR narrow"
    assert info["meta"]["HLS_TRANSLATE_MODEL_FAMILY"] == "copy"
    assert all(b["nodata"] == -9999 and b["dtype"] == "Float32" and b["block"] == [256, 256] and b["overviews"] >= 1
               for b in info["bands"])
    used = red_ok & nir_ok
    assert 0.3 < used.mean() < 0.9
    data = info["bands"][0]["data"]
    np.testing.assert_array_equal(data == -9999, ~used)  # nodata exactly where an input is nodata
    np.testing.assert_allclose(data[used], red[used], atol=1e-6)
    np.testing.assert_allclose(info["bands"][1]["data"][used], nir[used], atol=1e-6)
    # the output reads back as a scene whose bands are identified by their metadata
    with open_scene(str(out)) as back:
        assert [b.key for b in back.bands] == ["water_vapour", "cirrus"]


def test_predict_int16_cog_one_file_per_target(copy_onnx, spain_tif, tmp_path):
    outs = {"B10": str(tmp_path / "b10.tif"), "water_vapour": str(tmp_path / "wv.tif")}
    with open_scene(str(spain_tif)) as scene:
        res = predict(copy_onnx, scene, ["B10", "water_vapour"], outs,
                      PredictOptions(dtype="int16", driver="COG", device="cpu"))
        red, _ = scene.read("B04")
    assert res.outputs == {"cirrus": outs["B10"], "water_vapour": outs["water_vapour"]}
    info = _info(outs["B10"])
    assert info["layout"].get("LAYOUT") == "COG"
    b = info["bands"][0]
    assert b["dtype"] == "Int16" and b["nodata"] == -9999 and b["scale"] == pytest.approx(1e-4)
    assert b["desc"] == "B10 cirrus (synthesized)"
    np.testing.assert_allclose(b["data"] * 1e-4, red, atol=0.5e-4 + 1e-7)
    with open_scene(outs["B10"]) as back:  # scale recorded: reads back in physical units
        v, ok = back.read("cirrus")
        assert ok.all() and np.abs(v - red).max() <= 0.5e-4 + 1e-6
    assert _info(outs["water_vapour"])["bands"][0]["desc"] == "B09 water vapour (synthesized)"


def test_all_nodata_raster_gives_all_nodata_output(copy_onnx, tmp_path, spain_tif):
    src = raster_info(str(spain_tif))
    grid = Grid(src.grid.crs_wkt, src.grid.transform, 130, 70)
    inp = tmp_path / "empty.tif"
    write_raster(str(inp), grid, np.zeros((2, 70, 130), np.float32),
                 [OutputBand("B04", band=band_class("red")),
                  OutputBand("B8A", band=band_class("nir_narrow"))],
                 valid=np.zeros((2, 70, 130), bool), overviews=False)
    calls = []
    with open_scene(str(inp)) as scene:
        m = OnnxModel(copy_onnx, device="cpu")
        res = predict(m, scene, ["cirrus"], str(tmp_path / "out.tif"), progress=calls.append)
    assert res.tiles_run == 0 and res.tiles_skipped == res.tiles_total > 1
    assert m.run_calls == 0
    data = _info(tmp_path / "out.tif")["bands"][0]["data"]
    assert data.shape == (70, 130) and (data == -9999).all()


# --- streaming ---------------------------------------------------------------------------------------
class _RecordingReader(ArrayReader):
    def __init__(self, *a):
        super().__init__(*a)
        self.windows = []

    def read(self, classes, window):
        self.windows.append(window)
        return super().read(classes, window)


def test_streaming_reads_and_writes_strips_bounded_by_the_tile(copy_loaded, spain):
    values, valid, ids = spain
    v, ok = _large(values, valid, 700, 900)
    p = engine.plan(copy_loaded.metadata, ids, 700, 900, ["cirrus"], PredictOptions(batch_size=4))
    reader = _RecordingReader(v, ok, ids)
    strips = []
    out = np.full((700, 900), np.nan, np.float32)

    def sink(y, strip, strip_ok):
        strips.append((y, strip.shape))
        out[y:y + strip.shape[1]] = strip[0]

    run, skipped = run_tiles(copy_loaded, p, reader, sink, 4, None, None)
    g = p.grid
    assert run == len(g) and skipped == 0
    span = 3 * (g.tile_size - g.overlap) + g.tile_size  # four tiles of a row
    assert all(w.height == g.tile_height and w.width <= span for w in reader.windows)
    # strips arrive in order, cover every row once, and are never taller than a tile
    ys = [y for y, _ in strips]
    assert ys == sorted(ys) and ys[0] == 0
    assert sum(s[1] for _, s in strips) == 700 and all(s[1] <= g.tile_height for _, s in strips)
    assert all(s[2] == 900 for _, s in strips)
    np.testing.assert_allclose(out, v[ids.index(RED)], atol=1e-6)


# --- cancellation and failures leave nothing behind -----------------------------------------------------
def _leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith("."))


def test_cancel_raises_and_leaves_no_file(copy_onnx, spain_tif, tmp_path):
    out = tmp_path / "out.tif"
    checks = []

    def cancel_on_third():
        checks.append(1)
        return len(checks) >= 3

    with open_scene(str(spain_tif)) as scene:
        with pytest.raises(CancelledError):
            predict(copy_onnx, scene, ["cirrus"], str(out), PredictOptions(batch_size=2), is_cancelled=cancel_on_third)
        assert not out.exists() and _leftovers(tmp_path) == []
        # an existing file at the output path is left as it was
        out.write_bytes(b"previous result")
        checks.clear()
        with pytest.raises(CancelledError):
            predict(copy_onnx, scene, ["cirrus"], str(out), is_cancelled=cancel_on_third)
    assert out.read_bytes() == b"previous result" and _leftovers(tmp_path) == []


def test_failure_mid_run_leaves_no_file(copy_onnx, spain_tif, tmp_path):
    m = OnnxModel(copy_onnx, device="cpu")
    real_run, calls = m.run, []

    def failing(feeds):
        calls.append(1)
        if len(calls) == 5:
            raise ModelError("simulated failure in the 5th batch")
        return real_run(feeds)

    m.run = failing
    out = tmp_path / "out.tif"
    with open_scene(str(spain_tif)) as scene, pytest.raises(ModelError, match="5th batch"):
        predict(m, scene, ["cirrus"], {"cirrus": str(out)})
    assert not out.exists() and _leftovers(tmp_path) == []


# --- bad input: clear errors before any compute -----------------------------------------------------------
@pytest.fixture()
def counting_model(copy_onnx):
    return OnnxModel(copy_onnx, device="cpu")


def test_unwritable_output_fails_before_compute(counting_model, spain_tif, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    with open_scene(str(spain_tif)) as scene:
        for bad in (tmp_path / "missing" / "out.tif", tmp_path):
            with pytest.raises(RasterWriteError):
                predict(counting_model, scene, ["cirrus"], str(bad))
        if os.geteuid() != 0:  # root writes anywhere
            with pytest.raises(RasterWriteError, match="not writable"):
                predict(counting_model, scene, ["cirrus"], str(ro / "out.tif"))
        with pytest.raises(RasterWriteError, match="one of the input files"):
            predict(counting_model, scene, ["cirrus"], str(spain_tif))
    assert counting_model.run_calls == 0


def test_model_files_that_are_not_ours_are_refused(tmp_path, spain_tif):
    import onnx
    from onnx import TensorProto, helper

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(2048))
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model")
    bare = tmp_path / "bare.onnx"  # a valid ONNX graph without hls_translate metadata
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g), str(bare))
    with open_scene(str(spain_tif)) as scene:
        for path, match in ((garbage, "not an ONNX model|no graph|metadata"), (text, "not an ONNX model|no graph"),
                            (bare, "no hls_translate metadata"), (tmp_path / "nope.onnx", "not found")):
            with pytest.raises(ModelMetadataError, match=match):
                predict(str(path), scene, ["cirrus"], str(tmp_path / "out.tif"))
    assert not (tmp_path / "out.tif").exists()


def test_corrupt_model_graph_is_a_model_error_naming_the_file(copy_onnx, tmp_path):
    data = open(copy_onnx, "rb").read()
    # keep the metadata (at the end of the file) readable but break the graph's initializer bytes
    broken = tmp_path / "broken.onnx"
    i = data.index(b"ReduceSum")
    broken.write_bytes(data[:i] + b"\xff" * 40 + data[i + 40:])
    with pytest.raises(ModelError) as exc:
        OnnxModel(str(broken), device="cpu")
    assert "broken.onnx" in str(exc.value)


def test_target_or_input_the_model_lacks_is_named(copy_onnx, spain_tif, tmp_path):
    with open_scene(str(spain_tif)) as scene:
        with pytest.raises(MissingBandError, match="cannot synthesize B05 red edge 1"):
            predict(copy_onnx, scene, ["B05"], str(tmp_path / "o.tif"))
        with pytest.raises(ConfigError, match="not a multiple of the model's stride 8"):
            predict(copy_onnx, scene, ["B10"], str(tmp_path / "o.tif"), PredictOptions(tile_size=60))
        with pytest.raises(BandError, match="given twice"):
            predict(copy_onnx, scene, ["B10", "cirrus"], str(tmp_path / "o.tif"))
        with pytest.raises(ConfigError, match="no path for target"):
            predict(copy_onnx, scene, ["B10", "B09"], {"B10": str(tmp_path / "a.tif")})
    only_cirrus_inputs = {"B10": "B10"}
    path = tmp_path / "cirrus_only.tif"
    src = raster_info(str(spain_tif))
    write_raster(str(path), src.grid, np.zeros((1, src.grid.height, src.grid.width), np.float32),
                 [OutputBand("B10", band=band_class("cirrus"))], overviews=False)
    with open_scene(str(path), sensor="S2") as scene:
        with pytest.raises(MissingBandError, match="no input band to synthesize B09 water vapour"):
            predict(copy_onnx, scene, ["B09"], str(tmp_path / "o.tif"))
        with pytest.raises(MissingBandError, match="gap-fill"):
            predict(copy_onnx, scene, ["B09"], str(tmp_path / "o.tif"), PredictOptions(gap_fill=True))
    assert only_cirrus_inputs
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("kwargs,key", [(dict(blend="median"), "blend"), (dict(batch_size=0), "batch_size"),
                                        (dict(dtype="uint8"), "dtype"), (dict(driver="PNG"), "driver"),
                                        (dict(device="tpu"), "device"), (dict(tile_size=-4), "tile_size"),
                                        (dict(sources=()), "sources"), (dict(blend_floor=0.0), "blend_floor")])
def test_bad_options_name_the_option(kwargs, key):
    with pytest.raises(ConfigError, match=f"predict option {key}"):
        PredictOptions(**kwargs)


def test_devices(copy_onnx):
    assert OnnxModel(copy_onnx, device="auto").provider == "CPUExecutionProvider"
    with pytest.raises(ProviderError, match="cuda") as exc:  # no CUDA provider in this ONNX Runtime
        OnnxModel(copy_onnx, device="cuda")
    assert isinstance(exc.value, ModelError) and isinstance(exc.value, HLSTranslateError)
    assert "CUDAExecutionProvider" not in str(exc.value).split("available:")[-1]


def test_graph_not_matching_its_metadata_is_refused(tmp_path):
    """Metadata copied onto a different graph: the mismatch is named."""
    import onnx

    a = copy_model(tmp_path / "a.onnx", COPY_MAP)
    b = fixed_model(tmp_path / "b.onnx", [BLUE, GREEN, RED], [RE1], np.ones((1, 3)))
    ma, mb = onnx.load(a), onnx.load(b)
    del mb.metadata_props[:]
    mb.metadata_props.extend(ma.metadata_props)
    onnx.save(mb, str(tmp_path / "mixed.onnx"))
    with pytest.raises(ModelError, match="mixed.onnx: input 'bands' has 3 channels but the metadata lists 15"):
        OnnxModel(str(tmp_path / "mixed.onnx"), device="cpu")


def test_session_metadata_matches_the_file_metadata(copy_loaded):
    from hls_translate.core.runtime import available_providers, session_metadata

    assert session_metadata(copy_loaded.session) == copy_loaded.metadata
    assert "CPUExecutionProvider" in available_providers()
    assert copy_loaded.input_name("presence") == "present"
    with pytest.raises(ModelError, match="no input of role 'labels'"):
        copy_loaded.input_name("labels")
