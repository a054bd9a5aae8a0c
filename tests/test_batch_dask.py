"""`hls-translate batch` on Dask: a 2-worker local cluster (processes, one per module) runs HLS granule
folders built from the real scenes (support.granules), one of them broken.

Outputs equal single ``predict`` runs bit for bit; the broken granule is in the manifest with its error
and the exit status says so; a run whose worker, or whose client, is killed part-way finishes on rerun
with every output valid and nothing done twice that had finished; a STAC ItemCollection of the same
local files runs the same; a SPADE model gets each granule's label file on the workers.  Each worker
loads the model once.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

distributed = pytest.importorskip("distributed", reason="dask[distributed] (the batch extra) is not installed")

from hls_translate.cli import main  # noqa: E402
from hls_translate.core.batch import BatchRequest, plan_batch, run_batch  # noqa: E402
from hls_translate.core.batch_dask import DaskExecutor, local_cluster_size, start_executor  # noqa: E402
from hls_translate.core.batch_inputs import discover_scenes  # noqa: E402
from hls_translate.core.engine import PredictOptions, predict  # noqa: E402
from hls_translate.core.manifest import DONE, FAILED, Manifest  # noqa: E402
from hls_translate.core.scene import open_scene  # noqa: E402
from support.granules import BROKEN, granules_with_a_broken_one  # noqa: E402
from support.rasters import assert_same_raster  # noqa: E402

pytestmark = [pytest.mark.data, pytest.mark.torch]

#: small tiles, one per model run: scenes take a few tenths of a second, long enough to be killed in
TILING = ["--tile", "16", "--batch", "1"]
OPTIONS = PredictOptions(tile_size=16, batch_size=1, threads=1)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as c, distributed.Client(c) as client:
        yield c, client


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("torch")
    from support.adain_fixture import small_adain_onnx

    return small_adain_onnx(tmp_path_factory.mktemp("models") / "adain.onnx")


@pytest.fixture(scope="module")
def granules(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("granules")
    made = granules_with_a_broken_one(root, size=160)
    return root, made


@pytest.fixture(scope="module")
def references(model, granules, tmp_path_factory):
    """One ``predict`` run per good granule, the same options: ``{granule: output path}``."""
    root, made = granules
    out = tmp_path_factory.mktemp("references")
    refs = {}
    for gid, folder in made.items():
        if gid != BROKEN:
            with open_scene(str(folder)) as scene:
                refs[gid] = predict(model, scene, ["red_edge_1"], {"red_edge_1": str(out / f"{gid}.tif")},
                                    OPTIONS).outputs["red_edge_1"]
    return refs


def cli(model, inputs, out, *extra):
    return main(["batch", "--model", model, "--input", *map(str, inputs), "--target", "red_edge_1", "--out", str(out),
                 "--threads-per-worker", "1", *TILING, "--quiet", *extra])


def assert_outputs_match(out, references):
    for gid, ref in references.items():
        assert_same_raster(ref, out / f"{gid}.B05.synth.tif")
    parts = [p.name for p in out.iterdir() if p.name.endswith(".part.tif")]
    assert parts == [], parts


def done_scenes(out):
    latest = Manifest(str(out)).latest()
    return {s for s, r in latest.items() if r.status == DONE}


def test_cluster_outputs_equal_predict_broken_scene_recorded(cluster, model, granules, references, tmp_path, capsys):
    c, client = cluster
    root, made = granules
    out = tmp_path / "out"
    assert cli(model, [root], out, "--scheduler", c.scheduler_address) == 1
    assert f"{BROKEN}  failed" in capsys.readouterr().out
    assert_outputs_match(out, references)
    recs = [json.loads(x) for x in (out / "batch_manifest.jsonl").read_text().splitlines()]
    by_scene = {r["scene"]: r for r in recs}
    assert len(recs) == len(made) and set(by_scene) == set(made)
    assert by_scene[BROKEN]["status"] == FAILED and f"{BROKEN}.B04.tif" in by_scene[BROKEN]["error"]
    pids = set(client.run(os.getpid).values())
    workers = {r["worker"] for r in recs}
    assert {int(w.rsplit(":", 1)[1]) for w in workers} <= pids and len(workers) == 2  # both workers ran scenes
    assert {r["model_loads"] for r in recs} == {1}  # one model session per worker, whatever the scenes
    assert all(r["peak_rss_mb"] > 0 for r in recs)


def test_a_killed_worker_loses_nothing(cluster, model, granules, references, tmp_path):
    c, client = cluster
    root, made = granules
    scenes, _ = discover_scenes([root])
    request = BatchRequest(model, ("red_edge_1",), str(tmp_path / "out"), OPTIONS)
    executor = DaskExecutor(client)
    pids = client.run(os.getpid)
    killed = {}

    def kill_a_busy_worker(message):
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys and w in pids]
        if busy:
            killed[busy[0]] = client.processing()[busy[0]]
            os.kill(pids[busy[0]], signal.SIGKILL)

    summary = run_batch(plan_batch(request, scenes, executor), executor, log=kill_a_busy_worker)
    assert killed, "no worker was busy when the first scene finished"
    assert sorted((r.scene, r.status) for r in summary.records) == sorted(
        (g, FAILED if g == BROKEN else DONE) for g in made)  # every scene once, the lost attempt redone
    assert_outputs_match(tmp_path / "out", references)
    rerun = plan_batch(request, scenes, executor)
    assert [j.scene_id for j in rerun.todo] == [BROKEN] and len(rerun.complete) == len(references)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


def test_a_killed_client_loses_nothing(cluster, model, granules, references, tmp_path):
    c, client = cluster
    root, made = granules
    out = tmp_path / "out"
    args = ["batch", "--model", model, "--input", str(root), "--target", "red_edge_1", "--out", str(out),
            "--workers", "2", "--threads-per-worker", "1", *TILING, "--quiet"]
    code = "import sys; from hls_translate.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "batch_manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and '"done"' in manifest.read_text():
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # its workers exit with it
    before = done_scenes(out)
    assert 1 <= len(before) < len(references), f"the client was not killed part-way ({len(before)} done)"
    stamps = {g: os.stat(out / f"{g}.B05.synth.tif").st_mtime_ns for g in before}
    lines_before = len(Manifest(str(out)).lines())
    killed_run = {r.run_id for r in Manifest(str(out)).latest().values()}
    assert cli(model, [root], out, "--scheduler", c.scheduler_address) == 1  # the broken one fails
    # the rerun's own records (records of the killed run recovered from receipts keep their run id)
    rerun = [r for r in Manifest(str(out)).lines()[lines_before:] if r.run_id not in killed_run]
    again = [r.scene for r in rerun if r.scene in before and not r.reused]
    assert again == [], f"scenes finished before the kill were done again: {again}"
    assert {r.scene for r in rerun if r.status == DONE and not r.reused} == set(references) - before
    assert {g: os.stat(out / f"{g}.B05.synth.tif").st_mtime_ns for g in before} == stamps
    assert done_scenes(out) == set(references)
    assert_outputs_match(out, references)


def test_a_stac_item_collection_runs_the_same(cluster, model, granules, references, tmp_path):
    c, client = cluster
    root, made = granules
    features = [{"type": "Feature", "stac_version": "1.0.0", "id": gid, "links": [],
                 "assets": {f.name.split(".")[-2]: {"href": str(f), "type": "image/tiff; application=geotiff"}
                            for f in sorted(d.iterdir())}} for gid, d in sorted(made.items()) if gid != BROKEN]
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    out = tmp_path / "out"
    assert cli(model, [items], out, "--scheduler", c.scheduler_address) == 0
    assert sorted(p.name for p in out.glob("*.tif")) == sorted(f"{g}.B05.synth.tif" for g in references)
    assert_outputs_match(out, references)


def test_a_spade_model_reads_each_granules_labels_on_the_workers(cluster, tmp_path, data_dir):
    """A label-map model on the cluster: the label files found from the pattern travel with the checks and the
    scenes to the workers, and the outputs equal the run in this process."""
    from support.spade import GRANULES, TARGETS, t29rkh_granules, train_and_export

    c, client = cluster
    model = train_and_export(tmp_path / "spade", steps=3)["model"]
    t29rkh_granules(tmp_path / "in")
    scenes, _ = discover_scenes([tmp_path / "in"])
    executor = DaskExecutor(client)
    request = BatchRequest(model, tuple(TARGETS), str(tmp_path / "dask"), PredictOptions(tile_size=64, threads=1),
                           labels="{granule}_SCL.tif")
    plan = plan_batch(request, scenes, executor)  # the checks (label raster, classes) run on the workers
    assert plan.problems == [] and sorted(j.scene_id for j in plan.todo) == sorted(GRANULES)
    summary = run_batch(plan, executor)
    assert summary.exit_code == 0 and all(r.inputs[-1].endswith(f"{r.scene}_SCL.tif") for r in summary.records)
    assert all(not r.worker.endswith(f":{os.getpid()}") for r in summary.records)  # run by the workers
    assert main(["batch", "--model", model, "--input", str(tmp_path / "in"), *[f"--target={t}" for t in TARGETS],
                 "--labels", "{granule}_SCL.tif", "--out", str(tmp_path / "here"), "--scheduler", "none",
                 "--tile", "64", "--quiet"]) == 0
    files = sorted(p.name for p in (tmp_path / "dask").glob("*.tif"))
    assert len(files) == len(GRANULES) * len(TARGETS)
    for name in files:
        assert_same_raster(tmp_path / "dask" / name, tmp_path / "here" / name)


def test_one_worker_per_gpu_each_sees_its_own():
    executor, threads = start_executor(workers=None, threads=1, device="cpu", gpus=["0", "1"])
    try:
        seen = sorted(executor.client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES")).values())
        assert seen == ["0", "1"] and threads == 1 and "one worker per GPU" in executor.description
    finally:
        executor.close()


def test_local_cluster_sizing():
    assert local_cluster_size(None, None, cores=16) == (16, 1)
    assert local_cluster_size(4, None, cores=16) == (4, 4)
    assert local_cluster_size(None, 3, cores=16) == (5, 3)
    assert local_cluster_size(None, None, cores=16, device="cuda") == (1, 16)
    assert local_cluster_size(2, 2, cores=2) == (2, 2)  # asked for: kept
    with pytest.raises(Exception, match="--workers"):
        local_cluster_size(0, None, cores=4)
