"""The plugin object: loading, menu/toolbar, unloading, a provider id already taken, missing packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from qgis.core import QgsApplication

from support import REPO
from support.data import SPAIN
from support.hide_packages import HIDING_SITECUSTOMIZE
from support.qgis_gui import fake_iface

pytestmark = pytest.mark.qgis

PROBE = textwrap.dedent("""
    import json, os, sys
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication, QgsProcessingException
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing
    Processing.initialize()
    import processing
    logged = []
    QgsApplication.messageLog().messageReceived.connect(lambda msg, tag, level: logged.append([tag, msg]))
    import hls_translate
    plugin = hls_translate.classFactory(None)
    plugin.initProcessing()
    reg = QgsApplication.processingRegistry()
    out = {"missing": plugin.missing, "registered": reg.providerById("hls_translate") is not None, "logged": logged}
    if out["registered"]:
        alg = reg.algorithmById("hls_translate:synthesize_band")
        out["can_execute"] = list(alg.canExecute())
        try:
            processing.run("hls_translate:synthesize_band", {"INPUT": [sys.argv[1]], "TARGET_BANDS": ["cirrus"],
                                                             "MODEL": sys.argv[2], "OUTPUT": sys.argv[3]})
            out["run"] = "ran"
        except QgsProcessingException as exc:
            out["run"] = str(exc)
        out["model_info"] = processing.run("hls_translate:model_info", {"MODEL": sys.argv[2]})["FAMILY"]
    plugin.unload()
    out["after_unload"] = reg.providerById("hls_translate") is not None
    print("RESULT " + json.dumps(out))
""")


def _probe(tmp_path, hide, model, spain):
    (tmp_path / "shim").mkdir()
    (tmp_path / "shim" / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE)
    env = dict(os.environ, HLS_TEST_HIDE=",".join(hide), PYTHONPATH=str(tmp_path / "shim"),
               QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(spain), model, str(tmp_path / "out.tif")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, f"probe failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(line[len("RESULT "):]), proc


def test_load_gui_duplicate_and_unload(qgis_app, monkeypatch):
    import hls_translate

    reg = QgsApplication.processingRegistry()
    assert reg.providerById("hls_translate") is None
    iface = fake_iface(monkeypatch)
    plugin = hls_translate.classFactory(iface)
    plugin.initGui()
    plugin.initProcessing()  # QGIS may call both: nothing is registered twice
    provider = reg.providerById("hls_translate")
    assert provider is plugin.provider is not None and len(provider.algorithms()) == 5
    assert iface.addPluginToRasterMenu.call_count == 4
    # on the Plugins toolbar, which a fresh profile shows (the Raster toolbar is hidden there: issue 13, point 10)
    iface.addToolBarIcon.assert_called_once_with(plugin.actions[0])
    iface.addRasterToolBarIcon.assert_not_called()
    assert plugin.actions[0].text().startswith("Synthesize HLS band") and not plugin.actions[0].icon().isNull()

    # a second copy of the plugin (another folder name) must not break or remove the first one's provider
    other = hls_translate.classFactory(None)
    other.initProcessing()
    assert other.provider is None and reg.providerById("hls_translate") is provider
    other.unload()
    assert reg.providerById("hls_translate") is provider and len(provider.algorithms()) == 5

    # menu entry / toolbar button open the main algorithm's dialog
    plugin.actions[0].trigger()
    dlg = plugin._dialogs[-1]
    assert dlg.algorithm().id() == "hls_translate:synthesize_band" and dlg.isVisible()
    plugin.actions[3].trigger()
    assert plugin._dialogs[-1].algorithm().id() == "hls_translate:model_info"

    plugin.unload()
    assert reg.providerById("hls_translate") is None
    assert iface.removePluginRasterMenu.call_count == 4
    iface.removeToolBarIcon.assert_called_once()
    assert plugin.actions == [] and plugin.provider is None
    assert not any(a.provider() is not None and a.provider().id() == "hls_translate" for a in reg.algorithms())


def test_loads_without_onnxruntime_and_says_how_to_install(qgis_app, adain_model, tmp_path):
    out, proc = _probe(tmp_path, ["onnxruntime"], adain_model, SPAIN)
    assert out["missing"] == ["onnxruntime"]
    assert out["registered"]  # model_info and evaluate_band still work
    text = "\n".join(m for tag, m in out["logged"] if tag == "HLS Band Translator")
    assert "onnxruntime" in text and "-m pip install onnxruntime" in text and "OSGeo4W Shell" in text
    assert "onnxruntime" in proc.stderr  # also said on stderr when there is no QGIS window
    assert out["can_execute"][0] is False and "pip install onnxruntime" in out["can_execute"][1]
    assert "pip install onnxruntime" in out["run"] and not os.path.exists(tmp_path / "out.tif")
    assert out["model_info"] == "adain"
    assert out["after_unload"] is False
    assert "Traceback" not in proc.stdout + proc.stderr


def test_loads_without_numpy_and_registers_nothing(qgis_app, adain_model, tmp_path):
    out, proc = _probe(tmp_path, ["numpy"], adain_model, SPAIN)
    assert "numpy" in out["missing"] and out["registered"] is False
    text = "\n".join(m for tag, m in out["logged"] if tag == "HLS Band Translator")
    assert "-m pip install numpy" in text and "numpy<2" in text
    assert "Traceback" not in proc.stdout + proc.stderr


def test_install_hint_names_package_and_shell():
    from hls_translate.qgis_plugin.deps import install_hint

    hint = install_hint(["onnxruntime"])
    assert "python -m pip install onnxruntime" in hint  # OSGeo4W shell
    assert "/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install onnxruntime" in hint
    assert "onnxruntime-gpu" in hint and "restart QGIS" in hint


def test_metadata_txt_is_complete():
    import configparser

    cp = configparser.ConfigParser()
    cp.read(REPO / "metadata.txt", encoding="utf-8")
    md = cp["general"]
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "tags", "icon"):
        assert md.get(key, "").strip(), key
    assert md["name"] == "HLS Band Translator" and md["qgisMinimumVersion"] == "3.22"
    assert md["hasProcessingProvider"] == "yes"
    assert (REPO / md["icon"]).is_file()
    import hls_translate

    assert md["version"] == hls_translate.__version__
