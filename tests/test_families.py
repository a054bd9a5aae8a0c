"""pix2pix and CycleGAN through the same trainer, export and `predict` as the conditional model, on the real
scenes: the papers' defaults, smoke training, exact resume, ONNX parity, self-describing metadata."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import band_class, resolve_band  # noqa: E402
from hls_translate.core.errors import ConfigError, HLSTranslateError  # noqa: E402
from hls_translate.core.metadata import read_metadata  # noqa: E402
from hls_translate.core.models import create_model  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.objectives import lr_factor  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support.families import (HELD_OUT_FRAME, HELD_OUT_SCENE, cyclegan_config, pix2pix_config,  # noqa: E402
                              train_and_export)
from support.training import assert_same_checkpoints  # noqa: E402

FAMILIES = ["pix2pix", "cyclegan"]
CONFIGS = {"pix2pix": pix2pix_config, "cyclegan": cyclegan_config}


def _cfg(family, out_dir, **sections):
    return load_train_config(None, base=CONFIGS[family](out_dir, **sections))


def _window_means(history, key):
    return [h[key] for h in history if h["event"] == "train"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir):
    """Each family trained a few steps on the real scenes and exported (CycleGAN: both directions)."""
    return {f: train_and_export(tmp_path_factory.mktemp(f), f) for f in FAMILIES}


# --- the papers' defaults ----------------------------------------------------------------------------------
def test_generators_default_to_the_papers():
    unet = create_model("pix2pix_unet")
    assert unet.stride == 256 and unet.min_size == 256 and unet.tiling()["tile_size"] == 256
    drop = [m for m in unet.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drop) == 3 and all(m.p == 0.5 for m in drop)  # the three innermost decoder blocks
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in unet.modules()) == 13  # 6 encoder levels + 7 decoder levels
    assert sum(isinstance(m, torch.nn.Conv2d) for m in unet.modules()) == 8
    convs = [m for m in unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    # every output of a 256 px tile depends on the whole tile through the convolutions
    assert unet.receptive_field() == 1278
    assert float(torch.cat([c.weight.detach().reshape(-1) for c in convs]).std()) == pytest.approx(0.02, rel=0.05)
    res = create_model("cyclegan_resnet")
    blocks = [m for m in res.modules() if type(m).__name__ == "ResnetBlock"]
    assert len(blocks) == 9 and len([m for m in create_model("cyclegan_resnet", tile_size=128).modules()
                                     if type(m).__name__ == "ResnetBlock"]) == 6
    norms = [m for m in res.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)) for m in res.modules())
    convs = [m for m in res.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (7, 7) and convs[-1].kernel_size == (7, 7)
    assert all(c.padding_mode == "reflect" for c in convs if c.stride == (1, 1))
    assert res.stride == 4 and res.receptive_field() == 169 and res.config.direction == "A->B"


def test_objectives_and_optimizer_default_to_the_papers(tmp_path):
    p = _cfg("pix2pix", tmp_path / "p", objective={"name": "pix2pix", "params": {}})
    assert (p.optim.lr, p.optim.betas, p.optim.schedule, p.optim.warmup_steps, p.optim.min_lr_ratio,
            p.optim.decay_fraction) == (2e-4, (0.5, 0.999), "linear_decay", 0, 0.0, 0.5)
    from hls_translate.training.objectives import make_objective_params

    pp = make_objective_params("pix2pix", {})
    assert (pp.l1, pp.gan_mode, pp.disc_layers, pp.disc_norm) == (100.0, "vanilla", 3, "batch")
    cp = make_objective_params("cyclegan", {})
    assert (cp.cycle, cp.identity, cp.gan_mode, cp.pool_size, cp.disc_norm) == (10.0, None, "lsgan", 50, "instance")
    # a key the config sets wins over the objective's default; the others stay the paper's
    q = _cfg("pix2pix", tmp_path / "q", optim={"lr": 1e-3})
    assert q.optim.lr == 1e-3 and q.optim.betas == (0.5, 0.999)
    # the conditional model keeps the project's defaults
    from support.training import tiny_config

    t = load_train_config(None, base=tiny_config(tmp_path / "t"))
    assert t.optim.lr == 0.003 and t.optim.schedule == "cosine"


def test_linear_decay_schedule(tmp_path):
    cfg = _cfg("pix2pix", tmp_path, run={"steps": 200})
    f = [lr_factor(s, cfg.optim, 200) for s in range(200)]
    assert f[:100] == [1.0] * 100  # constant for the first half
    assert f[150] == pytest.approx(0.5, abs=0.01) and f[199] <= 0.011
    assert all(a >= b for a, b in zip(f, f[1:]))
    with pytest.raises(ConfigError, match="optim.decay_fraction"):
        _cfg("pix2pix", tmp_path, optim={"decay_fraction": 0.0})


# --- training ------------------------------------------------------------------------------------------------
def _smoke(family, tmp_path, metric):
    """40 steps at a constant rate; ``metric``'s window means, checked to fall by 15 %, and the checkpoint."""
    torch.set_num_threads(1)
    res = train(_cfg(family, tmp_path / "run", run={"steps": 40, "log_every": 5}, optim={"schedule": "constant"}),
                log=lambda m: None)
    values = _window_means(res.history, metric)
    assert len(values) == 8 and all(np.isfinite(values))
    assert np.mean(values[-2:]) < 0.85 * np.mean(values[:2]), values
    return load_checkpoint(res.last_checkpoint)


