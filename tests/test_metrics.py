"""PSNR/SSIM protocol: Y channel, border crop, greyscale, published bicubic baselines."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from sruq.core.color import rgb_to_y
from sruq.core.images import modcrop
from sruq.core.io import list_images, read_image
from sruq.degrade.resize import matlab_downscale_uint8
from sruq.evaluation.metrics import psnr, ssim
from sruq.models import build_model
from sruq.models.predict import upscale_image


def test_y_matches_matlab_rgb2ycbcr_corners():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb)[0], [16.0, 235.0, 16 + 65.481], atol=1e-9)


def test_psnr_known_value_and_crop():
    hr = np.full((20, 20, 1), 100, np.uint8)
    sr = hr.copy()
    sr[5:15, 5:15] = 110  # only inside: error 10 on 100 of 400 pixels
    assert psnr(sr, hr) == pytest.approx(10 * np.log10(255**2 / 25.0))
    sr_border = hr.copy()
    sr_border[:2] = 0  # error only in the border: cropping removes it
    assert psnr(sr_border, hr, crop=2) == float("inf")
    assert psnr(sr_border, hr, crop=1) < 30


def test_ssim_matches_scikit_image_gaussian_protocol():
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (64, 64, 1), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    ref = structural_similarity(
        hr[..., 0].astype(float), sr[..., 0].astype(float), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=255,
    )
    # scikit-image pads ('same') and averages the map with a crop of 3 sigma; ours is 'valid'
    assert ssim(sr, hr) == pytest.approx(ref, abs=0.01)
    assert ssim(hr, hr) == pytest.approx(1.0)


def test_rgb_option_and_greyscale_channel():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    sr = hr.copy()
    sr[..., 2] = 0  # blue matters little for Y
    assert psnr(sr, hr, channel="rgb") < psnr(sr, hr, channel="y")
    grey = hr[..., :1]
    assert psnr(grey, grey) == float("inf")


def test_errors_name_the_problem():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:8])
    with pytest.raises(ValueError, match="channel"):
        psnr(a, a, channel="lab")
    with pytest.raises(ValueError, match="crop"):
        psnr(a, a, crop=8)


@pytest.mark.parametrize(
    ("scale", "published"), [(2, (33.66, 0.9299)), (3, (30.39, 0.8682)), (4, (28.42, 0.8104))]
)
def test_bicubic_baseline_reproduces_published_set5(mirror, scale, published):
    model = build_model("bicubic", scale)
    scores = []
    for path in list_images(mirror / "benchmarks" / "Set5"):
        hr = modcrop(read_image(path), scale)
        sr = upscale_image(model, matlab_downscale_uint8(hr, scale))
        scores.append((psnr(sr, hr, scale), ssim(sr, hr, scale)))
    mean_psnr, mean_ssim = np.mean(scores, axis=0)
    assert mean_psnr == pytest.approx(published[0], abs=0.02)
    assert mean_ssim == pytest.approx(published[1], abs=0.002)
