"""``hls-translate train --config CONFIG.yaml [key=value ...]``: train a model.

One process trains on one CPU or GPU; under ``torchrun`` every process runs this same command and the
run becomes DistributedDataParallel (NCCL on GPUs, gloo on CPUs)::

    torchrun --nproc_per_node=G [--nnodes=N --rdzv_endpoint=HOST:PORT] -m hls_translate.training train --config C.yaml

``--resume CKPT`` continues a run exactly; its config comes from the checkpoint unless ``--config`` is
given (then the data, model and loss sections must be the same).  ``--check`` loads the config and every
scene, prints the plan and exits without training.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="CONFIG.yaml", help="training config (see training/configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. run.steps=200 optim.lr=1e-3 run.out_dir=runs/x")
    p.add_argument("--resume", metavar="CKPT", help="continue from this checkpoint (e.g. RUN/last.pt)")
    p.add_argument("--stop-at", type=int, metavar="STEP",
                   help="stop after this step (writing last.pt), e.g. to fit a job's time limit; resume later")
    p.add_argument("--check", action="store_true",
                   help="check the config and the data (every scene, chips, statistics), print the plan, exit")
    p.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and exit")
    p.add_argument("--force", action="store_true",
                   help="with --resume: allow rewinding a run folder whose last.pt is further along")


def resolve_config(args):
    from ..core.config import apply_overrides
    from ..core.errors import ConfigError
    from ..training.config import config_from_dict, load_train_config

    if args.config is None and args.resume is None:
        raise ConfigError("give --config CONFIG.yaml (or --resume CKPT to continue a run)")
    if args.config is not None:
        return load_train_config(args.config, args.overrides)
    from ..training.checkpoint import load_checkpoint

    state = load_checkpoint(args.resume)
    if "config" not in state:
        raise ConfigError(f"{args.resume} carries no training config; pass --config")
    return config_from_dict(apply_overrides(state["config"], args.overrides))


def run(args) -> int:
    from ..training.config import config_to_yaml

    cfg = resolve_config(args)
    if args.print_config:
        sys.stdout.write(config_to_yaml(cfg))
        return 0
    if args.check:
        from ..training.data import prepare_data
        from ..core.models import create_model

        model = create_model(cfg.model.name, **dict(cfg.model.params))
        data = prepare_data(cfg, model.accepted_sources(), model.accepted_targets(),
                            log=lambda m: print(m, file=sys.stderr), kind=model.kind)
        summary = data.summary(cfg)
        print(json.dumps({"tasks": summary["tasks"], "train_scenes": [s["name"] for s in summary["train_scenes"]],
                          "held_out_scenes": [s["name"] for s in summary["held_out_scenes"]],
                          "statistics": summary["statistics"],
                          "parameters": sum(p.numel() for p in model.parameters())}, indent=1))
        return 0
    from ..training.trainer import train

    result = train(cfg, resume=args.resume, stop_at=args.stop_at, force=args.force, config_path=args.config)
    return 0 if result.step > 0 else 1
