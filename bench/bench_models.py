"""Model size, FLOPs and speed of ``adain_unet`` configurations (CPU), torch and ONNX Runtime.

    .venv/bin/python bench/bench_models.py [--quick] [--threads 2]

For each configuration: parameters, multiply-accumulates per pixel (forward hooks, see
``core.models.layers.count_macs``), exported ONNX size, one training step (forward + backward + Adam) on
a batch of 16 chips of 64x64 real Spain pixels, and inference throughput at a 256x256 tile in torch and
in ONNX Runtime (CPU).  Prints a markdown table (copied into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

CONFIGS = {
    "default (w16 d3 e32)": {},
    "small (w8 d2 e16)": {"width": 8, "depth": 2, "embed_dim": 16, "tile_size": 64},
    "wide (w32 d3 e64)": {"width": 32, "embed_dim": 64},
}


def _timeit(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from hls_translate.core.models import create_model
    from hls_translate.core.models.layers import count_macs, count_parameters
    from hls_translate.core.grid import Window
    from hls_translate.core.scene import open_scene
    from hls_translate.training.export import export_model
    from support.adain_fixture import spain_stats
    from support.data import SPAIN

    torch.set_num_threads(args.threads)
    reps = 3 if args.quick else 7
    with open_scene(str(SPAIN)) as scene:
        ids = [b.id for b in scene.bands]
        values, _ = scene.read_stack(ids, Window(0, 0, 512, 512))
    full = np.zeros((15, 512, 512), np.float32)
    full[ids] = values
    rng = np.random.default_rng(0)
    chips = np.stack([full[:, r:r + 64, c:c + 64] for r, c in rng.integers(0, 448, size=(16, 2))])
    present = np.zeros((16, 15), np.float32)
    present[:, ids] = 1.0
    targets = rng.choice(ids, size=16).astype(np.int64)
    present[np.arange(16), targets] = 0.0
    truth = chips[np.arange(16), targets][:, None]
    tile = np.repeat(full[None, :, 128:384, 128:384], 1, axis=0)
    tile_present = present[:1].copy()
    tile_target = targets[:1].copy()

    import pathlib

    from support.adain_fixture import small_adain_onnx

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        small_adain_onnx(pathlib.Path(tmp) / "fx.onnx")
        print(f"tests/support/adain_fixture.small_adain_onnx: {time.perf_counter() - t0:.2f} s")
    print(f"# adain_unet on {platform.processor() or platform.machine()}, {args.threads} threads, torch "
          f"{torch.__version__}, onnxruntime {ort.__version__}")
    print("| config | params | MACs/px | ONNX MB | stride | RF px | overlap | train step 16x64x64 (s) | "
          "torch 256x256 (Mpx/s) | ORT 256x256 (Mpx/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = create_model("adain_unet", **cfg)
        model.set_normalization(spain_stats())
        params = count_parameters(model)
        macs = count_macs(model, model.example_inputs(1, 64, 64))["total"] / (64 * 64)
        t = model.tiling()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.onnx")
            export_model(model, path)
            size_mb = os.path.getsize(path) / 2 ** 20
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            feeds = {"bands": tile, "present": tile_present, "target": tile_target}
            ort_s = _timeit(lambda: sess.run(None, feeds), reps)

        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xb, pb, tb, yb = (torch.from_numpy(a) for a in (chips, present, targets, truth))
        std = model.norm_std[tb].reshape(-1, 1, 1, 1)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = ((model(xb, pb, tb) - yb) / std).abs().mean()
            loss.backward()
            opt.step()

        train_s = _timeit(step, reps)
        model.eval()
        xt, pt, tt = (torch.from_numpy(a) for a in (tile, tile_present, tile_target))

        def infer():
            with torch.no_grad():
                model(xt, pt, tt)

        torch_s = _timeit(infer, reps)
        mpx = 256 * 256 / 1e6
        print(f"| {name} | {params:,} | {macs:,.0f} | {size_mb:.2f} | {t['stride']} | {t['receptive_field']} | "
              f"{t['overlap']} | {train_s:.3f} | {mpx / torch_s:.2f} | {mpx / ort_s:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