@pytest.mark.data
def test_pix2pix_smoke_training_brings_the_l1_to_the_real_red_edge_down(tmp_path):
    st = _smoke("pix2pix", tmp_path, "l1")
    assert set(st["modules"]) == {"model", "discriminator"} and set(st["optimizers"]) == {"model", "discriminator"}


@pytest.mark.data
def test_cyclegan_smoke_training_brings_the_cycle_loss_down(tmp_path):
    st = _smoke("cyclegan", tmp_path, "cycle")
    assert set(st["modules"]) == {"model", "generator_ba", "discriminator_a", "discriminator_b"}
    assert set(st["optimizers"]) == {"model", "discriminators"} and "sampler_b" in st
    assert st["module_models"]["generator_ba"]["model_config"]["direction"] == "B->A"
    assert st["module_models"]["generator_ba"]["model_config"]["source_bands"] == \
        st["module_models"]["model"]["model_config"]["target_bands"]
    pool = st["objective_state"]["pools"][0]["b"]
    assert pool["size"] == 6 and pool["images"].shape == (6, 4, 32, 32)  # full: 40 steps x 2 fakes > 6


def _nhwc(t) -> bool:
    """A 4-D tensor held channels-last (not also plain contiguous: a kernel larger than 1 x 1, several channels)."""
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


@pytest.mark.data
@pytest.mark.parametrize("family", FAMILIES)
def test_channels_last_trains_the_same_networks_and_resumes_exactly(tmp_path, family):
    """``run.channels_last: on`` (what ``auto`` picks on CUDA), here on the CPU: every network is held in NHWC
    memory, the losses are NCHW's to float rounding (another memory order of the same arithmetic), and a
    stopped and resumed NHWC run equals an uninterrupted one."""
    torch.set_num_threads(1)
    run = {"steps": 8, "log_every": 4}
    nchw = train(_cfg(family, tmp_path / "a", run=run), log=lambda m: None)
    cfg = _cfg(family, tmp_path / "b", run={**run, "channels_last": "on"})
    nhwc = train(cfg, log=lambda m: None)
    state = load_checkpoint(nhwc.last_checkpoint)
    assert state["training_summary"]["channels_last"] is True
    assert load_checkpoint(nchw.last_checkpoint)["training_summary"]["channels_last"] is False
    for name, module in state["modules"].items():
        kernels = [v for k, v in module.items() if v.dim() == 4 and v.shape[1] > 1 and v.shape[-1] > 1]
        assert kernels and all(_nhwc(v) for v in kernels), name
    key = "l1" if family == "pix2pix" else "cycle"
    first, second = _window_means(nchw.history, key), _window_means(nhwc.history, key)
    assert len(first) == len(second) == 2
    np.testing.assert_allclose(second[0], first[0], rtol=1e-3)  # steps 1-4: same start, same chips
    half = train(_cfg(family, tmp_path / "c", run={**run, "channels_last": "on"}), stop_at=4, log=lambda m: None)
    resumed = train(_cfg(family, tmp_path / "c", run={**run, "channels_last": "on"}), resume=half.last_checkpoint,
                    log=lambda m: None)
    assert_same_checkpoints(nhwc.last_checkpoint, resumed.last_checkpoint, 8)
    # an NHWC checkpoint exports like any other (the export checks ONNX Runtime against torch on real data)
    from hls_translate.training.export import export_checkpoint

    meta = export_checkpoint(nhwc.last_checkpoint, str(tmp_path / "nhwc.onnx"))
    assert meta.training["channels_last"] is True


