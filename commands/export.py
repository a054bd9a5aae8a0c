"""``hls-translate export --checkpoint CKPT [CKPT ...] --out MODEL.onnx [--module NAME]``: a training checkpoint
-> one ONNX file; several checkpoints of one config (e.g. seeds) -> one file that outputs their mean.
``hls-translate export --onnx MODEL.onnx --trees TREES.npz --out NEW.onnx``: an exported model with its tree
prior replaced (or added), the network unchanged.

The file carries its metadata (bands, units, normalization, tiling, training summary, validation
metrics); see :mod:`training.export`.  torch and onnx are imported only when the command runs.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", metavar="CKPT", nargs="+",
                      help="checkpoint written by `hls-translate train` (e.g. runs/NAME/best.pt); several: one "
                           "model whose output is the mean of theirs (an ensemble of runs of one config, e.g. "
                           "different seeds; they must have the same architecture, bands and tiling)")
    what.add_argument("--onnx", metavar="MODEL.onnx",
                      help="an exported conditional model to give the tree prior of --trees, without its checkpoints: "
                           "its own tree prior, if any, is replaced and its network kept as it is")
    parser.add_argument("--out", required=True, metavar="MODEL.onnx", help="ONNX file to write (replaced atomically)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, 17 or later (default 17)")
    parser.add_argument("--model-version", default=None, metavar="V",
                        help="version string recorded in the metadata (default: step<N> of the checkpoint)")
    parser.add_argument("--description", default="", help="one-line description recorded in the metadata")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the ONNX Runtime vs torch comparison done before the file is written")
    parser.add_argument("--module", default="model", metavar="NAME",
                        help="which model of the checkpoint to export: model (the one trained, default) or another "
                             "the objective trains, e.g. generator_ba (CycleGAN's B->A generator)")
    parser.add_argument("--json", action="store_true", help="print the embedded metadata as JSON")
    parser.add_argument("--evaluation", default=None, metavar="evaluation.json",
                        help="carry these held-out scores (hls-translate evaluate of this checkpoint's export) in the "
                             "metadata: per scene and target, the model's and both baselines' RMSE")
    parser.add_argument("--trees", default=None, metavar="TREES.npz",
                        help="graft this tree prior (hls-translate fit-trees) into the graph: the model then outputs "
                             "(1 - W) x the network + W x per-pixel gradient-boosted trees, for every target they cover")
    parser.add_argument("--tree-weight", type=float, default=None, metavar="W",
                        help="the trees' share of the output with --trees, in (0, 1] (default 0.5)")


def run(args: argparse.Namespace) -> int:
    import json

    from ..core.errors import ConfigError
    from ..training.export import export_checkpoint, export_ensemble

    evaluation = None
    if args.evaluation:
        try:
            with open(args.evaluation, encoding="utf-8") as f:
                evaluation = json.load(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--evaluation {args.evaluation}: cannot read it as JSON ({exc})") from None
    if args.tree_weight is not None and args.trees is None:
        raise ConfigError("--tree-weight needs --trees (the tree prior to blend with)")
    weight = 0.5 if args.tree_weight is None else args.tree_weight
    if args.onnx is not None:
        if args.trees is None:
            raise ConfigError("--onnx needs --trees (the tree prior to give the exported model)")
        if args.module != "model" or args.opset != 17:
            raise ConfigError("--module and --opset apply to --checkpoint; --onnx keeps the exported network as it is")
        from ..training.export import export_with_trees

        md = export_with_trees(args.onnx, args.out, trees=args.trees, tree_weight=weight,
                               model_version=args.model_version, description=args.description,
                               evaluation=evaluation, verify=not args.no_verify)
        print(md.to_json() if args.json else f"wrote {args.out}\n{md.summary()}")
        return 0
    common = dict(opset=args.opset, model_version=args.model_version, description=args.description,
                  verify=not args.no_verify, module=args.module, evaluation=evaluation,
                  trees=args.trees, tree_weight=weight)
    if len(args.checkpoint) == 1:
        md = export_checkpoint(args.checkpoint[0], args.out, **common)
    else:
        md = export_ensemble(args.checkpoint, args.out, **common)
    if args.json:
        print(md.to_json())
    else:
        print(f"wrote {args.out}")
        print(md.summary())
    return 0
