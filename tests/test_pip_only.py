"""A pip-only install (no GDAL Python bindings): `predict` and `batch` read and write through rasterio's
bundled GDAL and give what the GDAL path gives: the same pixels, georeferencing and metadata.

Each case runs once here (``osgeo`` present: the GDAL backend) and once in a subprocess where ``osgeo``
cannot be imported; the two outputs are compared in full (support.rasters).  Where neither backend can
be imported the command says what to install.
"""

import json
import subprocess
import sys

import pytest

from hls_translate.cli import main
from support import REPO
from support.hide_packages import hiding_env
from support.onnx_models import copy_model
from support.rasters import assert_same_raster

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
RED, NIR, CIRRUS, WV, RE1 = 3, 8, 10, 9, 4

#: runs the CLI with the arguments given, then says which raster libraries it imported
RUN_CLI = """
import json, sys
from hls_translate.cli import main
rc = main(sys.argv[1:])
print("MODULES " + json.dumps({m: m in sys.modules for m in ("osgeo", "rasterio")}))
sys.exit(rc)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return copy_model(tmp_path_factory.mktemp("models") / "copy.onnx", {CIRRUS: RED, WV: NIR, RE1: NIR},
                      tile=64, overlap=16, stride=8)


def run_hidden(tmp_path, hide, args):
    env = hiding_env(tmp_path / "shim", hide)
    r = subprocess.run([sys.executable, "-c", RUN_CLI, *map(str, args)], env=env, capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path))
    line = next((x for x in r.stdout.splitlines() if x.startswith("MODULES ")), None)
    return r, (json.loads(line[len("MODULES "):]) if line else None)


@pytest.mark.parametrize("options", [
    [],  # float32 GeoTIFF with overviews
    ["--dtype", "int16", "--format", "COG"],
    ["--dtype", "int16", "--no-overviews", "--gap-fill"],
], ids=["float32-gtiff", "int16-cog", "int16-gapfill"])
def test_predict_without_osgeo_writes_what_gdal_writes(model, tmp_path, options):
    args = ["predict", "--model", model, "--input", str(SAMPLE), "--target", "B10", "--target", "B05", "--quiet",
            "--threads", "1", *options]
    assert main([*args, "--out", str(tmp_path / "gdal_{target}.tif")]) == 0
    r, modules = run_hidden(tmp_path, ["osgeo"], [*args, "--out", tmp_path / "rio_{target}.tif"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert modules == {"osgeo": False, "rasterio": True}
    for target in ("B10", "B05"):
        assert_same_raster(tmp_path / f"gdal_{target}.tif", tmp_path / f"rio_{target}.tif")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers


def test_batch_without_osgeo_writes_what_gdal_writes(model, tmp_path):
    args = ["batch", "--model", model, "--input", str(SAMPLE), "--target", "red_edge_1", "--scheduler", "none",
            "--threads-per-worker", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "gdal")]) == 0
    r, modules = run_hidden(tmp_path, ["osgeo", "dask", "distributed"], [*args, "--out", tmp_path / "rio"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert modules == {"osgeo": False, "rasterio": True}
    name = "Spain_7370579_S2L1C_crop.B05.synth.tif"
    assert_same_raster(tmp_path / "gdal" / name, tmp_path / "rio" / name)
    records = [json.loads(x) for x in (tmp_path / "rio" / "batch_manifest.jsonl").read_text().splitlines()]
    assert [(x["scene"], x["status"]) for x in records] == [("Spain_7370579_S2L1C_crop", "done")]


def test_without_any_raster_library_the_message_says_what_to_install(model, tmp_path):
    out = tmp_path / "x.tif"
    r, _ = run_hidden(tmp_path, ["osgeo", "rasterio"], ["predict", "--model", model, "--input", SAMPLE,
                                                         "--target", "B10", "--out", out])
    assert r.returncode == 2, r.stdout + r.stderr
    assert "pip install rasterio" in r.stderr and "osgeo" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
