"""``hls-translate batch``: synthesize bands for every scene of folders, globs or STAC documents.

    hls-translate batch --model M.onnx --input FOLDER|GLOB|ITEMS.json ... --target BAND ... --out OUTDIR
        [--scheduler ADDRESS|FILE|none] [--workers N] [--threads-per-worker T] [--device D] [--gpus 0,1]
        [--overwrite] [--verify] [--skip-invalid] [--dry-run] [--shard K/N] [--name PATTERN]
        [--labels PATTERN --seed N] [the tiling, band and output options of predict]

One file per scene and target in OUTDIR (``HLS.L30.T10SEG.2020273T184741.v2.0.B05.synth.tif``), a run
manifest ``OUTDIR/batch_manifest.jsonl``; a rerun skips what is complete and valid.  Every scene is
checked before any work; scenes that fail the checks are listed, and the run goes on without them only
when asked (``--skip-invalid``, or yes at the prompt).  Exit status: 0 when every scene is done, 1 when
any failed or was refused, 2 for errors of the whole run.  The work runs on an embedded local Dask
cluster (default), an existing one (``--scheduler``), or in this process (``--scheduler none``); the
library does the rest (``core.batch``, ``core.batch_dask``).  A label-map model (SPADE) reads each scene's
label raster from ``--labels PATTERN`` (``{granule}`` = the scene's id; relative to the folder of the
scene's files), onto the scene's grid by nearest neighbour as ``predict --labels`` does; a scene without
its label file is refused by the checks, naming it and the pattern.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

from ..core.batch import BatchRequest, SequentialExecutor, plan_batch, run_batch
from ..core.batch_inputs import discover_scenes
from ..core.errors import ConfigError, RasterNotFoundError
from ..core.manifest import Manifest
from ..core.output_naming import DEFAULT_SCENE_NAME, describe_convention
from ..core.progress import ProgressBar
from .predict import (add_band_arguments, add_device_argument, add_examples_and_model, add_label_arguments,
                      add_output_arguments, add_tiling_arguments, predict_options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_examples_and_model(parser, [
        "hls-translate batch --model m.onnx --input /data/hls/ --target red_edge_1 --target B06 --out synth/",
        "hls-translate batch --model m.onnx --input '/data/HLS.L30.T10SEG.2020*' --target B05 --out synth/ --workers 4",
        "hls-translate batch --model m.onnx --input items.json --target cirrus --out synth/ --scheduler tcp://head:8786",
        "hls-translate batch ... --scheduler none --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
        "hls-translate batch --model spade.onnx --input /data/s2/ --labels '{granule}_SCL.tif' --target red --out synth/"],
        footer=describe_convention() + ".")
    parser.add_argument("--input", required=True, nargs="+", metavar="FOLDER|GLOB|STAC.json",
                        help="folders of granules (searched recursively), globs, raster files, or STAC "
                             "ItemCollection / Item / Catalog JSON files")
    parser.add_argument("--target", required=True, action="append", metavar="BAND",
                        help="band to synthesize in every scene (red_edge_1, B05 = red edge 1 as in S30, L30:B09, "
                             "...); repeat for several")
    parser.add_argument("--out", required=True, metavar="OUTDIR", help="output folder (made if missing)")
    parser.add_argument("--name", default=DEFAULT_SCENE_NAME, metavar="PATTERN",
                        help="output file name: {scene}, {band} (code in the S30 numbering), {target} (class key) "
                             f"(default {DEFAULT_SCENE_NAME})")
    add_label_arguments(parser, "PATTERN", "label-map models: each scene's categorical label raster, e.g. "
                        "'{granule}_SCL.tif' ({granule}: the scene's id; a relative pattern starts at the folder of "
                        "the scene's files; a glob must match one file; no placeholder: one raster for every scene), "
                        "read onto the scene's grid by nearest neighbour")
    group = parser.add_argument_group("resuming")
    group.add_argument("--overwrite", action="store_true", help="redo every scene, complete or not")
    group.add_argument("--verify", action="store_true",
                       help="re-hash the outputs of complete scenes before skipping them (default: size check)")
    group.add_argument("--skip-invalid", action="store_true",
                       help="go on without the scenes that fail the checks (recorded as invalid) instead of asking")
    group.add_argument("--dry-run", action="store_true", help="list what would be done, do nothing")
    group.add_argument("--shard", default=None, metavar="K/N",
                       help="only every N-th scene from the K-th on (0-based), e.g. one job-array task's share")
    group = parser.add_argument_group("execution")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS|FILE|none",
                       help="an existing Dask cluster (tcp://host:8786 or a scheduler file); 'none': in this "
                            "process, one scene after the other; default: a local Dask cluster")
    group.add_argument("--workers", type=int, default=None, metavar="N", help="workers of the local cluster")
    group.add_argument("--threads-per-worker", type=int, default=None, metavar="T",
                       help="ONNX Runtime threads per worker (default: cores / workers)")
    add_device_argument(group)
    group.add_argument("--gpus", default=None, metavar="0,1,...",
                       help="one local worker per GPU listed (each sees only its own); default with --device "
                            "cuda: the workers share the machine's GPU")
    add_tiling_arguments(parser)
    add_band_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or log lines (the summary is printed)")


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"3/10"`` -> ``(3, 10)``."""
    if not text:
        return None
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 0 <= int(k) < int(n):
        raise ConfigError(f"--shard {text!r}: expected K/N with 0 <= K < N (e.g. 0/4)")
    return int(k), int(n)


