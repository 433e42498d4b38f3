"""Downscaling: MATLAB-exact bicubic (benchmark protocol) and torch resizes (Real-ESRGAN).

Benchmark low-resolution images are MATLAB ``imresize(hr, 1/s, 'bicubic')`` of
a uint8 image: MATLAB works on the 0..255 scale, rounds to 8 bits after the
first (vertical) pass and rounds the result again.  :func:`matlab_downscale_uint8`
and :func:`matlab_bicubic_resize` emulate exactly that.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from sruq.core.imresize import imresize, round_half_up
from sruq.degrade._common import as_batch, check_choice, check_scale, unbatch

RESIZE_MODES = ("area", "bilinear", "bicubic")
"""``torch.nn.functional.interpolate`` modes used for Real-ESRGAN's random resizes."""


def _matlab_uint8_resize(
    x255: torch.Tensor, scale: int | None = None, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """MATLAB uint8 bicubic resize of integer-valued float64 data on 0..255."""
    out = imresize(x255, scale=None if scale is None else 1.0 / scale, size=size,
                   kernel="cubic", round_between_passes=True)
    return round_half_up(out).clamp(0, 255)


def matlab_downscale_uint8(hr_uint8_hwc: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(hr, 1/scale, 'bicubic')`` of an ``(H, W[, C])`` uint8 image.

    Bit-exact with MATLAB's golden low-resolution images; the output keeps the
    input's layout (``(h, w)`` or ``(h, w, C)``) and dtype uint8.
    """
    scale = check_scale("scale", scale)
    hr = np.asarray(hr_uint8_hwc)
    if hr.dtype != np.uint8 or hr.ndim not in (2, 3):
        raise ValueError(f"hr must be an (H, W[, C]) uint8 array, got {hr.dtype} {hr.shape}")
    chw = torch.from_numpy(np.ascontiguousarray(np.atleast_3d(hr).transpose(2, 0, 1)))
    out = _matlab_uint8_resize(chw.double(), scale=scale).to(torch.uint8).numpy()
    out = out.transpose(1, 2, 0)
    return out[..., 0] if hr.ndim == 2 else np.ascontiguousarray(out)


def matlab_bicubic_resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """MATLAB uint8 bicubic resize to ``size`` ``(h, w)`` of float images in [0, 1].

    Accepts ``(C, H, W)`` or ``(B, C, H, W)``.  The input is first rounded to 8
    bits (MATLAB sees a uint8 image) and the result is 8-bit quantised (values
    ``k / 255``).  For ``size == (H // s, W // s)`` with ``H, W`` multiples of
    ``s`` it equals :func:`matlab_downscale_uint8` (``1 / s == h / H`` exactly in
    floating point, so the resampling weights are the same).
    """
    x, was_3d = as_batch(img)
    x255 = round_half_up(x.double().clamp(0, 1) * 255.0)
    out = _matlab_uint8_resize(x255, size=(int(size[0]), int(size[1]))) / 255.0
    return unbatch(out.to(x.dtype), was_3d)


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to ``size`` ``(h, w)`` with ``F.interpolate`` (no antialiasing, as Real-ESRGAN).

    ``mode`` is one of :data:`RESIZE_MODES`.  Values are not clipped
    (bicubic may overshoot [0, 1]).
    """
    x, was_3d = as_batch(img)
    mode = check_choice("mode", mode, RESIZE_MODES)
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {tuple(size)}")
    align = None if mode == "area" else False
    return unbatch(F.interpolate(x, size=(h, w), mode=mode, align_corners=align), was_3d)
