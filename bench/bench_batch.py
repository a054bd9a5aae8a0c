"""Whole archives: `hls-translate batch` on 1 and 2 local Dask workers against per-scene loops.

    .venv/bin/python bench/bench_batch.py [--model M.onnx] [--scenes 12] [--size 512] [--target red_edge_1]
        [--device auto|cpu|cuda]

Input: ``--scenes`` HLS v2.0 granule folders built from the real scenes (``tests/support/granules.py``:
centre crops of at most ``--size`` pixels of six scenes, S30 and L30, repeated under other dates to make
up the count).  Model: ``--model``, else the bundled one.  Every configuration starts from an empty
output folder and is timed as a user runs it, in a fresh process (start-up included):

* ``batch``, local Dask cluster, 1 worker x 1 ONNX Runtime thread; 2 workers x 1 thread (the ratio of
  the two is the scaling on this machine); 1 worker x 2 threads;
* ``batch --scheduler none`` (this process, no Dask), 2 threads;
* ``hls-translate predict`` in a shell loop, one process per scene, default threads (all cores);
* ``qgis_process run hls_translate:synthesize_band`` in a shell loop, one process per scene (skipped
  without ``qgis_process.bin``).

Reported: wall seconds, scenes/min, MP/s (scene pixels / wall), seconds per scene, and for the batch runs
the peak resident memory of each worker (from the manifest) and the seconds spent in the scenes.  Prints
a markdown table (bench/RESULTS.md, section "Whole archives").
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
CLI = [sys.executable, "-m", "hls_translate.cli"]


def granules(folder: pathlib.Path, count: int, size: int):
    """``count`` granule folders: the six of support.granules, then copies under later dates."""
    from support.granules import make_granules

    made = sorted(make_granules(folder / "base", size=size).items())
    out = []
    for i in range(count):
        gid, src = made[i % len(made)]
        if i < len(made):
            out.append(src)
            continue
        parts = gid.split(".")
        parts[3] = f"{int(parts[3][:7]) + i // len(made):07d}{parts[3][7:]}"  # a later day of the year
        new = ".".join(parts)
        dst = folder / new
        dst.mkdir()
        for f in sorted(src.iterdir()):
            shutil.copy(f, dst / f.name.replace(gid, new))
        out.append(dst)
    return out


def megapixels(folders) -> float:
    from hls_translate.core.scene import open_scene

    total = 0.0
    for d in folders:
        with open_scene(str(d)) as s:
            total += s.grid.width * s.grid.height / 1e6
    return total


def timed(cmds) -> float:
    t0 = time.perf_counter()
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{r.stdout}\n{r.stderr}")
    return time.perf_counter() - t0


def manifest_facts(out: pathlib.Path):
    recs = [json.loads(x) for x in (out / "batch_manifest.jsonl").read_text().splitlines()]
    assert all(r["status"] == "done" for r in recs), [r for r in recs if r["status"] != "done"]
    peak = {}
    for r in recs:
        peak[r["worker"]] = max(peak.get(r["worker"], 0.0), r["peak_rss_mb"])
    return len(recs), sum(r["seconds"] for r in recs), peak, {r["worker"]: r["model_loads"] for r in recs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "resources" / "models" / "hls_translate_default.onnx"))
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--target", default="red_edge_1")
    ap.add_argument("--device", default="auto", help="passed to every batch and predict run (cuda: the GPU rows)")
    args = ap.parse_args(argv)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_batch_"))
    load_before = os.getloadavg()
    folders = granules(tmp / "in", args.scenes, args.size)
    mp = megapixels(folders)
    base = [*CLI, "batch", "--model", args.model, "--input", *map(str, folders), "--target", args.target, "--quiet",
            "--device", args.device]
    rows = []
    for label, extra in [("batch, local Dask, 1 worker x 1 thread", ["--workers", "1", "--threads-per-worker", "1"]),
                         ("batch, local Dask, 2 workers x 1 thread", ["--workers", "2", "--threads-per-worker", "1"]),
                         ("batch, local Dask, 1 worker x 2 threads", ["--workers", "1", "--threads-per-worker", "2"]),
                         ("batch --scheduler none, 2 threads", ["--scheduler", "none", "--threads-per-worker", "2"])]:
        out = tmp / f"out_{len(rows)}"
        wall = timed([[*base, "--out", str(out), *extra]])
        n, in_scenes, peak, loads = manifest_facts(out)
        assert n == len(folders) and set(loads.values()) == {1}, loads
        rows.append((label, wall, in_scenes, ", ".join(f"{v:.0f}" for _, v in sorted(peak.items()))))
    out = tmp / "predict_loop"
    out.mkdir()
    rows.append(("`hls-translate predict` loop, one process per scene", timed(
        [[*CLI, "predict", "--model", args.model, "--input", str(d), "--target", args.target,
          "--out", str(out / f"{d.name}.tif"), "--quiet", "--device", args.device] for d in folders]), None, ""))
    if os.path.exists(QGIS_PROCESS):
        plugins, out = tmp / "plugins", tmp / "qgis_loop"
        plugins.mkdir()
        out.mkdir()
        (plugins / "hls_translate").symlink_to(REPO, target_is_directory=True)
        env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp / "profile"), QGIS_PLUGINPATH=str(plugins),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        subprocess.run([QGIS_PROCESS, "plugins", "enable", "hls_translate"], env=env, check=True, capture_output=True)
        os.environ.update(env)
        rows.append(("`qgis_process run synthesize_band` loop, one process per scene", timed(
            [[QGIS_PROCESS, "run", "hls_translate:synthesize_band", "--", *[f"INPUT={f}" for f in sorted(d.iterdir())],
              f"TARGET_BANDS={args.target}", f"MODEL={args.model}", f"OUTPUT={out / (d.name + '.tif')}"]
             for d in folders]), None, ""))
    load_after = os.getloadavg()
    n = len(folders)
    print(f"{n} granules ({mp:.2f} MP in all, crops of at most {args.size} px), target {args.target}, model "
          f"{os.path.basename(args.model)}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{os.cpu_count()} cores\n")
    print("| run | wall s | scenes/min | MP/s | s/scene | s in scenes | peak RSS per worker (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, wall, in_scenes, peak in rows:
        print(f"| {label} | {wall:.1f} | {60 * n / wall:.1f} | {mp / wall:.3f} | {wall / n:.2f} | "
              f"{'' if in_scenes is None else f'{in_scenes:.1f}'} | {peak} |")
    one, two = rows[0][1], rows[1][1]
    print(f"\n2 workers vs 1 (1 thread each): {one / two:.2f}x the scenes per minute")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
