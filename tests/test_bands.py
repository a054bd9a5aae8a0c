"""The band catalogue: classes, sensor names, cross-sensor equivalences, name resolution."""

import pytest

from hls_translate.core import bands
from hls_translate.core.errors import AmbiguousBandError, UnknownBandError
from hls_translate.core.naming import guess_sensor


def test_class_ids_are_dense_and_stable():
    # ids are baked into trained models: this order must never change
    keys = [b.key for b in bands.BAND_CLASSES]
    assert keys == ["coastal_aerosol", "blue", "green", "red", "red_edge_1", "red_edge_2", "red_edge_3",
                    "nir_broad", "nir_narrow", "water_vapour", "cirrus", "swir_1", "swir_2",
                    "thermal_1", "thermal_2"]
    assert [b.id for b in bands.BAND_CLASSES] == list(range(15))


def test_every_hls_band_is_catalogued():
    s30 = "B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12".split()
    l30 = "B01 B02 B03 B04 B05 B06 B07 B09 B10 B11".split()
    assert list(bands.SENSOR_BANDS["S30"]) == s30
    assert list(bands.SENSOR_BANDS["L30"]) == l30
    for sid in ("S30", "L30"):
        for sb in bands.SENSOR_BANDS[sid].values():
            assert sb.resolution_m == 30.0
            assert sb.band_class.fill == -9999


@pytest.mark.parametrize("l30, s30, key", [
    ("B05", "B8A", "nir_narrow"), ("B09", "B10", "cirrus"), ("B06", "B11", "swir_1"),
    ("B07", "B12", "swir_2"), ("B01", "B01", "coastal_aerosol"), ("B04", "B04", "red"),
])
def test_common_bands_match_across_sensors(l30, s30, key):
    assert bands.equivalent_band("L30", l30, "S30").code == s30
    assert bands.equivalent_band("S30", s30, "L30").code == l30
    assert bands.sensor_band("L30", l30).band_class.key == key


def test_bands_without_equivalent():
    assert bands.equivalent_band("S30", "B05", "L30") is None  # red edge: Landsat has none
    assert bands.equivalent_band("L30", "B10", "S30") is None  # thermal: Sentinel-2 has none
    common = [b.key for b in bands.common_bands("S30", "L30")]
    assert common == ["coastal_aerosol", "blue", "green", "red", "nir_narrow", "cirrus", "swir_1", "swir_2"]


def test_scales_units_and_resolutions():
    red = bands.resolve_band("red")
    assert (red.scale, red.units, red.quantity) == (1e-4, "1", "reflectance")
    tir = bands.resolve_band("L30:B10")
    assert (tir.key, tir.scale, tir.units) == ("thermal_1", 0.01, "degC")
    assert bands.sensor_band("S2", "B02").resolution_m == 10
    assert bands.sensor_band("S2", "B05").resolution_m == 20
    assert bands.sensor_band("S2", "B10").resolution_m == 60
    assert bands.sensor_band("LANDSAT", "B10").resolution_m == 100
    # centre wavelengths are physical: the red edge lies between red and NIR
    wl = [b.wavelength_nm for b in bands.BAND_CLASSES]
    assert wl == sorted(wl)


@pytest.mark.parametrize("name, sensor, key", [
    ("B1", "S2", "coastal_aerosol"), ("B01", None, "coastal_aerosol"), ("b8a", None, "nir_narrow"),
    ("B8A", "S30", "nir_narrow"), ("B05", "S30", "red_edge_1"), ("B05", "L30", "nir_narrow"),
    ("B5", "LANDSAT", "nir_narrow"), ("SR_B5", "LANDSAT", "nir_narrow"), ("ST_B10", "LANDSAT", "thermal_1"),
    ("band5", "S2", "red_edge_1"), ("S30:B10", None, "cirrus"), ("L30.B09", None, "cirrus"),
    ("NIR narrow", None, "nir_narrow"), ("swir-1", None, "swir_1"), ("B12", None, "swir_2"),
    ("B02", None, "blue"), ("B11", "S2", "swir_1"),
])
def test_resolve_band(name, sensor, key):
    assert bands.resolve_band(name, sensor).key == key


def test_ambiguous_band_name_is_refused_with_both_meanings():
    with pytest.raises(AmbiguousBandError) as e:
        bands.resolve_band("B05")
    msg = str(e.value)
    assert "red_edge_1" in msg and "nir_narrow" in msg and "S30:B05" in msg


def test_unknown_band_lists_known_names():
    with pytest.raises(UnknownBandError) as e:
        bands.resolve_band("B13")
    assert "nir_narrow" in str(e.value) and "S30:B8A" in str(e.value)
    with pytest.raises(UnknownBandError) as e:
        bands.sensor_band("L30", "B08")
    assert "panchromatic" in str(e.value)
    with pytest.raises(UnknownBandError):
        bands.sensor("MODIS")
    with pytest.raises(UnknownBandError):
        bands.band_class(15)


def test_guess_sensor():
    assert guess_sensor(["HLS.S30.T10SEG.2020273T184741.v2.0.B8A.tif"]) == "S30"
    assert guess_sensor(["HLS.L30.T10SEG.2020273T184741.v2.0.B05.tif"]) == "L30"
    assert guess_sensor(["S2A_MSIL2A_20170617T113321_36_85_B01.tif"]) == "S2"
    assert guess_sensor(["LC09_L2SP_042034_20220101_20220103_02_T1_SR_B5.TIF"]) == "LANDSAT"
    assert guess_sensor(["B01.tif", "B12.tif"]) == "S2"  # B12 exists on Sentinel-2 only
    assert guess_sensor(["B01.tif", "B05.tif"]) is None


def test_labels_and_catalogue_description():
    assert bands.sensor_band("S30", "B10").label == "B10 cirrus"
    assert bands.sensor_band_for_class("L30", "cirrus").label == "B09 cirrus"
    assert bands.sensor_band("S30", "B8A").label == "B8A NIR narrow"
    assert bands.sensor_band("S30", "B11").label == "B11 SWIR 1"
    assert bands.sensor_band("S30", "B05").label == "B05 red edge 1"
    cat = bands.describe_catalogue()
    assert len(cat) == 15 and cat[10]["codes"] == {"S30": "B10", "L30": "B09", "S2": "B10", "LANDSAT": "B09"}
