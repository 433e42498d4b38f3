"""The most and least certain patches of an image, for looking at them side by side.

The HR output is cut into a grid of non-overlapping ``patch x patch`` squares, ranked by
their mean per-pixel std; for the top ``count`` of each end the matching LR patch, the MC
mean patch and the std heatmap patch are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sruq.core.io import atomic_dir, write_image
from sruq.core.tensors import to_uint8
from sruq.uncertainty.heatmaps import DEFAULT_SCALE, HeatmapScale, std_map


@dataclass(frozen=True)
class PatchScore:
    """Grid cell ``(row, col)`` at HR pixel ``(top, left)`` with its mean std ``score``."""

    row: int
    col: int
    top: int
    left: int
    score: float


def rank_patches(std: torch.Tensor | np.ndarray, patch: int) -> list[PatchScore]:
    """Grid patches sorted by mean std, least certain first (ties in raster order)."""
    values = std_map(std)
    rows, cols = values.shape[0] // max(patch, 1), values.shape[1] // max(patch, 1)
    if patch < 1 or rows == 0 or cols == 0:
        raise ValueError(f"patch must fit the {values.shape[0]}x{values.shape[1]} map, got {patch}")
    grid = values[: rows * patch, : cols * patch].reshape(rows, patch, cols, patch)
    scores = grid.mean(axis=(1, 3)).ravel()
    cells = [divmod(int(i), cols) for i in np.argsort(-scores, kind="stable")]
    return [PatchScore(r, c, r * patch, c * patch, float(scores[r * cols + c])) for r, c in cells]


def select_patches(ranking: list[PatchScore], count: int) -> dict[str, list[PatchScore]]:
    """The ``count`` most certain (lowest score first) and least certain patches."""
    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    return {
        "most_certain": sorted(ranking, key=lambda p: p.score)[:count],
        "least_certain": ranking[:count],
    }


def save_details(
    out_dir: str | Path,
    lr: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    scale: int,
    *,
    patch: int = 64,
    count: int = 5,
    heatmap: HeatmapScale = DEFAULT_SCALE,
) -> dict[str, list[PatchScore]]:
    """Write ``out_dir/{most,least}_certain/{original_lr_patch,mean_pred_patch,heatmap}_i.png``.

    ``lr`` is ``(C, h, w)``, ``mean`` and ``std`` ``(C, scale*h, scale*w)`` (the region the
    MC outputs cover); ``i`` is the rank, 1 = most extreme.  ``patch`` is in HR px and must
    be a multiple of ``scale``.  The folder is replaced as a whole.  Returns the patches.
    """
    if patch % scale:
        raise ValueError(f"patch must be a multiple of scale {scale}, got {patch}")
    if tuple(mean.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        raise ValueError(f"mean is {tuple(mean.shape)}, not x{scale} of lr {tuple(lr.shape)}")
    chosen = select_patches(rank_patches(std, patch), count)
    small = patch // scale
    with atomic_dir(out_dir) as tmp:
        for group, patches in chosen.items():
            for rank, p in enumerate(patches, start=1):
                hr = (slice(p.top, p.top + patch), slice(p.left, p.left + patch))
                y, x = p.top // scale, p.left // scale
                write_image(
                    tmp / group / f"original_lr_patch_{rank}.png",
                    to_uint8(lr[..., y : y + small, x : x + small]),
                )
                write_image(tmp / group / f"mean_pred_patch_{rank}.png", to_uint8(mean[(..., *hr)]))
                write_image(
                    tmp / group / f"heatmap_{rank}.png",
                    heatmap.rgb(std[(..., *hr)]),
                )
    return chosen
