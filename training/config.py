"""The training configuration: one YAML file read into typed, frozen dataclasses.

``load_train_config(path, overrides)`` reads the YAML, applies ``key=value`` overrides from the command
line (``optim.lr=1e-3``, ``run.steps=200``), builds :class:`TrainConfig` with
:func:`hls_translate.core.config.from_dict` (an unknown key or a value of the wrong type raises
:class:`~hls_translate.core.errors.ConfigError` naming the dotted key) and then checks what the types
cannot say (ranges, band names, that the model's hyperparameters are valid for the named model, that
no scene is both trained on and held out).  All of that happens before any data is read.

Sections (every key is documented in ``docs/training.md``)::

    run:        out_dir, steps, batch_size, seed, device, amp, log/validation/checkpoint cadence
    data:       root, train scenes, validation (held-out) scenes, grid/resampling, chips, band sampling
    model:      name (model registry) and params (the model's config dataclass)
    objective:  name (objective registry) and params (its loss weights, discriminators, ...)
    optim:      Adam, learning-rate schedule, gradient clipping (the model's optimizer)
    validation: how the held-out scenes are scored during training
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple

from ..core import bands as _bands
from ..core.config import apply_overrides, from_dict, load_yaml, to_dict
from ..core.errors import BandError, ConfigError
from ..core.metadata import LabelClass
from ..core.scene import RESAMPLING_METHODS


@dataclass(frozen=True)
class ImageSpec:
    """How to read an image folder as scenes (``training/images.py``): pix2pix's side-by-side ``[A|B]``
    pairs or CycleGAN's ``trainA/`` / ``trainB/`` images, 8- or 16-bit or float, any number of channels."""

    bands: Tuple[str, ...]  # band class of each channel (of the left half [A] for side_by_side)
    b_bands: Tuple[str, ...] = ()  # side_by_side: band class of each channel of the right half [B]
    layout: Literal["single", "side_by_side"] = "single"
    direction: Literal["A->B", "B->A"] = "A->B"  # side_by_side: which half holds the sources
    scale: Optional[float] = None  # value = DN x scale + offset; None: the file's scale, else 1/255 (8-bit), 1/65535 (16-bit), 1
    offset: float = 0.0
    nodata: Optional[float] = None  # DN marking invalid pixels (any channel)


@dataclass(frozen=True)
class SceneSpec:
    """One training or validation scene, or a group of them (``path`` with a glob pattern).

    ``path`` is a multi-band file with band descriptions, a folder of per-band files (one HLS granule,
    ``*_B05.tif``-style names, ...), or a glob pattern whose every match is one such scene.  Relative
    paths are read against ``data.root``.
    """

    path: str
    name: str = ""  # label in logs and summaries (default: the file or folder name)
    sensor: Optional[str] = None  # S30, L30, S2, LANDSAT (default: guessed from names)
    level: str = ""  # processing level for the summary: "TOA" (L1C) or "surface" (L2A, HLS); "" = guess
    resampling: Optional[str] = None  # overrides data.resampling for this scene
    reference: Optional[str] = None  # overrides data.reference for this scene
    band_map: Mapping[Any, str] = field(default_factory=dict)  # band number (or file name) -> band name
    use_qa: bool = True  # mask pixels flagged by the scene's Fmask/SCL layer
    weight: float = 1.0  # share of training samples drawn from this spec (all its matches together)
    labels: str = ""  # a categorical label raster of the scene (read with nearest resampling; data.label_classes)
    images: Optional[ImageSpec] = None  # set: path is a folder / pattern / file of images, each one scene


@dataclass(frozen=True)
class PairSpec:
    """A fixed task: synthesize ``target`` from exactly the ``sources``."""

    sources: Tuple[str, ...]
    target: str


@dataclass(frozen=True)
class SourceSetSpec:
    """A source set trained on purpose: with probability ``p`` a sample's sources are these bands (those of
    them the chip's scene has, the target left out), e.g. the bands Landsat / HLS L30 has."""

    bands: Tuple[str, ...]
    p: float = 0.1
    name: str = ""  # label in the training summary


