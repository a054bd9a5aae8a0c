"""Every parameter of "Synthesize HLS band" survives what QGIS 3.22 does with it (issue 13, point 1):

* History and "Copy as Python" (``asPythonCommand``, each value through ``valueAsPythonString``),
* the batch dialog's saved file (the values as ``BatchPanel.save`` writes them, read back as ``load`` does),
* a saved graphical model (``.model3``: written, read back, run),
* ``qgis_process`` with option *names* (``TARGET_BANDS=cirrus,red_edge_1 RESAMPLING=bilinear``),

and each way gives exactly the pixels of the run it was recorded from.  The enum parameters are
numbered (QGIS 3.22 records string-valued multi-select enums as ``''``), and the batch dialog shows
their labels.
"""

from __future__ import annotations

import ast
import glob
import json
import os

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingModelAlgorithm,
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                       QgsProcessingModelOutput, QgsProject)

import processing
from support import REPO

pytestmark = pytest.mark.qgis

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
ALG = "hls_translate:synthesize_band"
#: the sample scene's west half (EPSG:4326)
EXTENT = "-0.7675206,-0.75603,38.1000665,38.1230634 [EPSG:4326]"


def files():
    return [f for f in sorted(glob.glob(str(SAMPLE / "*.tif"))) if not f.endswith("_B10.tif")]


def recorded(out_dir):
    """Every parameter set away from its default (option numbers, as dialogs record them)."""
    return {
        "INPUT": files(), "BAND_MAPPING": "Spain_7370579_S2L1C_crop_B8A.tif=nir_narrow", "MODEL": "",
        "TARGET_BANDS": [10, 4], "TILE_SIZE": 128, "OVERLAP": 32, "BLEND": 1, "BATCH_SIZE": 3, "GAP_FILL": False,
        "EXTENT": EXTENT, "DATA_TYPE": 2, "FORMAT": 1, "CREATION_OPTIONS": "COMPRESS=ZSTD", "RESAMPLING": 3,
        "SENSOR": 3, "MASK_QA": False, "DEVICE": 1, "THREADS": 1, "OUTPUT": os.path.join(out_dir, "out.tif"),
    }


def pixels(out_dir):
    out = {}
    for key in ("cirrus", "red_edge_1"):
        ds = gdal.Open(os.path.join(out_dir, f"out_{key}.tif"))
        out[key] = (ds.ReadAsArray(), ds.GetGeoTransform(), ds.GetRasterBand(1).DataType)
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0])
        assert a[k][1:] == b[k][1:], k


@pytest.fixture(scope="module")
def reference(plugin, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("reference"))
    res = processing.run(ALG, recorded(out))
    assert res["OUTPUT_FILES"] == [os.path.join(out, "out_cirrus.tif"), os.path.join(out, "out_red_edge_1.tif")]
    px = pixels(out)
    assert px["cirrus"][0].shape == (256, 128)  # the clip extent: the west half
    assert px["cirrus"][2] == gdal.GDT_Int16  # stored like the inputs
    assert gdal.Open(res["OUTPUT_FILES"][0]).GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
    return px


def test_every_value_round_trips_through_python_text(plugin, reference, tmp_path):
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    context = QgsProcessingContext()
    params = recorded(str(tmp_path))
    for p in alg.parameterDefinitions():
        text = p.valueAsPythonString(params[p.name()], context)
        assert text not in ("", "''") or params[p.name()] == "", (p.name(), text)  # 3.22 wrote '' for targets
        back = ast.literal_eval(text)
        assert p.checkValueIsAcceptable(back, context), (p.name(), text)
        assert back == params[p.name()], p.name()
    # History / "Copy as Python": the command QGIS records, run again
    command = alg.asPythonCommand(params, context)
    assert command.startswith(f"processing.run(\"{ALG}\", {{") and "'TARGET_BANDS':[10,4]" in command
    recorded_params = ast.literal_eval(command[command.index("{"):command.rindex("}") + 1])
    rerun = str(tmp_path / "history")
    os.mkdir(rerun)
    processing.run(ALG, {**recorded_params, "OUTPUT": os.path.join(rerun, "out.tif")})
    assert_same(pixels(rerun), reference)


def test_batch_file_round_trip(plugin, reference, tmp_path):
    """What the batch dialog saves (``valueAsPythonString`` of each value, checked first) and loads."""
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    context = QgsProcessingContext()
    params = recorded(str(tmp_path))
    saved = [{"PARAMETERS": {p.name(): p.valueAsPythonString(params[p.name()], context)
                             for p in alg.parameterDefinitions() if not p.isDestination()},
              "OUTPUTS": {"OUTPUT": str(tmp_path / "batch" / "out.tif")}}]
    for p in alg.parameterDefinitions():
        assert p.isDestination() or p.checkValueIsAcceptable(params[p.name()], context), p.name()
    row = json.loads(json.dumps(saved))[0]
    (tmp_path / "batch").mkdir()
    loaded = {k: eval(v) for k, v in row["PARAMETERS"].items()}  # noqa: S307 - as BatchPanel.load does
    ok, message = alg.checkParameterValues({**loaded, **row["OUTPUTS"]}, context)
    assert ok, message
    processing.run(ALG, {**loaded, **row["OUTPUTS"]})
    assert_same(pixels(str(tmp_path / "batch")), reference)


