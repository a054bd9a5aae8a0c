"""What a written raster is, read back through GDAL, for tests that compare two outputs.

:func:`raster_facts` gathers everything the library promises to keep (size, geotransform, CRS, data
type, nodata, scale/offset, descriptions, dataset and band metadata, block layout, compression,
overview count) and the pixels of every band and overview; :func:`assert_same_raster` asserts that two
files agree on all of it, pixels bit for bit.
"""

from __future__ import annotations

import numpy as np


def raster_facts(path) -> dict:
    """Everything :func:`assert_same_raster` compares, for the file ``path``."""
    from osgeo import gdal

    ds = gdal.OpenEx(str(path), gdal.OF_RASTER)
    assert ds is not None, f"GDAL cannot open {path}"
    facts = dict(size=(ds.RasterXSize, ds.RasterYSize, ds.RasterCount), transform=ds.GetGeoTransform(),
                 srs=ds.GetSpatialRef(), metadata=ds.GetMetadata(), structure=ds.GetMetadata("IMAGE_STRUCTURE"),
                 bands=[], pixels=[])
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        facts["bands"].append(dict(dtype=gdal.GetDataTypeName(b.DataType), nodata=b.GetNoDataValue(),
                                   scale=b.GetScale(), offset=b.GetOffset(), description=b.GetDescription(),
                                   metadata=b.GetMetadata(), block=b.GetBlockSize(), overviews=b.GetOverviewCount()))
        facts["pixels"].append([b.ReadAsArray()] + [b.GetOverview(k).ReadAsArray() for k in range(b.GetOverviewCount())])
    return facts


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32) if a.dtype == np.float32 else a


def assert_same_raster(a, b) -> None:
    """``a`` and ``b`` hold the same pixels (bit for bit, overviews too), georeferencing and metadata."""
    fa, fb = raster_facts(a), raster_facts(b)
    for key in ("size", "transform", "metadata", "structure", "bands"):
        assert fa[key] == fb[key], f"{key} differs between {a} and {b}: {fa[key]} != {fb[key]}"
    if fa["srs"] is None or fb["srs"] is None:
        assert fa["srs"] is fb["srs"] is None, f"only one of {a} and {b} has a CRS"
    else:
        assert bool(fa["srs"].IsSame(fb["srs"])), f"CRS differs between {a} and {b}"
    for band_a, band_b in zip(fa["pixels"], fb["pixels"]):
        for level, (x, y) in enumerate(zip(band_a, band_b)):
            assert x.dtype == y.dtype and np.array_equal(_bits(x), _bits(y)), \
                f"pixels of {a} and {b} differ (overview level {level})"
