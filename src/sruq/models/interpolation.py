"""Interpolation baselines (nearest, bilinear, bicubic, lanczos) as SR models."""

from __future__ import annotations

import torch

from sruq.core.imresize import imresize
from sruq.models.base import SRModel


class Interpolation(SRModel):
    """Upscale with MATLAB-compatible ``imresize`` and a fixed kernel."""

    kernel: str = "cubic"
    trainable = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale, kernel=self.kernel)


class Nearest(Interpolation):
    kernel = "box"


class Bilinear(Interpolation):
    kernel = "linear"


class Bicubic(Interpolation):
    kernel = "cubic"


class Lanczos(Interpolation):
    kernel = "lanczos3"
