"""Take the documentation's screenshots in the real QGIS desktop (run by scripts/desktop_screenshots.sh
inside QGIS: ``qgis --code scripts/desktop_screenshots.py``, under Xvfb).

Writes into ``$HLS_SHOTS`` (full-screen grabs of the X display):
* ``synthesize_band_dialog.png``: the main dialog with its band table, on a BigEarthNet patch (10/20/60 m);
* ``batch_dialog_targets.png``: the batch dialog with the targets' picker open (labelled options);
* ``result_layer_loaded.png``: a synthesized band loaded beside the sample scene's bands;
* ``evaluate_band_dialog.png``: the evaluation dialog, and ``evaluate_band_plot.png``: its PLOT output.
Then it quits QGIS.
"""

import glob
import os

from qgis.core import QgsApplication, QgsProcessingContext, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QDockWidget, QToolButton
from qgis.utils import iface

import processing

OUT = os.environ["HLS_SHOTS"]
REPO = os.environ["HLS_REPO"]
DATA = os.environ.get("HLS_TRANSLATE_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
SAMPLE = os.path.join(REPO, "resources", "sample", "spain_l1c_crop")
PATCH = os.path.join(DATA, "bigearthnet_s2_l2a_12band_patches", "S2A_MSIL2A_20170617T113321_36_85")
W, H = 1280, 800
state = {}


def grab(name):
    QApplication.processEvents()
    QApplication.primaryScreen().grabWindow(0, 0, 0, W, H).save(os.path.join(OUT, name))
    print(f"screenshot {name}", flush=True)


def add_layers(paths, visible=True):
    layers = [QgsRasterLayer(p, os.path.splitext(os.path.basename(p))[0]) for p in paths]
    QgsProject.instance().addMapLayers(layers)
    for layer in layers:
        QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(visible)
    return layers


def step_dialog():
    iface.mainWindow().setGeometry(0, 0, W, H)
    layers = add_layers(sorted(glob.glob(os.path.join(PATCH, "*_B*.tif"))), visible=False)
    iface.mapCanvas().setExtent(layers[0].extent())
    dlg = processing.createAlgorithmDialog("hls_translate:synthesize_band", {"INPUT": layers, "TARGET_BANDS": [10]})
    dlg.setGeometry(60, 30, 1160, 760)
    dlg.show()
    state["dlg"] = dlg
    QTimer.singleShot(2500, lambda: (grab("synthesize_band_dialog.png"), step_batch()))


def step_batch():
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog

    state["dlg"].close()
    alg = QgsApplication.processingRegistry().createAlgorithmById("hls_translate:synthesize_band")
    dlg = BatchAlgorithmDialog(alg, iface.mainWindow())
    dlg.setGeometry(40, 40, 1200, 700)
    dlg.show()
    panel = dlg.mainWidget()
    targets = panel.wrappers[0][panel.parameter_to_column["TARGET_BANDS"]]
    targets.setParameterValue([10, 4], QgsProcessingContext())
    state["batch"] = dlg
    QTimer.singleShot(800, lambda: open_targets(targets))


def open_targets(targets):
    next(b for b in targets.wrappedWidget().findChildren(QToolButton) if b.text() in ("…", "...")).click()
    QTimer.singleShot(1200, lambda: (grab("batch_dialog_targets.png"), step_result()))


def step_result():
    state["batch"].close()
    QgsProject.instance().removeAllMapLayers()
    inputs = add_layers([f for f in sorted(glob.glob(os.path.join(SAMPLE, "*.tif")))
                         if not f.endswith(("_B10.tif", "_B06.tif"))], visible=False)
    real = add_layers([os.path.join(SAMPLE, "Spain_7370579_S2L1C_crop_B06.tif")], visible=False)
    out = os.path.join(OUT, "..", "result_B06.tif")
    QgsProject.instance().setCrs(real[0].crs())
    processing.runAndLoadResults("hls_translate:synthesize_band", {
        "INPUT": inputs, "TARGET_BANDS": ["red_edge_2"], "OUTPUT": out})
    root = QgsProject.instance().layerTreeRoot()
    for node in root.findLayers():
        node.setExpanded("synthesized" in node.name())
    iface.mainWindow().findChild(QDockWidget, "Browser").hide()
    layers_dock = iface.mainWindow().findChild(QDockWidget, "Layers")
    iface.mainWindow().resizeDocks([layers_dock], [470], Qt.Horizontal)
    iface.mapCanvas().setExtent(real[0].extent())
    iface.mapCanvas().refresh()
    beside = iface.createNewMapCanvas("real B06 red edge 2")  # a second map view: the real band beside it
    beside.setDestinationCrs(real[0].crs())
    beside.setLayers(real)
    beside.setExtent(real[0].extent())
    beside.refresh()
    QTimer.singleShot(3000, lambda: (grab("result_layer_loaded.png"), step_evaluate(real[0])))


def step_evaluate(real):
    synthesized = next(layer for layer in QgsProject.instance().mapLayers().values() if "synthesized" in layer.name())
    dlg = processing.createAlgorithmDialog("hls_translate:evaluate_band",
                                           {"SYNTHESIZED": synthesized, "REFERENCE": real})
    dlg.setGeometry(60, 30, 1160, 700)
    dlg.show()
    processing.run("hls_translate:evaluate_band", {"SYNTHESIZED": synthesized, "REFERENCE": real,
                                                   "PLOT": os.path.join(OUT, "evaluate_band_plot.png")})
    QTimer.singleShot(1500, lambda: (grab("evaluate_band_dialog.png"), finish()))


def finish():
    QgsProject.instance().setDirty(False)
    open(os.path.join(OUT, "done"), "w").close()
    os._exit(0)


QTimer.singleShot(3000, step_dialog)
