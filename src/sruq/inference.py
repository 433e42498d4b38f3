"""Run any SR model on 8-bit images: channel handling, devices, folders of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sruq.color import rgb_to_ycbcr, ycbcr_to_rgb
from sruq.imresize import imresize
from sruq.io import atomic_dir, list_images, read_image, to_tensor, to_uint8, write_image
from sruq.models.base import SRModel
from sruq.progress import progress_bar


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA, then Apple MPS, then CPU; otherwise the named device."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def run_on_channels(model: SRModel, x: torch.Tensor) -> torch.Tensor:
    """Apply ``model`` to ``x`` (``(B, C, h, w)``, C = 1 or 3) whatever channels it expects.

    A greyscale image goes through an RGB model as three equal channels (the output's
    channel mean comes back); a colour image goes through a Y-channel model on its
    luma, with Cb and Cr upscaled by bicubic interpolation.
    """
    channels, expected = x.shape[1], model.in_channels
    if channels == expected:
        return model(x)
    if channels == 1 and expected == 3:
        return model(x.repeat(1, 3, 1, 1)).mean(dim=1, keepdim=True)
    if channels == 3 and expected == 1:
        ycc = rgb_to_ycbcr(x)
        y = model(ycc[:, :1])
        cbcr = imresize(ycc[:, 1:], size=tuple(y.shape[-2:]))
        return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1))
    raise ValueError(f"model expects {expected} channels, image has {channels}")


@torch.inference_mode()
def upscale_image(model: SRModel, lr: np.ndarray, device: torch.device | None = None) -> np.ndarray:
    """Super-resolve one ``uint8`` ``(h, w, C)`` image with ``model`` (eval mode)."""
    device = device or torch.device("cpu")
    x = to_tensor(lr).to(device)
    return to_uint8(run_on_channels(model.eval(), x))


def upscale_folder(
    model: SRModel, lr_dir: Path, out_dir: Path, device: torch.device | None = None,
    progress: bool = True,
) -> None:
    """Super-resolve every image of ``lr_dir`` into ``out_dir`` (PNG, written atomically)."""
    files = list_images(lr_dir)
    with atomic_dir(out_dir) as tmp:
        for path in progress_bar(files, desc=f"upscale {lr_dir}", disable=not progress, unit="img"):
            write_image(tmp / f"{path.stem}.png", upscale_image(model, read_image(path), device))
