"""The layering rule: the plugin side needs neither torch nor rasterio, core never imports qgis, and
core (the library) imports neither the training code nor the commands."""

import ast
import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]

# modules that are torch territory by design
TORCH_SIDE = ("core/models/", "training/")


def _modules(folder):
    for p in sorted((REPO / folder).rglob("*.py")):
        rel = p.relative_to(REPO).as_posix()
        if rel.startswith(TORCH_SIDE) or "__pycache__" in rel:
            continue
        mod = "hls_translate." + rel[:-3].replace("/", ".")
        yield mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def _imported_names(path):
    """(module name, line) of every import in the file ``path``, at any depth (see ``_imports``)."""
    package = ["hls_translate", *path.relative_to(REPO).parent.parts]
    return _imports(path.read_text(), package, str(path))


def _imports(source, package, filename="<source>"):
    """(absolute module name, line) of every import in ``source``; relative imports are resolved against
    ``package`` (``from ..training import x`` in hls_translate/core -> ``hls_translate.training``)."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield ".".join(base + [node.module]), node.lineno
            else:
                for a in node.names:
                    yield ".".join(base + [a.name]), node.lineno


def test_core_never_imports_qgis():
    offenders = [f"{p.relative_to(REPO)}:{line} imports {name}"
                 for p in (REPO / "core").rglob("*.py")
                 for name, line in _imported_names(p)
                 if name.split(".")[0] in ("qgis", "PyQt5", "PyQt6")]
    assert not offenders, offenders


def test_core_imports_neither_training_nor_commands():
    forbidden = ("hls_translate.training", "hls_translate.commands", "hls_translate.cli")
    files = sorted((REPO / "core").rglob("*.py"))
    assert REPO / "core" / "engine" / "api.py" in files
    offenders = [f"{p.relative_to(REPO)}:{line} imports {name}"
                 for p in files for name, line in _imported_names(p)
                 if any(name == f or name.startswith(f + ".") for f in forbidden)]
    assert not offenders, offenders


def test_import_resolution_sees_relative_and_absolute_imports():
    """The check above must see every spelling of an import of the training code from core."""
    source = ("from ...training import trainer\nfrom ..config import x\n"
              "def f():\n    from ... import commands\n    import hls_translate.training.data\n")
    names = {name for name, _ in _imports(source, ["hls_translate", "core", "models"])}
    assert names == {"hls_translate.training", "hls_translate.core.config", "hls_translate.commands",
                     "hls_translate.training.data"}


def test_inference_side_imports_without_torch_and_rasterio():
    modules = (list(_modules("core")) + list(_modules("processing_provider")) + list(_modules("commands"))
               + ["hls_translate", "hls_translate.cli"])
    raster_modules = ["hls_translate.core." + m for m in ("grid", "backends", "products", "naming", "qa",
                                                          "sources", "scene", "writer")]
    assert set(raster_modules) <= set(modules) and "hls_translate.core.metadata" in modules
    assert "hls_translate.commands.predict" in modules
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "rasterio", "torchvision", "tensorboard"):
                    raise ImportError(f"{{name}} is blocked by the layering test")
                return None
        sys.meta_path.insert(0, Block())
        for m in {modules!r}:
            importlib.import_module(m)
        import contextlib, io
        from hls_translate import cli
        for command in ("predict", "info"):  # their arguments, and running info, need no torch
            cli.build_parser([command])
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["info", {str(REPO / "resources" / "models" / "hls_translate_default.onnx")!r}]) == 0
        leaked = sorted(n for n in sys.modules if n.split(".")[0] in ("torch", "rasterio"))
        assert not leaked, leaked
        from hls_translate.core.scene import open_scene
        s = open_scene({str(REPO / "resources" / "sample" / "spain_l1c_crop")!r})
        v, m = s.read("B8A")
        assert m.all() and 0 < float(v.mean()) < 1
        print("ok", len({modules!r}))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")
