"""Small image-processing pieces shared by the FD and sparse-coding models and edge enhancement.

* :func:`gaussian_kernel` -- a normalised 2-D Gaussian (Wiener blur model,
  Yang's back-projection kernel, unsharp masking);
* :func:`filter2d` -- 'same'-size 2-D correlation of ``(..., H, W)`` tensors with
  replicated borders (so flat borders stay flat).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, size: int | None = None) -> np.ndarray:
    """Normalised ``(size, size)`` Gaussian, as MATLAB ``fspecial('gaussian', size, sigma)``.

    ``size`` defaults to ``2 * ceil(3 * sigma) + 1`` (the kernel covers +-3 sigma).
    """
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"gaussian sigma must be a positive number, got {sigma!r}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    if int(size) != size or size < 1:
        raise ValueError(f"gaussian kernel size must be a positive integer, got {size!r}")
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def filter2d(image: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Correlate the last two dims of ``image`` with ``kernel`` (same size, replicate border)."""
    kh, kw = kernel.shape
    shape = image.shape
    flat = image.reshape(-1, 1, shape[-2], shape[-1])
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = F.pad(flat, (left, kw - 1 - left, top, kh - 1 - top), mode="replicate")
    weight = torch.as_tensor(kernel, dtype=image.dtype, device=image.device)[None, None]
    return F.conv2d(padded, weight).reshape(shape)
