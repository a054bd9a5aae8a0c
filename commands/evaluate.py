"""``hls-translate evaluate``: score a model on held-out scenes against a linear baseline.

::

    hls-translate evaluate --checkpoint runs/x/last.pt --out eval/x
    hls-translate evaluate --model resources/models/hls_translate_default.onnx \\
        --config training/configs/bundled.yaml --out eval/default [--sources all|single|both]
    hls-translate evaluate --model M.onnx --config C.yaml --out DIR --pair-model pair_b8a_b05.onnx ...

The held-out scenes are the config's ``data.validation`` scenes (or ``--scene PATH``, repeatable); the
baseline is fitted on the config's training scenes.  A checkpoint carries its config (``--config``
replaces it); an ``.onnx`` model needs ``--config``.  Writes ``evaluation.json``, ``evaluation.md`` and
``heatmap.png`` into ``--out`` and prints the headline table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Callable, Optional


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..training.evaluate import SOURCE_MODES

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="CKPT", help="a training checkpoint (runs torch)")
    src.add_argument("--model", metavar="MODEL.onnx", help="an exported model (runs ONNX Runtime)")
    p.add_argument("--config", metavar="CONFIG.yaml",
                   help="training config naming the training scenes (baseline) and held-out scenes; "
                        "default for --checkpoint: the config inside it")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (e.g. data.root=/data)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for evaluation.json/.md and heatmap.png")
    p.add_argument("--scene", action="append", default=[], metavar="PATH",
                   help="evaluate on this scene instead of the config's held-out scenes (repeatable)")
    p.add_argument("--sources", choices=SOURCE_MODES, default="both",
                   help="source sets: all other bands, each other band alone, or both (default)")
    p.add_argument("--targets", nargs="+", default=[], metavar="BAND", help="only these target bands")
    p.add_argument("--without", nargs="+", default=[], metavar="BAND",
                   help="never use these bands as sources, as if the scene lacked them (still scored as targets)")
    p.add_argument("--max-size", type=int, default=0, metavar="PX",
                   help="score a centred crop of at most PX x PX pixels (default: the whole scene)")
    p.add_argument("--pair-model", action="append", default=[], metavar="CKPT_OR_ONNX",
                   help="a single-pair model (trained with data.pairs) to compare with on its pair (repeatable)")
    p.add_argument("--tiled", action="store_true",
                   help="(--model) run the model through the inference engine, tiled and blended at its "
                        "recommended tile size, as `hls-translate predict` and QGIS do; default: whole area at once")
    p.add_argument("--batch", type=int, default=2, help="tasks per forward pass (memory vs speed)")
    p.add_argument("--no-baseline", action="store_true", help="skip both baselines (linear and gradient-boosted)")
    p.add_argument("--no-gbt", action="store_true",
                   help="skip the gradient-boosted-trees baseline (scikit-learn; a few seconds per headline task)")
    p.add_argument("--gbt-pixels", type=int, default=20000, metavar="N",
                   help="pixels per training scene the gradient-boosted baseline is fitted on (default 20000)")
    p.add_argument("--use-case", action="store_true",
                   help="also score the use case: red edge 1-3, NIR broad and water vapour from the bands "
                        "Landsat / HLS L30 has (coastal, blue, green, red, NIR narrow, SWIR 1-2, cirrus)")
    p.add_argument("--check-tiling", action="store_true",
                   help="run every task both tiled and whole-image and report the largest difference")
    p.add_argument("--no-figures", action="store_true", help="write no scatter plots (heatmaps are always drawn)")


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model ready to be evaluated: where it came from, its predictor (a ``RunnableModel``), what it
    reads and writes (``training.evaluate.EvaluatedModel``), and the training config a checkpoint carries
    (None for .onnx)."""

    path: str
    predict: Callable
    info: Any
    config: Optional[dict] = None


