"""Leave-one-place-out over the TRAINING places of training/configs/bundled.yaml only (no held-out scene):
plain trees against brightness-relative trees, per (place, target), with all other bands and with the L30 bands.
Run: .venv/bin/python scripts/leave_place_out_trees.py [OUT.json]  (about 23 min on 2 cores).  It takes every
band class as a feature, thermal included, as run 16 did (docs/evaluation.md, runs 20 and 21)."""
import json, sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from hls_translate.core.bands import BAND_CLASSES, NUM_CLASSES
from hls_translate.training.config import load_train_config
from hls_translate.training.data import load_scenes
from hls_translate.training.trees import _rows, L30_KEYS

cfg = load_train_config("training/configs/bundled.yaml", ["data.toa_only=[water_vapour]"], check_model=False)
d = cfg.data
scenes = load_scenes(d.train, d, "train", chip=d.chip_size, log=None)
targets = d.band_ids(d.targets, "data.targets")
sources = tuple(range(NUM_CLASSES))
l30 = [c.id for c in BAND_CLASSES if c.key in L30_KEYS]
refl = np.array([not c.is_thermal for c in BAND_CLASSES])
places = sorted({s.spec_index for s in scenes})
names = {s.spec_index: s.name.split("/")[0] for s in scenes}
per_spec = {}
for s in scenes:
    per_spec[s.spec_index] = per_spec.get(s.spec_index, 0) + 1
picks = []
for i, s in enumerate(scenes):
    ok = np.flatnonzero(s.all_valid.ravel())
    rng = np.random.default_rng([0, i])
    n = max(1, 20000 // per_spec[s.spec_index])
    picks.append(np.sort(rng.choice(ok, size=min(n, ok.size), replace=False)) if ok.size else ok)

def bright(x):
    xr = np.where(refl[None, :], x, np.nan)
    with np.errstate(all="ignore"):
        b = np.nanmean(xr, axis=1)
    b = np.where(np.isnan(b), 1.0, b)
    return np.maximum(b, 0.01)

def rel(x):
    b = bright(x)
    xx = x.copy()
    xx[:, refl] = x[:, refl] / b[:, None]
    return np.concatenate([xx, b[:, None]], axis=1), b

rows = {}  # (scene i, target) -> x, y, w
for t in targets:
    for i, (s, pick) in enumerate(zip(scenes, picks)):
        if not s.has(t) or pick.size == 0:
            continue
        x, y = _rows(s, t, pick, np.random.default_rng([0, i, 1 + int(t)]), sources, l30)
        rows[(i, t)] = (x, y.astype(np.float64), np.full(len(y), s.weight / len(y)))
res = []
t_all = time.time()
for hold in places:
    t0 = time.time()
    for t in targets:
        tr = [(k, v) for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index != hold]
        te = [(k, v) for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index == hold]
        if not tr or not te:
            continue
        x = np.concatenate([v[0] for _, v in tr]); y = np.concatenate([v[1] for _, v in tr])
        w = np.concatenate([v[2] for _, v in tr])
        cols = np.flatnonzero(~np.isnan(x).all(axis=0))
        xt = np.concatenate([v[0] for _, v in te]); yt = np.concatenate([v[1] for _, v in te])
        P = len(yt) // 3
        plain = HistGradientBoostingRegressor(max_iter=300, max_leaf_nodes=31, early_stopping=False, random_state=0)
        plain.fit(x[:, cols], y, sample_weight=w / w.mean())
        pp = plain.predict(xt[:, cols])
        xr, b = rel(x)
        colr = np.append(cols, NUM_CLASSES)
        ww = w * b ** 2
        relm = HistGradientBoostingRegressor(max_iter=300, max_leaf_nodes=31, early_stopping=False, random_state=0)
        relm.fit(xr[:, colr], y / b, sample_weight=ww / ww.mean())
        xtr, bt = rel(xt)
        pr = relm.predict(xtr[:, colr]) * bt
        for name, sl in (("all", slice(0, P)), ("l30", slice(P, 2 * P))):
            rp = float(np.sqrt(np.mean((pp[sl] - yt[sl]) ** 2)))
            rr = float(np.sqrt(np.mean((pr[sl] - yt[sl]) ** 2)))
            res.append(dict(place=names[hold], target=BAND_CLASSES[t].key, set=name, plain=rp, rel=rr))
    print(f"fold {names[hold]} {time.time()-t0:.0f}s", flush=True)
    json.dump(res, open(sys.argv[1] if len(sys.argv) > 1 else "lopo_trees.json", "w"))
for st in ("all", "l30"):
    r = [e for e in res if e["set"] == st]
    wins = sum(e["rel"] < e["plain"] for e in r)
    print(f"{st}: rel wins {wins}/{len(r)}; mean plain {np.mean([e['plain'] for e in r]):.4f} rel {np.mean([e['rel'] for e in r]):.4f}")
    for p in names.values():
        q = [e for e in r if e["place"] == p]
        if q:
            print(f"  {p:12s} wins {sum(e['rel'] < e['plain'] for e in q)}/{len(q)} plain {np.mean([e['plain'] for e in q]):.4f} rel {np.mean([e['rel'] for e in q]):.4f}")
print(f"total {time.time()-t_all:.0f}s")
