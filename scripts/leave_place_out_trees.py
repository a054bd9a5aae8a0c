"""Leave-one-place-out over the TRAINING places of training/configs/bundled.yaml only (no held-out scene):
per (left-out place, target), tree variants fitted on the other places, scored with all other bands and with
the L30 bands as input (docs/evaluation.md, runs 20 and 21).

  .venv/bin/python scripts/leave_place_out_trees.py relative OUT.json   # about 23 min on 2 cores
      plain trees against brightness-relative trees, every band class a feature, thermal included (run 16)
  .venv/bin/python scripts/leave_place_out_trees.py sensor OUT.json     # about 35 min on 2 cores
      does telling the trees the sensor help?  (a) the 13 source classes; (b) (a) + a sensor flag (Landsat 1,
      Sentinel-2 0); (c) every class, thermal included, as run 16 (thermal absent in the left-out place's
      rows, as the engine feeds them)
  .venv/bin/python scripts/leave_place_out_trees.py dedicated OUT.json  # about 40 min on 2 cores
      one shared ensemble per target fitted on the three source sets at once (run 16's trees) against an
      ensemble per target and source set, fitted only on that set's rows (all other bands; the L30 bands),
      and against mixes m x dedicated + (1 - m) x shared, m 0.25, 0.5, 0.75
  .venv/bin/python scripts/leave_place_out_trees.py extrapolate OUT.json  # about 30 min on 2 cores
      the dedicated ensembles against the same on inputs clipped to their set's training range plus the
      linear fit's increment beyond it (trees(clip x) + lin(x) - lin(clip x)), and the linear fit alone
  .venv/bin/python scripts/leave_place_out_trees.py linmix OUT.json     # about 30 min on 2 cores
      the dedicated ensembles (run 22's trees) against their mix with the linear fit, m x trees + (1 - m) x
      linear, m 0.5 to 0.9, and the linear fit alone (run 25's check); thermal absent in the left-out rows,
      as the engine feeds them
  .venv/bin/python scripts/leave_place_out_trees.py boxmix OUT.json     # about 25 min on 2 cores
      run 25's mix (0.5 x trees + 0.5 x linear) only for rows inside their set's training range (every present
      band between that set's training minimum and maximum), the trees alone outside it (run 26's check);
      with the trees alone and run 25's mix everywhere, and the share of rows outside the range

Each training pixel gives three rows (all other bands, the L30 bands, a random subset); every row keeps its
set's label, so a place of several scenes (Slovenia, BigEarthNet) is scored on the right rows.  (Before
2026-12-04 the left-out rows were cut into thirds, which is right only for a one-scene place; the relative and
sensor numbers in docs/evaluation.md for Slovenia and BigEarthNet were scored on mixed rows.)
"""
import json
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from hls_translate.core.bands import BAND_CLASSES, NUM_CLASSES
from hls_translate.training.config import load_train_config
from hls_translate.training.data import load_scenes
from hls_translate.training.trees import L30_KEYS, _rows, sample_pixels

LANDSAT = {"Greenland", "Colombia", "Antarctica"}
REFLECTIVE = np.array([not c.is_thermal for c in BAND_CLASSES])
THERMAL = [c.id for c in BAND_CLASSES if c.is_thermal]
ALL, L30, RANDOM = 0, 1, 2  # the three rows _rows makes of each pixel, in its order


def gbt():
    return HistGradientBoostingRegressor(max_iter=300, max_leaf_nodes=31, early_stopping=False, random_state=0)


def relative(x):
    """Each reflective band over the row's mean reflective band (NaN-mean, at least 0.01), and that mean."""
    with np.errstate(all="ignore"):
        b = np.nanmean(np.where(REFLECTIVE[None, :], x, np.nan), axis=1)
    b = np.maximum(np.where(np.isnan(b), 1.0, b), 0.01)
    xx = x.copy()
    xx[:, REFLECTIVE] = x[:, REFLECTIVE] / b[:, None]
    return np.concatenate([xx, b[:, None]], axis=1), b


def experiment_relative(x, y, w, xt, flag, flag_t):
    """plain vs relative trees on every class (thermal as the left-out place has it)."""
    cols = np.flatnonzero(~np.isnan(x).all(axis=0))
    plain = gbt().fit(x[:, cols], y, sample_weight=w / w.mean())
    xr, b = relative(x)
    colr = np.append(cols, NUM_CLASSES)
    ww = w * b ** 2
    rel = gbt().fit(xr[:, colr], y / b, sample_weight=ww / ww.mean())
    xtr, bt = relative(xt)
    return {"plain": plain.predict(xt[:, cols]), "rel": rel.predict(xtr[:, colr]) * bt}


