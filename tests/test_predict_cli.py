"""`hls-translate predict`: inputs of every kind (HLS granule folder, per-band files, multi-band file),
outputs, options, and clear errors before any compute."""

import os
import subprocess
import sys

import numpy as np
import pytest

from support.onnx_models import copy_model, fixed_model
from hls_translate.cli import main
from hls_translate.core.bands import normalize_code
from hls_translate.commands.predict import parse_band_map
from hls_translate.core.errors import ConfigError
from hls_translate.core.output_naming import output_paths
from hls_translate.core.progress import ProgressBar
from hls_translate.core.scene import open_scene

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "resources", "sample", "spain_l1c_crop")
RED, NIR, CIRRUS, WV, BLUE, GREEN, RE1 = 3, 8, 10, 9, 1, 2, 4
GRANULE = "HLS.S30.T30SXH.2021150T105031.v2.0"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {"copy": copy_model(d / "copy.onnx", {CIRRUS: RED, WV: NIR}, tile=64, overlap=16, stride=8),
            "fixed": fixed_model(d / "fixed.onnx", [BLUE, GREEN, RED], [RE1], np.array([[0.2, 0.3, 0.5]]))}


@pytest.fixture(scope="module")
def hls_granule(tmp_path_factory, spain_tif):
    """An HLS S30 granule folder (int16, fill -9999, one file per band, Fmask) made from the real Spain
    scene: the layout the command must accept."""
    from osgeo import gdal

    folder = tmp_path_factory.mktemp("granule") / GRANULE
    folder.mkdir()
    src = gdal.Open(str(spain_tif))
    h, w = 200, 230
    for i in range(src.RasterCount):
        code = src.GetRasterBand(i + 1).GetDescription()
        code = normalize_code(code)
        dn = src.GetRasterBand(i + 1).ReadAsArray(0, 0, w, h).astype(np.int16)
        dn[:20, :30] = -9999  # a fill corner in every band
        ds = gdal.GetDriverByName("GTiff").Create(str(folder / f"{GRANULE}.{code}.tif"), w, h, 1, gdal.GDT_Int16)
        ds.SetGeoTransform(src.GetGeoTransform())
        ds.SetProjection(src.GetProjection())
        ds.GetRasterBand(1).SetNoDataValue(-9999)
        ds.GetRasterBand(1).WriteArray(dn)
        ds = None
    fmask = np.zeros((h, w), np.uint8)
    fmask[100:140, 50:120] = 1 << 1  # cloud
    ds = gdal.GetDriverByName("GTiff").Create(str(folder / f"{GRANULE}.Fmask.tif"), w, h, 1, gdal.GDT_Byte)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).WriteArray(fmask)
    ds = None
    return folder


def _read(path, band=1):
    from osgeo import gdal

    ds = gdal.Open(str(path))
    b = ds.GetRasterBand(band)
    return dict(data=b.ReadAsArray(), desc=b.GetDescription(), nodata=b.GetNoDataValue(), count=ds.RasterCount,
                transform=ds.GetGeoTransform(), scale=b.GetScale(), dtype=gdal.GetDataTypeName(b.DataType),
                layout=ds.GetMetadata("IMAGE_STRUCTURE").get("LAYOUT"), meta=ds.GetMetadata())


