"""FSRCNN (Dong et al. 2016): work at low resolution, upsample with a transposed convolution."""

from __future__ import annotations

from torch import nn

from sruq.models.common import HeadBodySR, check_dropout, conv_act_dropout, record_init_kwargs


class FSRCNN(HeadBodySR):
    """FSRCNN(d, s, m): 5x5 conv to ``d`` -> 1x1 shrink to ``s`` -> ``m`` 3x3 convs -> 1x1
    expand to ``d`` (each followed by PReLU) -> 9x9 transposed convolution with stride ``scale``.

    A dropout layer (``nn.Dropout``, rate ``dropout``) follows each hidden PReLU.  Works for any
    integer scale.  Small config for tests: ``build_model("fsrcnn", 2, d=8, s=4, m=1)``.
    """

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(scale, in_channels)
        hidden = conv_act_dropout(
            [in_channels, d, s, *([s] * m), d],
            [5, 1, *([3] * m), 1],
            nn.PReLU,
            check_dropout(dropout),
        )
        deconv = nn.ConvTranspose2d(
            d, in_channels, 9, stride=self.scale, padding=4, output_padding=self.scale - 1
        )
        self._split([*hidden, deconv])