def test_saved_model_round_trip(plugin, reference, tmp_path):
    params = recorded(str(tmp_path))
    model = QgsProcessingModelAlgorithm("synthesize twice", "tests")
    child = QgsProcessingModelChildAlgorithm(ALG)
    child.generateChildId(model)
    for name, value in params.items():
        if name != "OUTPUT":
            child.addParameterSources(name, [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
    out = QgsProcessingModelOutput("synthesized", "synthesized")
    out.setChildId(child.childId())
    out.setChildOutputName("OUTPUT")
    child.setModelOutputs({"synthesized": out})
    model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    path = tmp_path / "synthesize.model3"
    assert model.toFile(str(path))
    text = path.read_text()
    assert "profiles" not in text and "resources/models" not in text  # MODEL empty: the bundled one (point 9)
    loaded = QgsProcessingModelAlgorithm()
    assert loaded.fromFile(str(path))
    (dest,) = [p.name() for p in loaded.destinationParameterDefinitions()]
    (tmp_path / "model").mkdir()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    processing.run(loaded, {dest: str(tmp_path / "model" / "out.tif")}, context=context)
    assert_same(pixels(str(tmp_path / "model")), reference)


def test_qgis_process_with_option_names(plugin, reference, qgis_process, tmp_path):
    args = [f"INPUT={f}" for f in files()] + [
        "BAND_MAPPING=Spain_7370579_S2L1C_crop_B8A.tif=nir_narrow", "TARGET_BANDS=cirrus,red_edge_1",
        "TILE_SIZE=128", "OVERLAP=32", "BLEND=gaussian", "BATCH_SIZE=3", "GAP_FILL=false", f"EXTENT={EXTENT}",
        "DATA_TYPE=input", "FORMAT=COG", "CREATION_OPTIONS=COMPRESS=ZSTD", "RESAMPLING=cubic", "SENSOR=S2",
        "DEVICE=cpu", "THREADS=1", f"OUTPUT={tmp_path / 'out.tif'}"]
    r = qgis_process(["--json", "run", ALG, "--", *args])
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout[r.stdout.index("{"):])["results"]
    assert res["OUTPUT_FILES"] == [str(tmp_path / "out_cirrus.tif"), str(tmp_path / "out_red_edge_1.tif")]
    assert_same(pixels(str(tmp_path)), reference)


def test_batch_dialog_labels_the_targets(plugin, monkeypatch):
    """QGIS's own batch panel: the targets' picker shows labels; BAND_MAPPING is QGIS's plain widget there."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QListView, QToolButton

    from support.qgis_gui import fake_iface

    fake_iface(monkeypatch)
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog

    dlg = BatchAlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(ALG))
    panel = dlg.mainWidget()
    column = panel.parameter_to_column
    targets = panel.wrappers[0][column["TARGET_BANDS"]]
    targets.setParameterValue([10, 4], QgsProcessingContext())
    assert targets.parameterValue() == [10, 4]
    # the "..." button opens the selection panel inside the batch dialog: the rows QGIS 3.22 left blank
    next(b for b in targets.wrappedWidget().findChildren(QToolButton) if b.text() in ("…", "...")).click()
    (view,) = dlg.findChildren(QListView)
    model = view.model()
    shown = [(model.index(r, 0).data(), model.index(r, 0).data(Qt.CheckStateRole)) for r in range(model.rowCount())]
    labels = [label for label, _ in shown]
    assert labels[:2] == ["cirrus (B10; Landsat B09)", "red_edge_1 (B05)"]  # selected first, then the others
    assert len(labels) == 15 and all(labels) and "thermal_1 (Landsat B10)" in labels
    assert [checked for _, checked in shown].count(Qt.Checked) == 2
    mapping = panel.wrappers[0][column["BAND_MAPPING"]]
    assert type(mapping).__name__ != "BandMappingWrapper"
    mapping.setParameterValue("1=B04", QgsProcessingContext())
    assert mapping.parameterValue() == "1=B04"
    dlg.close()


def test_modeler_dialog_records_numbers(plugin, monkeypatch):
    """QGIS's own modeler dialog: the child's TARGET_BANDS and the other enums as option numbers, BAND_MAPPING
    in QGIS's own widget (so it can also come from a model input), MODEL empty."""
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog

    from support.qgis_gui import fake_iface

    fake_iface(monkeypatch)
    alg = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    dlg = ModelerParametersDialog(alg, QgsProcessingModelAlgorithm())
    child = dlg.createAlgorithm()
    assert child is not None
    static = {name: [s.staticValue() for s in sources] for name, sources in child.parameterSources().items()}
    assert static["TARGET_BANDS"] == [[10]] and static["RESAMPLING"] == [2] and static["DATA_TYPE"] == [2]
    assert static["MODEL"] in ([None], [""])
    wrappers = next(w.wrappers for w in vars(dlg.widget).values() if hasattr(w, "wrappers"))
    assert type(wrappers["BAND_MAPPING"]).__name__ != "BandMappingWrapper"
    dlg.close()
