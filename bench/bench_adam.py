"""One Adam step over each family's parameters: torch's default CPU implementation (one tensor at a time),
its ``foreach`` implementation and its fused kernel (what ``training.objectives.base.adam`` picks where
this torch has it), side by side in one run on the same parameters and gradients.

    .venv/bin/python bench/bench_adam.py [--threads 2] [--repeats 7]

Prints a Markdown table (median seconds per step of one optimizer over all the family's networks) and
checks that the fused step gives the default's parameters to float32 rounding.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time


def families():
    from hls_translate.core.models import create_model
    from hls_translate.training.gan import PatchDiscriminator

    g = create_model("pix2pix_unet")
    yield "pix2pix (G + D)", list(g.parameters()) + list(PatchDiscriminator(11, 64, 3, norm="batch").parameters())
    ab, ba = create_model("cyclegan_resnet"), create_model("cyclegan_resnet")
    yield "cyclegan (2 G + 2 D)", (list(ab.parameters()) + list(ba.parameters())
                                   + [p for _ in range(2) for p in PatchDiscriminator(4, 64, 3, norm="instance").parameters()])
    yield "spectral_mlp (bundled size)", list(create_model("spectral_mlp", width=96, blocks=4).parameters())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kinds = {"default": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| parameters of | count | default s | foreach s | fused s | default / fused |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, params in families():
        params = [torch.nn.Parameter(p.detach().clone()) for p in params]
        grads = [torch.randn_like(p) * 1e-3 for p in params]
        copies, opts = {}, {}
        for k, kw in kinds.items():
            copies[k] = [torch.nn.Parameter(p.detach().clone()) for p in params]
            for q, gr in zip(copies[k], grads):
                q.grad = gr.clone()
            opts[k] = torch.optim.Adam(copies[k], lr=2e-4, betas=(0.5, 0.999), **kw)
        times = {k: [] for k in kinds}
        for _ in range(args.repeats + 1):  # the first round (state allocation) is not counted
            for k in kinds:  # interleaved, so that load affects all alike
                t = time.perf_counter()
                opts[k].step()
                times[k].append(time.perf_counter() - t)
        worst = max(float((a.detach() - b.detach()).abs().max()) for a, b in zip(copies["default"], copies["fused"]))
        if worst > 1e-6:
            raise SystemExit(f"{name}: fused Adam differs from the default by {worst:g}")
        med = {k: statistics.median(v[1:]) for k, v in times.items()}
        n = sum(p.numel() for p in params)
        print(f"| {name} | {n:,} | {med['default']:.4f} | {med['foreach']:.4f} | {med['fused']:.4f} | "
              f"{med['default'] / med['fused']:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
