"""Processing level per band: HLS keeps water vapour and cirrus at top of atmosphere beside surface
reflectance, Sentinel-2 L2A (Sen2Cor) gives a surface-level water vapour band; ``data.toa_only`` keeps a
band class to one quantity by leaving it out of the scenes where it is at surface level."""

import glob

import numpy as np
import pytest

from hls_translate.core import bands as _bands
from hls_translate.core.errors import ConfigError
from hls_translate.core.products import PRODUCTS_BY_KEY
from support.data import BIGEARTHNET, DATA, SPAIN
from support.training import tiny_config

HLS_S30 = DATA / "hls_v15_granules" / "HLS.S30.T29QND.2019182.v1.5.tif"
WV, NIR = _bands.band_class("water_vapour").id, _bands.band_class("nir_narrow").id


def test_hls_products_declare_their_top_of_atmosphere_bands():
    for key in ("hls_s30_v2", "hls_s30_v15"):
        p = PRODUCTS_BY_KEY[key]
        assert p.level == "surface" and p.band_level("water_vapour") == "TOA" and p.band_level("cirrus") == "TOA"
        assert p.band_level("red_edge_1") == "surface"
    for key in ("hls_l30_v2", "hls_l30_v15"):
        assert PRODUCTS_BY_KEY[key].band_level("cirrus") == "TOA"
        assert PRODUCTS_BY_KEY[key].band_level("swir_1") == "surface"
    assert PRODUCTS_BY_KEY["s2_l2a"].band_level("water_vapour") == "surface"
    assert PRODUCTS_BY_KEY["s2_l1c"].band_level("water_vapour") == "TOA"


def _ratio(scene, ok):
    v, valid = scene.read_stack([WV, NIR])
    m = valid.all(0) & ok
    return float(np.median(v[0][m] / np.maximum(v[1][m], 1e-3)))


@pytest.mark.data
def test_water_vapour_is_two_quantities_in_the_shared_data_and_the_scenes_say_which():
    """The reason for ``toa_only``, measured on the real files: the water-vapour band over the NIR band is
    about 1 in Sen2Cor L2A (absorption removed) and far below 1 at top of atmosphere (HLS S30, L1C)."""
    from hls_translate.core.scene import open_scene

    with open_scene(str(HLS_S30)) as s:
        assert s.band_level("B09") == "TOA" and s.band_level("B04") == "surface" and s.band_level("B10") == "TOA"
        hls = _ratio(s, True)
    with open_scene(str(SPAIN)) as s:
        assert s.band_level("B09") == "" or s.band_level("B09") == "TOA"
        l1c = _ratio(s, True)
    l2a = []
    for patch in sorted(glob.glob(str(BIGEARTHNET / "*")))[:3]:
        with open_scene(patch, resampling="bilinear") as s:
            assert s.band_level("B09") == "surface"
            l2a.append(_ratio(s, True))
    assert hls < 0.3 and l1c < 0.3 and min(l2a) > 0.9, (hls, l1c, l2a)


@pytest.mark.data
def test_toa_only_leaves_a_surface_level_band_out_of_training_scenes_but_not_an_hls_toa_band(tmp_path):
    from hls_translate.training.config import config_from_dict
    from hls_translate.training.data import load_scenes

    raw = tiny_config(tmp_path, data={"toa_only": ["water_vapour"],
                                      "validation": [{"path": HLS_S30.relative_to(DATA).as_posix(), "name": "T29QND",
                                                      "level": "surface"}]})
    cfg = config_from_dict(raw)
    logged = []
    train = load_scenes(cfg.data.train, cfg.data, "train", chip=8, log=logged.append)
    assert train and all(WV not in s.band_ids and s.left_out == (WV,) for s in train)
    assert all(s.summary()["left_out"] == ["B09"] for s in train)
    assert any("B09 at surface level left out: data.toa_only" in line for line in logged)
    assert all(s.values.shape[0] == len(s.band_ids) == 11 for s in train)
    (held,) = load_scenes(cfg.data.validation, cfg.data, "validation")
    assert WV in held.band_ids and held.left_out == ()  # HLS's B09 is TOA although the scene is surface
    plain = config_from_dict(tiny_config(tmp_path))
    assert all(WV in s.band_ids for s in load_scenes(plain.data.train, plain.data, "train", chip=8))


def test_an_unknown_toa_only_band_is_named(tmp_path):
    from hls_translate.training.config import config_from_dict

    with pytest.raises(ConfigError, match=r"data\.toa_only"):
        config_from_dict(tiny_config(tmp_path, data={"toa_only": ["water_vapor_typo"]}))
