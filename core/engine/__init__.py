"""Streaming tiled inference: run an exported model over a raster of any size (numpy + onnxruntime).

:func:`predict` reads a :class:`~..raster.Scene` tile row by tile row, runs the model on batches of
tiles, blends overlapping predictions (:mod:`..tiling`) in a strip buffer one tile high and as wide as
the raster, and writes every finished strip to the output GeoTIFF/COG
(:class:`~..raster.RasterWriter`, temp file + rename).  Memory therefore grows with the raster's width
and the tile size, never with its area.  :func:`predict_array` runs the same tiling and blending on
arrays in memory (tests, evaluation).

Everything is driven by the model's :class:`~..metadata.ModelMetadata`: its ``kind`` picks the feed
strategy (:mod:`.feeds`: conditional bands -> one band, fixed bands -> bands, label map -> bands), and
the tensor names and roles, the band order of the ``bands`` input, the stride (tiles are reflect-padded
to a multiple of it), the recommended tile size and overlap, and the normalization means (invalid input
pixels are filled with the band's mean before the model sees them) come from it too.

Nodata: an output pixel is nodata where any input it was computed from is nodata (a band's fill value,
not finite, or flagged by the QA layer when ``mask_qa``; a label pixel that is nodata or of a class the
model does not know); a tile where every output pixel would be nodata is skipped without running the
model.  With ``gap_fill`` the target band must be in the scene: its valid pixels are kept and only its
nodata pixels are synthesized (tiles without any are skipped).

Modules: :mod:`.options` (what is asked, what was done), :mod:`.planning` (the checked plan),
:mod:`.feeds` (a strategy per model kind), :mod:`.runner` (readers and the tile loop), :mod:`.api`
(:func:`predict`, :func:`predict_array`).
"""

from .api import predict, predict_array
from .options import DRIVERS, DTYPES, PredictOptions, PredictResult
from .planning import PredictPlan, plan

__all__ = ["PredictOptions", "PredictResult", "PredictPlan", "plan", "predict", "predict_array", "DTYPES", "DRIVERS"]
