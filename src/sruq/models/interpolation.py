"""Interpolation baselines (nearest, bilinear, bicubic, lanczos) as SR models."""

from __future__ import annotations

import torch

from sruq.core.imresize import imresize
from sruq.models.base import SRModel
from sruq.models.registry import register


class Interpolation(SRModel):
    """Upscale with MATLAB-compatible ``imresize`` and a fixed kernel."""

    kernel: str = "cubic"
    trainable = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale, kernel=self.kernel)


@register("nearest")
class Nearest(Interpolation):
    kernel = "box"


@register("bilinear")
class Bilinear(Interpolation):
    kernel = "linear"


@register("bicubic")
class Bicubic(Interpolation):
    kernel = "cubic"


@register("lanczos")
class Lanczos(Interpolation):
    kernel = "lanczos3"