def experiment_sensor(x, y, w, xt, flag, flag_t):
    """(a) 13 source classes, (b) + sensor flag, (c) every class; thermal absent in the left-out rows."""
    x, xt = np.concatenate([x, flag], 1), np.concatenate([xt, flag_t], 1)
    xt[:, THERMAL] = np.nan  # the engine never feeds thermal to the model
    own = [c for c in range(NUM_CLASSES) if c not in THERMAL]
    out = {}
    for k, feats in {"a": own, "b": own + [NUM_CLASSES], "c": list(range(NUM_CLASSES))}.items():
        cols = [c for c in feats if not np.isnan(x[:, c]).all()]
        out[k] = gbt().fit(x[:, cols], y, sample_weight=w / w.mean()).predict(xt[:, cols])
    return out


def experiment_dedicated(x, y, w, xt, flag, flag_t, kind=None, kind_t=None):
    """one ensemble on all three sets' rows (run 16) against one per set fitted on that set's rows only."""
    cols = np.flatnonzero(~np.isnan(x).all(axis=0))
    shared = gbt().fit(x[:, cols], y, sample_weight=w / w.mean()).predict(xt[:, cols])
    own = np.full(len(xt), np.nan)
    for k in (ALL, L30):  # the random-subset rows stay with the shared ensemble
        on = kind == k
        c = np.flatnonzero(~np.isnan(x[on]).all(axis=0))
        own[kind_t == k] = gbt().fit(x[on][:, c], y[on], sample_weight=w[on] / w[on].mean()).predict(
            xt[kind_t == k][:, c])
    routed = ~np.isnan(own)  # the mixes: m x dedicated + (1 - m) x shared where a set has its own ensemble
    mix = {f"mix{int(m * 100)}": np.where(routed, m * np.where(routed, own, 0.0) + (1 - m) * shared, shared)
           for m in (0.25, 0.5, 0.75)}
    return {"shared": shared, "dedicated": own, **mix}


def experiment_extrapolate(x, y, w, xt, flag, flag_t, kind=None, kind_t=None, lin=None, target=None):
    """per-set trees (run 22's dedicated ensembles) against the same trees on the left-out rows clipped to
    their set's training range, feature by feature, plus the linear fit's increment beyond it:
    trees(clip(x)) + lin(x) - lin(clip(x)) (inside the range exactly the trees; outside it, linear from the
    edge of the box on); and the linear fit alone (the training places' moments)."""
    own = np.full(len(xt), np.nan)
    box = np.full(len(xt), np.nan)
    for k in (ALL, L30):
        on, ont = kind == k, kind_t == k
        c = np.flatnonzero(~np.isnan(x[on]).all(axis=0))
        reg = gbt().fit(x[on][:, c], y[on], sample_weight=w[on] / w[on].mean())
        lo, hi = np.nanmin(x[on], axis=0), np.nanmax(x[on], axis=0)
        xk = xt[ont]
        xc = np.where(np.isnan(lo)[None, :], xk, np.clip(xk, lo, hi))  # a class no training row has: unclipped
        own[ont] = reg.predict(xk[:, c])
        box[ont] = reg.predict(xc[:, c]) + lin(xk, target) - lin(xc, target)
    return {"dedicated": own, "extrapolate": box, "linear": lin(xt, target)}


def experiment_linmix(x, y, w, xt, flag, flag_t, kind=None, kind_t=None, lin=None, target=None):
    """per-set trees (run 22's dedicated ensembles) against m x trees + (1 - m) x the linear fit (the
    training places' moments), m 0.5 ... 0.9, and the linear fit alone; the left-out rows' thermal classes
    absent (the engine never feeds them to the model)."""
    xt[:, THERMAL] = np.nan
    own = np.full(len(xt), np.nan)
    for k in (ALL, L30):
        on, ont = kind == k, kind_t == k
        c = np.flatnonzero(~np.isnan(x[on]).all(axis=0))
        own[ont] = gbt().fit(x[on][:, c], y[on], sample_weight=w[on] / w[on].mean()).predict(xt[ont][:, c])
    linear = lin(xt, target)
    mixes = {f"linmix{int(round(m * 100))}": m * own + (1 - m) * linear for m in (0.5, 0.6, 0.7, 0.8, 0.9)}
    return {"dedicated": own, **mixes, "linear": linear}

def experiment_boxmix(x, y, w, xt, flag, flag_t, kind=None, kind_t=None, lin=None, target=None):
    """run 25's mix inside each set's training range, the trees alone outside it; thermal absent in the
    left-out rows as in ``linmix``.  ``outside``: 1 for a row outside its set's range (its mean over the
    cell's rows is the share outside, reported under the same key)."""
    xt[:, THERMAL] = np.nan
    own = np.full(len(xt), np.nan)
    out = np.zeros(len(xt))
    for k in (ALL, L30):
        on, ont = kind == k, kind_t == k
        c = np.flatnonzero(~np.isnan(x[on]).all(axis=0))
        own[ont] = gbt().fit(x[on][:, c], y[on], sample_weight=w[on] / w[on].mean()).predict(xt[ont][:, c])
        lo, hi = np.nanmin(x[on], axis=0), np.nanmax(x[on], axis=0)
        xk = xt[ont]
        with np.errstate(invalid="ignore"):
            off = ((xk < lo[None, :]) | (xk > hi[None, :])) & ~np.isnan(xk) & ~np.isnan(lo)[None, :]
        out[ont] = off.any(axis=1)
    mix = 0.5 * own + 0.5 * lin(xt, target)
    return {"dedicated": own, "linmix50": mix, "boxmix50": np.where(out > 0, own, mix), "outside": out}


