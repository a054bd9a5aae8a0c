"""Image folders as training scenes: pix2pix's side-by-side ``[A|B]`` pairs and CycleGAN's ``trainA/`` /
``trainB/`` folders, read into the same :class:`~.data.SceneData` as satellite scenes.

A scene entry with ``images:`` set (:class:`~.config.ImageSpec`) names a folder of images (PNG, JPEG or
TIFF; 8-bit, 16-bit or float; any number of channels), a glob pattern or one file; every image is one
scene, so the chip sampler draws (image, chip position, flip/rotation) from ``(seed, sample)`` exactly
as it draws from scenes, and the collation picks the bands the model reads and writes by band class:

* ``layout: single`` (CycleGAN's ``trainA/``, ``trainB/``): the image's channels are ``bands``;
* ``layout: side_by_side`` (pix2pix's aligned datasets): an ``N x 2N`` image, the left half ``[A]`` with
  channels ``bands``, the right half ``[B]`` with channels ``b_bands``.  The B half is the scene's
  *target stack* (:attr:`SceneData.target_values`): a paired model reads its sources from A and its
  targets from B, so A and B may hold the same band classes (RGB -> RGB).  ``direction: B->A`` swaps them.

Values are ``DN x scale + offset``: ``scale`` defaults to the file's own scale tag, else ``1/255`` for
8-bit and ``1/65535`` for 16-bit images (what the reference code's ``ToTensor`` does) and 1 for float
images; remote-sensing TIFFs of reflectance x 1e4 want ``scale: 1e-4``.  A pixel is invalid where any
channel equals ``nodata`` (when set) or is not finite, or where an extra last channel (alpha) is 0.
Images are kept in memory as float32 like scenes (``4 x channels`` bytes per pixel, checked against a
quarter of this machine's memory before they are read); chips are crops at the image's own resolution,
never rescaled.
"""

from __future__ import annotations

import glob
import os
from typing import List, Sequence

import numpy as np

from ..core.backends import open_reader, raster_info
from ..core.bands import resolve_band
from ..core.errors import HLSTranslateError
from ..core.grid import Grid, Window
from .config import DataConfig, ImageSpec, SceneSpec, physical_memory

#: File extensions read from an image folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_DEFAULT_SCALE = {"uint8": 1.0 / 255.0, "uint16": 1.0 / 65535.0}


def image_paths(spec: SceneSpec, root: str, key: str) -> List[str]:
    """The image files of a scene entry with ``images:``: a folder's images (sorted), a pattern's matches
    or one file; none is an error naming the entry."""
    from .data import DataError

    path = os.path.expanduser(os.path.expandvars(spec.path))
    full = path if os.path.isabs(path) else os.path.join(root, path)
    if os.path.isdir(full):
        found = sorted(os.path.join(full, f) for f in os.listdir(full) if f.lower().endswith(IMAGE_EXTENSIONS))
    elif any(ch in spec.path for ch in "*?["):
        found = sorted(p for p in glob.glob(full) if p.lower().endswith(IMAGE_EXTENSIONS))
    else:
        found = [full] if os.path.isfile(full) else []
        if not found:
            raise DataError(f"{key}.path: {full} does not exist (data.root is {root})")
    if not found:
        raise DataError(f"{key}.path: no image ({', '.join(IMAGE_EXTENSIONS)}) in {full}")
    return found


def check_image_memory(paths: Sequence[str], spec: ImageSpec, key: str) -> None:
    """Refuse image sets whose float32 copies would take more than a quarter of this machine's memory."""
    from .data import DataError

    need = 0
    channels = len(spec.bands) + len(spec.b_bands)
    for p in paths:
        try:
            info = raster_info(p)
        except HLSTranslateError as exc:
            raise DataError(f"{key} ({p}): {exc}") from None
        need += info.grid.width * info.grid.height * (channels if spec.layout == "single" else channels / 2) * 5
    have = physical_memory()
    if have and need > have // 4:
        raise DataError(f"{key}: {len(paths)} images take about {need / 2**30:.1f} GiB in memory as float32; this "
                        f"machine has {have / 2**30:.1f} GiB. Train on a subset (a glob pattern in {key}.path)")


