"""The tree prior (``hls-translate fit-trees``, ``export --trees``): per-pixel gradient-boosted trees per
target, fitted on real training scenes, saved without pickle, grafted into an exported network's ONNX
graph as ONNX-ML's ``TreeEnsembleRegressor``, so that ONNX Runtime outputs ``(1 - w) network + w trees``.

Checked against scikit-learn's own predictions (the trees' conversion), against the numpy reference and
the plain network's ONNX output (the graft), through ``predict`` on a real scene (georeferencing kept,
tiled = whole), and on the refusals (bad weight, a fixed-band model, a file that is not a prior)."""

import dataclasses
import json
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
onnx = pytest.importorskip("onnx")

from support.data import SPAIN  # noqa: E402
from support.training import tiny_config, write_config  # noqa: E402

pytestmark = pytest.mark.data

SPECTRAL = {"width": 8, "blocks": 1, "linear_prior": True, "interpolation_prior": True}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A short real training on two BigEarthNet L2A patches, and a small tree prior fitted on the same
    training scenes (25 iterations per target), with scikit-learn's regressors kept for comparison."""
    from hls_translate.training.config import config_from_dict
    from hls_translate.training.data import load_scenes
    from hls_translate.training.trainer import train
    from hls_translate.training.trees import fit_tree_prior

    tmp = tmp_path_factory.mktemp("trees")
    raw = tiny_config(tmp / "run", model={"name": "spectral_mlp", "params": dict(SPECTRAL)})
    raw["data"]["chip_size"] = 8
    raw["run"].update(steps=6, batch_size=16, seed=0)
    cfg = config_from_dict(raw)
    ckpt = train(cfg, log=lambda m: None).last_checkpoint
    scenes = load_scenes(cfg.data.train, cfg.data, "train", chip=cfg.data.chip_size)
    regs = {}
    targets = (4, 5, 11)  # red edge 1, red edge 2, SWIR 1
    prior = fit_tree_prior(scenes, targets, tuple(range(15)), pixels_per_scene=3000, max_iter=25, seed=0,
                           regressors=regs)
    return {"tmp": tmp, "raw": raw, "cfg": cfg, "ckpt": ckpt, "scenes": scenes, "prior": prior, "regs": regs,
            "targets": targets}


def _features(scene, keep):
    """[P, 15] float32 features of every valid pixel of ``scene``, NaN outside ``keep``."""
    ok = scene.all_valid.ravel()
    x = np.full((int(ok.sum()), 15), np.nan, dtype=np.float32)
    for ch, c in enumerate(scene.band_ids):
        if c in keep:
            x[:, c] = scene.values[ch].ravel()[ok]
    return x


def test_the_converted_trees_predict_what_scikit_learn_predicts(fitted):
    """For every target and three source sets (all other bands, the L30 bands, two bands), the prior's
    numpy traversal of the converted trees equals scikit-learn's predict (float32 thresholds rounded down:
    the same decisions), and the trees fit the target far better than its mean would."""
    prior, regs, scene = fitted["prior"], fitted["regs"], fitted["scenes"][0]
    assert sorted(regs) == sorted(fitted["targets"]) and prior.n_trees == 25 * 3
    for t in fitted["targets"]:
        reg, cols = regs[t]
        truth = scene.values[scene.channel(t)].ravel()[scene.all_valid.ravel()]
        for keep in (set(scene.band_ids) - {t}, {0, 1, 2, 3, 8, 11, 12} - {t}, {2, 3}):
            x = _features(scene, keep)
            ours = prior.predict(x, t)
            ref = reg.predict(x[:, cols].astype(np.float64))
            assert np.abs(ours - ref).max() < 1e-9, (t, sorted(keep))
        rmse = float(np.sqrt(np.mean((prior.predict(_features(scene, set(scene.band_ids) - {t}), t) - truth) ** 2)))
        assert rmse < 0.5 * float(truth.std()), (t, rmse, truth.std())


def test_a_saved_prior_loads_equal_and_without_pickle(fitted, tmp_path):
    from hls_translate.core.errors import ModelError
    from hls_translate.training.trees import TreePrior

    prior = fitted["prior"]
    path = prior.save(tmp_path / "t.npz")
    back = TreePrior.load(path)
    for name in ("targets", "base", "tree_target", "tree_start", "nodes_feature", "nodes_threshold", "nodes_left",
                 "nodes_right", "nodes_missing_left", "nodes_leaf", "nodes_value"):
        assert np.array_equal(getattr(back, name), getattr(prior, name)), name
    assert back.info == json.loads(json.dumps(dict(prior.info)))
    # an object array needs pickle to load: refused, never unpickled
    bad = tmp_path / "pickled.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(bad, **{**arrays, "info": np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(ModelError, match="pickled.npz.*cannot read"):
        TreePrior.load(bad)
    # a split pointing outside its tree is named
    broken = tmp_path / "broken.npz"
    left = arrays["nodes_left"].copy()
    left[int(np.flatnonzero(arrays["nodes_leaf"] == 0)[0])] = 10 ** 6
    np.savez(broken, **{**arrays, "nodes_left": left})
    with pytest.raises(ModelError, match="broken.npz: a split points outside its tree"):
        TreePrior.load(broken)
    other = tmp_path / "other.npz"
    np.savez(other, values=np.zeros(3))
    with pytest.raises(ModelError, match="other.npz: not a tree prior"):
        TreePrior.load(other)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(ModelError, match="text.npz"):
        TreePrior.load(text)
    assert zipfile.is_zipfile(path)


