"""LPIPS: a clear error without the optional extra; real distances where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from sruq.core.errors import MissingExtraError
from sruq.evaluation.lpips_metric import LPIPSMetric, check_lpips, lpips_available

AVAILABLE, REASON = lpips_available("alex")
needs_lpips = pytest.mark.skipif(not AVAILABLE, reason=f"LPIPS unavailable: {REASON}")


def test_unknown_net_is_a_value_error():
    with pytest.raises(ValueError, match="'squeeze'"):
        lpips_available("squeeze")


@pytest.mark.skipif(AVAILABLE, reason="LPIPS is installed here: the missing-extra path can't run")
def test_missing_extra_says_how_to_enable_it():
    assert REASON and "\n" not in REASON
    with pytest.raises(MissingExtraError) as info:
        check_lpips("alex")
    message = str(info.value)
    assert "\n" not in message
    assert REASON in message
    assert 'pip install "sruq[lpips]"' in message and "ImageNet" in message
    for net in ("alex", "vgg"):
        with pytest.raises(MissingExtraError, match=f"LPIPS \\({net}\\)"):
            LPIPSMetric(net)


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.round(image + noise), 0, 255).astype(np.uint8)


@needs_lpips
def test_lpips_orders_distortions():
    hr = skimage.data.chelsea()[:128, :128]
    metric = LPIPSMetric("alex")
    assert metric(hr, hr) == pytest.approx(0.0, abs=1e-6)
    slight, strong = metric(_noisy(hr, 5, 0), hr), metric(_noisy(hr, 40, 0), hr)
    assert 0 < slight < strong


@needs_lpips
def test_lpips_greyscale_is_replicated_rgb():
    grey = skimage.data.camera()[:96, :96, None]
    noisy = _noisy(grey, 20, 1)
    metric = LPIPSMetric("alex")
    assert metric(noisy, grey) == pytest.approx(
        metric(np.repeat(noisy, 3, axis=2), np.repeat(grey, 3, axis=2)), rel=1e-5)
    with pytest.raises(ValueError, match="differ"):
        metric(noisy[:64], grey)
