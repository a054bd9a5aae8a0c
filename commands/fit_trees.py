"""``hls-translate fit-trees --config C.yaml --out TREES.npz [KEY=VALUE ...]``: fit the tree prior
(per-pixel gradient-boosted trees, one ensemble per target band, any source set) on a training config's
training scenes, to graft into an exported model with ``hls-translate export --trees TREES.npz``.

See :mod:`training.trees`.  scikit-learn is imported only when the command runs.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="C.yaml",
                        help="training config: its data.train scenes (read as the trainer reads them, data.toa_only "
                             "included), data.targets and run.seed")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for train")
    parser.add_argument("--out", required=True, metavar="TREES.npz", help="file to write (replaced atomically)")
    parser.add_argument("--pixels", type=int, default=20000, metavar="N",
                        help="pixels sampled per training scene (a glob entry's matches share one budget; default 20000)")
    parser.add_argument("--iterations", type=int, default=300, metavar="N",
                        help="boosting iterations per target (default 300, the evaluation's baseline)")
    parser.add_argument("--leaves", type=int, default=31, metavar="N", help="leaves per tree at most (default 31)")
    parser.add_argument("--on-linear", action="store_true",
                        help="fit the trees to the residual of the per-pixel least-squares fit of each row's source "
                             "set (added back in the exported graph), so that the sum extrapolates linearly beyond "
                             "the training scenes' range")
    parser.add_argument("--sources", nargs="+", default=None, metavar="BAND",
                        help="the band classes the trees may use as features (config names, e.g. B02 red_edge_1), or "
                             "'all' for every class, thermal included (run 16's trees); default: the classes the "
                             "config's model takes as input (model.params.source_bands)")
    parser.add_argument("--relative", action="store_true",
                        help="fit the trees on each reflective band divided by the pixel's mean reflective band "
                             "(and that mean) to the target divided by it, so that the prediction scales with a "
                             "brighter or darker scene of the same spectral shape (not with --on-linear)")
    parser.add_argument("--per-set", action="store_true",
                        help="per target, besides the ensemble on every source set, one ensemble fitted only on the "
                             "rows with all other bands and one only on the rows with the L30 bands; a pixel's "
                             "present bands choose one (three times the trees; not with --relative or --on-linear)")
    parser.add_argument("--set-mix", type=float, default=1.0, metavar="M",
                        help="with --per-set: a routed pixel gets M x its set's ensemble + (1 - M) x the shared one "
                             "(0 < M <= 1; default 1, its set's ensemble alone)")
    parser.add_argument("--linear-mix", type=float, default=1.0, metavar="M",
                        help="the tree branch of the exported graph becomes M x trees + (1 - M) x the per-pixel "
                             "least-squares fit of each pixel's source set (solved in the graph from the training "
                             "scenes' moments; 0 < M <= 1; default 1, the trees alone; not with --on-linear)")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..core.errors import ConfigError
    from ..core.fileio import writable_output_path
    from ..training.config import load_train_config
    from ..training.trees import fit_tree_prior_from_config

    if not args.out.lower().endswith(".npz"):
        raise ConfigError(f"--out {args.out}: the tree prior is written as .npz")
    out = writable_output_path(args.out, ConfigError)
    chosen = [f for f, on in (("--relative", args.relative), ("--on-linear", args.on_linear), ("--per-set", args.per_set))
              if on]
    if len(chosen) > 1:  # refused before the scenes are read
        raise ConfigError(f"fit-trees: {' and '.join(chosen)} exclude each other (pick one)")
    if args.set_mix != 1.0 and not args.per_set:
        raise ConfigError("fit-trees: --set-mix weighs the per-set ensembles: it needs --per-set")
    if not 0.0 < args.set_mix <= 1.0:
        raise ConfigError(f"fit-trees: --set-mix must be in (0, 1], got {args.set_mix:g}")
    if not 0.0 < args.linear_mix <= 1.0:
        raise ConfigError(f"fit-trees: --linear-mix must be in (0, 1], got {args.linear_mix:g}")
    if args.linear_mix != 1.0 and args.on_linear:
        raise ConfigError("fit-trees: --linear-mix and --on-linear exclude each other (the trees either fit the "
                          "linear fit's residual or are mixed with it)")
    cfg = load_train_config(args.config, args.overrides, check_model=False)
    sources: tuple = ()
    if args.sources == ["all"]:
        from ..core.bands import NUM_CLASSES

        sources = tuple(range(NUM_CLASSES))
    elif args.sources:
        sources = cfg.data.band_ids(args.sources, "--sources")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    prior = fit_tree_prior_from_config(cfg, sources=sources, pixels_per_scene=args.pixels, max_iter=args.iterations,
                                       max_leaf_nodes=args.leaves, log=log, on_linear=args.on_linear,
                                       relative=args.relative, per_set=args.per_set, set_mix=args.set_mix,
                                       linear_mix=args.linear_mix)
    prior.save(out)
    print(f"wrote {os.path.relpath(out)}: {prior.n_trees} trees, {prior.n_nodes:,} nodes, targets "
          f"{', '.join(prior.describe()['targets'])}")
    return 0
