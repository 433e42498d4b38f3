"""JPEG compression round trip with Pillow (default 4:2:0 chroma subsampling)."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from sruq.core.imresize import round_half_up
from sruq.degrade._common import as_batch, check_quality, unbatch


def to_uint8_hwc(img: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] -> ``(H, W, C)`` uint8 (clipped, rounded half up)."""
    arr = round_half_up(img.detach().clamp(0, 1) * 255.0).to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image as JPEG at ``quality`` (integer 1..100) and decode it again.

    Accepts ``(C, H, W)`` or ``(B, C, H, W)`` with 1 (grey) or 3 (RGB) channels;
    the result is 8-bit quantised, in the input's dtype and device.
    """
    x, was_3d = as_batch(img)
    quality = check_quality("quality", quality)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"jpeg needs 1 or 3 channels, got {x.shape[1]}")
    mode = "L" if x.shape[1] == 1 else "RGB"
    out = torch.empty_like(x)
    for i, image in enumerate(x):
        hwc = to_uint8_hwc(image)
        buffer = io.BytesIO()
        Image.fromarray(hwc[..., 0] if mode == "L" else hwc).save(
            buffer, format="JPEG", quality=quality
        )
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            arr = np.atleast_3d(np.asarray(decoded.convert(mode)))
        out[i] = torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float32) / 255.0).to(x)
    return unbatch(out, was_3d)
