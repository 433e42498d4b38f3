"""SRGAN's VGG-style discriminator, also ESRGAN's (not an SRModel: it scores images)."""

from __future__ import annotations

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import conv, record_init_kwargs

ADVERSARIAL_MODELS = frozenset({"srgan", "esrgan"})
"""Registered model names that the trainer trains against a :class:`Discriminator`
(``srgan`` is SRResNet's generator, ``esrgan`` RRDBNet's)."""


class Discriminator(nn.Module):
    """VGG-style discriminator: eight 3x3 conv blocks (``channels`` doubling to
    ``8 * channels``, every second one with stride 2), BN after all but the first,
    LeakyReLU 0.2, then global average pooling (so any patch size works), a dense layer of
    ``hidden`` units with LeakyReLU and one logit per image: ``(B, 1)``.

    Small config for tests: ``Discriminator(channels=4, hidden=8)``.
    """

    @record_init_kwargs
    def __init__(self, in_channels: int = 3, channels: int = 64, hidden: int = 1024) -> None:
        super().__init__()
        check_count("channels", channels)
        check_count("hidden", hidden)
        widths = [channels * 2**level for level in range(4) for _ in range(2)]
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths):
            layers.append(conv(previous, width, 3, stride=1 + index % 2))
            if index > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(previous, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
