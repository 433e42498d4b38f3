"""The MC engine's fused path: an element-wise dropout and the 1x1 convolution after it.

A 1x1 convolution is linear in its input, so for a dropout mask ``m_t`` (1 kept, 0 dropped)
with keep rate ``q = 1 - p`` (inverted dropout scales the kept elements by ``1 / q``)

    conv(m_t * x / q) = (W x - W ((1 - m_t) * x)) / q + b

where ``W x`` is the convolution without its bias.  When ``x`` is the same in every sample
(the engine's prefix state, repeated along the batch), ``W x / q + b`` is computed once per
``mc_predict`` call (:class:`SharedProduct`) and sample ``t`` only subtracts
``W[:, c] x[c, i, j] / q`` at its dropped elements: about ``p`` of them, a sparse
row-compressed (CSR) matrix of the dropped values times ``W^T`` (:func:`dropout_conv`).
Neither the repeated state, nor its scaled and masked copy, nor the dense convolution of
every sample is computed.  The masks are the engine's own (:mod:`sruq.uncertainty.masks`,
drawn in ascending order), so the result is :func:`~sruq.uncertainty.mc.mc_naive`'s up to
float rounding.

Where it applies (:func:`fusable_pairs`, checked again per call by the engine): inside a
plain ``nn.Sequential`` (its own ``forward``, so the dropout's output goes to the next
module and nowhere else), an active ``nn.Dropout`` (``0 < p < 1``) directly followed by an
``nn.Conv2d`` with a 1x1 kernel, stride 1, no padding and one group; no hooks on either
but the engine's mask hook; float32 or float64 on the CPU; and the dropout's input is the
engine's repeated prefix state itself.  Everywhere else the engine's hook path runs.  The
ReLUs and element-wise dropouts right after the pair run in place on its output, band by
band while the band is in the cache (:func:`dropout_conv`,
:meth:`sruq.uncertainty.mc._MaskSampler.sequential`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sruq.uncertainty import masks

FLOAT_TYPES = (torch.float32, torch.float64)
"""Dtypes of the CPU's sparse matrix product (MKL) that the fused path uses."""


def is_plain_1x1(module: nn.Module) -> bool:
    """Whether ``module`` is a 1x1 ``nn.Conv2d`` (stride 1, no padding, one group): a
    per-pixel matrix product plus bias, nothing else."""
    return (
        type(module) is nn.Conv2d
        and module.kernel_size == (1, 1)
        and module.stride == (1, 1)
        and module.padding in ((0, 0), "valid")
        and module.dilation == (1, 1)
        and module.groups == 1
    )


def is_plain_sequential(module: nn.Module) -> bool:
    """An ``nn.Sequential`` that runs its children in order (no subclass, no own forward)."""
    return type(module) is nn.Sequential and "forward" not in vars(module)


def fusable_pairs(model: nn.Module, dropouts: list[nn.Module]) -> dict[nn.Module, set[int]]:
    """The plain ``nn.Sequential`` modules of ``model`` and the positions ``i`` in each
    where one of ``dropouts``, an ``nn.Dropout`` with ``0 < p < 1``, is directly followed
    by a plain 1x1 convolution (:func:`is_plain_1x1`)."""
    active = {id(layer) for layer in dropouts if type(layer) is nn.Dropout and 0 < layer.p < 1}
    pairs: dict[nn.Module, set[int]] = {}
    for module in model.modules():
        if not is_plain_sequential(module):
            continue
        children = list(module)
        starts = {
            i for i, (first, second) in enumerate(zip(children, children[1:]))
            if id(first) in active and is_plain_1x1(second)
        }
        if starts:
            pairs[module] = starts
    return pairs


