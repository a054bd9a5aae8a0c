"""``make plugin-zip``: one ``hls_translate/`` folder, only plugin files, loadable by qgis_process."""

from __future__ import annotations

import importlib.util
import os
import zipfile

import pytest

from support import REPO

pytestmark = pytest.mark.qgis


def _builder():
    spec = importlib.util.spec_from_file_location("build_plugin_zip", REPO / "scripts" / "build_plugin_zip.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_plugin_zip_contents_and_loads(tmp_path):
    b = _builder()
    has_model = (REPO / b.MODEL).is_file()
    if not has_model:
        with pytest.raises(SystemExit, match="bundled model"):
            b.build(str(tmp_path / "refused"))
        assert not (tmp_path / "refused").exists() or os.listdir(tmp_path / "refused") == []
    path = b.build(str(tmp_path / "dist"), allow_missing_model=not has_model)
    assert os.listdir(tmp_path / "dist") == [os.path.basename(path)]  # no temporary file left
    names = zipfile.ZipFile(path).namelist()
    assert {n.split("/")[0] for n in names} == {"hls_translate"}
    for required in ("__init__.py", "metadata.txt", "resources/icons/icon.svg", "qgis_plugin/plugin.py",
                     "processing_provider/provider.py", "core/engine/api.py", "core/labels.py", "core/scene.py"):
        assert f"hls_translate/{required}" in names, required
    if has_model:
        assert f"hls_translate/{b.MODEL}" in names
    for n in names:
        parts = n.split("/")
        assert not {"tests", "training", "commands", "bench", "scripts", ".venv", "__pycache__", "runs"} & set(parts), n
        assert n != "hls_translate/cli.py", n  # the command line is not the plugin's
        assert not n.endswith((".pyc", ".aux.xml")) and not parts[-1].startswith("."), n
        assert not n.startswith("hls_translate/core/models/"), n  # torch code: useless inside QGIS
    b.check(path)  # unzipped into a plugins folder, enabled and listed by qgis_process (model_info if bundled)
