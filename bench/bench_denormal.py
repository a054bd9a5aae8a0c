"""Does flushing denormal floats to zero speed up a family's CPU training step?

    .venv/bin/python bench/bench_denormal.py [--family cyclegan] [--batch 1] [--pairs 6] [--threads 2]

One process, the same objective and chips as ``bench_families.py``; after two warm-up steps, steps run with
``torch.set_flush_denormal`` off and on in ABBA order (``--pairs`` x 4 steps), so drift of the machine
falls on both sides alike.  Prints the median and mean step of each side and their ratio.  A ratio within
the step-to-step noise means denormals are not what limits the step, and the trainer leaves the flag at
torch's default (off).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_families  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="cyclegan", choices=bench_families.FAMILIES)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=6, help="ABBA groups of four steps")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    times = {False: [], True: []}

    def timed(step_fn, _args, params):
        for i, flush in enumerate([False, False] + [False, True, True, False] * args.pairs):
            torch.set_flush_denormal(flush)
            t = time.perf_counter()
            step_fn(i)
            if i >= 2:
                times[flush].append(time.perf_counter() - t)
        torch.set_flush_denormal(False)
        return {"params": params}

    with tempfile.TemporaryDirectory() as tmp:
        chips = os.path.join(tmp, "chips.npz")
        bench_families.make_chips(chips)
        args.chips, args.ours_adam, args.steps, args.warmup = chips, "auto", 0, 0
        bench_families._ours(args, timed=timed)
    for flush in (False, True):
        t = times[flush]
        print(f"flush_denormal {'on ' if flush else 'off'}: median step {statistics.median(t):.3f} s, "
              f"mean {statistics.mean(t):.3f} s, range {min(t):.2f}-{max(t):.2f} s over {len(t)} steps")
    print(f"{args.family} batch {args.batch}: off / on median step {statistics.median(times[False]) / statistics.median(times[True]):.3f} "
          "(> 1: flushing is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