def _read_image(path: str, spec: ImageSpec, n_channels: int, key: str):
    """``(values [C, H, W] float32, valid [C, H, W] bool, grid)`` of one image file."""
    from .data import DataError

    try:
        reader = open_reader(path)
    except HLSTranslateError as exc:
        raise DataError(f"{key} ({path}): {exc}") from None
    try:
        info = reader.info()
        if info.count not in (n_channels, n_channels + 1):
            raise DataError(f"{key}: {path} has {info.count} channel(s); {key}.images names {n_channels} band(s) "
                            f"({', '.join(spec.bands + spec.b_bands)}) per {'half' if spec.layout != 'single' else 'image'}"
                            " (plus an optional alpha channel)")
        full = Window.full(info.grid.width, info.grid.height)
        raw = np.stack([reader.read(i + 1, full) for i in range(info.count)])
    finally:
        reader.close()
    dtype = info.dtypes[0]
    scale = spec.scale if spec.scale is not None else (info.scales[0] if info.scales[0] is not None
                                                         else _DEFAULT_SCALE.get(dtype, 1.0))
    offset = spec.offset if spec.scale is not None or info.offsets[0] is None else info.offsets[0]
    data = raw[:n_channels]
    valid = np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else np.ones(data.shape, dtype=bool)
    if spec.nodata is not None:
        valid &= (data != spec.nodata).all(axis=0)[None]
    if info.count == n_channels + 1:  # alpha: 0 is transparent
        valid &= (raw[n_channels] != 0)[None]
    valid = np.broadcast_to(valid.all(axis=0), data.shape).copy()
    values = data.astype(np.float32) * np.float32(scale) + np.float32(offset)
    return values, valid, info.grid


def load_images(spec: SceneSpec, cfg: DataConfig, key: str, spec_index: int) -> list:
    """Every image of a scene entry with ``images:`` as one :class:`~.data.SceneData` each."""
    from .data import DataError, SceneData

    im = spec.images
    a_ids = tuple(resolve_band(b, cfg.band_naming).id for b in im.bands)
    b_ids = tuple(resolve_band(b, cfg.band_naming).id for b in im.b_bands)
    paths = image_paths(spec, cfg.root, key)
    check_image_memory(paths, im, key)
    out = []
    for path in paths:
        if im.layout == "single":
            values, valid, grid = _read_image(path, im, len(a_ids), key)
            target = None
        else:
            if len(a_ids) != len(b_ids):
                raise DataError(f"{key}.images: side_by_side needs as many b_bands as bands "
                                f"({len(b_ids)} vs {len(a_ids)}): both halves have the same channels")
            values, valid, grid = _read_image(path, im, len(a_ids), key)
            width = values.shape[2]
            if width % 2:
                raise DataError(f"{key}: {path} is {width} px wide; a side-by-side [A|B] image has an even width")
            half = width // 2
            left, right = (values[:, :, :half], valid[:, :, :half]), (values[:, :, half:], valid[:, :, half:])
            if im.direction == "B->A":
                left, right = right, left
            (values, valid), target = left, right
            grid = Grid(grid.crs_wkt, grid.transform, half, grid.height)
        name = os.path.splitext(os.path.basename(path))[0]
        scene = SceneData(name=f"{spec.name}/{name}" if spec.name else name, key=key, spec_index=spec_index,
                          band_ids=a_ids, values=np.ascontiguousarray(values), valid=np.ascontiguousarray(valid),
                          grid=grid, sensor=spec.sensor or "", level=spec.level, paths=(path,),
                          resampling="none", reference="image")
        if target is not None:
            scene.target_ids = b_ids
            scene.target_values, scene.target_valid = (np.ascontiguousarray(a) for a in target)
        out.append(scene)
    return out


__all__ = ["IMAGE_EXTENSIONS", "image_paths", "load_images", "check_image_memory"]
