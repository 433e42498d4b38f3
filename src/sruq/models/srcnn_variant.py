"""SRCNN variants from our seed work: where to upsample, and which block to stack.

One configurable network: a 9x9 head convolution with ReLU, ``depth`` blocks (plain,
residual or inception) each followed by dropout, an upsampling stage chosen by
``upsampling`` (and for post/progressive upsampling its layers by ``upsampler``) and a 5x5
reconstruction convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import (
    UPSAMPLERS,
    HeadBodySR,
    ResidualBlock,
    check_choice,
    check_dropout,
    conv,
    is_power_of_two,
    record_init_kwargs,
)
from sruq.models.common import upsampler as build_upsampler

UPSAMPLINGS = ("pre", "post", "progressive", "iterative")
BLOCKS = ("plain", "residual", "inception")

PROJECTION_GEOMETRY = {2: (6, 2, 2), 3: (7, 3, 2), 4: (8, 4, 2), 8: (12, 8, 2)}
"""Kernel, stride and padding of DBPN's projection units for each scale."""


class InceptionBlock(nn.Module):
    """Parallel 9x9, 5x5, 3x3 and 1x1 convolutions, ``channels / 4`` maps each, concatenated,
    then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(f"width must be a multiple of 4 for inception blocks, got {channels}")
        self.branches = nn.ModuleList(conv(channels, channels // 4, k) for k in (9, 5, 3, 1))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(torch.cat([branch(x) for branch in self.branches], dim=1))


def make_block(kind: str, channels: int) -> nn.Module:
    """One block of the given kind, ``channels`` maps in and out."""
    if kind == "plain":
        return nn.Sequential(conv(channels, channels, 3), nn.ReLU())
    if kind == "residual":
        return ResidualBlock(channels)
    return InceptionBlock(channels)


def _resample(channels: int, scale: int, up: bool) -> nn.Sequential:
    """Strided (transposed) convolution that changes the resolution by ``scale``, then ReLU."""
    kernel, stride, padding = PROJECTION_GEOMETRY[scale]
    layer = nn.ConvTranspose2d if up else nn.Conv2d
    return nn.Sequential(layer(channels, channels, kernel, stride, padding), nn.ReLU())


class _Projection(nn.Module):
    """DBPN projection unit: ``there`` maps to the other resolution, ``back`` returns, and
    ``again`` projects the back-projection error: output ``t + again(back(t) - x)``, ``t =
    there(x)``.  ``up`` selects the up-projection (else the down-projection)."""

    def __init__(self, channels: int, scale: int, up: bool) -> None:
        super().__init__()
        self.there = _resample(channels, scale, up)
        self.back = _resample(channels, scale, not up)
        self.again = _resample(channels, scale, up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        there = self.there(x)
        return there + self.again(self.back(there) - x)


class IterativeUpsampler(nn.Module):
    """``projections`` alternating up/down back-projection units (DBPN, small); returns the
    concatenation of every up-projection's high-resolution features."""

    def __init__(self, channels: int, scale: int, projections: int) -> None:
        super().__init__()
        if scale not in PROJECTION_GEOMETRY:
            known = ", ".join(str(s) for s in PROJECTION_GEOMETRY)
            raise ValueError(f"iterative upsampling supports scales {known}, got scale {scale}")
        self.ups = nn.ModuleList(_Projection(channels, scale, up=True) for _ in range(projections))
        self.downs = nn.ModuleList(
            _Projection(channels, scale, up=False) for _ in range(projections - 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        highs = [self.ups[0](x)]
        for down, up in zip(self.downs, self.ups[1:]):
            highs.append(up(down(highs[-1])))
        return torch.cat(highs, dim=1)


class SRCNNVariant(HeadBodySR):
    """Configurable SRCNN: ``upsampling`` x ``block`` x ``depth`` x ``width``.

    * ``pre``: MATLAB bicubic enlargement first, everything at high resolution (any scale);
    * ``post``: upsampling after the blocks (x2 steps, or one x3; scale 2, 3, 4, 8);
    * ``progressive``: ``depth`` blocks then a x2 upsampling step, repeated (powers of two);
    * ``iterative``: ``projections`` up/down back-projection units after the blocks, DBPN-like
      (scale 2, 3, 4, 8).

    Blocks: ``plain`` (3x3 conv + ReLU), ``residual`` (two 3x3 convs and a skip) or
    ``inception`` (parallel 9/5/3/1 convolutions concatenated; ``width`` a multiple of 4).
    ``upsampler`` picks the layers of each post/progressive step, each followed by ReLU:
    ``subpixel`` (default: 3x3 conv + pixel shuffle), ``transposed`` (transposed conv),
    ``unpooling`` (zero insertion at the top-left of each cell + conv) or ``nearest``
    (nearest-neighbour + 3x3 conv); see :func:`~sruq.models.common.upsampler`.  Pre and
    iterative upsampling have no such choice and refuse another value.
    A dropout layer (``nn.Dropout``, rate ``dropout``) follows the head and every block, so
    the MC prefix is the (upsampling and) head.  Small config for tests:
    ``build_model("srcnn-variant", 2, upsampling="post", block="residual", depth=1, width=8)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        upsampling: str = "pre",
        block: str = "plain",
        depth: int = 2,
        width: int = 64,
        projections: int = 2,
        dropout: float = 0.0,
        upsampler: str = "subpixel",
    ) -> None:
        super().__init__(scale, in_channels)
        check_choice("upsampling", upsampling, UPSAMPLINGS)
        check_choice("upsampler", upsampler, UPSAMPLERS)
        if upsampler != "subpixel" and upsampling not in ("post", "progressive"):
            raise ValueError(f"upsampler applies to post and progressive upsampling only, got "
                             f"upsampler {upsampler!r} with upsampling {upsampling!r}")
        check_choice("block", block, BLOCKS)
        check_count("depth", depth)
        check_count("width", width)
        check_count("projections", projections)
        self.pre_upsample = upsampling == "pre"
        rate = check_dropout(dropout)

        def blocks() -> list[nn.Module]:
            return [m for _ in range(depth) for m in (make_block(block, width), nn.Dropout(rate))]

        layers: list[nn.Module] = [conv(in_channels, width, 9), nn.ReLU(), nn.Dropout(rate)]
        tail_width = width
        if upsampling == "progressive":
            if not is_power_of_two(self.scale):
                raise ValueError(
                    f"progressive upsampling supports powers of two, got scale {self.scale}"
                )
            for _ in range(self.scale.bit_length() - 1):
                layers += [*blocks(), *build_upsampler(upsampler, width, 2, "progressive", nn.ReLU)]
        else:
            layers += blocks()
        if upsampling == "post":
            layers += build_upsampler(upsampler, width, self.scale, "post upsampling", nn.ReLU)
        elif upsampling == "iterative":
            layers.append(IterativeUpsampler(width, self.scale, projections))
            tail_width = width * projections
        layers.append(conv(tail_width, in_channels, 5))
        self._split(layers)