@dataclass(frozen=True)
class AtmosphereAugment:
    """Random, spectrally smooth "atmosphere" applied to a chip's sources and target alike.

    Every reflectance band b of a chip becomes ``gain * v + offset_b`` with
    ``offset_b = rayleigh * (lambda_b / 550 nm) ** -4 + aerosol * (lambda_b / 550 nm) ** -angstrom``:
    the shape of a path-reflectance difference between top-of-atmosphere and surface reflectance (molecular
    scattering ~ lambda^-4, aerosol ~ lambda^-angstrom).  Ranges may be signed: adding a path term makes a
    surface chip look like top of atmosphere, removing one the reverse.  Thermal bands and cirrus (B10,
    an absorption band that sees no surface) are left alone.  Off unless ``p > 0``.
    """

    p: float = 0.0  # probability that a chip gets an atmosphere
    rayleigh: Tuple[float, float] = (-0.03, 0.03)  # molecular path reflectance at 550 nm (uniform range)
    aerosol: Tuple[float, float] = (-0.03, 0.03)  # aerosol path reflectance at 550 nm (uniform range)
    angstrom: Tuple[float, float] = (0.5, 2.0)  # aerosol Angstrom exponent (uniform range)
    gain: Tuple[float, float] = (0.9, 1.1)  # common two-way transmittance factor (uniform range)


@dataclass(frozen=True)
class DataConfig:
    train: Tuple[SceneSpec, ...]
    validation: Tuple[SceneSpec, ...] = ()  # held-out scenes: scored, never trained on
    root: str = "."  # folder that relative scene paths are read against ($VARS and ~ expanded)
    resampling: str = "bilinear"  # how bands at other resolutions are brought onto the reference grid
    reference: str = "finest"  # grid of this band (name), or "finest": the finest-resolution band
    chip_size: int = 64  # training chip edge in pixels (a multiple of the model stride)
    min_valid_fraction: float = 0.9  # chips with fewer pixels valid in every band are skipped
    band_naming: str = "S2"  # sensor on whose numbering bare codes (B05) in this config are read
    targets: Tuple[str, ...] = ()  # band classes trained as targets (empty: every band of the data)
    sources: Tuple[str, ...] = ()  # band classes usable as sources (empty: every band of the data)
    pairs: Tuple[PairSpec, ...] = ()  # when set, every sample is one of these fixed tasks
    domain_b: Tuple[SceneSpec, ...] = ()  # the second, unpaired domain (CycleGAN-style objectives)
    label_classes: Tuple[LabelClass, ...] = ()  # classes of the scenes' label rasters (value, name)
    target_sampling: Literal["uniform_class", "per_scene"] = "uniform_class"
    p_all_sources: float = 0.5  # probability that the sources are all other bands of the chip
    source_sets: Tuple[SourceSetSpec, ...] = ()  # named source sets drawn first, each with its probability
    augment: bool = True  # random flips and 90-degree rotations of chips
    atmosphere: AtmosphereAugment = field(default_factory=AtmosphereAugment)  # random path reflectance
    # band classes learned only where they are top-of-atmosphere reflectance: where a scene has one at
    # surface level (Sentinel-2 L2A's water vapour, B09 ~ B8A after Sen2Cor) it is left out of that scene,
    # as input and target, so the class means one quantity (HLS keeps it at TOA; see core.products)
    toa_only: Tuple[str, ...] = ()

    def band_ids(self, names: Sequence[str], key: str) -> Tuple[int, ...]:
        return tuple(resolve_config_band(n, self.band_naming, key) for n in names)


@dataclass(frozen=True)
class RunConfig:
    out_dir: str  # run folder: config.yaml, checkpoints, TensorBoard logs, log.jsonl
    steps: int = 1000  # optimizer steps in total
    batch_size: int = 16  # chips per step PER PROCESS (global batch = batch_size x world size)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA if supported, else fp16; off on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # networks and 4-D batches in NHWC; auto: on CUDA only
    threads: int = 0  # torch CPU threads per process (0: torch's default)
    retain_freed_memory: bool = True  # glibc: keep freed memory in the process (no page faults per step; allocator.py)
    log_every: int = 20  # steps between log lines / scalars
    validate_every: int = 250  # steps between validations (0: only at the end)
    checkpoint_every: int = 250  # steps between last.pt writes (0: only at the end)
    tensorboard: bool = True
    progress: bool = True  # progress bar with ETA on stderr (rank 0)


@dataclass(frozen=True)
class ModelSection:
    name: str = "adain_unet"  # registry name (hls_translate.core.models.list_models())
    params: Mapping[str, Any] = field(default_factory=dict)  # the model's config dataclass fields


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-3
    betas: Tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant", "linear_decay"] = "cosine"  # after the warm-up
    warmup_steps: int = 100  # linear warm-up from 0
    min_lr_ratio: float = 0.05  # floor of the cosine / linear decay as a fraction of lr
    decay_fraction: float = 0.5  # linear_decay: constant, then linear decay over this last share of the steps
    grad_clip: float = 1.0  # max global gradient norm (0: off)


