"""Writing one image's MC outputs: 8-bit predictions and lossless float32 maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sruq.io import to_uint8, write_image, write_npy
from sruq.uncertainty.mc import MCResult


def hwc_float32(t: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` tensor -> float32 ``(H, W, C)`` array, the on-disk layout."""
    if t.ndim != 3:
        raise ValueError(f"expected one (C, H, W) image, got shape {tuple(t.shape)}")
    return np.ascontiguousarray(t.detach().float().cpu().numpy().transpose(1, 2, 0))


def error_map(pred: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Per-pixel, per-channel signed error ``pred - hr`` of the float prediction (the one
    error every uncertainty metric, the calibration and the figures use)."""
    if pred.shape != hr.shape:
        raise ValueError(f"hr shape {tuple(hr.shape)} differs from prediction {tuple(pred.shape)}")
    return pred.float() - hr.float().to(pred.device)


def save_outputs(
    out_dir: str | Path, result: MCResult, hr: torch.Tensor | None = None
) -> dict[str, Path]:
    """Write ``one_pass.png``, ``mc_mean.png`` (8-bit, clipped), ``std.npy`` and, with
    ``hr`` (same shape as the prediction), ``error.npy`` = ``mc_mean - hr`` (signed) into
    ``out_dir`` (plus ``aleatoric_std.npy`` for a heteroscedastic model); float maps are
    float32 ``(H, W, C)``.  Returns the written paths by file name."""
    out = Path(out_dir)
    paths = {name: out / name for name in ("one_pass.png", "mc_mean.png", "std.npy")}
    write_image(paths["one_pass.png"], to_uint8(result.one_pass))
    write_image(paths["mc_mean.png"], to_uint8(result.mean))
    write_npy(paths["std.npy"], hwc_float32(result.std))
    if result.aleatoric_std is not None:
        paths["aleatoric_std.npy"] = out / "aleatoric_std.npy"
        write_npy(paths["aleatoric_std.npy"], hwc_float32(result.aleatoric_std))
    if hr is not None:
        paths["error.npy"] = out / "error.npy"
        write_npy(paths["error.npy"], hwc_float32(error_map(result.mean, hr)))
    return paths
