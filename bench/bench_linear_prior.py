"""Inference cost of ``adain_unet``'s linear prior in ONNX Runtime (CPU): the default model with and
without ``linear_prior``, same weights otherwise, runs interleaved so that background load hits both alike.

    .venv/bin/python bench/bench_linear_prior.py [--threads 2] [--rounds 40]

Inputs: the real Spain scene (all 13 bands present but the target), 256x256 tiles, batch 1 and 4; the
prior's moments are the Spain scene's own (the solve costs the same whatever they are).  Prints medians
and the ratio (copied into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--rounds", type=int, default=40, help="interleaved timing rounds per batch size")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from hls_translate.core.models import create_model
    from hls_translate.core.grid import Window
    from hls_translate.core.scene import open_scene
    from hls_translate.training.export import export_model
    from support.adain_fixture import spain_stats
    from support.data import SPAIN

    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, _ = scene.read_stack(ids, Window(0, 0, 512, 512))
    full = np.zeros((15, 512, 512), np.float32)
    full[ids] = values
    z = np.concatenate([np.ones((1, 512 * 512)), full.reshape(15, -1)]).astype(np.float64)
    moments = z @ z.T / z.shape[1]

    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, prior in (("without", False), ("with", True)):
            torch.manual_seed(0)
            model = create_model("adain_unet", linear_prior=prior)
            model.set_normalization(spain_stats())
            if prior:
                model.set_linear_prior([(ids, moments, 1.0)])
            path = os.path.join(tmp, f"{name}.onnx")
            export_model(model, path)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            sessions[name] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    print(f"# ONNX Runtime {ort.__version__}, {args.threads} threads, {args.rounds} interleaved rounds, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print("| batch x 256x256 | without prior (ms) | with prior (ms) | with / without |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        corners = rng.integers(0, 256, size=(batch, 2))
        bands = np.stack([full[:, r:r + 256, c:c + 256] for r, c in corners])
        target = rng.choice(ids, size=batch).astype(np.int64)
        present = np.zeros((batch, 15), np.float32)
        present[:, ids] = 1.0
        present[np.arange(batch), target] = 0.0
        feeds = {"bands": bands, "present": present, "target": target}
        times = {k: [] for k in sessions}
        for s in sessions.values():
            s.run(None, feeds)
        for _ in range(args.rounds):
            for k, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, feeds)
                times[k].append(time.perf_counter() - t0)
        a, b = (statistics.median(times[k]) * 1000 for k in ("without", "with"))
        print(f"| {batch} | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
