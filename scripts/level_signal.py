"""Does knowing the processing level (top of atmosphere or surface) help on the held-out scenes?

A measurement made before building a level input into the model contract (issue 12's "processing level
known to the model" lever): the two baselines fitted on every training scene (what they are today) against
the same baselines fitted only on the training scenes of the held-out scene's level, scored on the
held-out scenes' pixels valid in every band, for the headline (all other bands -> each target) and the use
case (the L30 bands -> red edge 1-3, NIR broad, water vapour).  If level-matched fits do not beat pooled
ones, a model told the level has little to gain from it on these scenes.

    .venv/bin/python scripts/level_signal.py --config training/configs/bundled.yaml [--no-gbt] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="training/configs/bundled.yaml")
    ap.add_argument("--no-gbt", action="store_true")
    ap.add_argument("--gbt-pixels", type=int, default=20000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from hls_translate.core.bands import BAND_CLASSES, band_class
    from hls_translate.training.config import load_train_config
    from hls_translate.training.data import band_code, load_scenes
    from hls_translate.training.evaluate.baseline import GBTBaseline, LinearBaseline

    cfg = load_train_config(args.config)
    train = load_scenes(cfg.data.train, cfg.data, "train", chip=cfg.data.chip_size)
    held = load_scenes(cfg.data.validation, cfg.data, "validation")
    levels = sorted({s.level for s in train})
    print("training scenes per level:", {lv: sum(s.level == lv for s in train) for lv in levels}, file=sys.stderr)
    fits = {"pooled": train, **{lv: [s for s in train if s.level == lv] for lv in levels}}
    linear = {k: LinearBaseline.fit(v) for k, v in fits.items()}
    gbt = {} if args.no_gbt else {k: GBTBaseline.fit(v, pixels_per_scene=args.gbt_pixels, seed=cfg.run.seed)
                                  for k, v in fits.items()}
    l30 = [band_class(k).id for k in ("coastal_aerosol", "blue", "green", "red", "nir_narrow", "swir_1", "swir_2",
                                      "cirrus")]
    use_targets = [band_class(k).id for k in ("red_edge_1", "red_edge_2", "red_edge_3", "nir_broad", "water_vapour")]
    rows: List[Dict] = []
    for s in held:
        ok = s.all_valid
        vals = np.zeros((15,) + s.values.shape[1:], np.float32)
        for ch, cid in enumerate(s.band_ids):
            vals[cid] = s.values[ch]
        have = [c for c in s.band_ids if not BAND_CLASSES[c].is_thermal]  # the headline's targets
        tasks = [("all", [c for c in have if c != t], t) for t in have]  # reflective bands, as the model takes
        if s.level == "surface" and any(c in s.band_ids for c in use_targets):
            tasks += [("landsat", [c for c in l30 if c in s.band_ids], t) for t in use_targets if t in s.band_ids]
        for kind, sources, t in tasks:
            truth = vals[t][ok]
            row = {"scene": s.name, "level": s.level, "set": kind, "target": band_code(t)}
            for name, models in (("linear", linear), ("gbt", gbt)):
                for which in ("pooled", s.level):
                    if which not in models:
                        continue
                    try:
                        pred = models[which].predict(vals, sources, t)[ok]
                    except Exception as exc:  # no same-level scene has these bands
                        row[f"{name}_{'same' if which != 'pooled' else 'pooled'}"] = None
                        print(f"{s.name} {band_code(t)} {name} {which}: {exc}", file=sys.stderr)
                        continue
                    key = f"{name}_{'pooled' if which == 'pooled' else 'same'}"
                    row[key] = float(np.sqrt(np.mean((pred.astype(np.float64) - truth) ** 2)))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    for kind in ("all", "landsat"):
        sel = [r for r in rows if r["set"] == kind]
        for name in ("linear", "gbt"):
            pairs = [(r[f"{name}_pooled"], r[f"{name}_same"]) for r in sel
                     if r.get(f"{name}_pooled") is not None and r.get(f"{name}_same") is not None]
            if not pairs:
                continue
            p, q = np.array(pairs).T
            print(f"{kind:8s} {name:6s}: level-matched fit better in {int((q < p).sum())}/{len(p)} cells; "
                  f"mean RMSE pooled {p.mean():.4f}, level-matched {q.mean():.4f}")
        for lv in sorted({r["level"] for r in sel}):
            sub = [r for r in sel if r["level"] == lv and r.get("linear_same") is not None]
            if sub:
                print(f"   {lv:8s} linear pooled {np.mean([r['linear_pooled'] for r in sub]):.4f} "
                      f"same {np.mean([r['linear_same'] for r in sub]):.4f} ({len(sub)} cells)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