def test_hls_granule_folder_with_fmask(models, hls_granule, tmp_path, capsys):
    out = tmp_path / "cirrus.tif"
    rc = main(["predict", "--model", models["copy"], "--input", str(hls_granule), "--target", "B10",
               "--out", str(out), "--tile", "64", "--overlap", "16", "--batch", "3"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert f"wrote {out}" in cap.out and "tiles run" in cap.out
    assert "ETA" in cap.err and "100.0%" in cap.err  # the progress bar
    r = _read(out)
    red = _read(hls_granule / f"{GRANULE}.B04.tif")
    assert r["desc"] == "B10 cirrus (synthesized)" and r["transform"] == pytest.approx(red["transform"])
    valid = red["data"] != -9999
    np.testing.assert_array_equal(r["data"] == r["nodata"], ~valid)  # fill corner -> nodata
    np.testing.assert_allclose(r["data"][valid], red["data"][valid] * 1e-4, atol=1e-6)
    assert r["meta"]["HLS_TRANSLATE_SCENE"] == GRANULE and r["meta"]["HLS_TRANSLATE_SENSOR"] == "S30"
    # --mask-qa: Fmask cloud pixels become nodata too
    out2 = tmp_path / "cirrus_qa.tif"
    assert main(["predict", "--model", models["copy"], "--input", str(hls_granule), "--target", "B10",
                 "--out", str(out2), "--mask-qa", "--quiet"]) == 0
    r2 = _read(out2)
    assert (r2["data"][100:140, 50:120] == r2["nodata"]).all()
    assert ((r2["data"] == r2["nodata"]) == ((r["data"] == r["nodata"]) | _cloud(200, 230))).all()


def _cloud(h, w):
    m = np.zeros((h, w), bool)
    m[100:140, 50:120] = True
    return m


def test_per_band_files_multiple_targets_one_file_each(models, tmp_path, capsys):
    files = [os.path.join(SAMPLE, f) for f in sorted(os.listdir(SAMPLE)) if f.endswith(".tif")]
    rc = main(["predict", "--model", models["copy"], "--input", *files, "--target", "B10", "--target", "S2:B09",
               "--out", str(tmp_path / "out_{target}.tif"), "--dtype", "int16", "--format", "COG", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["out_B10.tif", "out_S2_B09.tif"]
    b10, b09 = _read(tmp_path / "out_B10.tif"), _read(tmp_path / "out_S2_B09.tif")
    red = _read(os.path.join(SAMPLE, "Spain_7370579_S2L1C_crop_B04.tif"))
    nir = _read(os.path.join(SAMPLE, "Spain_7370579_S2L1C_crop_B8A.tif"))
    assert b10["dtype"] == "Int16" and b10["scale"] == pytest.approx(1e-4) and b10["layout"] == "COG"
    np.testing.assert_array_equal(b10["data"], red["data"])  # DN in, DN out: the copy model is exact
    np.testing.assert_array_equal(b09["data"], nir["data"])
    assert b09["desc"] == "B09 water vapour (synthesized)"


def test_folder_of_band_files_multiband_output_and_gap_fill(models, tmp_path, spain_tif):
    out = tmp_path / "two.tif"
    assert main(["predict", "--model", models["copy"], "--input", SAMPLE, "--target", "B10", "--target", "B09",
                 "--out", str(out), "--quiet", "--blend", "crop", "--device", "cpu", "--threads", "1"]) == 0
    r1, r2 = _read(out, 1), _read(out, 2)
    assert r1["count"] == 2 and r1["desc"].startswith("B10") and r2["desc"].startswith("B09")
    # gap-fill on the multi-band scene: nothing to fill, so the real cirrus band comes back unchanged
    out3 = tmp_path / "gap.tif"
    assert main(["predict", "--model", models["copy"], "--input", str(spain_tif), "--target", "B10",
                 "--out", str(out3), "--gap-fill", "--quiet"]) == 0
    with open_scene(str(spain_tif)) as s:
        cirrus, _ = s.read("B10")
    r3 = _read(out3)
    assert r3["desc"] == "B10 cirrus (gap-filled)"
    np.testing.assert_array_equal(r3["data"], cirrus)


def test_band_map_names_the_bands_of_an_undescribed_file(models, tmp_path, spain_tif):
    from osgeo import gdal

    plain = tmp_path / "plain.tif"  # two bands, no descriptions: only --band-map can tell what they are
    src = gdal.Open(str(spain_tif))
    ds = gdal.GetDriverByName("GTiff").Create(str(plain), 100, 80, 2, gdal.GDT_Int16)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    for i, b in enumerate((4, 9)):  # red, B8A
        ds.GetRasterBand(i + 1).WriteArray(src.GetRasterBand(b).ReadAsArray(0, 0, 100, 80))
        ds.GetRasterBand(i + 1).SetNoDataValue(0)
    ds = None
    out = tmp_path / "o.tif"
    assert main(["predict", "--model", models["copy"], "--input", str(plain), "--target", "cirrus", "--out", str(out),
                 "--band-map", "1=B04", "2=B8A", "--sensor", "S2", "--quiet"]) == 0
    np.testing.assert_allclose(_read(out)["data"], src.GetRasterBand(4).ReadAsArray(0, 0, 100, 80) * 1e-4, atol=1e-6)
    assert main(["predict", "--model", models["copy"], "--input", str(plain), "--target", "cirrus",
                 "--out", str(tmp_path / "o2.tif"), "--quiet"]) == 2  # unidentified bands: an error


def _fails(capsys, argv, *needles):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert any(line.startswith("error: ") for line in err.splitlines()) and "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def test_bad_input_errors_name_the_problem(models, tmp_path, capsys, t29rkh_dir, spain_tif):
    out = tmp_path / "o.tif"
    base = ["predict", "--model", models["copy"], "--out", str(out), "--quiet"]
    # bands on different grids
    _fails(capsys, base + ["--input", str(t29rkh_dir), "--target", "B10"], "different grids", "B01.tif", "B02.tif")
    # a band the model needs but the input lacks
    files = [os.path.join(SAMPLE, f) for f in sorted(os.listdir(SAMPLE)) if f.endswith(".tif") and not f.endswith("_B03.tif")]
    _fails(capsys, ["predict", "--model", models["fixed"], "--out", str(out), "--input", *files, "--target", "B05"],
           "needs input band(s) B03 green")
    # a target the model cannot make, an unknown band
    _fails(capsys, base + ["--input", str(spain_tif), "--target", "B12"], "cannot synthesize B12 SWIR 2")
    _fails(capsys, base + ["--input", str(spain_tif), "--target", "B99"], "B99")
    # corrupt / non-ONNX model file
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07" + os.urandom(300))
    _fails(capsys, ["predict", "--model", str(bad), "--input", str(spain_tif), "--target", "B10", "--out", str(out)],
           "bad.onnx")
    _fails(capsys, ["predict", "--model", str(tmp_path / "none.onnx"), "--input", str(spain_tif), "--target", "B10",
                    "--out", str(out)], "not found")
    # unwritable output
    _fails(capsys, base[:3] + ["--out", str(tmp_path / "no" / "such" / "dir.tif"), "--input", str(spain_tif),
                               "--target", "B10"], "does not exist")
    # options
    _fails(capsys, base + ["--input", str(spain_tif), "--target", "B10", "--tile", "100"], "stride 8")
    _fails(capsys, base + ["--input", str(spain_tif), "--target", "B10", "--device", "cuda"], "cuda")
    _fails(capsys, base + ["--input", str(spain_tif), "--target", "B10", "--band-map", "B04"], "--band-map")
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_all_nodata_input_gives_all_nodata_output(models, tmp_path, spain_tif):
    from osgeo import gdal

    empty = tmp_path / "empty.tif"
    src = gdal.Open(str(spain_tif))
    ds = gdal.GetDriverByName("GTiff").Create(str(empty), 90, 70, 2, gdal.GDT_Int16)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    for i, code in enumerate(("B04", "B8A")):
        ds.GetRasterBand(i + 1).SetDescription(code)
        ds.GetRasterBand(i + 1).SetNoDataValue(0)
        ds.GetRasterBand(i + 1).Fill(0)
    ds = None
    out = tmp_path / "o.tif"
    assert main(["predict", "--model", models["copy"], "--input", str(empty), "--target", "B10", "--out", str(out),
                 "--quiet"]) == 0
    r = _read(out)
    assert (r["data"] == r["nodata"]).all()


def test_console_script_runs_without_torch(models, tmp_path, spain_tif):
    """The real entry point in a fresh process: torch is never imported by predict."""
    out = tmp_path / "o.tif"
    code = ("import sys, runpy; sys.argv = ['hls-translate'] + sys.argv[1:]\n"
            "from hls_translate.cli import main\nrc = main()\n"
            "assert 'torch' not in sys.modules, 'predict imported torch'\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "predict", "--model", models["copy"], "--input", str(spain_tif),
                        "--target", "B10", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.exists() and "ETA" in r.stderr and "MP/s" in r.stdout


def test_helpers():
    assert parse_band_map(["1=B04", "x_B05.tif=B05"]) == {1: "B04", "x_B05.tif": "B05"}
    assert parse_band_map(None) is None
    with pytest.raises(ConfigError, match="KEY=BAND"):
        parse_band_map(["B04"])
    assert output_paths("o.tif", ["B10", "B09"]) == "o.tif"
    assert output_paths("o_{target}.tif", ["S30:B10", "cirrus"]) == {"S30:B10": "o_S30_B10.tif", "cirrus": "o_cirrus.tif"}
    with pytest.raises(ConfigError, match="same file name"):
        output_paths("o_{target}.tif", ["S30:B10", "S30_B10"])

    class Stream:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    s = Stream()
    bar = ProgressBar("predict", stream=s)
    for f in (0.0, 0.05, 0.15, 0.5, 1.0):
        bar(f)
    lines = s.text.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("predict 100.0%") and "ETA" in lines[1]


@pytest.mark.data
def test_one_extreme_value_is_one_nodata_pixel_not_a_blank_tile(tmp_path, capsys, spain_tif):
    """A single 3e38 in a float band is outside the band's physical range: that pixel is nodata (and said
    so), the tile around it is synthesized as usual."""
    pytest.importorskip("torch")
    from osgeo import gdal

    from support.adain_fixture import small_adain_onnx

    model = small_adain_onnx(tmp_path / "m.onnx")
    src = tmp_path / "float.tif"
    gdal.Translate(str(src), str(spain_tif), outputType=gdal.GDT_Float32, srcWin=[0, 0, 128, 128],
                   scaleParams=[[0, 10000, 0, 1]] * 13, exponents=[1] * 13)
    ds = gdal.Open(str(src), gdal.GA_Update)
    for i in range(1, 14):
        ds.GetRasterBand(i).SetScale(1.0)
    red = ds.GetRasterBand(4)
    a = red.ReadAsArray()
    a[60, 70] = 3e38
    red.WriteArray(a)
    ds = None
    out = tmp_path / "b05.tif"
    assert main(["predict", "--model", model, "--input", str(src), "--target", "B05", "--sources", "B02", "B03",
                 "B04", "B08", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "outside the band's physical range" in err and "red 1 px" in err
    o = gdal.Open(str(out))
    y = o.GetRasterBand(1).ReadAsArray()
    nodata = o.GetRasterBand(1).GetNoDataValue()
    bad = y == nodata
    assert bad[60, 70] and bad.sum() == 1  # only that pixel
    assert np.isfinite(y[~bad]).all() and 0 < np.median(y[~bad]) < 1


def test_outputs_that_are_inputs_are_refused_before_work(tmp_path, models, hls_granule, capsys):
    """--out on the model, on the scene's Fmask, or on an input reached through a symlinked folder: refused,
    naming the input; the file is untouched."""
    link = tmp_path / "linked"
    link.symlink_to(hls_granule, target_is_directory=True)
    model_copy = tmp_path / "model.onnx"
    model_copy.write_bytes(open(models["fixed"], "rb").read())
    fmask = hls_granule / f"{GRANULE}.Fmask.tif"
    red = link / f"{GRANULE}.B04.tif"
    cases = [(str(model_copy), "the model"), (str(fmask), "Fmask layer"), (str(red), "the input band red")]
    for out, says in cases:
        before = open(out, "rb").read()
        assert main(["predict", "--model", str(model_copy), "--input", str(hls_granule), "--target", "B05",
                     "--out", out]) == 2, out
        err = capsys.readouterr().err
        assert says in err and "one of the input files" in err, err
        assert open(out, "rb").read() == before


def test_export_onto_its_own_checkpoint_is_refused(tmp_path, capsys):
    pytest.importorskip("torch")
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(b"not even read")
    alias = tmp_path / "alias.onnx"
    alias.symlink_to(ckpt)
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(alias)]) == 2
    assert "the checkpoint being exported" in capsys.readouterr().err
    assert ckpt.read_bytes() == b"not even read"
