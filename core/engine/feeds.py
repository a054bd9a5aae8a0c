"""Feed strategies: one per model kind, from the bands (or labels) at hand to the model's input tensors.

Each strategy answers two questions for its kind (``ModelMetadata.kind``):

* planning, :meth:`FeedStrategy.choose_sources`: which input bands a request uses, per target, checked
  against the model and the input with messages naming the bands;
* running, :meth:`FeedStrategy.build`: the feeds of one batch of tiles (keyed by tensor role), and which
  output channel of which batch item each target's pixels come from (:class:`Pick`).

===========  ========================================  ======================================================
kind         batch items                               feeds
===========  ========================================  ======================================================
conditional  one per (tile, target)                    ``bands`` [N, 15, H, W] (the target's sources, 0
                                                       elsewhere), ``presence`` [N, 15], ``target`` [N]
fixed_bands  one per tile; targets: output channels    ``bands`` [N, C_in, H, W] in the model's band order
label_map    one per tile; targets: output channels    ``labels`` [N, K, H, W] one-hot (float32) or
                                                       [N, 1, H, W] class index (int64); ``noise`` [N, Z]
                                                       when the model has one: one seeded style vector
===========  ========================================  ======================================================

Tiles smaller than the model's input are reflect-padded (:func:`..tiling.pad_to`); label-map pixels that
are invalid (unknown class, nodata) are fed as no class (all-zero one-hot) or as class 0 (index tensors);
their outputs are nodata anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Type

import numpy as np

from .. import bands as _bands
from ..bands import BandClass
from ..errors import BandError, MissingBandError
from ..metadata import ModelMetadata
from ..tiling import Tile, pad_to
from .options import PredictOptions, band_names, resolve_spec

if TYPE_CHECKING:  # the plan is made with a strategy's choice of sources
    from .planning import PredictPlan

Feeds = Dict[str, np.ndarray]


@dataclass(frozen=True)
class SourceRequest:
    """What :meth:`FeedStrategy.choose_sources` decides from: the model, the input and the request."""

    metadata: ModelMetadata
    have: Tuple[int, ...]  # band class ids the input has
    targets: Tuple[BandClass, ...]
    options: PredictOptions
    sensor: str
    where: str  # "scene X", "the array": for messages
    model_name: str

    def label(self, cls: BandClass) -> str:
        return _bands.band_label(cls, self.sensor)

    def names(self, classes) -> str:
        return band_names(classes, self.sensor)


class SourceChoice(NamedTuple):
    """The input bands of a request: their union, and per target the bands its pixels depend on."""

    sources: Tuple[BandClass, ...]
    per_target: Tuple[Tuple[BandClass, ...], ...]


class TargetNeed(NamedTuple):
    """One target a tile needs the model for, and where (None: every pixel of the tile)."""

    target: int  # index into the plan's targets
    mask: Optional[np.ndarray]


class TileWork(NamedTuple):
    """A tile that needs the model: its targets, and its columns in the batch's read window."""

    tile: Tile
    needs: List[TargetNeed]
    cols: slice


class Pick(NamedTuple):
    """Where one target's prediction of one tile is in the model's output."""

    item: int  # batch item
    tile: Tile
    target: int  # index into the plan's targets
    channel: int  # output channel
    mask: Optional[np.ndarray]  # the pixels to blend (None: all)


class FeedStrategy:
    """How one model kind is fed (see the module documentation); built once per prediction."""

    kind: ClassVar[str] = ""
    reads_labels: ClassVar[bool] = False  # the batches need the label layer's classes

    # -- planning --------------------------------------------------------------------------------
    @classmethod
    def synthesizable(cls, md: ModelMetadata) -> Tuple[int, ...]:
        """Band classes the model can synthesize."""
        return tuple(md.output.bands)

    @classmethod
    def choose_sources(cls, req: SourceRequest) -> SourceChoice:
        raise NotImplementedError

    # -- running ---------------------------------------------------------------------------------
    def __init__(self, md: ModelMetadata, plan: "PredictPlan", seed: int = 0):
        self.metadata, self.plan = md, plan
        rows = {c.id: i for i, c in enumerate(plan.read_bands)}
        self.rows = rows
        #: per target: the rows of the validity stack its pixels depend on
        self.depends: List[np.ndarray] = [np.array([rows[c.id] for c in s], dtype=np.intp)
                                          for s in plan.target_sources]

    def build(self, values: np.ndarray, labels: Optional[np.ndarray], items: Sequence[TileWork],
              shape: Tuple[int, int]) -> Tuple[Feeds, List[Pick]]:
        """Feeds and picks of ``items``; ``values`` ``[R, h, w]`` of the plan's read bands over the batch's
        window (invalid pixels already filled), ``labels`` ``[h, w]`` class indices (-1: invalid) or None,
        ``shape`` the model's input height and width (tiles smaller than it are padded)."""
        raise NotImplementedError


