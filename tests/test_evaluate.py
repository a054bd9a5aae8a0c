"""Evaluation: the linear baseline's least squares, per-task metrics recomputed independently, checkpoint
vs ONNX agreement, the JSON/Markdown/PNG report, and the pair-model comparison; on the real scenes."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from hls_translate import cli  # noqa: E402
from hls_translate.core.bands import resolve_band  # noqa: E402
from hls_translate.core.metrics import rmse, ssim  # noqa: E402
from hls_translate.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from hls_translate.training.config import load_train_config  # noqa: E402
from hls_translate.training.data import prepare_data  # noqa: E402
from hls_translate.training.evaluate import LinearBaseline, crop_scene  # noqa: E402
from hls_translate.training.trainer import train  # noqa: E402

from support.training import tiny_config, write_config  # noqa: E402

B = {c: resolve_band(c, "S2").id for c in ("B02", "B03", "B04", "B05", "B08", "B8A", "B10", "B11", "B12")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("ev")
    cfg_path = write_config(tmp / "c.yaml", tiny_config(tmp / "run", run={"steps": 3}))
    cfg = load_train_config(str(cfg_path))
    res = train(cfg, log=lambda m: None)
    return tmp, cfg_path, cfg, res.last_checkpoint


def _lstsq(scenes, sources, target, weights):
    xs, ys, ws = [], [], []
    for s, w in zip(scenes, weights):
        ok = s.all_valid
        x = np.stack([np.ones(ok.sum())] + [s.values[s.channel(c)][ok] for c in sources], axis=1)
        xs.append(x)
        ys.append(s.values[s.channel(target)][ok])
        ws.append(np.full(ok.sum(), w / ok.sum()))
    x, y, w = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64), np.concatenate(ws)
    sw = np.sqrt(w)
    return np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]


def test_baseline_is_weighted_least_squares(trained):
    _, _, cfg, _ = trained
    data = prepare_data(cfg)
    base = LinearBaseline.fit(data.train)
    for sources, target in (([B["B8A"]], B["B05"]), ([B["B02"], B["B04"], B["B11"]], B["B03"])):
        got = base.coefficients(sources, target)
        want = _lstsq(data.train, sources, target, [s.weight for s in data.train])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # an exact linear relation between real bands is recovered exactly
    s = data.train[0]
    s2 = type(s)(**{**s.__dict__})
    s2.values = s.values.copy()
    s2.values[s.channel(B["B05"])] = 0.02 + 0.7 * s.values[s.channel(B["B04"])] + 0.25 * s.values[s.channel(B["B8A"])]
    exact = LinearBaseline.fit([s2]).coefficients([B["B04"], B["B8A"]], B["B05"])
    np.testing.assert_allclose(exact, [0.02, 0.7, 0.25], atol=1e-5)
    with pytest.raises(Exception, match="B10"):
        base.coefficients([B["B10"]], B["B05"])  # no training scene has cirrus
    again = LinearBaseline.from_dict(json.loads(json.dumps(base.to_dict())))
    np.testing.assert_allclose(again.coefficients([B["B8A"]], B["B05"]), base.coefficients([B["B8A"]], B["B05"]))


def test_evaluate_cli_checkpoint_report_values(trained, capsys):
    tmp, _, cfg, ckpt = trained
    out = tmp / "eval_ckpt"
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(out), "--max-size", "64"]) == 0
    printed = capsys.readouterr().out
    assert "model beats the linear baseline on" in printed
    rep = json.loads((out / "evaluation.json").read_text())
    assert rep["held_out"] == ["Spain"] and rep["trained_on"] == ["ben_a", "ben_b"]
    rows = rep["rows"]
    alls = [r for r in rows if r["source_set"] == "all"]
    singles = [r for r in rows if r["source_set"] == "single"]
    assert len(alls) == 12 and len(singles) == 12 * 11  # no cirrus: never in these training scenes
    assert "B10" not in {r["target"] for r in rows} and all("B10" not in r["sources"] for r in rows)
    # recompute one row independently: the model on the same crop, metrics from core.metrics
    data = prepare_data(cfg)
    values, valid, win = crop_scene(data.validation[0], 64, 4)
    assert win == (224, 224, 64, 64) and rep["scenes"][0]["evaluated"] == [224, 224, 64, 64]
    row = next(r for r in alls if r["target"] == "B05")
    srcs = [resolve_band(c, "S2").id for c in row["sources"]]
    model = model_from_checkpoint(load_checkpoint(ckpt))
    present = np.zeros((1, 15), np.float32)
    present[0, srcs] = 1
    x = np.zeros((1, 15, 64, 64), np.float32)
    x[0, srcs] = values[srcs]
    with torch.no_grad():
        pred = model(torch.from_numpy(x), torch.from_numpy(present), torch.tensor([B["B05"]])).numpy()[0, 0]
    ok = valid[B["B05"]] & valid[srcs].all(axis=0)
    assert row["model"]["rmse"] == pytest.approx(rmse(pred, values[B["B05"]], ok), rel=1e-5)
    assert row["model"]["ssim"] == pytest.approx(ssim(pred, values[B["B05"]], ok), rel=1e-5)
    coef = _lstsq(data.train, srcs, B["B05"], [s.weight for s in data.train])
    base_pred = coef[0] + sum(a * values[c] for a, c in zip(coef[1:], srcs))
    assert row["baseline"]["rmse"] == pytest.approx(rmse(base_pred, values[B["B05"]], ok), rel=1e-4)
    # summary consistent with the rows
    wins = [r["target"] for r in alls if r["model"]["rmse"] < r["baseline"]["rmse"]]
    assert rep["summary"]["targets_beating_baseline"] == wins
    md = (out / "evaluation.md").read_text()
    assert "| Spain | B05 | all other bands |" in md
    for name in ("heatmap.png", "scatter.png"):
        img = _png(out / name)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500, name
        colours = {tuple(c) for c in (img[..., :3].reshape(-1, 3)[::97] * 255).astype(int)}
        assert len(colours) > 20, name  # coloured cells / densities, not a blank image


def test_evaluate_without_some_source_bands(trained, capsys):
    tmp, _, _, ckpt = trained
    out = tmp / "eval_without"
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(out), "--max-size", "64",
                     "--without", "B8A", "B11"]) == 0
    rep = json.loads((out / "evaluation.json").read_text())
    assert rep["sources_left_out"] == ["B8A", "B11"]
    rows = rep["rows"]
    assert all("B8A" not in r["sources"] and "B11" not in r["sources"] for r in rows)
    alls = {r["target"]: r for r in rows if r["source_set"] == "all"}
    # still scored as targets, from the ten bands left (12 minus the target minus B11)
    assert len(alls) == 12 and len(alls["B8A"]["sources"]) == 10 and len(alls["B05"]["sources"]) == 9
    assert len([r for r in rows if r["source_set"] == "single"]) == 12 * 11 - 2 * 11
    assert "Never used as a source: B8A, B11." in (out / "evaluation.md").read_text()
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(tmp / "e2"), "--without", "B99"]) == 2
    assert "--without" in capsys.readouterr().err


def test_onnx_evaluation_matches_checkpoint(trained):
    tmp, cfg_path, _, ckpt = trained
    onnx_path = tmp / "m.onnx"
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(onnx_path)]) == 0
    a, b = tmp / "ea", tmp / "eb"
    common = ["--out", None, "--max-size", "64", "--sources", "all", "--targets", "B05", "B8A", "B12"]
    common[1] = str(a)
    assert cli.main(["evaluate", "--checkpoint", ckpt, *common]) == 0
    common[1] = str(b)
    assert cli.main(["evaluate", "--model", str(onnx_path), "--config", str(cfg_path), *common]) == 0
    ra = json.loads((a / "evaluation.json").read_text())["rows"]
    rb = json.loads((b / "evaluation.json").read_text())["rows"]
    assert [r["target"] for r in ra] == [r["target"] for r in rb] == ["B05", "B8A", "B12"]
    for x, y in zip(ra, rb):
        assert abs(x["model"]["rmse"] - y["model"]["rmse"]) < 1e-4
        assert x["baseline"]["rmse"] == pytest.approx(y["baseline"]["rmse"], rel=1e-9)
    # through the inference engine (tiled at the model's tile size, 64 here: one tile on the 64 px crop)
    c = tmp / "ec"
    common[1] = str(c)
    assert cli.main(["evaluate", "--model", str(onnx_path), "--config", str(cfg_path), "--tiled", *common]) == 0
    rep = json.loads((c / "evaluation.json").read_text())
    assert rep["inference"].startswith("tiled")
    for x, y in zip(ra, rep["rows"]):
        assert abs(x["model"]["rmse"] - y["model"]["rmse"]) < 1e-4


def test_pair_model_comparison(trained, capsys):
    tmp, cfg_path, _, ckpt = trained
    pair_cfg = tiny_config(tmp / "pair_run", run={"steps": 2},
                           data={"pairs": [{"sources": ["B8A"], "target": "B05"}]})
    pair_cfg["model"]["params"].update({"source_bands": ["nir_narrow"], "target_bands": ["red_edge_1"]})
    p = write_config(tmp / "pair.yaml", pair_cfg)
    assert cli.main(["train", "--config", str(p)]) == 0
    out = tmp / "eval_pair"
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(out), "--max-size", "64", "--sources", "all",
                     "--pair-model", str(tmp / "pair_run" / "last.pt")]) == 0
    rep = json.loads((out / "evaluation.json").read_text())
    (c,) = rep["pair_comparison"]
    assert c["sources"] == ["B8A"] and c["target"] == "B05"
    main_row = next(r for r in rep["rows"] if r["source_set"] == "pair")
    assert c["conditional_rmse"] == main_row["model"]["rmse"]
    assert c["relative_difference"] == pytest.approx(c["conditional_rmse"] / c["pair_model_rmse"] - 1)
    assert "B8A -> B05" in (out / "evaluation.md").read_text()
    # the extra pair row does not change the headline (all other bands) summary
    assert len(rep["summary"]["per_target"]) == 12
    # a pair model whose source --without leaves out cannot be compared: refused, naming both
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(tmp / "eval_pair2"), "--max-size", "64",
                     "--without", "B8A", "--pair-model", str(tmp / "pair_run" / "last.pt")]) == 2
    err = capsys.readouterr().err
    assert "--pair-model" in err and "B8A" in err and "--without" in err
    assert not (tmp / "eval_pair2").exists()


def test_evaluate_errors(trained, capsys):
    tmp, _, _, ckpt = trained
    assert cli.main(["evaluate", "--model", ckpt, "--out", str(tmp / "x")]) == 2
    assert "not an ONNX model" in capsys.readouterr().err
    onnx_path = tmp / "m2.onnx"
    assert cli.main(["export", "--checkpoint", ckpt, "--out", str(onnx_path)]) == 0
    assert cli.main(["evaluate", "--model", str(onnx_path), "--out", str(tmp / "x")]) == 2
    assert "--model needs --config" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", str(tmp / "no" / "such" / "x")]) == 2
    assert "--out" in capsys.readouterr().err
    # a report folder that takes no files is found before the work (here: /proc, which no one can write)
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--out", "/proc/hls_translate_eval"]) == 2
    err = capsys.readouterr().err
    assert "--out: cannot write into /proc" in err and "evaluating" not in err
    # a training scene passed as --scene is not scored as held out
    from support.data import BIGEARTHNET

    train_scene = BIGEARTHNET / "S2A_MSIL2A_20170617T113321_36_85"
    assert cli.main(["evaluate", "--checkpoint", ckpt, "--scene", str(train_scene), "--out", str(tmp / "y")]) == 2
    assert "is the training scene data.train[0]" in capsys.readouterr().err


def _png(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def test_gradient_boosted_baseline_use_case_and_tiling_check(trained, capsys):
    """--use-case scores red edge / NIR / water vapour from the L30 bands; both baselines in the rows;
    --check-tiling records the tiled vs whole-image difference (an instance-norm U-Net: not zero)."""
    tmp, cfg_path, _, ckpt = trained
    out = tmp / "eval_gbt"
    onnx_path = str(tmp / "gbt_model.onnx")
    assert cli.main(["export", "--checkpoint", ckpt, "--out", onnx_path]) == 0
    assert cli.main(["evaluate", "--model", onnx_path, "--config", str(cfg_path), "--out", str(out), "--sources",
                     "all", "--max-size", "64", "--use-case", "--check-tiling", "--tiled", "--gbt-pixels", "2000"]) == 0
    printed = capsys.readouterr().out
    rep = json.loads((out / "evaluation.json").read_text())
    alls = [r for r in rep["rows"] if r["source_set"] == "all"]
    use = [r for r in rep["rows"] if r["source_set"] == "landsat"]
    assert alls and all("gbt" in r and "baseline" in r and r["tiling_difference"] is not None for r in alls)
    assert {r["target"] for r in use} == {"B05", "B06", "B07", "B08", "B09"}
    assert all(set(r["sources"]) == {"B01", "B02", "B03", "B04", "B8A", "B11", "B12"} for r in use)
    gbt = [r["gbt"]["rmse"] for r in alls]
    lin = [r["baseline"]["rmse"] for r in alls]
    assert all(0 < g < 0.5 for g in gbt) and np.mean(gbt) < 1.5 * np.mean(lin)  # a real fit, not a constant
    s = rep["summary"]
    assert s["fraction_beating_gbt"] == pytest.approx(np.mean([r["model"]["rmse"] < r["gbt"]["rmse"] for r in alls]))
    assert s["max_tiling_difference"] == pytest.approx(max(r["tiling_difference"] for r in rep["rows"]))
    md = (out / "evaluation.md").read_text()
    assert "## Use case: the Landsat / HLS L30 bands as input" in md and "GBT RMSE" in md
    assert "gradient-boosted baseline" in printed and "use case" in printed
    assert _png(out / "scatter_landsat.png").shape[1] > 500



def test_fixed_band_model_is_scored_with_its_baseline(trained, tmp_path):
    """A fixed-band model (B02, B03, B04 -> B05, B8A, a 1x1 convolution built with onnx.helper) is scored on
    each of its outputs from its inputs, against the least squares from the same inputs; tiled or not."""
    from support.onnx_models import fixed_model

    _, cfg_path, cfg, _ = trained
    weights = np.array([[0.2, 0.3, 0.6], [-0.5, 0.4, 1.1]])
    srcs, outs = [B["B02"], B["B03"], B["B04"]], [B["B05"], B["B8A"]]
    path = fixed_model(tmp_path / "fixed.onnx", srcs, outs, weights, tile=32, overlap=8, stride=4)
    reports = {}
    for mode in ("whole", "tiled"):
        out = tmp_path / mode
        extra = ["--tiled"] if mode == "tiled" else []
        assert cli.main(["evaluate", "--model", path, "--config", str(cfg_path), "--out", str(out),
                         "--max-size", "64", *extra]) == 0
        reports[mode] = json.loads((out / "evaluation.json").read_text())
    rep = reports["whole"]
    rows = rep["rows"]
    assert [r["target"] for r in rows] == ["B05", "B8A"] and {r["source_set"] for r in rows} == {"fixed"}
    assert all(r["sources"] == ["B02", "B03", "B04"] for r in rows)
    assert rep["model"]["sources"] == ["B02", "B03", "B04"] and rep["model"]["targets"] == ["B05", "B8A"]
    data = prepare_data(cfg)
    values, valid, _ = crop_scene(data.validation[0], 64, 4)
    ok_src = valid[srcs].all(axis=0)
    for r, w, t in zip(rows, weights, outs):
        ok = ok_src & valid[t]
        pred = np.tensordot(w, values[srcs].astype(np.float64), 1)
        assert r["model"]["rmse"] == pytest.approx(rmse(pred, values[t], ok), rel=1e-5)
        coef = _lstsq(data.train, srcs, t, [s.weight for s in data.train])
        base_pred = coef[0] + sum(a * values[c] for a, c in zip(coef[1:], srcs))
        assert r["baseline"]["rmse"] == pytest.approx(rmse(base_pred, values[t], ok), rel=1e-4)
    wins = [r["target"] for r in rows if r["model"]["rmse"] < r["baseline"]["rmse"]]
    assert rep["summary"]["targets_beating_baseline"] == wins and len(rep["summary"]["per_target"]) == 2
    assert "| Spain | B05 | the model's inputs |" in (tmp_path / "whole" / "evaluation.md").read_text()
    # tiled at the model's 32 px tiles, blended: a per-pixel model gives the same scores
    for x, y in zip(rows, reports["tiled"]["rows"]):
        assert x["model"]["rmse"] == pytest.approx(y["model"]["rmse"], rel=1e-5)


def test_label_map_models_are_not_evaluated(trained, tmp_path, capsys):
    from support.onnx_models import label_map_model
    from hls_translate.core.metadata import LabelClass

    _, cfg_path, _, _ = trained
    path = label_map_model(tmp_path / "lm.onnx", [LabelClass(1, "a"), LabelClass(2, "b")], [B["B05"]],
                           np.array([[0.1, 0.2]]))
    assert cli.main(["evaluate", "--model", path, "--config", str(cfg_path), "--out", str(tmp_path / "e")]) == 2
    assert "label map model" in capsys.readouterr().err
