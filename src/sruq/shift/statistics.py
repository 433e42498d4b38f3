"""Simple statistics of a low-resolution image that move when it was degraded otherwise
than the training data (numpy and scipy only).

Each statistic is computed on the luma (BT.601 Y, :func:`sruq.core.color.rgb_to_y`; a
greyscale image on its channel) scaled to [0, 1]:

* ``band_ratios``: the log ratio of the mean spectral power in the bands 0.5-0.75 and
  0.75-1 of the Nyquist frequency to the power in 0.125-0.25 (Welch: 32x32 Hann windows,
  half overlapping). Blur removes the top bands, noise fills them; natural images fall off
  as a power law, so the ratios vary little from one photo to the next.
* ``noise_floor``: the log of the 10th percentile, over 8x8 blocks, of the mean absolute
  response of Immerkaer's noise kernel (a Laplacian difference, ``sqrt(pi/2) / 6`` times
  the response estimates the std of white noise), plus :data:`NOISE_EPS`: the quiet parts
  of a clean photo are quiet, noise lifts them all. The offset keeps the flat (clipped)
  regions of a photo from spreading the statistic over decades below anything a camera
  produces.
* ``blockiness``: the log ratio of the mean absolute difference across the 8-pixel grid
  lines of JPEG to the one elsewhere, 0 where it is negative (a grid that is smoother than
  the rest is no JPEG grid) and for an image with no grid.
* ``laplacian_variance``: the log variance of the discrete Laplacian -- the trivial
  sharpness measure that every other score must beat.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from sruq.core.color import rgb_to_y

WINDOW = 32
"""Side of the Welch windows of :func:`band_ratios` (pixels)."""
NOISE_EPS = 0.003
"""Offset of the noise floor before its log (0.77 of an 8-bit level)."""
TILE, TILE_STRIDE = 96, 64
"""LR tiles of :func:`tiles`: the samples a score's density and threshold are fitted on."""
STATISTICS = ("band_0.5-0.75", "band_0.75-1", "noise_floor", "blockiness")
"""Names of the entries of :func:`lr_statistics`."""

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def luma(image: np.ndarray) -> np.ndarray:
    """The [0, 1] float luma of a uint8 ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)`` image."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        return rgb_to_y(arr[..., :3]) / 255.0
    return arr.astype(np.float64) / 255.0


def _power_spectrum(y: np.ndarray) -> np.ndarray:
    """Mean periodogram of half-overlapping Hann windows (one window if ``y`` is smaller)."""
    n = min(WINDOW, *y.shape)
    window = np.outer(np.hanning(n), np.hanning(n))
    step = max(1, n // 2)
    spectra = []
    for top in range(0, y.shape[0] - n + 1, step):
        for left in range(0, y.shape[1] - n + 1, step):
            patch = y[top:top + n, left:left + n]
            spectra.append(np.abs(np.fft.fft2((patch - patch.mean()) * window)) ** 2)
    return np.mean(spectra, axis=0)


def band_ratios(y: np.ndarray) -> tuple[float, float]:
    """Log power of the bands 0.5-0.75 and 0.75-1 of Nyquist over the band 0.125-0.25."""
    power = _power_spectrum(y)
    f = np.fft.fftfreq(power.shape[0])
    radius = np.hypot(f[:, None], f[None, :]) / 0.5  # 1 = Nyquist

    def band(low: float, high: float) -> float:
        return float(power[(radius >= low) & (radius < high)].mean()) + 1e-12

    mid = band(0.125, 0.25)
    return math.log(band(0.5, 0.75) / mid), math.log(band(0.75, 1.0) / mid)


def noise_floor(y: np.ndarray) -> float:
    """Log of the quiet blocks' noise estimate (Immerkaer), offset by :data:`NOISE_EPS`."""
    response = np.abs(ndimage.convolve(y, _IMMERKAER, mode="reflect")) * math.sqrt(math.pi / 2) / 6
    h, w = (s // 8 * 8 for s in response.shape)
    blocks = response[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3)) if h and w \
        else response
    return math.log(float(np.percentile(blocks, 10)) + NOISE_EPS)


def blockiness(y: np.ndarray) -> float:
    """Log ratio of the mean |difference| across 8-pixel grid lines to the one elsewhere
    (at least 0)."""
    dx, dy = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))
    on_x, on_y = np.arange(dx.shape[1]) % 8 == 7, np.arange(dy.shape[0]) % 8 == 7
    if not on_x.any() or not on_y.any():
        return 0.0
    across = (dx[:, on_x].mean() + dy[on_y].mean()) / 2
    elsewhere = (dx[:, ~on_x].mean() + dy[~on_y].mean()) / 2
    return max(0.0, math.log((across + 1e-9) / (elsewhere + 1e-9)))


def lr_statistics(image: np.ndarray) -> np.ndarray:
    """The vector of :data:`STATISTICS` of a uint8 LR image."""
    y = luma(image)
    return np.array([*band_ratios(y), noise_floor(y), blockiness(y)])


def laplacian_variance(image: np.ndarray) -> np.ndarray:
    """``[log var(Laplacian)]`` of a uint8 LR image's luma (a one-entry vector)."""
    return np.array([math.log(float(ndimage.laplace(luma(image)).var()) + 1e-12)])


def tiles(image: np.ndarray, size: int = TILE, stride: int = TILE_STRIDE) -> list[np.ndarray]:
    """``size`` x ``size`` crops of an image every ``stride`` pixels (a side shorter than
    ``size`` is taken whole): the samples that densities and thresholds are fitted on, so
    that one validation photo already gives a few dozen."""
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    tops = range(0, h - size + 1, stride) if h > size else [0]
    lefts = range(0, w - size + 1, stride) if w > size else [0]
    return [arr[t:t + size, s:s + size] for t in tops for s in lefts]
