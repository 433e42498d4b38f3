"""The uncertainty sources: one class per method, and :data:`SOURCES`, the one registry
from a source's name to its class that the workflow's rules and ``sruq upscale`` share.

A source wraps trained model(s) and turns an LR image into an SR prediction and a
per-pixel std (an :class:`~sruq.uncertainty.mc.MCResult`):

* :class:`MCDropoutSource` (``mc``) -- T passes with dropout on, batched over a cached
  deterministic prefix and tiled over large images (:mod:`~sruq.uncertainty.mc`,
  :mod:`~sruq.uncertainty.tiling`); a model without dropout runs once (std 0);
* :class:`SelfEnsembleSource` (``x8``) -- the spread of the 8 flipped/rotated outputs;
* :class:`TTASource` (``tta``) -- T passes with Gaussian noise on the LR input;
* :class:`MCBatchNormSource` (``mcbn``) -- T passes, each with the BatchNorm statistics of
  a random batch of training patches;
* :class:`DeepEnsembleSource` (``ensemble``) -- the spread of independently trained members.

Every source has two doors: :meth:`UncertaintySource.predict` (image name, uint8 image ->
result in the image's channels, LR box; each image's samples seeded from the source's
``seed``, its name and the image's name, independent of processing order) and
:meth:`UncertaintySource.forward_with_spread` (an LR batch in the model's channels ->
``(mean, std)``).  Each source's name is also the kind of its methods
(:mod:`sruq.pipeline.methods`) and its ``sruq upscale --source``.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from sruq.core.channels import Box, ChannelAdapter
from sruq.core.errors import check_count
from sruq.core.images import image_seed
from sruq.core.tensors import to_tensor
from sruq.models.base import BATCH_NORM, SRModel
from sruq.uncertainty.mc import MCResult, Moments, eval_mode, mc_predict
from sruq.uncertainty.settings import (
    DEFAULT_SAMPLES,
    DEFAULT_TTA_NOISE,
    MIN_SAMPLES,
    MCSettings,
    Tiling,
)
from sruq.uncertainty.tiling import predict_image

Patches = Sequence[tuple[torch.Tensor, torch.Tensor]]
"""A training patch set: items ``(lr, hr)`` as :class:`sruq.data.patchset.PatchDataset` gives."""


def _device_of(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return torch.device("cpu") if param is None else param.device


def check_samples(samples: int) -> int:
    """``mc.samples`` / ``--samples``: at least :data:`MIN_SAMPLES` sampled passes."""
    return check_count("samples", samples, MIN_SAMPLES, " (one pass has no spread)")


class UncertaintySource(ABC):
    """One uncertainty method around ``models`` (all on ``device``; default: the first
    model's).  Subclasses give :attr:`name` and :meth:`_sample` (and
    :meth:`predict_tensor` when an image is more than one batch: MC dropout's tiles)."""

    name: ClassVar[str]
    """The registry key (:data:`SOURCES`), the kind of its methods and its ``--source``."""

    def __init__(self, models: Sequence[SRModel], *, seed: int = 0,
                 device: torch.device | None = None) -> None:
        self.device = device or _device_of(models[0])
        self.models = [model.to(self.device) for model in models]
        self.model = self.models[0]
        self.seed = seed

    @property
    def scale(self) -> int:
        return int(self.model.scale)

    @property
    def passes(self) -> int:
        """Predictions per image the spread is taken over."""
        return 1

    def sample(self, x: torch.Tensor, seed: int | None = None) -> MCResult:
        """Mean, std and the deterministic one pass of an LR batch ``(B, C, h, w)`` (the
        model's channels, on :attr:`device`), as CPU float32 tensors; the samples drawn
        from ``seed`` (default: the source's :attr:`seed`)."""
        return self._sample(x, self.seed if seed is None else seed)

    @abstractmethod
    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        """:meth:`sample` with its seed."""

    def predict_tensor(self, x: torch.Tensor, seed: int) -> tuple[MCResult, Box]:
        """One LR image ``(C, h, w)`` in the model's channels -> its result and the LR box
        it covers (here the whole image)."""
        result = self.sample(x.unsqueeze(0), seed).map(lambda t: t[0])
        return result, (0, 0, x.shape[-2], x.shape[-1])

    def image_seed(self, image: str) -> int:
        """The seed of one image's samples: its own stream of :attr:`seed`
        (:func:`sruq.core.images.image_seed` of the source's and the image's names)."""
        return int(image_seed(self.seed, self.name, image).integers(2**31))

    def predict(self, image: str, lr: np.ndarray) -> tuple[MCResult, Box]:
        """The result of the uint8 ``(h, w, C)`` image named ``image``, in its channels
        (:class:`sruq.core.channels.ChannelAdapter`), and the LR box covered."""
        adapter = ChannelAdapter(to_tensor(lr)[0].to(self.device), self.model.in_channels)
        result, box = self.predict_tensor(adapter.input, self.image_seed(image))
        aleatoric = result.aleatoric_std
        return MCResult(mean=adapter.output(result.mean, box), std=adapter.spread(result.std),
                        one_pass=adapter.output(result.one_pass, box), samples=result.samples,
                        aleatoric_std=None if aleatoric is None else adapter.spread(aleatoric)), box

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` for an LR batch ``(B, C, h, w)``, each ``(B, C, sh, sw)``."""
        result = self.sample(x)
        return result.mean, result.std


class MCDropoutSource(UncertaintySource):
    """MC dropout: ``samples`` passes with the dropout masks of
    :func:`~sruq.uncertainty.mc.mc_predict`; images are covered by ``mode`` (``tiled``
    with ``tiling``, ``patch`` or ``whole``; :func:`~sruq.uncertainty.tiling.predict_image`).
    A model without dropout runs once (std 0)."""

    name = "mc"

    def __init__(self, model: SRModel, samples: int = DEFAULT_SAMPLES, *, mode: str = "tiled",
                 tiling: Tiling | None = None, max_batch: int | None = None, seed: int = 0,
                 device: torch.device | None = None) -> None:
        super().__init__([model], seed=seed, device=device)
        self.samples = check_samples(samples) if model.has_dropout else 1
        self.mode, self.tiling, self.max_batch = mode, tiling, max_batch

    @property
    def passes(self) -> int:
        return self.samples

    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        return mc_predict(self.model, x, self.samples, seed=seed, max_batch=self.max_batch)

    def predict_tensor(self, x: torch.Tensor, seed: int) -> tuple[MCResult, Box]:
        return predict_image(self.model, x, self.samples, mode=self.mode, tiling=self.tiling,
                             seed=seed, max_batch=self.max_batch)


class SelfEnsembleSource(UncertaintySource):
    """x8 geometric self-ensemble (:class:`sruq.wrappers.self_ensemble.SelfEnsemble`): mean
    and spread of the model's outputs over the 8 symmetries of the square."""

    name = "x8"

    def __init__(self, model: SRModel, *, seed: int = 0,
                 device: torch.device | None = None) -> None:
        from sruq.wrappers.self_ensemble import SelfEnsemble

        super().__init__([model], seed=seed, device=device)
        self.ensemble = SelfEnsemble(self.model)

    @property
    def passes(self) -> int:
        return 8

    @torch.inference_mode()
    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        from sruq.wrappers.self_ensemble import spread

        with eval_mode(self.model):
            outs = self.ensemble.outputs(x)
        # the one pass is the identity transform's output (TRANSFORMS[0]), not a ninth pass
        mean, std = spread(outs)
        return MCResult(mean=mean.cpu(), std=std.cpu(), one_pass=outs[0].cpu(), samples=8)


class DeepEnsembleSource(UncertaintySource):
    """Mean and population std across independently trained members (e.g. different
    seeds), each run deterministically in eval mode (their modes restored); the one pass
    is the first member's output."""

    name = "ensemble"

    def __init__(self, models: Sequence[SRModel], *, seed: int = 0,
                 device: torch.device | None = None) -> None:
        if len(models) < 2:
            raise ValueError(f"models must hold at least 2 ensemble members, got {len(models)}")
        scales = {getattr(m, "scale", None) for m in models}
        if len(scales) != 1:
            raise ValueError(f"models must share one scale, got {sorted(map(str, scales))}")
        channels = {getattr(m, "in_channels", None) for m in models}
        if len(channels) != 1:
            raise ValueError("ensemble members take different input channels: "
                             f"{sorted(map(str, channels))}")
        super().__init__(models, seed=seed, device=device)

    @property
    def passes(self) -> int:
        return len(self.models)

    @torch.inference_mode()
    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        moments, one_pass = Moments(), None
        for model in self.models:
            with eval_mode(model):
                out = model(x)
            moments.add(out.unsqueeze(0))
            if one_pass is None:
                one_pass = out.cpu()  # the first member's output, not a pass of its own
        return MCResult(mean=moments.mean32(), std=moments.std32(), one_pass=one_pass,
                        samples=len(self.models))


def _sampled(model: nn.Module, x: torch.Tensor, samples: int,
             sample: Callable[[int], torch.Tensor]) -> MCResult:
    """Stream the moments of ``sample(t)`` for ``t < samples`` (each ``(B, C, sH, sW)``),
    with ``model(x)`` as the one pass; in eval and no-grad mode, the model's modes restored."""
    moments = Moments()
    with eval_mode(model), torch.no_grad():
        one_pass = model(x)
        for t in range(samples):
            moments.add(sample(t).unsqueeze(0))
    return MCResult(mean=moments.mean32(), std=moments.std32(),
                    one_pass=one_pass.float().cpu().contiguous(), samples=samples)


class TTASource(UncertaintySource):
    """Input-perturbation test-time augmentation (BayesCap's test-time baseline): the mean
    and population std of ``samples`` passes of the model (eval mode, dropout off) on the LR
    input plus Gaussian noise of std ``sigma`` (on the [0, 1] scale, not clipped).

    The noise of pass ``t`` is the ``t``-th draw of a NumPy generator seeded with the
    image's seed (on the CPU, float32), so a seed gives the same passes on any device;
    ``sigma = 0`` gives ``samples`` equal passes (std 0).  Memory does not grow with T.
    """

    name = "tta"

    def __init__(self, model: SRModel, samples: int = DEFAULT_SAMPLES,
                 sigma: float = DEFAULT_TTA_NOISE, *, seed: int = 0,
                 device: torch.device | None = None) -> None:
        if isinstance(sigma, bool) or not 0 <= sigma < float("inf"):
            raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
        super().__init__([model], seed=seed, device=device)
        self.samples, self.sigma = check_samples(samples), sigma

    @property
    def passes(self) -> int:
        return self.samples

    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        rng = np.random.default_rng(seed)

        def noisy(_: int) -> torch.Tensor:
            noise = torch.from_numpy(rng.standard_normal(tuple(x.shape), dtype=np.float32))
            return self.model(x + self.sigma * noise.to(x.device, x.dtype))

        return _sampled(self.model, x, self.samples, noisy)


@contextmanager
def _kept_statistics(layers: Sequence[nn.Module]) -> Iterator[None]:
    """The layers' running statistics and momentum restored after the block."""
    saved = [(layer, layer.momentum, {k: v.clone() for k, v in layer.named_buffers()})
             for layer in layers]
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, momentum, buffers in saved:
                layer.momentum = momentum
                for name, value in layer.named_buffers():
                    value.copy_(buffers[name])


class MCBatchNormSource(UncertaintySource):
    """MC-BatchNorm (Teye et al. 2018; for SR, Kar & Biswas 2021): for each of ``samples``
    passes, the BatchNorm layers take the statistics of a random mini-batch of training LR
    patches, and the model (eval mode otherwise: dropout off, no weight update) predicts
    the input with them; mean and population std over the passes.

    ``patches`` is the model's training set (in the model's channels); pass ``t`` uses the
    ``batch`` patches the generator seeded with the image's seed picks (without
    replacement, in index order), so one patch set of exactly ``batch`` patches gives every
    pass the same statistics (std 0).  A layer's statistics are the batch's mean and biased
    variance, as in training mode; the model's own running statistics are restored
    afterwards.
    """

    name = "mcbn"

    def __init__(self, model: SRModel, patches: Patches, samples: int = DEFAULT_SAMPLES,
                 batch: int = 16, *, seed: int = 0, device: torch.device | None = None) -> None:
        layers = [m for m in model.modules() if isinstance(m, BATCH_NORM)]
        if not layers:
            raise ValueError(f"MC-BatchNorm needs BatchNorm layers; {type(model).__name__} "
                             "has none")
        self.samples, self.batch = check_samples(samples), check_count("batch", batch)
        if batch > len(patches):
            raise ValueError(f"batch {batch} is more than the {len(patches)} training patches")
        channels = patches[0][0].shape[0]
        if channels != model.in_channels:
            raise ValueError(f"training patches have {channels} channels, the model takes "
                             f"{model.in_channels}")
        super().__init__([model], seed=seed, device=device)
        self.layers, self.patches = layers, patches

    @property
    def passes(self) -> int:
        return self.samples

    def _set_statistics(self, batch: torch.Tensor) -> None:
        """Every BatchNorm layer's running statistics := those of ``batch`` (train mode for
        the BatchNorm layers only, momentum 1; the variance made biased again).  The pass
        stops once every BatchNorm layer has run: the rest of the network (the upsampler
        and the tail, at HR size) would change nothing."""
        sizes: dict[nn.Module, int] = {}

        def count(layer: nn.Module, args: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
            sizes[layer] = args[0].numel() // args[0].shape[1]
            if len(sizes) == len(self.layers):
                raise _StatisticsSet

        handles = [layer.register_forward_hook(count) for layer in self.layers]
        try:
            for layer in self.layers:
                layer.train()
                layer.momentum = 1.0
            with contextlib.suppress(_StatisticsSet):
                self.model(batch)
        finally:
            for handle in handles:
                handle.remove()
            for layer in self.layers:
                layer.eval()
        for layer in self.layers:
            n = sizes[layer]
            layer.running_var.mul_((n - 1) / n if n > 1 else 1.0)

    def _sample(self, x: torch.Tensor, seed: int) -> MCResult:
        rng = np.random.default_rng(seed)

        def with_batch_statistics(_: int) -> torch.Tensor:
            picked = np.sort(rng.choice(len(self.patches), self.batch, replace=False))
            batch = torch.stack([self.patches[int(i)][0] for i in picked])
            self._set_statistics(batch.to(x.device, x.dtype))
            return self.model(x)

        with _kept_statistics(self.layers):
            return _sampled(self.model, x, self.samples, with_batch_statistics)


class _StatisticsSet(Exception):
    """Raised by :meth:`MCBatchNormSource._set_statistics` once its last BatchNorm layer ran."""


SOURCES: dict[str, type[UncertaintySource]] = {
    source.name: source for source in (MCDropoutSource, SelfEnsembleSource, TTASource,
                                       MCBatchNormSource, DeepEnsembleSource)}
"""Every uncertainty source by its name (``mc``, ``x8``, ``tta``, ``mcbn``, ``ensemble``)."""


def build_source(
    name: str, models: Sequence[SRModel], settings: MCSettings, *, seed: int = 0,
    patches: Path | None = None, train_batch: int | None = None,
    device: torch.device | None = None,
) -> UncertaintySource:
    """The source ``name`` (:data:`SOURCES`) around ``models`` (one, or the members of an
    ensemble) with the run's ``mc:`` ``settings``: ``mc`` and ``tta`` take
    ``settings.samples`` (and the mode and tiling, or ``settings.tta_noise``); ``mcbn``
    draws ``settings.mcbn_batch`` (default ``train_batch``, the model's
    ``train.batch_size``) patches at a time from the patch set at ``patches``.  A problem
    is one ``ValueError`` line."""
    if name not in SOURCES:
        raise ValueError(f"unknown uncertainty source {name!r} (known: {', '.join(SOURCES)})")
    if name == "ensemble":
        return DeepEnsembleSource(models, seed=seed, device=device)
    if len(models) != 1:
        raise ValueError(f"source {name!r} takes one model, got {len(models)}")
    model = models[0]
    if name == "mc":
        return MCDropoutSource(model, settings.samples, mode=settings.mode,
                               tiling=settings.tiling, max_batch=settings.max_batch, seed=seed,
                               device=device)
    if name == "x8":
        return SelfEnsembleSource(model, seed=seed, device=device)
    if name == "tta":
        return TTASource(model, settings.samples, settings.tta_noise, seed=seed, device=device)
    from sruq.data.patchset import PatchDataset

    if patches is None:
        raise ValueError("a +mcbn variant needs the training patches of its model")
    batch = settings.mcbn_batch or train_batch
    if batch is None:
        raise ValueError("mc.mcbn_batch: give the training patches per MC-BatchNorm batch")
    dataset = PatchDataset(patches)
    if batch > len(dataset):
        raise ValueError(f"mc.mcbn_batch: {batch} patches per batch, but {patches} holds "
                         f"only {len(dataset)}")
    return MCBatchNormSource(model, dataset, settings.samples, batch, seed=seed, device=device)
