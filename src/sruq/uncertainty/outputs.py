"""Writing one image's uncertainty outputs (the files of :mod:`sruq.uncertainty.files`):
8-bit predictions, lossless float32 maps, heatmaps and ranked patches, all or nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sruq.core.channels import Box
from sruq.core.io import write_image, write_npy
from sruq.core.tensors import to_tensor, to_uint8
from sruq.uncertainty.details import save_details
from sruq.uncertainty.files import ALEATORIC, ERROR, MEAN, ONE_PASS, STD
from sruq.uncertainty.heatmaps import save_colorbar, save_heatmap
from sruq.uncertainty.mc import MCResult
from sruq.uncertainty.settings import HeatmapSettings


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
    paths = {name: out / name for name in (ONE_PASS, MEAN, STD)}
    write_image(paths[ONE_PASS], to_uint8(result.one_pass))
    write_image(paths[MEAN], to_uint8(result.mean))
    write_npy(paths[STD], hwc_float32(result.std))
    if result.aleatoric_std is not None:
        paths[ALEATORIC] = out / ALEATORIC
        write_npy(paths[ALEATORIC], hwc_float32(result.aleatoric_std))
    if hr is not None:
        paths[ERROR] = out / ERROR
        write_npy(paths[ERROR], hwc_float32(error_map(result.mean, hr)))
    return paths


def write_image_outputs(
    out_dir: Path, lr: np.ndarray, result: MCResult, box: Box,
    scale: int, heatmap: HeatmapSettings, hr: np.ndarray | None = None,
    sigma_scale: float = 1.0,
) -> None:
    """Write the ESRCNN recipe's output set for one image into ``out_dir``.

    Files: ``lr_input.png`` (the LR region used), ``one_pass.png``, ``mc_mean.png``,
    ``std.npy`` (float32 ``(H, W, C)``, as sampled), ``error.npy`` (``mc_mean - hr``, float,
    signed, with HR), ``heatmap.png`` of ``sigma_scale * std`` on the run's fixed scale,
    ``colorbar.png`` and ``details/{most,least}_certain/`` (patches ranked by mean std), as
    the run's ``heatmap`` settings draw them.
    """
    out_dir = Path(out_dir)
    top, left, h, w = box
    lr_crop = lr[top:top + h, left:left + w]
    write_image(out_dir / "lr_input.png", lr_crop)
    hr_t = None
    if hr is not None:
        hr_crop = hr[top * scale:(top + h) * scale, left * scale:(left + w) * scale]
        hr_t = to_tensor(hr_crop)[0]
        if hr_t.shape[0] != result.mean.shape[0]:
            raise ValueError(f"HR has {hr_t.shape[0]} channels, the prediction "
                             f"{result.mean.shape[0]}")
    save_outputs(out_dir, result, hr_t)
    shown = result.std * sigma_scale
    label = "per-pixel std" if sigma_scale == 1.0 else f"per-pixel std x {sigma_scale:.3g}"
    save_heatmap(out_dir / "heatmap.png", shown, heatmap.scale)
    save_colorbar(out_dir / "colorbar.png", heatmap.scale, label)
    patch = max(scale, heatmap.detail_patch - heatmap.detail_patch % scale)
    if heatmap.details and min(result.std.shape[-2:]) >= patch:
        save_details(out_dir / "details", to_tensor(lr_crop)[0], result.mean, shown, scale,
                     patch=patch, count=heatmap.details, heatmap=heatmap.scale)
