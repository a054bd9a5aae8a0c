"""QGIS tests: one headless QgsApplication for the whole session, the plugin's provider, fixture models.

Everything runs offscreen (``QT_QPA_PLATFORM=offscreen``) with a throwaway QGIS profile, so no user
settings are read or written.  ``qgis_process`` runs go through :func:`qgis_process` with the plugin
linked into a temporary plugins folder under the name ``hls_translate``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from support import REPO

qgis_core = pytest.importorskip("qgis.core", reason="QGIS's Python bindings (python3-qgis) are not installed")

QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"

_TMP = pathlib.Path(tempfile.mkdtemp(prefix="hls_qgis_tests_"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if not os.environ.get("XDG_RUNTIME_DIR") or not os.path.isdir(os.environ["XDG_RUNTIME_DIR"]):
    (_TMP / "xdg").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_TMP / "xdg")
os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(_TMP / "profile")

from qgis.core import QgsApplication  # noqa: E402

_APP = QgsApplication([], True)  # GUI-capable (offscreen) so that dialogs can be rendered
_APP.initQgis()
_PLUGINS = pathlib.Path(QgsApplication.pkgDataPath()) / "python" / "plugins"
if str(_PLUGINS) not in sys.path:
    sys.path.append(str(_PLUGINS))
from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()


def pytest_unconfigure(config):
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def qgis_app():
    return _APP


@pytest.fixture(scope="module")
def plugin(qgis_app):
    """The plugin loaded as QGIS loads it (classFactory without iface, then initProcessing); unloaded after
    the module, so that every test module starts with no hls_translate provider registered."""
    import hls_translate

    p = hls_translate.classFactory(None)
    p.initProcessing()
    assert p.provider is not None, "the provider was not registered"
    yield p
    p.unload()


@pytest.fixture(scope="session")
def adain_model(tmp_path_factory, data_dir) -> str:
    """The small conditional AdaIN fixture model (real ONNX export with metadata; statistics from the real
    Spain scene, hence ``data_dir``)."""
    pytest.importorskip("torch")
    from support.adain_fixture import small_adain_onnx

    return small_adain_onnx(tmp_path_factory.mktemp("models") / "adain_fixture.onnx")


@pytest.fixture(scope="session")
def plugins_dir(tmp_path_factory) -> pathlib.Path:
    """A plugins folder holding ``hls_translate`` -> the repository (QGIS needs that folder name)."""
    d = tmp_path_factory.mktemp("plugins")
    (d / "hls_translate").symlink_to(REPO, target_is_directory=True)
    return d


def qgis_process_env(plugins_dir: pathlib.Path, profile: pathlib.Path, extra_pythonpath: str = "") -> dict:
    """Environment for ``qgis_process.bin``: offscreen, throwaway profile, our plugins folder, and the venv's
    Python first on PATH (qgis_process's embedded Python takes its prefix from the first python3 there)."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(profile)
    env["QGIS_PLUGINPATH"] = str(plugins_dir)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if extra_pythonpath:
        env["PYTHONPATH"] = extra_pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_qgis_process(args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def qgis_process(plugins_dir, tmp_path_factory):
    """Call ``qgis_process.bin`` with the plugin installed and enabled in a throwaway profile; returns a
    function ``(args, extra_pythonpath='', extra_env=None) -> CompletedProcess``."""
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin is not installed")
    profile = tmp_path_factory.mktemp("qgis_process_profile")
    env = qgis_process_env(plugins_dir, profile)
    r = run_qgis_process(["plugins", "enable", "hls_translate"], env)
    assert r.returncode == 0, f"enabling the plugin failed:\n{r.stdout}\n{r.stderr}"

    def call(args, extra_pythonpath: str = "", extra_env=None, timeout: int = 300):
        e = qgis_process_env(plugins_dir, profile, extra_pythonpath) if extra_pythonpath else env
        return run_qgis_process(args, {**e, **(extra_env or {})}, timeout)

    return call
