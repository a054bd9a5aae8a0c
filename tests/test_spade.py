"""SPADE (label map -> bands) through the same trainer, export and `predict` as the other families, on the
real T29RKH scene classification: the paper's defaults, smoke training, exact resume, ONNX parity on real
labels, `predict --labels` equal to the torch model, the seeded style input, the file-only VGG loss, and
`batch --labels PATTERN` over a folder of real granules equal to `predict --labels` on each."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import band_class, resolve_band  # noqa: E402
from hls_translate.core.errors import ConfigError  # noqa: E402
from hls_translate.core.metadata import read_metadata  # noqa: E402
from hls_translate.core.models import create_model  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support.spade import (GRANULES, SCL_PRESENT, TARGETS, crop_t29rkh, spade_config, t29rkh_granules,  # noqa: E402
                           train_and_export)
from support.training import assert_same_checkpoints  # noqa: E402


def _cfg(out_dir, **sections):
    return load_train_config(None, base=spade_config(out_dir, **sections))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("spade")
    out = train_and_export(folder, steps=6)
    out["grid"], out["labels"] = crop_t29rkh(folder)
    return out


def _one_hot_of(labels_path, grid_path, classes):
    """``[1, K, H, W]`` one-hot of a real label raster read onto a grid by nearest neighbour (independently
    of the engine: each 200 m SCL pixel covers 2 x 2 pixels of the 100 m grid) and the class index map."""
    from osgeo import gdal

    raw = gdal.Open(str(labels_path)).ReadAsArray()
    raw = np.repeat(np.repeat(raw, 2, axis=0), 2, axis=1)
    h, w = gdal.Open(str(grid_path)).ReadAsArray().shape
    raw = raw[:h, :w]
    values = [c["value"] for c in classes]
    index = np.full(raw.shape, -1, np.int64)
    for i, v in enumerate(values):
        index[raw == v] = i
    return (index[None, None] == np.arange(len(values))[None, :, None, None]).astype(np.float32), index


# --- the paper's defaults ----------------------------------------------------------------------------------
def test_generator_and_objective_default_to_the_paper(tmp_path):
    g = create_model("spade_generator")
    assert g.kind == "label_map" and g.stride == 32 and g.input_names == ("labels",)
    assert [(b.conv_0.in_channels, b.conv_1.out_channels) for b in g.blocks] == [
        (1024, 1024), (1024, 1024), (1024, 1024), (1024, 512), (512, 256), (256, 128), (128, 64)]
    assert [b.learned_shortcut for b in g.blocks] == [False, False, False, True, True, True, True]
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.affine and m.track_running_stats for m in norms)  # parameter-free, running stats
    spade = g.blocks[0].norm_0
    assert spade.shared[0].out_channels == 128 and spade.gamma.kernel_size == (3, 3)
    from torch.nn.utils import parametrize

    assert all(parametrize.is_parametrized(b.conv_0, "weight") for b in g.blocks)  # spectral norm
    assert len(g.label_classes) == 11 and g.label_classes[3].name == "vegetation"  # Sentinel-2 SCL 1..11
    cfg = _cfg(tmp_path, objective={"name": "spade", "params": {}})
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.schedule) == (1e-4, (0.0, 0.9), "constant")
    from hls_translate.training.objectives import make_objective_params

    p = make_objective_params("spade", {})
    assert (p.feat, p.disc_layers, p.disc_scales, p.disc_width, p.disc_lr_ratio, p.kl, p.vgg, p.encoder) == (
        10.0, 4, 2, 64, 4.0, 0.05, 0.0, False)
    with pytest.raises(ConfigError, match="model spade_generator.*nfg"):
        create_model("spade_generator", nfg=3)


@pytest.mark.data
def test_smoke_training_brings_the_l1_to_the_real_bands_down_with_ttur(tmp_path):
    torch.set_num_threads(1)
    res = train(_cfg(tmp_path / "run", run={"steps": 60, "log_every": 10, "batch_size": 4}), log=lambda m: None)
    l1 = [h["l1"] for h in res.history if h["event"] == "train"]
    assert len(l1) == 6 and all(np.isfinite(l1))
    assert np.mean(l1[-2:]) < 0.85 * l1[0], l1
    st = load_checkpoint(res.last_checkpoint)
    assert set(st["modules"]) == {"model", "discriminator"}
    lrs = {k: [g["lr"] for g in o["param_groups"]] for k, o in st["optimizers"].items()}
    assert lrs == {"model": [1e-4], "discriminator": [4e-4]}  # TTUR
    assert st["model_config"]["label_classes"] == SCL_PRESENT  # taken from data.label_classes


@pytest.mark.data
def test_resume_is_exact(tmp_path):
    torch.set_num_threads(1)
    straight = train(_cfg(tmp_path / "a", run={"steps": 6}), log=lambda m: None)
    cfg = _cfg(tmp_path / "b", run={"steps": 6})
    half = train(cfg, stop_at=3, log=lambda m: None)
    resumed = train(cfg, resume=half.last_checkpoint, log=lambda m: None)
    assert_same_checkpoints(straight.last_checkpoint, resumed.last_checkpoint, 6)


def test_label_classes_must_agree_with_the_data(tmp_path):
    cfg = _cfg(tmp_path, model={"name": "spade_generator", "params": {"label_classes": [{"value": 5, "name": "x"}],
                                                                       "upsamplings": 3, "tile_size": 64}})
    with pytest.raises(ConfigError, match="model.params.label_classes.*data.label_classes"):
        train(cfg, log=lambda m: None)
    from support.data import SPAIN

    held_out = _cfg(tmp_path / "v", data={"validation": [{"path": str(SPAIN), "name": "Spain"}]})
    with pytest.raises(ConfigError, match="data.validation: .*label-map model"):
        train(held_out, log=lambda m: None)


# --- export, predict --------------------------------------------------------------------------------------
@pytest.mark.data
def test_onnx_parity_and_metadata_on_the_real_scl(exported):
    from hls_translate.core.runtime import OnnxModel

    model = model_from_checkpoint(load_checkpoint(exported["checkpoint"]))
    x, index = _one_hot_of(exported["labels"], exported["grid"], SCL_PRESENT)
    x = x[:, :, :128, :192]
    assert len(np.unique(index[:128, :192])) >= 3  # several real classes in the window
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    out = OnnxModel(exported["model"], device="cpu").run({"labels": x})
    assert out.shape == ref.shape == (1, len(TARGETS), 128, 192)
    assert np.abs(out - ref).max() <= 1e-4, float(np.abs(out - ref).max())
    assert 0.0 < float(np.abs(ref).mean()) < 1.0  # reflectance
    md = read_metadata(exported["model"])
    assert (md.kind, md.family, md.architecture, md.units) == ("label_map", "spade", "spade_generator", "physical")
    assert [(c.value, c.name) for c in md.label_classes] == [(c["value"], c["name"]) for c in SCL_PRESENT]
    assert md.input("labels").shape == ("N", len(SCL_PRESENT), "H", "W") and md.input("labels").dtype == "float32"
    assert list(md.output.bands) == [resolve_band(b).id for b in TARGETS] and md.source_bands == ()
    assert set(md.normalization) == set(md.output.bands) and md.config["param_free_norm"] == "batch"


@pytest.mark.data
def test_predict_with_labels_on_a_real_raster_equals_the_torch_model(exported, tmp_path, capsys):
    from osgeo import gdal

    model = model_from_checkpoint(load_checkpoint(exported["checkpoint"]))
    out = tmp_path / "out.tif"
    targets = [f"--target={band_class(c).key}" for c in model.accepted_targets()]
    assert cli.main(["predict", "--model", exported["model"], "--input", str(exported["grid"]), "--labels",
                     str(exported["labels"]), *targets, "--tile", "512", "--overlap", "0", "--out", str(out),
                     "--quiet"]) == 0
    ds = gdal.Open(str(out))
    got = ds.ReadAsArray()
    x, index = _one_hot_of(exported["labels"], exported["grid"], SCL_PRESENT)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()[0]
    known = index >= 0
    assert got.shape == ref.shape == (len(TARGETS), 512, 512) and known.mean() > 0.9
    assert np.abs(got[:, known] - ref[:, known]).max() <= 1e-4
    assert (got[:, ~known] == ds.GetRasterBand(1).GetNoDataValue()).all()  # a class the model does not know
    assert ds.GetGeoTransform() == gdal.Open(str(exported["grid"])).GetGeoTransform()
    capsys.readouterr()
    assert cli.main(["predict", "--model", exported["model"], "--input", str(exported["grid"]), *targets,
                     "--out", str(tmp_path / "x.tif"), "--quiet"]) != 0
    assert "is a label-map model" in capsys.readouterr().err


@pytest.mark.data
def test_predict_refuses_labels_holding_none_of_the_models_classes_before_writing(exported, tmp_path, capsys):
    """A label layer of another legend (here the real SCL with every value moved to 200 + value: classes the
    model was not trained on) would give an all-nodata output: predict refuses it before any tile, naming the
    file and the model's classes, and writes nothing."""
    from osgeo import gdal

    other = tmp_path / "other_legend.tif"
    ds = gdal.Translate(str(other), str(exported["labels"]))
    ds.GetRasterBand(1).WriteArray(ds.GetRasterBand(1).ReadAsArray().astype(np.int32) + 200)
    ds = None
    out = tmp_path / "out" / "red.tif"
    out.parent.mkdir()
    assert cli.main(["predict", "--model", exported["model"], "--input", str(exported["grid"]), "--labels",
                     str(other), "--target", TARGETS[0], "--out", str(out), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert f"label raster {other} holds none of the model's classes (2=dark_area, 5=not_vegetated" in err, err
    assert "its values there: 20" in err  # the values it found are named
    assert list(out.parent.iterdir()) == []


def test_style_input_is_seeded_at_inference(tmp_path):
    """A multimodal generator (style_dim > 0) exports with a noise input; the engine feeds one seeded
    style: the same seed gives the same pixels, another seed others."""
    from hls_translate.core.engine import PredictOptions, predict_array
    from hls_translate.training.export import export_model

    torch.manual_seed(0)
    m = create_model("spade_generator", label_classes=SCL_PRESENT, target_bands=["red"], ngf=4, upsamplings=2,
                     spade_hidden=8, style_dim=8, tile_size=32)
    m.set_normalization({"red": (0.2, 0.05)})
    with torch.no_grad():
        m.start.weight.mul_(20.0)  # make the style matter visibly in an untrained net
    path = str(tmp_path / "styled.onnx")
    md = export_model(m, path)
    assert [t.role for t in md.inputs] == ["labels", "noise"] and md.input("noise").shape == ("N", 8)
    raw = np.repeat(np.repeat(np.array([[2, 5, 5, 9], [7, 8, 10, 5]], np.uint8), 16, 0), 16, 1)
    runs = {s: predict_array(path, None, None, (), ["red"], PredictOptions(seed=s), labels=raw)[0] for s in (1, 2)}
    again = predict_array(path, None, None, (), ["red"], PredictOptions(seed=1), labels=raw)[0]
    assert np.array_equal(runs[1], again) and not np.allclose(runs[1], runs[2])


def test_vgg_loss_reads_only_the_named_file(tmp_path):
    from hls_translate.training.config import OptimConfig
    from hls_translate.training.distributed import Dist
    from hls_translate.training.objectives import TrainContext, create_objective
    from hls_translate.training.objectives.spade import VGG19Features

    ctx = TrainContext(dist=Dist(0, 1, 0, torch.device("cpu"), ""), optim=OptimConfig(lr=1e-4, betas=(0.0, 0.9)),
                       steps=2, amp="off")
    m = create_model("spade_generator", label_classes=SCL_PRESENT, target_bands=TARGETS, ngf=4, upsamplings=2,
                     spade_hidden=8, tile_size=32)
    m.set_normalization({b: (0.2, 0.05) for b in TARGETS})
    missing = tmp_path / "nowhere" / "vgg19.pt"
    with pytest.raises(ConfigError, match=f"objective.params.vgg_weights: VGG19 weights file {missing} does not exist"):
        create_objective("spade", m, {"vgg": 10.0, "vgg_weights": str(missing)}, ctx)
    with pytest.raises(ConfigError, match="needs the VGG19 weights"):
        create_objective("spade", m, {"vgg": 10.0}, ctx)
    torch.manual_seed(0)
    weights = tmp_path / "vgg19.pt"
    torch.save({f"features.{k}": v for k, v in VGG19Features().features.state_dict().items()}, weights)
    obj = create_objective("spade", m, {"vgg": 10.0, "vgg_weights": str(weights), "disc_width": 8}, ctx)
    labels, = m.example_inputs(2, 32, 32)
    real = torch.rand(2, len(TARGETS), 32, 32) * 0.3
    out = obj.train_step({"labels": labels, "real": real, "mask": torch.ones_like(real, dtype=torch.bool)})
    assert torch.isfinite(out["vgg"]) and float(out["vgg"]) > 0
    torch.save({"not": "vgg"}, tmp_path / "wrong.pt")
    with pytest.raises(ConfigError, match="is not a VGG19 features state_dict"):
        VGG19Features.from_file(str(tmp_path / "wrong.pt"))


def test_vae_encoder_trains_with_the_generator(tmp_path):
    from hls_translate.training.config import OptimConfig
    from hls_translate.training.distributed import Dist
    from hls_translate.training.objectives import TrainContext, create_objective

    ctx = TrainContext(dist=Dist(0, 1, 0, torch.device("cpu"), ""), optim=OptimConfig(lr=1e-4, betas=(0.0, 0.9)),
                       steps=2, amp="off")
    kw = dict(label_classes=SCL_PRESENT, target_bands=TARGETS, ngf=4, upsamplings=2, spade_hidden=8, tile_size=32)
    plain = create_model("spade_generator", **kw)
    with pytest.raises(ConfigError, match="model.params.style_dim"):
        create_objective("spade", plain, {"encoder": True}, ctx)
    m = create_model("spade_generator", style_dim=16, **kw)
    m.set_normalization({b: (0.2, 0.05) for b in TARGETS})
    obj = create_objective("spade", m, {"encoder": True, "encoder_width": 4, "disc_width": 8}, ctx)
    labels, _ = m.example_inputs(2, 64, 64)
    real = torch.rand(2, len(TARGETS), 64, 64) * 0.3
    before = [p.detach().clone() for p in obj.encoder.parameters()]
    out = obj.train_step({"labels": labels, "real": real, "mask": torch.ones_like(real, dtype=torch.bool)})
    assert torch.isfinite(out["kl"]) and set(obj.modules) == {"model", "discriminator", "encoder"}
    assert any(not torch.equal(a, b) for a, b in zip(before, obj.encoder.parameters()))


@pytest.mark.data
def test_the_spain_flood_label_reads_with_minus_one_as_no_class(tmp_path):
    """The hand-drawn flood label of the Spain scene (-1: not labelled, 0: no water, 1: water) as a
    label map on the scene's own grid: -1 pixels are no class, the others their class index."""
    from osgeo import gdal

    from support.data import DATA, SPAIN, SPAIN_FLOOD_LABEL
    from hls_translate.training.data import prepare_data

    cfg = _cfg(tmp_path, data={"root": str(DATA),
                               "train": [{"path": SPAIN.relative_to(DATA).as_posix(), "name": "Spain", "level": "TOA",
                                          "labels": SPAIN_FLOOD_LABEL.relative_to(DATA).as_posix()}],
                               "label_classes": [{"value": 0, "name": "no_water"}, {"value": 1, "name": "water"}],
                               "chip_size": 64},
               model={"name": "spade_generator", "params": {"target_bands": ["red"], "upsamplings": 3,
                                                            "tile_size": 64}})
    data = prepare_data(cfg, (), (resolve_band("red").id,), kind="label_map")
    raw = gdal.Open(str(SPAIN_FLOOD_LABEL)).ReadAsArray()
    labels = data.train[0].labels
    assert set(np.unique(raw)) == {-1, 0, 1} and labels.shape == raw.shape
    np.testing.assert_array_equal(labels, np.where(raw < 0, -1, raw))


@pytest.mark.data
def test_an_hls_fmask_reads_as_raw_byte_classes_with_fill_as_no_class(tmp_path):
    """HLS Fmask bytes are classes as they are (docs/families/spade.md): the T29QND v1.5 granule's Fmask is
    0 (clear) inside the granule and 255 (fill) outside; 255 is listed by no class, so it reads as -1."""
    from osgeo import gdal

    from support.data import DATA
    from hls_translate.training.data import prepare_data

    granule = DATA / "hls_v15_granules" / "HLS.S30.T29QND.2019182.v1.5.tif"
    fmask = granule.with_name("HLS.S30.T29QND.2019182.v1.5_Fmask.tif")
    cfg = _cfg(tmp_path, data={"root": str(DATA),
                               "train": [{"path": granule.relative_to(DATA).as_posix(), "name": "T29QND",
                                          "level": "surface", "use_qa": False,
                                          "labels": fmask.relative_to(DATA).as_posix()}],
                               "label_classes": [{"value": 0, "name": "clear"}, {"value": 32, "name": "water"}],
                               "chip_size": 64},
               model={"name": "spade_generator", "params": {"target_bands": ["red"], "upsamplings": 3,
                                                            "tile_size": 64}})
    data = prepare_data(cfg, (), (resolve_band("red").id,), kind="label_map")
    raw = gdal.Open(str(fmask)).ReadAsArray()
    labels = data.train[0].labels
    assert set(np.unique(raw)) == {0, 255}
    np.testing.assert_array_equal(labels, np.where(raw == 0, 0, -1))


@pytest.mark.data
def test_the_shipped_cpu_config_checks_out_on_the_real_data(tmp_path, capsys):
    import os

    from support.data import DATA

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training", "configs",
                        "spade_cpu.yaml")
    assert cli.main(["train", "--config", path, "--check", f"data.root={DATA}", f"run.out_dir={tmp_path / 'r'}"]) == 0
    cfg = load_train_config(path)
    assert cfg.objective.name == "spade" and cfg.optim.lr == 1e-4 and cfg.optim.betas == (0.0, 0.9)
    assert [c.value for c in cfg.data.label_classes] == [2, 5, 7, 8, 9, 10] and not cfg.data.train[0].use_qa


def test_receptive_field_bounds_what_a_label_change_reaches():
    """Changing the labels of two pixels changes outputs only within the receptive field's radius (the
    tiling's overlap is derived from it); on the stride grid the change reaches furthest (the start's
    nearest pick), off it only through the full-resolution SPADE layers."""
    torch.manual_seed(0)
    m = create_model("spade_generator", label_classes=SCL_PRESENT, target_bands=["red"], ngf=4, upsamplings=3,
                     spade_hidden=8, tile_size=64)
    m.set_normalization({"red": (0.2, 0.05)})
    m.eval()
    radius = (m.receptive_field() - 1) // 2
    x = m.example_inputs(1, 256, 256)[0]
    with torch.no_grad():
        y0 = m(x)
        reach = {}
        for c in (128, 131):
            x2 = x.clone()
            for r in (c, c + 1):  # another class than the pixel had
                k = (int(x[0, :, r, c].argmax()) + 1) % x.shape[1] if x[0, :, r, c].any() else 0
                x2[0, :, r, c] = 0
                x2[0, k, r, c] = 1
            rows, cols = ((m(x2) - y0).abs()[0, 0] > 0).nonzero(as_tuple=True)
            reach[c] = int(max(c - rows.min(), rows.max() - c, c - cols.min(), cols.max() - c))
    assert 0 < reach[131] < reach[128] <= radius, (reach, radius)


@pytest.mark.data
def test_tiles_whose_overlap_covers_the_receptive_field_give_the_whole_raster(exported):
    """Running statistics at inference: with the overlap at least the receptive field's radius (and tiles
    on the stride grid), the tiled prediction of the real SCL equals the torch model on the whole raster."""
    from hls_translate.core.engine import PredictOptions, predict_array
    from osgeo import gdal

    model = model_from_checkpoint(load_checkpoint(exported["checkpoint"]))
    radius = (model.receptive_field() - 1) // 2
    overlap = -(-radius // model.stride) * model.stride
    raw = np.repeat(np.repeat(gdal.Open(str(exported["labels"])).ReadAsArray(), 2, 0), 2, 1)
    x, index = _one_hot_of(exported["labels"], exported["grid"], SCL_PRESENT)
    with torch.no_grad():
        whole = model(torch.from_numpy(x)).numpy()[0]
    targets = [band_class(c).key for c in model.accepted_targets()]
    tiled, ok = predict_array(exported["model"], None, None, (), targets,
                              PredictOptions(tile_size=2 * overlap, overlap=overlap, blend="crop"), labels=raw)
    known = index >= 0
    assert (ok[0] == known).all()
    assert np.abs(tiled[:, known] - whole[:, known]).max() <= 1e-4


# --- batch: a label file per granule -----------------------------------------------------------------------
def _batch(model, inputs, out, *extra):
    return cli.main(["batch", "--model", model, "--input", *map(str, inputs), *[f"--target={t}" for t in TARGETS],
                     "--out", str(out), "--scheduler", "none", "--threads-per-worker", "1", "--tile", "128", "--quiet",
                     *extra])


def _records(out):
    import json

    return [json.loads(x) for x in (out / "batch_manifest.jsonl").read_text().splitlines()]


@pytest.mark.data
def test_batch_with_a_label_pattern_equals_predict_for_each_granule(exported, tmp_path, capsys):
    """Two real granules, each with its SCL beside its bands: `batch --labels '{granule}_SCL.tif'` writes, for
    every granule and target, the pixels `predict --labels` gives for that granule (the SCL, on its 200 m grid,
    is the label layer, not a QA layer of the 100 m scene); a rerun skips them, another pattern redoes them."""
    from osgeo import gdal

    from hls_translate.core.output_naming import convention_band_name

    granules = t29rkh_granules(tmp_path / "in")
    out = tmp_path / "out"
    assert _batch(exported["model"], [tmp_path / "in"], out, "--labels", "{granule}_SCL.tif", "--seed", "3") == 0
    records = {r["scene"]: r for r in _records(out)}
    assert sorted(records) == sorted(GRANULES) and all(r["status"] == "done" for r in records.values())
    for gid, folder in granules.items():
        assert records[gid]["inputs"][-1] == str(folder / f"{gid}_SCL.tif")
        pred = tmp_path / f"predict_{gid}_{{target}}.tif"
        assert cli.main(["predict", "--model", exported["model"], "--input", str(folder / f"{gid}_B04.tif"),
                         "--labels", str(folder / f"{gid}_SCL.tif"), *[f"--target={t}" for t in TARGETS],
                         "--tile", "128", "--seed", "3", "--out", str(pred), "--quiet"]) == 0
        for t in TARGETS:
            got = gdal.Open(str(out / f"{gid}.{convention_band_name(resolve_band(t))}.synth.tif"))
            want = gdal.Open(str(pred).replace("{target}", resolve_band(t).key))
            assert got.GetGeoTransform() == want.GetGeoTransform()
            a, b = got.ReadAsArray(), want.ReadAsArray()
            assert a.shape == (256, 256) and np.array_equal(a, b), (gid, t)
            assert (a != got.GetRasterBand(1).GetNoDataValue()).mean() > 0.99  # the SCL's classes are the model's
    capsys.readouterr()
    assert _batch(exported["model"], [tmp_path / "in"], out, "--labels", "{granule}_SCL.tif", "--seed", "3") == 0
    assert "2 skipped" in capsys.readouterr().out
    assert _batch(exported["model"], [tmp_path / "in"], out, "--labels", "*_SCL.tif", "--seed", "3") == 0  # a glob
    assert [r["scene"] for r in _records(out)[2:]] == sorted(GRANULES)  # another pattern: done again


@pytest.mark.data
def test_batch_refuses_a_missing_label_file_naming_the_granule_before_writing(exported, tmp_path, capsys):
    granules = t29rkh_granules(tmp_path / "in")
    (granules["T29RKH_east"] / "T29RKH_east_SCL.tif").unlink()
    out = tmp_path / "out"
    assert _batch(exported["model"], [tmp_path / "in"], out, "--labels", "{granule}_SCL.tif") == 1
    err = capsys.readouterr().err
    refused = [line for line in err.splitlines() if line.startswith("refused:")]
    assert len(refused) == 1 and "T29RKH_east" in refused[0] and "'{granule}_SCL.tif'" in refused[0]
    assert str(granules["T29RKH_east"] / "T29RKH_east_SCL.tif") in refused[0] and "stopped before any work" in err
    assert list(out.iterdir()) == []  # no manifest, no output: nothing ran
    # a label-map model without labels, or labels for a model that reads bands: errors of the whole run
    assert _batch(exported["model"], [tmp_path / "in"], tmp_path / "none") == 2
    assert "is a label-map model" in capsys.readouterr().err
    from support.onnx_models import copy_model

    other = copy_model(tmp_path / "copy.onnx", {4: 8}, sources=[3, 8], tile=32, overlap=8, stride=4)
    assert cli.main(["batch", "--model", other, "--input", str(tmp_path / "in"), "--target", "red_edge_1", "--out",
                     str(tmp_path / "other"), "--scheduler", "none", "--labels", "{granule}_SCL.tif", "--quiet"]) == 2
    assert "takes no label rasters" in capsys.readouterr().err


@pytest.mark.data
def test_batch_checks_the_label_classes_against_the_model(exported, tmp_path, capsys):
    """A label raster holding none of the model's classes (a band file given as labels), or not covering the
    granule (one SCL for every granule: the east one's), is refused before any work, naming the file."""
    granules = t29rkh_granules(tmp_path / "in")
    # (with labels from elsewhere, each granule's SCL stays its QA layer, on its own grid: --resampling)
    assert _batch(exported["model"], [tmp_path / "in"], tmp_path / "a", "--labels", "{granule}_B08.tif",
                  "--resampling", "bilinear") == 1
    refused = [x for x in capsys.readouterr().err.splitlines() if x.startswith("refused:")]
    assert len(refused) == 2 and all("holds none of the model's classes (2=dark_area, 5=not_vegetated" in x
                                     for x in refused)
    east_scl = granules["T29RKH_east"] / "T29RKH_east_SCL.tif"
    assert _batch(exported["model"], [tmp_path / "in"], tmp_path / "b", "--labels", str(east_scl),
                  "--resampling", "bilinear", "--skip-invalid") == 1
    [refused] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("refused:")]
    assert refused.startswith("refused: T29RKH_west:") and f"{east_scl} has no usable pixel" in refused
    assert [(r["scene"], r["status"]) for r in _records(tmp_path / "b")] == [("T29RKH_west", "invalid"),
                                                                             ("T29RKH_east", "done")]


@pytest.mark.data
def test_label_patterns_name_one_file_per_granule(tmp_path):
    from hls_translate.core.batch_inputs import discover_scenes, label_file, with_labels

    granules = t29rkh_granules(tmp_path / "in")
    scenes, _ = discover_scenes([tmp_path / "in"])
    west = next(s for s in scenes if s.scene_id == "T29RKH_west")
    scl = str(granules["T29RKH_west"] / "T29RKH_west_SCL.tif")
    assert scl in west.paths and len(west.paths) == 5  # discovery takes the SCL for the scene's QA layer
    scene, path = with_labels(west, "{granule}_SCL.tif")
    assert path == scl and scene.paths == tuple(p for p in west.paths if p != scl)  # the label layer, not QA
    assert label_file(west, "../T29RKH_west/{scene}_SCL.tif") == scl  # relative to the granule's folder
    assert label_file(west, str(tmp_path / "in" / "*" / "{granule}_SCL.tif")) == scl  # an absolute glob
    with pytest.raises(ConfigError, match=r"granule T29RKH_west: the label pattern '\*_B0\?.tif' matches 4 files"):
        label_file(west, "*_B0?.tif")
    with pytest.raises(ConfigError, match=r"'\{tile\}_SCL.tif': unknown placeholder; use \{granule\}"):
        label_file(west, "{tile}_SCL.tif")