class ConditionalBands(FeedStrategy):
    """Conditional models: one item per (tile, target), the target's sources in their catalogue channels."""

    kind = "conditional"

    @classmethod
    def synthesizable(cls, md: ModelMetadata) -> Tuple[int, ...]:
        return tuple(md.target_bands)

    @classmethod
    def choose_sources(cls, req: SourceRequest) -> SourceChoice:
        md, have = req.metadata, req.have
        accepted = [c for c in md.input("bands").bands if c in set(md.source_bands)]
        if req.options.sources is not None:
            src: List[BandClass] = []
            for spec in req.options.sources:
                c = resolve_spec(spec, req.sensor)
                if c.id not in have:
                    raise MissingBandError(f"source band {req.label(c)} is not in {req.where} (it has: "
                                           f"{req.names(have)})")
                if c.id not in accepted:
                    raise BandError(f"{req.model_name} does not take {req.label(c)} as input; it accepts: "
                                    f"{req.names(accepted)}")
                if c not in src:
                    src.append(c)
        else:
            src = [_bands.band_class(c) for c in accepted if c in have]
        per_target = []
        for t in req.targets:
            s = tuple(c for c in src if c != t)
            if not s:
                raise MissingBandError(
                    f"no input band to synthesize {req.label(t)} from: {req.model_name} accepts "
                    f"{req.names(accepted)}; {req.where} has {req.names(have)}")
            per_target.append(s)
        return SourceChoice(tuple(c for c in src if any(c in s for s in per_target)), tuple(per_target))

    def __init__(self, md: ModelMetadata, plan: "PredictPlan", seed: int = 0):
        super().__init__(md, plan, seed)
        chan = {c: i for i, c in enumerate(md.input("bands").bands)}
        self.n_chan = len(chan)
        self.src_rows = self.depends
        self.src_chan = [np.array([chan[c.id] for c in s], dtype=np.intp) for s in plan.target_sources]
        self.presence = np.zeros((len(plan.targets), self.n_chan), dtype=np.float32)
        for k, sc in enumerate(self.src_chan):
            self.presence[k, sc] = 1.0
        self.target_ids = np.array([t.id for t in plan.targets], dtype=np.int64)

    def build(self, values, labels, items, shape):
        mh, mw = shape
        pairs = [(work, need) for work in items for need in work.needs]
        bands = np.zeros((len(pairs), self.n_chan, mh, mw), dtype=np.float32)
        for j, (work, need) in enumerate(pairs):
            k = need.target
            if values.shape[1] != mh or work.cols.stop - work.cols.start != mw:
                bands[j, self.src_chan[k]] = pad_to(values[self.src_rows[k], :, work.cols], mh, mw)
            else:  # channel by channel: no temporary stack
                for ch, row in zip(self.src_chan[k], self.src_rows[k]):
                    bands[j, ch] = values[row, :, work.cols]
        ks = [need.target for _, need in pairs]
        feeds = {"bands": bands, "presence": self.presence[ks], "target": self.target_ids[ks]}
        return feeds, [Pick(j, work.tile, need.target, 0, need.mask) for j, (work, need) in enumerate(pairs)]


class _OneItemPerTile(FeedStrategy):
    """Models that synthesize all their output channels at once: one item per tile."""

    def __init__(self, md: ModelMetadata, plan: "PredictPlan", seed: int = 0):
        super().__init__(md, plan, seed)
        outputs = list(md.output.bands)
        self.out_chan = [outputs.index(t.id) for t in plan.targets]

    def inputs(self, values: np.ndarray, labels: Optional[np.ndarray], items: Sequence[TileWork],
               shape: Tuple[int, int]) -> Feeds:
        raise NotImplementedError

    def build(self, values, labels, items, shape):
        feeds = self.inputs(values, labels, items, shape)
        picks = [Pick(i, work.tile, need.target, self.out_chan[need.target], need.mask)
                 for i, work in enumerate(items) for need in work.needs]
        return feeds, picks