@pytest.mark.data
@pytest.mark.parametrize("family", FAMILIES)
def test_resume_is_exact(tmp_path, family):
    """6 steps straight == 3 steps, stop, resume 3 more: every module (batch-norm statistics, dropout's RNG,
    CycleGAN's second generator, discriminators and image pools included)."""
    torch.set_num_threads(1)
    straight = train(_cfg(family, tmp_path / "a", run={"steps": 6}), log=lambda m: None)
    cfg = _cfg(family, tmp_path / "b", run={"steps": 6})
    half = train(cfg, stop_at=3, log=lambda m: None)
    moved = load_checkpoint(half.last_checkpoint)["modules"]["model"]
    resumed = train(cfg, resume=half.last_checkpoint, log=lambda m: None)
    sa, sb = assert_same_checkpoints(straight.last_checkpoint, resumed.last_checkpoint, 6)
    assert any(not torch.allclose(moved[k].float(), v.float(), atol=1e-5) for k, v in sa["modules"]["model"].items())
    if family == "cyclegan":
        for d in ("a", "b"):
            pa, pb = sa["objective_state"]["pools"][0][d], sb["objective_state"]["pools"][0][d]
            assert torch.equal(pa["images"], pb["images"]) and torch.equal(pa["rng"], pb["rng"])


@pytest.mark.data
def test_cyclegan_micro_batches_give_the_whole_batch_update(tmp_path):
    """One item per pass (the CPU's default) and the whole batch in one pass, from the same networks on the
    same real batch (two Sentinel-2 L1C chips -> two BigEarthNet L2A chips): the same losses, the same
    gradients of all four networks, the same pooled images, in float64 (where float32 rounding cannot hide
    a difference: a bias in front of an instance norm has a gradient of pure rounding noise in float32);
    through the trainer, the same losses over 3 steps; a batch-norm network is refused."""
    from support.families import BEN_B
    from support.data import DATA

    from hls_translate.training.distributed import Dist
    from hls_translate.training.objectives import TrainContext, create_objective

    torch.set_num_threads(1)
    model = create_model("cyclegan_resnet", width=8, blocks=2, tile_size=64)
    a = np.concatenate([_real_bands(f, model.accepted_sources(), 64) for f in (HELD_OUT_FRAME, HELD_OUT_SCENE)])
    from hls_translate.core.bands import band_class as _band_class
    from hls_translate.core.grid import Window
    from hls_translate.core.scene import open_scene

    def patch(path):  # BigEarthNet's 10 m bands, on their own grid
        with open_scene(str(path), reference=_band_class("blue"), resampling="bilinear") as scene:
            return scene.read_stack(list(model.accepted_targets()), Window(0, 0, 64, 64))[0][None]

    b = np.concatenate([patch(DATA / p) for p in BEN_B])
    stats = {c: (float(a[:, i].mean()), float(a[:, i].std())) for i, c in enumerate(model.accepted_sources())}
    model.set_normalization(stats)
    batch = {"bands": torch.from_numpy(a).double(), "bands_b": torch.from_numpy(b).double(),
             "mask": torch.ones(2, 1, 64, 64, dtype=torch.bool), "mask_b": torch.ones(2, 1, 64, 64, dtype=torch.bool)}
    batch["mask"][1, :, :8] = False  # some invalid pixels: the L1 means must count the whole batch's
    cfg = _cfg("cyclegan", tmp_path / "x")
    grads, losses, pools = {}, {}, {}
    for mb in (1, 2):
        torch.manual_seed(3)
        ctx = TrainContext(Dist(0, 1, 0, torch.device("cpu"), ""), cfg.optim, 10, "off")
        obj = create_objective("cyclegan", copy.deepcopy(model), {"disc_width": 16, "pool_size": 6, "micro_batch": mb}, ctx)
        assert obj.micro_batch_size(2) == mb
        for m in obj.modules.values():
            m.double()
        obj.train_mode(True)
        losses[mb] = {k: float(v) for k, v in obj.train_step(batch).items()}
        grads[mb] = {f"{n}.{k}": q.grad.clone() for n, m in obj.modules.items() for k, q in m.named_parameters()}
        pools[mb] = obj.pool_b.state_dict()["images"]
    assert losses[1] == pytest.approx(losses[2], rel=1e-6, abs=1e-9)  # the GAN terms are cast to float32
    assert losses[1]["identity"] > 0 and losses[1]["disc_a"] > 0 and losses[1]["cycle"] > 0
    for k, g in grads[2].items():
        assert float(g.abs().max()) > 0, k
        assert torch.allclose(grads[1][k], g, atol=1e-12 * float(g.abs().max()), rtol=1e-9), k
    assert torch.allclose(pools[1], pools[2], atol=1e-12, rtol=0) and pools[1].shape[0] == 2
    # through the trainer (CPU: one item per pass by default)
    runs = {mb: train(_cfg("cyclegan", tmp_path / f"mb{mb}", run={"steps": 3, "log_every": 1},
                           objective={"params": {"disc_width": 16, "pool_size": 6, "micro_batch": mb}}),
                      log=lambda m: None) for mb in (0, 2)}
    for step_a, step_b in zip(*(_window_means(runs[mb].history, "loss") for mb in (0, 2))):
        assert step_a == pytest.approx(step_b, rel=1e-3)
    with pytest.raises(ConfigError, match=r"objective.params.micro_batch: model, generator_ba use batch norm"):
        train(_cfg("cyclegan", tmp_path / "bn", model={"params": {"width": 8, "blocks": 2, "tile_size": 64, "norm": "batch"}},
                   objective={"params": {"micro_batch": 1}}), log=lambda m: None)


