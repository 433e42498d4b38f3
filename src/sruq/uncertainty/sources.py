"""Uncertainty sources behind one interface: LR batch in, per-pixel (mean, std) out.

:class:`sruq.classical.self_ensemble.SelfEnsemble` (x8 geometric self-ensemble) already has
this interface; MC dropout and deep ensembles are adapted to it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from sruq.models.base import SRModel
from sruq.uncertainty.mc import Moments, eval_mode, mc_predict
from sruq.uncertainty.settings import DEFAULT_SAMPLES


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
