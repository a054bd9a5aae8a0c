"""Training throughput, peak memory and the data pipeline's share of step time, at the bundled config.

    .venv/bin/python bench/bench_training.py [--steps 60] [--device cpu|cuda] [--config C.yaml] [--json OUT]

Runs the real trainer (``training.trainer.train``) in a fresh child process on the real scenes with the
config's model, chips and batch (default: ``training/configs/bundled.yaml``), validation, checkpoints
and TensorBoard off, and reports

* samples/s over the measured steps (the first log window, with its one-off costs, is dropped);
* the data share: time the step waits for its batch (prefetched on a thread one step ahead) over the
  step time, and the cost of building one batch on its own (ms, no overlap);
* peak resident memory of the child (``ru_maxrss``) and, on CUDA, peak allocated GPU memory;
* the time to load the scenes (done once per run).

On CUDA the config's AMP setting applies (``auto``: bf16 where supported).  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def child(args) -> int:
    import numpy as np
    import torch

    from hls_translate.training.config import load_train_config
    from hls_translate.training.data import ChipSampler, prepare_data
    from hls_translate.training.trainer import train

    log_every = max(1, args.steps // 6)
    warm = log_every
    with tempfile.TemporaryDirectory() as tmp:
        over = [f"run.out_dir={tmp}/run", f"run.steps={args.steps + warm}", f"run.log_every={log_every}",
                "run.validate_every=0", "run.checkpoint_every=0", "run.tensorboard=false", "run.progress=false",
                f"run.device={args.device}", f"run.threads={args.threads}", "data.validation=[]"]
        if args.batch:
            over.append(f"run.batch_size={args.batch}")
        cfg = load_train_config(args.config, over)
        t0 = time.perf_counter()
        data = prepare_data(cfg)
        load_s = time.perf_counter() - t0
        sam = ChipSampler(data.train, data.plan, cfg.data.chip_size, cfg.run.batch_size, seed=1)
        sam.batch(0)
        t0 = time.perf_counter()
        for i in range(20):
            sam.batch(i)
        batch_ms = (time.perf_counter() - t0) / 20 * 1e3
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        res = train(cfg, log=lambda m: None)
        hist = res.history[1:]  # drop the warm-up window
        sps = float(np.mean([h["samples_per_s"] for h in hist]))
        share = float(np.mean([h["data_share"] for h in hist]))
        out = {"samples_per_s": sps, "data_share": share, "batch_build_ms": batch_ms, "scene_load_s": load_s,
               "batch_size": cfg.run.batch_size, "chip_size": cfg.data.chip_size, "steps_measured": args.steps,
               "model": cfg.model.name, "params": sum(p.numel() for p in res.model.parameters()),
               "model_params": dict(cfg.model.params), "device": args.device,
               "amp": cfg.run.amp if args.device == "cuda" else "off", "torch_threads": torch.get_num_threads(),
               "gpu_peak_mb": (torch.cuda.max_memory_allocated() / 2 ** 20) if args.device == "cuda" else None}
        if args.device == "cuda":
            out["gpu"] = torch.cuda.get_device_name()
    with open(args.child_out, "w") as f:
        json.dump(out, f)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=os.path.join(REPO, "training", "configs", "bundled.yaml"))
    ap.add_argument("--steps", type=int, default=60, help="measured steps (after one warm-up window)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--batch", type=int, default=0, help="override run.batch_size")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "r.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--child-out", out_path, "--config", args.config,
               "--steps", str(args.steps), "--device", args.device, "--threads", str(args.threads),
               "--batch", str(args.batch)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO)
        wall = time.perf_counter() - t0
        with open(out_path) as f:
            r = json.load(f)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    r["wall_s"] = wall
    r["load_average"] = os.getloadavg()[0]
    r["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs"
    gpu_mb = "-" if r["gpu_peak_mb"] is None else f"{r['gpu_peak_mb']:.0f}"
    print(f"| device | model (params) | batch x chip | samples/s | data share | batch build ms | peak RSS MB |"
          f" GPU peak MB | scene load s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {r['device']}{' ' + r.get('gpu', '') if r.get('gpu') else ''} ({r['torch_threads']} threads) | "
          f"{r['model']} {r['model_params']} ({r['params']:,}) | {r['batch_size']} x {r['chip_size']}^2 | "
          f"{r['samples_per_s']:.1f} | {r['data_share']:.1%} | {r['batch_build_ms']:.1f} | {r['peak_rss_mb']:.0f} | "
          f"{gpu_mb} | {r['scene_load_s']:.1f} |")
    print(f"(load average at the end: {r['load_average']:.1f}; {r['machine']}; wall {r['wall_s']:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
