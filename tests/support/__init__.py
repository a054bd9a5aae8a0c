"""Helpers shared by the tests, importable as ``support.<module>`` from every test and from the scripts tests
start (pyproject's pytest ``pythonpath`` puts ``tests/`` on ``sys.path``; a subprocess or a bench script
adds ``tests/`` itself).

* :mod:`support.data`: where the real scenes of ``../shared/data`` are, and whether they are there.
* :mod:`support.training`: tiny training configs on those scenes.
* :mod:`support.adain_fixture`: a small seeded ``adain_unet`` (torch and exported ONNX).
* :mod:`support.onnx_models`: hand-built ONNX models whose outputs are known exactly (no torch).
* :mod:`support.hide_packages`: a ``sitecustomize`` that makes packages unimportable in a subprocess.
* ``support/ddp_train_worker.py``: the script the DDP test runs under torchrun.

Fixtures and hooks stay in the conftest files; nothing here is a conftest, and nothing loads one.
"""

import pathlib

#: The repository root, which is also the ``hls_translate`` package folder.
REPO = pathlib.Path(__file__).resolve().parents[2]
