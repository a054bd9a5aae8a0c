"""Checks of the input bands before a run: a band that is garbage or far from what the model was trained on
is named, with what is odd about it, before any tile is computed.

:func:`check_bands` reads a sample of the scene (a centred window of at most :data:`SAMPLE_EDGE` pixels a
side, every source band on the scene's grid, nodata and out-of-range values masked as the run masks them)
and looks, band by band, for:

* **stuck**: (nearly) one value over most of the valid pixels (a dead detector, a constant fill);
* **out of distribution**: the band's median more than :data:`Z_LIMIT` training standard deviations from
  the training mean stored in the model (a wrong scale factor, digital numbers given as reflectance);
* **noise**: neighbouring pixels uncorrelated (lag-1 autocorrelation below :data:`NOISE_R`) where the
  scene's other bands are spatially coherent;
* **unrelated**: the band cannot be predicted from the scene's other bands (least-squares R^2 below
  :data:`UNRELATED_R2` where the others predict each other well, or its unexplained share
  :data:`RELATIVE_MISS` times the others' and R^2 below :data:`RELATIVE_R2`): a band from another date,
  another place, or misregistered.  Measured on real scenes: a clean band's R^2 from the others is 0.94-1.0
  (coastal and water vapour, loose by nature, down to 0.69 and judged by the absolute rule only); a Tanzania
  band swapped for the same band three years later falls to 0.75-0.87, a shifted or flipped band to below 0.1.

The cirrus band (an absorption band that mostly sees no surface) is checked for stuck values and scale
only.  Every check is relative to the scene's other bands or to the model's own statistics, so a clean
scene of any product raises nothing (the real scenes of ``../shared/data`` are tested).  A band named in a
warning can be declared absent (``PredictOptions.without``; ``--without`` on the command line); the model
then never reads it.  numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import bands as _bands
from .grid import Window

SAMPLE_EDGE = 768  # pixels a side of the sampled window
MIN_PIXELS = 400  # fewer valid pixels than this: the band is not judged
STUCK_SHARE = 0.9  # share of the valid pixels at one value (to 1e-4 reflectance) that makes a band stuck
Z_LIMIT = 6.0  # |median - training mean| / training std beyond which a band is out of distribution
NOISE_R = 0.3  # lag-1 spatial autocorrelation below which a band looks like noise ...
COHERENT_R = 0.6  # ... when the median of the other bands' is above this
UNRELATED_R2 = 0.5  # R^2 from the other bands below which a band is unrelated to them ...
RELATED_R2 = 0.8  # ... when the median of the other bands' R^2 is above this
RELATIVE_R2 = 0.8  # a band fitted worse than this ...
RELATIVE_MISS = 6.0  # ... whose unexplained share (1 - R^2) is this many times the others' median is odd too
_ATMOSPHERIC = {"coastal_aerosol", "water_vapour"}  # legitimately loose fits: judged by the absolute rule only
_SCALE_ONLY = {"cirrus"}  # band classes checked for stuck values and scale only


@dataclass(frozen=True)
class BandWarning:
    """One odd band: its class, a label for messages (``B05``), the check it failed and what was measured."""

    band: int
    label: str
    check: str  # "stuck", "out_of_distribution", "noise", "unrelated"
    message: str

    def __str__(self) -> str:
        return self.message


def sample_window(height: int, width: int, edge: int = SAMPLE_EDGE) -> Window:
    """The centred window of at most ``edge`` x ``edge`` pixels that the checks read."""
    h, w = min(height, edge), min(width, edge)
    return Window((width - w) // 2, (height - h) // 2, w, h)


def _lag1(v: np.ndarray, ok: np.ndarray) -> float:
    """Lag-1 autocorrelation over horizontally and vertically adjacent pixels both valid."""
    pairs = []
    for a, b, oa, ob in ((v[:, :-1], v[:, 1:], ok[:, :-1], ok[:, 1:]), (v[:-1], v[1:], ok[:-1], ok[1:])):
        m = oa & ob
        if m.sum() >= MIN_PIXELS:
            pairs.append((a[m], b[m]))
    if not pairs:
        return float("nan")
    x = np.concatenate([p[0] for p in pairs]).astype(np.float64)
    y = np.concatenate([p[1] for p in pairs]).astype(np.float64)
    sx, sy = x.std(), y.std()
    if sx < 1e-12 or sy < 1e-12:
        return float("nan")
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


def _r2_from_others(x: np.ndarray, k: int) -> float:
    """R^2 of the least-squares fit of column ``k`` of ``x`` [n, c] from the other columns."""
    y = x[:, k]
    others = np.delete(x, k, axis=1)
    a = np.column_stack([np.ones(len(x)), others])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    res = y - a @ coef
    var = y.var()
    return float(1.0 - res.var() / var) if var > 1e-12 else float("nan")


def check_values(values: np.ndarray, valid: np.ndarray, band_ids: Sequence[int],
                 stats: Optional[Mapping[int, Tuple[float, float]]] = None, sensor: str = "") -> List[BandWarning]:
    """The checks of the module docstring on ``values`` / ``valid`` ``[C, h, w]`` (physical units, channel
    ``i`` holding band class ``band_ids[i]``); ``stats``: the model's per-class training (mean, std)."""
    out: List[BandWarning] = []
    classes = [_bands.BAND_CLASSES[c] for c in band_ids]
    labels = [_bands.band_label(c, sensor) for c in classes]
    judged = [i for i in range(len(band_ids)) if int(valid[i].sum()) >= MIN_PIXELS]
    bad = set()
    for i in judged:
        v = values[i][valid[i]].astype(np.float64)
        rounded = np.round(v * 1e4)
        _, counts = np.unique(rounded, return_counts=True)
        share = counts.max() / v.size
        if share >= STUCK_SHARE or v.std() < 1e-5:
            common = float(np.median(v))
            out.append(BandWarning(band_ids[i], labels[i], "stuck",
                                   f"{labels[i]}: stuck: {share:.0%} of its valid pixels have one value ({common:.4g})"))
            bad.add(i)
            continue
        if stats and band_ids[i] in stats:
            mean, std = stats[band_ids[i]]
            med = float(np.median(v))
            z = (med - mean) / std if std > 0 else 0.0
            if abs(z) > Z_LIMIT:
                hint = ""
                if classes[i].quantity == "reflectance" and med > 2.0:
                    hint = " (reflectance above 2: digital numbers without their scale factor?)"
                out.append(BandWarning(band_ids[i], labels[i], "out_of_distribution",
                                       f"{labels[i]}: far outside what the model was trained on: median {med:.4g}, "
                                       f"training mean {mean:.4g} +/- {std:.4g} ({z:+.1f} std){hint}"))
                bad.add(i)
    spatial = [i for i in judged if i not in bad and classes[i].key not in _SCALE_ONLY]
    lag = {i: _lag1(values[i], valid[i]) for i in spatial}
    for i in spatial:
        others = [lag[j] for j in spatial if j != i and np.isfinite(lag[j])]
        if len(others) >= 2 and np.isfinite(lag[i]) and lag[i] < NOISE_R and np.median(others) > COHERENT_R:
            out.append(BandWarning(band_ids[i], labels[i], "noise",
                                   f"{labels[i]}: looks like noise: neighbouring pixels are uncorrelated (r = "
                                   f"{lag[i]:.2f}; the scene's other bands {np.median(others):.2f})"))
            bad.add(i)
    related = [i for i in spatial if i not in bad and classes[i].quantity == "reflectance"]
    ok = np.logical_and.reduce([valid[i] for i in related]) if related else None
    if len(related) >= 4 and int(ok.sum()) >= MIN_PIXELS:
        pick = np.flatnonzero(ok.ravel())
        if pick.size > 20000:
            pick = pick[np.linspace(0, pick.size - 1, 20000).astype(np.int64)]
        x = np.stack([values[i].ravel()[pick] for i in related], axis=1).astype(np.float64)
        left = list(range(len(related)))
        while len(left) >= 4:  # flag the worst band, take it out, look again (a swapped band spoils its neighbours' fits)
            r2 = {k: _r2_from_others(x[:, left], n) for n, k in enumerate(left)}
            worst, why = None, ""
            for k in left:
                others = [r2[j] for j in left if j != k and np.isfinite(r2[j])]
                if not np.isfinite(r2[k]) or len(others) < 2:
                    continue
                med = float(np.median(others))
                miss, med_miss = 1.0 - r2[k], max(1.0 - med, 1e-4)
                absolute = r2[k] < UNRELATED_R2 and med > RELATED_R2
                relative = (classes[related[k]].key not in _ATMOSPHERIC and r2[k] < RELATIVE_R2
                            and miss > RELATIVE_MISS * med_miss)
                if (absolute or relative) and (worst is None or miss > 1.0 - r2[worst]):
                    worst, why = k, f"R^2 {r2[k]:.2f} from them; the others {med:.2f} from theirs"
            if worst is None:
                break
            i = related[worst]
            out.append(BandWarning(band_ids[i], labels[i], "unrelated",
                                   f"{labels[i]}: does not fit the scene's other bands ({why}): from another date "
                                   "or place, or misregistered?"))
            left.remove(worst)
    return out


def check_bands(scene, band_ids: Sequence[int],
                stats: Optional[Mapping[int, Tuple[float, float]]] = None) -> List[BandWarning]:
    """:func:`check_values` on the sample window (:func:`sample_window`) of ``scene``'s bands ``band_ids``;
    pixels the scene's QA layer flags (cloud, shadow) are left out whether or not the run masks them: they
    say nothing about whether a band is sound."""
    ids = [int(c) for c in band_ids]
    if not ids:
        return []
    win = sample_window(scene.grid.height, scene.grid.width)
    values, valid = scene.read_stack(ids, win, use_qa=True)
    return check_values(values, valid, ids, stats, scene.sensor)


__all__ = ["BandWarning", "check_bands", "check_values", "sample_window", "SAMPLE_EDGE"]
