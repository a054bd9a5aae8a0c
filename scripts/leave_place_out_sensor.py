"""Leave-one-place-out over the TRAINING places of training/configs/bundled.yaml only (no held-out scene): does
telling the trees the sensor help?  (a) the 13 source classes; (b) (a) + a sensor flag (Landsat 1, Sentinel-2 0);
(c) every class, thermal included, as run 16 (thermal absent in the held-out place's rows, as the engine feeds
them).  Run: .venv/bin/python scripts/leave_place_out_sensor.py OUT.json  (about 35 min on 2 cores;
docs/evaluation.md, runs 20 and 21)."""
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
l30 = [c.id for c in BAND_CLASSES if c.key in L30_KEYS]
thermal = [c.id for c in BAND_CLASSES if c.is_thermal]
landsat = {"Greenland", "Colombia", "Antarctica"}
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
rows = {}
for t in targets:
    for i, (s, pick) in enumerate(zip(scenes, picks)):
        if not s.has(t) or pick.size == 0:
            continue
        x, y = _rows(s, t, pick, np.random.default_rng([0, i, 1 + int(t)]), tuple(range(NUM_CLASSES)), l30)
        flag = np.full((len(y), 1), 1.0 if names[s.spec_index] in landsat else 0.0, np.float32)
        rows[(i, t)] = (np.concatenate([x, flag], 1), y.astype(np.float64), np.full(len(y), s.weight / len(y)))
VAR = {"a": [c for c in range(NUM_CLASSES) if c not in thermal], "b": [c for c in range(NUM_CLASSES) if c not in thermal] + [NUM_CLASSES],
       "c": list(range(NUM_CLASSES))}
res = []
for hold in places:
    t0 = time.time()
    for t in targets:
        tr = [v for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index != hold]
        te = [v for k, v in rows.items() if k[1] == t and scenes[k[0]].spec_index == hold]
        if not tr or not te:
            continue
        x = np.concatenate([v[0] for v in tr]); y = np.concatenate([v[1] for v in tr]); w = np.concatenate([v[2] for v in tr])
        xt = np.concatenate([v[0] for v in te]).copy(); yt = np.concatenate([v[1] for v in te])
        xt[:, thermal] = np.nan  # the engine never feeds thermal to the model
        P = len(yt) // 3
        out = {}
        for k, feats in VAR.items():
            cols = [c for c in feats if not np.isnan(x[:, c]).all()]
            reg = HistGradientBoostingRegressor(max_iter=300, max_leaf_nodes=31, early_stopping=False, random_state=0)
            reg.fit(x[:, cols], y, sample_weight=w / w.mean())
            out[k] = reg.predict(xt[:, cols])
        for name, sl in (("all", slice(0, P)), ("l30", slice(P, 2 * P))):
            res.append(dict(place=names[hold], target=BAND_CLASSES[t].key, set=name,
                            **{k: float(np.sqrt(np.mean((p[sl] - yt[sl]) ** 2))) for k, p in out.items()}))
    print(f"fold {names[hold]} {time.time()-t0:.0f}s", flush=True)
    json.dump(res, open(sys.argv[1], "w"))
for st in ("all", "l30"):
    r = [e for e in res if e["set"] == st]
    print(f"{st}: mean a {np.mean([e['a'] for e in r]):.4f} b {np.mean([e['b'] for e in r]):.4f} c {np.mean([e['c'] for e in r]):.4f}; "
          f"b<a {sum(e['b'] < e['a'] for e in r)}/{len(r)}, c<a {sum(e['c'] < e['a'] for e in r)}/{len(r)}")
    for p in names.values():
        q = [e for e in r if e["place"] == p]
        if q:
            print(f"  {p:12s} a {np.mean([e['a'] for e in q]):.4f} b {np.mean([e['b'] for e in q]):.4f} c {np.mean([e['c'] for e in q]):.4f}")
