"""Model registry and the conditional AdaIN U-Net: forward contract, conditioning, presence masking,
normalization, geometry (stride, receptive field) and trainability, on real Sentinel-2 values."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from hls_translate.core.bands import NUM_CLASSES, resolve_band  # noqa: E402
from hls_translate.core.errors import ConfigError, ModelError, UnknownModelError  # noqa: E402
from hls_translate.core.models import create_model, list_models, model_entry  # noqa: E402
from hls_translate.core.models.layers import count_macs, count_parameters  # noqa: E402
from hls_translate.core.grid import Window  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402

from support.adain_fixture import SMALL_ADAIN, small_adain_model, spain_stats  # noqa: E402
from support.training import SMALL_MODELS  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = dict(SMALL_ADAIN)  # width 8, depth 2: stride 4


@pytest.fixture(scope="module")
def spain_chip(spain_tif):
    """A 64x64 chip of the real Spain scene: physical values [1, 15, 64, 64] (0 for the two thermal
    classes, which the scene lacks) and the presence mask of its 13 bands."""
    with open_scene(str(spain_tif)) as scene:
        ids = [b.id for b in scene.bands]
        values, valid = scene.read_stack(ids, Window(200, 180, 64, 64))
    assert valid.all()
    bands = np.zeros((1, NUM_CLASSES, 64, 64), np.float32)
    bands[0, ids] = values
    present = np.zeros((1, NUM_CLASSES), np.float32)
    present[0, ids] = 1.0
    return torch.from_numpy(bands), torch.from_numpy(present)


def _normalized(model, out, target):
    return (out - model.normalization.mean[target].reshape(-1, 1, 1, 1)) / model.normalization.std[target].reshape(-1, 1, 1, 1)


# --- registry -------------------------------------------------------------------------------------
def test_registry_lists_adain_and_names_unknown_models():
    assert "adain_unet" in list_models()
    assert list_models(family="adain") == ["adain_unet"]
    with pytest.raises(UnknownModelError, match=r"unknown model 'unet_xl'.*adain_unet"):
        create_model("unet_xl")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"widht"):
        create_model("adain_unet", widht=8)
    with pytest.raises(ConfigError, match=r"width: expected an integer"):
        create_model("adain_unet", width="8")
    with pytest.raises(ConfigError, match=r"tile_size must be a multiple of the stride 8"):
        create_model("adain_unet", tile_size=100)
    with pytest.raises(ConfigError, match=r"target_bands: unknown band 'B99'"):
        create_model("adain_unet", target_bands=["B99"])
    with pytest.raises(ConfigError, match=r"source_bands: .*ambiguous"):
        create_model("adain_unet", source_bands=["B05"])


def test_create_model_records_name_family_config():
    m = create_model("adain_unet", width=8, target_bands=["cirrus", "S30:B05"])
    assert m.model_name == "adain_unet" and m.model_family == "adain"
    assert m.config.width == 8
    assert m.config.target_ids == (resolve_band("red_edge_1").id, resolve_band("cirrus").id)
    assert m.stride == 8


# --- forward contract, every registered model ------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in list_models() if create_model(n, **SMALL_MODELS.get(n, {})).kind
                                  == "conditional"])  # fixed-band models: tests/test_contract.py, test_families.py
def test_forward_shapes_and_values_every_model(name, spain_chip):
    torch.manual_seed(0)
    model = create_model(name, **(SMALL if model_entry(name).family == "adain" else {}))
    model.set_normalization(spain_stats())
    model.eval()
    bands, present = spain_chip
    n = 4
    x = bands.repeat(n, 1, 1, 1)
    p = present.repeat(n, 1)
    targets = torch.tensor([resolve_band(k).id for k in ("cirrus", "red_edge_2", "swir_1", "blue")])
    for i, t in enumerate(targets.tolist()):
        p[i, t] = 0.0  # synthesize a band from the others
    with torch.no_grad():
        out = model(x, p, targets)
    assert out.shape == (n, 1, 64, 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # physical units: de-normalized with each item's TARGET statistics (cirrus ~0.001, SWIR ~0.15);
    # the untrained model's normalized output stays within a few standard deviations
    z = _normalized(model, out, targets)
    assert z.abs().max() < 5.0
    for i, t in enumerate(targets.tolist()):
        mean = model.normalization.mean[t].item()
        assert abs(out[i].mean().item() - mean) < 3 * model.normalization.std[t].item()
    # not a constant: spatial structure of the real scene reaches the output
    assert (out.std(dim=(2, 3)) > 1e-3 * model.normalization.std[targets].reshape(-1, 1)).all()
    # items are independent: a mixed-target batch equals the items run one by one
    with torch.no_grad():
        single = torch.cat([model(x[i:i + 1], p[i:i + 1], targets[i:i + 1]) for i in range(n)])
    torch.testing.assert_close(out, single, rtol=0, atol=1e-6)


def test_every_parameter_gets_a_gradient(spain_chip):
    """DDP without find_unused_parameters needs every parameter in the graph of every step."""
    model = small_adain_model()
    model.train()
    bands, present = spain_chip
    out = model(bands.repeat(2, 1, 1, 1), present.repeat(2, 1), torch.tensor([10, 3]))
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert model.head.proj.weight.grad.abs().sum() > 0


# --- conditioning -----------------------------------------------------------------------------------
def test_two_targets_give_different_outputs(spain_chip):
    model = small_adain_model()
    bands, present = spain_chip
    a, b = resolve_band("red_edge_1").id, resolve_band("cirrus").id
    p = present.clone()
    p[0, [a, b]] = 0.0
    with torch.no_grad():
        ya = model(bands, p, torch.tensor([a]))
        yb = model(bands, p, torch.tensor([b]))
    za, zb = _normalized(model, ya, torch.tensor([a])), _normalized(model, yb, torch.tensor([b]))
    # different beyond the de-normalization: the network itself is conditioned on the target
    assert (za - zb).abs().mean() > 1e-3
    assert ya.mean() > 50 * yb.mean()  # red edge reflectance ~0.14 vs cirrus ~0.001


def test_swapped_target_embedding_swaps_the_output(spain_chip):
    model = small_adain_model()
    bands, present = spain_chip
    a, b = resolve_band("green").id, resolve_band("swir_2").id
    p = present.clone()
    p[0, [a, b]] = 0.0
    ta, tb = torch.tensor([a]), torch.tensor([b])
    with torch.no_grad():
        ya, yb = model(bands, p, ta), model(bands, p, tb)
        emb = model.target_embedding.weight
        emb[[a, b]] = emb[[b, a]].clone()
        sa, sb = model(bands, p, ta), model(bands, p, tb)
    assert (_normalized(model, ya, ta) - _normalized(model, yb, tb)).abs().max() > 1e-3
    # only the embedding row was swapped: the normalized outputs swap exactly
    torch.testing.assert_close(_normalized(model, sa, ta), _normalized(model, yb, tb), rtol=0, atol=1e-5)
    torch.testing.assert_close(_normalized(model, sb, tb), _normalized(model, ya, ta), rtol=0, atol=1e-5)
    # and with the statistics swapped too, the physical outputs swap
    with torch.no_grad():
        for buf in (model.normalization.mean, model.normalization.std):
            buf[[a, b]] = buf[[b, a]].clone()
        torch.testing.assert_close(model(bands, p, ta), yb, rtol=0, atol=1e-6)


def test_source_set_conditions_the_encoder(spain_chip):
    """Same pixel values, different declared source sets -> different source codes and outputs."""
    model = small_adain_model()
    bands, present = spain_chip
    red = resolve_band("red").id
    one = torch.zeros_like(present)
    one[0, red] = 1.0
    src_one, _ = model.condition_codes(one, torch.tensor([0]))
    torch.testing.assert_close(src_one[0], model.source_mlp(model.source_embedding.weight[red]))
    with torch.no_grad():
        y_all = model(bands, present, torch.tensor([10]))
        y_one = model(bands, one, torch.tensor([10]))
    assert (y_all - y_one).abs().max() > 1e-3 * model.normalization.std[10]


# --- presence masking -------------------------------------------------------------------------------
def test_absent_bands_do_not_leak(spain_chip):
    model = small_adain_model()
    bands, present = spain_chip
    target = torch.tensor([resolve_band("cirrus").id])
    p = present.clone()
    absent = [resolve_band(k).id for k in ("cirrus", "nir_narrow", "swir_1", "thermal_1")]
    p[0, absent] = 0.0
    with torch.no_grad():
        ref = model(bands, p, target)
        for fill in (0.0, 1e6, -9999.0, math.nan, math.inf):
            x = bands.clone()
            x[0, absent] = fill
            torch.testing.assert_close(model(x, p, target), ref, rtol=0, atol=0)
        # a present band does matter
        x = bands.clone()
        x[0, resolve_band("red").id] *= 1.5
        assert (model(x, p, target) - ref).abs().max() > 1e-4 * model.normalization.std[target]


@pytest.mark.parametrize("source", ["coastal_aerosol", "red", "nir_broad", "water_vapour", "swir_2"])
def test_single_source_band(source, spain_chip):
    model = small_adain_model()
    bands, _ = spain_chip
    sid = resolve_band(source).id
    p = torch.zeros(1, NUM_CLASSES)
    p[0, sid] = 1.0
    target = torch.tensor([resolve_band("red_edge_2").id])
    with torch.no_grad():
        y = model(bands, p, target)
        only = torch.zeros_like(bands)
        only[0, sid] = bands[0, sid]
        assert torch.equal(model(only, p, target), y)  # nothing but the one band is read
        x = bands.clone()
        x[0, sid] = x[0, sid].flip(-1)  # a different image in the one band
        y2 = model(x, p, target)
    assert torch.isfinite(y).all()
    assert (y2 - y).abs().max() > 1e-4 * model.normalization.std[target]


def test_source_bands_restriction_masks_other_bands(spain_chip):
    model = small_adain_model(source_bands=["blue", "green", "red", "nir_broad"])
    bands, present = spain_chip
    target = torch.tensor([resolve_band("cirrus").id])
    with torch.no_grad():
        y = model(bands, present, target)  # present says 13 bands; the config allows 4
        x = bands.clone()
        x[0, resolve_band("swir_1").id] = 0.5
        torch.testing.assert_close(model(x, present, target), y, rtol=0, atol=0)
    assert model.usable_sources() == tuple(sorted(resolve_band(k).id for k in ("blue", "green", "red", "nir_broad")))


# --- normalization ----------------------------------------------------------------------------------
def test_set_normalization_forms_and_errors():
    m = create_model("adain_unet", **SMALL)
    assert m.normalization.fitted_stats() == {}
    m.set_normalization({"cirrus": (0.001, 0.0002), 3: (0.12, 0.05)})
    got = m.normalization.fitted_stats()
    assert sorted(got) == [3, 10]
    assert got[10] == pytest.approx((0.001, 0.0002)) and got[3] == pytest.approx((0.12, 0.05))
    means = [math.nan] * NUM_CLASSES
    stds = [math.nan] * NUM_CLASSES
    means[13], stds[13] = 25.0, 12.0
    m.set_normalization(means, stds)
    assert set(m.normalization.fitted_stats()) == {3, 10, 13}

    class Stats:  # the shape of training.data.BandStatistics: per-class sequences, NaN = unseen
        mean = tuple(0.2 if i == 5 else math.nan for i in range(NUM_CLASSES))
        std = tuple(0.07 if i == 5 else math.nan for i in range(NUM_CLASSES))

    m.set_normalization(Stats())
    assert set(m.normalization.fitted_stats()) == {3, 5, 10, 13} and m.normalization.fitted_stats()[5] == pytest.approx((0.2, 0.07))
    before = m.normalization.fitted_stats()
    with pytest.raises(ModelError, match="swir_1 has std 0"):
        m.set_normalization({"blue": (0.1, 0.02), "swir_1": (0.1, 0.0)})
    assert m.normalization.fitted_stats() == before  # nothing half-applied
    with pytest.raises(ModelError, match="expected 15 means"):
        m.set_normalization([0.1] * 13, [0.1] * 13)
    with pytest.raises(ModelError, match="red has a non-finite"):
        m.set_normalization({"red": (math.inf, 0.1)})
    # the statistics travel in the state dict (checkpoints carry them)
    m2 = create_model("adain_unet", **SMALL)
    m2.load_state_dict(m.state_dict())
    assert m2.normalization.fitted_stats() == m.normalization.fitted_stats()


def test_normalization_is_inside_the_model(spain_chip):
    """Physical in, physical out: scaling a band's values and its statistics together changes nothing
    in the normalized domain, so callers never normalize."""
    model = small_adain_model()
    bands, present = spain_chip
    t = torch.tensor([resolve_band("blue").id])
    p = present.clone()
    p[0, t] = 0.0
    with torch.no_grad():
        y = model(bands, p, t)
        stats = spain_stats()
        model.set_normalization({k: (10 * m, 10 * s) for k, (m, s) in stats.items()})
        y10 = model(bands * 10, p, t)
    torch.testing.assert_close(y10, 10 * y, rtol=1e-4, atol=1e-6)


# --- geometry ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [{}, {"depth": 2, "width": 8}, {"depth": 2, "width": 8, "upsample": "nearest"}])
def test_receptive_field_matches_gradient_probe(cfg):
    """The analytic receptive field equals the widest gradient support of an output pixel (instance
    norms replaced by identity, so that only the convolutions spread information)."""
    torch.manual_seed(0)
    model = create_model("adain_unet", **cfg).double()
    for mod in model.modules():
        if isinstance(getattr(mod, "norm", None), nn.InstanceNorm2d):
            mod.norm = nn.Identity()
    size = 160
    x = torch.randn(1, NUM_CLASSES, size, size, dtype=torch.float64, requires_grad=True)
    y = model(x, torch.ones(1, NUM_CLASSES, dtype=torch.float64), torch.tensor([3]))
    widest = 0
    for r in range(model.stride):
        (g,) = torch.autograd.grad(y[0, 0, size // 2 + r, size // 2 + r], x, retain_graph=True)
        rows = torch.nonzero(g.abs().sum(dim=(0, 1, 3)) > 0).flatten()
        cols = torch.nonzero(g.abs().sum(dim=(0, 1, 2)) > 0).flatten()
        widest = max(widest, int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))
    assert widest == model.receptive_field()
    t = model.tiling()
    assert t["stride"] == 2 ** model.config.depth
    assert t["overlap"] % t["stride"] == 0 and t["overlap"] >= (t["receptive_field"] - 1) / 2
    assert t["overlap"] - t["stride"] < (t["receptive_field"] - 1) / 2


def test_default_geometry_and_size():
    model = create_model("adain_unet")
    assert model.tiling() == {"tile_size": 256, "overlap": 48, "stride": 8, "receptive_field": 95}
    n = count_parameters(model)
    assert 200_000 <= n <= 1_000_000, n  # the default trains on 2 CPU cores
    with pytest.raises(ModelError, match="height 60 must be a multiple of the model stride 8"):
        model.check_input_size(60, 64)
    with pytest.raises(ModelError, match="at least 16"):
        model.check_input_size(64, 8)


def test_mac_count_is_per_pixel_constant():
    model = create_model("adain_unet")
    per_px = []
    for h, w in ((32, 32), (64, 96)):
        inputs = model.example_inputs(1, h, w)
        per_px.append(count_macs(model, inputs)["conv2d"] / (h * w))
    assert per_px[0] == per_px[1]
    # analytic count of the default (width 16, depth 3): 3x3 convs at each level / pixels at that level
    c = [16, 32, 64, 128]
    enc = 9 * (15 * c[0] + c[0] * c[0]) + sum(9 * (c[i - 1] * c[i] + c[i] * c[i]) / 4 ** i for i in range(1, 4))
    dec = sum(9 * (c[i + 1] * c[i] + 2 * c[i] * c[i]) / 4 ** i for i in range(3))
    assert per_px[0] == pytest.approx(enc + dec)


# --- it learns ----------------------------------------------------------------------------------------
def test_a_few_steps_fit_a_real_chip(spain_chip):
    """Gradients flow through the conditioning: 60 Adam steps on one real chip (cirrus from the other
    bands) cut the normalized error at least in half."""
    model = small_adain_model()
    model.train()
    bands, present = spain_chip
    t = torch.tensor([resolve_band("cirrus").id])
    p = present.clone()
    p[0, t] = 0.0
    truth = bands[:, t]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    std = model.normalization.std[t]
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(bands, p, t) - truth) / std).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]