@pytest.mark.data
def test_validation_scores_the_targets_that_have_truth(tmp_path):
    """pix2pix's red edges are scored on the held-out scene during training (and the metrics travel into
    the checkpoint); a same-band CycleGAN (TOA -> surface) has no truth in a TOA scene: nothing scored."""
    from support.data import DATA

    held_out = {"data": {"validation": [{"path": HELD_OUT_SCENE.relative_to(DATA).as_posix(), "name": "Spain"}]},
                "validation": {"max_size": 128}}
    said = []
    res = train(_cfg("pix2pix", tmp_path / "p", run={"steps": 2}, **held_out), log=said.append)
    assert set(res.metrics["per_target"]) == {"B05", "B06", "B07"} and res.metrics["source_set"] == "fixed bands"
    assert 0 < res.metrics["mean_rmse"] < 1 and load_checkpoint(res.best_checkpoint)["metrics"] == res.metrics
    said.clear()
    res = train(_cfg("cyclegan", tmp_path / "c", run={"steps": 2}, **held_out), log=said.append)
    assert res.metrics == {} and res.best_checkpoint is None
    assert any("nothing to score: no held-out scene has truth" in m for m in said), said
    from hls_translate.training.evaluate import EvaluatedModel, tasks_for

    same = EvaluatedModel("m", 4, (1, 2), (1, 2), kind="fixed_bands")
    assert tasks_for(range(13), same) == [] and len(tasks_for(range(13), EvaluatedModel("m", 4, (1,), (4, 5),
                                                                                       kind="fixed_bands"))) == 2


@pytest.mark.data
def test_paired_and_unpaired_data_are_refused_where_they_do_not_fit(tmp_path):
    from support.families import BEN_B

    with pytest.raises(HLSTranslateError, match=r"data.domain_b: only an unpaired objective"):
        train(_cfg("pix2pix", tmp_path / "p", data={"domain_b": [{"path": BEN_B[0]}]}), log=lambda m: None)
    with pytest.raises(HLSTranslateError, match=r"data.domain_b: this objective learns from two unpaired domains"):
        train(_cfg("cyclegan", tmp_path / "c", data={"domain_b": []}), log=lambda m: None)
    with pytest.raises(ConfigError, match=r"objective 'cyclegan' needs models with reversed_config\(\)|kind fixed_bands"):
        from hls_translate.training.distributed import Dist
        from hls_translate.training.objectives import TrainContext, create_objective

        ctx = TrainContext(Dist(0, 1, 0, torch.device("cpu"), ""), _cfg("cyclegan", tmp_path / "x").optim, 1, "off")
        create_objective("cyclegan", create_model("adain_unet", width=4, depth=2, embed_dim=8, tile_size=32), {}, ctx)
    with pytest.raises(ConfigError, match=r"objective.params.identity: the identity loss feeds domain B's bands"):
        train(_cfg("cyclegan", tmp_path / "i", model={"params": {"width": 4, "blocks": 1, "tile_size": 32,
                                                                  "target_bands": ["red_edge_1", "red_edge_2", "red_edge_3", "nir_narrow"]}},
                   objective={"params": {"identity": 0.5}}), log=lambda m: None)


