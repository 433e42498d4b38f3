"""BT.601 colour conversions on [0, 1] tensors, matching MATLAB ``rgb2ycbcr``/``ycbcr2rgb``."""

from __future__ import annotations

import torch

_RGB2YCBCR = torch.tensor(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
    dtype=torch.float64,
) / 255.0
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255.0


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
