"""Training throughput and peak memory of pix2pix, CycleGAN and SPADE at the papers' configuration,
beside the conditional model's, and the authors' reference implementation (pix2pix, CycleGAN) at the
same configuration in the same run.

    .venv/bin/python bench/bench_families.py [--reference /tmp/ref_cyclegan] [--batches 1 8] [--threads 2]
                                             [--rounds R] [--ours-adam auto|default]
                                             [--ours-malloc retain|default] [--lockstep] [--steps N]
                                             [--device cpu|cuda] [--ours-amp ...] [--ours-channels-last ...]
                                             [--json OUT]

Each measurement runs in a fresh child process (peak RSS = that child's ``ru_maxrss``) on the same real
chips, 256 x 256 px, cut from the shipped scenes: pix2pix translates the eight Landsat bands of T19UDP
(L1C) into its red edge 1-3; CycleGAN translates the 10 m bands of T19UDP (A) into T29RKH's (L2A, B);
SPADE synthesizes T29RKH's 10 m bands from its scene classification (SCL, read by nearest neighbour onto
their grid, one-hot over the classes the tile holds) at the same windows.
A step is one full optimizer step of every network (``objective.train_step`` here; the reference's
``optimize_parameters()``), timed after warm-up steps, on tensors already in memory (the trainer's data
pipeline runs on a thread one step ahead; ``bench_training.py`` measures its share).  Configurations:

* ours: ``pix2pix_unet`` defaults (unet_256, batch norm, dropout) + ``pix2pix`` (70x70 PatchGAN, vanilla
  GAN + L1 x 100, Adam 2e-4 / 0.5); ``cyclegan_resnet`` defaults (9 blocks) + ``cyclegan`` (two PatchGANs,
  LSGAN, cycle 10, identity 0.5, pools of 50); ``adain_unet`` at the bundled model's size with
  ``translation`` (masked L1), one red-edge target, for comparison; ``spade_generator`` defaults (ngf 64,
  five upsamplings: stride 32, 92 M parameters, SPADE hidden 128, parameter-free batch norm, spectral norm)
  with the label classes of the real T29RKH SCL (2, 5, 7, 8, 9, 10) + ``spade`` (two-scale PatchGAN of
  width 64, hinge loss, feature matching x 10, TTUR Adam 1e-4 / 4e-4, betas 0 / 0.9; no VGG loss, no
  style encoder);
* reference: Jun-Yan Zhu's ``pytorch-CycleGAN-and-pix2pix`` (``--reference``: a folder holding its
  ``models/`` and ``util/`` and the small ``drive.py`` that calls them; never part of this repository)
  with ``--model pix2pix --netG unet_256 --norm batch`` / ``--model cycle_gan --netG resnet_9blocks
  --norm instance --pool_size 50``, the same losses, channels, sizes and batch; its images scaled to
  about [-1, 1] from the same chips.  SPADE has no reference run here (its authors' code is not driven).

Ours trains as ``hls-translate train`` does on this machine: Adam with torch's fused kernel where torch has
one (``--ours-adam default``: torch's default implementation, the reference's, to measure the kernel's share)
and CycleGAN one item per forward/backward pass on the CPU (``micro_batch: 0``; the same update, see
``docs/families/cyclegan.md``), and glibc's malloc keeping freed memory in the process
(``run.retain_freed_memory``, ``training/allocator.py``; ``--ours-malloc default``: glibc's defaults, the
reference's, to measure its share).  The reference runs as its code does.  Each child also reports its minor
page faults and system CPU seconds over the timed steps.

``--device cuda`` runs both sides on GPU 0 (the reference as ``--gpu_ids 0`` runs it: float32, NCHW, its
step synchronized before it is timed); ours then trains as ``hls-translate train`` does there: AMP (bf16
where supported, ``--ours-amp``), channels-last networks and batches (``--ours-channels-last``) and cuDNN's
autotuner.  The table then adds each side's peak CUDA memory.

Children alternate (ours, reference) per configuration so that the machine's load affects both alike;
``--rounds R`` runs R of each, alternating, and pools their timed steps.  ``--lockstep`` goes further on a
shared machine whose speed drifts by 10-30 % within minutes: both children are started and set up, then take
one step each in turn (ours, reference, reference, ours, ...), never at the same time, so each of our steps
has a reference step beside it; the table then adds the median of those paired ratios.
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
SIZE = 256
LANDSAT = ["coastal_aerosol", "blue", "green", "red", "nir_narrow", "cirrus", "swir_1", "swir_2"]
RED_EDGE = ["red_edge_1", "red_edge_2", "red_edge_3"]
TEN_METRE = ["blue", "green", "red", "nir_broad"]
T29RKH = "s2_l2a_12band_T29RKH_decimated"


#: what ``--families`` (and ``bench_denormal.py --family``) can name
FAMILIES = ("pix2pix", "cyclegan", "adain", "spade")


def _data_root() -> str:
    return os.environ.get("HLS_TRANSLATE_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")


def make_chips(path: str, n: int = 8) -> None:
    """``n`` real 256 px chips per array, physical values: ``a`` (pix2pix input), ``b`` (its target),
    ``ca`` / ``cb`` (CycleGAN domains A and B); ``labels``: T29RKH's SCL at the windows of ``cb`` as class
    indices (-1: no class) of ``scl_values``, the classes the tile's SCL holds (SPADE's label map; ``cb``
    its target)."""
    import numpy as np

    from hls_translate.core.bands import band_class, resolve_band
    from hls_translate.core.grid import Window
    from hls_translate.core.labels import LabelEncoding, LabelRaster
    from hls_translate.core.metadata import LabelClass
    from hls_translate.core.scene import open_scene

    root = _data_root()

    def windows(grid):
        return [Window((i * 151) % (grid.width - SIZE), (i * 97) % (grid.height - SIZE), SIZE, SIZE) for i in range(n)]

    def chips(scene_path, bands):
        with open_scene(os.path.join(root, scene_path), reference=band_class("blue"), resampling="bilinear") as scene:
            out = [scene.read_stack([resolve_band(b).id for b in bands], w)[0] for w in windows(scene.grid)]
        return np.stack(out).astype(np.float32)

    t29 = os.path.join(root, T29RKH)
    with open_scene(t29, reference=band_class("blue"), resampling="bilinear") as scene:
        grid = scene.grid
    with LabelRaster(os.path.join(t29, "SCL.tif"), grid) as raster:  # nearest neighbour, as training reads it
        raw, ok = raster.read()
        values = sorted(int(v) for v in np.unique(raw[ok]))  # the classes the tile holds (0, no data, is nodata)
        encoding = LabelEncoding([LabelClass(v, str(v)) for v in values])
        labels = np.stack([raster.read_classes(w, encoding)[0] for w in windows(grid)])
    t19 = "s2_l1c_13band_T19UDP_160m/T19UDP_20170729_L1C_13band_160m_stack.tif"
    np.savez(path, a=chips(t19, LANDSAT), b=chips(t19, RED_EDGE), ca=chips(t19, TEN_METRE), cb=chips(T29RKH, TEN_METRE),
             labels=labels, scl_values=np.array(values))


def _ours(args, timed=None) -> dict:
    """One family's objective on the chips; ``timed(step_fn, args, params)`` times its steps (default
    :func:`_timed`; ``bench_denormal.py`` passes its own)."""
    import numpy as np
    import torch

    from hls_translate.core.bands import resolve_band
    from hls_translate.core.models import create_model
    from hls_translate.training.config import OptimConfig
    from hls_translate.training.distributed import Dist
    from hls_translate.training.objectives import TrainContext, create_objective, objective_entry
    from hls_translate.training.objectives.spade import one_hot
    from hls_translate.training.trainer import resolve_amp, resolve_channels_last

    device = torch.device(getattr(args, "device", "cpu"))
    amp = resolve_amp(getattr(args, "ours_amp", "auto"), device)
    channels_last = resolve_channels_last(getattr(args, "ours_channels_last", "auto"), device)
    d = np.load(args.chips)
    if args.family == "spade":  # the paper's generator over the classes of the real T29RKH SCL
        from hls_translate.core.models.spade import SCL_CLASSES

        names = {c.value: c.name for c in SCL_CLASSES}
        classes = [{"value": int(v), "name": names[int(v)]} for v in d["scl_values"]]
        model = create_model("spade_generator", label_classes=classes, target_bands=TEN_METRE)
        x, y = d["labels"], d["cb"]
    elif args.family == "pix2pix":
        model = create_model("pix2pix_unet")
        x, y = d["a"], d["b"]
    elif args.family == "cyclegan":
        model = create_model("cyclegan_resnet")
        x, y = d["ca"], d["cb"]
    else:  # the conditional model at the bundled size, one red-edge target from the eight Landsat bands
        model = create_model("adain_unet", width=16, depth=3, embed_dim=32, tile_size=256)
        x, y = d["a"], d["b"][:, 1:2]
    ids = list(model.accepted_sources()) if args.family != "adain" else [resolve_band(b).id for b in LANDSAT]
    out_ids = list(model.accepted_targets()) if args.family != "adain" else [resolve_band("red_edge_2").id]
    stats = {c: (float(v.mean()), float(v.std())) for c, v in zip(ids, x.transpose(1, 0, 2, 3))} if ids else {}
    stats.update({c: (float(v.mean()), float(v.std())) for c, v in zip(out_ids, y.transpose(1, 0, 2, 3))})
    model.set_normalization(stats)
    name = {"pix2pix": "pix2pix", "cyclegan": "cyclegan", "adain": "translation", "spade": "spade"}[args.family]
    optim = OptimConfig(**{**objective_entry(name).optim_defaults})
    model.to(device)
    ctx = TrainContext(dist=Dist(0, 1, 0, device, ""), optim=optim, steps=1000, amp=amp, channels_last=channels_last)
    objective = create_objective(name, model, {}, ctx)
    objective.train_mode(True)

    def batch(step):  # a collated numpy batch, put on the device (and in its memory format) as the trainer does
        idx = [(step * args.batch + i) % len(x) for i in range(args.batch)]
        xb, yb = x[idx], y[idx]
        ones = np.ones((args.batch, 1, SIZE, SIZE), dtype=bool)
        if args.family == "spade":  # as the objective's collate makes it: one-hot labels, pixels of a known class
            index = x[idx]
            out = {"labels": one_hot(index, len(d["scl_values"])), "real": yb,
                   "mask": np.broadcast_to((index >= 0)[:, None], (args.batch, len(TEN_METRE), SIZE, SIZE))}
        elif args.family == "cyclegan":
            out = {"bands": xb, "mask": ones, "bands_b": yb, "mask_b": ones}
        elif args.family == "pix2pix":
            out = {"bands": xb, "real": yb, "mask": ones}
        else:
            bands = np.zeros((args.batch, 15, SIZE, SIZE), dtype=np.float32)
            bands[:, ids] = xb
            presence = np.zeros((args.batch, 15), dtype=np.float32)
            presence[:, ids] = 1.0
            out = {"bands": bands, "presence": presence, "target": np.full((args.batch,), out_ids[0], dtype=np.int64),
                   "real": yb, "mask": ones}
        return objective.to_device(out)

    return (timed or _timed)(lambda step: {k: float(v) for k, v in objective.train_step(batch(step)).items()}, args,
                  sum(p.numel() for m in objective.modules.values() for p in m.parameters()))


def _timed(step_fn, args, params: int) -> dict:
    import numpy as np
    import torch

    times, last, usage = [], {}, None
    turn = Turns(args.lockstep)
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            usage = resource.getrusage(resource.RUSAGE_SELF)
        turn.wait()
        t = time.perf_counter()
        last = step_fn(step)
        times.append(time.perf_counter() - t)
        turn.done(times[-1])
    end = resource.getrusage(resource.RUSAGE_SELF)
    measured = times[args.warmup:]
    return {"minor_faults_per_step": (end.ru_minflt - usage.ru_minflt) / len(measured),
            "system_s_per_step": (end.ru_stime - usage.ru_stime) / len(measured),
            "samples_per_s": args.batch * len(measured) / sum(measured), "step_s": float(np.median(measured)),
            "times": measured, "params": params, "losses": last, "threads": torch.get_num_threads()}


class Turns:
    """A child's side of ``--lockstep``: say ``ready`` once set up, then run each step only when the parent
    says so (a line on stdin) and report its time (a line on stdout).  Without ``--lockstep``: nothing."""

    def __init__(self, on: bool):
        self.on, self.started = on, False

    def wait(self) -> None:
        if not self.on:
            return
        if not self.started:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            self.started = True
        sys.stdin.readline()

    def done(self, seconds: float) -> None:
        if self.on:
            sys.stdout.write(f"{seconds}\n")
            sys.stdout.flush()


def lockstep(cmds, steps: int, log) -> list:
    """Run the children ``cmds`` (each started with ``--lockstep``) at the same time but never together: all
    are set up first, then they take one step each in turn, in ABBA order (so a slow spell of the shared
    machine falls on both alike); returns each child's final JSON."""
    procs = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
             for c in cmds]
    try:
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit(f"{' '.join(cmds[procs.index(p)])} did not start (said {line!r}); see its stderr above")
        for step in range(steps):
            for p in (procs if step % 2 == 0 else procs[::-1]):
                p.stdin.write("go\n")
                p.stdin.flush()
                if not p.stdout.readline():
                    raise SystemExit(f"{' '.join(cmds[procs.index(p)])} stopped at step {step}")
        out = []
        for c, p in zip(cmds, procs):
            rest, _ = p.communicate()
            if p.returncode:
                raise SystemExit(f"{' '.join(c)} failed (exit {p.returncode})")
            out.append(json.loads(rest.strip().splitlines()[-1]))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def child(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.ours_adam == "default":
        from hls_translate.training.objectives import base

        base.adam = lambda params, **kw: torch.optim.Adam(params, **kw)
    if args.ours_malloc == "retain":  # as hls-translate train does (run.retain_freed_memory: true)
        from hls_translate.training.allocator import retain_freed_memory

        print(f"allocator: {retain_freed_memory()}", file=sys.stderr)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer does on CUDA
    out = _ours(args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.device == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps(out))
    return 0


def reference_inputs(chips: str, family: str, path: str) -> None:
    """The same chips for the reference, each band scaled to about [-1, 1] (mean +- 2 std)."""
    import numpy as np

    d = np.load(chips)
    a, b = (d["a"], d["b"]) if family == "pix2pix" else (d["ca"], d["cb"])

    def scale(v):
        m, s = v.mean(axis=(0, 2, 3), keepdims=True), v.std(axis=(0, 2, 3), keepdims=True)
        return np.clip((v - m) / (2 * s), -1, 1).astype(np.float32)

    np.savez(path, a=scale(a), b=scale(b))


def run(cmd) -> dict:
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def memory(result) -> str:
    """Peak RSS in MB, and the peak CUDA memory allocated where the child ran on a GPU."""
    gpu = f" (GPU {result['peak_gpu_mb']:.0f})" if "peak_gpu_mb" in result else ""
    return f"{result['peak_rss_mb']:.0f}{gpu}"


def faults(result) -> str:
    """Minor page faults per timed step (mean over a configuration's children), or ``?`` where not reported."""
    values = [r["minor_faults_per_step"] for r in result.get("children", [result]) if "minor_faults_per_step" in r]
    return f"{sum(values) / len(values):,.0f}" if values else "?"


def merge(results) -> dict:
    """One configuration's children (rounds) as one result: every timed step pooled; ``samples_per_s`` from the
    total time (the long-run rate), ``median_samples_per_s`` from the median step (robust to steps slowed by
    other work on a shared machine); the peak RSS is the largest child's."""
    import statistics

    times = [t for r in results for t in r["times"]]
    batch = results[0]["batch"]
    out = dict(results[-1])
    out.update(samples_per_s=batch * len(times) / sum(times), step_s=statistics.median(times),
               median_samples_per_s=batch / statistics.median(times), times=times, rounds=len(results),
               peak_rss_mb=max(r["peak_rss_mb"] for r in results),
               **({"peak_gpu_mb": max(r["peak_gpu_mb"] for r in results)} if "peak_gpu_mb" in results[0] else {}),
               children=[{k: r[k] for k in ("minor_faults_per_step", "system_s_per_step") if k in r} for r in results])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="/tmp/ref_cyclegan", help="folder with the reference code and drive.py")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads of every child (0: torch's default)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--rounds", type=int, default=1,
                    help="children per side and configuration, alternating ours / reference (their steps pooled)")
    ap.add_argument("--ours-adam", choices=["auto", "default"], default="auto",
                    help="hls_translate's optimizer: auto (the fused kernel where torch has one, what training uses) "
                         "or default (torch's default implementation, as the reference uses): the fused kernel's share")
    ap.add_argument("--ours-malloc", choices=["retain", "default"], default="retain",
                    help="hls_translate's allocator setting: retain (keep freed memory, what training does on glibc) or "
                         "default (glibc's defaults, as the reference runs): its share")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where both sides train (cuda: the reference on GPU 0 as its gpu_ids=0 runs it)")
    ap.add_argument("--ours-amp", choices=["auto", "off", "bf16", "fp16"], default="auto",
                    help="hls_translate's precision (auto: as run.amp: bf16 on CUDA where supported, off on the CPU)")
    ap.add_argument("--ours-channels-last", choices=["auto", "on", "off"], default="auto",
                    help="hls_translate's memory format (auto: as run.channels_last: NHWC on CUDA, NCHW on the CPU)")
    ap.add_argument("--lockstep", action="store_true",
                    help="run ours and the reference at the same time, paused, taking one step each in turn (ABBA): "
                         "the steps of a pair see the same machine; adds the median of the paired ratios")
    ap.add_argument("--steps", type=int, help="timed steps per child (default 6 at batch 1, 4 at batch 8)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--family", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--chips", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    drive = os.path.join(args.reference, "drive.py")
    have_ref = os.path.isfile(drive)
    if not have_ref:
        print(f"no reference at {args.reference} (drive.py): measuring hls_translate only", file=sys.stderr)
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        chips = os.path.join(tmp, "chips.npz")
        make_chips(chips)
        for family in args.families:
            for batch in args.batches:
                steps, warmup = (6, 2) if batch == 1 else (4, 1)
                steps = args.steps or steps
                common = ["--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup),
                          "--threads", str(args.threads), "--device", args.device]
                with_ref = have_ref and family in ("pix2pix", "cyclegan")
                if with_ref:
                    ref_in = os.path.join(tmp, f"ref_{family}.npz")
                    reference_inputs(chips, family, ref_in)
                    nc = (8, 3) if family == "pix2pix" else (4, 4)
                ours, refs = [], []
                ours_cmd = [sys.executable, os.path.abspath(__file__), "--child", "--family", family, "--chips", chips,
                            "--ours-adam", args.ours_adam, "--ours-malloc", args.ours_malloc,
                            "--ours-amp", args.ours_amp, "--ours-channels-last", args.ours_channels_last, *common]
                ref_cmd = ([sys.executable, drive, "--model", "pix2pix" if family == "pix2pix" else "cycle_gan",
                            "--data", ref_in, "--input-nc", str(nc[0]), "--output-nc", str(nc[1]),
                            "--size", str(SIZE), *common] if with_ref else None)
                for _ in range(args.rounds):
                    if args.lockstep and with_ref:
                        o, r = lockstep([ours_cmd + ["--lockstep"], ref_cmd + ["--lockstep"]], warmup + steps, sys.stderr)
                        ours.append({**o, "batch": batch})
                        refs.append({**r, "batch": batch})
                        continue
                    ours.append({**run(ours_cmd), "batch": batch})
                    if with_ref:
                        refs.append({**run(ref_cmd), "batch": batch})
                row = {"family": family, "batch": batch, "ours": merge(ours)}
                if refs:
                    row["reference"] = merge(refs)
                    row["ratio"] = row["ours"]["samples_per_s"] / row["reference"]["samples_per_s"]
                    row["median_ratio"] = row["ours"]["median_samples_per_s"] / row["reference"]["median_samples_per_s"]
                    if args.lockstep:  # step i of ours ran next to step i of the reference: the median of their ratios
                        import statistics

                        row["paired_median_ratio"] = statistics.median(
                            t_ref / t_ours for t_ours, t_ref in zip(row["ours"]["times"], row["reference"]["times"]))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print("| family | batch x 256² | params (all networks) | steps timed | ours samples/s (total / median step) | "
          "ours peak RSS MB | reference samples/s (total / median step) | reference peak RSS MB | "
          "ours / reference (total / median) | minor faults per step, ours / reference |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, ref = r["ours"], r.get("reference")
        print(f"| {r['family']} | {r['batch']} | {o['params']:,} | {len(o['times'])} | "
              f"{o['samples_per_s']:.3f} / {o['median_samples_per_s']:.3f} | {memory(o)} | "
              + (f"{ref['samples_per_s']:.3f} / {ref['median_samples_per_s']:.3f} | {memory(ref)} | "
                 f"{r['ratio']:.2f}x / {r['median_ratio']:.2f}x"
                 + (f", paired {r['paired_median_ratio']:.2f}x |" if "paired_median_ratio" in r else " |")
                 if ref else "- | - | - |")
              + f" {faults(o)} / {faults(ref) if ref else '-'} |")
    load_after = os.getloadavg()
    print(f"(load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {platform.machine()}, "
          f"{os.cpu_count()} CPUs; torch threads {rows[0]['ours']['threads'] if rows else '?'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "load_before": load_before, "load_after": load_after}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
