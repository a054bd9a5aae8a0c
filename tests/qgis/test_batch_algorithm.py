"""``hls_translate:synthesize_folder`` through ``processing.run`` on HLS granule folders built from the real
scenes (support.granules), one broken: the same files as ``hls-translate batch``, the manifest as output,
progress over scenes, cancellation between scenes and tiles, results loaded in one group per target."""

from __future__ import annotations

import json
import shutil

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsProject, QgsRasterLayer

import processing
from support.granules import BROKEN, granules_with_a_broken_one
from support.onnx_models import copy_model
from support.rasters import assert_same_raster

pytestmark = [pytest.mark.qgis, pytest.mark.data]

L30 = "HLS.L30.T04VER.2019182T211436.v2.0"
GROUP = "B05 red edge 1 (synthesized)"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return copy_model(tmp_path_factory.mktemp("models") / "copy.onnx", {4: 8}, sources=[3, 8], tile=32, overlap=8,
                      stride=4)


@pytest.fixture(scope="module")
def granules(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("granules")
    made = granules_with_a_broken_one(root, size=64)
    return root, made


def params(root, model, out, **extra):
    return {"INPUT": str(root), "MODEL": model, "TARGET_BANDS": ["red_edge_1"], "OUTPUT_FOLDER": str(out),
            "TILE_SIZE": 16, "DATA_TYPE": "float32", **extra}


def test_folder_run_equals_the_command_line_and_loads_groups(plugin, model, granules, tmp_path):
    root, made = granules
    context = QgsProcessingContext()
    project = QgsProject()
    context.setProject(project)
    fb = QgsProcessingFeedback()
    progress = []
    fb.progressChanged.connect(progress.append)
    out = tmp_path / "qgis"
    res = processing.run("hls_translate:synthesize_folder", params(root, model, out), context=context, feedback=fb)
    assert (res["SCENES_DONE"], res["SCENES_FAILED"], res["SCENES_SKIPPED"], res["SCENES_INVALID"]) == (6, 1, 0, 0)
    records = [json.loads(x) for x in open(res["MANIFEST"]).read().splitlines()]
    broken = next(r for r in records if r["scene"] == BROKEN)
    assert broken["status"] == "failed" and f"{BROKEN}.B04.tif" in broken["error"]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(100.0)
    from hls_translate.cli import main

    assert main(["batch", "--model", model, "--input", str(root), "--target", "red_edge_1", "--out",
                 str(tmp_path / "cli"), "--scheduler", "none", "--tile", "16", "--quiet"]) == 1
    files = res["OUTPUT_FILES"].split(";")
    assert len(files) == 6 and f"{L30}.B05.synth.tif" in res["OUTPUT_FILES"]
    for f in files:
        assert_same_raster(f, tmp_path / "cli" / f.rsplit("/", 1)[1])
    # what QGIS does when the run ends: load each result, then its post-processor puts it in its group
    to_load = context.layersToLoadOnCompletion()
    assert sorted(to_load) == sorted(files)
    loaded = []  # the project owns the layers; the wrappers stay alive with it
    for path, details in to_load.items():
        loaded.append(QgsRasterLayer(path, details.name))
        project.addMapLayer(loaded[-1])
        details.postProcessor().postProcessLayer(loaded[-1], context, fb)
    group = project.layerTreeRoot().findGroup(GROUP)
    assert group is not None and sorted(n.name() for n in group.findLayers()) == sorted(g for g in made if g != BROKEN)
    # again: everything complete is skipped, the broken scene is tried again
    res = processing.run("hls_translate:synthesize_folder", params(root, model, out, LOAD_RESULTS=False),
                         context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    assert (res["SCENES_DONE"], res["SCENES_FAILED"], res["SCENES_SKIPPED"]) == (0, 1, 6)


class CancelInSecondScene(QgsProcessingFeedback):
    """Cancels once the progress passes the first scene's share (tiles of the second are running)."""

    def __init__(self, share):
        super().__init__()
        self.share = share
        self.progressChanged.connect(lambda v: self.cancel() if v > 100 * self.share * 1.2 else None)


def test_cancel_keeps_what_finished(plugin, model, granules, tmp_path):
    root, made = granules
    out = tmp_path / "out"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run("hls_translate:synthesize_folder", params(root, model, out, TILE_SIZE=8, BATCH_SIZE=1),
                       feedback=CancelInSecondScene(1 / len(made)))
    records = [json.loads(x) for x in (out / "batch_manifest.jsonl").read_text().splitlines()]
    assert 1 <= len(records) < len(made) and all(r["status"] != "invalid" for r in records)
    done = {r["scene"] for r in records if r["status"] == "done"}
    assert sorted(p.name for p in out.glob("*.tif")) == sorted(f"{g}.B05.synth.tif" for g in done)
    assert not list(out.glob(".*.part.tif"))


def test_checks_stop_the_run_unless_asked_to_go_on(plugin, model, granules, tmp_path):
    root, made = granules
    odd = tmp_path / "in" / L30
    shutil.copytree(made[L30], odd)
    for band in ("B04", "B05"):  # the red and NIR bands the model synthesizes from
        (odd / f"{L30}.{band}.tif").unlink()
    with pytest.raises(QgsProcessingException, match="failed the checks"):
        processing.run("hls_translate:synthesize_folder", params(tmp_path / "in", model, tmp_path / "out"))
    assert not (tmp_path / "out" / "batch_manifest.jsonl").exists()
    res = processing.run("hls_translate:synthesize_folder",
                         params(tmp_path / "in", model, tmp_path / "out", SKIP_INVALID=True))
    assert (res["SCENES_DONE"], res["SCENES_INVALID"]) == (0, 1)
    [record] = [json.loads(x) for x in open(res["MANIFEST"]).read().splitlines()]
    assert record["status"] == "invalid" and "no input band" in record["error"]
