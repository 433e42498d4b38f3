"""RRDBNet (Wang et al. 2018), the ESRGAN generator: residual-in-residual dense blocks."""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import (
    ResidualTrunkSR,
    check_dropout,
    conv,
    record_init_kwargs,
    shuffle_steps,
    upsampler,
)

RESIDUAL_SCALE = 0.2
"""ESRGAN's residual scaling, inside each dense block and around each RRDB."""

INIT_SCALE = 0.1
"""ESRGAN's smaller initialisation: Kaiming-normal weights of the dense convolutions x 0.1."""


def leaky_relu() -> nn.LeakyReLU:
    """ESRGAN's activation: LeakyReLU with slope 0.2."""
    return nn.LeakyReLU(0.2)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the input and every earlier output concatenated
    (``num_grow_ch`` new maps each, LeakyReLU 0.2 after the first four); the fifth maps back
    to ``num_feat`` and is added to the input scaled by 0.2.  No batch norm."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            conv(num_feat + i * num_grow_ch, num_grow_ch if i < 4 else num_feat, 3)
            for i in range(5)
        )
        self.act = leaky_relu()
        for layer in self.convs:
            nn.init.kaiming_normal_(layer.weight)
            layer.weight.data.mul_(INIT_SCALE)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.convs[:-1]:
            features.append(self.act(layer(torch.cat(features, dim=1))))
        return x + RESIDUAL_SCALE * self.convs[-1](torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Residual in residual dense block: three :class:`ResidualDenseBlock` in a row, their
    output scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(num_feat, num_grow_ch) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.blocks(x)


class RRDBNet(ResidualTrunkSR):
    """RRDBNet: 3x3 conv -> ``num_block`` RRDBs -> 3x3 conv -> dropout -> global skip ->
    per x2 step (or one x3) nearest-neighbour enlargement + 3x3 conv + LeakyReLU 0.2 ->
    3x3 HR conv + LeakyReLU -> 3x3 conv to the image.  No batch norm.  Scales 2, 3, 4, 8.

    ``num_feat`` maps in the trunk, ``num_grow_ch`` maps added by each dense convolution.
    ``dropout`` is the rate of an ``nn.Dropout2d`` after the trunk, before the global skip
    (as SRResBNN; 0 by default), so MC dropout resamples the upsampler and tail only;
    ``residual`` adds the bicubic-enlarged input to the output (see
    :class:`~sruq.models.common.ResidualTrunkSR`).  Registered as ``"rrdbnet"`` (trained on
    its loss, e.g. ESRGAN's PSNR-oriented L1 model) and as ``"esrgan"``, the same generator:
    for ``"esrgan"`` the trainer adds :class:`sruq.models.Discriminator` and the adversarial
    loss (``train.gan_type: relativistic`` for ESRGAN's RaGAN).
    Small config for tests: ``build_model("rrdbnet", 4, num_feat=8, num_block=1, num_grow_ch=4)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__(scale, in_channels)
        shuffle_steps(self.scale, "rrdbnet")  # refuse a bad scale before building the trunk
        self.residual = bool(residual)
        check_count("num_feat", num_feat)
        check_count("num_block", num_block)
        check_count("num_grow_ch", num_grow_ch)
        self.head = conv(in_channels, num_feat, 3)
        self.trunk = nn.Sequential(
            *(RRDB(num_feat, num_grow_ch) for _ in range(num_block)),
            conv(num_feat, num_feat, 3),
        )
        self.dropout = nn.Dropout2d(check_dropout(dropout))
        self.upsampler = upsampler("nearest", num_feat, self.scale, "rrdbnet", leaky_relu)
        self.tail = nn.Sequential(
            conv(num_feat, num_feat, 3), leaky_relu(), conv(num_feat, in_channels, 3)
        )

