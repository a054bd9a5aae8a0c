"""ONNX export: parity with torch on real data for every target band, dynamic shapes, metadata round trip,
checkpoint -> `hls-translate export`, `hls-translate info`, refusals, atomic writes."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import NUM_CLASSES, resolve_band  # noqa: E402
from hls_translate.core.config import to_dict  # noqa: E402
from hls_translate.core.errors import ModelError, ModelMetadataError  # noqa: E402
from hls_translate.core.metadata import METADATA_KEY, SCHEMA_VERSION, read_metadata  # noqa: E402
from hls_translate.core.models import create_model  # noqa: E402
from hls_translate.core.grid import Window  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402
from hls_translate.training import export as export_mod  # noqa: E402
from hls_translate.training.checkpoint import save_checkpoint  # noqa: E402
from hls_translate.training.export import export_model  # noqa: E402

from support.adain_fixture import small_adain_model, small_adain_onnx, spain_stats  # noqa: E402
from support.data import SPAIN  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.torch, pytest.mark.data]  # every test reads the Spain scene

S2_CLASSES = tuple(range(13))  # the Spain scene has every reflectance class, no thermal


def _spain_crop(window):
    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, valid = scene.read_stack(ids, window)
    assert valid.all(), "the crop must be free of nodata"
    bands = np.zeros((NUM_CLASSES, window.height, window.width), np.float32)
    bands[ids] = values
    return bands, ids


@pytest.fixture(scope="module")
def default_export(tmp_path_factory):
    """The DEFAULT adain_unet (seeded, untrained) with statistics of the real Spain scene, exported."""
    torch.manual_seed(42)
    model = create_model("adain_unet")
    model.set_normalization(spain_stats())
    model.eval()
    path = tmp_path_factory.mktemp("export") / "adain_default.onnx"
    md = export_model(model, str(path), model_version="test-1", training={"scenes": ["Spain_7370579"]},
                      metrics={"rmse": 0.0123})
    return model, str(path), md


@pytest.fixture(scope="module")
def session(default_export):
    return ort.InferenceSession(default_export[1], providers=["CPUExecutionProvider"])


# --- parity on real data ----------------------------------------------------------------------------
@pytest.mark.parametrize("window", [Window(192, 160, 128, 128), Window(40, 300, 160, 96)],
                         ids=["128x128", "96x160"])
def test_parity_every_target_band_on_real_data(default_export, session, window):
    """ONNX Runtime == torch within 1e-4 absolute (reflectance) for every target band the model lists;
    each target synthesized from all the other bands of a real crop, all targets in ONE batch."""
    model, _, md = default_export
    assert md.target_bands == S2_CLASSES
    crop, ids = _spain_crop(window)
    targets = np.array(md.target_bands, dtype=np.int64)
    n = len(targets)
    bands = np.repeat(crop[None], n, axis=0)
    present = np.zeros((n, NUM_CLASSES), np.float32)
    present[:, ids] = 1.0
    present[np.arange(n), targets] = 0.0
    bands[np.arange(n), targets] = 0.0  # the band to synthesize is not given
    out = session.run(["output"], {"bands": bands, "present": present, "target": targets})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(bands), torch.from_numpy(present), torch.from_numpy(targets)).numpy()
    assert out.shape == (n, 1, window.height, window.width)
    diff = np.abs(out - ref).reshape(n, -1).max(axis=1)
    assert (diff <= 1e-4).all(), dict(zip(targets.tolist(), diff.tolist()))
    # each output is that target's band: de-normalized with its statistics (sanity of the comparison)
    for i, t in enumerate(targets):
        mean, std = md.normalization[int(t)].mean, md.normalization[int(t)].std
        assert abs(float(out[i].mean()) - mean) < 3 * std


def test_parity_single_source_band_on_real_data(default_export, session):
    model, _, _ = default_export
    crop, _ = _spain_crop(Window(300, 64, 64, 64))
    pairs = [("red", "red_edge_1"), ("nir_narrow", "cirrus"), ("swir_1", "swir_2"), ("blue", "water_vapour")]
    src = [resolve_band(a).id for a, _ in pairs]
    tgt = np.array([resolve_band(b).id for _, b in pairs], np.int64)
    bands = np.repeat(crop[None], len(pairs), axis=0)
    present = np.zeros((len(pairs), NUM_CLASSES), np.float32)
    present[np.arange(len(pairs)), src] = 1.0
    out = session.run(None, {"bands": bands, "present": present, "target": tgt})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(bands), torch.from_numpy(present), torch.from_numpy(tgt)).numpy()
    assert np.abs(out - ref).max() <= 1e-4


def test_dynamic_batch_height_width(tmp_path):
    model = small_adain_model()
    path = small_adain_onnx(tmp_path / "small.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(7)
    for n, h, w in ((1, 64, 64), (5, 96, 160), (2, 8, 260)):
        inputs = model.example_inputs(n, h, w, generator=g)
        out = sess.run(None, {k: t.numpy() for k, t in zip(("bands", "present", "target"), inputs)})[0]
        with torch.no_grad():
            ref = model(*inputs).numpy()
        assert out.shape == (n, 1, h, w)
        assert np.abs(out - ref).max() <= 1e-4
    # the graph declares symbolic N, H, W
    proto = onnx.load(path)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims == {"bands": ["N", 15, "H", "W"], "present": ["N", 15], "target": ["N"]}
    out_dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert proto.graph.output[0].name == "output" and out_dims == ["N", 1, "H", "W"]


def test_file_passes_checker_with_opset_17_and_is_small(default_export):
    _, path, _ = default_export
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    ops = {n.op_type for n in proto.graph.node}
    assert {"InstanceNormalization", "Gather", "Conv", "Resize"} <= ops
    assert os.path.getsize(path) < 4 * 2 ** 20


def test_opset_18_and_refuses_16(tmp_path):
    model = small_adain_model()
    export_model(model, str(tmp_path / "o18.onnx"), opset=18)
    proto = onnx.load(str(tmp_path / "o18.onnx"))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [18]
    with pytest.raises(ModelError, match="opset must be an integer from 17 to"):
        export_model(model, str(tmp_path / "o16.onnx"), opset=16)
    assert not (tmp_path / "o16.onnx").exists()
    with pytest.raises(ModelError, match=r"opset must be an integer from 17 to 2[0-9] .*got 10000"):
        export_model(model, str(tmp_path / "o16.onnx"), opset=10000)


# --- metadata -----------------------------------------------------------------------------------------
def test_metadata_round_trip(default_export):
    model, path, md = default_export
    back = read_metadata(path)
    assert back == md
    assert back.family == "adain" and back.architecture == "adain_unet" and back.conditional
    assert back.model_version == "test-1"
    assert [(t.name, t.role, t.dtype) for t in back.inputs] == [
        ("bands", "bands", "float32"), ("present", "presence", "float32"), ("target", "target", "int64")]
    assert back.input("bands").bands == tuple(range(NUM_CLASSES))
    assert back.tiling.stride == 8 and back.tiling.receptive_field == 95 and back.tiling.overlap == 48
    assert back.tiling.tile_size == 256
    assert back.source_bands == S2_CLASSES and back.target_bands == S2_CLASSES
    stats = spain_stats()
    assert set(back.normalization) == set(stats)
    for cid, (m, s) in stats.items():  # float32 buffers, as baked into the graph
        assert back.normalization[cid].mean == float(np.float32(m))
        assert back.normalization[cid].std == float(np.float32(s))
    assert back.training == {"scenes": ["Spain_7370579"]} and back.metrics == {"rmse": 0.0123}
    assert back.config == to_dict(model.config)
    assert [c["key"] for c in back.catalogue][10] == "cirrus" and len(back.catalogue) == NUM_CLASSES
    assert back.schema_version == SCHEMA_VERSION and back.created


def _rewrite_metadata(src, dst, edit):
    proto = onnx.load(src)
    for p in proto.metadata_props:
        if p.key == METADATA_KEY:
            doc = json.loads(p.value)
            edit(doc)
            p.value = json.dumps(doc)
    onnx.save(proto, dst)


def test_refuses_plain_onnx_and_newer_schema(tmp_path, default_export, capsys):
    plain = str(tmp_path / "plain.onnx")
    proto = onnx.load(default_export[1])
    del proto.metadata_props[:]
    onnx.save(proto, plain)
    with pytest.raises(ModelMetadataError, match="has no hls_translate metadata"):
        read_metadata(plain)
    assert cli.main(["info", plain]) == 2
    assert "has no hls_translate metadata" in capsys.readouterr().err

    newer = str(tmp_path / "newer.onnx")
    _rewrite_metadata(default_export[1], newer, lambda d: d.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(ModelMetadataError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        read_metadata(newer)
    assert cli.main(["info", newer, "--json"]) == 2
    err = capsys.readouterr().err
    assert "newer than this hls_translate understands" in err and "Traceback" not in err

    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("this is not a model\n")
    assert cli.main(["info", str(not_onnx)]) == 2
    assert "is not an ONNX model" in capsys.readouterr().err


def test_info_prints_metadata_without_torch_or_onnx(default_export):
    """`hls-translate info` runs with torch, onnx and onnxruntime unimportable."""
    path = default_export[1]
    code = ("import sys\n"
            "for m in ('torch', 'onnx', 'onnxruntime', 'rasterio'): sys.modules[m] = None\n"
            "from hls_translate.cli import main\n"
            f"rc = main(['info', {path!r}] + sys.argv[1:])\n"
            "assert not any(m in sys.modules and sys.modules[m] is not None for m in ('torch', 'onnx'))\n"
            "sys.exit(rc)\n")
    env = dict(os.environ)
    human = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert human.returncode == 0, human.stderr
    assert "adain (adain_unet), model version test-1" in human.stdout
    assert "tiling:        tile 256, overlap 48, stride 8, receptive field 95 px" in human.stdout
    assert "cirrus" in human.stdout and "mean 0.00109" in human.stdout
    js = subprocess.run([sys.executable, "-c", code, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    assert doc["schema"] == "hls_translate.model" and doc["metrics"] == {"rmse": 0.0123}
    assert doc["normalization"]["10"]["mean"] == pytest.approx(spain_stats()[10][0], rel=1e-6)


# --- checkpoints and the command -------------------------------------------------------------------------
def _checkpoint(tmp_path, model, **extra):
    state = {"model_name": model.model_name, "model_config": to_dict(model.config),
             "objective_name": "translation", "modules": {"model": model.state_dict()},
             "config": {"model": {"name": model.model_name}},
             "step": 1234, "epoch": 3,
             "metrics": {"val": {"rmse": np.float32(0.0125), "psnr": torch.tensor(31.5)}},
             "training_summary": {"scenes": ["Spain_7370579"], "held_out": ["T19UDP_20170729"],
                                  "chip": 64}}
    state.update(extra)
    return save_checkpoint(str(tmp_path / "ckpt.pt"), state)


def test_export_command_from_checkpoint(tmp_path, capsys):
    model = small_adain_model(seed=3)
    ckpt = _checkpoint(tmp_path, model)
    out = tmp_path / "model.onnx"
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "model version step1234" in printed
    md = read_metadata(str(out))
    assert md.model_version == "step1234"
    assert md.training == {"scenes": ["Spain_7370579"], "held_out": ["T19UDP_20170729"], "chip": 64,
                           "step": 1234, "epoch": 3, "checkpoint": "ckpt.pt"}
    assert md.metrics["val"]["rmse"] == pytest.approx(0.0125) and md.metrics["val"]["psnr"] == 31.5
    assert md.config["width"] == 8 and md.tiling.stride == 4
    # the exported network is the checkpoint's: same outputs as the torch model
    inputs = model.example_inputs(2, 32, 48)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, dict(zip(("bands", "present", "target"), (t.numpy() for t in inputs))))[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(*inputs).numpy(), rtol=0, atol=1e-4)
    # --model-version and --json
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(out), "--model-version", "2.0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == "2.0"
    assert read_metadata(str(out)).model_version == "2.0"


def test_export_command_errors_are_clear(tmp_path, capsys):
    model = small_adain_model()
    ckpt = _checkpoint(tmp_path, model)
    assert cli.main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(tmp_path / "no" / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "output folder" in err and "does not exist" in err
    # a checkpoint whose weights do not fit its config
    bad = _checkpoint(tmp_path, model, model_config={**to_dict(model.config), "width": 16})
    assert cli.main(["export", "--checkpoint", bad, "--out", str(tmp_path / "m.onnx")]) == 2
    assert "does not fit model 'adain_unet'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_refuses_a_model_without_statistics(tmp_path):
    with pytest.raises(ModelError, match="normalization statistics were never set"):
        export_model(create_model("adain_unet", width=8, depth=2, tile_size=64), str(tmp_path / "m.onnx"))
    model = small_adain_model(target_bands=["thermal_1"])  # no thermal statistics in the Spain scene
    with pytest.raises(ModelError, match="no target band class both allowed by the config and with statistics"):
        export_model(model, str(tmp_path / "m.onnx"))
    assert os.listdir(tmp_path) == []


def test_restricted_targets_and_unseen_sources(tmp_path):
    """target_bands restricts the metadata; classes without statistics are neither listed nor read."""
    model = small_adain_model(target_bands=["cirrus", "water_vapour"])
    md = export_model(model, str(tmp_path / "m.onnx"))
    assert md.target_bands == (9, 10) and md.source_bands == S2_CLASSES
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    bands, present, target = (t.numpy() for t in model.example_inputs(1, 32, 32))
    present[0, 13] = 1.0  # thermal_1 "present" but never seen in training: ignored by the exported model
    a = sess.run(None, {"bands": bands, "present": present, "target": target})[0]
    bands[0, 13] = 1e4
    b = sess.run(None, {"bands": bands, "present": present, "target": target})[0]
    np.testing.assert_array_equal(a, b)


def test_failed_export_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    model = small_adain_model()
    path = tmp_path / "m.onnx"
    export_model(model, str(path), model_version="good")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise ModelError("export check failed: simulated")

    monkeypatch.setattr(export_mod, "_verify", broken)
    with pytest.raises(ModelError, match="simulated"):
        export_model(model, str(path), model_version="bad")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]
    assert read_metadata(str(path)).model_version == "good"


def test_model_fixture_describes_itself_and_is_deterministic(tmp_path):
    path = small_adain_onnx(tmp_path / "fx.onnx")
    md = read_metadata(path)
    assert md.architecture == "adain_unet" and md.tiling.stride == 4 and md.tiling.tile_size == 64
    assert md.target_bands == S2_CLASSES and 13 not in md.source_bands
    again = small_adain_onnx(tmp_path / "fx2.onnx")
    a, b = onnx.load(path), onnx.load(again)
    assert [t.raw_data for t in a.graph.initializer] == [t.raw_data for t in b.graph.initializer]


def test_export_refuses_malformed_checkpoints_and_nan_weights_in_one_line(tmp_path, capsys):
    model = small_adain_model(seed=3)
    out = str(tmp_path / "m.onnx")
    for extra, says in (({"format_version": "2"}, "format_version '2' is not a positive integer"),
                        ({"model_config": "width=8"}, "model_config must be a mapping, got str"),
                        ({"step": "1234"}, "step must be an integer")):
        ckpt = _checkpoint(tmp_path, model, **extra)
        assert cli.main(["export", "--checkpoint", ckpt, "--out", out]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err
    assert cli.main(["export", "--checkpoint", _checkpoint(tmp_path, model), "--out", out, "--opset", "10000"]) == 2
    assert "opset must be an integer from 17" in capsys.readouterr().err
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    assert cli.main(["export", "--checkpoint", _checkpoint(tmp_path, model), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "weights are not finite" in err and "normalization" not in err, err
    assert not os.path.exists(out)


def test_export_on_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    model = small_adain_model(seed=3)
    ckpt = _checkpoint(tmp_path, model)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    import errno

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_mod, "_torch_export", full)
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_info_never_prints_terminal_control_characters(tmp_path, capsys):
    model = small_adain_model(seed=3)
    path = str(tmp_path / "m.onnx")
    export_model(model, path, description="nice model\x1b[2J\x1b]0;owned\x07 and \x9b31m red", verify=False)
    assert cli.main(["info", path]) == 0
    out = capsys.readouterr().out
    assert "nice model" in out and "\\x1b[2J" in out and "\\x9b31m" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b")
    assert cli.main(["info", path, "--json"]) == 0
    js = capsys.readouterr().out
    assert not any(ch in js for ch in "\x1b\x07\x9b")
    assert json.loads(js)["description"].startswith("nice model\x1b[2J")  # the value itself is kept exactly