def _executor(args):
    """The executor the arguments ask for, and the ONNX Runtime threads of each worker."""
    if (args.scheduler or "").lower() == "none":
        if args.workers is not None or args.gpus:
            raise ConfigError("--workers and --gpus size a Dask cluster; --scheduler none runs in this process")
        return SequentialExecutor(), args.threads_per_worker or 0
    from ..core.batch_dask import start_executor  # imports dask only now

    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else []
    return start_executor(args.scheduler, args.workers, args.threads_per_worker, args.device, gpus)


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def print_plan(plan, scenes: Sequence, say) -> None:
    say(f"{len(scenes)} scene(s): {len(plan.todo)} to run ({plan.megapixels:.1f} MP), {len(plan.complete)} complete "
        f"and skipped, {len(plan.problems)} refused by the checks")
    reasons = {}
    for why in plan.redo.values():
        reasons[why.split(":")[0]] = reasons.get(why.split(":")[0], 0) + 1
    for why, n in sorted(reasons.items()):
        say(f"  redone: {n} scene(s): {why}")


def run(args: argparse.Namespace) -> int:
    bar = ProgressBar("batch", enabled=not args.quiet, line_every=0.05)
    say = bar.log if not args.quiet else (lambda m: None)
    out_dir = os.path.abspath(args.out)
    scenes, warnings = discover_scenes(args.input, exclude=[out_dir])
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    shard = parse_shard(args.shard)
    if shard:
        scenes = scenes[shard[0]::shard[1]]
    if not scenes:
        raise RasterNotFoundError(f"no scene found in {', '.join(args.input)}" + (f" for shard {args.shard}" if shard else ""))
    executor, threads = _executor(args)
    try:
        say(f"running {executor.description}")
        options, storage = predict_options(args, threads)
        request = BatchRequest(args.model, tuple(args.target), out_dir, options, storage, args.name,
                               args.sensor, args.resampling, args.overwrite, args.verify, args.labels)
        plan = plan_batch(request, scenes, executor, log=say)
        say(f"targets: {', '.join(t.key for t in plan.targets)}; {describe_convention()}")
        print_plan(plan, scenes, say)
        for r in plan.problems:
            print(f"refused: {r.scene}: {r.error}", file=sys.stderr)
        if args.dry_run:
            for job in plan.todo:
                print(f"run  {job.scene_id}  -> {', '.join(os.path.basename(o.path) for o in job.outputs)}"
                      + (f"  (labels {job.labels})" if job.labels else ""))
            for r in plan.complete:
                print(f"skip {r.scene}")
            return 1 if plan.problems else 0
        if plan.problems and not args.skip_invalid and not _ask(
                f"go on without the {len(plan.problems)} scene(s) refused above?"):
            print(f"stopped before any work: {len(plan.problems)} scene(s) failed the checks; fix them, or rerun "
                  "with --skip-invalid to go on without them", file=sys.stderr)
            return 1
        try:
            summary = run_batch(plan, executor, progress=bar, log=say)
        finally:
            bar.close()
    finally:
        executor.close()
    lines: List[str] = summary.table()
    print("\n".join(lines))
    print(f"manifest: {Manifest(out_dir).path}")
    return summary.exit_code
