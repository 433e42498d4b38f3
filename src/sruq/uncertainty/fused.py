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
engine then applies the ReLUs and element-wise dropouts right after the pair in place on
its output (:meth:`sruq.uncertainty.mc._MaskSampler.sequential`).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

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


def _csr(pix: torch.Tensor, col: torch.Tensor, values: torch.Tensor, rows: int, cols: int,
         crow: torch.Tensor) -> torch.Tensor:
    """The ``rows x cols`` CSR matrix of ``values`` at ascending rows ``pix``, columns ``col``
    (``crow``: ``rows + 1`` elements to hold the row offsets)."""
    crow[0] = 0
    torch.cumsum(torch.bincount(pix, minlength=rows), 0, out=crow[1:])
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, (rows, cols), check_invariants=False)


def _entries(product: SharedProduct, dropped: torch.Tensor, ascending: bool
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(row, channel, x0 value)`` of each dropped element (flat indices into ``(N, H, W,
    C)`` channels-last, ``N`` a multiple of ``x0``'s batch, sample-major)."""
    c, k = product.channels, len(dropped)
    pix = product.scratch("pix", k, dropped.dtype)
    col = product.scratch("col", k, dropped.dtype)
    if c & (c - 1):
        torch.div(dropped, c, rounding_mode="floor", out=pix)
        torch.sub(dropped, pix * c, out=col)
    else:  # a power of two: shift and mask
        torch.bitwise_right_shift(dropped, c.bit_length() - 1, out=pix)
        torch.bitwise_and(dropped, c - 1, out=col)
    source, per_sample = product.values, product.values.numel()
    values = product.scratch("values", k, source.dtype)
    samples = int(dropped[-1]) // per_sample + 1 if ascending else 0
    if samples == 1:
        return pix, col, torch.index_select(source, 0, dropped, out=values)
    if not ascending:
        return pix, col, source.index_select(0, torch.remainder(dropped, per_sample))
    cuts = [0, *torch.searchsorted(dropped, torch.arange(1, samples) * per_sample).tolist(),
            len(dropped)]
    index = product.scratch("index", k, dropped.dtype)
    for sample, (a, b) in enumerate(zip(cuts, cuts[1:])):  # each sample's drops: one slice
        torch.sub(dropped[a:b], sample * per_sample, out=index[a:b])
        torch.index_select(source, 0, index[a:b], out=values[a:b])
    return pix, col, values


def dropout_conv(product: SharedProduct, dropped: list[torch.Tensor], samples: int,
                 buffer: torch.Tensor | None = None) -> torch.Tensor:
    """The 1x1 convolution of ``samples`` dropped-out copies of the prefix state.

    ``dropped``: the dropped elements of the ``(samples B, H, W, C)`` channels-last input,
    as :func:`~sruq.uncertainty.masks.element_drops` gives them with ``ordered=True``: an
    ascending part, subtracted as one sparse (CSR) matrix product, and a small rest,
    subtracted row by row.  Returns ``(samples B, C_out, H, W)`` channels-last, in a flat
    buffer with one spare element (reusing ``buffer`` when it is one of the same size),
    like the engine's dropout outputs, so that a dropout after it can work in place.
    """
    b, c_out, h, w = product.shape
    n = samples * b
    numel = n * c_out * h * w
    if buffer is None or buffer.numel() != numel + 1 or buffer.dtype != product.rows.dtype:
        buffer = torch.empty(numel + 1, dtype=product.rows.dtype, device=product.rows.device)
    out = buffer[:numel].view(samples, b * h * w, c_out)
    out.copy_(product.rows.expand(samples, -1, -1))
    out = out.view(n * h * w, c_out)
    ascending, rest = dropped
    if len(ascending):
        pix, col, values = _entries(product, ascending, ascending=True)
        crow = product.scratch("crow", n * h * w + 1, pix.dtype)
        csr = _csr(pix, col, values, n * h * w, product.channels, crow)
        out.addmm_(csr, product.weight_t, alpha=-product.scale)
    if len(rest):
        pix, col, values = _entries(product, rest, ascending=False)
        terms = product.weight_t.index_select(0, col).mul_(values[:, None])
        out.index_add_(0, pix, terms, alpha=-product.scale)
    return buffer[:numel].view(n, h, w, c_out).permute(0, 3, 1, 2)
