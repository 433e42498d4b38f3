"""Whole-image MC inference of any size: overlapping blended tiles, or the ESRCNN recipe's
64x64 patches.

Tiled mode cuts the LR image into tiles of ``tile`` px that share ``overlap`` px with their
neighbours.  Each tile's output gets a separable weight that is zero on the ``crop`` px next
to an internal tile border (where zero padding differs from the whole image), then ramps up
linearly over the rest of the overlap; outputs are averaged with these weights.  With
``crop`` at least the network's receptive-field radius (in LR px), a fully convolutional
net gives the whole-image output up to float rounding.  Each tile draws its dropout masks
for its place in the image (masks are a function of image coordinates, see
:mod:`sruq.uncertainty.masks`), so the MC statistics equal the whole image's as well, and
two tile grids give the same result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sruq.core.channels import Box
from sruq.models.base import SRModel
from sruq.uncertainty.mc import MCResult, mc_predict
from sruq.uncertainty.settings import DEFAULT_SAMPLES, MODES, Tiling


def sub_seed(seed: int, index: int) -> int:
    """The seed of tile or patch group ``index`` (an independent stream per index)."""
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)
    return int(state[0])


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tile starts covering ``[0, length)``; neighbours share >= ``overlap`` px."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))
    span = length - tile
    return [(i * span + (count - 1) // 2) // (count - 1) for i in range(count)]


def _axis_weights(start: int, size: int, length: int, tiling: Tiling, scale: int) -> torch.Tensor:
    """Blend weights along one axis of a tile's output (HR px).

    Zero within ``margin`` of an internal border, then a linear ramp over the rest of the
    overlap, 1 elsewhere and up to the image border.
    """
    zero = tiling.margin * scale
    ramp = max((tiling.overlap - 2 * tiling.margin) * scale, 1)
    dist = torch.arange(size * scale, dtype=torch.float32)
    weights = torch.ones(size * scale)
    for internal, d in ((start > 0, dist), (start + size < length, dist.flip(0))):
        if internal:
            weights = torch.minimum(weights, ((d - zero + 0.5) / ramp).clamp(0, 1))
    return weights


def run_tiled(
    predict: Callable[[torch.Tensor, tuple[int, int]], MCResult],
    x: torch.Tensor,
    scale: int,
    tiling: Tiling,
) -> MCResult:
    """Blend ``predict(tile, (y, x))`` over the tiles of ``x`` ((B, C, h, w)) into one result;
    ``(y, x)`` is the tile's top-left LR pixel."""
    h, w = x.shape[-2:]
    sums: dict[str, torch.Tensor] = {}
    weight = torch.zeros(h * scale, w * scale)
    samples = 0
    tiles = [
        (y, x0)
        for y in tile_starts(h, tiling.tile, tiling.overlap)
        for x0 in tile_starts(w, tiling.tile, tiling.overlap)
    ]
    for y, x0 in tiles:
        th, tw = min(tiling.tile, h), min(tiling.tile, w)
        result = predict(x[..., y : y + th, x0 : x0 + tw], (y, x0))
        samples = result.samples
        wt = torch.outer(
            _axis_weights(y, th, h, tiling, scale), _axis_weights(x0, tw, w, tiling, scale)
        )
        window = (slice(y * scale, (y + th) * scale), slice(x0 * scale, (x0 + tw) * scale))
        weight[window] += wt
        for name, value in _blend_fields(result).items():
            if name not in sums:
                sums[name] = torch.zeros(*value.shape[:-2], h * scale, w * scale)
            sums[name][(..., *window)] += value * wt
    fields = {name: total.div_(weight) for name, total in sums.items()}  # in place: big images
    aleatoric = fields.get("aleatoric_var")
    return MCResult(
        mean=fields["mean"],
        std=fields["var"].sqrt_(),
        one_pass=fields["one_pass"],
        samples=samples,
        aleatoric_std=None if aleatoric is None else aleatoric.sqrt_(),
    )


def _blend_fields(result: MCResult) -> dict[str, torch.Tensor]:
    """What is averaged across tiles: means and variances (standard deviations are not)."""
    fields = {"mean": result.mean, "var": result.std**2, "one_pass": result.one_pass}
    if result.aleatoric_std is not None:
        fields["aleatoric_var"] = result.aleatoric_std**2
    return fields


