"""``qgis_process`` end to end: the plugin installed and enabled in a throwaway profile, runs from a shell."""

from __future__ import annotations

import glob
import json

import numpy as np
import pytest
from osgeo import gdal

from support import REPO
from support.data import T19UDP
from support.hide_packages import HIDING_SITECUSTOMIZE

pytestmark = pytest.mark.qgis

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"


def json_results(proc) -> dict:
    """The ``results`` of a ``qgis_process --json run`` (fails with its output when it did not run)."""
    assert proc.returncode == 0, f"qgis_process failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout[proc.stdout.index("{"):])["results"]


def _array(path, band=1):
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(band).ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection()


def test_algorithms_listed(qgis_process):
    r = qgis_process(["list"])
    assert r.returncode == 0, r.stderr
    for name in ("synthesize_band", "translate_raster", "model_info", "evaluate_band"):
        assert f"hls_translate:{name}" in r.stdout


def test_synthesize_band_headless_equals_cli(qgis_process, adain_model, tmp_path):
    """Per-band files of the sample scene (no B10) -> cirrus, through qgis_process, equals `hls-translate predict`."""
    from hls_translate.cli import main

    files = [f for f in sorted(glob.glob(str(SAMPLE / "*.tif"))) if not f.endswith("_B10.tif")]
    out = tmp_path / "headless.tif"
    r = qgis_process(["--json", "run", "hls_translate:synthesize_band", "--",
                      *[f"INPUT={f}" for f in files], "TARGET_BANDS=cirrus", f"MODEL={adain_model}",
                      "TILE_SIZE=128", "OVERLAP=32", "BLEND=1", "DATA_TYPE=float32", f"OUTPUT={out}"])
    res = json_results(r)
    assert res["OUTPUT"] == str(out) and res["TARGETS"] == "cirrus" and res["OUTPUT_FILES"] == [str(out)]
    assert isinstance(res["TILES_RUN"], (int, float)) and res["TILES_RUN"] > 0
    assert res["EXECUTION_PROVIDER"] == "CPUExecutionProvider"
    cli_out = tmp_path / "cli.tif"
    assert main(["predict", "--model", adain_model, "--input", *files, "--target", "cirrus", "--tile", "128",
                 "--overlap", "32", "--blend", "gaussian", "--out", str(cli_out), "--quiet"]) == 0
    a, gt, proj = _array(out)
    b, gt_in, proj_in = _array(files[0])
    assert np.array_equal(a, _array(cli_out)[0])
    assert gt == gt_in and proj == proj_in


def test_model_info_and_evaluate_headless(qgis_process, adain_model, tmp_path):
    res = json_results(qgis_process(["--json", "run", "hls_translate:model_info", "--", f"MODEL={adain_model}"]))
    assert res["FAMILY"] == "adain" and res["CONDITIONAL"] == 1 and "cirrus" in res["TARGET_BANDS"].split(",")
    assert isinstance(res["TILE_SIZE"], (int, float)) and res["TILE_SIZE"] > 0
    synth = tmp_path / "t19.tif"
    json_results(qgis_process(["--json", "run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}",
                               "TARGET_BANDS=cirrus", f"MODEL={adain_model}", f"OUTPUT={synth}"]))
    ev = json_results(qgis_process(["--json", "run", "hls_translate:evaluate_band", "--", f"SYNTHESIZED={synth}",
                                    f"REFERENCE={T19UDP}", f"DIFFERENCE={tmp_path / 'diff.tif'}"]))
    assert ev["BAND"] == "cirrus" and ev["N_PIXELS"] > 0 and 0 < ev["RMSE"] < 1 and -1 <= ev["SSIM"] <= 1


def test_bad_input_headless_is_a_clear_error(qgis_process, adain_model, tmp_path):
    r = qgis_process(["run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}", "TARGET_BANDS=thermal_1",
                      f"MODEL={adain_model}", f"OUTPUT={tmp_path / 'x.tif'}"])
    assert r.returncode != 0
    assert "cannot synthesize" in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "x.tif").exists()


def test_failures_under_json_print_json_on_stdout(qgis_process, adain_model, tmp_path):
    """QGIS 3.22 prints nothing on stdout when a --json run fails; ours print why (issue 13, point 12)."""
    refused = qgis_process(["--json", "run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}",
                            "TARGET_BANDS=thermal_1", f"MODEL={adain_model}", f"OUTPUT={tmp_path / 'x.tif'}"])
    assert refused.returncode == 1
    doc = json.loads(refused.stdout)  # refused by the check before the run: the message lists what it can make
    assert doc["algorithm"] == "hls_translate:synthesize_band" and doc["results"] == {}
    assert doc["error"].startswith("adain_fixture.onnx cannot synthesize thermal_1; it can synthesize: ")
    assert doc["inputs"]["TARGET_BANDS"] == "thermal_1" and "ERROR" in refused.stderr
    failed = qgis_process(["--json", "run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}",
                           "TARGET_BANDS=cirrus", "BAND_MAPPING=1=B99", f"MODEL={adain_model}",
                           f"OUTPUT={tmp_path / 'y.tif'}"])
    assert failed.returncode == 1 and "unknown band 'B99'" in json.loads(failed.stdout)["error"]
    assert "unknown band 'B99'" in failed.stderr
    assert not list(tmp_path.iterdir())


def test_headless_without_onnxruntime_says_what_to_install(qgis_process, adain_model, tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE)
    hide = {"HLS_TEST_HIDE": "onnxruntime"}
    r = qgis_process(["list"], extra_pythonpath=str(shim), extra_env=hide)
    assert r.returncode == 0 and "hls_translate:model_info" in r.stdout
    assert "pip install onnxruntime" in r.stderr
    r = qgis_process(["run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}", "TARGET_BANDS=cirrus",
                      f"MODEL={adain_model}", f"OUTPUT={tmp_path / 'x.tif'}"], extra_pythonpath=str(shim), extra_env=hide)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "pip install onnxruntime" in out and "Traceback" not in out
    assert not (tmp_path / "x.tif").exists()


def test_demo_script(tmp_path):
    """`make demo` (scripts/demo.sh) end to end, with the bundled model, as a user runs it."""
    import os
    import re
    import subprocess
    import sys

    out = tmp_path / "demo"
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("MODEL", None)
    r = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), str(out)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    synth, png = out / "sample_B06_red_edge_2_synthesized.tif", out / "sample_B06_preview.png"
    assert f"synthesized band: {synth}" in r.stdout and f"preview PNG:      {png}" in r.stdout
    a, gt, proj = _array(synth)
    b, gt_in, proj_in = _array(SAMPLE / "Spain_7370579_S2L1C_crop_B06.tif")
    assert a.shape == b.shape and gt == gt_in and proj == proj_in
    # the bundled model's red edge 2 from the eight Landsat-like bands, against the real B06
    # (measured RMSE 0.0157, scene std 0.072; a broken model or pipeline lands far above this bound)
    rmse = float(re.search(r"RMSE ([0-9.]+)", r.stdout).group(1))
    assert rmse < 0.025, r.stdout
    independent = float(np.sqrt(np.mean((a.astype(np.float64) - b * 1e-4) ** 2)))
    assert abs(independent - rmse) < 1e-5
    ds = gdal.Open(str(png))
    assert ds.GetDriver().ShortName == "PNG" and ds.RasterXSize == 3 * a.shape[1] + 16
    assert not list(out.glob("*.aux.xml"))
