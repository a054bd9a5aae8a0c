"""Training data: scenes into memory, valid chips, normalization statistics, a resumable chip sampler.

(About 700 lines, kept in one module on purpose: scenes, image folders, label rasters, statistics, the
task plan and the sampler all work on :class:`SceneData` and are read together; collation per model kind
lives in ``training/collate.py``.)

The scenes of a config are small (the largest real one is 1098 x 1098 x 12 bands), so each is read once
with :func:`hls_translate.core.scene.open_scene` onto one grid (``data.reference`` / ``data.resampling``)
and kept in memory as float32 physical values plus a validity mask (nodata, fill, non-finite, and the
scene's Fmask/SCL QA layer when it has one).

Chips
    A chip position is a candidate when at least ``data.min_valid_fraction`` of its pixels are valid in
    every band of the scene (summed-area table, so every pixel offset is considered, not a coarse grid).
    A scene without a single candidate is an error naming the scene, raised before training starts.

Samples
    Sample number ``g`` (counted over all processes) is a pure function of ``(seed, g)``: its own
    ``numpy`` generator draws the task, the scene, the chip position and a flip/rotation.  Process ``r``
    of ``W`` at step ``t`` takes ``g = (t * W + r) * B + i``, so shards are disjoint (like a
    DistributedSampler), nothing depends on worker timing, and the sampler's whole state is the next step.

Tasks (documented in ``docs/training.md``)
    * ``data.pairs`` set: each sample is one of the fixed (sources -> target) pairs, uniformly.
    * otherwise the target class is drawn uniformly among the trainable target classes
      (``target_sampling: uniform_class``; a class present in few scenes, such as cirrus, is not starved)
      or uniformly among the bands of a weighted-random scene (``per_scene``); the sources are, with
      probability ``p_all_sources``, every other band of the chip, otherwise a uniformly random subset
      of size ``k`` with ``k`` uniform in ``1 .. n-1`` (``n`` = other bands available).
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..core import bands as _bands
from ..core.bands import BAND_CLASSES
from ..core.errors import HLSTranslateError
from ..core.grid import Grid
from ..core.scene import open_scene
from .config import AtmosphereAugment, DataConfig, SceneSpec, TrainConfig, resolve_config_band

NUM_CLASSES = _bands.NUM_CLASSES
SURFACE_NOTE = ("HLS v2.0 is surface reflectance; scenes of level 'TOA' (Sentinel-2 L1C) are top-of-atmosphere "
                "reflectance, so a model trained on them has seen both")


class DataError(HLSTranslateError):
    """Training or evaluation data that cannot be used (a missing path, a scene without valid chips, ...)."""


# --- scenes ------------------------------------------------------------------------------------------
@dataclass
class SceneData:
    """One scene in memory: physical values and validity of every band it has, on one grid."""

    name: str
    key: str  # the config entry it comes from, e.g. "data.train[2]"
    spec_index: int
    band_ids: Tuple[int, ...]  # class id of each channel
    values: np.ndarray  # [C, H, W] float32, physical units; invalid pixels are filled (see fill_invalid)
    valid: np.ndarray  # [C, H, W] bool
    grid: Grid
    sensor: str
    level: str  # "TOA", "surface" or ""
    paths: Tuple[str, ...]
    resampling: str
    reference: str
    weight: float = 1.0  # sampling weight (spec weight split among the spec's matches by chip count)
    chip_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    chip_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    labels: Optional[np.ndarray] = None  # [H, W] int64 class indices of the scene's label map (-1: invalid)
    out_of_range: Dict[str, int] = field(default_factory=dict)  # per band key: values outside its physical range
    left_out: Tuple[int, ...] = ()  # classes the scene has but the config left out (data.toa_only)
    # a paired image ([A|B], training/images.py): the B half, where a paired model's targets come from
    target_ids: Tuple[int, ...] = ()
    target_values: Optional[np.ndarray] = None  # [C_b, H, W] float32
    target_valid: Optional[np.ndarray] = None  # [C_b, H, W] bool

    def stacks(self) -> List[Tuple[Tuple[int, ...], np.ndarray, np.ndarray]]:
        """``(band ids, values, valid)`` of the scene's bands, and of its target stack when it has one."""
        out = [(self.band_ids, self.values, self.valid)]
        if self.target_values is not None:
            out.append((self.target_ids, self.target_values, self.target_valid))
        return out

    def target_band_ids(self) -> Tuple[int, ...]:
        """The classes a paired model's targets can come from: the target stack's, else the scene's bands."""
        return self.target_ids if self.target_values is not None else self.band_ids

    def channel(self, class_id: int) -> int:
        return self.band_ids.index(class_id)

    def has(self, class_id: int) -> bool:
        return class_id in self.band_ids

    @property
    def all_valid(self) -> np.ndarray:
        ok = self.valid.all(axis=0)
        return ok if self.target_valid is None else ok & self.target_valid.all(axis=0)

    @property
    def shape(self) -> Tuple[int, int]:
        return self.values.shape[1], self.values.shape[2]

    def codes(self) -> List[str]:
        return [band_code(c, self.sensor) for c in self.band_ids]

    def summary(self, root: str = "") -> Dict[str, Any]:
        def rel(p: str) -> str:
            return os.path.relpath(p, root) if root and os.path.abspath(p).startswith(root) else p

        return {"name": self.name, "config_key": self.key, "sensor": self.sensor or "unknown",
                "level": self.level or "unknown", "bands": self.codes(),
                **({"left_out": [band_code(c, self.sensor) for c in self.left_out]} if self.left_out else {}),
                **({"target_bands": [band_code(c, self.sensor) for c in self.target_ids]}
                   if self.target_values is not None else {}),
                "size": [self.grid.width, self.grid.height], "resolution": list(self.grid.res),
                "crs": _crs_label(self.grid.crs_wkt), "resampling": self.resampling, "reference": self.reference,
                "valid_fraction": round(float(self.all_valid.mean()), 4), "chips": int(len(self.chip_rows)),
                "weight": round(self.weight, 6), "files": sorted({rel(p) for p in self.paths})[:20]}