def centre_crop_box(h: int, w: int, patch: int) -> Box:
    """The centred region of ``h x w`` whose sides are multiples of ``patch``."""
    ch, cw = h // patch * patch, w // patch * patch
    if ch == 0 or cw == 0:
        raise ValueError(f"image of {h}x{w} px is smaller than one {patch}x{patch} patch")
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def run_patches(
    predict: Callable[[torch.Tensor, int], MCResult],
    x: torch.Tensor,
    scale: int,
    patch: int = 64,
    group: int = 16,
) -> tuple[MCResult, Box]:
    """The ESRCNN recipe's mode: centre-crop ``x`` to multiples of ``patch``, infer each
    ``patch x patch`` tile on its own (``group`` patches per call), stitch them in order."""
    top, left, ch, cw = box = centre_crop_box(x.shape[-2], x.shape[-1], patch)
    b, c = x.shape[:2]
    rows, cols = ch // patch, cw // patch
    crop = x[..., top : top + ch, left : left + cw]
    patches = (
        crop.reshape(b, c, rows, patch, cols, patch)
        .permute(0, 2, 4, 1, 3, 5)
        .reshape(b * rows * cols, c, patch, patch)
    )
    results = [predict(chunk, i) for i, chunk in enumerate(patches.split(group))]
    size = patch * scale

    def stitch(parts: list[torch.Tensor]) -> torch.Tensor:
        out = torch.cat(parts).reshape(b, rows, cols, -1, size, size)
        return out.permute(0, 3, 1, 4, 2, 5).reshape(b, -1, rows * size, cols * size)

    aleatoric = [r.aleatoric_std for r in results if r.aleatoric_std is not None]
    result = MCResult(
        mean=stitch([r.mean for r in results]),
        std=stitch([r.std for r in results]),
        one_pass=stitch([r.one_pass for r in results]),
        samples=results[0].samples,
        aleatoric_std=stitch(aleatoric) if aleatoric else None,
    )
    return result, box


def predict_image(
    model: SRModel,
    lr: torch.Tensor,
    samples: int = DEFAULT_SAMPLES,
    *,
    mode: str = "tiled",
    tiling: Tiling | None = None,
    patch: int = 64,
    seed: int = 0,
    max_batch: int | None = None,
) -> tuple[MCResult, Box]:
    """MC-dropout outputs for an LR image ((C, h, w) or (B, C, h, w)) of any size.

    ``mode`` is ``"tiled"`` (blended overlapping tiles, see :class:`Tiling`), ``"patch"``
    (the ESRCNN recipe's centre-cropped 64x64 patches) or ``"whole"`` (one pass over the image).
    Returns the result, shaped like ``lr``, and the LR box it covers (the whole image unless
    ``mode="patch"``; the matching HR box is ``scale`` times it).  Tiles draw the masks of
    their place in the whole image (the same as ``mode="whole"``); patch group ``i`` draws
    its masks from a seed derived from ``seed`` and ``i``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    scale = int(model.scale)
    batch = lr.unsqueeze(0) if lr.ndim == 3 else lr
    if batch.ndim != 4:
        raise ValueError(f"lr must be (C, h, w) or (B, C, h, w), got shape {tuple(lr.shape)}")

    def predict_tile(x: torch.Tensor, origin: tuple[int, int]) -> MCResult:
        return mc_predict(model, x, samples, seed=seed, max_batch=max_batch, origin=origin)

    def predict_group(x: torch.Tensor, index: int) -> MCResult:
        return mc_predict(model, x, samples, seed=sub_seed(seed, index), max_batch=max_batch)

    h, w = batch.shape[-2:]
    box: Box = (0, 0, h, w)
    if mode == "whole":
        result = mc_predict(model, batch, samples, seed=seed, max_batch=max_batch)
    elif mode == "tiled":
        result = run_tiled(predict_tile, batch, scale, tiling or Tiling())
    else:
        result, box = run_patches(predict_group, batch, scale, patch)
    return (result.map(lambda t: t[0]) if lr.ndim == 3 else result), box
