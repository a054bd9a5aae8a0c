"""HLS file names, grouping granule files into scenes, Fmask / SCL decoding (core.naming, core.qa)."""

import datetime as dt
import os

import numpy as np
import pytest

from hls_translate.core import naming, qa
from hls_translate.core.errors import FilenameError, UnknownBandError


def test_parse_hls_name():
    n = naming.parse_hls_name("/data/HLS.S30.T10SEG.2020273T184741.v2.0.B8A.tif")
    assert (n.sensor, n.tile, n.version, n.code) == ("S30", "T10SEG", "2.0", "B8A")
    assert n.acquired == dt.datetime(2020, 9, 29, 18, 47, 41)  # day 273 of 2020 (leap year)
    assert n.scene_id == "HLS.S30.T10SEG.2020273T184741.v2.0"
    assert n.sensor_band.band_class.key == "nir_narrow"
    l = naming.parse_hls_name("HLS.L30.T33UUP.2021001T100000.v2.0.B05.tif")
    assert l.sensor_band.band_class.key == "nir_narrow"
    f = naming.parse_hls_name("HLS.L30.T33UUP.2021001T100000.v2.0.Fmask.tif")
    assert f.layer == "Fmask" and not f.is_spectral


@pytest.mark.parametrize("name", [
    "HLS.S30.T10SEG.2020273.v2.0.B8A.tif",  # no time
    "HLS.X30.T10SEG.2020273T184741.v2.0.B8A.tif",  # unknown product
    "S2A_MSIL2A_20170617T113321_B01.tif",  # not HLS
    "HLS.S30.T10SEG.2020400T184741.v2.0.B8A.tif",  # day 400
])
def test_bad_hls_names(name):
    with pytest.raises(FilenameError) as e:
        naming.parse_hls_name(name)
    assert os.path.basename(name) in str(e.value)


def test_band_a_product_lacks_is_named():
    with pytest.raises(FilenameError) as e:
        naming.parse_hls_name("HLS.L30.T10SEG.2020273T184741.v2.0.B8A.tif")
    assert "L30 has no band 'B8A'" in str(e.value)


def test_band_code_from_filename():
    assert naming.band_code_from_filename("S2A_MSIL2A_20170617T113321_36_85_B8A.tif") == "B8A"
    assert naming.band_code_from_filename("/x/B05.tif") == "B05"
    assert naming.band_code_from_filename("T29RKH_20200219T112151_B05_20m.jp2") == "B05"
    assert naming.band_code_from_filename("LC09_L2SP_042034_20220101_20220103_02_T1_SR_B5.TIF") == "B05"
    assert naming.band_code_from_filename("dem.tif") is None


def _touch(folder, names):
    for n in names:
        open(os.path.join(folder, n), "wb").close()


def test_group_hls_granules(tmp_path):
    a = "HLS.S30.T10SEG.2020273T184741.v2.0"
    b = "HLS.L30.T10SEG.2020275T183000.v2.0"
    _touch(tmp_path, [f"{a}.B04.tif", f"{a}.B8A.tif", f"{a}.Fmask.tif", f"{a}.SZA.tif",
                      f"{b}.B04.tif", f"{b}.B05.tif", f"{b}.Fmask.tif", "notes.txt"])
    groups = naming.group_scene_files(str(tmp_path))
    assert [g.scene_id for g in groups] == [b, a]
    g_l, g_s = groups
    assert (g_s.sensor, list(g_s.bands), list(g_s.qa)) == ("S30", ["B04", "B8A"], ["Fmask"])
    assert (g_l.sensor, list(g_l.bands)) == ("L30", ["B04", "B05"])
    assert g_s.tile == "T10SEG"


def test_group_real_per_band_patch(bigearthnet_patch):
    groups = naming.group_scene_files(str(bigearthnet_patch))
    assert len(groups) == 1
    g = groups[0]
    assert g.scene_id == bigearthnet_patch.name
    assert g.sensor == "S2"
    assert sorted(g.bands) == sorted("B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12".split())


def test_group_real_tile_folder_with_scl(t29rkh_dir):
    (g,) = naming.group_scene_files(str(t29rkh_dir))
    assert g.sensor == "S2" and "SCL" in g.qa and "B10" not in g.bands and len(g.bands) == 12


def test_decode_fmask_bits():
    # bit1 cloud, bit3 shadow, bit5 water, bits 6-7 aerosol
    v = np.array([0b00000010, 0b00001000, 0b00100000, 0b11000000, 255, 0b01010100], dtype=np.uint8)
    d = qa.decode_fmask(v)
    assert d["cloud"].tolist() == [True, False, False, False, False, False]
    assert d["cloud_shadow"].tolist() == [False, True, False, False, False, False]
    assert d["water"].tolist() == [False, False, True, False, False, False]
    assert d["snow_ice"].tolist() == [False, False, False, False, False, True]
    assert d["adjacent"].tolist() == [False, False, False, False, False, True]
    assert d["aerosol_level"].tolist() == [0, 0, 0, 3, 0, 1]
    assert d["fill"].tolist() == [False, False, False, False, True, False]
    bad = qa.fmask_invalid(v)
    assert bad.tolist() == [True, True, False, False, True, True]  # water and high aerosol are fine
    assert qa.fmask_invalid(v, exclude=("water",)).tolist() == [False, False, True, False, True, False]
    assert qa.fmask_invalid(v, exclude=(), exclude_aerosol_high=True).tolist() == [
        False, False, False, True, True, False]
    with pytest.raises(UnknownBandError):
        qa.fmask_invalid(v, exclude=("clouds",))


def test_scl_invalid():
    scl = np.array([0, 3, 4, 8, 9, 10, 6, 11])
    assert qa.scl_invalid(scl).tolist() == [True, True, False, True, True, True, False, False]
