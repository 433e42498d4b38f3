"""Monte-Carlo dropout inference: T stochastic passes that share one deterministic prefix.

The engine (:func:`mc_predict`) runs ``model.mc_prefix`` once, repeats its state along the
batch and runs only ``model.mc_suffix`` for chunks of ``k`` samples at once, streaming the
mean and variance over the chunks (Chan's parallel update), so memory does not grow with T.

Dropout masks do not come from the modules' own RNG.  While sampling, every dropout layer is
in eval mode (an identity) and a forward hook (:meth:`_MaskSampler.hook`) applies a mask
from :mod:`sruq.uncertainty.masks`: a hash of (seed, dropout call, sample index, image,
element position in image coordinates), computed with tensor ops on the activations'
device.  Sample ``t`` therefore gets the same masks whatever the chunk size, the tile grid
(tiles pass their ``origin``) or the device, and the reference loop :func:`mc_naive` (one
full forward per sample) reproduces the engine exactly for the same seed.

Where an element-wise dropout sits on the prefix state and a 1x1 convolution follows it (the
ESRCNN recipe), the engine computes that convolution once and corrects it sparsely per
sample instead of running the hook (:mod:`sruq.uncertainty.fused`, ``fuse=True``): the
state is then not copied per sample, and the ReLUs and element-wise dropouts right after
the convolution work in place on its output (:meth:`_MaskSampler.sequential`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import Any, Literal

import torch
from torch import nn

from sruq.core.errors import check_count
from sruq.models.base import DROPOUT_KINDS, FEATURE_DROPOUT, MC_DROPOUT, MCState, SRModel
from sruq.uncertainty import fused, masks
from sruq.uncertainty.settings import DEFAULT_SAMPLES

DEFAULT_MAX_BYTES = 1 << 30
"""Approximate activation memory one chunk of samples may use (see :func:`_chunk_size`)."""
HEAP_BLOCK_BYTES = 24 << 20
"""Blocks up to this size come from the C heap once :func:`_keep_freed_blocks` ran."""


Suffix = Callable[[MCState], tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class MCResult:
    """Per-pixel MC statistics, float32 on the CPU, shaped like the model output.

    ``std`` is the population standard deviation of the T sampled predictions (epistemic);
    for a heteroscedastic model ``aleatoric_std`` is ``sqrt(mean_t exp(logvar_t))`` and
    :attr:`total_std` combines both (variance of the means + mean of the variances).
    """

    mean: torch.Tensor
    std: torch.Tensor
    one_pass: torch.Tensor
    samples: int
    aleatoric_std: torch.Tensor | None = None

    @property
    def total_std(self) -> torch.Tensor:
        if self.aleatoric_std is None:
            return self.std
        return torch.sqrt(self.std**2 + self.aleatoric_std**2)

    @property
    def prediction(self) -> torch.Tensor:
        """The SR image a method reports: the mean of several passes, else the one pass."""
        return self.mean if self.samples > 1 else self.one_pass

    def check_finite(self, what: str) -> None:
        """``ValueError`` naming ``what`` when the mean, one pass or std holds NaN or inf."""
        for name in ("mean", "one_pass", "std"):
            if not bool(torch.isfinite(getattr(self, name)).all()):
                raise ValueError(f"{what}: the {name.replace('_', ' ')} holds NaN or infinite "
                                 "values (are the weights trained?)")

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> MCResult:
        """The same result with ``fn`` applied to every tensor (e.g. select one image)."""
        aleatoric = self.aleatoric_std
        return replace(
            self,
            mean=fn(self.mean),
            std=fn(self.std),
            one_pass=fn(self.one_pass),
            aleatoric_std=None if aleatoric is None else fn(aleatoric),
        )


def _check_origin(origin: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(origin, tuple)
        or len(origin) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in origin)
    ):
        raise ValueError(f"origin must be two non-negative integers (y, x), got {origin!r}")
    return origin


def _active_dropout(model: nn.Module) -> list[nn.Module]:
    """Dropout layers with ``p > 0``; raises for kinds the mask sampler cannot reproduce."""
    layers = [m for m in model.modules() if isinstance(m, DROPOUT_KINDS) and m.p > 0]
    for layer in layers:
        if not isinstance(layer, MC_DROPOUT):
            raise ValueError(f"MC dropout does not support {type(layer).__name__} layers")
    return layers


def _scaled_layout(x: torch.Tensor, out: torch.Tensor | None, scale: float) -> torch.Tensor:
    """``x * scale`` in a flat buffer of ``numel + 1`` elements, laid out channels-last for
    4-D ``x`` (row-major otherwise), so that masks index it flat; reuses ``out``'s buffer
    when it fits.  The spare last element takes the writes meant for nothing."""
    n = x.numel()
    if out is None or out.shape != x.shape or out.dtype != x.dtype:
        flat = torch.empty(n + 1, dtype=x.dtype, device=x.device)
        if x.ndim == 4:
            b, c, h, w = x.shape
            out = flat[:n].view(b, h, w, c).permute(0, 3, 1, 2)
        else:
            out = flat[:n].view(x.shape)
    return torch.mul(x, scale, out=out)


def _flat(out: torch.Tensor) -> torch.Tensor:
    """The ``numel + 1`` flat buffer behind a tensor from :func:`_scaled_layout`."""
    return out.as_strided((out.numel() + 1,), (1,), out.storage_offset())


class _MaskSampler:
    """Forward hooks that apply reproducible per-sample dropout masks (see module docs)."""

    def __init__(self, layers: list[nn.Module], seed: int) -> None:
        self.layers = layers
        self.layer_ids = {id(layer) for layer in layers}
        self.seed = seed
        self.fused: dict[nn.Module, set[int]] = {}
        self.shared: dict[int, tuple[torch.Tensor, torch.Tensor, int]] = {}
        self.feeds_pair: set[int] = set()
        self.products: dict[tuple[int, int, float], fused.SharedProduct] = {}
        self.outputs: dict[int, torch.Tensor] = {}
        self.batch = 1
        self.start = 0
        self.calls = 0
        self.active = False
        self.reuse = False
        self.buffers: dict[int, torch.Tensor] = {}
        self.origin = (0, 0)
        self.input_size = (1, 1)

    def begin(self, batch: int, active: bool, start: int = 0) -> None:
        """Announce a forward on ``samples * batch`` images, samples ``start, start + 1, ..``
        of the run; resets the call counter."""
        self.batch, self.active, self.start, self.calls = batch, active, start, 0

    def place(self, origin: tuple[int, int], input_size: tuple[int, int]) -> None:
        """The model input is the ``input_size`` (h, w) window at ``origin`` (y, x) of the
        image (LR px): masks are drawn for the window's place in the image."""
        self.origin, self.input_size = origin, input_size

    def _offset(self, height: int, width: int) -> tuple[int, int]:
        """Image coordinates of a ``height x width`` activation's top-left element."""
        if self.origin == (0, 0):
            return 0, 0
        offset = []
        for at, size, length in zip(self.origin, (height, width), self.input_size):
            if at * size % length:
                raise ValueError(
                    f"a dropout input of {height}x{width} for a model input of "
                    f"{self.input_size[0]}x{self.input_size[1]} at {self.origin} has no "
                    "whole-pixel place in the image; use tile origins that map onto it"
                )
            offset.append(at * size // length)
        return offset[0], offset[1]

    def _scaled(self, call: int, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``x * scale`` (:func:`_scaled_layout`); with ``reuse`` it overwrites the output of
        the same call in the previous chunk when the shape matches, because fresh pages cost
        more than the multiply."""
        out = _scaled_layout(x, self.buffers.get(call) if self.reuse else None, scale)
        if self.reuse:
            self.buffers[call] = out
        return out

    def hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        """Replace an eval-mode dropout's output (its input ``x``) by ``x`` masked and scaled.

        The forward hook of every active dropout layer (:meth:`installed`), the core of the
        engine: torch calls it after ``module`` ran on ``args`` (``(x,)``; in eval mode the
        layer's own ``output`` is ``x`` unchanged).  It returns ``None`` to keep that output,
        or the tensor torch passes on instead.

        Outside sampling (``active`` false: the one dropout-free pass) the output stands.
        Otherwise this is dropout call ``i`` of the forward (counted from :meth:`begin`) and
        ``x`` holds ``samples x batch`` images, sample-major, of samples ``start ..
        start + samples - 1``.  Each sample's mask is a function of (seed, ``i``, sample
        index, image, element) only (:mod:`sruq.uncertainty.masks`), drawn on ``x.device``:

        * feature dropout (``Dropout1d/2d/3d``) drops whole channels: ``x`` times a
          ``(N, C, 1, ..)`` tensor of 0 and ``1 / (1 - p)``;
        * element dropout (``Dropout``) scales ``x`` by ``1 / (1 - p)`` (into the previous
          chunk's buffer with ``reuse``) and zeroes the dropped elements, whose positions
          are drawn as a Bernoulli process over the channels-last order, in image
          coordinates for a 4-D ``x`` (the window's ``origin`` times the activation's scale
          relative to the model input; see :meth:`place`) and in row-major order per image
          otherwise.

        ``p = 1`` drops everything, as torch does.
        """
        if not self.active:
            return None
        x = args[0]
        call, keys = self._next_call(x)
        scale = _inverted_scale(module.p)
        if isinstance(module, FEATURE_DROPOUT):
            dropped = masks.feature_drops(keys, self.batch, x.shape[1], module.p)
            mask = torch.where(dropped, 0.0, scale).to(x.dtype)
            return x * mask.view(*x.shape[:2], *([1] * (x.ndim - 2)))
        out = self._scaled(call, x, scale)
        self._zero_dropped(module.p, keys, out)
        return out

    def _next_call(self, x: torch.Tensor) -> tuple[int, torch.Tensor]:
        """The number of this dropout call and its samples' keys (``x``: its input)."""
        call, self.calls = self.calls, self.calls + 1
        samples = x.shape[0] // self.batch
        return call, masks.sample_keys(self.seed, call, self.start, samples, x.device)

    def _element_shape(self, x: torch.Tensor) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """The ``(N, H, W, C)`` block and origin of element masks for ``x`` (4-D: channels-last
        in image coordinates; otherwise row-major per image)."""
        if x.ndim == 4:
            n, c, h, w = x.shape
            return (n, h, w, c), self._offset(h, w)
        return (x.shape[0], 1, 1, x[0].numel()), (0, 0)

    def _zero_dropped(self, p: float, keys: torch.Tensor, out: torch.Tensor) -> None:
        """Zero the dropped elements of ``out``, a tensor with a spare element (see
        :func:`_scaled_layout`)."""
        shape, origin = self._element_shape(out)
        flat = _flat(out)
        for dropped in masks.element_drops(keys, shape, origin, p):
            masks.zero_at(flat, dropped)

    def share(self, repeated: MCState, state: MCState) -> None:
        """Announce that the suffix runs on ``repeated``: the prefix ``state`` repeated along
        the batch (``state`` itself for the dropout-free pass)."""
        pairs = zip(_tensors(repeated), _tensors(state), strict=True)
        self.shared = {id(r): (r, s, j) for j, (r, s) in enumerate(pairs)}

    def _state_of(self, x: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        """``(prefix state tensor, its place in the state)`` when ``x`` is that tensor
        repeated (:meth:`share`), else None."""
        entry = self.shared.get(id(x))
        return None if entry is None or entry[0] is not x else (entry[1], entry[2])

    def _hooks_are_ours(self, *modules: nn.Module) -> bool:
        """Whether torch would run only this sampler's hooks on ``modules`` (none on
        non-dropout modules), so that skipping their calls changes nothing else."""
        if _global_hooks():
            return False
        for module in modules:
            if module._forward_pre_hooks:
                return False
            hooks = list(module._forward_hooks.values())
            if hooks and not (hooks == [self.hook] and id(module) in self.layer_ids):
                return False
        return True

    def _can_fuse(self, dropout: nn.Module, conv: nn.Module, x: torch.Tensor,
                  state: torch.Tensor) -> bool:
        """Whether :func:`fused.dropout_conv` may stand in for ``conv(dropout(x))``."""
        weight = conv.weight
        return (
            x.device.type == "cpu"
            and x.ndim == 4
            and x.dtype in fused.FLOAT_TYPES
            and weight.dtype == x.dtype
            and weight.device == x.device
            and state.is_contiguous(memory_format=torch.channels_last)
            and 0 < dropout.p < 1
            and self._hooks_are_ours(dropout, conv)
        )

    def _in_place_tail(self, modules: list[nn.Module]) -> list[nn.Module]:
        """The ReLUs and element-wise dropouts (``p < 1``) at the start of ``modules``, which
        may run in place on a fused output (no hooks but the mask hook)."""
        tail = []
        for module in modules:
            relu = type(module) is nn.ReLU
            drop = type(module) is nn.Dropout and module.p < 1 and (
                module.p == 0 or id(module) in self.layer_ids)
            if not (relu or drop) or not self._hooks_are_ours(module):
                break
            tail.append(module)
        return tail

    def _tail_steps(self, tail: list[nn.Module], folded: nn.Module | None, x: torch.Tensor,
                    shape: tuple[int, int, int, int], origin: tuple[int, int]
                    ) -> list[Literal["relu"] | fused.TailDropout]:
        """The ReLUs and dropouts after a fused pair as :func:`fused.dropout_conv` runs them,
        each dropout with its masks for the pair's ``(N, H, W, C_out)`` output block (the
        next dropout calls, as the hook path would count them; ``x``: the pair's input)."""
        steps: list[Literal["relu"] | fused.TailDropout] = []
        for module in tail:
            if type(module) is nn.ReLU:
                steps.append(fused.RELU)
            elif module.p > 0:
                _, keys = self._next_call(x)
                dropped = masks.element_drops(keys, shape, origin, module.p, ordered=True)
                scale = None if module is folded else _inverted_scale(module.p)
                steps.append(fused.TailDropout(dropped, scale))
        return steps

    def _fused_run(self, modules: list[nn.Module], x: torch.Tensor, state: torch.Tensor
                   ) -> tuple[torch.Tensor, int]:
        """Run ``modules`` (a fusable dropout, its 1x1 convolution, then what may follow)
        on ``x``, the prefix ``state`` repeated: the pair fused, then the ReLUs and dropouts
        right after it in place on its output, which nothing else holds
        (:func:`fused.dropout_conv`).  The first such dropout's inverted scale is folded
        into the shared product (ReLU commutes with a positive scale), so that it only
        zeroes.  The dropout calls and masks are the hook path's.  Returns the output and
        the number of modules run."""
        dropout, conv = modules[0], modules[1]
        assert isinstance(conv, nn.Conv2d)
        tail = self._in_place_tail(modules[2:])
        drops = [m for m in tail if type(m) is nn.Dropout and m.p > 0]
        folded = drops[0] if drops else None
        call, keys = self._next_call(x)
        shape, origin = self._element_shape(x)
        dropped = masks.element_drops(keys, shape, origin, dropout.p, ordered=True)
        steps = self._tail_steps(tail, folded, x, (*shape[:3], conv.out_channels), origin)
        post = 1.0 if folded is None else _inverted_scale(folded.p)
        key = (id(conv), id(state), post)
        product = self.products.get(key)
        if product is None or product.state is not state:
            product = self.products[key] = fused.SharedProduct(conv, state, dropout.p, post)
        out = fused.dropout_conv(product, dropped, x.shape[0] // state.shape[0],
                                 self.outputs.get(call) if self.reuse else None, steps)
        if self.reuse:
            self.outputs[call] = _flat(out)
        return out, 2 + len(tail)

    def sequential(self, seq: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``seq(x)`` as ``nn.Sequential`` runs it, with the fused path at its fusable pairs.

        The forward of each plain ``nn.Sequential`` that holds an element-wise dropout
        directly followed by a 1x1 convolution (:func:`fused.fusable_pairs`) while the
        sampler is installed.  When such a dropout's input is the prefix state repeated
        (:meth:`share`) in a sampled pass, the pair and the ReLUs and dropouts right after
        it run as :meth:`_fused_run` (the same dropout calls, the same masks).  In the
        dropout-free pass it notes which state tensors go straight into a pair
        (:attr:`feeds_pair`: the engine need not copy them per sample).  Every other
        module runs as usual, hooks and all.
        """
        modules = list(seq)
        starts = self.fused.get(seq, set())
        i = 0
        while i < len(modules):
            found = self._state_of(x) if i in starts else None
            if found is not None and self._can_fuse(modules[i], modules[i + 1], x, found[0]):
                if self.active:
                    x, ran = self._fused_run(modules[i:], x, found[0])
                    i += ran
                    continue
                self.feeds_pair.add(found[1])
            x, i = modules[i](x), i + 1
        return x

    @contextmanager
    def installed(self, model: nn.Module, fuse: bool) -> Iterator[_MaskSampler]:
        """The mask hook on every active dropout layer and, with ``fuse``, the fused path in
        the sequentials that have fusable pairs (:meth:`sequential`)."""
        handles = [layer.register_forward_hook(self.hook) for layer in self.layers]
        self.fused = fused.fusable_pairs(model, self.layers) if fuse else {}
        try:
            with ExitStack() as stack:
                for seq in self.fused:
                    stack.enter_context(_forward_replaced(seq, partial(self.sequential, seq)))
                yield self
        finally:
            for handle in handles:
                handle.remove()


def _inverted_scale(p: float) -> float:
    """What inverted dropout multiplies the kept elements by (0 for ``p = 1``)."""
    keep = 1.0 - p
    return 1.0 / keep if keep > 0 else 0.0


def _global_hooks() -> bool:
    """Whether torch has module hooks registered for every module."""
    from torch.nn.modules import module as torch_module

    return any(getattr(torch_module, name, None)
               for name in ("_global_forward_hooks", "_global_forward_pre_hooks"))


@contextmanager
def _forward_replaced(module: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor]
                      ) -> Iterator[None]:
    """``module.forward`` is ``forward`` inside the block (an instance attribute)."""
    module.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.forward


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Every layer in eval mode inside the block; each module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


@contextmanager
def mc_mode(model: nn.Module, seed: int, fuse: bool = False) -> Iterator[_MaskSampler]:
    """Eval mode and inference mode, dropout masks from a seeded sampler (module docs);
    ``fuse`` enables the fused dropout + 1x1 convolution path (:meth:`_MaskSampler.sequential`).

    BatchNorm therefore uses its running statistics.  (The original SRResBNN code left BatchNorm in
    train mode during MC sampling, so its statistics came from the test batch itself.)
    """
    sampler = _MaskSampler(_active_dropout(model), check_count("seed", seed, 0))
    with eval_mode(model), torch.inference_mode(), sampler.installed(model, fuse):
        yield sampler


def _map_state(state: MCState, fn: Callable[[torch.Tensor], torch.Tensor]) -> MCState:
    return fn(state) if isinstance(state, torch.Tensor) else tuple(fn(t) for t in state)


def _tensors(state: MCState) -> tuple[torch.Tensor, ...]:
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


def _state_nbytes(state: MCState) -> int:
    tensors = [state] if isinstance(state, torch.Tensor) else list(state)
    return sum(t.numel() * t.element_size() for t in tensors)


def _repeat(state: MCState, n: int, views: set[int] | frozenset[int] = frozenset()) -> MCState:
    """``n`` copies of the state along the batch, sample-major: copied, except the tensors
    at the places in ``views`` with a batch of 1, which only the fused path reads (an
    expanded view, no copy)."""
    if n == 1:  # the state itself: a reshaped expand would give odd strides to a size-1 dim
        return state

    def repeat(j: int, t: torch.Tensor) -> torch.Tensor:
        if j in views and t.shape[0] == 1:
            return t.expand(n, *t.shape[1:])
        return t.unsqueeze(0).expand(n, *t.shape).reshape(n * t.shape[0], *t.shape[1:])

    repeated = tuple(repeat(j, t) for j, t in enumerate(_tensors(state)))
    return repeated[0] if isinstance(state, torch.Tensor) else repeated


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t


def _chunk_size(
    samples: int, state: MCState, output: torch.Tensor, max_batch: int | None, max_bytes: int
) -> int:
    """Samples per suffix forward under the memory budget ``max_bytes``.

    A sample's activations are estimated as four times the larger of its prefix state and a
    64-channel feature map at output resolution (what SR suffixes typically hold).  Where
    one sample's feature map fits in :data:`HEAP_BLOCK_BYTES`, a chunk's feature maps stay
    within a third of it (at least one sample), so that the C allocator hands the same
    heap memory back chunk after chunk (:func:`_keep_freed_blocks`); bigger chunks made it
    map and fault fresh pages every time (15-20 % of the engine's time for SRResBNN x2 and
    x4).  Where one sample's feature map is bigger, its pages are fresh anyway and more
    samples per call cost less.
    """
    feature_map = output.numel() * output.element_size() * 64 // max(output.shape[1], 1)
    per_sample = 4 * max(_state_nbytes(state), feature_map)
    k = max(1, min(samples, max_bytes // max(per_sample, 1)))
    if feature_map <= HEAP_BLOCK_BYTES:
        k = min(k, max(1, HEAP_BLOCK_BYTES // 3 // max(feature_map, 1)))
    return k if max_batch is None else min(k, max_batch)


@cache
def _keep_freed_blocks() -> None:
    """Let the C allocator keep freed blocks up to :data:`HEAP_BLOCK_BYTES` for reuse.

    glibc's ``malloc`` maps large blocks fresh from the system and unmaps them on ``free``,
    so every chunk's activations cost page faults (the kernel zeroes each new page); it
    raises that threshold to the size of a freed mapped block (at most 32 MiB), and what
    ran before decides how far.  Freeing one untouched block of :data:`HEAP_BLOCK_BYTES`
    raises it once per process (measured: the engine on SRResBNN x2, T=100, spent 15 % of
    its time in page faults from a fresh process and none after this).  Elsewhere it is
    an allocation and a free.
    """
    torch.empty(HEAP_BLOCK_BYTES, dtype=torch.uint8, device="cpu")


def _split(model: SRModel) -> tuple[Callable[[torch.Tensor], MCState], Suffix]:
    """Prefix and a suffix returning ``(mean,)`` or ``(mean, logvar)`` for heteroscedastic."""
    if not getattr(model, "heteroscedastic", False):
        return model.mc_prefix, lambda s: (model.mc_suffix(s),)
    if hasattr(model, "mc_suffix_mean_logvar"):
        return model.mc_prefix, model.mc_suffix_mean_logvar
    return (lambda x: x), model.predict_mean_logvar


class Moments:
    """Streaming per-element mean and sum of squared deviations (float64, Chan et al.)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, batch: torch.Tensor) -> None:
        """Merge the samples stacked on dim 0 of ``batch``.

        The sums run over ``batch`` with its other dims in memory order (a channels-last
        output would otherwise be read across its strides: twice the time) and the
        statistics are put back in ``batch``'s dim order, values unchanged.
        """
        n_b = batch.shape[0]
        order = sorted(range(1, batch.ndim), key=batch.stride, reverse=True)
        back = [order.index(d) for d in range(1, batch.ndim)]
        dense = batch.permute(0, *order)
        mean32 = dense.mean(dim=0)
        m2_b = (dense - mean32).square_().sum(dim=0).double().permute(*back)
        mean_b = mean32.double().permute(*back)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        total = self.count + n_b
        delta = mean_b.sub_(self.mean)
        self.mean.add_(delta, alpha=n_b / total)
        self.m2.add_(m2_b).addcmul_(delta, delta, value=self.count * n_b / total)
        self.count = total

    def mean32(self) -> torch.Tensor:
        assert self.mean is not None
        return self.mean.float().cpu().contiguous()

    def std32(self) -> torch.Tensor:
        assert self.m2 is not None
        return torch.sqrt(self.m2 / self.count).float().cpu().contiguous()


def _model_device(model: nn.Module, x: torch.Tensor) -> torch.device:
    param = next(iter(model.parameters()), None)
    return x.device if param is None else param.device


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:
        return x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"x must be (C, h, w) or (B, C, h, w), got shape {tuple(x.shape)}")
    return x


def _result(
    x: torch.Tensor, samples: int, moments: list[Moments], one_pass: torch.Tensor
) -> MCResult:
    """Pack the moments, dropping the batch dim again for a ``(C, h, w)`` input."""
    result = MCResult(
        mean=moments[0].mean32(),
        std=moments[0].std32(),
        one_pass=one_pass.float().cpu().contiguous(),
        samples=samples,
        aleatoric_std=torch.sqrt(moments[1].mean32()) if len(moments) > 1 else None,
    )
    return result.map(lambda t: t[0]) if x.ndim == 3 else result


def _chunked(batch: torch.Tensor, samples: int) -> torch.Tensor:
    """``(samples * B, ...)`` -> ``(samples, B, ...)``."""
    return batch.view(samples, batch.shape[0] // samples, *batch.shape[1:])


def _outputs_to_moments(outputs: tuple[torch.Tensor, ...], n: int, moments: list[Moments]) -> None:
    moments[0].add(_chunked(outputs[0], n))
    if len(outputs) > 1:
        moments[1].add(_chunked(outputs[1].exp(), n))


def mc_predict(
    model: SRModel,
    x: torch.Tensor,
    samples: int = DEFAULT_SAMPLES,
    *,
    seed: int = 0,
    max_batch: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    origin: tuple[int, int] = (0, 0),
    fuse: bool = True,
) -> MCResult:
    """MC-dropout statistics of ``model`` on ``x`` ((C, h, w) or (B, C, h, w)) over T samples.

    Dropout is active and every other layer in eval mode (BatchNorm uses running statistics,
    unlike the original SRResBNN code, which left BatchNorm in train mode); the model's modes are
    restored afterwards.  The prefix runs once and its 4-D states are stored channels-last
    (faster CPU convs); the suffix runs on ``k`` repeated states at a time (``k`` from
    ``max_batch`` and the ``max_bytes`` budget, see :func:`_chunk_size`), and the moments are
    merged per chunk, so memory does not grow with T.  The same ``seed`` gives the same masks
    for any ``max_batch``/``max_bytes`` (results equal up to float rounding); ``origin`` is
    the LR (y, x) of ``x``'s top-left pixel in a larger image (a tile), whose masks it then
    gets.  A model without active dropout gets ``mean == one_pass`` and ``std == 0`` from
    one pass.  ``fuse`` (default) lets an element-wise dropout on the prefix state and the
    1x1 convolution after it run as one shared product plus a sparse correction per sample
    (:mod:`sruq.uncertainty.fused`; the same statistics up to float rounding).
    """
    check_count("samples", samples)  # 1: the one pass of a model without dropout
    _check_origin(origin)
    if max_batch is not None:
        check_count("max_batch", max_batch)
    batch = _as_batch(x).to(_model_device(model, x))
    prefix, suffix = _split(model)
    _keep_freed_blocks()
    with mc_mode(model, seed, fuse) as sampler:
        sampler.place(origin, (batch.shape[-2], batch.shape[-1]))
        state = _map_state(prefix(batch), _channels_last)
        sampler.begin(batch.shape[0], active=False)
        sampler.share(state, state)
        first = suffix(state)
        moments = [Moments() for _ in first]
        if not sampler.layers:
            _outputs_to_moments(first, 1, moments)
            return _result(x, samples, moments, first[0])
        k = _chunk_size(samples, state, first[0], max_batch, max_bytes)
        sampler.reuse = True  # safe: each chunk's outputs are consumed before the next
        done = 0
        while done < samples:
            n = min(k, samples - done)
            sampler.begin(batch.shape[0], active=True, start=done)
            repeated = _repeat(state, n, sampler.feeds_pair)
            sampler.share(repeated, state)
            _outputs_to_moments(suffix(repeated), n, moments)
            done += n
    return _result(x, samples, moments, first[0])


def mc_naive(
    model: SRModel,
    x: torch.Tensor,
    samples: int = DEFAULT_SAMPLES,
    *,
    seed: int = 0,
    origin: tuple[int, int] = (0, 0),
) -> MCResult:
    """Reference loop: one full ``model(x)`` per sample, statistics over the stacked outputs.

    Same masks as :func:`mc_predict` for the same ``seed`` and ``origin`` (for tests and
    the benchmark).
    """
    check_count("samples", samples)  # 1: the one pass of a model without dropout
    _check_origin(origin)
    batch = _as_batch(x).to(_model_device(model, x))
    with mc_mode(model, seed) as sampler:
        sampler.place(origin, (batch.shape[-2], batch.shape[-1]))
        sampler.begin(batch.shape[0], active=False)
        one_pass = model(batch)
        outputs = []
        for t in range(samples):
            sampler.begin(batch.shape[0], active=True, start=t)
            outputs.append(model(batch))
    moments = Moments()
    moments.add(torch.stack(outputs))
    return _result(x, samples, [moments], one_pass)
