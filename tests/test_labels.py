"""Categorical label layers: read by nearest neighbour only, mapped to a model's classes, fed to label-map
models by the engine; on the real Sentinel-2 scene classification (SCL) of the T29RKH tile.

The SCL layer is 549 x 549 px at 200 m, the 10 m-class bands of the tile 1098 x 1098 at 100 m on the same
origin: on the bands' grid every SCL pixel covers exactly 2 x 2 pixels, so the expected label of every
pixel is known independently (``np.repeat``).  The tile's SCL holds the classes 2, 5, 7, 8, 9 and 10.
"""

import numpy as np
import pytest

from support.onnx_models import copy_model, label_map_model
from hls_translate.core.backends import raster_info
from hls_translate.core.grid import Window
from hls_translate.core.scene import open_scene
from hls_translate.core.engine import PredictOptions, predict, predict_array
from hls_translate.core.errors import ConfigError
from hls_translate.core.labels import LabelEncoding, LabelRaster
from hls_translate.core.metadata import LabelClass
from hls_translate.core.runtime import OnnxModel

#: the model's classes: 2 (dark area) and 7 (unclassified) of the tile are unknown to it
CLASSES = (LabelClass(5, "not_vegetated"), LabelClass(8, "cloud_medium"), LabelClass(9, "cloud_high"),
           LabelClass(10, "thin_cirrus"))
RED, RE1 = 3, 4
#: output RED = the class index fed, RE1 = the raw SCL value of that class
TABLE = np.array([[0, 1, 2, 3], [5, 8, 9, 10]], dtype=np.float32)


@pytest.fixture(scope="module")
def scl(t29rkh_dir):
    """The raw SCL layer and what every pixel of the 100 m grid must read (nearest: 2 x 2 blocks)."""
    path = str(t29rkh_dir / "SCL.tif")
    info = raster_info(path)
    with LabelRaster(path, info.grid) as own:
        src, ok = own.read()
    assert ok.all() and set(np.unique(src)) == {2, 5, 7, 8, 9, 10}
    return path, src, np.repeat(np.repeat(src, 2, axis=0), 2, axis=1)


@pytest.fixture(scope="module")
def bands_grid(t29rkh_dir):
    return raster_info(str(t29rkh_dir / "B04.tif")).grid


def _boundaries(a):
    """True where a pixel differs from its right or lower neighbour (class boundaries)."""
    edge = np.zeros(a.shape, bool)
    edge[:, :-1] |= a[:, 1:] != a[:, :-1]
    edge[:-1] |= a[1:] != a[:-1]
    return edge


def test_label_raster_is_read_by_nearest_neighbour_only(scl, bands_grid):
    path, src, expected = scl
    assert (bands_grid.width, bands_grid.height) == expected.shape[::-1]
    with LabelRaster(path, bands_grid) as labels:
        raw, ok = labels.read()
        window = Window(301, 77, 130, 91)  # odd offsets: windows start inside 2 x 2 blocks
        part, part_ok = labels.read(window)
    assert ok.all() and raw.dtype == src.dtype
    np.testing.assert_array_equal(raw, expected)
    np.testing.assert_array_equal(part, expected[77:168, 301:431])
    edge = _boundaries(expected)
    assert edge.sum() > 1000  # the tile has many class boundaries, and across them no value is invented
    assert set(np.unique(raw[edge])) <= set(np.unique(src))
    # an interpolating read of the same layer invents classes at those boundaries (what this test guards)
    from osgeo import gdal

    ds = gdal.Warp("", path, format="MEM", width=bands_grid.width, height=bands_grid.height,
                   outputBounds=bands_grid.bounds, resampleAlg="bilinear")
    smeared = ds.GetRasterBand(1).ReadAsArray()
    assert not set(np.unique(smeared[edge])) <= set(np.unique(src))


def test_label_raster_on_another_crs_is_warped_by_nearest(scl, t29rkh_dir):
    from osgeo import gdal

    path, src, _ = scl
    gdal.Warp("/vsimem/b04_4326.tif", str(t29rkh_dir / "B04.tif"), dstSRS="EPSG:4326")
    try:
        grid = raster_info("/vsimem/b04_4326.tif").grid
    finally:
        gdal.Unlink("/vsimem/b04_4326.tif")
    with LabelRaster(path, grid) as labels:
        raw, ok = labels.read()
        assert "warped (nearest)" in labels.describe()
    assert raw.shape == (grid.height, grid.width)
    assert set(np.unique(raw[ok])) <= set(np.unique(src)) and 0.5 < ok.mean() < 1.0  # nodata 0 around the tile


def test_encoding_maps_known_values_and_refuses_the_rest():
    enc = LabelEncoding(CLASSES)
    raw = np.array([[10, 5, 7, 9], [8, 0, 255, 5]], np.uint8)
    index, ok = enc.encode(raw, raw != 0)
    np.testing.assert_array_equal(index, [[3, 0, -1, 2], [1, -1, -1, 0]])
    np.testing.assert_array_equal(ok, index >= 0)
    index, ok = enc.encode(np.array([5.0, 5.5, np.nan, 9.0]))  # a float label raster: exact values only
    np.testing.assert_array_equal(index, [0, -1, -1, 2])
    with pytest.raises(Exception, match="repeat a value"):
        LabelEncoding([LabelClass(1, "a"), LabelClass(1, "b")])


