"""Frequency-domain ("FD") super-resolution: bicubic upscaling + Wiener deconvolution.

The bicubic image is modelled as the HR image blurred by a known kernel (given
in HR pixels).  :func:`wiener_deconvolve` inverts that blur in the Fourier domain
with the Wiener filter ``conj(K) / (|K|^2 + balance)`` (``balance``: the constant
noise-to-signal power ratio), scaled so that the mean brightness is kept.

Borders: the image is extended symmetrically (half-sample, ``d c b a | a b c d``)
to twice its size -- and tiled further when the kernel is larger than that -- so
its periodic extension, which the FFT assumes, has no jumps and deconvolution
does not ring at the image edges.  The kernel is zero-padded to the same size,
centred, and moved to the origin with ``ifftshift``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sruq.core.filters import gaussian_kernel
from sruq.core.imresize import imresize
from sruq.models.base import SRModel


def check_kernel(kernel: np.ndarray | list) -> np.ndarray:
    """Validate a blur kernel (2-D, finite, positive sum); return it as float64 summing to 1."""
    arr = np.asarray(kernel, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0 or not np.all(np.isfinite(arr)) or not arr.sum() > 0:
        raise ValueError(
            f"blur kernel must be a finite 2-D array with a positive sum, got shape {arr.shape}"
        )
    return arr / arr.sum()


def _check_balance(balance: float) -> float:
    if not (isinstance(balance, int | float) and math.isfinite(balance) and balance > 0):
        raise ValueError(f"wiener balance must be a positive number, got {balance!r}")
    return float(balance)


def _symmetric_extension(image: torch.Tensor, min_size: tuple[int, int]) -> torch.Tensor:
    """Mirror ``(..., H, W)`` to ``(..., 2H, 2W)`` and tile it to at least ``min_size``."""
    mirrored = torch.cat([image, image.flip(-2)], dim=-2)
    mirrored = torch.cat([mirrored, mirrored.flip(-1)], dim=-1)
    reps_h = math.ceil(min_size[0] / mirrored.shape[-2])
    reps_w = math.ceil(min_size[1] / mirrored.shape[-1])
    return mirrored.repeat(*([1] * (image.ndim - 2)), reps_h, reps_w)


def _transfer_function(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``rfft2`` of the kernel zero-padded to ``shape`` with its centre at the origin."""
    kh, kw = kernel.shape
    padded = np.zeros(shape)
    top, left = shape[0] // 2 - kh // 2, shape[1] // 2 - kw // 2
    padded[top : top + kh, left : left + kw] = kernel
    return np.fft.rfft2(np.fft.ifftshift(padded))


def wiener_deconvolve(image: torch.Tensor, kernel: np.ndarray, balance: float) -> torch.Tensor:
    """Undo a known blur of the last two dims of ``image`` (float, any batch dims); not clipped."""
    if image.ndim < 2 or not image.is_floating_point():
        raise ValueError(f"wiener image must be a float tensor (..., H, W), got {image.shape}")
    kernel = check_kernel(kernel)
    balance = _check_balance(balance)
    h, w = image.shape[-2:]
    extended = _symmetric_extension(image.to(torch.float64), (kernel.shape[0] + 1,
                                                              kernel.shape[1] + 1))
    shape = (extended.shape[-2], extended.shape[-1])
    otf = _transfer_function(kernel, shape)
    gain = np.conj(otf) / (np.abs(otf) ** 2 + balance) * (1.0 + balance)
    spectrum = torch.fft.rfft2(extended) * torch.from_numpy(gain).to(extended.device)
    restored = torch.fft.irfft2(spectrum, s=shape)[..., :h, :w]
    return restored.to(image.dtype)


class WienerSR(SRModel):
    """Bicubic upscaling followed by Wiener deconvolution of a known HR-pixel blur.

    Give the blur as ``kernel`` (2-D array-like, normalised to sum 1) or as a
    Gaussian ``sigma`` (HR pixels), not both.  With neither, the output is
    exactly the bicubic baseline; otherwise it is clipped to [0, 1].
    """

    trainable = False

    def __init__(
        self,
        scale: int,
        kernel: np.ndarray | list | None = None,
        balance: float = 0.01,
        sigma: float | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__(scale, in_channels)
        if kernel is not None and sigma is not None:
            raise ValueError("fd takes a blur kernel or a sigma, not both")
        self.balance = _check_balance(balance)
        if sigma is not None:
            kernel = gaussian_kernel(sigma)
        self.kernel = None if kernel is None else check_kernel(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = imresize(x, scale=self.scale)
        if self.kernel is None:
            return up
        return wiener_deconvolve(up, self.kernel, self.balance).clamp(0, 1)
