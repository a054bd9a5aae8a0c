"""Image folders as training data: pix2pix's side-by-side [A|B] images (PNG 8-bit, TIFF 16-bit) and CycleGAN's
trainA/ trainB/ folders (JPEG, PNG), made from the real Slovenia frames, read by the same sampler and
collation as scenes."""

import numpy as np
import pytest
from osgeo import gdal

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.data]

from hls_translate.core.bands import resolve_band  # noqa: E402
from hls_translate.core.errors import ConfigError, HLSTranslateError  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.data import ChipSampler, prepare_data  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support.data import SLOVENIA_FRAMES  # noqa: E402
from support.families import cyclegan_config, pix2pix_config  # noqa: E402

A_BANDS, B_BANDS = ["red", "green", "blue"], ["red_edge_1", "red_edge_2", "red_edge_3"]


def _frame(i, bands):
    """``[C, H, W]`` reflectance of real frame ``i`` (100 x 100)."""
    with open_scene(str(SLOVENIA_FRAMES[i])) as scene:
        values, _ = scene.read_stack([resolve_band(b).id for b in bands])
    return values[:, :100, :100]


def _write(path, dn, driver):
    mem = gdal.GetDriverByName("MEM").Create("", dn.shape[2], dn.shape[1], dn.shape[0],
                                             gdal.GDT_Byte if dn.dtype == np.uint8 else gdal.GDT_UInt16)
    for i, band in enumerate(dn):
        mem.GetRasterBand(i + 1).WriteArray(band)
    gdal.GetDriverByName(driver).CreateCopy(str(path), mem)
    return path


