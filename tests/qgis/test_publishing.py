"""What plugins.qgis.org and users of a published plugin expect (issue 13, points 10 and 11): help pages
the Help button opens, plain-text help, translations, ONNX Runtime installed into the plugin's own folder
(the command for this machine, never both builds), and install commands that work on each platform."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QUrl

from support import REPO

pytestmark = pytest.mark.qgis


def _script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def algorithms():
    return QgsApplication.processingRegistry().providerById("hls_translate").algorithms()


def test_help_pages_are_current_and_opened_by_the_help_button(plugin, tmp_path):
    from hls_translate.processing_provider.help import write_help

    fresh = write_help(str(tmp_path), algorithms())
    assert len(fresh) == 5
    for path in fresh:
        committed = REPO / "help" / os.path.basename(path)
        assert committed.read_text(encoding="utf-8") == open(path, encoding="utf-8").read(), (
            f"{committed} is not current: run scripts/build_help.py")
    for alg in algorithms():
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile() and os.path.isfile(url.toLocalFile()), alg.id()
        assert f"hls_translate:{alg.name()}" in open(url.toLocalFile(), encoding="utf-8").read()


def test_help_is_plain_text_and_descriptions_whole(plugin):
    for alg in algorithms():
        text = alg.shortHelpString()
        assert not any(c in text for c in "<&"), alg.id()  # no markup: qgis_process prints it as it is
        assert all(f"{p.name()} - " in text for p in alg.parameterDefinitions()), alg.id()
        short = alg.shortDescription()
        assert short.endswith(".") and len(short) > 60 and not short.endswith("e.g."), short


def test_every_string_is_a_translated_literal_and_french_loads(plugin, monkeypatch):
    update = _script("update_translations")
    strings, problems = update.translatable()
    assert not problems and "Synthesize HLS band" in strings and len(strings) > 100
    assert update.main(["--check"]) == 0, "i18n/*.ts not current: run scripts/update_translations.py"
    from hls_translate.qgis_plugin import plugin as plugin_module

    monkeypatch.setattr(plugin_module, "user_locale", lambda: "fr")
    french = plugin_module.HLSTranslatePlugin(None)
    try:
        assert french.translator is not None
        alg = QgsApplication.processingRegistry().createAlgorithmById("hls_translate:synthesize_band")
        assert alg.displayName() == "Synthétiser une bande HLS"
        assert alg.parameterDefinition("TARGET_BANDS").description() == "Bande(s) à synthétiser"
        assert alg.group() == "Synthèse de bandes"
        assert plugin_module.menu_entries()[0][1] == "Synthétiser une bande HLS…"
    finally:
        french.unload()
    assert QCoreApplication.translate("hls_translate", "Synthesize HLS band") == "Synthesize HLS band"


# --- ONNX Runtime --------------------------------------------------------------------------------------
def test_build_chosen_for_the_machine():
    from hls_translate.qgis_plugin import deps

    def run(listing):
        return lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, stdout=listing, stderr="")

    gpu = run("GPU 0: NVIDIA H200 (UUID: GPU-1)\n")
    assert deps.has_nvidia_gpu(which=lambda n: "/usr/bin/nvidia-smi", run=gpu, system="Linux")
    assert not deps.has_nvidia_gpu(which=lambda n: None, run=gpu, system="Linux")
    assert not deps.has_nvidia_gpu(which=lambda n: "/usr/bin/nvidia-smi", run=run(""), system="Linux")
    assert not deps.has_nvidia_gpu(which=lambda n: "/usr/bin/nvidia-smi", run=gpu, system="Darwin")
    assert deps.onnxruntime_build(True, "Linux", "x86_64") == "onnxruntime-gpu"
    assert deps.onnxruntime_build(True, "Windows", "AMD64") == "onnxruntime-gpu"
    assert deps.onnxruntime_build(True, "Darwin", "arm64") == "onnxruntime"  # no GPU build for macOS
    assert deps.onnxruntime_build(False, "Linux", "x86_64") == "onnxruntime"
    cmd = deps.install_command("/usr/bin/python3", "/p/f", "onnxruntime", "1.24.2")
    assert cmd[:6] == ["/usr/bin/python3", "-m", "pip", "install", "--upgrade", "--target"]
    assert cmd[6] == "/p/f" and cmd[-2:] == ["onnxruntime", "numpy==1.24.2"]


def test_install_into_the_plugins_folder_never_both_builds(tmp_path):
    from hls_translate.qgis_plugin import deps

    folder = str(tmp_path / "pkgs")
    os.makedirs(os.path.join(folder, "onnxruntime_gpu-1.20.0.dist-info"))
    calls = []

    def fake_pip(cmd, **kw):  # what pip leaves behind, without downloading anything
        calls.append(cmd)
        target, package = cmd[cmd.index("--target") + 1], cmd[cmd.index("--disable-pip-version-check") + 1]
        os.makedirs(os.path.join(target, f"{package.replace('-', '_')}-1.20.0.dist-info"))
        return subprocess.CompletedProcess(cmd, 0, stdout="Successfully installed", stderr="")

    log = []
    ok, output = deps.install(folder, "onnxruntime", python=sys.executable, numpy_version="1.24.2", run=fake_pip,
                              log=log.append)
    assert ok and output == "Successfully installed" and len(calls) == 1
    assert deps.installed_builds(folder) == ["onnxruntime"]  # the GPU build was removed first
    assert "must not be installed together" in log[0]
    with pytest.raises(ValueError):
        deps.install(folder, "tensorflow", run=fake_pip)


def test_plugin_puts_its_folder_on_the_path(qgis_app):
    from hls_translate.qgis_plugin import deps
    from hls_translate.qgis_plugin.plugin import HLSTranslatePlugin

    folder = deps.packages_folder(QgsApplication.qgisSettingsDirPath())
    assert folder.startswith(QgsApplication.qgisSettingsDirPath()) and f"python{sys.version_info[0]}." in folder
    os.makedirs(os.path.join(folder, "hls_fake_runtime"), exist_ok=True)
    open(os.path.join(folder, "hls_fake_runtime", "__init__.py"), "w").write("VALUE = 42\n")
    try:
        p = HLSTranslatePlugin(None)
        assert sys.path[-1] == folder or folder in sys.path[sys.path.index(folder):]
        assert sys.path.index(folder) > max(i for i, f in enumerate(sys.path) if "site-packages" in f
                                           or "dist-packages" in f and f != folder)
        assert importlib.import_module("hls_fake_runtime").VALUE == 42
        p.unload()
    finally:
        sys.path.remove(folder)
        sys.modules.pop("hls_fake_runtime", None)


def test_install_commands_for_each_platform():
    from hls_translate.qgis_plugin.deps import install_hint

    hint = install_hint(["onnxruntime"], folder="/home/u/.local/share/QGIS/QGIS3/profiles/default/hls_translate/x",
                        gpu=False)
    assert "Install ONNX Runtime..." in hint and "no restart needed" in hint
    assert "there is no python3-onnxruntime package" in hint and "externally-managed-environment" in hint
    assert '/usr/bin/python3 -m pip install onnxruntime --target "/home/u/.local' in hint
    assert "python3 -m venv --system-site-packages" in hint
    assert "OSGeo4W Shell" in hint and "python -m pip install onnxruntime" in hint
    assert "/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install onnxruntime" in hint
    assert "never both" in hint and "no NVIDIA GPU was found" in hint
    gpu = install_hint(["onnxruntime"], gpu=True)
    assert "python -m pip install onnxruntime-gpu" in gpu and "an NVIDIA GPU was found" in gpu
