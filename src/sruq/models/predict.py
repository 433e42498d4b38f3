"""Run an SR model once on 8-bit images (whatever channels it expects,
:mod:`sruq.core.channels`), and pick the device to run on.

The uncertainty sources (MC dropout, x8, TTA, MC-BatchNorm, deep ensembles) are
:mod:`sruq.uncertainty.sources`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sruq.core.channels import ChannelAdapter
from sruq.core.io import atomic_dir, list_images, read_image, write_image
from sruq.core.progress import progress_bar
from sruq.core.tensors import to_tensor, to_uint8
from sruq.models.base import SRModel


def available_devices() -> list[str]:
    """The device names this machine's torch can run on (``auto`` first)."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names += ["cuda"] + [f"cuda:{i}" for i in range(count)]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(requested: str) -> None:
    """``ValueError`` (one line, listing the devices there are) unless ``requested`` is a
    device this machine can run on: ``auto``, ``cpu``, ``cuda[:N]`` with CUDA and N GPUs,
    ``mps`` on Apple silicon."""
    if requested not in available_devices():
        raise ValueError(f"{requested!r} is not a device here (devices: "
                         f"{', '.join(available_devices())})")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA, then Apple MPS, then CPU; otherwise the named device (checked by
    :func:`check_device`)."""
    if requested != "auto":
        check_device(requested)
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def run_on_channels(model: SRModel, x: torch.Tensor) -> torch.Tensor:
    """Apply ``model`` to ``x`` (``(B, C, h, w)``, C = 1 or 3) whatever channels it expects."""
    adapter = ChannelAdapter(x, model.in_channels)
    return adapter.output(model(adapter.input))


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
