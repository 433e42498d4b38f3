"""Building blocks shared by the model families: argument checks, upsamplers, init recording."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.core.imresize import imresize
from sruq.models.base import MCState, SRModel

InitT = TypeVar("InitT", bound=Callable[..., None])


def _jsonable(value: Any) -> Any:
    """Tuples become lists so that ``init_kwargs`` survives a JSON round trip unchanged."""
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def record_init_kwargs(init: InitT) -> InitT:
    """Decorate ``__init__`` to store every argument (defaults included) in ``self.init_kwargs``.

    ``build_model(name, **model.init_kwargs)`` then rebuilds the same architecture, which is
    what a checkpoint needs.  In a subclass chain the outermost ``__init__`` wins, because the
    attribute is written after the wrapped ``__init__`` returns.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        self.init_kwargs = {key: _jsonable(value) for key, value in arguments.items()}

    return wrapper  # type: ignore[return-value]


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise a one-line ``ValueError``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_dropout(value: float) -> float:
    """Return the dropout rate if it lies in ``[0, 1)``; otherwise raise ``ValueError``."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value!r}")
    return float(value)


def is_power_of_two(value: int) -> bool:
    """Whether ``value`` is 2, 4, 8, ... (1 does not count: it is no upscaling)."""
    return value >= 2 and value & (value - 1) == 0


def shuffle_steps(scale: int, model: str) -> list[int]:
    """Upsampling factors whose product is ``scale``: x2 steps, or one x3 step (what every
    stepwise upsampler of :func:`upsampler` runs; the name is from the sub-pixel one).

    Raises ``ValueError`` naming ``model`` for any other scale (as SRResNet and EDSR).
    """
    if scale == 3:
        return [3]
    if is_power_of_two(scale):
        return [2] * int(math.log2(scale))
    raise ValueError(f"{model} supports scale 3 or a power of two, got scale {scale}")


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB-compatible bicubic enlargement (the pre-upsampling of SRCNN, VDSR, ESRCNN)."""
    return imresize(x, scale=scale, kernel="cubic")


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """Convolution with 'same' padding for odd kernels (stride 1)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)


def transposed_conv(in_channels: int, out_channels: int, factor: int) -> nn.ConvTranspose2d:
    """Transposed convolution that enlarges exactly ``factor`` times: stride ``factor``,
    kernel ``factor + 2 * (factor // 2)``, padding ``factor // 2`` (4x4 / 2 / 1 at x2, as
    LapSRN and DCGAN; 5x5 / 3 / 1 at x3)."""
    half = factor // 2
    return nn.ConvTranspose2d(in_channels, out_channels, factor + 2 * half, factor, half)


class ZeroInsertion(nn.Module):
    """Unpooling by zero insertion: each input pixel goes to the top-left corner of its
    ``factor x factor`` cell of the output and the other ``factor**2 - 1`` entries are 0.

    This is ``nn.MaxUnpool2d(factor)`` with every index fixed at the top-left of its cell
    (as the decoders of Dosovitskiy et al. 2015 and Zeiler et al. 2011 without switches),
    written as a strided assignment so no index tensor is needed.  Output
    ``(B, C, factor * h, factor * w)``; no parameters.
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = check_count("factor", factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        f = self.factor
        out = x.new_zeros(b, c, h * f, w * f)
        out[:, :, ::f, ::f] = x
        return out


UPSAMPLERS = ("subpixel", "transposed", "unpooling", "nearest")
"""Kinds of :func:`upsampler`, each run per x2 step (or one x3 step) keeping ``channels``."""


def _upsampling_step(kind: str, channels: int, factor: int) -> list[nn.Module]:
    """The layers of one step of :func:`upsampler` (``kind`` already checked)."""
    if kind == "subpixel":
        return [conv(channels, channels * factor**2, 3), nn.PixelShuffle(factor)]
    if kind == "transposed":
        return [transposed_conv(channels, channels, factor)]
    if kind == "unpooling":
        return [ZeroInsertion(factor), conv(channels, channels, 2 * factor + 1)]
    return [nn.Upsample(scale_factor=factor, mode="nearest"), conv(channels, channels, 3)]


def upsampler(
    kind: str,
    channels: int,
    scale: int,
    model: str,
    activation: Callable[[], nn.Module] | None = None,
) -> nn.Sequential:
    """Learned upsampling by ``scale`` (x2 steps, or one x3; ``model`` names the refusal of
    other scales), ``channels`` maps in and out.  Per step of factor ``r``:

    * ``subpixel``: 3x3 conv to ``r**2`` times the channels and a pixel shuffle (ESPCN);
    * ``transposed``: a :func:`transposed_conv` (FSRCNN, LapSRN);
    * ``unpooling``: :class:`ZeroInsertion` then a ``(2r+1) x (2r+1)`` conv, so every output
      pixel sees 2-3 input pixels per axis (as the 3x3 conv of the sub-pixel step does);
    * ``nearest``: nearest-neighbour enlargement then a 3x3 conv (ESRGAN).

    ``activation`` (e.g. ``nn.PReLU``) follows each step when given.
    """
    check_choice("upsampler", kind, UPSAMPLERS)
    layers: list[nn.Module] = []
    for factor in shuffle_steps(scale, model):
        layers += _upsampling_step(kind, channels, factor)
        if activation is not None:
            layers.append(activation())
    return nn.Sequential(*layers)


def pixel_shuffle_upsampler(
    channels: int, scale: int, model: str, activation: Callable[[], nn.Module] | None = None
) -> nn.Sequential:
    """Sub-pixel upsampler: per step a 3x3 conv to ``r**2`` times the channels and a shuffle.

    ``activation`` (e.g. ``nn.PReLU``) follows each shuffle when given.
    """
    return upsampler("subpixel", channels, scale, model, activation)


def conv_act_dropout(
    widths: list[int],
    kernels: list[int],
    activation: Callable[[int], nn.Module],
    dropout: float,
) -> list[nn.Module]:
    """Hidden layers ``conv -> activation -> dropout`` from ``widths[i]`` to ``widths[i + 1]``.

    ``activation`` gets the layer's output channels (for ``nn.PReLU``).  The dropout module
    is always there (a rate of 0 is a no-op) so the MC split does not depend on the rate.
    """
    layers: list[nn.Module] = []
    for c_in, c_out, k in zip(widths[:-1], widths[1:], kernels, strict=True):
        layers += [conv(c_in, c_out, k), activation(c_out), nn.Dropout(dropout)]
    return layers


class ResidualBlock(nn.Module):
    """``x + res_scale * conv(ReLU(conv(x)))`` with 3x3 convolutions (EDSR, no batch norm)."""

    def __init__(self, channels: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3), nn.ReLU(), conv(channels, channels, 3)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class HeadBodySR(SRModel):
    """Feed-forward model ``body(head(x))``, optionally on the bicubic-enlarged input, and
    optionally residual (``input + body(head(input))``, as VDSR: the network learns the
    detail bicubic misses).

    ``head`` is the deterministic part before the first dropout layer (first convolution and
    its activation), so it is the MC prefix (with the input, for a residual model); ``body``
    begins with that dropout layer.  Subclasses call :meth:`_split` with their layer list
    and set ``pre_upsample`` and ``residual``.
    """

    pre_upsample: bool = False
    residual: bool = False
    head: nn.Sequential
    body: nn.Sequential

    def _split(self, layers: list[nn.Module]) -> None:
        """Make ``head`` the first convolution and its activation, ``body`` the rest."""
        self.head = nn.Sequential(*layers[:2])
        self.body = nn.Sequential(*layers[2:])

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_upsample(x, self.scale) if self.pre_upsample else x

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        inputs = self._input(x)
        features = self.head(inputs)
        return (features, inputs) if self.residual else features

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        if self.residual:
            features, inputs = state
            return inputs + self.body(features)
        assert isinstance(state, torch.Tensor)
        return self.body(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))


