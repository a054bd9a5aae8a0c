"""Make packages unimportable in a subprocess, as in a QGIS whose Python lacks them.

Write :data:`HIDING_SITECUSTOMIZE` as ``sitecustomize.py`` into a folder put first on the subprocess's
``PYTHONPATH`` and name the packages to hide, comma-separated, in its environment variable ``HLS_TEST_HIDE``.
"""

import textwrap

#: Source of a ``sitecustomize`` module that hides the top-level packages named in ``$HLS_TEST_HIDE``.
HIDING_SITECUSTOMIZE = textwrap.dedent("""
    # sitecustomize for tests: make some packages unimportable, as in a QGIS whose Python lacks them
    import os, sys

    class _Blocker:
        hidden = tuple(n for n in os.environ.get("HLS_TEST_HIDE", "").split(",") if n)

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Blocker())
""")


def hiding_env(folder, packages, pythonpath: str = "") -> dict:
    """The environment of a subprocess in which ``packages`` cannot be imported: the shim is written to
    ``folder`` and put first on ``PYTHONPATH`` (before ``pythonpath``, then the caller's)."""
    import os
    import pathlib

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE)
    path = [str(folder)] + [p for p in (pythonpath, os.environ.get("PYTHONPATH", "")) if p]
    return dict(os.environ, HLS_TEST_HIDE=",".join(packages), PYTHONPATH=os.pathsep.join(path))