def band_code(class_id: int, sensor: str = "") -> str:
    """Sentinel-2 style code (``B8A``) of a class where one exists, else its key."""
    for sid in ([sensor] if sensor in _bands.SENSORS else []) + ["S2", "LANDSAT"]:
        sb = _bands.sensor_band_for_class(sid, class_id)
        if sb is not None:
            return sb.code if sid in ("S2", "S30") or sid == sensor else f"{sid}:{sb.code}"
    return _bands.BAND_CLASSES[class_id].key


def _crs_label(wkt: str) -> str:
    import re

    m = re.search(r'(?:ID\["EPSG",|AUTHORITY\["EPSG",")(\d+)"?\]\]\s*$', wkt or "")
    return f"EPSG:{m.group(1)}" if m else ("(none)" if not wkt else "custom")


def _guess_level(paths: Sequence[str]) -> str:
    text = " ".join(paths).upper()
    if "L2A" in text or "HLS." in text or "_SR_" in text:
        return "surface"
    if "L1C" in text or "L1TP" in text:
        return "TOA"
    return ""


def expand_spec(spec: SceneSpec, root: str, key: str) -> List[str]:
    """The scene paths a spec names (a glob matches several); missing paths raise :class:`DataError`."""
    path = os.path.expanduser(os.path.expandvars(spec.path))
    full = path if os.path.isabs(path) else os.path.join(root, path)
    if any(ch in spec.path for ch in "*?["):
        matches = sorted(glob.glob(full))
        if not matches:
            raise DataError(f"{key}.path: the pattern {full} matches nothing")
        return matches
    if not os.path.exists(full):
        what = "folder" if not os.path.splitext(full)[1] else "file"
        raise DataError(f"{key}.path: {what} {full} does not exist (data.root is {root})")
    return [full]


def check_paths(cfg: DataConfig) -> Dict[str, List[str]]:
    """Expand every scene spec of ``cfg`` (fails on the first missing path, before anything is read)."""
    if not os.path.isdir(cfg.root):
        raise DataError(f"data.root: folder {cfg.root} does not exist")
    from .images import image_paths

    out: Dict[str, List[str]] = {}
    for group, specs in (("train", cfg.train), ("domain_b", cfg.domain_b), ("validation", cfg.validation)):
        for i, s in enumerate(specs):
            key = f"data.{group}[{i}]"
            out[key] = image_paths(s, cfg.root, key) if s.images is not None else expand_spec(s, cfg.root, key)
    return out