def load_evaluated_model(path: str, is_onnx: bool, batch: int, tiled: bool = False) -> LoadedModel:
    """A checkpoint (run by torch) or an .onnx file (run by ONNX Runtime, ``tiled`` through the engine)."""
    from ..core.errors import ConfigError
    from ..training.evaluate import onnx_predictor, pairs_from_summary, torch_predictor

    if tiled and not is_onnx:
        raise ConfigError("--tiled runs an exported .onnx model through the inference engine; export the "
                          "checkpoint first (hls-translate export)")
    if is_onnx:
        predict, info = onnx_predictor(path)
        return LoadedModel(path, predict, info)
    from ..core.errors import ModelError
    from ..training.checkpoint import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(path)
    try:
        model = model_from_checkpoint(state)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    tasks = (state.get("training_summary") or {}).get("tasks") or {}
    pairs = pairs_from_summary(tasks) if tasks.get("mode") == "pairs" else ()
    predict, info = torch_predictor(model, batch=batch, pairs=pairs)
    return LoadedModel(path, predict, info, state.get("config"))


def print_summary(report, with_baseline: bool) -> None:
    """The headline table (one row per scene and target, all other bands as sources) and the verdicts."""
    from ..training.evaluate import headline_rows

    head = headline_rows(report.rows)
    with_gbt = bool(head) and all(r.gbt is not None for r in head)
    print(f"{'scene':<12} {'target':<6} {'RMSE':>8} {'bias':>8} {'SSIM':>6}" +
          ("  linear RMSE" if with_baseline else "") + ("    GBT RMSE" if with_gbt else ""))
    for r in head:
        m = r.model
        line = f"{r.scene[:12]:<12} {r.target_code:<6} {m.rmse:8.4f} {m.bias:+8.4f} {m.ssim:6.3f}"
        if with_baseline:
            line += f"  {r.baseline.rmse:8.4f}{'*' if m.rmse < r.baseline.rmse else ' '}  "
        if with_gbt:
            line += f"  {r.gbt.rmse:8.4f}{'*' if m.rmse < r.gbt.rmse else ' '}"
        print(line)
    s = report.summary
    if s.fraction_beating_baseline is not None:
        print(f"(* model better) model beats the linear baseline on {len(s.targets_beating_baseline)}/{len(head)} "
              f"cells ({s.fraction_beating_baseline:.0%}); mean RMSE {s.mean_rmse:.4f} vs {s.baseline_mean_rmse:.4f}")
    if s.fraction_beating_gbt is not None:
        print(f"model beats the gradient-boosted baseline on {len(s.targets_beating_gbt)}/{len(head)} cells "
              f"({s.fraction_beating_gbt:.0%}); its mean RMSE {s.gbt_mean_rmse:.4f}")
    if s.max_tiling_difference is not None:
        print(f"largest tiled vs whole-image difference: {s.max_tiling_difference:.2e}")
    use = [r for r in report.rows if r.source_set == "landsat"]
    for r in use:
        line = f"use case {r.scene[:12]:<12} {r.target_code:<4} RMSE {r.model.rmse:.4f}"
        if r.baseline is not None:
            line += f"  linear {r.baseline.rmse:.4f}"
        if r.gbt is not None:
            line += f"  GBT {r.gbt.rmse:.4f}"
        print(line)
    for c in report.pair_comparison:
        print(f"pair {'+'.join(c.sources)} -> {c.target}: pair model RMSE {c.pair_model_rmse:.4f}, "
              f"conditional {c.conditional_rmse:.4f} ({c.relative_difference:+.1%})")


def _check_writable_folder(folder: str) -> None:
    """The report folder must take files (a read-only file system is found now, not after the work)."""
    import tempfile

    from ..core.errors import ConfigError

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hls_translate_probe."):
            pass
    except OSError as exc:
        raise ConfigError(f"--out: cannot write into {folder} ({exc.strerror or exc}); choose another folder") from None