def _run(path, feeds):
    from hls_translate.core.runtime import OnnxModel

    return OnnxModel(str(path)).run(feeds)


def _spain_feeds(col, row, width, height, keeps, targets):
    """Engine-style feeds from a real Spain crop (13 bands, DN x 1e-4; its bands are classes 0..12): item i
    has the classes of ``keeps[i]`` present, every other absent, and asks for ``targets[i]``."""
    from osgeo import gdal

    raw = gdal.Open(str(SPAIN)).ReadAsArray(col, row, width, height).astype(np.float32) * 1e-4
    bands = np.zeros((len(keeps), 15, height, width), np.float32)
    present = np.zeros((len(keeps), 15), np.float32)
    for i, keep in enumerate(keeps):
        for c in keep:
            bands[i, c], present[i, c] = raw[c], 1.0
    return {"bands": bands, "presence": present, "target": np.asarray(targets, np.int64)}


def _item_rows(feeds, i):
    """Item ``i`` of ``feeds`` as the trees' rows [H*W, 15] (absent classes NaN)."""
    x = np.transpose(feeds["bands"][i], (1, 2, 0)).reshape(-1, 15).copy()
    x[:, feeds["presence"][i] < 0.5] = np.nan
    return x


def test_the_grafted_graph_outputs_the_blend_of_network_and_trees(fitted, tmp_path):
    """The same checkpoint exported with and without the prior: on real Spain pixels, with a different source
    set per item (absent bands are NaN to the trees), ONNX Runtime's output is (1 - w) network + w trees for
    the targets the prior covers (to 1e-5 reflectance) and the network's alone for one it does not cover;
    the metadata records the prior and its weight."""
    from hls_translate.core.metadata import read_metadata
    from hls_translate.training.export import export_checkpoint

    prior = fitted["prior"]
    plain, hybrid = tmp_path / "plain.onnx", tmp_path / "hybrid.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    prior_path = prior.save(tmp_path / "trees.npz")
    md = export_checkpoint(str(fitted["ckpt"]), str(hybrid), trees=prior_path, tree_weight=0.3)
    tp = md.training["tree_prior"]
    assert tp["weight"] == 0.3 and tp["trees"] == 75 and tp["targets"] == ["red_edge_1", "red_edge_2", "swir_1"]
    assert read_metadata(str(hybrid)).training["tree_prior"]["nodes"] == prior.n_nodes
    assert "gradient-boosted trees" in md.description

    # items: all others -> B05, L30 bands -> B06, two bands -> B11, all others -> B02
    targets = np.array([4, 5, 11, 1], np.int64)
    keeps = [set(range(13)) - {4}, {0, 1, 2, 3, 8, 10, 11, 12}, {2, 3}, set(range(13)) - {1}]
    feeds = _spain_feeds(200, 200, 48, 40, keeps, targets)
    net, out = _run(plain, feeds), _run(hybrid, feeds)
    for i, keep in enumerate(keeps):
        if prior.has_target(int(targets[i])):
            trees = prior.predict(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
            want = 0.7 * net[i, 0] + 0.3 * trees
            assert np.abs(out[i, 0] - want).max() < 1e-5, i
            assert np.abs(trees - net[i, 0]).mean() > 1e-3  # the trees do change the output
        else:
            assert np.array_equal(out[i, 0], net[i, 0])


def test_predict_with_the_hybrid_keeps_georeferencing_and_tiles_exactly(fitted, tmp_path):
    """``predict`` with the grafted model on the real Spain scene: output georeferenced as the input,
    64 px tiles give the whole-image result (the trees are per pixel), and ``info`` names the prior."""
    from osgeo import gdal

    from hls_translate.cli import main

    model = tmp_path / "h.onnx"
    prior_path = fitted["prior"].save(tmp_path / "trees.npz")
    assert main(["export", "--checkpoint", str(fitted["ckpt"]), "--trees", str(prior_path), "--out", str(model)]) == 0
    outs = {}
    for name, extra in (("whole", ["--tile", "512"]), ("tiled", ["--tile", "64"])):
        outs[name] = tmp_path / f"b05_{name}.tif"
        assert main(["predict", "--model", str(model), "--input", str(SPAIN), "--target", "B05",
                     "--out", str(outs[name]), *extra]) == 0
    a = gdal.Open(str(outs["whole"]))
    b = gdal.Open(str(outs["tiled"]))
    assert np.array_equal(a.ReadAsArray(), b.ReadAsArray())
    src = gdal.Open(str(SPAIN))
    assert a.GetGeoTransform() == src.GetGeoTransform() and a.GetProjection() == src.GetProjection()


def test_export_refuses_a_bad_weight_a_fixed_band_model_and_a_foreign_file(fitted, tmp_path):
    from hls_translate.core.errors import ModelError
    from hls_translate.training.export import export_checkpoint, export_model

    prior = fitted["prior"]
    for w in (0.0, 1.5, True):
        with pytest.raises(ModelError, match="tree-weight"):
            export_checkpoint(str(fitted["ckpt"]), str(tmp_path / "x.onnx"), trees=prior, tree_weight=w)
    from hls_translate.core.models import create_model

    fixed = create_model("pix2pix_unet", width=4, downsamplings=3, tile_size=32)
    with pytest.raises(ModelError, match="fixed bands model; the tree prior is grafted into a conditional model"):
        export_model(fixed, str(tmp_path / "p.onnx"), trees=prior)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(2))
    with pytest.raises(ModelError, match="foreign.npz: not a tree prior"):
        export_checkpoint(str(fitted["ckpt"]), str(tmp_path / "y.onnx"), trees=str(foreign))
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()