def load_scene(path: str, spec: SceneSpec, cfg: DataConfig, key: str, spec_index: int = 0) -> SceneData:
    """Read one scene into memory on one grid (see the module docstring)."""
    reference = spec.reference or cfg.reference
    resampling = spec.resampling or cfg.resampling
    ref = None if reference == "finest" else _bands.band_class(resolve_config_band(reference, cfg.band_naming, key))
    band_map = {(int(k) if str(k).isdigit() else k): v for k, v in spec.band_map.items()} or None
    try:
        scene = open_scene(path, sensor=spec.sensor, band_map=band_map, reference=ref, resampling=resampling,
                           use_qa=spec.use_qa)
    except HLSTranslateError as exc:
        raise DataError(f"{key} ({path}): {exc}") from None
    with scene:
        paths = tuple(sorted({s.path for s in scene.sources.values()} | ({scene.qa.path} if scene.qa else set())))
        level = spec.level or scene.level or _guess_level(paths)
        toa_only = set(cfg.band_ids(cfg.toa_only, "data.toa_only"))
        # a band's own level where its product declares one (HLS S30's water vapour is TOA in a surface
        # scene), else the scene's; a toa_only band at surface level is left out of this scene
        left_out = tuple(b.id for b in scene.bands
                         if b.id in toa_only and (scene.band_level(b.id) or level) == "surface")
        ids = tuple(b.id for b in scene.bands if b.id not in left_out)
        if not ids:
            raise DataError(f"{key} ({path}): no band left after data.toa_only left out "
                            f"{', '.join(band_code(c) for c in left_out)}")
        values, valid = scene.read_stack(list(ids))
        name = spec.name if spec.name and len(paths) and not any(ch in spec.path for ch in "*?[") else scene.name
        if spec.name and any(ch in spec.path for ch in "*?["):
            name = f"{spec.name}/{scene.name}"
        values[~valid] = np.nan
        labels = _read_labels(spec, cfg, root_path(cfg, spec.labels), scene.grid, key) if spec.labels else None
        return SceneData(name=name, key=key, spec_index=spec_index, band_ids=ids, values=values, valid=valid,
                         grid=scene.grid, sensor=scene.sensor, level=level, paths=paths, left_out=left_out,
                         resampling=resampling, reference=reference if reference != "finest" else "finest",
                         out_of_range=dict(scene.out_of_range), labels=labels)


def root_path(cfg: DataConfig, path: str) -> str:
    """A config path read against ``data.root`` ($VARS and ~ expanded)."""
    p = os.path.expanduser(os.path.expandvars(path))
    return p if os.path.isabs(p) else os.path.join(cfg.root, p)


def _read_labels(spec: SceneSpec, cfg: DataConfig, path: str, grid, key: str) -> np.ndarray:
    """The scene's label raster on its grid as class indices (-1: unknown class or nodata), read with
    nearest resampling only: a class is never interpolated into another."""
    from ..core.labels import LabelEncoding, LabelRaster
    from ..core.metadata import LabelClass

    if not os.path.exists(path):
        raise DataError(f"{key}.labels: label raster {path} does not exist")
    encoding = LabelEncoding([LabelClass(c.value, c.name) for c in cfg.label_classes])
    try:
        with LabelRaster(path, grid) as raster:
            index, ok = raster.read_classes(None, encoding)
    except HLSTranslateError as exc:
        raise DataError(f"{key}.labels ({path}): {exc}") from None
    return np.where(ok, index, -1).astype(np.int64)


def find_chips(scene: SceneData, chip: int, min_valid: float) -> Tuple[np.ndarray, np.ndarray]:
    """Rows and columns of every chip origin whose chip is at least ``min_valid`` valid in all bands."""
    h, w = scene.shape
    if h < chip or w < chip:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    ok = scene.all_valid.astype(np.int32)
    sat = np.zeros((h + 1, w + 1), dtype=np.int64)
    sat[1:, 1:] = ok.cumsum(axis=0).cumsum(axis=1)
    counts = sat[chip:, chip:] - sat[:-chip, chip:] - sat[chip:, :-chip] + sat[:-chip, :-chip]
    rows, cols = np.nonzero(counts >= math.ceil(min_valid * chip * chip))
    return rows.astype(np.int32), cols.astype(np.int32)


def load_scenes(specs: Sequence[SceneSpec], cfg: DataConfig, group: str, chip: Optional[int] = None,
                log=None) -> List[SceneData]:
    """Load every scene of ``specs`` (``group`` is ``train`` or ``validation``, for messages).

    With ``chip`` set, find the valid chips of each scene (a scene without any is a :class:`DataError`)
    and split each spec's weight among its scenes in proportion to their chip counts.
    """
    from .images import load_images

    out: List[SceneData] = []
    for i, spec in enumerate(specs):
        key = f"data.{group}[{i}]"
        if spec.images is not None:
            scenes = load_images(spec, cfg, key, i)
        else:
            scenes = [load_scene(p, spec, cfg, key, i) for p in expand_spec(spec, cfg.root, key)]
        if chip is not None:
            for s in scenes:
                s.chip_rows, s.chip_cols = find_chips(s, chip, cfg.min_valid_fraction)
                if len(s.chip_rows) == 0:
                    h, w = s.shape
                    if h < chip or w < chip:
                        why = f"it is {w}x{h} px, smaller than data.chip_size {chip}"
                    else:
                        why = (f"no {chip}x{chip} chip is at least {cfg.min_valid_fraction:.0%} valid in every band "
                               f"(valid in all bands: {s.all_valid.mean():.1%} of pixels); nodata, fill or "
                               "QA-flagged cloud cover it")
                    raise DataError(f"{key}: scene {s.name} ({s.paths[0]}) has no usable chips: {why}")
            total = sum(len(s.chip_rows) for s in scenes)
            for s in scenes:
                s.weight = spec.weight * len(s.chip_rows) / total
        else:
            for s in scenes:
                s.weight = spec.weight / len(scenes)
        if log:
            for s in scenes:
                left = (f" ({', '.join(band_code(c, s.sensor) for c in s.left_out)} at surface level left out: "
                        "data.toa_only)") if s.left_out else ""
                log(f"{key}: {s.name}: {len(s.band_ids)} bands ({', '.join(s.codes())}){left}, {s.grid.describe()}, "
                    f"valid {s.all_valid.mean():.1%}" + (f", {len(s.chip_rows)} chip positions" if chip else ""))
                if s.out_of_range:
                    log(f"{key}: {s.name}: warning: values outside their band's physical range masked as nodata: "
                        + ", ".join(f"{k} {n:,} px" for k, n in sorted(s.out_of_range.items())))
        out.extend(scenes)
    return out


