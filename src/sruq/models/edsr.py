"""EDSR-baseline (Lim et al. 2017): residual blocks without batch norm."""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import (
    ResidualBlock,
    ResidualTrunkSR,
    check_dropout,
    conv,
    pixel_shuffle_upsampler,
    record_init_kwargs,
)

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
"""Mean colour of DIV2K in [0, 1], what EDSR subtracts from its input."""


class MeanShift(nn.Module):
    """Add a fixed per-channel offset (a non-persistent buffer: checkpoints do not hold it)."""

    def __init__(self, offset: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("offset", torch.tensor(offset).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset


class EDSRBaseline(ResidualTrunkSR):
    """EDSR-baseline: (mean shift) -> 3x3 conv -> ``n_blocks`` residual blocks (no BN, scaled
    by ``res_scale``) -> 3x3 conv -> dropout -> global skip -> pixel shuffle (x2 steps or one
    x3, no activation) -> 3x3 conv -> (mean shift back).  Scales 2, 3, 4, 8.

    ``mean_shift`` subtracts the DIV2K mean colour for RGB input (0.5 per channel otherwise)
    and adds it back at the end.  ``dropout`` is the rate of an ``nn.Dropout2d`` before the
    global skip, as in SRResBNN; ``residual`` adds the bicubic-enlarged input to the output.
    Small config: ``build_model("edsr-baseline", 2, n_blocks=1, channels=8)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        n_blocks: int = 16,
        channels: int = 64,
        res_scale: float = 1.0,
        mean_shift: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__(scale, in_channels)
        self.residual = bool(residual)
        check_count("n_blocks", n_blocks)
        check_count("channels", channels)
        mean = DIV2K_RGB_MEAN if in_channels == 3 else (0.5,) * in_channels
        shift_in = [MeanShift(tuple(-m for m in mean))] if mean_shift else []
        shift_out = [MeanShift(mean)] if mean_shift else []
        self.head = nn.Sequential(*shift_in, conv(in_channels, channels, 3))
        self.trunk = nn.Sequential(
            *(ResidualBlock(channels, res_scale) for _ in range(n_blocks)),
            conv(channels, channels, 3),
        )
        self.dropout = nn.Dropout2d(check_dropout(dropout))
        self.upsampler = pixel_shuffle_upsampler(channels, self.scale, "edsr-baseline")
        self.tail = nn.Sequential(conv(channels, in_channels, 3), *shift_out)
