"""The ``mc:`` settings of a run: the one place of their defaults and checks.

The workflow fills a config's ``mc:`` mapping from :class:`MCSettings` (the schema
documents the keys), the CLI builds one from its options.  Numpy only: the report step
reads the heatmap scale from here without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sruq.uncertainty import heatmaps
from sruq.uncertainty.heatmaps import HeatmapScale

DEFAULT_SAMPLES = 40
"""MC-dropout passes per image (the ESRCNN seed's T = 40)."""
MIN_SAMPLES = 2
"""The fewest sampled passes with a spread: one pass has std 0 everywhere, a heatmap that
would claim full certainty (the one check of ``mc.samples`` and ``sruq upscale --samples``)."""
DEFAULT_TTA_NOISE = 0.01
"""Std of the Gaussian noise a ``+tta`` variant adds to the [0, 1] LR input."""
MODES = ("tiled", "patch", "whole")
"""How a whole image is covered: blended tiles, the seed's 64x64 patches, or one pass."""


@dataclass(frozen=True)
class Tiling:
    """Tile geometry in LR px; ``crop`` defaults to ``overlap // 4``."""

    tile: int = 256
    overlap: int = 32
    crop: int | None = None

    def __post_init__(self) -> None:
        if self.tile < 1:
            raise ValueError(f"tile must be a positive integer, got {self.tile!r}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in [0, tile={self.tile}), got {self.overlap!r}")
        if not 0 <= self.margin <= self.overlap // 2:
            raise ValueError(f"crop must be in [0, overlap/2], got {self.crop!r}")

    @property
    def margin(self) -> int:
        """LR px of zero weight next to an internal tile border."""
        return self.overlap // 4 if self.crop is None else self.crop


@dataclass(frozen=True)
class MCSettings:
    """The ``mc:`` section of the config (documented in the config schema); the
    constructor checks every field, so a bad option fails before any inference."""

    samples: int = DEFAULT_SAMPLES
    mode: str = "tiled"
    tile: int = 256
    overlap: int = 32
    max_batch: int | None = None
    vmin: float = heatmaps.VMIN
    vmax: float = heatmaps.VMAX
    cmap: str = heatmaps.CMAP
    style: str = "cmap"
    norm: str = heatmaps.NORM
    details: int = 5
    detail_patch: int = 64
    sigma_scaled: bool = True
    tta_noise: float = DEFAULT_TTA_NOISE
    mcbn_batch: int | None = None

    def __post_init__(self) -> None:
        if (isinstance(self.samples, bool) or not isinstance(self.samples, int)
                or self.samples < MIN_SAMPLES):
            raise ValueError(f"samples must be an integer of at least {MIN_SAMPLES} (one pass "
                             f"has no spread), got {self.samples!r}")
        for name in ("tile", "detail_patch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("overlap", "details"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_batch is not None and (not isinstance(self.max_batch, int)
                                           or self.max_batch < 1):
            raise ValueError(f"max_batch must be a positive integer, got {self.max_batch!r}")
        if self.mcbn_batch is not None and (isinstance(self.mcbn_batch, bool)
                                            or not isinstance(self.mcbn_batch, int)
                                            or self.mcbn_batch < 1):
            raise ValueError(f"mcbn_batch must be a positive integer, got {self.mcbn_batch!r}")
        if (isinstance(self.tta_noise, bool) or not isinstance(self.tta_noise, int | float)
                or not 0 <= self.tta_noise < float("inf")):
            raise ValueError(f"tta_noise must be a non-negative number, got {self.tta_noise!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        self.heatmap  # noqa: B018 - checks vmin, vmax, cmap, style and norm

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> MCSettings:
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"mc.{unknown[0]} is not a known setting")
        return cls(**values)

    def to_config(self) -> dict[str, Any]:
        """Every setting as a plain ``mc:`` mapping (the workflow's config, filled in)."""
        return asdict(self)

    @property
    def tiling(self) -> Tiling:
        return Tiling(tile=self.tile, overlap=self.overlap)

    @property
    def heatmap(self) -> HeatmapScale:
        """The one colour scale of every heatmap of a run."""
        return HeatmapScale(self.vmin, self.vmax, self.cmap, self.style, self.norm)