@pytest.fixture(scope="module")
def one_hot_onnx(tmp_path_factory):
    return label_map_model(tmp_path_factory.mktemp("lm") / "labels.onnx", CLASSES, [RED, RE1], TABLE,
                           tile=128, overlap=16, stride=4)


def test_predict_from_the_real_scl_feeds_exactly_the_mapped_classes(one_hot_onnx, scl, t29rkh_dir, tmp_path):
    path, src, expected = scl
    model = OnnxModel(one_hot_onnx, device="cpu")
    fed = []
    real_run = model.run

    def recording(feeds):
        fed.append(feeds["labels"])
        return real_run(feeds)

    model.run = recording
    out = tmp_path / "from_labels.tif"
    logs = []
    with open_scene([str(t29rkh_dir / "B04.tif"), str(t29rkh_dir / "B03.tif")]) as scene:
        res = predict(model, scene, ["red", "red_edge_1"], str(out), PredictOptions(batch_size=3), log=logs.append,
                      labels=path)
    assert res.tiles_run > 50 and any("labels SCL.tif" in line for line in logs)
    # every label tensor fed is an exact one-hot (or all-zero where the class is unknown): never a blend
    for x in fed:
        assert set(np.unique(x)) <= {0.0, 1.0} and x.sum(axis=1).max() == 1.0
    ds = raster_info(str(out))
    assert ds.metadata["HLS_TRANSLATE_LABELS"].startswith("SCL.tif band 1 (nearest neighbour")
    assert ds.band_metadata[0]["HLS_TRANSLATE_SOURCES"] == "labels SCL.tif"
    # the written pixels themselves (the model writes class numbers into reflectance bands, which a scene
    # read would mask as outside the physical range)
    from osgeo import gdal

    back = gdal.Open(str(out))
    index, value = (back.GetRasterBand(i).ReadAsArray() for i in (1, 2))
    nodata = back.GetRasterBand(1).GetNoDataValue()
    index_ok, value_ok = index != nodata, value != nodata
    known = np.isin(expected, [c.value for c in CLASSES])
    np.testing.assert_array_equal(index_ok, known)  # nodata exactly where the class is unknown
    np.testing.assert_array_equal(value_ok, known)
    lut = {c.value: i for i, c in enumerate(CLASSES)}
    want_index = np.vectorize(lambda v: lut.get(int(v), -1))(expected)
    # across tiles and seams the blended outputs are the fed class, not a mixture of classes
    np.testing.assert_allclose(index[known], want_index[known], atol=1e-5)
    np.testing.assert_allclose(value[known], expected[known], atol=1e-5)
    edge = _boundaries(expected) & known
    assert edge.sum() > 1000
    np.testing.assert_allclose(value[edge], expected[edge], atol=1e-5)


def test_index_model_with_a_seeded_style_vector(tmp_path, scl):
    _, src, _ = scl
    path = label_map_model(tmp_path / "index.onnx", CLASSES, [RED], TABLE[1:], one_hot=False, noise=4,
                           tile=64, overlap=8, stride=4)
    labels = src[:200, :170]
    a, a_ok = predict_array(path, None, None, (), ["red"], PredictOptions(seed=7), labels=labels)
    b, _ = predict_array(path, None, None, (), ["red"], PredictOptions(seed=7), labels=labels)
    c, _ = predict_array(path, None, None, (), ["red"], PredictOptions(seed=8), labels=labels)
    known = np.isin(labels, [cl.value for cl in CLASSES])
    np.testing.assert_array_equal(a_ok[0], known)
    np.testing.assert_array_equal(a, b)  # the same seed: the same style
    style = a[0][known] - labels[known]  # one style vector for the whole run: the same offset in every tile
    assert np.ptp(style) < 1e-5 and abs(float(style.mean())) > 1e-3
    assert abs(float((c[0][known] - labels[known]).mean() - style.mean())) > 1e-3
    # a validity mask of the label layer (nodata) is honoured too
    mask = np.ones(labels.shape, bool)
    mask[:30] = False
    _, d_ok = predict_array(path, None, None, (), ["red"], labels=labels, label_valid=mask)
    np.testing.assert_array_equal(d_ok[0], known & mask)


def test_label_layers_are_required_by_label_map_models_only(one_hot_onnx, scl, t29rkh_dir, tmp_path):
    path, src, _ = scl
    copy = copy_model(tmp_path / "copy.onnx", {10: 3})
    with open_scene([str(t29rkh_dir / "B04.tif")]) as scene:
        with pytest.raises(ConfigError, match="label-map model.*give one"):
            predict(one_hot_onnx, scene, ["red"], str(tmp_path / "a.tif"))
        with pytest.raises(ConfigError, match="takes no label raster"):
            predict(copy, scene, ["cirrus"], str(tmp_path / "b.tif"), labels=path)
        with pytest.raises(Exception, match="one of the input files"):
            predict(one_hot_onnx, scene, ["red"], path, labels=path)
    with pytest.raises(Exception, match="takes no source bands"):
        predict_array(one_hot_onnx, None, None, (), ["red"], PredictOptions(sources=("B04",)), labels=src)
    assert not list(tmp_path.glob("*.tif"))
