"""Per-pixel standard deviation as an image on one fixed colour scale, and its colour bar.

A :class:`HeatmapScale` is fixed for a whole run (every image, every method), so heatmaps
compare across images and models; values outside ``[vmin, vmax]`` are clipped to the end
colours, never wrapped.

The default is a **log scale** from 0.002 to 0.2 (in [0, 1] intensity units: half an
8-bit grey level to a fifth of the range) with the ``inferno`` colormap: per-pixel stds
and errors span two decades (flat sky ~0.002, edges and texture ~0.05-0.2), which a linear
0..0.1 ramp squeezes into its bottom tenth.  The workflow shows the std after sigma
scaling (fitted on the validation images), i.e. in the units of the error it predicts, and
draws the |error| panels of its figures on the same scale.  The SRResBNN/ESRCNN recipes'
look stays available: ``HeatmapScale(0.0, 0.1, "cool", norm="linear")`` (:data:`RECIPE_SCALE`).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, ListedColormap, LogNorm, Normalize, hsv_to_rgb
from matplotlib.figure import Figure

from sruq.core.arrays import ArrayLike, as_array
from sruq.core.io import atomic_path, quantize, write_image

VMIN = 0.002
VMAX = 0.2
CMAP = "inferno"
NORM = "log"
STYLES = ("cmap", "hsv")
"""``cmap``: a matplotlib colormap; ``hsv``: the SRResBNN recipe's hue ramp (blue low, red high)."""
NORMS = ("log", "linear")


def std_map(std: ArrayLike) -> np.ndarray:
    """``(H, W)`` map from a std of shape ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``.

    Colour channels are averaged (mean of the per-channel standard deviations).
    """
    arr = as_array(std)
    arr = arr.astype(np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        arr = arr.mean(axis=0)
    if arr.ndim != 2:
        raise ValueError(f"std must be (H, W), (C, H, W) or (1, C, H, W), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class HeatmapScale:
    """One colour scale for std maps: ``[vmin, vmax]`` mapped linearly or logarithmically
    onto a colormap (``style="hsv"``: the SRResBNN recipe's hue ramp, ``cmap`` ignored).

    The constructor checks every field, so a bad option fails before anything is computed.
    """

    vmin: float = VMIN
    vmax: float = VMAX
    cmap: str = CMAP
    style: str = "cmap"
    norm: str = NORM

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if not (np.isfinite(self.vmin) and np.isfinite(self.vmax) and self.vmax > self.vmin):
            raise ValueError(f"vmax must exceed vmin, got vmin={self.vmin!r}, vmax={self.vmax!r}")
        if self.norm == "log" and self.vmin <= 0:
            raise ValueError(f"a log scale needs vmin > 0, got vmin={self.vmin!r}")
        self.colormap()  # an unknown colormap name fails here

    def colormap(self) -> Colormap:
        if self.style == "hsv":
            t = np.linspace(0.0, 1.0, 256)  # 8-bit output needs no finer lookup table
            hsv = np.stack([(1.0 - t) * 2.0 / 3.0, np.ones_like(t), np.ones_like(t)], axis=-1)
            return ListedColormap(hsv_to_rgb(hsv), name="hsv-std")
        try:
            return matplotlib.colormaps[self.cmap]
        except KeyError:
            raise ValueError(
                f"cmap must be a matplotlib colormap name, got {self.cmap!r}") from None

    def normalize(self) -> Normalize:
        """The matplotlib norm of this scale (for figures and colour bars)."""
        if self.norm == "log":
            return LogNorm(self.vmin, self.vmax, clip=True)
        return Normalize(self.vmin, self.vmax, clip=True)

    def position(self, values: ArrayLike) -> np.ndarray:
        """Where each value of a std map falls on the colour ramp, in ``[0, 1]``."""
        v = std_map(values)
        if self.norm == "log":
            low, high = np.log(self.vmin), np.log(self.vmax)
            with np.errstate(divide="ignore"):
                v = np.log(np.maximum(v, 0.0))
        else:
            low, high = self.vmin, self.vmax
        return np.clip((v - low) / (high - low), 0.0, 1.0)

    def rgb(self, values: ArrayLike) -> np.ndarray:
        """``uint8`` ``(H, W, 3)`` colours of a std map.

        ``style="hsv"`` reproduces the SRResBNN recipe: hue ``(1 - t) * 2/3`` for the clipped,
        normalised value ``t`` (blue = certain, red = uncertain).
        """
        rgb = self.colormap()(self.position(values))[..., :3]
        return quantize(rgb)

    def extend(self) -> str:
        """Colour-bar ends that say values beyond them are clipped."""
        return "max" if self.norm == "linear" and self.vmin <= 0 else "both"


DEFAULT_SCALE = HeatmapScale()
RECIPE_SCALE = HeatmapScale(0.0, 0.1, "cool", norm="linear")
"""The ESRCNN recipe's fixed 0..0.1 ``cool`` scale."""


def heatmap_rgb(
    values: ArrayLike, scale: HeatmapScale = DEFAULT_SCALE
) -> np.ndarray:
    """``uint8`` ``(H, W, 3)`` colours of a std map on ``scale``."""
    return scale.rgb(values)


def save_heatmap(
    path: str | Path, values: ArrayLike, scale: HeatmapScale = DEFAULT_SCALE
) -> None:
    """Write :func:`heatmap_rgb` of ``values`` as a PNG (atomically)."""
    write_image(path, scale.rgb(values))


@functools.lru_cache(maxsize=8)
def colorbar_png(scale: HeatmapScale = DEFAULT_SCALE, label: str = "per-pixel std") -> bytes:
    """The PNG bytes of a heatmap scale's colour bar, drawn once per scale and label: every
    image of a job gets the same bar (drawing it took a third of an MC job's time)."""
    fig = Figure(figsize=(1.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    bar = Colorbar(ax, cmap=scale.colormap(), norm=scale.normalize(), extend=scale.extend())
    bar.set_label(label)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    return buffer.getvalue()


def save_colorbar(
    path: str | Path, scale: HeatmapScale = DEFAULT_SCALE, label: str = "per-pixel std"
) -> None:
    """Write the colour bar of a heatmap scale as a PNG (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(colorbar_png(scale, label))