def test_fit_trees_command_on_a_config(fitted, tmp_path, capsys):
    """``hls-translate fit-trees`` on a real config writes a prior for the config's targets; an unknown
    config key is an error that names it."""
    from hls_translate.cli import main
    from hls_translate.training.trees import TreePrior

    raw = dict(fitted["raw"])
    raw["data"] = {**raw["data"], "targets": ["red_edge_1", "swir_2"]}
    cfg = write_config(tmp_path / "c.yaml", raw)
    out = tmp_path / "t.npz"
    assert main(["fit-trees", "--config", str(cfg), "--out", str(out), "--pixels", "500", "--iterations", "5"]) == 0
    prior = TreePrior.load(out)
    assert prior.describe()["targets"] == ["red_edge_1", "swir_2"] and prior.n_trees == 10
    assert prior.info["training_scenes"] == ["ben_a", "ben_b"] and prior.info["seed"] == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["fit-trees", "--config", str(cfg), "--out", str(out), "data.bogus=1"]) == 2
    assert "data.bogus" in capsys.readouterr().err
    # the features: the config model's sources by default (this config's model declares none: every class),
    # or the ones named
    assert main(["fit-trees", "--config", str(cfg), "--out", str(out), "--pixels", "500", "--iterations", "5",
                 "--sources", "B02", "B03", "B04"]) == 0
    prior = TreePrior.load(out)
    assert prior.info["sources"] == ["blue", "green", "red"]
    assert set(np.unique(prior.nodes_feature[prior.nodes_leaf == 0]).tolist()) <= {1, 2, 3}
    capsys.readouterr()
    assert main(["fit-trees", "--config", str(cfg), "--out", str(out), "--sources", "B77"]) == 2
    assert "--sources" in capsys.readouterr().err
    raw["model"] = {"name": "spectral_mlp", "params": {**SPECTRAL, "source_bands": ["B02", "B03", "B04", "B8A"]}}
    cfg = write_config(tmp_path / "own.yaml", raw)
    assert main(["fit-trees", "--config", str(cfg), "--out", str(out), "--pixels", "500", "--iterations", "5"]) == 0
    assert TreePrior.load(out).info["sources"] == ["blue", "green", "red", "nir_narrow"]