EXPERIMENTS = {"relative": experiment_relative, "sensor": experiment_sensor, "dedicated": experiment_dedicated,
               "extrapolate": experiment_extrapolate, "linmix": experiment_linmix,
               "boxmix": experiment_boxmix}


def main(kind, out_path):
    experiment = EXPERIMENTS[kind]
    cfg = load_train_config("training/configs/bundled.yaml", ["data.toa_only=[water_vapour]"], check_model=False)
    d = cfg.data
    scenes = load_scenes(d.train, d, "train", chip=d.chip_size, log=None)
    targets = d.band_ids(d.targets, "data.targets")
    l30 = [c.id for c in BAND_CLASSES if c.key in L30_KEYS]
    places = sorted({s.spec_index for s in scenes})
    names = {s.spec_index: s.name.split("/")[0] for s in scenes}
    picks = sample_pixels(scenes, 20000, 0)
    rows = {}  # (scene i, target) -> x, y, w, sensor flag
    for t in targets:
        for i, (s, pick) in enumerate(zip(scenes, picks)):
            if not s.has(t) or pick.size == 0:
                continue
            x, y = _rows(s, t, pick, np.random.default_rng([0, i, 1 + int(t)]), tuple(range(NUM_CLASSES)), l30)
            flag = np.full((len(y), 1), 1.0 if names[s.spec_index] in LANDSAT else 0.0, np.float32)
            sets = np.repeat(np.array([ALL, L30, RANDOM]), len(y) // 3)  # _rows' order
            rows[(i, t)] = (x, y.astype(np.float64), np.full(len(y), s.weight / len(y)), flag, sets)
    folds_linear = {}
    if kind in ("extrapolate", "linmix", "boxmix"):  # per fold: the linear fit from the other places' moments (every class a source)
        from hls_translate.training.trees import _LINEAR, _linear_fit, linear_fit_arrays

        for hold in places:
            arrays = linear_fit_arrays([s for s in scenes if s.spec_index != hold], range(NUM_CLASSES))
            args = tuple(arrays[k] for k in _LINEAR)
            folds_linear[hold] = lambda xx, tt, a=args: _linear_fit(xx, tt, *a)
    res = []
    for hold in places:
        t0 = time.time()
        for t in targets:
            tr = [v for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index != hold]
            te = [v for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index == hold]
            if not tr or not te:
                continue
            x, y, w, flag, sets = (np.concatenate([v[j] for v in tr]) for j in range(5))
            xt, yt, _, flag_t, sets_t = (np.concatenate([v[j] for v in te]) for j in range(5))
            extra = dict(kind=sets, kind_t=sets_t) if kind in ("dedicated", "extrapolate", "linmix", "boxmix") else {}
            if kind in ("extrapolate", "linmix", "boxmix"):
                extra.update(lin=folds_linear[hold], target=t)
            pred = experiment(x, y, w, xt.copy(), flag, flag_t, **extra)
            for name, sl in (("all", sets_t == ALL), ("l30", sets_t == L30)):
                res.append(dict(place=names[hold], target=BAND_CLASSES[t].key, set=name,
                                **{k: float(np.mean(p[sl]) if k == "outside" else np.sqrt(np.mean((p[sl] - yt[sl]) ** 2)))
                                   for k, p in pred.items()}))
        print(f"fold {names[hold]} {time.time() - t0:.0f}s", flush=True)
        with open(out_path, "w") as f:
            json.dump(res, f)
    variants = [k for k in res[0] if k not in ("place", "target", "set")]
    first = variants[0]
    for st in ("all", "l30"):
        r = [e for e in res if e["set"] == st]
        print(f"{st}: mean " + " ".join(f"{k} {np.mean([e[k] for e in r]):.4f}" for k in variants) + "; "
              + ", ".join(f"{k}<{first} {sum(e[k] < e[first] for e in r)}/{len(r)}" for k in variants[1:]))
        for p in names.values():
            q = [e for e in r if e["place"] == p]
            if q:
                print(f"  {p:12s} " + " ".join(f"{k} {np.mean([e[k] for e in q]):.4f}" for k in variants)
                      + "  " + ", ".join(f"{k}<{first} {sum(e[k] < e[first] for e in q)}/{len(q)}" for k in variants[1:]))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in EXPERIMENTS:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
