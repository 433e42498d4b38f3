"""VDSR (Kim et al. 2016): a deep plain network that learns the residual over bicubic."""

from __future__ import annotations

from torch import nn

from sruq.core.errors import check_count
from sruq.models.common import (
    HeadBodySR,
    check_dropout,
    conv,
    conv_act_dropout,
    record_init_kwargs,
)


class VDSR(HeadBodySR):
    """VDSR: ``bicubic(x) + net(bicubic(x))`` where ``net`` is ``depth`` 3x3 convolutions with
    ``channels`` maps and ReLU between them (``depth`` counts every convolution, 20 in the paper).

    A dropout layer (``nn.Dropout``, rate ``dropout``) follows each hidden ReLU.  The MC prefix
    is ``(first features, bicubic input)``.  Small config for tests:
    ``build_model("vdsr", 2, depth=3, channels=8)``.
    """

    pre_upsample = True
    residual = True

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        depth: int = 20,
        channels: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(scale, in_channels)
        if check_count("depth", depth) < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        hidden = conv_act_dropout(
            [in_channels, *([channels] * (depth - 1))],
            [3] * (depth - 1),
            lambda _: nn.ReLU(),
            check_dropout(dropout),
        )
        self._split([*hidden, conv(channels, in_channels, 3)])