@pytest.mark.data
def test_chips_too_small_for_the_patchgan_are_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"data.chip_size: 16 px chips are too small for the 3-layer PatchGAN"):
        train(_cfg("cyclegan", tmp_path / "run", data={"chip_size": 16}), log=lambda m: None)


# --- export, metadata, predict -----------------------------------------------------------------------------------
def _real_bands(path, classes, size):
    """``[1, C, size, size]`` physical values of ``classes`` from the top-left of a real raster."""
    from hls_translate.core.grid import Window
    from hls_translate.core.scene import open_scene

    with open_scene(str(path)) as scene:
        values, valid = scene.read_stack(list(classes), Window(0, 0, size, size))
    assert valid.all()
    return values[None]


@pytest.mark.data
@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_parity_with_torch_on_real_data(exported, family):
    from hls_translate.core.runtime import OnnxModel

    state = load_checkpoint(exported[family]["checkpoint"])
    modules = [("model", exported[family]["model"])]
    if family == "cyclegan":
        modules.append(("generator_ba", exported[family]["model_ba"]))
    for module, path in modules:
        model = model_from_checkpoint(state, module)
        x = _real_bands(HELD_OUT_FRAME, model.accepted_sources(), 96)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        out = OnnxModel(path, device="cpu").run({"bands": x})
        assert out.shape == ref.shape == (1, len(model.accepted_targets()), 96, 96)
        assert np.abs(out - ref).max() <= 1e-4, (module, float(np.abs(out - ref).max()))
        assert 0.0 < float(np.abs(ref).mean()) < 2.0  # reflectance, not normalized values


@pytest.mark.data
def test_metadata_names_family_roles_bands_units_and_inference_choices(exported):
    md = read_metadata(exported["pix2pix"]["model"])
    assert (md.family, md.architecture, md.conditional, md.units) == ("pix2pix", "pix2pix_unet", False, "physical")
    assert [(t.name, t.role) for t in md.inputs] == [("bands", "bands")]
    assert [(t.name, t.role) for t in md.outputs] == [("output", "output")]
    landsat = [resolve_band(b).id for b in ("coastal_aerosol", "blue", "green", "red", "nir_narrow", "cirrus",
                                            "swir_1", "swir_2")]
    red_edge = [resolve_band(b).id for b in ("red_edge_1", "red_edge_2", "red_edge_3")]
    assert list(md.input("bands").bands) == landsat and list(md.output.bands) == red_edge
    assert md.input("bands").shape == ("N", 8, "H", "W") and md.output.shape == ("N", 3, "H", "W")
    assert set(md.normalization) == set(landsat + red_edge)
    assert md.config["batchnorm_at_inference"] == "running_stats" and md.config["norm"] == "batch"
    assert md.tiling.stride == 16 and md.training["objective"]["name"] == "pix2pix"
    assert "exported_module" not in md.training  # the model trained
    ab, ba = read_metadata(exported["cyclegan"]["model"]), read_metadata(exported["cyclegan"]["model_ba"])
    for m, direction in ((ab, "A->B"), (ba, "B->A")):
        assert m.family == "cyclegan" and m.config["direction"] == direction
        assert f"(direction {direction})" in m.description
    assert "exported_module" not in ab.training and ba.training["exported_module"] == "generator_ba"
    modules = ab.training["objective"]["modules"]
    assert modules["model"]["direction"] == "A->B" and modules["generator_ba"]["direction"] == "B->A"
    assert ab.training["objective"]["domains"]["B"]["scenes"] == ["ben0", "ben1"]
    assert len(ab.training["domain_b_scenes"]) == 2 and ab.training["train_scenes"][0]["level"] == "TOA"


