"""The one interface every super-resolution method in sruq implements.

A model is a :class:`torch.nn.Module` that maps a batch of low-resolution images
``(B, C, h, w)`` in ``[0, 1]`` to ``(B, C, scale*h, scale*w)``.  Models that do
their own pre-upsampling (SRCNN, VDSR) do it inside ``forward`` so callers never
care.  For Monte-Carlo dropout, ``forward`` is split in two:

* :meth:`SRModel.mc_prefix` -- the deterministic part before the first dropout
  layer, computed once per input;
* :meth:`SRModel.mc_suffix` -- the stochastic rest, run T times.

``forward(x) == mc_suffix(mc_prefix(x))`` must hold.  The prefix may return a
tensor or a tuple of tensors, each with the batch on dimension 0, so that the
MC engine can repeat it along the batch.
"""

from __future__ import annotations

import torch
from torch import nn

MCState = torch.Tensor | tuple[torch.Tensor, ...]


FEATURE_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
"""Dropout that zeroes whole channels (one mask value per sample and channel)."""
MC_DROPOUT = (nn.Dropout, *FEATURE_DROPOUT)
"""The dropout kinds MC inference samples masks for."""
DROPOUT_KINDS = (*MC_DROPOUT, nn.AlphaDropout, nn.FeatureAlphaDropout)
"""Every dropout module kind (MC inference refuses the ones outside :data:`MC_DROPOUT`)."""
BATCH_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
"""The BatchNorm kinds MC-BatchNorm sets to the statistics of training batches."""


class SRModel(nn.Module):
    """Base class: subclasses set ``scale`` and ``in_channels`` and define ``forward``."""

    scale: int
    in_channels: int = 3
    trainable: bool = True
    heteroscedastic: bool = False
    """True for models that also predict a per-pixel log-variance (``predict_mean_logvar``)."""
    batch_norm: bool = False
    """True for architectures with BatchNorm layers (MC-BatchNorm applies to them); the
    registry answers from it without building (:func:`sruq.models.has_batch_norm`)."""

    def __init__(self, scale: int, in_channels: int = 3) -> None:
        super().__init__()
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        self.scale = int(scale)
        self.in_channels = in_channels

    def dropout_layers(self) -> list[nn.Module]:
        """Every dropout module of the network (what MC inference switches on)."""
        return [m for m in self.modules() if isinstance(m, DROPOUT_KINDS)]

    def batch_norm_layers(self) -> list[nn.Module]:
        """Every BatchNorm module of the network (what MC-BatchNorm sets)."""
        return [m for m in self.modules() if isinstance(m, BATCH_NORM)]

    @property
    def has_dropout(self) -> bool:
        return any(getattr(m, "p", 0.0) > 0 for m in self.dropout_layers())

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        """Deterministic part of ``forward`` before the first dropout layer."""
        return x

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        """Stochastic rest of ``forward``; ``forward(x) == mc_suffix(mc_prefix(x))``."""
        assert isinstance(state, torch.Tensor)
        return self(state)
