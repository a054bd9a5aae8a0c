"""A small SPADE training config on the real T29RKH tile: its Sentinel-2 scene classification (SCL.tif,
200 m) read by nearest neighbour onto the 100 m grid of its 10 m-class bands, synthesizing blue, green,
red and NIR (B08) surface reflectance.  The tile's SCL holds the classes 2, 5, 7, 8, 9 and 10 (dark area, not
vegetated, unclassified, cloud medium / high probability, thin cirrus); the QA mask is off so the
generator learns what the cloud classes look like.  The generator and discriminators are shrunk (stride
8, a few thousand parameters) so a few dozen steps take seconds on one core; everything else is the
paper's.  For the inference tests: real crops of the tile (:func:`crop_t29rkh`) and a folder of two granules
cut from it, each with its SCL beside its bands (:func:`t29rkh_granules`)."""

from __future__ import annotations

from typing import Any, Dict

from support.data import DATA, T29RKH
from support.training import merge_sections

SCL_PRESENT = [{"value": 2, "name": "dark_area"}, {"value": 5, "name": "not_vegetated"},
               {"value": 7, "name": "unclassified"}, {"value": 8, "name": "cloud_medium"},
               {"value": 9, "name": "cloud_high"}, {"value": 10, "name": "thin_cirrus"}]
TARGETS = ["blue", "green", "red", "nir_broad"]
SPADE_MODEL = {"target_bands": TARGETS, "ngf": 4, "upsamplings": 3, "spade_hidden": 16, "tile_size": 64}


def spade_config(out_dir, **sections) -> Dict[str, Any]:
    rel = T29RKH.relative_to(DATA).as_posix()
    cfg = {"run": {"out_dir": str(out_dir), "steps": 8, "batch_size": 2, "seed": 5, "device": "cpu", "threads": 1,
                   "log_every": 4, "validate_every": 0, "checkpoint_every": 0, "tensorboard": False, "progress": False},
           "data": {"root": str(DATA),
                    "train": [{"path": rel, "name": "T29RKH", "level": "surface", "use_qa": False,
                               "labels": f"{rel}/SCL.tif"}],
                    "label_classes": SCL_PRESENT, "chip_size": 64},
           "model": {"name": "spade_generator", "params": dict(SPADE_MODEL)},
           "objective": {"name": "spade", "params": {"disc_width": 16}}}
    return merge_sections(cfg, sections)


def train_and_export(tmp_dir, steps: int = 6) -> Dict[str, str]:
    from hls_translate.training.config import load_train_config
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trainer import train

    res = train(load_train_config(None, base=spade_config(tmp_dir / "run", run={"steps": steps})), log=lambda m: None)
    out = {"checkpoint": res.last_checkpoint, "model": str(tmp_dir / "spade.onnx")}
    export_checkpoint(res.last_checkpoint, out["model"])
    return out


def crop_t29rkh(folder):
    """A real 512 x 512 px window of the tile's red band (100 m) and the 256 x 256 px SCL window (200 m)
    over the same ground, at the tile's northern edge where clouds and cirrus cover part of the desert
    (classes 5, 7, 8, 9, 10): ``(grid raster, label raster)`` paths."""
    import pathlib

    from osgeo import gdal

    folder = pathlib.Path(folder)
    grid, labels = folder / "t29rkh_512_B04.tif", folder / "t29rkh_scl_256.tif"
    gdal.Translate(str(grid), str(T29RKH / "B04.tif"), srcWin=[576, 0, 512, 512])
    gdal.Translate(str(labels), str(T29RKH / "SCL.tif"), srcWin=[288, 0, 256, 256])
    return grid, labels


#: two granules cut from the tile's northern edge (column, row of their 256 px window on the 100 m grid): the
#: west one mostly not vegetated with some thin cirrus, the east one with cloud (classes 5, 8, 9, 10)
GRANULES = {"T29RKH_west": (384, 0), "T29RKH_east": (768, 0)}
GRANULE_BANDS = ("B02", "B03", "B04", "B08")


def t29rkh_granules(folder, size: int = 256):
    """A folder of the two :data:`GRANULES`, each a folder laid out as a Sentinel-2 L2A granule holds its
    layers: the real 10 m-class bands (100 m here) ``<granule>_B02.tif`` ... and, beside them, the real
    SCL (200 m) over the same ground, ``<granule>_SCL.tif``: ``{granule id: its folder}``."""
    import pathlib

    from osgeo import gdal

    out = {}
    for gid, (col, row) in GRANULES.items():
        d = pathlib.Path(folder) / gid
        d.mkdir(parents=True, exist_ok=True)
        for band in GRANULE_BANDS:
            gdal.Translate(str(d / f"{gid}_{band}.tif"), str(T29RKH / f"{band}.tif"), srcWin=[col, row, size, size])
        gdal.Translate(str(d / f"{gid}_SCL.tif"), str(T29RKH / "SCL.tif"),
                       srcWin=[col // 2, row // 2, size // 2, size // 2])
        out[gid] = d
    return out