@pytest.mark.data
@pytest.mark.parametrize("family", FAMILIES)
def test_predict_on_a_real_raster_equals_the_torch_model(exported, family, tmp_path):
    """`hls-translate predict` on the real held-out Spain scene in one tile == the trained torch model."""
    from osgeo import gdal

    model = model_from_checkpoint(load_checkpoint(exported[family]["checkpoint"]))
    targets = [f"--target={band_class(c).key}" for c in model.accepted_targets()]
    out = tmp_path / "out.tif"
    assert cli.main(["predict", "--model", exported[family]["model"], "--input", str(HELD_OUT_SCENE), *targets,
                     "--tile", "512", "--overlap", "0", "--out", str(out), "--quiet"]) == 0
    ds = gdal.Open(str(out))
    got = ds.ReadAsArray()
    x = _real_bands(HELD_OUT_SCENE, model.accepted_sources(), 512)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()[0]
    assert got.shape == ref.shape == (len(targets), 512, 512)
    assert np.abs(got - ref).max() <= 1e-4
    src = gdal.Open(str(HELD_OUT_SCENE))
    assert ds.GetGeoTransform() == src.GetGeoTransform() and ds.GetProjection() == src.GetProjection()


def test_batchnorm_at_inference_is_explicit():
    """running_stats: an item's output does not depend on the other items of the batch nor on its own
    statistics; per_tile: each item is normalized with its own statistics (the paper's test protocol)."""
    torch.manual_seed(0)
    kw = {"width": 4, "downsamplings": 3, "tile_size": 32}
    run = create_model("pix2pix_unet", **kw)
    tile = create_model("pix2pix_unet", batchnorm_at_inference="per_tile", **kw)
    tile.load_state_dict(run.state_dict())
    for m in (run, tile):
        m.set_normalization({c: (0.2, 0.1) for c in m.accepted_sources() + m.accepted_targets()})
        m.train()
        with torch.no_grad():
            m(*m.example_inputs(4, 32, 32))  # some running statistics
        m.eval()
    x = run.example_inputs(2, 32, 32)[0]
    with torch.no_grad():
        a, b = run(x), run(torch.cat([x[:1], 5 * x[1:]]))
        assert torch.allclose(a[0], b[0], atol=1e-6)  # batch-independent
        t1, t2 = tile(x), tile(torch.cat([x[:1], 5 * x[1:]]))
        assert torch.allclose(t1[0], t2[0], atol=1e-5) and not torch.allclose(t1, a, atol=1e-3)
        assert torch.allclose(tile(x), tile(x))  # no dropout at inference
    with pytest.raises(ConfigError, match="batchnorm_at_inference"):
        from hls_translate.core.models import make_config

        make_config("pix2pix_unet", {"batchnorm_at_inference": "batch"})


def test_the_papers_resnet_generator_is_blind_to_a_tiles_level_and_input_to_head_is_not():
    """Instance norm after the first convolution removes a common shift of the input (reflectance level);
    input_to_head lets the last convolution see it."""
    torch.manual_seed(0)
    out = {}
    for option in (False, True):
        m = create_model("cyclegan_resnet", width=4, blocks=1, tile_size=32, input_to_head=option)
        m.set_normalization({c: (0.1, 0.05) for c in m.accepted_sources()})
        x = m.example_inputs(1, 32, 32)[0]
        with torch.no_grad():
            out[option] = (m(x), m(x + 0.05))
    assert torch.allclose(*out[False], atol=1e-5)
    assert (out[True][1] - out[True][0]).abs().mean() > 1e-3


def test_image_pool_is_deterministic_and_restores_exactly():
    from hls_translate.training.gan import ImagePool

    def run(pool, n):
        return [pool.query(torch.full((2, 1, 2, 2), float(i))) for i in range(n)]

    a, b = ImagePool(3, seed=7), ImagePool(3, seed=7)
    first = run(a, 4)
    assert [float(t[0, 0, 0, 0]) for t in first[:2]] == [0.0, 1.0]  # while it fills: the new images
    state = a.state_dict()
    later = run(a, 6)
    run(b, 4)
    b.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(later, run(b, 6)))
    assert any(float(t.max()) < i for i, t in enumerate(later, start=4))  # older images do come back
    assert torch.equal(ImagePool(0, 1).query(first[0]), first[0])
