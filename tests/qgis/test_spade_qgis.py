"""A SPADE model (exported from a short training on the real T29RKH scene classification) in QGIS:
``translate_raster`` headless through ``qgis_process`` with a label layer gives the pixels `hls-translate
predict --labels` gives; without the label layer the model is refused naming the parameter; ``model_info``
describes it; ``synthesize_folder`` with a label file pattern writes the files `hls-translate batch --labels`
writes for a folder of real granules."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from test_qgis_process import json_results

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def spade_model(tmp_path_factory, data_dir):
    pytest.importorskip("torch")
    from support.spade import crop_t29rkh, train_and_export

    folder = tmp_path_factory.mktemp("spade")
    return train_and_export(folder, steps=3)["model"], crop_t29rkh(folder)


def test_translate_raster_with_a_label_layer_equals_predict(qgis_process, spade_model, tmp_path):
    from hls_translate.cli import main
    from hls_translate.core.bands import band_class
    from hls_translate.core.metadata import read_metadata

    model, (grid, labels) = spade_model
    keys = [band_class(c).key for c in read_metadata(model).output.bands]
    out = tmp_path / "qgis.tif"
    res = json_results(qgis_process(["--json", "run", "hls_translate:translate_raster", "--", f"INPUT={grid}",
                                     f"LABELS={labels}", f"MODEL={model}", "DATA_TYPE=float32", f"OUTPUT={out}"]))
    assert res["TARGETS"].split(",") == keys and res["TILES_RUN"] > 0
    cli_out = tmp_path / "cli.tif"
    assert main(["predict", "--model", model, "--input", str(grid), "--labels", str(labels),
                 *[f"--target={k}" for k in keys], "--out", str(cli_out), "--quiet"]) == 0
    a, b = gdal.Open(str(out)), gdal.Open(str(cli_out))
    values = a.ReadAsArray()
    assert np.array_equal(values, b.ReadAsArray())
    src = gdal.Open(str(grid))
    assert a.RasterCount == len(keys) and a.GetGeoTransform() == src.GetGeoTransform()
    assert np.isfinite(values).mean() > 0.99 and 0.0 < float(np.nanmean(values)) < 1.0  # reflectance
    missing = qgis_process(["--json", "run", "hls_translate:translate_raster", "--", f"INPUT={grid}",
                            f"MODEL={model}", f"OUTPUT={tmp_path / 'none.tif'}"])
    assert missing.returncode != 0 and "LABELS" in missing.stdout + missing.stderr
    info = json_results(qgis_process(["--json", "run", "hls_translate:model_info", "--", f"MODEL={model}"]))
    assert info["FAMILY"] == "spade" and info["CONDITIONAL"] == 0 and info["TARGET_BANDS"].split(",") == keys


def test_synthesize_folder_with_a_label_pattern_equals_batch(plugin, spade_model, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    from hls_translate.cli import main
    from hls_translate.core.bands import band_class
    from hls_translate.core.metadata import read_metadata
    from support.rasters import assert_same_raster
    from support.spade import GRANULES, t29rkh_granules

    model, _ = spade_model
    keys = [band_class(c).key for c in read_metadata(model).output.bands]
    t29rkh_granules(tmp_path / "in")
    params = {"INPUT": str(tmp_path / "in"), "MODEL": model, "TARGET_BANDS": keys, "LABEL_PATTERN": "{granule}_SCL.tif",
              "SEED": 2, "OUTPUT_FOLDER": str(tmp_path / "qgis"), "TILE_SIZE": 128, "DATA_TYPE": "float32",
              "LOAD_RESULTS": False}
    res = processing.run("hls_translate:synthesize_folder", params)
    assert (res["SCENES_DONE"], res["SCENES_FAILED"], res["SCENES_INVALID"]) == (len(GRANULES), 0, 0)
    files = res["OUTPUT_FILES"].split(";")
    assert len(files) == len(GRANULES) * len(keys)
    assert main(["batch", "--model", model, "--input", str(tmp_path / "in"), *[f"--target={k}" for k in keys],
                 "--labels", "{granule}_SCL.tif", "--seed", "2", "--out", str(tmp_path / "cli"), "--scheduler",
                 "none", "--tile", "128", "--quiet"]) == 0
    for f in files:
        assert_same_raster(f, tmp_path / "cli" / f.rsplit("/", 1)[1])
    with pytest.raises(QgsProcessingException, match="LABEL_PATTERN: .* is a label-map model"):
        processing.run("hls_translate:synthesize_folder", {**params, "LABEL_PATTERN": "",
                                                           "OUTPUT_FOLDER": str(tmp_path / "none")})
    (tmp_path / "in" / "T29RKH_east" / "T29RKH_east_SCL.tif").unlink()
    fb = QgsProcessingFeedback()
    warnings = []
    fb.pushWarning = lambda msg: warnings.append(msg)  # type: ignore[assignment]
    with pytest.raises(QgsProcessingException, match="1 scene.* failed the checks"):
        processing.run("hls_translate:synthesize_folder", {**params, "OUTPUT_FOLDER": str(tmp_path / "missing")},
                       feedback=fb)
    [refused] = [w for w in warnings if w.startswith("refused:")]
    assert "T29RKH_east: no label file" in refused and "'{granule}_SCL.tif'" in refused
    assert list((tmp_path / "missing").iterdir()) == []
