"""The bundled model against the one it replaced (issue 12), side by side in one run: inference time of
``engine.predict_array`` on the same real pixels, and the tiled vs whole-image difference of each.

    .venv/bin/python bench/bench_bundled.py [--old OLD.onnx] [--size 1024] [--repeats 3] [--threads 0]

``--old`` defaults to the previous bundled model (``adain_unet``) taken from git (commit 6bcb28d) into a
temporary file.  Pixels: the real Spain Sentinel-2 L1C scene, mirror-tiled to ``size x size``; target B10
cirrus and B05 red edge 1 from the 12 other bands; each model at its own recommended tiling, the fastest of
``--repeats`` runs.  Prints a markdown table (copied into bench/RESULTS.md, section "Bundled model").
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))


def _old_model(commit: str, folder: str) -> str:
    path = os.path.join(folder, "old_bundled.onnx")
    blob = subprocess.run(["git", "-C", REPO, "show", f"{commit}:resources/models/hls_translate_default.onnx"],
                          check=True, capture_output=True).stdout
    with open(path, "wb") as f:
        f.write(blob)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default=None, help="the model to compare with (default: the previous bundled one)")
    ap.add_argument("--commit", default="6bcb28d", help="git commit holding the previous bundled model")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    from hls_translate.core.engine import PredictOptions, predict_array
    from hls_translate.core.runtime import OnnxModel
    from hls_translate.core.scene import open_scene
    from support.data import SPAIN

    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, valid = scene.read_stack(ids)
    reps = -(-args.size // 512)
    big = np.concatenate([np.concatenate([values, values[:, :, ::-1]] * reps, axis=2)] * reps, axis=1)
    big = np.concatenate([big, big[:, ::-1]], axis=1)[:, :args.size, :args.size].copy()
    ok = np.ones(big.shape, dtype=bool)
    with tempfile.TemporaryDirectory() as tmp:
        models = {"new (bundled)": os.path.join(REPO, "resources", "models", "hls_translate_default.onnx"),
                  "old": args.old or _old_model(args.commit, tmp)}
        rows = []
        for name, path in models.items():
            m = OnnxModel(path, device="cpu", threads=args.threads)
            t = m.metadata.tiling
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                tiled, _ = predict_array(m, big, ok, ids, ["cirrus", "red_edge_1"], PredictOptions(threads=args.threads))
                times.append(time.perf_counter() - t0)
            crop = 512  # the whole-image pass on a 512 px window (the old model's memory grows with the tile)
            whole, _ = predict_array(m, big[:, :crop, :crop], ok[:, :crop, :crop], ids, ["cirrus", "red_edge_1"],
                                     PredictOptions(tile_size=crop, overlap=0))
            small, _ = predict_array(m, big[:, :crop, :crop], ok[:, :crop, :crop], ids, ["cirrus", "red_edge_1"],
                                     PredictOptions())
            rows.append((name, m.metadata.architecture, t.tile_size, t.overlap, min(times),
                         float(np.abs(small - whole).max())))
    base = rows[1][4]
    print(f"# bench_bundled: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.size} x {args.size} px, targets B10 + B05 from 12 bands, fastest of {args.repeats}\n")
    print("| model | architecture | tile / overlap | seconds | Mpx/s (2 targets) | time vs old | max tiled-whole (512 px window) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, arch, tile, ov, sec, diff in rows:
        print(f"| {name} | {arch} | {tile} / {ov} | {sec:.2f} | {args.size ** 2 / sec / 1e6:.2f} | {sec / base:.2f} | "
              f"{diff:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
