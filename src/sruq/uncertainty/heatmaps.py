"""Per-pixel standard deviation as an image on a fixed scale, and its colour bar.

A fixed ``vmin``/``vmax`` (default 0..0.1 in [0, 1] intensity units) makes heatmaps comparable
across images and models; values outside are clipped to the end colours, never wrapped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, ListedColormap, Normalize, hsv_to_rgb
from matplotlib.figure import Figure

from sruq.io import atomic_path, to_uint8, write_image

VMIN = 0.0
VMAX = 0.1
CMAP = "cool"
STYLES = ("cmap", "hsv")
"""``cmap``: a matplotlib colormap; ``hsv``: the SRResBNN seed's hue ramp (blue low, red high)."""


def std_map(std: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(H, W)`` map from a std of shape ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``.

    Colour channels are averaged (mean of the per-channel standard deviations).
    """
    arr = std.detach().cpu().numpy() if isinstance(std, torch.Tensor) else np.asarray(std)
    arr = arr.astype(np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        arr = arr.mean(axis=0)
    if arr.ndim != 2:
        raise ValueError(f"std must be (H, W), (C, H, W) or (1, C, H, W), got {arr.shape}")
    return arr


def _check_scale(vmin: float, vmax: float, style: str) -> None:
    if not vmax > vmin:
        raise ValueError(f"vmax must exceed vmin, got vmin={vmin!r}, vmax={vmax!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")


def _colormap(cmap: str, style: str) -> Colormap:
    if style == "hsv":
        t = np.linspace(0.0, 1.0, 256)  # 8-bit output needs no finer lookup table
        hsv = np.stack([(1.0 - t) * 2.0 / 3.0, np.ones_like(t), np.ones_like(t)], axis=-1)
        return ListedColormap(hsv_to_rgb(hsv), name="hsv-std")
    try:
        return matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"cmap must be a matplotlib colormap name, got {cmap!r}") from None


def heatmap_rgb(
    values: torch.Tensor | np.ndarray,
    vmin: float = VMIN,
    vmax: float = VMAX,
    cmap: str = CMAP,
    style: str = "cmap",
) -> np.ndarray:
    """``uint8`` ``(H, W, 3)`` colours of a std map on the fixed scale ``[vmin, vmax]``.

    ``style="hsv"`` reproduces the SRResBNN seed: hue ``(1 - t) * 2/3`` for the clipped,
    normalised value ``t`` (blue = certain, red = uncertain); ``cmap`` is then ignored.
    """
    _check_scale(vmin, vmax, style)
    t = np.clip((std_map(values) - vmin) / (vmax - vmin), 0.0, 1.0)
    rgb = _colormap(cmap, style)(t)[..., :3]
    return to_uint8(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))))


def save_heatmap(
    path: str | Path,
    values: torch.Tensor | np.ndarray,
    vmin: float = VMIN,
    vmax: float = VMAX,
    cmap: str = CMAP,
    style: str = "cmap",
) -> None:
    """Write :func:`heatmap_rgb` of ``values`` as a PNG (atomically)."""
    write_image(path, heatmap_rgb(values, vmin, vmax, cmap, style))


def save_colorbar(
    path: str | Path,
    vmin: float = VMIN,
    vmax: float = VMAX,
    cmap: str = CMAP,
    style: str = "cmap",
    label: str = "per-pixel std",
) -> None:
    """Write the colour bar of a heatmap scale as a PNG (atomically)."""
    _check_scale(vmin, vmax, style)
    fig = Figure(figsize=(1.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    extend = "max" if vmin <= 0 else "both"
    bar = Colorbar(ax, cmap=_colormap(cmap, style), norm=Normalize(vmin, vmax), extend=extend)
    bar.set_label(label)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
