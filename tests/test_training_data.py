"""Training data on the real scenes: chips, statistics, sampler determinism/sharding/resume, task mix, and
clear errors (missing folder, a scene without valid chips) before training starts."""

import math
import types

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import BAND_CLASSES, resolve_band  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402
from hls_translate.core.writer import OutputBand, write_raster  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.config import AtmosphereAugment  # noqa: E402
from hls_translate.training.data import (ChipSampler, DataError, atmosphere_offsets, band_statistics,  # noqa: E402
                                         find_chips, prepare_data)

from hls_translate.training.collate import collate_conditional  # noqa: E402

from support.data import DATA  # noqa: E402
from support.training import tiny_config, write_config  # noqa: E402


def _batch(sampler, step):
    """The conditional collation of a sampler's chips of ``step``, as attributes."""
    return types.SimpleNamespace(**collate_conditional(sampler.chips(step)))


def _next(sampler):
    """The conditional collation of the sampler's next chips, as attributes."""
    return types.SimpleNamespace(**collate_conditional(next(sampler)))


def _cfg(tmp_path, **sections):
    return load_train_config(str(write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", **sections))))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("data")
    cfg = _cfg(tmp)
    return cfg, prepare_data(cfg)


def test_scenes_stats_and_held_out(tiny_data):
    cfg, data = tiny_data
    assert [s.name for s in data.train] == ["ben_a", "ben_b"]
    assert [s.name for s in data.validation] == ["Spain"]
    a = data.train[0]
    # BigEarthNet: 12 bands (no B10), all on the 120 px grid of the 10 m bands
    assert a.values.shape == (12, 120, 120) and resolve_band("B10", "S2").id not in a.band_ids
    # statistics: weighted per scene (equal weights here), from the raw scene values
    red = resolve_band("B04", "S2").id
    raw = [open_scene(str(DATA / p.path), resampling="bilinear").read("B04")[0].astype(np.float64)
           for p in cfg.data.train]
    mean = np.mean([r.mean() for r in raw])
    var = np.mean([np.mean(r * r) for r in raw]) - mean ** 2
    assert data.stats.mean[red] == pytest.approx(mean, rel=1e-6)
    assert data.stats.std[red] == pytest.approx(math.sqrt(var), rel=1e-5)
    assert math.isnan(data.stats.mean[resolve_band("B10", "S2").id])  # never seen
    summary = data.summary(cfg)
    assert [s["name"] for s in summary["held_out_scenes"]] == ["Spain"]
    assert summary["held_out_scenes"][0]["level"] == "TOA" and summary["reflectance_levels"] == ["surface"]


def test_find_chips_matches_brute_force(tiny_data):
    _, data = tiny_data
    s = data.train[0]
    s = type(s)(**{**s.__dict__})
    rng = np.random.default_rng(0)
    valid = s.valid.copy()
    valid[3, rng.random(valid.shape[1:]) < 0.3] = False  # knock out pixels of one band
    s.valid = valid
    chip, frac = 16, 0.75
    rows, cols = find_chips(s, chip, frac)
    ok = valid.all(axis=0)
    h, w = ok.shape
    expect = {(r, c) for r in range(h - chip + 1) for c in range(w - chip + 1)
              if ok[r:r + chip, c:c + chip].mean() >= frac}
    assert set(zip(rows.tolist(), cols.tolist())) == expect and 0 < len(expect) < (h - chip + 1) ** 2


@pytest.mark.data
def test_scl_masks_clouds_in_t29rkh(tmp_path):
    cfg = _cfg(tmp_path, data={"train": [{"path": "s2_l2a_12band_T29RKH_decimated", "name": "T29RKH"}],
                               "validation": []})
    data = prepare_data(cfg)
    s = data.train[0]
    scene = open_scene(str(DATA / "s2_l2a_12band_T29RKH_decimated"), resampling="bilinear")
    assert scene.qa is not None and scene.qa.kind == "SCL"
    flagged = scene.qa_invalid()
    assert flagged.any()
    assert not s.all_valid[flagged].any()  # every SCL-flagged pixel is invalid in training
    assert s.level == "surface"


def test_sampler_is_deterministic_sharded_and_resumable(tiny_data):
    cfg, data = tiny_data
    mk = lambda rank, world: ChipSampler(data.train, data.plan, 32, 4, seed=5, rank=rank, world_size=world)  # noqa: E731
    a, b = mk(0, 1), mk(0, 1)
    for _ in range(3):
        x, y = _next(a), _next(b)
        assert np.array_equal(x.bands, y.bands) and np.array_equal(x.target, y.target)
    # exact resume from the state dict
    c = mk(0, 1)
    c.load_state_dict(a.state_dict())
    assert np.array_equal(_next(c).bands, _next(a).bands)
    # two ranks draw disjoint sample numbers: the global stream, interleaved by batch
    r0, r1, single = mk(0, 2), mk(1, 2), ChipSampler(data.train, data.plan, 32, 8, seed=5)
    s0, s1, s = _batch(r0, 0), _batch(r1, 0), _batch(single, 0)
    assert np.array_equal(np.concatenate([s0.bands, s1.bands]), s.bands)
    assert not np.array_equal(s0.bands, s1.bands)


def test_batches_hold_physical_values_and_masks(tiny_data):
    _, data = tiny_data
    sam = ChipSampler(data.train, data.plan, 32, 8, seed=1, augment=False)
    b = _batch(sam, 0)
    for i in range(8):
        smp = sam.sample(i)
        si, r, c, aug, task, atm = smp.scene, smp.row, smp.col, smp.augmentation, smp.task, smp.atmosphere
        s = data.train[si]
        assert aug == 0 and atm is None and b.target[i] == task.target
        assert set(np.nonzero(b.presence[i])[0]) == set(task.sources) and task.target not in task.sources
        np.testing.assert_array_equal(b.real[i, 0], s.values[s.channel(task.target), r:r + 32, c:c + 32])
        for cid in task.sources:
            np.testing.assert_array_equal(b.bands[i, cid], s.values[s.channel(cid), r:r + 32, c:c + 32])
        absent = [k for k in range(15) if k not in task.sources]
        assert not b.bands[i, absent].any()
    assert b.real.min() > -0.1 and b.real.max() < 2.0  # reflectance, not DN


def test_atmosphere_offsets_follow_the_path_reflectance_shapes():
    blue, red, swir2 = (resolve_band(b, "S2").id for b in ("B02", "B04", "B12"))
    cirrus, thermal = resolve_band("B10", "S2").id, resolve_band("L30:B10").id
    lam = {c: BAND_CLASSES[c].wavelength_nm for c in (blue, red, swir2)}
    assert 480 < lam[blue] < 500 and 2150 < lam[swir2] < 2250
    ray = atmosphere_offsets(0.02, 0.0, 1.0)
    # molecular scattering: (lambda / 550 nm) ** -4, so blue (~490 nm) gets about 1.6 times 0.02
    assert ray[blue] == pytest.approx(0.02 * (lam[blue] / 550) ** -4, rel=1e-9)
    assert ray[blue] / ray[red] == pytest.approx((lam[red] / lam[blue]) ** 4, rel=1e-9)
    aer = atmosphere_offsets(0.0, -0.01, 1.5)
    assert aer[swir2] == pytest.approx(-0.01 * (lam[swir2] / 550) ** -1.5, rel=1e-9)
    both = atmosphere_offsets(0.02, -0.01, 1.5)
    np.testing.assert_allclose(both, ray + aer)
    # cirrus (an absorption band that sees no surface) and thermal bands are left alone
    assert both[cirrus] == 0 and both[thermal] == 0


def test_atmosphere_applies_one_affine_map_to_sources_and_target(tiny_data):
    _, data = tiny_data
    atm = AtmosphereAugment(p=0.5, rayleigh=(-0.03, 0.03), aerosol=(0.01, 0.02), angstrom=(1.0, 1.0), gain=(0.9, 1.1))
    plain = ChipSampler(data.train, data.plan, 32, 16, seed=3, augment=False)
    wet = ChipSampler(data.train, data.plan, 32, 16, seed=3, augment=False, atmosphere=atm)
    a, b = _batch(plain, 0), _batch(wet, 0)
    # same chips and tasks: the atmosphere is drawn after everything else
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.presence, b.presence)
    np.testing.assert_array_equal(a.mask, b.mask)
    touched = 0
    for i in range(16):
        atm_i = wet.sample(i).atmosphere
        if atm_i is None:
            np.testing.assert_array_equal(a.bands[i], b.bands[i])
            np.testing.assert_array_equal(a.real[i], b.real[i])
            continue
        touched += 1
        gain, off = atm_i
        assert 0.9 <= gain <= 1.1
        t = int(a.target[i])
        np.testing.assert_allclose(b.real[i, 0], gain * a.real[i, 0] + off[t], atol=1e-6)
        for cid in np.nonzero(a.presence[i])[0]:
            np.testing.assert_allclose(b.bands[i, cid], gain * a.bands[i, cid] + off[cid], atol=1e-6)
    assert 3 <= touched <= 13  # p = 0.5 of 16 chips
    # p = 0 (the default) is exactly the plain stream
    off0 = ChipSampler(data.train, data.plan, 32, 16, seed=3, augment=False, atmosphere=AtmosphereAugment())
    np.testing.assert_array_equal(_batch(off0, 0).bands, a.bands)


def test_task_distribution(tiny_data):
    _, data = tiny_data
    sam = ChipSampler(data.train, data.plan, 32, 1, seed=0)
    n_all, n, targets, sizes = 0, 3000, set(), []
    for g in range(n):
        smp = sam.sample(g)
        si, task = smp.scene, smp.task
        others = [c for c in data.train[si].band_ids if c != task.target]
        n_all += len(task.sources) == len(others)
        sizes.append(len(task.sources))
        targets.add(task.target)
    assert abs(n_all / n - 0.5) < 0.04  # p_all_sources
    assert targets == set(data.plan.targets) and len(targets) == 12
    assert min(sizes) == 1


@pytest.mark.data
def test_pairs_mode(tmp_path):
    cfg = _cfg(tmp_path, data={"pairs": [{"sources": ["B8A"], "target": "B05"}]})
    data = prepare_data(cfg)
    sam = ChipSampler(data.train, data.plan, 32, 4, seed=0)
    b = _batch(sam, 0)
    assert (b.target == resolve_band("B05", "S2").id).all()
    assert (b.presence.sum(axis=1) == 1).all() and (b.presence[:, resolve_band("B8A", "S2").id] == 1).all()
    cfg = _cfg(tmp_path, data={"pairs": [{"sources": ["B10"], "target": "B05"}]})
    with pytest.raises(DataError, match=r"data.pairs\[0\].*B10"):
        prepare_data(cfg)


@pytest.mark.data
def test_missing_data_folder_fails_before_training(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "run")
    cfg["data"]["train"].append({"path": "no_such_folder/scene"})
    p = write_config(tmp_path / "c.yaml", cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "data.train[2].path" in err and "no_such_folder" in err and "does not exist" in err
    assert not (tmp_path / "run").exists()
    cfg = tiny_config(tmp_path / "run", data={"root": str(tmp_path / "nowhere")})
    p = write_config(tmp_path / "c.yaml", cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    assert "data.root" in capsys.readouterr().err


@pytest.mark.data
def test_scene_without_valid_chips_fails_before_training(tmp_path, capsys):
    # a real scene (a crop of T19UDP) whose pixels are nodata except for a thin stripe
    src = open_scene(str(DATA / "s2_l1c_13band_T19UDP_160m" / "T19UDP_20170729_L1C_13band_160m_stack.tif"))
    from hls_translate.core.grid import Window
    w = Window(300, 300, 96, 96)
    values, valid = src.read_stack(src.bands, w)
    valid[:, :, 8:] = False
    bands = [OutputBand(b.key, band=b, code=src.sources[b.id].code) for b in src.bands]
    grid = type(src.grid)(src.grid.crs_wkt, src.grid.window_transform(w), 96, 96)
    path = tmp_path / "mostly_nodata.tif"
    write_raster(str(path), grid, values, bands, valid=valid, dtype="float32")
    cfg = tiny_config(tmp_path / "run")
    cfg["data"]["train"].append({"path": str(path), "name": "mostly_nodata"})
    p = write_config(tmp_path / "c.yaml", cfg)
    assert cli.main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "data.train[2]" in err and "mostly_nodata" in err and "no usable chips" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.data
def test_check_mode_prints_plan(tmp_path, capsys):
    p = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    assert cli.main(["train", "--config", str(p), "--check"]) == 0
    out = capsys.readouterr().out
    assert '"held_out_scenes": [\n  "Spain"' in out and '"mode": "all_pairs"' in out
    assert not (tmp_path / "run").exists()


def test_band_statistics_weighting(tiny_data):
    _, data = tiny_data
    a, b = data.train
    wa, wb = a.weight, b.weight
    try:
        a.weight, b.weight = 3.0, 1.0
        st = band_statistics([a, b])
        red = resolve_band("B04", "S2").id
        ma = a.values[a.channel(red)][a.valid[a.channel(red)]].mean()
        mb = b.values[b.channel(red)][b.valid[b.channel(red)]].mean()
        assert st.mean[red] == pytest.approx((3 * ma + mb) / 4, rel=1e-6)
    finally:
        a.weight, b.weight = wa, wb


@pytest.mark.data
def test_hls_granule_folder_with_fmask(tmp_path):
    """A folder holding one HLS v2.0 S30 granule (int16 per-band COGs, -9999 fill, Fmask), made from a
    real L2A crop: bands are named by the HLS file names, Fmask clouds and fill are masked."""
    from hls_translate.core.grid import Window

    src = open_scene(str(DATA / "s2_l2a_12band_T29RKH_decimated"), resampling="bilinear", use_qa=False)
    w = Window(400, 400, 96, 96)
    grid = type(src.grid)(src.grid.crs_wkt, src.grid.window_transform(w), 96, 96)
    gran = tmp_path / "granule"
    gran.mkdir()
    stem = "HLS.S30.T29RKH.2020050T112119.v2.0"
    codes = {"B02": "blue", "B03": "green", "B04": "red", "B8A": "nir_narrow", "B11": "swir_1", "B12": "swir_2"}
    for code, key in codes.items():
        v, ok = src.read(key, w)
        ok[:4, :] = False  # a fill stripe along the top
        band = resolve_band(key)
        write_raster(str(gran / f"{stem}.{code}.tif"), grid, v[None], [OutputBand(code, band=band, code=code)],
                     valid=ok[None], dtype="int16", driver="COG")
    fmask = np.zeros((1, 96, 96), np.float32)
    fmask[0, 40:70, 40:70] = 2  # bit 1: cloud
    write_raster(str(gran / f"{stem}.Fmask.tif"), grid, fmask, [OutputBand("Fmask")], dtype="uint8")
    cfg = _cfg(tmp_path, data={"train": [{"path": str(gran), "name": "hls"}], "validation": [],
                               "min_valid_fraction": 1.0})
    data = prepare_data(cfg)
    (s,) = data.train
    assert s.sensor == "S30" and s.level == "surface" and len(s.band_ids) == 6
    assert not s.valid[:, :4].any() and not s.valid[:, 40:70, 40:70].any()
    assert s.valid[:, 4:40].all()
    red = s.channel(resolve_band("red").id)
    v, _ = src.read("red", w)
    np.testing.assert_allclose(s.values[red, 10:30, 10:30], np.round(v[10:30, 10:30] * 1e4) * 1e-4, atol=1e-6)
    # with min_valid_fraction 1, no chip touches the fill stripe or the cloud
    for r, c in zip(s.chip_rows, s.chip_cols):
        assert r >= 4 and not (r < 70 and r + 32 > 40 and c < 70 and c + 32 > 40)
    assert len(s.chip_rows) > 0


@pytest.mark.data
def test_extreme_and_stuck_values_do_not_poison_the_statistics(tmp_path):
    """One 3e38 (outside the physical range: masked, counted, logged) and a block of stuck 2.4 values
    (inside the range: clipped by the robust statistics) leave the band's mean and std where the clean
    scene has them."""
    src = open_scene(str(DATA / "s2_l1c_13band_T19UDP_160m" / "T19UDP_20170729_L1C_13band_160m_stack.tif"))
    from hls_translate.core.grid import Window
    w = Window(200, 200, 160, 160)
    values, valid = src.read_stack(src.bands, w)
    bands = [OutputBand(b.key, band=b, code=src.sources[b.id].code) for b in src.bands]
    grid = type(src.grid)(src.grid.crs_wkt, src.grid.window_transform(w), 160, 160)
    clean, dirty = tmp_path / "clean.tif", tmp_path / "dirty.tif"
    write_raster(str(clean), grid, values, bands, valid=valid, dtype="float32")
    red = [b.id for b in src.bands].index(resolve_band("B04", "S2").id)
    values[red, 100:104, 100:104] = 2.4  # stuck pixels, physically possible
    write_raster(str(dirty), grid, values, bands, valid=valid, dtype="float32")
    from osgeo import gdal

    ds = gdal.Open(str(dirty), gdal.GA_Update)
    a = ds.GetRasterBand(red + 1).ReadAsArray()
    a[10, 10] = 3e38  # written past the writer, as another tool would
    ds.GetRasterBand(red + 1).WriteArray(a)
    ds = None
    stats = {}
    lines = []
    for name, path in (("clean", clean), ("dirty", dirty)):
        cfg = _cfg(tmp_path, data={"train": [{"path": str(path), "name": name}], "validation": []})
        data = prepare_data(cfg, log=lines.append)
        stats[name] = data.stats
        if name == "dirty":
            assert data.train[0].out_of_range == {"red": 1}
            assert not data.train[0].valid[red, 10, 10]
    rid = resolve_band("B04", "S2").id
    assert stats["dirty"].std[rid] == pytest.approx(stats["clean"].std[rid], rel=0.05)
    assert stats["dirty"].mean[rid] == pytest.approx(stats["clean"].mean[rid], rel=0.01)
    assert any("outside their band's physical range" in x and "red 1 px" in x for x in lines), lines