def test_trees_on_the_linear_fits_residual_add_the_fit_back_in_the_graph(fitted, tmp_path):
    """``on_linear``: the trees fit ``target - linear fit``; the prior's full prediction is scikit-learn's
    trees plus ``LinearBaseline``'s fit of the same source set (so it extrapolates linearly: far outside the
    training range it follows the line, where plain trees stay flat); it survives save/load, and the grafted
    graph (the linear solve exported into it) outputs the blend with it, to 1e-5."""
    from hls_translate.training.evaluate import LinearBaseline
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trees import TreePrior, fit_tree_prior

    scenes, regs = fitted["scenes"], {}
    prior = fit_tree_prior(scenes, (4, 11), tuple(range(15)), pixels_per_scene=3000, max_iter=15, seed=0,
                           regressors=regs, on_linear=True)
    assert prior.on_linear and prior.info["base"].startswith("linear")
    lb = LinearBaseline.fit(scenes)
    scene = scenes[1]
    for t in (4, 11):
        keep = set(scene.band_ids) - {t}
        x = _features(scene, keep)
        reg, cols = regs[t]
        src = sorted(keep)
        lin = lb.coefficients(src, t)
        want = reg.predict(x[:, cols].astype(np.float64)) + lin[0] + x[:, src].astype(np.float64) @ lin[1:]
        assert np.abs(prior.predict_full(x, t) - want).max() < 1e-6, t
    # twice as bright as anything trained on: the trees add a bounded correction to the line
    x = _features(scene, set(scene.band_ids) - {11}) * 2.0
    line = prior.linear(x, 11)
    assert np.abs(prior.predict_full(x, 11) - line).max() <= np.abs(prior.nodes_value).sum() + abs(prior.base).max()
    back = TreePrior.load(prior.save(tmp_path / "lin.npz"))
    assert back.on_linear and np.array_equal(back.linear_moments, prior.linear_moments)
    assert np.array_equal(back.sources, prior.sources)

    plain, hybrid = tmp_path / "plain.onnx", tmp_path / "hybrid.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    export_checkpoint(str(fitted["ckpt"]), str(hybrid), trees=back, tree_weight=0.5)  # its own check passes
    targets = np.array([4, 11], np.int64)
    feeds = _spain_feeds(100, 300, 32, 24, [set(range(13)) - {4}, {0, 1, 2, 3, 8, 10, 12}], targets)
    net, out = _run(plain, feeds), _run(hybrid, feeds)
    for i in range(2):
        want = 0.5 * net[i, 0] + 0.5 * back.predict_full(_item_rows(feeds, i), int(targets[i])).reshape(24, 32)
        assert np.abs(out[i, 0] - want).max() < 1e-5, i


