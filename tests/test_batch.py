"""`hls-translate batch` without Dask (``--scheduler none``) and the library under it (core.batch,
core.batch_inputs, core.manifest): discovery, checks before work, naming, the manifest, resuming,
failure isolation, cancellation, on HLS granule folders built from the real scenes (support.granules).
The Dask cluster runs are in test_batch_dask.py."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hls_translate.cli import main
from hls_translate.commands.batch import parse_shard
from hls_translate.core.batch import BatchProgress, BatchRequest, SequentialExecutor, plan_batch, run_batch
from hls_translate.core.batch_inputs import asset_path, discover_scenes
from hls_translate.core.engine import PredictOptions
from hls_translate.core.errors import CancelledError, ConfigError, RasterNotFoundError
from hls_translate.core.manifest import DONE, FAILED, INVALID, Manifest
from hls_translate.core.output_naming import check_scene_name, scene_output_paths
from support.granules import BROKEN, granules_with_a_broken_one
from support.hide_packages import hiding_env
from support.onnx_models import copy_model
from support.rasters import assert_same_raster

pytestmark = pytest.mark.data

RED, NIR, CIRRUS, WV, RE1 = 3, 8, 10, 9, 4
L30 = "HLS.L30.T04VER.2019182T211436.v2.0"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return copy_model(tmp_path_factory.mktemp("models") / "copy.onnx", {RE1: NIR, CIRRUS: RED},
                      sources=[RED, NIR], tile=32, overlap=8, stride=4)


@pytest.fixture(scope="module")
def granules(tmp_path_factory, data_dir):
    """Six good granule folders and a broken one (a band file cut short) in one folder."""
    root = tmp_path_factory.mktemp("granules")
    made = granules_with_a_broken_one(root, size=96)
    return root, made


def batch(model, inputs, out, *extra):
    return main(["batch", "--model", model, "--input", *map(str, inputs), "--target", "red_edge_1",
                 "--out", str(out), "--scheduler", "none", "--threads-per-worker", "1", "--quiet", *extra])


def records(out):
    return [json.loads(x) for x in (out / "batch_manifest.jsonl").read_text().splitlines()]


def name(granule, band="B05"):
    return f"{granule}.{band}.synth.tif"


# --- discovery ---------------------------------------------------------------------------------------
def test_folder_layouts_and_globs_give_the_same_scenes(granules, tmp_path):
    root, made = granules
    nested, warnings = discover_scenes([root])
    assert [s.scene_id for s in nested] == sorted(made) and warnings == []
    assert all(len(s.paths) >= 11 for s in nested)  # every band (+ Fmask where there is one)
    flat = tmp_path / "flat"
    flat.mkdir()
    for d in made.values():
        for f in d.iterdir():
            shutil.copy(f, flat / f.name)
    flat_scenes, _ = discover_scenes([flat])
    assert [(s.scene_id, sorted(map(os.path.basename, s.paths))) for s in flat_scenes] == \
        [(s.scene_id, sorted(map(os.path.basename, s.paths))) for s in nested]
    s30, _ = discover_scenes([str(root / "HLS.S30.*")])
    assert [s.scene_id for s in s30] == sorted(g for g in made if ".S30." in g)
    # the output folder inside an input folder is never read; a scene found twice is kept once, said once
    (flat / "out").mkdir()
    shutil.copy(next(flat.glob("*.B04.tif")), flat / "out")
    again, warnings = discover_scenes([flat, root / BROKEN], exclude=[flat / "out"])
    assert len(again) == len(made) and any(BROKEN in w and "twice" in w for w in warnings)
    with pytest.raises(RasterNotFoundError, match="matches no file"):
        discover_scenes([str(root / "nothing*")])


def test_a_stac_item_collection_of_local_files(granules, tmp_path):
    root, made = granules
    features = []
    for gid, d in sorted(made.items()):
        assets = {f.name.split(".")[-2]: {"href": os.path.relpath(f, tmp_path), "type": "image/tiff; application=geotiff",
                                          "roles": ["data"]} for f in sorted(d.iterdir())}
        assets["thumbnail"] = {"href": "thumb.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}
        features.append({"type": "Feature", "stac_version": "1.0.0", "id": gid, "assets": assets, "links": []})
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    from_stac, _ = discover_scenes([items])
    from_folder, _ = discover_scenes([root])
    assert [(s.scene_id, sorted(s.paths)) for s in from_stac] == [(s.scene_id, sorted(s.paths)) for s in from_folder]
    # a catalog linking item files; an asset whose file name names no band is named by its key
    gid = sorted(made)[1]
    src = next(made[gid].glob("*.B8A.tif"))
    shutil.copy(src, tmp_path / "data_1.tif")
    item = dict(features[1], assets={"B8A": {"href": "data_1.tif", "type": "image/tiff"}})
    (tmp_path / "item.json").write_text(json.dumps(item))
    (tmp_path / "catalog.json").write_text(json.dumps({"type": "Catalog", "id": "c", "links": [
        {"rel": "item", "href": "./item.json"}, {"rel": "self", "href": "./catalog.json"}]}))
    [scene], _ = discover_scenes([tmp_path / "catalog.json"])
    assert scene.scene_id == gid and scene.band_map == ((str(tmp_path / "data_1.tif"), "B8A"),)
    assert asset_path("https://x.org/a/B05.tif", str(items)) == "/vsicurl/https://x.org/a/B05.tif"
    assert asset_path("s3://bucket/k/B05.tif", str(items)) == "/vsis3/bucket/k/B05.tif"
    (tmp_path / "bad.json").write_text(json.dumps({"type": "Topology"}))
    with pytest.raises(ConfigError, match="not an ItemCollection"):
        discover_scenes([tmp_path / "bad.json"])


def test_output_names_spell_bands_in_one_numbering(tmp_path):
    paths = scene_output_paths(str(tmp_path), L30, ["red_edge_1", "nir_narrow", "thermal_1"])
    assert {k: os.path.basename(v) for k, v in paths.items()} == {
        "red_edge_1": f"{L30}.B05.synth.tif",  # S30's B05, whatever L30 calls B05
        "nir_narrow": f"{L30}.B8A.synth.tif", "thermal_1": f"{L30}.thermal_1.synth.tif"}
    for bad in ("{band}.tif", "{scene}.tif", "sub/{scene}.{band}.tif", "{scene}.{bnad}.tif"):
        with pytest.raises(ConfigError):
            check_scene_name(bad)


# --- running -----------------------------------------------------------------------------------------
def test_outputs_equal_predict_and_a_bad_scene_stops_nothing(model, granules, tmp_path, capsys):
    root, made = granules
    out = tmp_path / "out"
    assert batch(model, [root], out) == 1  # the broken granule failed
    cap = capsys.readouterr()
    assert f"{BROKEN}  failed" in cap.out and "1 failed" in cap.out
    recs = {r["scene"]: r for r in records(out)}
    assert set(recs) == set(made)
    assert recs[BROKEN]["status"] == FAILED and f"{BROKEN}.B04.tif" in recs[BROKEN]["error"]
    assert not (out / name(BROKEN)).exists()
    for gid, d in made.items():
        if gid == BROKEN:
            continue
        r = recs[gid]
        assert r["status"] == DONE and r["fingerprint"] and len(r["model_hash"]) == 64
        [o] = r["outputs"]
        assert o["path"] == str(out / name(gid)) and o["bytes"] == os.path.getsize(o["path"])
        ref = tmp_path / f"ref_{gid}.tif"
        assert main(["predict", "--model", model, "--input", str(d), "--target", "red_edge_1", "--out", str(ref),
                     "--threads", "1", "--quiet"]) == 0
        assert_same_raster(ref, o["path"])
    # one model session for the whole run: this process loaded no model after the first scene
    assert len({r["model_loads"] for r in recs.values()}) == 1
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".hls_translate_batch"]
    # rerun: the complete scenes are skipped (untouched), the failed one is tried again
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")}
    assert batch(model, [root], out) == 1
    again = records(out)[len(recs):]
    assert [(r["scene"], r["status"]) for r in again] == [(BROKEN, FAILED)]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")} == stamps
    # without the broken granule, everything is complete: exit status 0, nothing run
    assert batch(model, [made[g] for g in made if g != BROKEN], out) == 0
    assert len(records(out)) == len(recs) + 1


def test_checks_list_problems_before_any_work(model, granules, tmp_path, capsys):
    root, made = granules
    odd = tmp_path / "in" / "HLS.S30.T19UDP.2017211T153819.v2.0"
    shutil.copytree(made["HLS.S30.T19UDP.2017210T153819.v2.0"], odd)
    for f in odd.iterdir():
        f.rename(odd / f.name.replace("2017210T", "2017211T"))
    shutil.copy(next(made[L30].glob("*.B05.tif")), next(odd.glob("*.B8A.tif")))  # NIR on another grid
    inputs = [made[L30], odd]
    out = tmp_path / "out"
    assert batch(model, inputs, out) == 1  # not a terminal: no prompt, stops before any work
    err = capsys.readouterr().err
    assert f"refused: {odd.name}: band sources are on different grids" in err and "--skip-invalid" in err
    assert not out.exists() or not any(out.glob("*.tif"))
    assert batch(model, inputs, out, "--dry-run") == 1
    assert f"run  {L30}" in capsys.readouterr().out and not any(out.glob("*.tif"))
    assert batch(model, inputs, out, "--skip-invalid") == 1
    recs = {r["scene"]: r["status"] for r in records(out)}
    assert recs == {L30: DONE, odd.name: INVALID}
    # a target the model cannot make is refused for every scene, before any work
    assert batch(model, [made[L30]], tmp_path / "out2", "--target", "swir_1") == 1
    assert "cannot synthesize" in capsys.readouterr().err


def test_resume_redoes_what_is_missing_changed_or_asked_for(model, granules, tmp_path):
    root, made = granules
    good = [made[g] for g in sorted(made) if g != BROKEN][:3]
    ids = [d.name for d in good]
    out = tmp_path / "out"
    assert batch(model, good, out) == 0

    def ran_last(n_before):
        return sorted(r["scene"] for r in records(out)[n_before:])

    n = len(records(out))
    os.remove(out / name(ids[0]))  # deleted: redone
    target = out / name(ids[1])  # changed in place, same size: only --verify sees it
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    assert batch(model, good, out) == 0 and ran_last(n) == [ids[0]]
    n = len(records(out))
    assert batch(model, good, out, "--verify") == 0 and ran_last(n) == [ids[1]]
    n = len(records(out))
    assert batch(model, good, out, "--overwrite") == 0 and ran_last(n) == sorted(ids)
    n = len(records(out))
    assert batch(model, good, out, "--dtype", "int16") == 0 and ran_last(n) == sorted(ids)  # other options
    n = len(records(out))
    assert batch(model, good, out, "--dtype", "int16", "--threads-per-worker", "2") == 0 and ran_last(n) == []


def test_manifest_tolerates_torn_lines_and_recovers_receipts(model, granules, tmp_path):
    root, made = granules
    good = [made[g] for g in sorted(made) if g != BROKEN][:2]
    out = tmp_path / "out"
    assert batch(model, good, out) == 0
    man = Manifest(str(out))
    lines = man.path and open(man.path).read().splitlines()
    # a client killed after the worker's receipt, before its manifest line: the line is lost
    with open(man.path, "w") as f:
        f.write(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # and a torn last line
    assert [r.scene for r in man.lines()] == [json.loads(lines[0])["scene"]]
    assert [r.scene for r in man.unlisted_receipts()] == [json.loads(lines[1])["scene"]]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")}
    assert batch(model, good, out) == 0  # nothing is run again
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")} == stamps
    assert man.unlisted_receipts() == [] and {r.scene for r in man.lines()} == {d.name for d in good}


def test_cancel_between_scenes_and_between_tiles(model, granules, tmp_path):
    root, made = granules
    good = [made[g] for g in sorted(made) if g != BROKEN][:3]
    scenes, _ = discover_scenes(good)
    request = BatchRequest(model, ("red_edge_1",), str(tmp_path / "out"), PredictOptions(tile_size=16, overlap=4))
    plan = plan_batch(request, scenes)
    state = {"progress": 0, "records": 0}

    def in_second_scene():  # cancels after a few batches of tiles of the second scene
        return len(Manifest(request.out_dir).lines()) == 1 and state["progress"] >= 3

    def progress(fraction, text):
        done = int(text.split("/")[0])
        if done != state["records"]:
            state["records"], state["progress"] = done, 0
        state["progress"] += 1

    with pytest.raises(CancelledError, match="no output was written"):  # the engine's: between tiles
        run_batch(plan, SequentialExecutor(), progress=progress, is_cancelled=in_second_scene)
    assert set(os.listdir(request.out_dir)) == {".hls_translate_batch", "batch_manifest.jsonl", name(scenes[0].scene_id)}
    with pytest.raises(CancelledError, match="between scenes"):
        run_batch(plan_batch(request, scenes), SequentialExecutor(), is_cancelled=lambda: True)
    summary = run_batch(plan_batch(request, scenes), SequentialExecutor())
    assert [r.scene for r in summary.records] == [s.scene_id for s in scenes[1:]] and summary.exit_code == 0


def test_progress_over_scenes_and_shards(model, granules, tmp_path, capsys):
    root, made = granules
    seen = []
    scenes, _ = discover_scenes([root])
    request = BatchRequest(model, ("B05",), str(tmp_path / "out"))
    plan = plan_batch(request, scenes)
    assert [t.key for t in plan.targets] == ["red_edge_1"]  # B05 read in the S30 numbering of the names
    p = BatchProgress(plan.todo, lambda f, text: seen.append((f, text)))
    p.scene(plan.todo[0].scene_id, 0.5)
    assert seen[-1][0] == pytest.approx(0.5 / len(plan.todo)) and seen[-1][1].startswith(f"0/{len(plan.todo)} scenes")
    assert "MP/s" in seen[-1][1]
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x/2", "1"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
    shards = []
    for k in range(3):
        out = tmp_path / f"shard{k}"
        batch(model, [root], out, "--shard", f"{k}/3", "--dry-run")
        shards += [x.split()[1] for x in capsys.readouterr().out.splitlines() if x.startswith("run ")]
    assert sorted(shards) == sorted(made)
    assert main(["batch", "--model", model, "--input", str(made[L30]), "--target", "red_edge_1", "--out",
                 str(tmp_path / "bar"), "--scheduler", "none"]) == 0
    err = capsys.readouterr().err
    assert "ETA" in err and "1/1 scenes" in err and "MP/s" in err


def test_without_dask_the_message_says_what_to_install(model, granules, tmp_path):
    root, made = granules
    code = "import sys; from hls_translate.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "batch", "--model", model, "--input", str(made[L30]),
                        "--target", "red_edge_1", "--out", str(tmp_path / "out")],
                       env=hiding_env(tmp_path / "shim", ["dask", "distributed"]), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "pip install 'hls_translate[batch]'" in r.stderr and "--scheduler none" in r.stderr
    assert "Traceback" not in r.stderr


def test_request_errors(model, tmp_path):
    with pytest.raises(ConfigError, match="given twice"):
        BatchRequest(model, ("B05", "red_edge_1"), str(tmp_path)).target_classes()
    assert np.isfinite(PredictOptions().blend_floor)


def test_an_output_that_is_an_input_is_refused_before_any_work(model, granules, tmp_path, capsys):
    root, made = granules
    src = tmp_path / L30
    shutil.copytree(made[L30], src)
    item = {"type": "Feature", "id": L30, "links": [],
            "assets": {f.name.split(".")[-2]: {"href": str(f), "type": "image/tiff"} for f in sorted(src.iterdir())}}
    (tmp_path / "item.json").write_text(json.dumps(item))
    before = (src / f"{L30}.B05.tif").read_bytes()
    # red edge 1's output name would be the L30 granule's own B05 (NIR narrow) file
    assert batch(model, [tmp_path / "item.json"], src, "--name", "{scene}.{band}.tif", "--skip-invalid") == 1
    err = capsys.readouterr().err
    assert f"refused: {L30}: output {src / f'{L30}.B05.tif'} is" in err and "write the result elsewhere" in err
    assert (src / f"{L30}.B05.tif").read_bytes() == before