class SharedProduct:
    """``post (W x0 / q + b)`` for a prefix state ``x0`` ``(B, C, H, W)`` stored
    channels-last: rows ``(B H W, C_out)`` in channels-last order.

    ``post`` is a positive factor applied after the convolution (the inverted scale of a
    dropout further on, folded in).  Keeps ``x0`` itself (its flat channels-last values are
    what a dropped element removes), ``W^T`` ``(C, C_out)`` and the factor of a removed
    element's term, :attr:`scale` ``= post / q``.
    """

    def __init__(self, conv: nn.Conv2d, x0: torch.Tensor, p: float, post: float = 1.0) -> None:
        b, c, h, w = x0.shape
        self.state = x0
        self.scale = post / (1.0 - p)
        self.channels = c
        self.values = x0.permute(0, 2, 3, 1).reshape(-1)  # a view: x0 is channels-last
        self.weight_t = conv.weight.detach().reshape(conv.out_channels, c).t().contiguous()
        rows = self.values.view(b * h * w, c)
        if conv.bias is None:
            self.rows = torch.mm(rows, self.weight_t).mul_(self.scale)
        else:
            bias = conv.bias.detach() * post
            self.rows = torch.addmm(bias, rows, self.weight_t, alpha=self.scale)
        self.shape = (b, conv.out_channels, h, w)
        self.buffers: dict[str, torch.Tensor] = {}

    def scratch(self, name: str, size: int, dtype: torch.dtype) -> torch.Tensor:
        """A tensor of ``size`` elements kept for the next call (its values are garbage):
        fresh memory for every chunk would cost page faults."""
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = self.buffers[name] = torch.empty(size, dtype=dtype,
                                                      device=self.values.device)
        return buffer[:size]


BAND_PIXELS = 8192
"""Output pixels per band of :func:`dropout_conv`: the band's slice of the prefix state (2
MiB at 64 channels) stays in the CPU's cache while each sample of the chunk reads it (2048
to 16384 measured within 1 % of each other on ESRCNN's 512x512 maps, one band 4 % slower)."""


@dataclass(frozen=True)
class TailDropout:
    """An element-wise dropout after the pair (ReLUs between), run in place on its output.

    ``dropped``: its dropped elements in the output block, as
    :func:`~sruq.uncertainty.masks.element_drops` gives them with ``ordered=True``;
    ``scale``: its inverted scale, or None where it was folded into the shared product.
    """

    dropped: list[torch.Tensor]
    scale: float | None


RELU: Literal["relu"] = "relu"
"""A ReLU after the pair, in a :func:`dropout_conv` tail."""

Tail = Sequence[Literal["relu"] | TailDropout]