def test_relative_trees_scale_with_brightness_and_match_in_the_graph(fitted, tmp_path):
    """``relative``: the trees see each reflective band over the pixel's brightness (the mean of its present
    reflective bands) and predict the target over it.  The prior's prediction is scikit-learn's on those
    features times the brightness; a pixel twice as bright (same shape, beyond the training range) gets
    twice the prediction where plain trees stay flat; the flag survives save/load (and refuses to combine
    with ``on_linear``); the grafted graph computes the same brightness bits (class-by-class float32 sums),
    so ONNX Runtime outputs the blend to 1e-5 on real Spain pixels with different source sets per item."""
    from hls_translate.core.errors import ModelError
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trees import TreePrior, brightness, fit_tree_prior, relative_features

    scenes, regs = fitted["scenes"], {}
    prior = fit_tree_prior(scenes, (4, 11), tuple(range(15)), pixels_per_scene=3000, max_iter=15, seed=0,
                           regressors=regs, relative=True)
    assert prior.relative and not prior.on_linear and prior.info["relative"] != "no"
    assert prior.nodes_feature[prior.nodes_leaf == 0].max() == 15  # the brightness is split on
    scene = scenes[1]
    for t in (4, 11):
        keep = set(scene.band_ids) - {t}
        x = _features(scene, keep)
        reg, cols = regs[t]
        feats, b = relative_features(x)
        refl = [c for c in sorted(keep) if c < 13]
        assert np.allclose(b, np.maximum(x[:, refl].mean(axis=1), 0.01), rtol=1e-6)
        want = reg.predict(feats[:, cols].astype(np.float64)) * b
        assert np.abs(prior.predict(x, t) - want).max() < 1e-6, t
        truth = scene.values[scene.channel(t)].ravel()[scene.all_valid.ravel()]
        assert float(np.sqrt(np.mean((prior.predict(x, t) - truth) ** 2))) < 0.5 * float(truth.std())
    # beyond the brightest split on the brightness, a pixel k times as bright gets k times the prediction
    # (the spectral shape is the same), where the plain trees, beyond their largest split, stay flat
    x = _features(scene, set(scene.band_ids) - {11})
    x = x[np.nanmin(x, axis=1) > 0.01]
    top = float(prior.nodes_threshold[(prior.nodes_leaf == 0) & (prior.nodes_feature == 15)].max())
    plain_top = float(fitted["prior"].nodes_threshold[fitted["prior"].nodes_leaf == 0].max())
    x = x * np.float32(2 * max(top, plain_top) / np.nanmin(x))  # every band above every split
    assert np.allclose(prior.predict(2 * x, 11), 2 * prior.predict(x, 11), rtol=1e-6)
    assert np.array_equal(fitted["prior"].predict(2 * x, 11), fitted["prior"].predict(x, 11))
    assert np.array_equal(brightness(np.full((2, 15), np.nan, np.float32)), np.ones(2, np.float32))
    back = TreePrior.load(prior.save(tmp_path / "rel.npz"))
    assert back.relative and np.array_equal(back.nodes_feature, prior.nodes_feature)
    assert not TreePrior.load(fitted["prior"].save(tmp_path / "plain.npz")).relative
    with pytest.raises(ModelError, match="relative and on_linear"):
        fit_tree_prior(scenes, (4,), tuple(range(15)), pixels_per_scene=300, max_iter=2, relative=True, on_linear=True)

    plain, hybrid = tmp_path / "plain.onnx", tmp_path / "hybrid.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    export_checkpoint(str(fitted["ckpt"]), str(hybrid), trees=back, tree_weight=0.5)  # its own check passes
    targets = np.array([4, 11, 11], np.int64)
    feeds = _spain_feeds(100, 300, 48, 40, [set(range(13)) - {4}, {0, 1, 2, 3, 8, 10, 12}, {2}], targets)
    net, out = _run(plain, feeds), _run(hybrid, feeds)
    for i in range(3):
        want = 0.5 * net[i, 0] + 0.5 * back.predict(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
        assert np.abs(out[i, 0] - want).max() < 1e-5, i


def test_per_set_trees_route_by_the_bands_present_and_match_in_the_graph(fitted, tmp_path, capsys):
    """``per_set``: each target has three ensembles (any source set; only the rows with all other bands;
    only the rows with the L30 bands).  The route follows the bands present: a Sentinel-2 scene's other
    bands, the L30 bands (cirrus, coastal, thermal optional), anything else (a core band missing, a red edge
    band among L30 bands, a partial Sentinel-2 set).  Each routed prediction is that ensemble's scikit-learn
    prediction; the arrays survive save/load and a set_has that disagrees with the trees is named; in the
    graph, one batch with items on every route of one target outputs the blend to 1e-5 on real Spain pixels;
    the model report says so; --per-set with --relative is refused before any scene is read."""
    from hls_translate.cli import main
    from hls_translate.core.errors import ModelError
    from hls_translate.core.metadata import read_metadata
    from hls_translate.core.model_report import model_report
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trees import (ALL_OTHERS, L30_SET, SHARED, TreePrior, fit_tree_prior,
                                              source_set_route)

    def route(keep, t):
        present = np.zeros((1, 15), bool)
        present[0, sorted(keep)] = True
        return int(source_set_route(present, t)[0])

    s2 = set(range(13))
    l30 = {0, 1, 2, 3, 8, 10, 11, 12}
    assert route(s2 - {4}, 4) == ALL_OTHERS and route(s2 - {9, 10, 4}, 4) == ALL_OTHERS  # an L2A scene
    assert route(s2 - {11}, 11) == ALL_OTHERS and route((s2 | {13, 14}) - {7}, 7) == ALL_OTHERS
    assert route(l30 - {11}, 11) == L30_SET and route(l30 - {0, 10}, 4) == L30_SET  # T37MEM's L30 bands
    assert route(l30 | {13, 14}, 5) == L30_SET and route(l30 - {3}, 3) == L30_SET  # Landsat with thermal
    assert route(l30 - {2}, 4) == SHARED  # a core band missing
    assert route(l30 | {9}, 4) == SHARED and route(l30 | {5}, 4) == SHARED  # not the L30 set, not all
    assert route(s2 - {4, 6}, 4) == SHARED and route({2, 3}, 11) == SHARED

    scenes, regs = fitted["scenes"], {}
    prior = fit_tree_prior(scenes, (4, 11), tuple(range(15)), pixels_per_scene=3000, max_iter=10, seed=0,
                           regressors=regs, per_set=True)
    assert prior.per_set and prior.n_trees == 2 * 3 * 10 and prior.set_has.tolist() == [[1, 1], [1, 1]]
    assert prior.info["per_set"] != "no" and fitted["prior"].info["per_set"] == "no"
    scene = scenes[0]
    for t in (4, 11):
        for keep, kind in ((set(scene.band_ids) - {t}, ALL_OTHERS), (l30 - {t}, L30_SET), ({2, 3}, SHARED)):
            x = _features(scene, keep)
            assert (prior.route(~np.isnan(x), t) == kind).all()
            reg, cols = regs[t] if kind == SHARED else regs[(t, kind)]
            assert np.abs(prior.predict(x, t) - reg.predict(x[:, cols].astype(np.float64))).max() < 1e-9, (t, kind)
            if kind != SHARED:  # the set's own ensemble is not the shared one
                assert np.abs(prior.predict(x, t) - regs[t][0].predict(x[:, regs[t][1]].astype(np.float64))).mean() > 1e-4
    path = prior.save(tmp_path / "per_set.npz")
    back = TreePrior.load(path)
    assert back.per_set and all(np.array_equal(getattr(back, k), getattr(prior, k))
                                for k in ("tree_set", "set_base", "set_has", "tree_target", "nodes_value"))
    assert not TreePrior.load(fitted["prior"].save(tmp_path / "plain.npz")).per_set
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    has = arrays["set_has"].copy()
    has[1, 0] = 0
    np.savez(tmp_path / "bad.npz", **{**arrays, "set_has": has})
    with pytest.raises(ModelError, match="bad.npz: target class 11: set_has says no ensemble for all other bands, "
                                         "the trees say 10"):
        TreePrior.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "part.npz", **{k: v for k, v in arrays.items() if k != "set_base"})
    with pytest.raises(ModelError, match="part.npz: missing array set_base"):
        TreePrior.load(tmp_path / "part.npz")
    with pytest.raises(ModelError, match="per_set"):
        fit_tree_prior(scenes, (4,), tuple(range(15)), pixels_per_scene=300, max_iter=2, per_set=True, relative=True)

    plain, hybrid = tmp_path / "plain.onnx", tmp_path / "hybrid.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    export_checkpoint(str(fitted["ckpt"]), str(hybrid), trees=back, tree_weight=0.5)  # its own check passes
    keeps = [s2 - {11}, l30 - {11}, {2, 3}, s2 - {4}]  # target 11 on all three routes, then 4
    targets = np.array([11, 11, 11, 4], np.int64)
    feeds = _spain_feeds(150, 250, 48, 40, keeps, targets)
    net, out = _run(plain, feeds), _run(hybrid, feeds)
    for i in range(4):
        want = 0.5 * net[i, 0] + 0.5 * back.predict(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
        assert np.abs(out[i, 0] - want).max() < 1e-5, i
    trees_line = dict(r for sec in model_report(read_metadata(str(hybrid))) for r in sec.rows)["trees"]
    assert "one ensemble for all other bands, one for the L30 bands and one for any other source set" in trees_line
    assert "weighted" not in trees_line

    # set_mix 0.25: a routed row gets 0.25 x its set's ensemble + 0.75 x the shared one; a shared row the shared
    mixed = dataclasses.replace(back, set_mix=0.25, info={**back.info, "set_mix": 0.25})
    for t in (4, 11):
        for keep, kind in ((set(scene.band_ids) - {t}, ALL_OTHERS), (l30 - {t}, L30_SET), ({2, 3}, SHARED)):
            x = _features(scene, keep)
            own, cols = regs[t] if kind == SHARED else regs[(t, kind)]
            shared = regs[t][0].predict(x[:, regs[t][1]].astype(np.float64))
            want = shared if kind == SHARED else 0.25 * own.predict(x[:, cols].astype(np.float64)) + 0.75 * shared
            assert np.abs(mixed.predict(x, t) - want).max() < 1e-9, (t, kind)
    again = TreePrior.load(mixed.save(tmp_path / "mixed.npz"))
    assert again.set_mix == 0.25 and TreePrior.load(path).set_mix == 1.0
    with np.load(tmp_path / "mixed.npz") as z:
        np.savez(tmp_path / "badmix.npz", **{**{k: z[k] for k in z.files}, "set_mix": np.array(1.5)})
    with pytest.raises(ModelError, match=r"badmix.npz: set_mix must be in \(0, 1\], got 1.5"):
        TreePrior.load(tmp_path / "badmix.npz")
    with pytest.raises(ModelError, match="set_mix"):
        fit_tree_prior(scenes, (4,), tuple(range(15)), pixels_per_scene=300, max_iter=2, set_mix=0.5)
    blend = tmp_path / "mixed.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(blend), trees=again, tree_weight=0.5)
    out = _run(blend, feeds)
    for i in range(4):
        want = 0.5 * net[i, 0] + 0.5 * again.predict(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
        assert np.abs(out[i, 0] - want).max() < 1e-5, i
    trees_line = dict(r for sec in model_report(read_metadata(str(blend))) for r in sec.rows)["trees"]
    assert "a set's own weighted 0.25 against the shared one's 0.75" in trees_line

    cfg = write_config(tmp_path / "c.yaml", fitted["raw"])
    capsys.readouterr()
    assert main(["fit-trees", "--config", str(cfg), "--out", str(tmp_path / "x.npz"), "--per-set", "--relative"]) == 2
    assert "--relative and --per-set exclude each other" in capsys.readouterr().err
    assert main(["fit-trees", "--config", str(cfg), "--out", str(tmp_path / "x.npz"), "--set-mix", "0.5"]) == 2
    assert "--set-mix weighs the per-set ensembles: it needs --per-set" in capsys.readouterr().err
    assert main(["fit-trees", "--config", str(cfg), "--out", str(tmp_path / "x.npz"), "--per-set",
                 "--set-mix", "0"]) == 2
    assert "--set-mix must be in (0, 1], got 0" in capsys.readouterr().err


def test_trees_mixed_with_the_linear_fit_match_in_the_graph(fitted, tmp_path, capsys):
    """``linear_mix`` M: the tree branch is M x trees + (1 - M) x the least-squares fit of the pixel's own
    source set.  Per-set trees with M 0.7: the prior's full prediction is 0.7 x scikit-learn's trees of the
    routed ensemble + 0.3 x ``LinearBaseline``'s fit of the same source set (the trees themselves unchanged);
    M survives save/load (a value outside (0, 1] in a file, or a mix without the linear fit's arrays, is
    refused naming it); the grafted graph outputs the blend with that branch to 1e-5 in ONNX Runtime on real
    Spain pixels with three source sets; the report says so; and ``fit-trees`` refuses a bad M or M with
    ``--on-linear`` before reading a scene."""
    from hls_translate.cli import main
    from hls_translate.core.errors import ModelError
    from hls_translate.core.metadata import read_metadata
    from hls_translate.core.model_report import model_report
    from hls_translate.training.evaluate import LinearBaseline
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trees import ALL_OTHERS, L30_SET, SHARED, TreePrior, fit_tree_prior

    scenes, regs = fitted["scenes"], {}
    prior = fit_tree_prior(scenes, (4, 11), tuple(range(15)), pixels_per_scene=3000, max_iter=10, seed=0,
                           regressors=regs, per_set=True, linear_mix=0.7)
    assert prior.mixes_linear and not prior.on_linear and prior.has_linear and prior.linear_mix == 0.7
    assert prior.info["linear_mix"] == 0.7 and prior.info["base"] == "none"
    lb = LinearBaseline.fit(scenes)
    scene = scenes[1]
    l30 = {0, 1, 2, 3, 8, 10, 11, 12}
    for t in (4, 11):
        for keep, kind in ((set(scene.band_ids) - {t}, ALL_OTHERS), (l30 - {t}, L30_SET), ({2, 3}, SHARED)):
            x = _features(scene, keep)
            reg, cols = regs[t] if kind == SHARED else regs[(t, kind)]
            trees = reg.predict(x[:, cols].astype(np.float64))
            assert np.abs(prior.predict(x, t) - trees).max() < 1e-9, (t, kind)  # the trees as they were
            src = sorted(keep & set(scene.band_ids))
            lin = lb.coefficients(src, t)
            line = lin[0] + x[:, src].astype(np.float64) @ lin[1:]
            assert np.abs(prior.predict_full(x, t) - (0.7 * trees + 0.3 * line)).max() < 1e-6, (t, kind)
            assert np.abs(trees - line).mean() > 1e-4  # the mix moves the branch
    path = prior.save(tmp_path / "mix.npz")
    back = TreePrior.load(path)
    assert back.linear_mix == 0.7 and back.per_set and np.array_equal(back.linear_moments, prior.linear_moments)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(tmp_path / "badmix.npz", **{**arrays, "linear_mix": np.array(0.0)})
    with pytest.raises(ModelError, match=r"badmix.npz: linear_mix must be in \(0, 1\], got 0.0"):
        TreePrior.load(tmp_path / "badmix.npz")
    np.savez(tmp_path / "nolin.npz", **{k: v for k, v in arrays.items()
                                         if k not in ("linear_moments", "linear_bands", "linear_weights", "sources")})
    with pytest.raises(ModelError, match="nolin.npz: a prior mixed with the linear fit .* needs the linear fit's arrays"):
        TreePrior.load(tmp_path / "nolin.npz")
    with pytest.raises(ModelError, match="linear_mix must be in"):
        fit_tree_prior(scenes, (4,), tuple(range(15)), pixels_per_scene=300, max_iter=2, on_linear=True,
                       linear_mix=0.5)

    plain, hybrid = tmp_path / "plain.onnx", tmp_path / "hybrid.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    export_checkpoint(str(fitted["ckpt"]), str(hybrid), trees=back, tree_weight=0.5)  # its own check passes
    s2 = set(range(13))
    targets = np.array([11, 11, 11, 4], np.int64)
    feeds = _spain_feeds(150, 250, 48, 40, [s2 - {11}, l30 - {11}, {2, 3}, s2 - {4}], targets)
    net, out = _run(plain, feeds), _run(hybrid, feeds)
    for i in range(4):
        want = 0.5 * net[i, 0] + 0.5 * back.predict_full(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
        assert np.abs(out[i, 0] - want).max() < 1e-5, i
        trees_only = 0.5 * net[i, 0] + 0.5 * back.predict(_item_rows(feeds, i), int(targets[i])).reshape(40, 48)
        assert np.abs(out[i, 0] - trees_only).max() > 1e-3, i  # the linear fit is in the graph
    trees_line = dict(r for sec in model_report(read_metadata(str(hybrid))) for r in sec.rows)["trees"]
    assert "the tree branch 0.7 x trees + 0.3 x the linear fit" in trees_line

    cfg = write_config(tmp_path / "c.yaml", fitted["raw"])
    capsys.readouterr()
    assert main(["fit-trees", "--config", str(cfg), "--out", str(tmp_path / "x.npz"), "--linear-mix", "1.5"]) == 2
    assert "--linear-mix must be in (0, 1], got 1.5" in capsys.readouterr().err
    assert main(["fit-trees", "--config", str(cfg), "--out", str(tmp_path / "x.npz"), "--linear-mix", "0.5",
                 "--on-linear"]) == 2
    assert "--linear-mix and --on-linear exclude each other" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_an_exported_model_gets_new_trees_without_its_checkpoint(fitted, tmp_path, capsys):
    """``export --onnx MODEL --trees T``: the tree prior of an exported model is replaced (or added) with the
    network kept node for node: replacing a model's trees with another prior gives what exporting the
    checkpoint with that prior gives (to 1e-6 on real Spain pixels); the metadata records the new prior and
    the one replaced and drops the held-out scores of the old file; a model without our metadata, a file
    that is not ONNX and --onnx without --trees are refused, naming the file or the option."""
    from hls_translate.cli import main
    from hls_translate.core.errors import ModelError
    from hls_translate.core.metadata import read_metadata
    from hls_translate.training.export import export_checkpoint, export_with_trees
    from hls_translate.training.trees import fit_tree_prior

    other = fit_tree_prior(fitted["scenes"], (4, 11), tuple(range(15)), pixels_per_scene=2000, max_iter=10, seed=1,
                           relative=True).save(tmp_path / "other.npz")
    first, direct = tmp_path / "first.onnx", tmp_path / "direct.onnx"
    fake_eval = {"schema": "hls_translate.evaluation", "rows": [], "scenes": [{"name": "X"}], "summary": {}}
    export_checkpoint(str(fitted["ckpt"]), str(first), trees=fitted["prior"], tree_weight=0.3, evaluation=fake_eval)
    assert "held_out_evaluation" in read_metadata(str(first)).metrics
    export_checkpoint(str(fitted["ckpt"]), str(direct), trees=other, tree_weight=0.6)
    swapped = tmp_path / "swapped.onnx"
    assert main(["export", "--onnx", str(first), "--trees", other, "--tree-weight", "0.6", "--out", str(swapped)]) == 0
    md = read_metadata(str(swapped))
    assert md.training["tree_prior"]["weight"] == 0.6 and md.training["tree_prior"]["trees"] == 20
    assert md.training["replaced_tree_prior"]["weight"] == 0.3 and "held_out_evaluation" not in md.metrics
    assert md.description.count("blended") == 1 and "0.4 / 0.6" in md.description
    assert md.normalization == read_metadata(str(direct)).normalization
    from hls_translate.core.model_report import model_report, report_text

    line = next(x for x in report_text(model_report(md, str(swapped))).splitlines() if x.strip().startswith("trees "))
    assert line.split(None, 1)[1] == ("20 gradient-boosted trees for 2 targets (10 per target, at most 31 leaves, "
                                      "fitted on 2000 pixels per training scene; each band over the pixel's "
                                      "brightness); output = 0.4 x network + 0.6 x trees")

    feeds = _spain_feeds(40, 60, 33, 29, [set(range(13)) - {4}, {0, 1, 2, 3, 8, 10, 12}, {1, 2, 3}], [4, 11, 5])
    want, got, old = _run(direct, feeds), _run(swapped, feeds), _run(first, feeds)
    assert np.abs(got - want).max() < 1e-6
    assert np.abs(got[:2] - old[:2]).max() > 1e-3  # the trees did change
    # red edge 2 (5): the new prior has no trees for it, so the network's own output, unblended
    plain = tmp_path / "plain.onnx"
    export_checkpoint(str(fitted["ckpt"]), str(plain))
    assert np.abs(got[2] - _run(plain, feeds)[2]).max() < 1e-6
    # a plain model gets trees: the same file as exporting with them
    added = export_with_trees(str(plain), str(tmp_path / "added.onnx"), trees=other, tree_weight=0.6)
    assert "replaced_tree_prior" not in added.training
    assert np.abs(_run(tmp_path / "added.onnx", feeds) - want).max() < 1e-6

    bare = tmp_path / "bare.onnx"
    bare.write_bytes(onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["a"], ["b"])], "g",
        [onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1])])).SerializeToString())
    with pytest.raises(ModelError, match="bare.onnx has no hls_translate metadata"):
        export_with_trees(str(bare), str(tmp_path / "z.onnx"), trees=other)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00 not onnx")
    with pytest.raises(ModelError, match="junk.onnx: cannot read it as an ONNX model"):
        export_with_trees(str(junk), str(tmp_path / "z.onnx"), trees=other)
    with pytest.raises(ModelError, match="tree-weight"):
        export_with_trees(str(plain), str(tmp_path / "z.onnx"), trees=other, tree_weight=0.0)
    before = plain.read_bytes()
    with pytest.raises(ModelError, match="plain.onnx"):  # written over the model it reads: refused, file kept
        export_with_trees(str(plain), str(plain), trees=other)
    assert plain.read_bytes() == before
    assert not (tmp_path / "z.onnx").exists()
    capsys.readouterr()
    assert main(["export", "--onnx", str(first), "--out", str(tmp_path / "z.onnx")]) == 2
    assert "--onnx needs --trees" in capsys.readouterr().err
