"""Receptive fields and tiling hints of convolutional networks, by interval arithmetic (no torch).

A family describes how one output interval of pixels maps back, layer by layer, to the input interval
it depends on; :func:`receptive_field` takes the widest such interval over the ``stride`` output
positions of one cell of the downsampling grid.  The per-layer rules:

* :func:`conv_back`: a convolution (kernel ``k``, stride ``s``, zero padding ``p``; a reflection or
  replication pad of ``p`` in front of an unpadded convolution maps the same way);
* :func:`conv_transpose_back`: a transposed convolution (kernel ``k``, stride ``s``, padding ``p``;
  ``output_padding`` only adds pixels at the far end and changes no dependency).

Normalizations over the whole tile (instance norm, batch norm with batch statistics) make every
output depend weakly on every input besides; the receptive field counts the convolutions only.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

Interval = Tuple[int, int]


def conv_back(lo: int, hi: int, k: int, s: int = 1, p: int = 0) -> Interval:
    """Input pixels ``[lo', hi']`` that outputs ``[lo, hi]`` of a convolution read."""
    return lo * s - p, hi * s - p + k - 1


def conv_transpose_back(lo: int, hi: int, k: int, s: int = 1, p: int = 0) -> Interval:
    """Input pixels that outputs ``[lo, hi]`` of a transposed convolution read (output ``o`` receives
    input ``i`` through kernel tap ``j`` when ``o = i * s - p + j``)."""
    return -(-(lo + p - k + 1) // s), (hi + p) // s


def receptive_field(back: Callable[[int, int], Interval], stride: int) -> int:
    """The widest input interval one output pixel depends on, over one cell of ``stride`` positions."""
    widest = 1
    for pos in range(stride):
        lo, hi = back(pos, pos)
        widest = max(widest, hi - lo + 1)
    return widest


def tiling_hint(receptive: int, stride: int, tile_size: int, max_overlap: int = 0) -> Dict[str, int]:
    """The model's tiling recommendation: ``overlap`` is the receptive field's context radius rounded up
    to a multiple of the stride, capped at ``max_overlap`` when that is given (a receptive field wider
    than the tile)."""
    overlap = int(math.ceil(((receptive - 1) / 2) / stride) * stride)
    if max_overlap:
        overlap = min(overlap, max_overlap)
    return {"tile_size": int(tile_size), "overlap": overlap, "stride": int(stride), "receptive_field": int(receptive)}


__all__ = ["conv_back", "conv_transpose_back", "receptive_field", "tiling_hint"]
