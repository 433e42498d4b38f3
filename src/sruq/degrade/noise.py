"""Additive Gaussian and Poisson noise, per colour channel or grey, as in Real-ESRGAN.

Noise is drawn from a ``numpy.random.Generator`` (so results do not depend on
torch's global state or the device) and the noisy image is clipped to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sruq.core.imresize import round_half_up
from sruq.degrade._common import (
    as_batch,
    check_bool,
    check_nonnegative,
    unbatch,
)

_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as torchvision's rgb_to_grayscale


def _grey(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` luma of an RGB batch, or the single channel of a grey one."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"grey noise needs 1 or 3 channels, got {x.shape[1]}")
    weights = torch.tensor(_GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def gaussian_noise(
    img: torch.Tensor, sigma: float, gray: bool, rng: np.random.Generator
) -> torch.Tensor:
    """Add N(0, (sigma/255)^2) noise; ``gray`` uses one noise field for all channels.

    ``sigma`` is on the 0..255 scale.  Accepts ``(C, H, W)`` or ``(B, C, H, W)``.
    """
    x, was_3d = as_batch(img)
    sigma = check_nonnegative("sigma", sigma)
    gray = check_bool("gray", gray)
    b, c, h, w = x.shape
    shape = (b, 1, h, w) if gray else (b, c, h, w)
    noise = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(x)
    return unbatch((x + noise * (sigma / 255.0)).clamp(0, 1), was_3d)


def poisson_noise(
    img: torch.Tensor, scale: float, gray: bool, rng: np.random.Generator
) -> torch.Tensor:
    """Add signal-dependent (shot) noise, Real-ESRGAN style, multiplied by ``scale``.

    Each image is quantised to 8 bits, the number of grey levels it uses is
    rounded up to a power of two ``v``, and the noise is
    ``Poisson(v * img) / v - img`` (so brighter pixels get more noise).  With
    ``gray`` the noise is computed on the luma and added to every channel.
    """
    x, was_3d = as_batch(img)
    scale = check_nonnegative("scale", scale)
    gray = check_bool("gray", gray)
    src = _grey(x) if gray else x
    quantised = round_half_up(src.clamp(0, 1) * 255.0).to(torch.uint8).cpu().numpy()
    noise = np.empty(quantised.shape, dtype=np.float64)
    for i, image in enumerate(quantised):
        used = np.count_nonzero(np.bincount(image.ravel(), minlength=256))
        levels = 2.0 ** math.ceil(math.log2(used))
        clean = image / 255.0
        noise[i] = rng.poisson(clean * levels) / levels - clean
    return unbatch((x + torch.from_numpy(noise).to(x) * scale).clamp(0, 1), was_3d)
