"""Planning a prediction: check a request against the model and the input, decide targets, inputs, tiles.

Everything :func:`plan` decides is in one frozen :class:`PredictPlan`; nothing is computed before it.  The
choice of input bands is the model kind's (:mod:`.feeds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

from .. import bands as _bands
from ..bands import BandClass
from ..errors import BandError, ConfigError, MissingBandError
from ..metadata import ModelMetadata
from ..tiling import DEFAULT_FLOOR, TileGrid, describe as describe_grid
from .feeds import SourceRequest, strategy_for
from .options import PredictOptions, TargetSpec, band_names, resolve_spec


@dataclass(frozen=True)
class PredictPlan:
    """Everything :func:`predict` decided before computing (targets, inputs, tiles); see :func:`plan`."""

    targets: Tuple[BandClass, ...]
    sources: Tuple[BandClass, ...]  # union of the input bands used
    target_sources: Tuple[Tuple[BandClass, ...], ...]  # per target: the bands its pixels depend on
    gap_fill: Tuple[bool, ...]  # per target
    grid: TileGrid
    blend: str
    fill_values: Mapping[int, Optional[float]]  # class id -> value for invalid input pixels (None: tile mean)
    kind: str  # the model's kind (ModelMetadata.kind): which feed strategy runs it
    sensor: str = ""
    blend_floor: float = DEFAULT_FLOOR
    labels: str = ""  # label-map models: what the label layer is (for logs and output metadata)

    @property
    def conditional(self) -> bool:
        return self.kind == "conditional"

    @property
    def read_bands(self) -> Tuple[BandClass, ...]:
        """Bands read from the scene: the sources, then gap-filled targets not among them."""
        extra = [t for t, g in zip(self.targets, self.gap_fill) if g and t not in self.sources]
        return self.sources + tuple(dict.fromkeys(extra))

    def inputs_of(self, k: int, sep: str = ",") -> str:
        """What target ``k``'s pixels are computed from, for logs and output metadata."""
        if self.labels:
            return f"labels {self.labels}"
        return sep.join(_bands.band_label(s, self.sensor) for s in self.target_sources[k])

    def summary(self) -> str:
        lines = []
        for k, (t, g) in enumerate(zip(self.targets, self.gap_fill)):
            lines.append(f"{_bands.band_label(t, self.sensor)}{' (gap-fill)' if g else ''} <- "
                         + self.inputs_of(k, ", "))
        lines.append(f"{describe_grid(self.grid)}, blend {self.blend}")
        return "\n".join(lines)


def plan(metadata: ModelMetadata, available: Sequence[int], height: int, width: int,
         targets: Sequence[TargetSpec], options: PredictOptions = PredictOptions(), sensor: str = "",
         where: str = "the input", model_name: str = "the model", labels: str = "") -> PredictPlan:
    """Check a request against a model and the bands at hand, and decide targets, inputs and tiles.

    ``available``: band class ids the input has; ``labels``: what the label layer is (a label-map model
    needs one, other models take none).  Raises (before any compute) :class:`MissingBandError` for a
    target the model cannot synthesize or an input band it needs that the input lacks,
    :class:`BandError` for unknown or duplicated bands, :class:`ConfigError` for tile/overlap values that
    do not fit the model and for a label layer given to (or missing for) a model.
    """
    md = metadata
    strategy = strategy_for(md.kind)
    if strategy.reads_labels and not labels:
        raise ConfigError(f"{model_name} is a label-map model: it synthesizes bands from a categorical label raster "
                          f"(classes {', '.join(c.name for c in md.label_classes)}); give one (labels=...)")
    if labels and not strategy.reads_labels:
        raise ConfigError(f"{model_name} is a {md.kind.replace('_', ' ')} model: it takes no label raster")
    have = tuple(int(c) for c in available)
    if isinstance(targets, (str, int, BandClass)):
        targets = [targets]
    if not targets:
        raise ConfigError("no target band given: name at least one band to synthesize")
    tcls: List[BandClass] = []
    for spec in targets:
        c = resolve_spec(spec, sensor)
        if c in tcls:
            raise BandError(f"target band {_bands.band_label(c, sensor)} is given twice")
        tcls.append(c)
    can = set(strategy.synthesizable(md))
    for c in tcls:
        if c.id not in can:
            raise MissingBandError(f"{model_name} cannot synthesize {_bands.band_label(c, sensor)} ({c.key}); it "
                                   f"synthesizes: {band_names(sorted(can), sensor)}")
    gap = tuple(bool(options.gap_fill) for _ in tcls)
    if options.gap_fill:
        lacking = [c for c in tcls if c.id not in have]
        if lacking:
            raise MissingBandError(f"gap-fill keeps the real pixels of the target band, but {where} has no "
                                   f"{band_names(lacking, sensor)} band; without --gap-fill the band is synthesized "
                                   "whole")
    if options.without:  # declared absent: as if the input lacked them (they are never read as sources)
        gone = [resolve_spec(spec, sensor) for spec in options.without]
        if options.sources is not None:
            both = [c for c in gone if c in {resolve_spec(s, sensor) for s in options.sources}]
            if both:
                raise BandError(f"{band_names(both, sensor)} is both among the sources and declared absent (without)")
        have = tuple(c for c in have if c not in {g.id for g in gone})
    choice = strategy.choose_sources(SourceRequest(md, have, tuple(tcls), options, sensor, where, model_name))
    grid = _tile_grid(md, options, height, width)
    fills = {c.id: (float(md.normalization[c.id].mean) if c.id in md.normalization else None)
             for c in choice.sources}
    return PredictPlan(targets=tuple(tcls), sources=choice.sources, target_sources=choice.per_target, gap_fill=gap,
                       grid=grid, blend=options.blend, fill_values=fills, kind=md.kind, sensor=sensor,
                       blend_floor=float(options.blend_floor), labels=labels)


def _tile_grid(md: ModelMetadata, options: PredictOptions, height: int, width: int) -> TileGrid:
    hint = md.tiling
    stride = max(1, int(hint.stride))
    tile = options.tile_size if options.tile_size is not None else int(hint.tile_size)
    if tile % stride:
        raise ConfigError(f"tile size {tile} is not a multiple of the model's stride {stride}")
    if options.overlap is not None:
        overlap = options.overlap
        if overlap > tile // 2:
            step = max(1, tile - overlap)
            n = -(-max(height - overlap, 1) // step) * -(-max(width - overlap, 1) // step)
            raise ConfigError(f"overlap {overlap} of a {tile} px tile would plan {n:,} tiles (each pixel computed "
                              f"about {(tile / step) ** 2:.0f} times); use an overlap of at most half the tile "
                              f"({tile // 2})")
    else:  # the model's recommendation, kept below half a tile when a smaller tile was asked for
        overlap = min(int(hint.overlap), tile // 2)
        overlap = min(overlap, tile - 1)
    return TileGrid(int(height), int(width), int(tile), int(overlap), stride)


__all__ = ["PredictPlan", "plan"]