class FixedBands(_OneItemPerTile):
    """Fixed-band models: every input band the model takes, in its order."""

    kind = "fixed_bands"

    @classmethod
    def choose_sources(cls, req: SourceRequest) -> SourceChoice:
        accepted = list(req.metadata.input("bands").bands)
        missing = [c for c in accepted if c not in req.have]
        if missing:
            raise MissingBandError(f"{req.model_name} needs input band(s) {req.names(missing)} that {req.where} "
                                   f"lacks (it has: {req.names(req.have)})")
        sources = tuple(_bands.band_class(c) for c in accepted)
        if req.options.sources is not None:
            given = {resolve_spec(s, req.sensor) for s in req.options.sources}
            if not set(sources) <= given:
                raise BandError(f"{req.model_name} is a fixed-band model: it always takes exactly "
                                f"{req.names(accepted)}; the given sources lack "
                                f"{req.names([c for c in sources if c not in given])}")
        return SourceChoice(sources, tuple(sources for _ in req.targets))

    def __init__(self, md: ModelMetadata, plan: "PredictPlan", seed: int = 0):
        super().__init__(md, plan, seed)
        self.in_rows = np.array([self.rows[c] for c in md.input("bands").bands], dtype=np.intp)

    def inputs(self, values, labels, items, shape):
        mh, mw = shape
        bands = np.empty((len(items), len(self.in_rows), mh, mw), dtype=np.float32)
        for i, work in enumerate(items):
            bands[i] = pad_to(values[self.in_rows, :, work.cols], mh, mw)
        return {"bands": bands}


class LabelMap(_OneItemPerTile):
    """Label-map models: the label layer's classes, one-hot or as an index, and a seeded style vector."""

    kind = "label_map"
    reads_labels = True

    @classmethod
    def choose_sources(cls, req: SourceRequest) -> SourceChoice:
        if req.options.sources is not None:
            raise BandError(f"{req.model_name} is a label-map model: it synthesizes from the label raster and "
                            "takes no source bands")
        return SourceChoice((), tuple(() for _ in req.targets))

    def __init__(self, md: ModelMetadata, plan: "PredictPlan", seed: int = 0):
        super().__init__(md, plan, seed)
        label_row = np.array([len(plan.read_bands)], dtype=np.intp)  # the label validity, after the bands
        self.depends = [label_row for _ in plan.targets]
        spec = md.input("labels")
        self.one_hot = spec.dtype == "float32"
        self.classes = np.arange(len(md.label_classes), dtype=np.int64)[:, None, None]
        self.style: Optional[np.ndarray] = None
        if md.has_input("noise"):
            size = md.input("noise").shape[1]
            self.style = np.random.default_rng(seed).standard_normal(int(size)).astype(np.float32)

    def inputs(self, values, labels, items, shape):
        mh, mw = shape
        n = len(items)
        if self.one_hot:
            x = np.empty((n, len(self.classes), mh, mw), dtype=np.float32)
            for i, work in enumerate(items):
                x[i] = pad_to(labels[:, work.cols], mh, mw)[None] == self.classes
        else:
            x = np.empty((n, 1, mh, mw), dtype=np.int64)
            for i, work in enumerate(items):
                x[i, 0] = np.maximum(pad_to(labels[:, work.cols], mh, mw), 0)
        feeds = {"labels": x}
        if self.style is not None:
            feeds["noise"] = np.repeat(self.style[None], n, axis=0)
        return feeds


#: The strategy of each model kind.
STRATEGIES: Mapping[str, Type[FeedStrategy]] = {s.kind: s for s in (ConditionalBands, FixedBands, LabelMap)}


def strategy_for(kind: str) -> Type[FeedStrategy]:
    return STRATEGIES[kind]


__all__ = ["FeedStrategy", "ConditionalBands", "FixedBands", "LabelMap", "STRATEGIES", "strategy_for",
           "SourceRequest", "SourceChoice", "TargetNeed", "TileWork", "Pick"]
