"""QGIS plugin overhead: the same synthesis through the library, ``processing.run`` and ``qgis_process``.

    .venv/bin/python bench/bench_qgis.py [--model M.onnx] [--repeat 3]

Input: the real T19UDP Sentinel-2 L1C stack (687 x 687, 13 bands; target B10 cirrus from the 12 others).
Model: ``--model``, else the bundled ``resources/models/hls_translate_default.onnx``, else the seeded test
fixture (``tests/support/adain_fixture.small_adain_onnx``, needs torch to export).  Reported, best of ``--repeat``:

* ``library``: ``open_scene`` + ``engine.predict`` in this process (what ``hls-translate predict`` runs);
* ``processing.run``: the ``hls_translate:synthesize_band`` algorithm in this process (QGIS already up);
* ``qgis_process``: a fresh ``qgis_process.bin run`` (QGIS start-up, plugin load, run, exit), the cost
  a shell batch loop pays per scene.

Prints a markdown table (copied into bench/RESULTS.md, section "QGIS plugin").
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from support.data import T19UDP

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_qgis_"))
    model = args.model or str(REPO / "resources" / "models" / "hls_translate_default.onnx")
    if not os.path.isfile(model):
        from support.adain_fixture import small_adain_onnx

        model = small_adain_onnx(tmp / "fixture.onnx")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing

    import hls_translate
    from hls_translate.core.engine import predict
    from hls_translate.core.scene import open_scene

    plugin = hls_translate.classFactory(None)
    plugin.initProcessing()

    def library():
        with open_scene(str(T19UDP)) as scene:
            predict(model, scene, ["cirrus"], str(tmp / "lib.tif"))

    def in_qgis():
        processing.run("hls_translate:synthesize_band", {"INPUT": [str(T19UDP)], "MODEL": model,
                                                         "TARGET_BANDS": ["cirrus"], "OUTPUT": str(tmp / "alg.tif")})

    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / "hls_translate").symlink_to(REPO, target_is_directory=True)
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp / "profile"), QGIS_PLUGINPATH=str(plugins),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    qp = "/usr/bin/qgis_process.bin"
    subprocess.run([qp, "plugins", "enable", "hls_translate"], env=env, check=True, capture_output=True)

    def headless():
        subprocess.run([qp, "run", "hls_translate:synthesize_band", "--", f"INPUT={T19UDP}", "TARGET_BANDS=cirrus",
                        f"MODEL={model}", f"OUTPUT={tmp / 'qp.tif'}"], env=env, check=True, capture_output=True)

    def empty_qgis_process():
        subprocess.run([qp, "run", "hls_translate:model_info", "--", f"MODEL={model}"], env=env, check=True,
                       capture_output=True)

    rows = [("library (open_scene + engine.predict)", best(library, args.repeat)),
            ("processing.run synthesize_band", best(in_qgis, args.repeat)),
            ("qgis_process run synthesize_band (fresh process)", best(headless, args.repeat)),
            ("qgis_process run model_info (start-up + plugin load only)", best(empty_qgis_process, args.repeat))]
    plugin.unload()
    print(f"T19UDP 687 x 687, 12 bands -> B10 cirrus; model {os.path.basename(model)}; best of {args.repeat}\n")
    print("| path | seconds |\n| --- | --- |")
    for name, s in rows:
        print(f"| {name} | {s:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