# --- statistics ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BandStatistics:
    """Per-class mean/std (physical units) over valid training pixels; NaN for classes never seen."""

    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    pixels: Tuple[int, ...]

    def fitted(self) -> Tuple[int, ...]:
        return tuple(i for i in range(NUM_CLASSES) if self.pixels[i] > 0)

    def as_dict(self) -> Dict[str, Dict[str, float]]:
        return {_bands.BAND_CLASSES[i].key: {"mean": self.mean[i], "std": self.std[i], "pixels": self.pixels[i]}
                for i in self.fitted()}


#: Robust bound of the statistics: per scene and band, values further than this many inter-quartile
#: ranges from the median are clipped to that bound before the mean and std are taken.  Natural imagery
#: never reaches it (a band's whole range spans a few IQRs), a stuck or garbage pixel does.
ROBUST_IQRS = 20.0


def _robust(v: np.ndarray) -> np.ndarray:
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    span = ROBUST_IQRS * max(q3 - q1, 1e-6)
    lo, hi = med - span, med + span
    return v if (v.min() >= lo and v.max() <= hi) else np.clip(v, lo, hi)


def band_statistics(scenes: Sequence[SceneData]) -> BandStatistics:
    """Mean and std of each class over the valid pixels of ``scenes``, each scene weighted by its sampling
    weight (so the statistics describe the distribution the model is trained on); per scene, values
    beyond :data:`ROBUST_IQRS` inter-quartile ranges of the median are clipped first, so one outlier
    cannot dominate a band's normalization."""
    wsum = np.zeros(NUM_CLASSES)
    m1 = np.zeros(NUM_CLASSES)
    m2 = np.zeros(NUM_CLASSES)
    npx = np.zeros(NUM_CLASSES, dtype=np.int64)
    for s in scenes:
        for ids, values, valid in s.stacks():
            for ch, cid in enumerate(ids):
                v = values[ch][valid[ch]].astype(np.float64)
                if v.size == 0:
                    continue
                v = _robust(v)
                wsum[cid] += s.weight
                m1[cid] += s.weight * v.mean()
                m2[cid] += s.weight * np.mean(v * v)
                npx[cid] += v.size
    mean = np.full(NUM_CLASSES, np.nan)
    std = np.full(NUM_CLASSES, np.nan)
    seen = wsum > 0
    mean[seen] = m1[seen] / wsum[seen]
    std[seen] = np.sqrt(np.maximum(m2[seen] / wsum[seen] - mean[seen] ** 2, 0.0))
    for cid in np.nonzero(seen)[0]:
        if std[cid] < 1e-6:
            raise DataError(f"band {_bands.BAND_CLASSES[cid].key} is constant ({mean[cid]:g}) over the training "
                            "scenes; it cannot be normalized or learned")
    return BandStatistics(tuple(float(x) for x in mean), tuple(float(x) for x in std), tuple(int(x) for x in npx))


def fill_invalid(scenes: Sequence[SceneData], stats: BandStatistics) -> None:
    """Replace invalid pixels by the class mean (normalized 0), so they carry no signal into the model."""
    for s in scenes:
        for ids, values, valid in s.stacks():
            for ch, cid in enumerate(ids):
                bad = ~valid[ch]
                if bad.any():
                    values[ch][bad] = stats.mean[cid] if not math.isnan(stats.mean[cid]) else 0.0


# --- tasks and sampling ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    target: int
    sources: Tuple[int, ...]