class ResidualTrunkSR(SRModel):
    """``tail(upsampler(dropout(trunk(h)) + h))`` with ``h = head(x)`` (SRResNet, EDSR).

    The MC prefix is ``(trunk(h), h)``: everything before the single dropout layer, which
    sits after the trunk's last convolution and before the global skip.  With ``residual``
    (not in the papers) the bicubic-enlarged input is added to the output (to the mean of a
    heteroscedastic head), so the network learns only the detail bicubic misses and its
    dropout perturbs only that detail; the prefix then also carries the enlarged input.
    """

    head: nn.Module
    trunk: nn.Module
    dropout: nn.Module
    upsampler: nn.Module
    tail: nn.Module
    residual: bool = False

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        features = self.head(x)
        if self.residual:
            return self.trunk(features), features, bicubic_upsample(x, self.scale)
        return self.trunk(features), features

    def _decode(self, state: MCState) -> torch.Tensor:
        """Every output channel of the tail for a prefix state."""
        trunk, head = state[0], state[1]
        out = self.tail(self.upsampler(self.dropout(trunk) + head))
        if not self.residual:
            return out
        base = state[2]
        mean = out[:, : base.shape[1]] + base
        return torch.cat([mean, out[:, base.shape[1]:]], dim=1) if out.shape[1] > base.shape[1] \
            else mean

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        return self._decode(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))