def run(args) -> int:
    from ..core.config import apply_overrides
    from ..core.errors import ConfigError
    from ..core.progress import ProgressBar
    from ..training.config import SceneSpec, config_from_dict, load_train_config
    from ..training.data import band_code, prepare_data
    from ..training.evaluate import GBTBaseline, LinearBaseline, compare_pairs, score_scenes, write_report

    if args.batch < 1:
        raise ConfigError("--batch must be >= 1")
    if args.max_size < 0:
        raise ConfigError("--max-size must be >= 0")
    out_dir = os.path.abspath(args.out)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError(f"--out {out_dir} exists and is not a folder")
    if not os.path.isdir(os.path.dirname(out_dir)):
        raise ConfigError(f"--out: the parent folder of {out_dir} does not exist")
    _check_writable_folder(out_dir if os.path.isdir(out_dir) else os.path.dirname(out_dir))
    model = load_evaluated_model(args.model or args.checkpoint, args.model is not None, args.batch, args.tiled)
    if args.config:
        cfg = load_train_config(args.config, args.overrides, check_model=False)
    elif model.config is not None:
        cfg = config_from_dict(apply_overrides(model.config, args.overrides), check_model=False)
    else:
        raise ConfigError("--model needs --config (the training config: which scenes to fit the baseline on "
                          "and which are held out)")
    if args.scene:
        from ..core.fileio import same_file

        root = os.path.abspath(os.path.expanduser(os.path.expandvars(cfg.data.root)))
        for p in args.scene:
            for i, t in enumerate(cfg.data.train):
                tp = t.path if os.path.isabs(t.path) else os.path.join(root, t.path)
                if same_file(p, tp):
                    raise ConfigError(f"--scene {p} is the training scene data.train[{i}] of the config; scoring it "
                                      "as held out would flatter the model (give a scene it never saw)")
        specs = tuple(SceneSpec(path=os.path.abspath(p)) for p in args.scene)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, validation=specs))
    if not cfg.data.validation:
        raise ConfigError("no held-out scene: the config has no data.validation and no --scene was given")
    targets = cfg.data.band_ids(args.targets, "--targets")
    without = cfg.data.band_ids(args.without, "--without")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.gbt_pixels < 100:
        raise ConfigError("--gbt-pixels must be >= 100")
    data = prepare_data(cfg, model.info.sources, model.info.targets, log=log)
    baseline = None if args.no_baseline else LinearBaseline.fit(data.train)
    gbt = None if args.no_baseline or args.no_gbt else GBTBaseline.fit(data.train, args.gbt_pixels, seed=cfg.run.seed)

    pair_models = []
    for pm in args.pair_model:
        is_onnx = pm.lower().endswith(".onnx")
        pair_model = load_evaluated_model(pm, is_onnx, args.batch, args.tiled and is_onnx)
        if not pair_model.info.pairs:
            raise ConfigError(f"--pair-model {pm}: not a single-pair model (it was not trained with data.pairs)")
        left_out = sorted({c for t in pair_model.info.pairs for c in t.sources} & set(without))
        if left_out:
            raise ConfigError(f"--pair-model {pm}: its sources include {', '.join(band_code(c) for c in left_out)}, "
                              "which --without leaves out")
        pair_models.append(pair_model)
    extra = [t for pair_model in pair_models for t in pair_model.info.pairs]

    bar = ProgressBar(f"evaluating {os.path.basename(model.path)}")
    report = score_scenes(model.predict, model.info, data.validation, baseline, mode=args.sources,
                          targets=targets, max_size=args.max_size or None, batch=args.batch, progress=bar,
                          extra=extra, without=without, tiled=args.tiled, gbt=gbt, use_case=args.use_case,
                          check_tiling=args.check_tiling, keep_predictions=not args.no_figures)
    bar.close()
    report = dataclasses.replace(
        report, model_path=os.path.abspath(model.path),
        inference=("tiled and blended by the inference engine at the model's recommended tile size"
                   if args.tiled else "whole evaluated area in one forward pass"),
        held_out=tuple(s.name for s in data.validation), trained_on=tuple(s.name for s in data.train))
    if pair_models:
        pair_reports = []
        for pair_model in pair_models:
            rel = os.path.relpath(pair_model.path)
            info = dataclasses.replace(pair_model.info,
                                       name=rel if not rel.startswith("..") else os.path.basename(pair_model.path))
            rep = score_scenes(pair_model.predict, info, data.validation, baseline, mode="all",
                               max_size=args.max_size or None, batch=args.batch,
                               tiled=args.tiled and pair_model.path.lower().endswith(".onnx"))
            pair_reports.append(dataclasses.replace(rep, model_path=os.path.abspath(pair_model.path)))
        report = dataclasses.replace(report, pair_reports=tuple(pair_reports),
                                     pair_comparison=compare_pairs(report, pair_reports))
    paths = write_report(report, out_dir)
    report = dataclasses.replace(report, predictions={}, windows={})
    print_summary(report, baseline is not None)
    print("wrote " + ", ".join(paths.values()))
    return 0
