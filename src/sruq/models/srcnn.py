"""SRCNN (Dong et al. 2014) and ESRCNN, its MC-dropout version from our seed work."""

from __future__ import annotations

from torch import nn

from sruq.models.common import (
    HeadBodySR,
    check_choice,
    check_dropout,
    conv,
    conv_act_dropout,
    record_init_kwargs,
)

SRCNN_KERNELS = ("9-1-5", "9-3-5", "9-5-5")


class SRCNN(HeadBodySR):
    """SRCNN on the MATLAB-bicubic-enlarged input: conv ``k1`` -> ReLU -> conv ``k2`` -> ReLU ->
    conv ``k3``, with ``n1``/``n2`` feature maps and 'same' padding (output = input size).

    ``kernels`` is ``"9-1-5"`` (the paper's base model) or ``"9-3-5"``/``"9-5-5"``.  A dropout
    layer (``nn.Dropout``, rate ``dropout``) follows each hidden ReLU.  ``residual`` adds the
    bicubic input to the output (the network learns the missing detail, as VDSR; the MC
    prefix then also carries the input).  Small config for tests:
    ``build_model("srcnn", 2, n1=8, n2=4)``.
    """

    pre_upsample = True

    @record_init_kwargs
    def __init__(
        self,
        scale: int,
        in_channels: int = 3,
        kernels: str = "9-1-5",
        n1: int = 64,
        n2: int = 32,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__(scale, in_channels)
        self.residual = bool(residual)
        k1, k2, k3 = (int(k) for k in check_choice("kernels", kernels, SRCNN_KERNELS).split("-"))
        hidden = conv_act_dropout(
            [in_channels, n1, n2], [k1, k2], lambda _: nn.ReLU(), check_dropout(dropout)
        )
        self._split([*hidden, conv(n2, in_channels, k3)])


class ESRCNN(SRCNN):
    """ESRCNN as in its recipe (config/seeds/esrcnn.yaml): bicubic x``scale`` -> 9x9 conv 64
    + ReLU -> dropout -> 1x1 conv 32 + ReLU -> dropout -> 5x5 conv to ``in_channels``
    ('same' padding), dropout rate 0.04.

    The MC prefix is the upsampling, the first convolution and its ReLU.  ``residual=True``
    (not in the recipe) adds the bicubic input to the output: the dropout then perturbs only
    the predicted detail, so the MC std follows edges and texture instead of brightness
    (docs/recipes.md).
    """

    @record_init_kwargs
    def __init__(self, scale: int, in_channels: int = 3, dropout: float = 0.04,
                 residual: bool = False) -> None:
        super().__init__(scale, in_channels, kernels="9-1-5", n1=64, n2=32, dropout=dropout,
                         residual=residual)
