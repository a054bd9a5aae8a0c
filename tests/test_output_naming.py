"""core/output_naming.py: output files per target (CLI --out, QGIS OUTPUT) and result names."""

import pytest

from hls_translate.core.bands import band_class
from hls_translate.core.errors import ConfigError
from hls_translate.core.output_naming import file_safe, output_paths, synthesized_name, translated_name


def test_placeholder_gives_one_file_per_target():
    assert output_paths("o_{target}.tif", ["S30:B10", "cirrus"]) == {"S30:B10": "o_S30_B10.tif",
                                                                     "cirrus": "o_cirrus.tif"}
    assert output_paths("o_{target}.tif", ["B10"], one_file_per_target=True) == {"B10": "o_B10.tif"}
    with pytest.raises(ConfigError, match="same file name"):
        output_paths("o_{target}.tif", ["S30:B10", "S30_B10"])


def test_without_placeholder_one_multiband_file_or_suffixed_files():
    assert output_paths("o.tif", ["B10", "B09"]) == "o.tif"
    assert output_paths("/d/o.tif", ["cirrus"], one_file_per_target=True) == {"cirrus": "/d/o.tif"}
    assert output_paths("/d/o.tif", ["cirrus", "red_edge_1"], one_file_per_target=True) == {
        "cirrus": "/d/o_cirrus.tif", "red_edge_1": "/d/o_red_edge_1.tif"}
    assert output_paths("/d/o", ["cirrus", "water_vapour"], one_file_per_target=True) == {
        "cirrus": "/d/o_cirrus.tif", "water_vapour": "/d/o_water_vapour.tif"}
    assert file_safe("::") == "band"


def test_result_names():
    cirrus, red = band_class("cirrus"), band_class("red")
    assert synthesized_name(cirrus, "S2") == "B10 cirrus (synthesized)"
    assert synthesized_name(cirrus) == "cirrus (synthesized)"
    assert translated_name("scene", "pix2pix", [cirrus], "S2") == "B10 cirrus (synthesized)"
    assert translated_name("scene", "pix2pix", [cirrus, red]) == "scene translated by pix2pix (cirrus, red)"
