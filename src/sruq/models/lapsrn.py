"""LapSRN (Lai et al. 2017): progressive x2 upsampling on a Laplacian pyramid."""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.base import MCState, SRModel
from sruq.models.common import (
    check_dropout,
    conv,
    is_power_of_two,
    record_init_kwargs,
    transposed_conv,
)


def leaky_relu() -> nn.LeakyReLU:
    """LapSRN's activation: LeakyReLU with slope 0.2."""
    return nn.LeakyReLU(0.2)


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The ``2 * factor`` taps of bilinear enlargement by ``factor`` as a 2-D kernel (outer
    product; ``[1, 3, 3, 1] / 4`` per axis at x2), what a :func:`transposed_conv` of stride
    ``factor`` needs to enlarge bilinearly."""
    size = 2 * factor
    centre = factor - 0.5
    taps = 1 - (torch.arange(size, dtype=torch.float32) - centre).abs() / factor
    return taps[:, None] * taps[None, :]


class PyramidLevel(nn.Module):
    """One x2 level of LapSRN.

    Feature branch: ``embed`` (``depth`` 3x3 convs + LeakyReLU), dropout, a 4x4 transposed
    convolution of stride 2 + LeakyReLU, then a 3x3 conv predicting the level's residual
    image.  Image branch: a 4x4 transposed convolution of stride 2 (learned, initialised as
    bilinear enlargement of each channel, no bias) to which the residual is added.
    """

    def __init__(self, channels: int, in_channels: int, depth: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Sequential(
            *(m for _ in range(depth) for m in (conv(channels, channels, 3), leaky_relu()))
        )
        self.dropout = nn.Dropout2d(dropout)
        self.upsample = nn.Sequential(transposed_conv(channels, channels, 2), leaky_relu())
        self.to_residual = conv(channels, in_channels, 3)
        self.upsample_image = transposed_conv(in_channels, in_channels, 2)
        with torch.no_grad():
            self.upsample_image.weight.zero_()
            for c in range(in_channels):
                self.upsample_image.weight[c, c] = bilinear_kernel(2)
            self.upsample_image.bias.zero_()

    def forward(
        self, embedded: torch.Tensor, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, image)`` at twice the resolution from the embedded features
        (``embed``'s output) and the previous level's image."""
        features = self.upsample(self.dropout(embedded))
        return features, self.upsample_image(image) + self.to_residual(features)


class LapSRN(SRModel):
    """LapSRN: 3x3 conv + LeakyReLU 0.2, then one :class:`PyramidLevel` per x2 step: the
    feature branch enlarges the features with a transposed conv and predicts the level's
    residual (its Laplacian band); the image branch enlarges the previous level's image
    with a transposed conv (no bicubic) and adds that residual.  Scales 2, 4, 8 (powers of
    two); ``num_feat`` maps, ``depth`` convolutions per level (10 in the paper).

    ``forward`` returns the last level; :meth:`pyramid` every level (x2, x4, ...), for the
    paper's multi-scale Charbonnier loss (the trainer uses the last level only).
    ``dropout`` is the rate of an ``nn.Dropout2d`` in every level before its feature
    upsampling, so the MC prefix is the head and the first level's ``embed`` (with the LR
    image for the image branch).  Small config: ``build_model("lapsrn", 4, num_feat=8, depth=1)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        num_feat: int = 64,
        depth: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(scale, in_channels)
        if not is_power_of_two(self.scale):
            raise ValueError(f"lapsrn supports powers of two (2, 4, 8), got scale {self.scale}")
        check_count("num_feat", num_feat)
        check_count("depth", depth)
        rate = check_dropout(dropout)
        self.head = nn.Sequential(conv(in_channels, num_feat, 3), leaky_relu())
        self.levels = nn.ModuleList(
            PyramidLevel(num_feat, in_channels, depth, rate)
            for _ in range(self.scale.bit_length() - 1)
        )

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        return self.levels[0].embed(self.head(x)), x

    def _levels(self, state: MCState) -> list[torch.Tensor]:
        """The image of every level from a prefix state, coarsest (x2) first."""
        embedded, image = state
        images = []
        for index, level in enumerate(self.levels):
            features, image = level(embedded, image)
            images.append(image)
            if index + 1 < len(self.levels):
                embedded = self.levels[index + 1].embed(features)
        return images

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every level's output, ``(B, C, 2**k * h, 2**k * w)`` for k = 1 .. log2(scale)."""
        return self._levels(self.mc_prefix(x))

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        return self._levels(state)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))
