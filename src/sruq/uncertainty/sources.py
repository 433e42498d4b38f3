"""Uncertainty sources behind one interface: LR batch in, per-pixel (mean, std) out.

:class:`sruq.classical.self_ensemble.SelfEnsemble` (x8 geometric self-ensemble) already has
this interface; MC dropout and deep ensembles are adapted to it here, and two test-time
sampling sources are defined here: input-perturbation TTA (:class:`InputNoiseSource`) and
MC-BatchNorm (:class:`MCBatchNormSource`).  Both run T full passes one after the other in
eval mode (dropout off), stream the moments (memory does not grow with T) and also give
the deterministic one pass (:meth:`~InputNoiseSource.sample`, an :class:`MCResult`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from sruq.models.base import BATCH_NORM, SRModel
from sruq.uncertainty.mc import MCResult, Moments, eval_mode, mc_predict
from sruq.uncertainty.settings import DEFAULT_SAMPLES, DEFAULT_TTA_NOISE


@runtime_checkable
class UncertaintySource(Protocol):
    """Anything that predicts an SR image and a per-pixel standard deviation."""

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` for an LR batch ``(B, C, h, w)``, each ``(B, C, sh, sw)``."""
        ...


class MCDropoutSource:
    """MC dropout (:func:`sruq.uncertainty.mc.mc_predict`) as an :class:`UncertaintySource`."""

    def __init__(
        self,
        model: SRModel,
        samples: int = DEFAULT_SAMPLES,
        *,
        seed: int = 0,
        max_batch: int | None = None,
    ) -> None:
        self.model, self.samples, self.seed, self.max_batch = model, samples, seed, max_batch

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = mc_predict(self.model, x, self.samples, seed=self.seed, max_batch=self.max_batch)
        return result.mean, result.std


class DeepEnsembleSource:
    """Mean and population std across independently trained models (e.g. different seeds).

    Each member runs deterministically in eval mode; the members' modes are restored.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if len(models) < 2:
            raise ValueError(f"models must hold at least 2 ensemble members, got {len(models)}")
        scales = {getattr(m, "scale", None) for m in models}
        if len(scales) != 1:
            raise ValueError(f"models must share one scale, got {sorted(map(str, scales))}")
        channels = {getattr(m, "in_channels", None) for m in models}
        if len(channels) != 1:
            raise ValueError("ensemble members take different input channels: "
                             f"{sorted(map(str, channels))}")
        self.models = list(models)

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        moments = Moments()
        with torch.inference_mode():
            for model in self.models:
                with eval_mode(model):
                    moments.add(model(x).unsqueeze(0))
        return moments.mean32(), moments.std32()


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


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


class InputNoiseSource:
    """Input-perturbation test-time augmentation (BayesCap's test-time baseline): the mean
    and population std of ``samples`` passes of the model (eval mode, dropout off) on the LR
    input plus Gaussian noise of std ``sigma`` (on the [0, 1] scale, not clipped).

    The noise of pass ``t`` is the ``t``-th draw of a NumPy generator seeded with ``seed``
    (on the CPU, float32), so a seed gives the same passes on any device; ``sigma = 0``
    gives ``samples`` equal passes (std 0).
    """

    def __init__(self, model: SRModel, samples: int = DEFAULT_SAMPLES,
                 sigma: float = DEFAULT_TTA_NOISE, *, seed: int = 0) -> None:
        if isinstance(sigma, bool) or not 0 <= sigma < float("inf"):
            raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
        self.model, self.samples, self.sigma = model, _check_count("samples", samples), sigma
        self.seed = seed

    def sample(self, x: torch.Tensor) -> MCResult:
        """One pass, mean and std for an LR batch ``(B, C, h, w)`` (CPU float32)."""
        rng = np.random.default_rng(self.seed)

        def noisy(_: int) -> torch.Tensor:
            noise = torch.from_numpy(rng.standard_normal(tuple(x.shape), dtype=np.float32))
            return self.model(x + self.sigma * noise.to(x.device, x.dtype))

        return _sampled(self.model, x, self.samples, noisy)

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = self.sample(x)
        return result.mean, result.std


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


class MCBatchNormSource:
    """MC-BatchNorm (Teye et al. 2018; for SR, Kar & Biswas 2021): for each of ``samples``
    passes, the BatchNorm layers take the statistics of a random mini-batch of training LR
    patches, and the model (eval mode otherwise: dropout off, no weight update) predicts
    the input with them; mean and population std over the passes.

    ``patches`` is the model's training set (items ``(lr, hr)`` as
    :class:`sruq.patchset.PatchDataset` gives, in the model's channels); pass ``t`` uses the
    ``batch`` patches the generator seeded with ``seed`` picks (without replacement, in
    index order), so one patch set of exactly ``batch`` patches gives every pass the same
    statistics (std 0).  A layer's statistics are the batch's mean and biased variance,
    as in training mode; the model's own running statistics are restored afterwards.
    """

    def __init__(self, model: SRModel, patches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 samples: int = DEFAULT_SAMPLES, batch: int = 16, *, seed: int = 0) -> None:
        self.layers = [m for m in model.modules() if isinstance(m, BATCH_NORM)]
        if not self.layers:
            raise ValueError(f"MC-BatchNorm needs BatchNorm layers; {type(model).__name__} "
                             "has none")
        self.model, self.patches, self.seed = model, patches, seed
        self.samples, self.batch = _check_count("samples", samples), _check_count("batch", batch)
        if batch > len(patches):
            raise ValueError(f"batch {batch} is more than the {len(patches)} training patches")
        channels = patches[0][0].shape[0]
        if channels != model.in_channels:
            raise ValueError(f"training patches have {channels} channels, the model takes "
                             f"{model.in_channels}")

    def _set_statistics(self, batch: torch.Tensor) -> None:
        """Every BatchNorm layer's running statistics := those of ``batch`` (train mode for
        the BatchNorm layers only, momentum 1; the variance made biased again)."""
        sizes: dict[nn.Module, int] = {}

        def count(layer: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            sizes[layer] = args[0].numel() // args[0].shape[1]

        handles = [layer.register_forward_pre_hook(count) for layer in self.layers]
        try:
            for layer in self.layers:
                layer.train()
                layer.momentum = 1.0
            self.model(batch)
        finally:
            for handle in handles:
                handle.remove()
            for layer in self.layers:
                layer.eval()
        for layer in self.layers:
            n = sizes[layer]
            layer.running_var.mul_((n - 1) / n if n > 1 else 1.0)

    def sample(self, x: torch.Tensor) -> MCResult:
        """One pass (running statistics), mean and std for an LR batch ``(B, C, h, w)``."""
        rng = np.random.default_rng(self.seed)

        def with_batch_statistics(_: int) -> torch.Tensor:
            picked = np.sort(rng.choice(len(self.patches), self.batch, replace=False))
            batch = torch.stack([self.patches[int(i)][0] for i in picked])
            self._set_statistics(batch.to(x.device, x.dtype))
            return self.model(x)

        with _kept_statistics(self.layers):
            return _sampled(self.model, x, self.samples, with_batch_statistics)

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = self.sample(x)
        return result.mean, result.std
