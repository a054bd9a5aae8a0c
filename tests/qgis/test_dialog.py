"""The algorithm dialog a user sees, rendered offscreen, and its band table.

``render_dialog`` builds QGIS's own processing dialog (``processing.gui.AlgorithmDialog``) for an algorithm,
pre-filled with the sample scene's band layers, and grabs it to a PNG.  The test checks the rendering
is a real dialog (size, many distinct colours, the parameter widgets present).  The documentation's
screenshots come from the real desktop instead: ``scripts/desktop_screenshots.sh`` (QGIS under Xvfb).
"""

from __future__ import annotations

import glob
import os

import pytest
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

from support import REPO
from support.qgis_gui import fake_iface

pytestmark = pytest.mark.qgis

SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
#: TARGET_BANDS' option number of cirrus (= its band class id; dialogs hold option numbers)
CIRRUS = 10


def render_dialog(alg_id: str, path: str, parameters=None, size=(1100, 860), monkeypatch=None):
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    fake_iface(monkeypatch)
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    dlg = AlgorithmDialog(alg, False, None)
    if parameters:
        dlg.setParameters(parameters)
    dlg.resize(*size)
    dlg.show()
    for _ in range(5):
        QgsApplication.processEvents()
    image = dlg.grab().toImage()
    assert image.save(str(path)), f"could not write {path}"
    return dlg, image


def _distinct_colours(image, step=7):
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_synthesize_dialog_renders(plugin, adain_model, tmp_path, monkeypatch):
    files = [f for f in sorted(glob.glob(str(SAMPLE / "*.tif"))) if not f.endswith("_B10.tif")]
    project = QgsProject.instance()
    layers = [QgsRasterLayer(f, os.path.splitext(os.path.basename(f))[0]) for f in files]
    project.addMapLayers(layers)
    try:
        out = tmp_path / "synthesize_band_dialog.png"
        from hls_translate.processing_provider.common import default_model_path

        model = default_model_path() or adain_model  # the screenshot shows the bundled model once it exists
        dlg, image = render_dialog("hls_translate:synthesize_band", out, {
            "INPUT": layers, "MODEL": model, "TARGET_BANDS": [CIRRUS]}, monkeypatch=monkeypatch)
        assert (image.width(), image.height()) == (1100, 860)
        assert _distinct_colours(image) > 20  # text, widgets, check boxes: not a blank window
        params = dlg.mainWidget().createProcessingParameters()
        assert [layer.id() if hasattr(layer, "id") else layer for layer in params["INPUT"]] and \
            len(params["INPUT"]) == len(files)
        assert params["TARGET_BANDS"] == [CIRRUS] and params["MODEL"] == model
        dlg.close()
    finally:
        project.removeAllMapLayers()


def _settle(dlg, panel, rows=1):
    import time

    for _ in range(100):
        QgsApplication.processEvents()
        if panel.table.rowCount() >= rows and not panel._timer.isActive():
            return
        time.sleep(0.01)


def test_band_table_shows_bands_before_the_run_and_edits_the_mapping(plugin, monkeypatch, bigearthnet_patch):
    """The dialog's band table (issue 13, point 3): what each layer is taken for, resampling, warnings, and the
    mapping kept in step both ways."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    fake_iface(monkeypatch)
    files = [str(p) for p in sorted(bigearthnet_patch.glob("*_B*.tif")) if p.name[-7:-4] in ("B02", "B04", "B05", "B09")]
    layers = [QgsRasterLayer(f, os.path.splitext(os.path.basename(f))[0]) for f in files]
    QgsProject.instance().addMapLayers(layers)
    try:
        dlg = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("hls_translate:synthesize_band"),
                              False, None)
        dlg.setParameters({"INPUT": layers, "TARGET_BANDS": [10]})
        panel = dlg.mainWidget().wrappers["BAND_MAPPING"].panel
        _settle(dlg, panel, 4)
        cells = [[panel.table.item(r, c).text() for c in (0, 3, 4, 5)] for r in range(panel.table.rowCount())]
        taken = [panel.table.cellWidget(r, 2).currentText() for r in range(panel.table.rowCount())]
        assert taken == ["B02 blue", "B04 red", "B05 red edge 1", "B09 water vapour"]
        assert [c[1] for c in cells] == ["file name"] * 4 and [c[2] for c in cells] == ["10", "10", "20", "60"]
        assert cells[2][3].startswith("resampled (bilinear) onto 10")
        notes = panel.notes.text()
        assert "2 band(s) resampled (bilinear)" in notes and "B10 cirrus from B02 blue, B04 red, B05 red edge 1, B09" \
               " water vapour: none in the SWIR region of cirrus" in notes
        # choosing a band in a row writes the mapping; the table follows
        box = panel.table.cellWidget(3, 2)
        box.setCurrentIndex(box.findData("swir_1"))
        assert panel.mapping() == f"{layers[3].name()}=swir_1"
        _settle(dlg, panel)
        assert panel.table.cellWidget(3, 2).currentData() == "swir_1"
        assert panel.report.rows[3].taken_as.startswith("B11 SWIR 1") and panel.report.rows[3].told_by == "band mapping"
        panel.set_mapping("nosuch.tif=B04")  # typing the mapping: the table says what is wrong
        _settle(dlg, panel)
        assert "matches no input layer" in panel.notes.text()
        assert dlg.mainWidget().createProcessingParameters()["BAND_MAPPING"] == "nosuch.tif=B04"
        dlg.close()
    finally:
        QgsProject.instance().removeAllMapLayers()
