"""SRResNet (Ledig et al. 2017), the SRGAN generator, and SRResBNN (its MC-dropout version)."""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import (
    ResidualTrunkSR,
    check_dropout,
    conv,
    pixel_shuffle_upsampler,
    record_init_kwargs,
)


class ResidualBlockBN(nn.Module):
    """``x + BN(conv(PReLU(BN(conv(x)))))`` with 3x3 convolutions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3),
            nn.BatchNorm2d(channels),
            nn.PReLU(),
            conv(channels, channels, 3),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(ResidualTrunkSR):
    """SRResNet: 9x9 conv + PReLU -> ``n_blocks`` residual blocks (conv-BN-PReLU-conv-BN) ->
    3x3 conv + BN -> dropout -> global skip -> pixel-shuffle upsampling (x2 steps + PReLU, or
    one x3) -> 9x9 conv.  Scales 2, 3, 4, 8.

    ``dropout`` is the rate of the ``nn.Dropout2d`` before the global skip (0 here; SRResBNN
    uses 0.2); ``residual`` adds the bicubic-enlarged input to the output (see
    :class:`~sruq.models.common.ResidualTrunkSR`).  Registered as ``"srresnet"`` and as
    ``"srgan"``, the same generator: for ``"srgan"`` the trainer adds
    :class:`sruq.models.Discriminator` and the adversarial loss.
    Small config for tests: ``build_model("srresnet", 4, n_blocks=1, channels=8)``.
    """

    batch_norm = True
    outputs_per_channel = 1
    """Output maps per image channel (2 for the heteroscedastic head: mean and log-variance)."""

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        n_blocks: int = 16,
        channels: int = 64,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__(scale, in_channels)
        self.residual = bool(residual)
        check_count("n_blocks", n_blocks)
        check_count("channels", channels)
        self.head = nn.Sequential(conv(in_channels, channels, 9), nn.PReLU())
        self.trunk = nn.Sequential(
            *(ResidualBlockBN(channels) for _ in range(n_blocks)),
            conv(channels, channels, 3),
            nn.BatchNorm2d(channels),
        )
        self.dropout = nn.Dropout2d(check_dropout(dropout))
        self.upsampler = pixel_shuffle_upsampler(channels, self.scale, "srresnet", nn.PReLU)
        self.tail = conv(channels, in_channels * self.outputs_per_channel, 9)


class SRResBNN(SRResNet):
    """SRResBNN as in its recipe (config/seeds/srresbnn.yaml): SRResNet with
    ``nn.Dropout2d(p=0.2)`` after the trunk's last conv + BN, before the global skip.
    MC prefix: ``(trunk features, head features)``."""

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        n_blocks: int = 16,
        channels: int = 64,
        dropout: float = 0.2,
        residual: bool = False,
    ) -> None:
        super().__init__(scale, in_channels, n_blocks, channels, dropout, residual)