def _as_8bit(refl):
    return np.clip(np.round(refl / 0.4 * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """pix2pix folders (three 100 x 200 [A|B] PNGs; two 16-bit TIFFs of reflectance x 1e4) and CycleGAN
    trainA (JPEG) / trainB (PNG) folders, from the real frames."""
    root = tmp_path_factory.mktemp("images")
    for sub in ("png", "tif", "rgb", "trainA", "trainB"):
        (root / sub).mkdir()
    for i in (1, 2, 3):
        ab = np.concatenate([_frame(i, A_BANDS), _frame(i, B_BANDS)], axis=2)
        _write(root / "png" / f"pair{i}.png", _as_8bit(ab), "PNG")
        if i < 3:
            _write(root / "tif" / f"pair{i}.tif", np.round(ab * 1e4).astype(np.uint16), "GTiff")
        _write(root / "rgb" / f"rgb{i}.png", _as_8bit(np.concatenate([_frame(i, A_BANDS), _frame(i + 1, A_BANDS)], 2)),
               "PNG")
        _write(root / "trainA" / f"a{i}.jpg", _as_8bit(_frame(i, A_BANDS)), "JPEG")
        _write(root / "trainB" / f"b{i}.png", _as_8bit(_frame(i + 1, A_BANDS) * 1.3), "PNG")
    return root


def _pix2pix(tmp_path, folders, **sections):
    images = {"layout": "side_by_side", "bands": A_BANDS, "b_bands": B_BANDS}
    base = pix2pix_config(tmp_path / "run", data={
        "root": str(folders), "chip_size": 64,
        "train": [{"path": "png", "name": "png", "images": images},
                  {"path": "tif", "name": "tif", "images": {**images, "scale": 1e-4}}]},
        model={"params": {"width": 4, "downsamplings": 4, "tile_size": 64, "source_bands": A_BANDS,
                          "target_bands": B_BANDS}})
    for k, v in sections.items():
        base[k] = {**base[k], **v}
    return load_train_config(None, base=base)


def test_side_by_side_images_are_paired_scenes_in_physical_units(tmp_path, folders):
    cfg = _pix2pix(tmp_path, folders)
    model_src = tuple(resolve_band(b).id for b in A_BANDS)
    model_tgt = tuple(resolve_band(b).id for b in B_BANDS)
    data = prepare_data(cfg, model_src, model_tgt, kind="fixed_bands")
    assert [s.name for s in data.train] == ["png/pair1", "png/pair2", "png/pair3", "tif/pair1", "tif/pair2"]
    png, tif = data.train[0], data.train[3]
    assert png.values.shape == png.target_values.shape == (3, 100, 100) and png.grid.width == 100
    # 8-bit: DN / 255; 16-bit with scale 1e-4: the reflectance itself
    np.testing.assert_allclose(png.values, _as_8bit(_frame(1, A_BANDS)) / 255.0, atol=1e-6)
    np.testing.assert_allclose(tif.target_values, np.round(_frame(1, B_BANDS) * 1e4) * 1e-4, atol=1e-6)
    assert png.summary()["target_bands"] == ["B05", "B06", "B07"]
    # a chip's A and B halves come from the same place, flipped/rotated alike
    sampler = ChipSampler(data.train, data.plan, 64, 4, seed=3)
    for chip, g in zip(sampler.chips(0), range(4)):
        smp = sampler.sample(g)
        s = data.train[smp.scene]
        rows, cols = slice(smp.row, smp.row + 64), slice(smp.col, smp.col + 64)
        from hls_translate.training.data import _augment

        np.testing.assert_array_equal(chip.values, _augment(s.values[:, rows, cols], smp.augmentation))
        np.testing.assert_array_equal(chip.target_values, _augment(s.target_values[:, rows, cols], smp.augmentation))
    # the pix2pix collation reads the sources from A and the targets from B, even for the same classes
    from hls_translate.training.collate import collate_fixed

    batch = collate_fixed(sampler.chips(1), model_src, model_tgt)
    assert batch["bands"].shape == batch["real"].shape == (4, 3, 64, 64) and batch["mask"].all()
    assert not np.array_equal(batch["bands"], batch["real"])
    # RGB -> RGB ([A|B] with the same band classes): the targets are B's red, green, blue, not A's
    rgb = prepare_data(_pix2pix(tmp_path, folders, data={"train": [{"path": "rgb", "images": {
        "layout": "side_by_side", "bands": A_BANDS, "b_bands": A_BANDS}}]}), model_src, model_src, kind="fixed_bands")
    chips = ChipSampler(rgb.train, rgb.plan, 64, 2, seed=1).chips(0)
    same = collate_fixed(chips, model_src, model_src)
    np.testing.assert_array_equal(same["bands"][0], chips[0].values)
    np.testing.assert_array_equal(same["real"][0], chips[0].target_values)
    assert not np.array_equal(same["bands"], same["real"])


def test_pix2pix_trains_on_side_by_side_folders(tmp_path, folders):
    res = train(_pix2pix(tmp_path, folders, run={"steps": 3}), log=lambda m: None)
    assert res.step == 3 and np.isfinite(res.history[-1]["l1"])
    from hls_translate.training.checkpoint import load_checkpoint

    scenes = load_checkpoint(res.last_checkpoint)["training_summary"]["train_scenes"]
    assert len(scenes) == 5 and scenes[0]["bands"] == ["B04", "B03", "B02"] and scenes[0]["target_bands"][0] == "B05"
    assert res.model.normalization.fitted_stats().keys() == {resolve_band(b).id for b in A_BANDS + B_BANDS}


def test_cyclegan_trains_on_train_a_and_train_b_folders(tmp_path, folders):
    cfg = cyclegan_config(tmp_path / "run", run={"steps": 3}, data={
        "root": str(folders), "chip_size": 32,
        "train": [{"path": "trainA", "images": {"bands": A_BANDS}}],
        "domain_b": [{"path": "trainB", "images": {"bands": A_BANDS}}]},
        model={"params": {"width": 4, "blocks": 1, "tile_size": 32, "source_bands": A_BANDS, "target_bands": A_BANDS}})
    res = train(load_train_config(None, base=cfg), log=lambda m: None)
    assert res.step == 3 and np.isfinite(res.history[-1]["cycle"])


def test_image_folder_mistakes_are_named(tmp_path, folders):
    odd = tmp_path / "odd"
    odd.mkdir()
    _write(odd / "x.png", _as_8bit(_frame(1, A_BANDS))[:, :, :99], "PNG")
    with pytest.raises(HLSTranslateError, match=r"data.train\[0\]: .*x.png is 99 px wide; a side-by-side"):
        train(_pix2pix(tmp_path, folders, data={"root": str(tmp_path), "train": [
            {"path": "odd", "images": {"layout": "side_by_side", "bands": A_BANDS, "b_bands": B_BANDS}}]}),
              log=lambda m: None)
    with pytest.raises(HLSTranslateError, match=r"png/pair1.png has 3 channel\(s\); data.train\[0\].images names 4"):
        train(_pix2pix(tmp_path, folders, data={"train": [
            {"path": "png", "images": {"layout": "side_by_side", "bands": A_BANDS + ["nir_broad"],
                                       "b_bands": B_BANDS + ["nir_narrow"]}}]}), log=lambda m: None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HLSTranslateError, match=r"data.train\[0\].path: no image"):
        train(_pix2pix(tmp_path, folders, data={"root": str(tmp_path), "train": [
            {"path": "empty", "images": {"bands": A_BANDS}}]}), log=lambda m: None)
    with pytest.raises(ConfigError, match=r"data.validation\[0\].images: held-out scenes are satellite scenes"):
        _pix2pix(tmp_path, folders, data={"validation": [{"path": "tif", "images": {"bands": A_BANDS}}]})
    with pytest.raises(ConfigError, match=r"b_bands: side_by_side needs one band per channel"):
        _pix2pix(tmp_path, folders, data={"train": [{"path": "png", "images": {"layout": "side_by_side",
                                                                              "bands": A_BANDS}}]})
    # paired images train fixed-band models only
    from support.training import tiny_config

    cfg = tiny_config(tmp_path / "c", data={"root": str(folders), "validation": [], "train": [
        {"path": "png", "images": {"layout": "side_by_side", "bands": A_BANDS, "b_bands": B_BANDS}}]})
    with pytest.raises(HLSTranslateError, match=r"side-by-side \[A\|B\] images .* cannot train on them"):
        train(load_train_config(None, base=cfg), log=lambda m: None)
