"""What a prediction is asked to do (:class:`PredictOptions`, band specs) and what it did (:class:`PredictResult`)."""

from __future__ import annotations

import os

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Tuple, Union

from .. import bands as _bands
from ..bands import BandClass
from ..errors import ConfigError
from ..runtime import DEVICES
from ..tiling import BLEND_MODES, DEFAULT_FLOOR

DTYPES = ("float32", "int16")
DRIVERS = ("GTiff", "COG")
ProgressFn = Optional[Callable[[float], None]]
CancelFn = Optional[Callable[[], bool]]
LogFn = Optional[Callable[[str], None]]
TargetSpec = Union[str, int, BandClass]


def resolve_spec(spec: TargetSpec, sensor: str) -> BandClass:
    """The band class a target/source spec names (a bare ``B05`` is read on ``sensor``)."""
    if isinstance(spec, (BandClass, int)) and not isinstance(spec, bool):
        return _bands.band_class(spec)
    return _bands.resolve_band(str(spec), sensor or None)


def band_names(classes: Iterable, sensor: str) -> str:
    """``"B04 red, B8A NIR narrow"`` for messages (``none`` when empty)."""
    return ", ".join(_bands.band_label(_bands.band_class(c), sensor) for c in classes) or "none"


@dataclass(frozen=True)
class PredictOptions:
    """How to run a prediction.  ``None`` for ``tile_size``/``overlap`` means: the model's recommendation.

    * ``blend``: ``cosine`` | ``gaussian`` | ``mean`` | ``crop`` (see :mod:`..tiling`);
    * ``batch_size``: tiles per model run (a conditional model runs one item per tile and target);
    * ``device``: ``auto`` | ``cpu`` | ``cuda``; ``threads``: ONNX Runtime intra-op threads (0: default);
      both apply when ``predict`` loads the model from a path;
    * ``gap_fill``: keep the target band's valid pixels, synthesize only its nodata pixels;
    * ``dtype``: ``float32`` (physical values) or ``int16`` (scaled by the band class's storage scale,
      1e-4 for reflectance, 0.01 for brightness temperature, as HLS stores them);
    * ``driver``: ``GTiff`` (tiled, DEFLATE, overviews) or ``COG``;
    * ``sources``: the input bands to use; ``None``: every band of the scene the model accepts (minus the
      target itself);
    * ``without``: bands declared absent: never used as sources, as if the input lacked them (a band the
      input checks call garbage, say);
    * ``check_inputs``: before the run, look at a sample of every source band and log a warning naming a
      band that is stuck, noise, unrelated to the others or far from the model's training data
      (:mod:`..band_checks`);
    * ``mask_qa``: also treat pixels the scene's QA layer (Fmask/SCL) flags as nodata;
    * ``blend_floor``: smallest weight of the cosine/gaussian windows (> 0);
    * ``seed``: seeds the style vector of a label-map model with a ``noise`` input (one vector for the
      whole run, so tiles agree).
    """

    tile_size: Optional[int] = None
    overlap: Optional[int] = None
    blend: str = "cosine"
    batch_size: int = 4
    device: str = "auto"
    threads: int = 0
    gap_fill: bool = False
    dtype: str = "float32"
    driver: str = "GTiff"
    sources: Optional[Tuple[TargetSpec, ...]] = None
    without: Tuple[TargetSpec, ...] = ()
    check_inputs: bool = True
    mask_qa: bool = False
    overviews: bool = True
    blend_floor: float = DEFAULT_FLOOR
    seed: int = 0

    def __post_init__(self):
        def bad(name, why):
            raise ConfigError(f"predict option {name}: {why}")

        if self.tile_size is not None and (not isinstance(self.tile_size, int) or self.tile_size <= 0):
            bad("tile_size", f"must be a positive integer, got {self.tile_size!r}")
        if self.overlap is not None and (not isinstance(self.overlap, int) or self.overlap < 0):
            bad("overlap", f"must be a non-negative integer, got {self.overlap!r}")
        if self.blend not in BLEND_MODES:
            bad("blend", f"{self.blend!r} is not one of {', '.join(BLEND_MODES)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", f"must be an integer >= 1, got {self.batch_size!r}")
        if self.device not in DEVICES:
            bad("device", f"{self.device!r} is not one of {', '.join(DEVICES)}")
        if not isinstance(self.threads, int) or self.threads < 0:
            bad("threads", f"must be an integer >= 0 (0: ONNX Runtime's default), got {self.threads!r}")
        cores = os.cpu_count() or 1
        if self.threads > 4 * cores:
            bad("threads", f"{self.threads} threads on a machine with {cores} cores; use at most {4 * cores} "
                           "(0: one per core)")
        if self.dtype not in DTYPES:
            bad("dtype", f"{self.dtype!r} is not one of {', '.join(DTYPES)}")
        drv = {"GTIFF": "GTiff", "COG": "COG"}.get(str(self.driver).upper())
        if drv is None:
            bad("driver", f"{self.driver!r} is not one of {', '.join(DRIVERS)}")
        object.__setattr__(self, "driver", drv)
        if self.sources is not None:
            if isinstance(self.sources, (str, int, BandClass)):
                object.__setattr__(self, "sources", (self.sources,))
            else:
                object.__setattr__(self, "sources", tuple(self.sources))
            if not self.sources:
                bad("sources", "an empty list of source bands (use None for: every band the model accepts)")
        if isinstance(self.without, (str, int, BandClass)):
            object.__setattr__(self, "without", (self.without,))
        else:
            object.__setattr__(self, "without", tuple(self.without or ()))
        if not 0.0 < float(self.blend_floor) <= 1.0:
            bad("blend_floor", f"must be in (0, 1], got {self.blend_floor!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            bad("seed", f"must be a non-negative integer, got {self.seed!r}")


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict` did.  ``outputs`` maps each target's band class key to the file holding it.

    ``tiles_total`` counts tile positions; ``tiles_run`` those where the model ran (for at least one
    target); ``tiles_skipped`` those where no target needed it (all nodata, or nothing to gap-fill).
    """

    outputs: Mapping[str, str]
    provider: str
    tiles_total: int
    tiles_run: int
    tiles_skipped: int
    seconds: float
    model_seconds: float = 0.0  # of which inside the model's runtime


__all__ = ["PredictOptions", "PredictResult", "DTYPES", "DRIVERS", "ProgressFn", "CancelFn", "LogFn",
           "TargetSpec", "resolve_spec", "band_names"]