def _rows_and_channels(flat: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row (pixel) and channel of flat channels-last indices."""
    if channels & (channels - 1):
        rows = torch.div(flat, channels, rounding_mode="floor")
        return rows, flat - rows * channels
    shift = channels.bit_length() - 1  # a power of two: shift and mask
    return torch.bitwise_right_shift(flat, shift), torch.bitwise_and(flat, channels - 1)


def _cuts(flat: torch.Tensor, bounds: torch.Tensor, per_row: int) -> list[list[int]]:
    """Where the ascending flat indices ``flat`` (``per_row`` per row) cross the row
    ``bounds`` ``(samples, bands + 1)``: a slice of ``flat`` per sample and band."""
    if not len(flat):
        return [[0] * bounds.shape[1] for _ in range(bounds.shape[0])]
    return torch.searchsorted(flat, (bounds * per_row).to(flat.dtype)).tolist()


def _row_offsets(rows: torch.Tensor, count: int, crow: torch.Tensor) -> torch.Tensor:
    """CSR row offsets of ascending ``rows`` among ``count`` rows, into ``crow`` (``count +
    1`` elements)."""
    crow[0] = 0
    torch.cumsum(torch.bincount(rows, minlength=count), 0, out=crow[1:])
    return crow


def _csr(crow: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
         ) -> torch.Tensor:
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, shape, check_invariants=False)


def dropout_conv(product: SharedProduct, dropped: list[torch.Tensor], samples: int,
                 buffer: torch.Tensor | None = None, tail: Tail = ()) -> torch.Tensor:
    """The 1x1 convolution of ``samples`` dropped-out copies of the prefix state, then
    ``tail`` (ReLUs and element-wise dropouts) in place on it.

    ``dropped``: the dropped elements of the ``(samples B, H, W, C)`` channels-last input,
    as :func:`~sruq.uncertainty.masks.element_drops` gives them with ``ordered=True``: an
    ascending part, subtracted as a sparse (CSR) matrix product, and a small rest,
    subtracted row by row.  The work runs in bands of :data:`BAND_PIXELS` output pixels,
    each band for every sample before the next band: the band's state, shared rows and
    output stay in the cache from the copy of the shared rows to the last step of the
    tail (on ESRCNN's 512x512 maps the gather of dropped values fell from 8.8 to 5.8 ms
    per sample, the ReLU from 3.7 to 1.5, the zeroing from 3.9 to 1.3).  A tail dropout's
    elements outside its ascending part are zeroed at the end (zeroing commutes with ReLU
    and scaling).  Returns ``(samples B, C_out, H, W)``
    channels-last, in a flat buffer with one spare element (reusing ``buffer`` when it is
    one of the same size), like the engine's dropout outputs.
    """
    b, c_out, h, w = product.shape
    pixels, c = b * h * w, product.channels  # output rows per sample, input channels
    numel = samples * pixels * c_out
    if buffer is None or buffer.numel() != numel + 1 or buffer.dtype != product.rows.dtype:
        buffer = torch.empty(numel + 1, dtype=product.rows.dtype, device=product.rows.device)
    out = buffer[:numel].view(samples * pixels, c_out)
    ascending, rest = dropped
    rest = rest.sort().values
    rows, cols = _rows_and_channels(ascending, c)
    rest_rows, rest_cols = _rows_and_channels(rest, c)
    crow = _row_offsets(rows, samples * pixels,
                        product.scratch("crow", samples * pixels + 1, rows.dtype))
    edges = torch.tensor([*range(0, pixels, BAND_PIXELS), pixels])
    bounds = torch.arange(samples)[:, None] * pixels + edges[None]
    cuts = crow[bounds].tolist()  # the ascending part's slice per sample and band
    source = product.scratch("index", len(ascending), ascending.dtype)  # into the state
    for sample, sample_cuts in enumerate(cuts):
        a, e = sample_cuts[0], sample_cuts[-1]
        torch.sub(ascending[a:e], sample * pixels * c, out=source[a:e])
    rest_cuts = _cuts(rest, bounds, c)
    # per step: None for a ReLU; a dropout's scale, its ascending part and that part's cuts
    steps = [None if not isinstance(step, TailDropout) else
             (step.scale, step.dropped[0].long(), _cuts(step.dropped[0], bounds, c_out))
             for step in tail]
    largest = max((q[j + 1] - q[j] for q in cuts for j in range(len(edges) - 1)), default=0)
    values = product.scratch("values", largest, product.values.dtype)
    for band, (p0, p1) in enumerate(zip(edges.tolist(), edges[1:].tolist())):
        for sample in range(samples):
            r0, r1 = sample * pixels + p0, sample * pixels + p1
            block = out[r0:r1]
            block.copy_(product.rows[p0:p1])
            a, e = cuts[sample][band : band + 2]
            if e > a:
                picked = torch.index_select(product.values, 0, source[a:e], out=values[: e - a])
                csr = _csr(crow[r0 : r1 + 1] - a, cols[a:e], picked, (r1 - r0, c))
                block.addmm_(csr, product.weight_t, alpha=-product.scale)
            a, e = rest_cuts[sample][band : band + 2]
            if e > a:
                picked = product.values.index_select(0, rest[a:e] - sample * pixels * c)
                terms = product.weight_t.index_select(0, rest_cols[a:e]).mul_(picked[:, None])
                block.index_add_(0, rest_rows[a:e] - r0, terms, alpha=-product.scale)
            for step in steps:
                if step is None:
                    block.relu_()
                    continue
                scale, zeroed, zero_cuts = step
                if scale is not None:
                    block.mul_(scale)
                a, e = zero_cuts[sample][band : band + 2]
                masks.zero_at(buffer, zeroed[a:e])
    for dropout in tail:
        if isinstance(dropout, TailDropout):
            masks.zero_at(buffer, dropout.dropped[1])
    n = samples * b
    return buffer[:numel].view(n, h, w, c_out).permute(0, 3, 1, 2)