@dataclass(frozen=True)
class ObjectiveSection:
    name: str = "translation"  # objective registry name (hls_translate.training.objectives.list_objectives())
    params: Mapping[str, Any] = field(default_factory=dict)  # the objective's parameter dataclass fields


@dataclass(frozen=True)
class ValidationConfig:
    max_size: int = 512  # held-out scenes are scored on a centred crop of at most this many pixels a side
    targets: Tuple[str, ...] = ()  # targets scored (empty: every band the held-out scene has)
    metric: Literal["rmse", "rmse_norm"] = "rmse"  # best checkpoint: lowest mean of this over targets


@dataclass(frozen=True)
class TrainConfig:
    run: RunConfig
    data: DataConfig
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    validation: ValidationConfig = field(default_factory=ValidationConfig)


# --- loading and checking -----------------------------------------------------------------------------
def resolve_config_band(name: str, naming: str, key: str) -> int:
    """Band class id of a band named in the config (bare codes read on ``naming``'s numbering)."""
    try:
        if _bands.normalize_code(str(name)) and ":" not in str(name):
            return _bands.resolve_band(str(name), naming).id
        return _bands.resolve_band(str(name)).id
    except BandError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def physical_memory() -> int:
    """This machine's memory in bytes (0: unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: no bound
        return 0


def _check_batch_memory(batch_size: int, chip: int) -> None:
    """Refuse a batch whose input chips alone (15 band planes + supervision, float32) would take more
    than a quarter of this machine's memory: the model's activations are several times that."""
    need = batch_size * (_bands.NUM_CLASSES + 4) * chip * chip * 4
    have = physical_memory()
    if have and need > have // 4:
        raise ConfigError(f"run.batch_size: {batch_size} chips of {chip}x{chip} px need about {need / 2**30:.1f} GiB for "
                          f"the batch alone (activations several times more); this machine has {have / 2**30:.1f} GiB. "
                          "Lower run.batch_size or data.chip_size")


def _check_images(im: ImageSpec, d: DataConfig, key: str, held_out: bool) -> None:
    _check(not held_out, key, "held-out scenes are satellite scenes (the evaluation reads them with their "
           "georeferencing); image folders can be trained on (data.train, data.domain_b)")
    _check(len(im.bands) >= 1, f"{key}.bands", "name the band class of every channel")
    for k, names in (("bands", im.bands), ("b_bands", im.b_bands)):
        ids = d.band_ids(names, f"{key}.{k}")
        _check(len(set(ids)) == len(ids), f"{key}.{k}", "a band class is listed twice")
    if im.layout == "side_by_side":
        _check(len(im.b_bands) == len(im.bands), f"{key}.b_bands", f"side_by_side needs one band per channel of "
               f"the right half, as many as bands ({len(im.bands)}); got {len(im.b_bands)}")
    else:
        _check(not im.b_bands, f"{key}.b_bands", "only side_by_side images have a right half")
    _check(im.scale is None or im.scale > 0, f"{key}.scale", f"must be > 0, got {im.scale}")


def check_config(cfg: TrainConfig, check_model: bool = True) -> TrainConfig:
    """Range and cross-field checks; returns ``cfg`` with ``data.root`` made absolute.

    With ``check_model`` the model's and the objective's parameters are built from their registries too
    (that imports torch)."""
    r, d, o, v = cfg.run, cfg.data, cfg.optim, cfg.validation
    _check(bool(r.out_dir.strip()), "run.out_dir", "must name a folder")
    _check(r.steps >= 1, "run.steps", f"must be >= 1, got {r.steps}")
    _check(r.batch_size >= 1, "run.batch_size", f"must be >= 1, got {r.batch_size}")
    _check(r.threads >= 0, "run.threads", f"must be >= 0, got {r.threads}")
    cores = os.cpu_count() or 1
    _check(r.threads <= 4 * cores, "run.threads", f"{r.threads} threads on a machine with {cores} cores; use at most "
           f"{4 * cores} (0: torch's default, one per core)")
    _check(0 <= r.seed < 2 ** 32, "run.seed", f"must be an integer in [0, 2**32), got {r.seed}")
    for k in ("log_every", "validate_every", "checkpoint_every"):
        _check(getattr(r, k) >= 0, f"run.{k}", f"must be >= 0, got {getattr(r, k)}")
    _check(r.log_every >= 1, "run.log_every", "must be >= 1")
    _check(len(d.train) >= 1, "data.train", "needs at least one scene")
    _check(d.resampling in RESAMPLING_METHODS, "data.resampling",
           f"{d.resampling!r} is not one of {', '.join(RESAMPLING_METHODS)}")
    _check(d.chip_size >= 8, "data.chip_size", f"must be >= 8, got {d.chip_size}")
    _check_batch_memory(r.batch_size, d.chip_size)
    _check(0.0 < d.min_valid_fraction <= 1.0, "data.min_valid_fraction", f"must be in (0, 1], got {d.min_valid_fraction}")
    _check(0.0 <= d.p_all_sources <= 1.0, "data.p_all_sources", f"must be in [0, 1], got {d.p_all_sources}")
    for i, ss in enumerate(d.source_sets):
        _check(0.0 <= ss.p <= 1.0, f"data.source_sets[{i}].p", f"must be in [0, 1], got {ss.p}")
        _check(len(ss.bands) >= 1, f"data.source_sets[{i}].bands", "needs at least one band")
        d.band_ids(ss.bands, f"data.source_sets[{i}].bands")
    _check(sum(ss.p for ss in d.source_sets) <= 1.0 + 1e-9, "data.source_sets",
           f"the probabilities add up to {sum(ss.p for ss in d.source_sets):g} (> 1)")
    _check(not (d.source_sets and d.pairs), "data.source_sets", "cannot be combined with data.pairs")
    a = d.atmosphere
    _check(0.0 <= a.p <= 1.0, "data.atmosphere.p", f"must be in [0, 1], got {a.p}")
    for k, (lo, hi) in (("rayleigh", a.rayleigh), ("aerosol", a.aerosol), ("angstrom", a.angstrom), ("gain", a.gain)):
        _check(lo <= hi, f"data.atmosphere.{k}", f"needs low <= high, got [{lo}, {hi}]")
    _check(a.gain[0] > 0, "data.atmosphere.gain", f"must be > 0, got {list(a.gain)}")
    _check(d.band_naming.upper() in _bands.SENSORS, "data.band_naming",
           f"{d.band_naming!r} is not a sensor ({', '.join(_bands.SENSORS)})")
    if d.reference != "finest":
        resolve_config_band(d.reference, d.band_naming, "data.reference")
    d.band_ids(d.targets, "data.targets")
    d.band_ids(d.toa_only, "data.toa_only")
    d.band_ids(d.sources, "data.sources")
    for i, p in enumerate(d.pairs):
        key = f"data.pairs[{i}]"
        _check(len(p.sources) >= 1, f"{key}.sources", "needs at least one band")
        src = d.band_ids(p.sources, f"{key}.sources")
        tgt = resolve_config_band(p.target, d.band_naming, f"{key}.target")
        _check(tgt not in src, key, "the target is also a source")
        _check(len(set(src)) == len(src), f"{key}.sources", "a band is listed twice")
    values = [c.value for c in d.label_classes]
    _check(len(set(values)) == len(values), "data.label_classes", "a class value is listed twice")
    labelled = [f"data.{g}[{i}]" for g, specs in (("train", d.train), ("domain_b", d.domain_b),
                                                   ("validation", d.validation)) for i, s in enumerate(specs) if s.labels]
    _check(not labelled or bool(d.label_classes), "data.label_classes",
           f"{', '.join(labelled)} give a label raster; list its classes ({{value, name}} each)")
    for group, specs in (("train", d.train), ("domain_b", d.domain_b), ("validation", d.validation)):
        for i, s in enumerate(specs):
            key = f"data.{group}[{i}]"
            _check(bool(s.path.strip()), f"{key}.path", "is empty")
            _check(s.weight > 0, f"{key}.weight", f"must be > 0, got {s.weight}")
            if s.resampling is not None:
                _check(s.resampling in RESAMPLING_METHODS, f"{key}.resampling",
                       f"{s.resampling!r} is not one of {', '.join(RESAMPLING_METHODS)}")
            if s.sensor is not None:
                _check(s.sensor.upper() in _bands.SENSORS, f"{key}.sensor",
                       f"{s.sensor!r} is not a sensor ({', '.join(_bands.SENSORS)})")
            _check(s.level in ("", "TOA", "surface"), f"{key}.level", f"must be TOA, surface or empty, got {s.level!r}")
            if s.reference not in (None, "finest"):
                resolve_config_band(s.reference, d.band_naming, f"{key}.reference")
            if s.images is not None:
                _check_images(s.images, d, f"{key}.images", held_out=group == "validation")
    _check(o.lr > 0, "optim.lr", f"must be > 0, got {o.lr}")
    _check(all(0 <= b < 1 for b in o.betas), "optim.betas", f"must be in [0, 1), got {o.betas}")
    _check(o.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
    _check(0 <= o.min_lr_ratio <= 1, "optim.min_lr_ratio", "must be in [0, 1]")
    _check(0 < o.decay_fraction <= 1, "optim.decay_fraction", f"must be in (0, 1], got {o.decay_fraction}")
    _check(o.grad_clip >= 0, "optim.grad_clip", "must be >= 0")
    _check(v.max_size >= 16, "validation.max_size", f"must be >= 16, got {v.max_size}")
    d.band_ids(v.targets, "validation.targets")
    if check_model:
        from .objectives import make_objective_params

        make_objective_params(cfg.objective.name, cfg.objective.params)
        stride, smallest = model_geometry(cfg)
        _check(d.chip_size % stride == 0 and d.chip_size >= smallest, "data.chip_size",
               f"{d.chip_size} must be a multiple of the model stride {stride} and at least {smallest}")
    root = os.path.abspath(os.path.expanduser(os.path.expandvars(d.root)))
    train_paths = {os.path.normpath(os.path.join(root, s.path)) for s in d.train + d.domain_b}
    for i, s in enumerate(d.validation):
        _check(os.path.normpath(os.path.join(root, s.path)) not in train_paths, f"data.validation[{i}].path",
               f"{s.path} is also a training scene; held-out scenes must never be trained on")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, root=root))


def model_geometry(cfg: TrainConfig) -> Tuple[int, int]:
    """Build the model's config dataclass (checks ``model.params`` names and types) and return its stride
    and the smallest input it takes (``min_input_size`` where the config says, else twice the stride)."""
    from ..core.models import make_config  # imports torch: only the training side calls this

    try:
        mcfg = make_config(cfg.model.name, cfg.model.params)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"model {cfg.model.name}", "model.params", 1)) from None
    except Exception as exc:  # noqa: BLE001 - unknown model name
        from ..core.errors import HLSTranslateError
        if isinstance(exc, HLSTranslateError):
            raise ConfigError(f"model.name: {exc}") from None
        raise
    stride = int(getattr(mcfg, "stride", 1))
    return stride, int(getattr(mcfg, "min_input_size", 2 * stride))


def load_train_config(path: Optional[str], overrides: Sequence[str] = (), base: Optional[Mapping[str, Any]] = None,
                      check_model: bool = True) -> TrainConfig:
    """YAML ``path`` (or the mapping ``base``) + overrides -> checked :class:`TrainConfig`."""
    data = load_yaml(path) if path is not None else dict(base or {})
    data = apply_overrides(data, overrides)
    _refuse_moved_sections(data)
    if check_model:
        data = with_objective_optim_defaults(data)
    return check_config(from_dict(TrainConfig, data), check_model=check_model)


def with_objective_optim_defaults(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` with the objective's own optimizer defaults (its paper's Adam settings and schedule, see
    ``register_objective``) under the ``optim`` keys the config does not set."""
    from .objectives import objective_entry

    objective = data.get("objective") if isinstance(data, Mapping) else None
    name = objective.get("name", ObjectiveSection.name) if isinstance(objective, Mapping) else ObjectiveSection.name
    optim = data.get("optim") or {}
    if not isinstance(name, str) or not isinstance(optim, Mapping):
        return data  # from_dict names the bad key
    defaults = objective_entry(name).optim_defaults
    return {**data, "optim": {**defaults, **optim}} if defaults else data


def _refuse_moved_sections(data: Mapping[str, Any]) -> None:
    if isinstance(data, Mapping) and "loss" in data:
        raise ConfigError("loss: the loss weights moved to the objective section; write them as "
                          "`objective: {name: translation, params: {l1: ..., adversarial: ...}}` "
                          f"(this config's loss section: {dict(data['loss']) if isinstance(data['loss'], Mapping) else data['loss']!r})")


def config_to_yaml(cfg: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=110)


def config_from_dict(data: Mapping[str, Any], check_model: bool = True) -> TrainConfig:
    """The config stored in a checkpoint (a plain dict) back into :class:`TrainConfig`."""
    _refuse_moved_sections(data)
    return check_config(from_dict(TrainConfig, data), check_model=check_model)


__all__ = ["ImageSpec", "SceneSpec", "physical_memory", "PairSpec", "SourceSetSpec", "DataConfig", "RunConfig", "ModelSection", "OptimConfig", "ObjectiveSection",
           "ValidationConfig", "TrainConfig", "load_train_config", "config_from_dict", "config_to_yaml",
           "check_config", "resolve_config_band", "model_geometry"]