class TaskPlan:
    """Which (sources -> target) tasks a config trains, resolved against the loaded scenes and model."""

    def __init__(self, scenes: Sequence[SceneData], cfg: DataConfig, model_sources: Sequence[int] = (),
                 model_targets: Sequence[int] = (), fixed: bool = False, domain: str = "paired"):
        """``domain`` (fixed-band models): ``paired`` scenes must have the sources and the targets (a
        side-by-side image: the targets in its B half); an unpaired objective's domain A (``source``)
        only the sources, its domain B (``target``) only the targets."""
        self.cfg = cfg
        self.scenes = list(scenes)
        self.fixed = fixed
        self.domain = domain
        paired_images = [s.name for s in scenes if s.target_values is not None]
        if paired_images and not (fixed and domain == "paired"):
            raise DataError(f"side-by-side [A|B] images ({', '.join(paired_images[:3])}) pair a fixed-band model's "
                            "sources with its targets; this model or objective cannot train on them")
        have = sorted({c for s in scenes for c in s.band_ids})
        allowed_src = set(cfg.band_ids(cfg.sources, "data.sources") or have)
        allowed_tgt = set(cfg.band_ids(cfg.targets, "data.targets") or have)
        if model_sources:
            allowed_src &= set(model_sources)
        if model_targets:
            allowed_tgt &= set(model_targets)
        self.sources = tuple(c for c in have if c in allowed_src)
        self.pairs: Tuple[Task, ...] = ()
        if fixed:  # a fixed-band model: every sample is its one task, from scenes with all its bands
            self.pairs = (Task(int(model_targets[0]), tuple(int(c) for c in model_sources)),)
            self.targets = tuple(int(c) for c in model_targets)
            self.sources = tuple(int(c) for c in model_sources)
            if not any(self.serves(s) for s in scenes):
                what = {"paired": f"reads {', '.join(band_code(c) for c in model_sources)} and writes "
                                  f"{', '.join(band_code(c) for c in model_targets)}",
                        "source": f"reads {', '.join(band_code(c) for c in model_sources)} from domain A",
                        "target": f"writes {', '.join(band_code(c) for c in model_targets)} for domain B"}[domain]
                raise DataError(f"the model {what}; no {'domain B' if domain == 'target' else 'training'} scene has "
                                "all of them")
        elif cfg.pairs:
            pairs = []
            for i, p in enumerate(cfg.pairs):
                src = cfg.band_ids(p.sources, f"data.pairs[{i}].sources")
                tgt = resolve_config_band(p.target, cfg.band_naming, f"data.pairs[{i}].target")
                if not any(all(s.has(c) for c in src + (tgt,)) for s in scenes):
                    raise DataError(f"data.pairs[{i}]: no training scene has all of "
                                    f"{', '.join(band_code(c) for c in src + (tgt,))}")
                if model_sources and not set(src) <= set(model_sources):
                    raise DataError(f"data.pairs[{i}]: the model does not accept some of these sources")
                pairs.append(Task(tgt, tuple(sorted(src))))
            self.pairs = tuple(pairs)
            self.targets = tuple(sorted({t.target for t in self.pairs}))
        else:
            self.targets = tuple(c for c in have if c in allowed_tgt)
            if not self.targets:
                raise DataError("no trainable target band: data.targets, the model's target_bands and the bands of "
                                "the training scenes have none in common")
            for t in self.targets:
                if not any(s.has(t) and len([c for c in s.band_ids if c != t and c in allowed_src]) for s in scenes):
                    raise DataError(f"target {band_code(t)}: no training scene has it together with a source band")
        self._source_sets = tuple((frozenset(cfg.band_ids(ss.bands, f"data.source_sets[{i}].bands")), float(ss.p))
                                  for i, ss in enumerate(cfg.source_sets))
        w = np.array([s.weight for s in scenes], dtype=np.float64)
        self.scene_p = w / w.sum()
        # per target (uniform_class) / per pair: the scenes that can serve it, with probabilities
        self._eligible: Dict[Any, Tuple[np.ndarray, np.ndarray]] = {}
        keys: List[Any] = list(self.pairs) if self.pairs else list(self.targets)
        for k in keys:
            need = (k.target,) + k.sources if isinstance(k, Task) else (k,)
            idx = np.array([i for i, s in enumerate(scenes)
                            if (self.serves(s) if fixed else all(s.has(c) for c in need))], dtype=np.int64)
            p = w[idx] / w[idx].sum()
            self._eligible[k] = (idx, np.cumsum(p))

    def serves(self, scene: SceneData) -> bool:
        """Whether a fixed-band plan can draw from ``scene`` (see ``domain``)."""
        sources_ok = self.domain == "target" or all(scene.has(c) for c in self.sources)
        targets_ok = self.domain == "source" or all(c in scene.target_band_ids() for c in self.targets)
        return sources_ok and targets_ok

    def draw(self, rng: np.random.Generator) -> Tuple[int, Task]:
        """(scene index, task) for one sample."""
        cfg = self.cfg
        if self.pairs:
            task = self.pairs[int(rng.integers(len(self.pairs)))]
            idx, cp = self._eligible[task]
            return int(idx[_pick(cp, rng)]), task
        if cfg.target_sampling == "uniform_class":
            target = self.targets[int(rng.integers(len(self.targets)))]
            idx, cp = self._eligible[target]
            si = int(idx[_pick(cp, rng)])
        else:
            while True:  # a scene with at least one trainable target (every scene has, in practice)
                si = _pick(np.cumsum(self.scene_p), rng)
                cands = [c for c in self.scenes[si].band_ids if c in self.targets]
                if cands:
                    break
            target = cands[int(rng.integers(len(cands)))]
        others = [c for c in self.scenes[si].band_ids if c != target and c in self.sources]
        n = len(others)
        if self._source_sets:  # drawn only when configured: a config without them keeps its sample stream
            u = rng.random()
            for bands, p in self._source_sets:
                if u < p:
                    src = tuple(c for c in others if c in bands)
                    if src:
                        return si, Task(target, src)
                    break  # the scene has none of them besides the target: fall through to the usual draw
                u -= p
        if n == 1 or rng.random() < cfg.p_all_sources:
            src = tuple(others)
        else:
            k = int(rng.integers(1, n))  # 1 .. n-1
            src = tuple(sorted(others[j] for j in rng.choice(n, size=k, replace=False)))
        return si, Task(target, src)

    def summary(self) -> Dict[str, Any]:
        if self.fixed:
            return {"mode": "fixed_bands", "sources": [band_code(c) for c in self.sources],
                    "targets": [band_code(c) for c in self.targets],
                    **({"domain": self.domain} if self.domain != "paired" else {})}
        if self.pairs:
            return {"mode": "pairs", "pairs": [{"sources": [band_code(c) for c in t.sources],
                                                "target": band_code(t.target)} for t in self.pairs]}
        return {"mode": "all_pairs", "target_sampling": self.cfg.target_sampling,
                "targets": [band_code(c) for c in self.targets], "sources": [band_code(c) for c in self.sources],
                "p_all_sources": self.cfg.p_all_sources,
                **({"source_sets": [{"name": ss.name, "bands": list(ss.bands), "p": ss.p}
                                    for ss in self.cfg.source_sets]} if self.cfg.source_sets else {}),
                "subset_distribution": "all other bands with probability p_all_sources, else a random subset "
                                       "of size k ~ uniform(1, n-1)"}


