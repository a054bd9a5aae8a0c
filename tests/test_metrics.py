"""Metrics in physical units, checked against hand-computed values and an independent SSIM reference."""

import math

import numpy as np
import pytest

from hls_translate.core import metrics


def test_rmse_mae_bias_psnr_by_hand():
    ref = np.array([[0.1, 0.2], [0.3, 0.4]])
    pred = np.array([[0.1, 0.25], [0.2, 0.4]])
    assert metrics.rmse(pred, ref) == pytest.approx(math.sqrt((0.05 ** 2 + 0.1 ** 2) / 4))
    assert metrics.mae(pred, ref) == pytest.approx(0.15 / 4)
    assert metrics.bias(pred, ref) == pytest.approx(-0.05 / 4)
    assert metrics.psnr(pred, ref) == pytest.approx(20 * math.log10(1 / math.sqrt(0.0125 / 4)))
    assert metrics.psnr(ref, ref) == float("inf")


def test_mask_and_non_finite_pixels_are_excluded():
    ref = np.array([0.1, 0.2, 0.3, np.nan])
    pred = np.array([0.1, 0.2, 9.0, 0.4])
    valid = np.array([True, True, False, True])
    assert metrics.rmse(pred, ref, valid) == 0.0
    assert math.isnan(metrics.rmse(pred, ref, np.zeros(4, bool)))
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(pred, ref[:3])


def test_ssim_matches_independent_reference():
    rng = np.random.default_rng(0)
    a = rng.random((64, 64))
    b = a + 0.1 * rng.standard_normal((64, 64))
    # reference value from scikit-image 0.26 structural_similarity(a, b, data_range=1.0,
    # gaussian_weights=True, sigma=1.5, use_sample_covariance=False) on the same arrays
    assert metrics.ssim(a, b) == pytest.approx(0.9406236241184602, abs=1e-12)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, 1 - a) < 0


def test_ssim_ignores_windows_touching_invalid_pixels():
    rng = np.random.default_rng(1)
    a = rng.random((40, 40))
    b = a.copy()
    b[:, :10] = 5.0  # garbage in the left strip
    valid = np.ones_like(a, dtype=bool)
    valid[:, :10] = False
    assert metrics.ssim(a, b, valid) == pytest.approx(1.0)
    assert metrics.ssim(a, b) < 0.9


def test_score_bundles_everything():
    ref = np.linspace(0, 0.5, 400).reshape(20, 20)
    s = metrics.score(ref + 0.01, ref)
    assert s.rmse == pytest.approx(0.01) and s.bias == pytest.approx(0.01) and s.n_pixels == 400
    assert s.psnr == pytest.approx(40.0) and 0.99 < s.ssim <= 1.0
    assert set(s.as_dict()) == {"rmse", "mae", "bias", "psnr", "ssim", "n_pixels", "data_range"}
