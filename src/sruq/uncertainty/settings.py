"""The ``mc:`` and ``heatmap:`` settings of a run: the one place of their defaults and
checks.

``mc:`` (:class:`MCSettings`) is how the sources sample; ``heatmap:``
(:class:`HeatmapSettings`) is how every source's std is drawn.  The workflow fills a
config's sections from them (the schema documents the keys), the CLI builds them from its
options.  Numpy only: the report step reads the heatmap scale from here without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sruq.core.errors import check_count
from sruq.uncertainty import heatmaps
from sruq.uncertainty.heatmaps import HeatmapScale

DEFAULT_SAMPLES = 40
"""MC-dropout passes per image (the ESRCNN recipe's T = 40)."""
MIN_SAMPLES = 2
"""The fewest sampled passes with a spread: one pass has std 0 everywhere, a heatmap that
would claim full certainty (the one check of ``mc.samples`` and ``sruq upscale --samples``)."""
DEFAULT_TTA_NOISE = 0.01
"""Std of the Gaussian noise a ``+tta`` variant adds to the [0, 1] LR input."""
MODES = ("tiled", "patch", "whole")
"""How a whole image is covered: blended tiles, the ESRCNN recipe's 64x64 patches, or one pass
(the one list: the schema's ``mc.mode`` enum and ``sruq upscale --mode`` are these)."""
WORKFLOW_MODES = ("tiled", "whole")
"""The modes the workflow scores: ``patch`` covers only a centre crop, which cannot be
scored against the whole HR image."""


@dataclass(frozen=True)
class Tiling:
    """Tile geometry in LR px; ``crop`` defaults to ``overlap // 4``."""

    tile: int = 256
    overlap: int = 32
    crop: int | None = None

    def __post_init__(self) -> None:
        check_count("tile", self.tile)
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in [0, tile={self.tile}), got {self.overlap!r}")
        if not 0 <= self.margin <= self.overlap // 2:
            raise ValueError(f"crop must be in [0, overlap/2], got {self.crop!r}")

    @property
    def margin(self) -> int:
        """LR px of zero weight next to an internal tile border."""
        return self.overlap // 4 if self.crop is None else self.crop


def _from_config(cls: Any, section: str, values: Mapping[str, Any] | None) -> Any:
    values = dict(values or {})
    unknown = sorted(set(values) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{section}.{unknown[0]} is not a known setting")
    return cls(**values)


@dataclass(frozen=True)
class MCSettings:
    """The ``mc:`` section of the config (documented in the config schema): how the
    sources sample.  The constructor checks every field, so a bad option fails before any
    inference."""

    samples: int = DEFAULT_SAMPLES
    mode: str = "tiled"
    tile: int = 256
    overlap: int = 32
    max_batch: int | None = None
    tta_noise: float = DEFAULT_TTA_NOISE
    mcbn_batch: int | None = None

    def __post_init__(self) -> None:
        check_count("samples", self.samples, MIN_SAMPLES, " (one pass has no spread)")
        check_count("tile", self.tile)
        check_count("overlap", self.overlap, 0)
        for name in ("max_batch", "mcbn_batch"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        if (isinstance(self.tta_noise, bool) or not isinstance(self.tta_noise, int | float)
                or not 0 <= self.tta_noise < float("inf")):
            raise ValueError(f"tta_noise must be a non-negative number, got {self.tta_noise!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> MCSettings:
        return _from_config(cls, "mc", values)

    def to_config(self) -> dict[str, Any]:
        """Every setting as a plain ``mc:`` mapping (the workflow's config, filled in)."""
        return asdict(self)

    @property
    def tiling(self) -> Tiling:
        return Tiling(tile=self.tile, overlap=self.overlap)


@dataclass(frozen=True)
class HeatmapSettings:
    """The ``heatmap:`` section of the config (documented in the config schema): how every
    source's std is drawn -- the colour scale, whether test-set heatmaps show the
    sigma-scaled std, and the ranked ``details/`` patches.  Checked on construction."""

    vmin: float = heatmaps.VMIN
    vmax: float = heatmaps.VMAX
    cmap: str = heatmaps.CMAP
    style: str = "cmap"
    norm: str = heatmaps.NORM
    sigma_scaled: bool = True
    details: int = 5
    detail_patch: int = 64

    def __post_init__(self) -> None:
        check_count("details", self.details, 0)
        check_count("detail_patch", self.detail_patch)
        self.scale  # noqa: B018 - checks vmin, vmax, cmap, style and norm

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> HeatmapSettings:
        return _from_config(cls, "heatmap", values)

    def to_config(self) -> dict[str, Any]:
        """Every setting as a plain ``heatmap:`` mapping (the workflow's config, filled in)."""
        return asdict(self)

    @property
    def scale(self) -> HeatmapScale:
        """The one colour scale of every heatmap of a run."""
        return HeatmapScale(self.vmin, self.vmax, self.cmap, self.style, self.norm)


MOVED_TO_HEATMAP = tuple(HeatmapSettings.__dataclass_fields__)
"""The keys that were ``mc:`` keys before ``heatmap:`` had its own section: still read
there, with a deprecation line (:func:`sruq.pipeline.config.move_heatmap_keys`)."""
