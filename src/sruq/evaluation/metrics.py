"""PSNR and SSIM as the super-resolution literature reports them.

Protocol: both images are 8-bit; colour images are compared on the luma channel
Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it (float, not rounded,
range 16..235); greyscale images on their own channel; ``crop`` border pixels
(the scale factor) are removed first.  SSIM uses an 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, data range 255 and 'valid' filtering.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from sruq.core.color import RGB_TO_YCBCR, rgb_to_y

CHANNELS = ("y", "rgb")
LUMA_WEIGHTS = np.array(RGB_TO_YCBCR[0]) / 255.0
"""BT.601 weights of R, G, B in Y (MATLAB ``rgb2ycbcr``; Y = 16 + weights . RGB on 0..255)."""


def border(crop: int | None, scale: int) -> int:
    """The border pixels cropped before measuring: ``crop``, by default the ``scale``."""
    return scale if crop is None else int(crop)


def metric_plane(values: np.ndarray, crop: int, channel: str = "y") -> np.ndarray:
    """A difference-like map (an error or a std, ``(H, W)`` or ``(H, W, C)``) on the channel
    the metrics use: ``crop`` border pixels removed; RGB maps become the luma weighting of
    their channels (no offset: exact for a signed error, an upper bound for a std, reached
    when the channels move together) unless ``channel`` is ``rgb``; one channel stays as is.
    Returns float64 ``(H', W')`` or, for ``rgb``, ``(H', W', C)``."""
    if channel not in CHANNELS:
        raise ValueError(f"metric channel must be one of {CHANNELS}, got {channel!r}")
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if crop < 0 or 2 * crop >= min(arr.shape[:2]):
        raise ValueError(f"cannot crop {crop} border pixels from a {arr.shape[:2]} map")
    if crop:
        arr = arr[crop:-crop, crop:-crop]
    if arr.shape[2] == 1:
        return arr[:, :, 0]
    return arr @ LUMA_WEIGHTS if channel == "y" else arr


def _prepare(sr: np.ndarray, hr: np.ndarray, crop: int, channel: str) -> tuple[np.ndarray, ...]:
    if channel not in CHANNELS:
        raise ValueError(f"metric channel must be one of {CHANNELS}, got {channel!r}")
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.ndim == 2:
        sr = sr[:, :, None]
    if hr.ndim == 2:
        hr = hr[:, :, None]
    if sr.shape != hr.shape:
        raise ValueError(f"SR image {sr.shape} and HR image {hr.shape} differ in shape")
    if crop < 0 or 2 * crop >= min(sr.shape[:2]):
        raise ValueError(f"cannot crop {crop} border pixels from a {sr.shape[:2]} image")
    if crop:
        sr, hr = sr[crop:-crop, crop:-crop], hr[crop:-crop, crop:-crop]
    if sr.shape[2] == 1:
        return sr[:, :, 0].astype(np.float64), hr[:, :, 0].astype(np.float64)
    if channel == "y":
        return rgb_to_y(sr), rgb_to_y(hr)
    return sr.astype(np.float64), hr.astype(np.float64)


def psnr(sr: np.ndarray, hr: np.ndarray, crop: int = 0, channel: str = "y") -> float:
    """PSNR in dB between two 8-bit images (see the module docstring for the protocol)."""
    a, b = _prepare(sr, hr, crop, channel)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    window = _gaussian_window()
    half = len(window) // 2
    if min(a.shape) < len(window):
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape}")

    def filt(x: np.ndarray) -> np.ndarray:
        y = correlate1d(correlate1d(x, window, axis=0), window, axis=1)
        return y[half:-half, half:-half]  # 'valid' filtering

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def ssim(sr: np.ndarray, hr: np.ndarray, crop: int = 0, channel: str = "y") -> float:
    """SSIM between two 8-bit images (RGB option: mean over the three channels)."""
    a, b = _prepare(sr, hr, crop, channel)
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))