def _pick(cumprob: np.ndarray, rng: np.random.Generator) -> int:
    return int(min(np.searchsorted(cumprob, rng.random() * cumprob[-1], side="right"), len(cumprob) - 1))


@dataclass(frozen=True)
class Sample:
    """Where global sample number ``g`` comes from: a pure function of ``(seed, g)`` (see the module
    docstring).  ``atmosphere`` is ``None`` or ``(gain, offsets [15])`` (:func:`atmosphere_offsets`)."""

    scene: int  # index into the sampler's scenes
    row: int
    col: int
    augmentation: int  # 0..7: one of the flips/rotations of :func:`_augment`
    task: Task
    atmosphere: Optional[Tuple[float, np.ndarray]] = None


@dataclass(frozen=True)
class Chip:
    """One training chip read from its scene: every band the scene has, augmented, in physical units.

    Objectives collate chips into batches (``training/collate.py``); the chip itself knows no model."""

    values: np.ndarray  # [C, k, k] float32, channel i holds band class band_ids[i]
    valid: np.ndarray  # [C, k, k] bool
    band_ids: Tuple[int, ...]
    task: Task
    scene: int
    labels: Optional[np.ndarray] = None  # [k, k] int64 class indices (-1: invalid) when the scene has a label map
    target_ids: Tuple[int, ...] = ()  # a paired image's B half (SceneData.target_values), else empty
    target_values: Optional[np.ndarray] = None
    target_valid: Optional[np.ndarray] = None

    def channels(self, class_ids: Sequence[int]) -> List[int]:
        return [self.band_ids.index(c) for c in class_ids]

    def stack(self, class_ids: Sequence[int], targets: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` ``[len(class_ids), k, k]`` of those classes: from the chip's bands, or with
        ``targets`` from its target stack when it has one (a paired image's B half)."""
        if targets and self.target_values is not None:
            idx = [self.target_ids.index(c) for c in class_ids]
            return self.target_values[idx], self.target_valid[idx]
        idx = self.channels(class_ids)
        return self.values[idx], self.valid[idx]


class ChipSampler:
    """Deterministic, shardable, resumable stream of training chips (see the module docstring).

    ``stream`` tells independent streams over the same seed apart (0: the paired/main domain, 1: the
    second domain of an unpaired objective); stream 0 draws exactly what it always has."""

    def __init__(self, scenes: Sequence[SceneData], plan: TaskPlan, chip_size: int, batch_size: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1, augment: bool = True,
                 atmosphere: Optional[AtmosphereAugment] = None, stream: int = 0):
        self.scenes = list(scenes)
        self.atmosphere = atmosphere if atmosphere is not None and atmosphere.p > 0 else None
        self.plan = plan
        self.chip = chip_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.augment = augment
        self.stream = stream
        self.step = 0

    def sample(self, g: int) -> Sample:
        """Global sample ``g``.  The atmosphere is drawn after everything else, so a run without it
        samples exactly the same chips and tasks."""
        rng = np.random.default_rng([self.seed, g] if self.stream == 0 else [self.seed, g, self.stream])
        si, task = self.plan.draw(rng)
        s = self.scenes[si]
        j = int(rng.integers(len(s.chip_rows)))
        aug = int(rng.integers(8)) if self.augment else 0
        atm = None
        a = self.atmosphere
        if a is not None and rng.random() < a.p:
            gain = float(rng.uniform(*a.gain))
            atm = (gain, atmosphere_offsets(float(rng.uniform(*a.rayleigh)), float(rng.uniform(*a.aerosol)),
                                            float(rng.uniform(*a.angstrom))))
        return Sample(si, int(s.chip_rows[j]), int(s.chip_cols[j]), aug, task, atm)

    def read(self, sample: Sample) -> Chip:
        """The chip of ``sample``: its scene's bands cropped, flipped/rotated and (maybe) given an atmosphere."""
        s, k = self.scenes[sample.scene], self.chip
        r, c = sample.row, sample.col
        vals = _augment(s.values[:, r:r + k, c:c + k], sample.augmentation)
        if sample.atmosphere is not None:
            vals = apply_atmosphere(vals, s.band_ids, *sample.atmosphere)
        ok = _augment(s.valid[:, r:r + k, c:c + k], sample.augmentation)
        labels = None if s.labels is None else _augment(s.labels[r:r + k, c:c + k], sample.augmentation)
        paired = {}
        if s.target_values is not None:
            tv = _augment(s.target_values[:, r:r + k, c:c + k], sample.augmentation)
            if sample.atmosphere is not None:
                tv = apply_atmosphere(tv, s.target_ids, *sample.atmosphere)
            paired = {"target_ids": s.target_ids, "target_values": tv,
                      "target_valid": _augment(s.target_valid[:, r:r + k, c:c + k], sample.augmentation)}
        return Chip(vals, ok, s.band_ids, sample.task, sample.scene, labels, **paired)

    def chips(self, step: int) -> List[Chip]:
        """This process's chips of optimizer step ``step``: global samples ``(step * W + rank) * B + i``."""
        first = (step * self.world_size + self.rank) * self.batch_size
        return [self.read(self.sample(first + i)) for i in range(self.batch_size)]

    def __iter__(self):
        return self

    def __next__(self) -> List[Chip]:
        out = self.chips(self.step)
        self.step += 1
        return out

    def state_dict(self) -> Dict[str, int]:
        return {"step": self.step, "seed": self.seed, "world_size": self.world_size, "batch_size": self.batch_size,
                "stream": self.stream}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if int(state["seed"]) != self.seed:
            raise DataError(f"sampler state has seed {state['seed']}, this run uses {self.seed}")
        self.step = int(state["step"])


def _atmosphere_wavelengths() -> np.ndarray:
    """Per class: wavelength / 550 nm for reflectance bands the atmosphere augmentation touches, else 0."""
    w = np.zeros(NUM_CLASSES, dtype=np.float64)
    for b in BAND_CLASSES:
        if not b.is_thermal and b.key != "cirrus":
            w[b.id] = b.wavelength_nm / 550.0
    return w


_ATMOSPHERE_WAVELENGTHS = _atmosphere_wavelengths()


def atmosphere_offsets(rayleigh: float, aerosol: float, angstrom: float) -> np.ndarray:
    """Per-class additive path reflectance ``rayleigh * l**-4 + aerosol * l**-angstrom`` (``l`` =
    wavelength / 550 nm); exactly 0 for thermal bands and cirrus (untouched by the augmentation)."""
    lam = _ATMOSPHERE_WAVELENGTHS
    out = np.zeros(NUM_CLASSES, dtype=np.float64)
    on = lam > 0
    out[on] = rayleigh * lam[on] ** -4.0 + aerosol * lam[on] ** -angstrom
    return out


def apply_atmosphere(vals: np.ndarray, band_ids: Sequence[int], gain: float, offsets: np.ndarray) -> np.ndarray:
    """``gain * v + offset`` on the channels (axis 0) of ``vals`` whose class the augmentation touches."""
    ids = np.asarray(band_ids, dtype=np.int64)
    on = _ATMOSPHERE_WAVELENGTHS[ids] > 0
    g = np.where(on, gain, 1.0).astype(np.float32)[:, None, None]
    o = np.where(on, offsets[ids], 0.0).astype(np.float32)[:, None, None]
    return vals * g + o


def _augment(a: np.ndarray, aug: int) -> np.ndarray:
    """One of the 8 flips/rotations of the last two axes of ``a``."""
    if aug & 3:
        a = np.rot90(a, aug & 3, axes=(-2, -1))
    if aug & 4:
        a = a[..., ::-1]
    return a


# --- everything a run needs ---------------------------------------------------------------------------------
@dataclass
class TrainingData:
    train: List[SceneData]
    validation: List[SceneData]
    stats: BandStatistics
    plan: TaskPlan
    root: str
    train_b: List[SceneData] = field(default_factory=list)  # the second domain of an unpaired objective
    plan_b: Optional[TaskPlan] = None

    def summary(self, cfg: TrainConfig) -> Dict[str, Any]:
        levels = sorted({s.level or "unknown" for s in self.train})
        return {
            "train_scenes": [s.summary(self.root) for s in self.train],
            **({"domain_b_scenes": [s.summary(self.root) for s in self.train_b]} if self.train_b else {}),
            "held_out_scenes": [s.summary(self.root) for s in self.validation],
            "grid": {"reference": cfg.data.reference, "resampling": cfg.data.resampling,
                     "note": "each scene is trained on its own grid: all its bands brought onto the grid of the "
                             "reference band"},
            "chip_size": cfg.data.chip_size, "min_valid_fraction": cfg.data.min_valid_fraction,
            "tasks": self.plan.summary(),
            "reflectance_levels": levels,
            "note": SURFACE_NOTE if "TOA" in levels else "",
            "statistics": self.stats.as_dict(),
        }


def prepare_data(cfg: TrainConfig, model_sources: Sequence[int] = (), model_targets: Sequence[int] = (),
                 log=None, kind: str = "conditional", unpaired: bool = False) -> TrainingData:
    """Check paths, load train (and domain B) + held-out scenes, find chips, compute statistics, plan tasks.

    ``kind`` is the model's kind: a ``fixed_bands`` model trains exactly ``model_sources`` ->
    ``model_targets``; a conditional one the tasks of the config.  ``unpaired`` (an objective that needs
    domain B, such as CycleGAN): ``data.train`` is domain A and needs only the sources, ``data.domain_b``
    (required then, refused otherwise) only the targets.  Every problem (missing folder, unreadable scene,
    a scene without valid chips, an impossible pair) is raised here, before training.
    """
    d = cfg.data
    if unpaired and not d.domain_b:
        raise DataError("data.domain_b: this objective learns from two unpaired domains; data.train is domain A, "
                        "list domain B's scenes under data.domain_b")
    if d.domain_b and not unpaired:
        raise DataError("data.domain_b: only an unpaired objective (e.g. cyclegan) trains on a second domain; "
                        "this one learns from data.train alone (remove data.domain_b, or move its scenes to data.train)")
    check_paths(d)
    train = load_scenes(d.train, d, "train", chip=d.chip_size, log=log)
    train_b = load_scenes(d.domain_b, d, "domain_b", chip=d.chip_size, log=log)
    val = load_scenes(d.validation, d, "validation", chip=None, log=log)
    train_files = {p for s in train + train_b for p in s.paths}
    for s in val:
        both = train_files & set(s.paths)
        if both:
            raise DataError(f"{s.key}: held-out scene {s.name} shares files with the training scenes: "
                            f"{', '.join(sorted(both)[:3])}")
    stats = band_statistics(train + train_b)
    for group in (train, train_b, val):
        fill_invalid(group, stats)
    fixed = kind != "conditional"
    plan = TaskPlan(train, d, model_sources, model_targets, fixed=fixed, domain="source" if unpaired else "paired")
    plan_b = TaskPlan(train_b, d, model_sources, model_targets, fixed=fixed, domain="target") if unpaired else None
    return TrainingData(train, val, stats, plan, d.root, train_b, plan_b)


__all__ = ["DataError", "SceneData", "BandStatistics", "Task", "TaskPlan", "Sample", "Chip", "ChipSampler",
           "TrainingData",
           "band_code", "band_statistics", "check_paths", "expand_spec", "fill_invalid", "find_chips", "load_scene",
           "load_scenes", "prepare_data"]
