"""Tile grids and blend windows (numpy only)."""

import numpy as np
import pytest

from hls_translate.core.tiling import (BLEND_MODES, DEFAULT_FLOOR, TileGrid, pad_to, round_up, seam_error,
                                       seam_mask, tile_starts)

# (length, tile, overlap): smaller than a tile, equal, one pixel more, regular, irregular, large overlap
AXES = [(1, 64, 16), (37, 64, 16), (64, 64, 16), (65, 64, 16), (112, 64, 16), (300, 64, 16),
        (277, 64, 0), (1000, 128, 32), (513, 256, 200), (129, 64, 63)]


@pytest.mark.parametrize("length,tile,overlap", AXES)
def test_tile_starts_cover_the_axis_without_leaving_it(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    n = min(tile, length)
    assert starts[0] == 0
    assert starts[-1] + n == length  # the last tile ends at the raster's edge: shifted inward, not padded
    assert all(0 <= s and s + n <= length for s in starts)
    assert list(starts) == sorted(set(starts))
    for a, b in zip(starts, starts[1:]):  # neighbours overlap by at least `overlap` and leave no gap
        assert a + n - b >= overlap
        assert b - a <= tile - overlap
    cover = np.zeros(length, int)
    for s in starts:
        cover[s:s + n] += 1
    assert cover.min() >= 1


def test_tile_starts_regular_steps_then_shifted_last_tile():
    assert tile_starts(300, 64, 16) == (0, 48, 96, 144, 192, 236)
    assert tile_starts(112, 64, 16) == (0, 48)  # exactly regular: no extra tile
    assert tile_starts(37, 64, 16) == (0,)


@pytest.mark.parametrize("kwargs,match", [
    (dict(height=100, width=100, tile_size=60, overlap=8, stride=8), "multiple of the model's stride"),
    (dict(height=100, width=100, tile_size=64, overlap=64, stride=8), "overlap"),
    (dict(height=100, width=100, tile_size=64, overlap=-1, stride=8), "overlap"),
    (dict(height=0, width=100, tile_size=64, overlap=8, stride=8), "positive"),
])
def test_grid_refuses_inconsistent_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TileGrid(**kwargs)


def test_grid_shapes_small_raster_is_one_padded_tile():
    g = TileGrid(37, 300, 64, 16, stride=8)
    assert (g.rows, g.cols) == (1, 6)
    assert (g.tile_height, g.tile_width) == (37, 64)
    assert g.model_shape == (40, 64)  # reflect-padded to a multiple of the stride only
    tiles = list(g)
    assert len(tiles) == len(g) == 6
    assert g.rows_final_after(0) == 37
    g2 = TileGrid(300, 300, 64, 16, stride=8)
    assert g2.rows_final_after(0) == 48 and g2.rows_final_after(g2.rows - 1) == 300


@pytest.mark.parametrize("blend", BLEND_MODES)
@pytest.mark.parametrize("shape", [(37, 53), (300, 277), (64, 64), (129, 1000)])
def test_blending_identical_predictions_gives_the_image_back(blend, shape):
    """Normalized weighted sum of per-tile copies of an image is the image, borders included."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, shape).astype(np.float32)
    g = TileGrid(shape[0], shape[1], 64, 16, stride=8)
    acc = np.zeros(shape, np.float32)
    wsum = np.zeros(shape, np.float32)
    for t in g:
        w = g.weights(t, blend)
        ys, xs = slice(t.y, t.y + t.height), slice(t.x, t.x + t.width)
        acc[ys, xs] += img[ys, xs] * w
        wsum[ys, xs] += w
    assert wsum.min() > 0, "some pixel got no weight"
    np.testing.assert_allclose(acc / wsum, img, atol=1e-6, rtol=0)


@pytest.mark.parametrize("blend", ["cosine", "gaussian"])
def test_smooth_windows_are_positive_with_a_floor(blend):
    g = TileGrid(300, 300, 64, 16, stride=8)
    w = g.weights(g.tile(0, 0), blend)
    assert w.dtype == np.float32 and w.shape == (64, 64)
    assert w.min() >= np.float32(DEFAULT_FLOOR) * 0.999
    assert w.max() == pytest.approx(1.0, abs=0.02)
    assert w[0, 0] < 0.01  # the tile's corner, least context, weighs least
    np.testing.assert_allclose(w, w[::-1, ::-1], atol=1e-7)  # symmetric
    g5 = TileGrid(300, 300, 64, 16, stride=8)
    w5 = g5.weights(g5.tile(0, 0), blend, floor=0.05)
    assert w5.min() >= 0.05 * 0.999 and w5.min() <= 0.051


def test_cosine_ramps_cross_fade_to_one_in_regular_overlaps():
    g = TileGrid(64, 112, 64, 16, stride=8)  # two columns, overlap exactly 16
    p0, p1 = g.profile(1, 0, "cosine", floor=0.0), g.profile(1, 1, "cosine", floor=0.0)
    overlap0 = slice(48, 64)  # raster columns 48..63 covered by both
    np.testing.assert_allclose(p0[overlap0] + p1[0:16], 1.0, atol=1e-12)
    assert np.all(np.diff(p0[overlap0]) < 0) and np.all(np.diff(p1[:16]) > 0)
    assert np.all(p0[16:48] == 1.0)


@pytest.mark.parametrize("shape", [(300, 277), (129, 1000), (37, 53)])
def test_crop_gives_every_pixel_to_exactly_one_tile_near_its_centre(shape):
    g = TileGrid(shape[0], shape[1], 64, 16, stride=8)
    owner = np.zeros(shape, np.int32)
    for t in g:
        w = g.weights(t, "crop")
        assert set(np.unique(w)) <= {0.0, 1.0}
        owner[t.y:t.y + t.height, t.x:t.x + t.width] += w.astype(np.int32)
        if 0 < t.col < g.cols - 1:  # interior tiles give away about half of each overlap
            assert w[:, :6].max() == 0 and w[:, -6:].max() == 0
    assert owner.min() == 1 and owner.max() == 1


def test_mean_weights_are_ones():
    g = TileGrid(300, 300, 64, 16, stride=8)
    assert np.all(g.weights(g.tile(2, 3), "mean") == 1.0)
    with pytest.raises(ValueError, match="unknown blend"):
        g.weights(g.tile(0, 0), "median")


def test_pad_to_reflects_at_the_far_end_and_repeats_single_pixels():
    a = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    p = pad_to(a, 5, 6)
    assert p.shape == (1, 5, 6)
    np.testing.assert_array_equal(p[0, :3, :4], a[0])
    np.testing.assert_array_equal(p[0, 3], a[0, 1].tolist() + [a[0, 1, 2], a[0, 1, 1]])  # row 3 mirrors row 1
    np.testing.assert_array_equal(p[0, :3, 4], a[0, :, 2])
    one = pad_to(np.full((2, 1, 1), 7.0), 4, 4)
    assert np.all(one == 7.0)
    assert pad_to(a, 3, 4) is a
    with pytest.raises(ValueError):
        pad_to(a, 2, 4)
    assert round_up(37, 8) == 40 and round_up(40, 8) == 40


def test_seam_mask_marks_the_overlaps():
    g = TileGrid(112, 112, 64, 16, stride=8)
    m = seam_mask(g)
    assert m[50, 10] and m[10, 50] and not m[10, 10] and not m[100, 100]
    assert m.sum() == 112 * 16 * 2 - 16 * 16


def test_seam_error_sees_steps_along_lines_not_texture():
    g = TileGrid(112, 112, 64, 16, stride=8)  # tiles overlap on columns/rows 48..63
    rng = np.random.default_rng(1)
    texture = rng.normal(0, 1e-3, (112, 112))
    seam = np.zeros((112, 112))
    seam[:, 56:] = 1e-2  # a vertical step of 0.01 inside the column overlap
    rms_t, max_t = seam_error(texture, g)
    rms_s, max_s = seam_error(texture + seam, g)
    assert max_t < 1.5e-3  # texture averages out along the 16-pixel segments
    assert max_s == pytest.approx(1e-2, abs=1.5e-3)
    assert rms_s > 3 * rms_t
    assert seam_error(np.zeros((112, 112)), g) == (0.0, 0.0)
    with pytest.raises(ValueError):
        seam_error(np.zeros((10, 10)), g)
