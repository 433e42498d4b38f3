"""Tensors from and to 8-bit images, and BT.601 colour conversion on tensors.

The coefficients come from :mod:`sruq.core.color`; the rounding to 8 bits is
:func:`sruq.core.io.quantize`.
"""

from __future__ import annotations

import numpy as np
import torch

from sruq.core.color import RGB_TO_YCBCR, YCBCR_OFFSET
from sruq.core.io import quantize

_RGB2YCBCR = torch.tensor(RGB_TO_YCBCR, dtype=torch.float64) / 255.0
_OFFSET = torch.tensor(YCBCR_OFFSET, dtype=torch.float64) / 255.0


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(H, W, C)`` -> float32 ``(1, C, H, W)`` in [0, 1]."""
    chw = torch.from_numpy(np.array(image.transpose(2, 0, 1)))  # a writable copy
    return chw.float().div(255).unsqueeze(0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Float ``(1, C, H, W)`` or ``(C, H, W)`` in [0, 1] -> ``uint8`` ``(H, W, C)``
    (clipped and rounded half up by :func:`sruq.core.io.quantize`)."""
    t = tensor.detach().float().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_uint8 needs a single image, got a batch of {t.shape[0]}")
        t = t[0]
    return quantize(t.numpy().transpose(1, 2, 0))


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` RGB in [0, 1] -> YCbCr in [0, 1] (Y in 16/255..235/255)."""
    m = _RGB2YCBCR.to(x.device, x.dtype)
    out = torch.einsum("ij,...jhw->...ihw", m, x)
    return out + _OFFSET.to(x.device, x.dtype)[:, None, None]


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`."""
    m = torch.linalg.inv(_RGB2YCBCR).to(x.device, x.dtype)
    shifted = x - _OFFSET.to(x.device, x.dtype)[:, None, None]
    return torch.einsum("ij,...jhw->...ihw", m, shifted)
