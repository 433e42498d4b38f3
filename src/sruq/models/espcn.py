"""ESPCN (Shi et al. 2016): efficient sub-pixel convolution at the end of the network."""

from __future__ import annotations

from torch import nn

from sruq.models.common import HeadBodySR, check_dropout, conv, conv_act_dropout, record_init_kwargs


class ESPCN(HeadBodySR):
    """ESPCN: 5x5 conv ``n1`` + tanh -> 3x3 conv ``n2`` + tanh -> 3x3 conv to
    ``in_channels * scale**2`` -> one pixel shuffle by ``scale``.

    A dropout layer (``nn.Dropout``, rate ``dropout``) follows each hidden tanh.  Works for any
    integer scale.  Small config for tests: ``build_model("espcn", 3, n1=8, n2=4)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        n1: int = 64,
        n2: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(scale, in_channels)
        hidden = conv_act_dropout(
            [in_channels, n1, n2], [5, 3], lambda _: nn.Tanh(), check_dropout(dropout)
        )
        tail = [conv(n2, in_channels * self.scale**2, 3), nn.PixelShuffle(self.scale)]
        self._split([*hidden, *tail])
