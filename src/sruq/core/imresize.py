"""MATLAB-compatible ``imresize`` (bicubic, bilinear, nearest, lanczos), vectorised.

The resampling along each axis is a sparse linear map, built once (float64) from
MATLAB's ``contributions`` rule and applied as a dense matrix product, so a whole
batch of images is resized with two matrix multiplications.  Borders are handled
by repeating the edge pixel (``border="replicate"``, the default, which
reproduces the MATLAB golden vectors bit for bit) or by symmetric reflection,
and, when shrinking, the kernel is stretched by ``1/scale`` (antialiasing).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

KERNELS = ("cubic", "linear", "box", "lanczos2", "lanczos3")
"""Kernel names as in MATLAB ('bicubic', 'bilinear', 'nearest' map onto them)."""

_ALIASES = {"bicubic": "cubic", "bilinear": "linear", "triangle": "linear", "nearest": "box"}


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return np.where(ax <= 1, near, np.where(ax <= 2, far, 0.0))


def _linear(x: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(x), 0, None)


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


def _lanczos(n: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        return np.where(np.abs(x) < n, np.sinc(x) * np.sinc(x / n), 0.0)

    return kernel


_KERNEL_FUNCS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "cubic": (_cubic, 4.0),
    "linear": (_linear, 2.0),
    "box": (_box, 1.0),
    "lanczos2": (_lanczos(2), 4.0),
    "lanczos3": (_lanczos(3), 6.0),
}


def kernel_name(name: str) -> str:
    """Canonical kernel name; raises ``ValueError`` for an unknown one."""
    canonical = _ALIASES.get(name, name)
    if canonical not in _KERNEL_FUNCS:
        known = ", ".join(sorted(set(KERNELS) | set(_ALIASES)))
        raise ValueError(f"unknown imresize kernel {name!r} (known: {known})")
    return canonical


BORDERS = ("replicate", "symmetric")


@lru_cache(maxsize=256)
def resize_matrix(
    in_len: int,
    out_len: int,
    scale: float,
    kernel: str = "cubic",
    antialias: bool = True,
    border: str = "replicate",
) -> np.ndarray:
    """Dense ``(out_len, in_len)`` float64 matrix of MATLAB's ``contributions``."""
    func, width = _KERNEL_FUNCS[kernel_name(kernel)]
    if scale < 1 and antialias:
        def weight(x: np.ndarray) -> np.ndarray:
            return scale * func(scale * x)

        width = width / scale
    else:
        weight = func
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input positions
    w = weight(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    if border == "replicate":
        src = np.clip(idx.astype(np.int64) - 1, 0, in_len - 1)
    elif border == "symmetric":
        mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
        src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    else:
        raise ValueError(f"unknown imresize border {border!r} (known: {', '.join(BORDERS)})")
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), src.ravel()), w.ravel())
    return mat


def output_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(size * scale)``."""
    return (int(math.ceil(size[0] * scale - 1e-9)), int(math.ceil(size[1] * scale - 1e-9)))


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero for non-negative values, as MATLAB's ``uint8``."""
    return torch.floor(x + 0.5)


def imresize(
    image: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    kernel: str = "cubic",
    antialias: bool = True,
    border: str = "replicate",
    round_between_passes: bool = False,
) -> torch.Tensor:
    """Resize the last two dimensions of ``image`` (``(..., H, W)``) like MATLAB.

    Give either ``scale`` (e.g. ``1/4`` to shrink, ``2`` to enlarge) or ``size``
    ``(H, W)``.  The result keeps the input's dtype and device; values are not
    clipped.  ``round_between_passes`` emulates MATLAB on uint8 input, which
    rounds (half away from zero) to 8 bits after the first (vertical) pass: give
    values in ``[0, 255]`` and round the result the same way (:func:`round_half_up`).
    """
    if image.ndim < 2:
        raise ValueError(f"imresize needs an image with at least 2 dimensions, got {image.ndim}")
    if not image.is_floating_point():
        raise ValueError(f"imresize needs a floating-point tensor, got {image.dtype}")
    in_h, in_w = image.shape[-2:]
    if size is None:
        if scale is None or scale <= 0:
            raise ValueError(f"imresize needs a positive scale or an output size, got {scale!r}")
        out_h, out_w = output_size((in_h, in_w), scale)
        scale_h = scale_w = float(scale)
    else:
        out_h, out_w = size
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"imresize output size must be positive, got {size}")
        scale_h, scale_w = out_h / in_h, out_w / in_w
    mh = torch.from_numpy(resize_matrix(in_h, out_h, scale_h, kernel, antialias, border))
    mw = torch.from_numpy(resize_matrix(in_w, out_w, scale_w, kernel, antialias, border))
    mh = mh.to(device=image.device, dtype=image.dtype)
    mw = mw.to(device=image.device, dtype=image.dtype)
    out = torch.matmul(mh, image)
    if round_between_passes:
        out = round_half_up(out).clamp(0, 255)
    return torch.matmul(out, mw.transpose(0, 1))


def imresize_np(
    image: np.ndarray,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    kernel: str = "cubic",
    antialias: bool = True,
) -> np.ndarray:
    """:func:`imresize` for an ``(H, W)`` or ``(H, W, C)`` array, computed in float64."""
    arr = np.asarray(image, dtype=np.float64)
    chw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.atleast_3d(arr), -1, 0)))
    out = imresize(chw, scale=scale, size=size, kernel=kernel, antialias=antialias).numpy()
    out = np.moveaxis(out, 0, -1)
    return out[..., 0] if arr.ndim == 2 else out
