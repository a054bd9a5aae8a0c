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
