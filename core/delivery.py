"""A prediction stored as the caller asks: in its inputs' convention, as HLS int16 or as physical float32,
with GDAL creation options (what both ``hls-translate predict`` and the QGIS algorithms offer).

:func:`predict_stored` runs :func:`~.engine.predict`, which writes physical float32 values.  When that
is what was asked for, the engine writes the outputs itself; otherwise it writes them to hidden
temporary files beside the outputs, which :func:`~.writer.reencode` then stores in each band's
:class:`~.writer.Encoding` under the final names (and removes).  Either way a failed or cancelled run
leaves nothing at the output paths.  (The re-encoding pass goes away once the engine's writers take
the encodings themselves.)
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .bands import BandClass
from .engine import PredictOptions, PredictResult, predict
from .errors import ConfigError, RasterWriteError
from .scene import Scene
from .fileio import check_outputs_are_not_inputs
from .writer import ENCODINGS, Encoding, check_writable, creation_options, hls_encoding, input_encoding, \
    physical_encoding, reencode

LogFn = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class StorageOptions:
    """How the outputs are stored: ``encoding`` (one of :data:`~.writer.ENCODINGS`) and GDAL creation
    options (``KEY=VALUE``) of the output format."""

    encoding: str = "float32"
    options: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"output data type {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
        object.__setattr__(self, "options", creation_options(self.options))


def encodings_for(scene: Scene, targets: Sequence[BandClass], storage: StorageOptions,
                  nodata: float = -9999.0) -> Dict[str, Tuple[Encoding, str]]:
    """Each target's encoding (by class key) with a line saying why; ``nodata``: of physical outputs."""
    out = {}
    for t in targets:
        if storage.encoding == "float32":
            out[t.key] = (physical_encoding(nodata), "physical values (float32)")
        elif storage.encoding == "int16":
            out[t.key] = (hls_encoding(t), f"stored as HLS stores {t.key}")
        else:
            out[t.key] = input_encoding(list(scene.sources.values()), t)
    return out


def _temporary(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.physical.tif")


def predict_stored(model, scene: Scene, targets: Sequence[BandClass], outputs: Union[str, Mapping[str, str]],
                   options: PredictOptions = PredictOptions(), storage: StorageOptions = StorageOptions(),
                   progress=None, is_cancelled=None, log: LogFn = None, labels=None) -> PredictResult:
    """:func:`~.engine.predict` of ``targets`` (band classes, as planned) over ``scene`` into ``outputs``
    (one path, or ``{class key: path}``), stored as ``storage`` says; ``options.dtype`` is not used.
    ``labels``: the label raster of a label-map model (see :func:`~.engine.predict`)."""
    from .metadata import read_metadata

    say = log or (lambda msg: None)
    md = model.metadata if hasattr(model, "metadata") else read_metadata(os.fspath(model))
    encodings = encodings_for(scene, targets, storage, float(md.nodata))
    for t in targets:
        say(f"{t.key}: {encodings[t.key][0].describe()} ({encodings[t.key][1]})")
    direct = not storage.options and all(encodings[t.key][0].physical for t in targets)
    physical = replace(options, dtype="float32")
    if direct:
        return predict(model, scene, targets, outputs, physical, progress=progress, is_cancelled=is_cancelled,
                       log=log, labels=labels)
    files: List[Tuple[str, Sequence[BandClass]]] = (
        [(os.fspath(outputs), list(targets))] if isinstance(outputs, (str, os.PathLike))
        else [(os.fspath(outputs[t.key]), [t]) for t in targets])
    read = scene.files_read()
    if labels is not None:
        read[os.fspath(getattr(labels, "path", labels))] = "the label raster"
    if isinstance(model, (str, os.PathLike)):
        read[os.fspath(model)] = "the model"
    for path, _ in files:
        check_writable(path)
    check_outputs_are_not_inputs([path for path, _ in files], read, RasterWriteError)
    temps = {path: _temporary(os.path.abspath(path)) for path, _ in files}
    part = (lambda f: progress(0.9 * f)) if progress is not None else None
    try:
        engine_outputs = (temps[files[0][0]] if isinstance(outputs, (str, os.PathLike))
                          else {t.key: temps[os.fspath(outputs[t.key])] for t in targets})
        result = predict(model, scene, targets, engine_outputs, replace(physical, overviews=False, driver="GTiff"),
                         progress=part, is_cancelled=is_cancelled, log=log, labels=labels)
        for k, (path, bands) in enumerate(files):
            say(f"storing {os.path.basename(path)}")
            step = (lambda f, k=k: progress(0.9 + 0.1 * (k + f) / len(files))) if progress is not None else None
            reencode(temps[path], path, [encodings[t.key][0] for t in bands], driver=options.driver,
                     options=storage.options, overviews=options.overviews, progress=step, is_cancelled=is_cancelled)
    finally:
        for temp in temps.values():
            for p in (temp, temp + ".aux.xml"):
                if os.path.exists(p):
                    os.remove(p)
    final = {t.key: os.path.abspath(p) for p, bands in files for t in bands}
    return replace(result, outputs=final)


__all__ = ["StorageOptions", "encodings_for", "predict_stored"]
