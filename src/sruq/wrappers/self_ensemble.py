"""Geometric self-ensemble ("x8", Timofte et al. 2016) around any SR model.

The input is passed through the 8 symmetries of the square (rotations by
multiples of 90 degrees, with and without a horizontal flip), the model runs on
each, the outputs are transformed back and averaged.  The per-pixel standard
deviation over the 8 outputs measures how much the model depends on
orientation -- a cheap uncertainty estimate, zero for an equivariant model.
"""

from __future__ import annotations

import torch

from sruq.models.base import SRModel

TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))
"""``(quarter turns, horizontal flip first)`` for the 8 dihedral transforms."""


def transform(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """Flip the last dim (if ``flip``), then rotate by ``k`` quarter turns."""
    y = x.flip(-1) if flip else x
    return torch.rot90(y, k, dims=(-2, -1))


def invert(y: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """Inverse of :func:`transform`."""
    y = torch.rot90(y, -k, dims=(-2, -1))
    return y.flip(-1) if flip else y


def spread(outs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and per-pixel (population) standard deviation of stacked outputs (first dim)."""
    return outs.mean(dim=0), outs.std(dim=0, correction=0)


class SelfEnsemble(SRModel):
    """Average of ``model`` over the 8 dihedral transforms of the input.

    Wrap an already trained model.  MC dropout uses the base-class split: the
    prefix is the identity and every suffix sample runs all 8 transforms.
    """

    trainable = False

    def __init__(self, model: SRModel) -> None:
        super().__init__(model.scale, model.in_channels)
        self.model = model

    @property
    def name_suffix(self) -> str:
        """What the method's table name appends to the wrapped model's."""
        return "+x8"

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The 8 back-transformed outputs, stacked on a new first dim ``(8, B, C, H, W)``."""
        return torch.stack([invert(self.model(transform(x, k, f)), k, f) for k, f in TRANSFORMS])

    def forward_with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and per-pixel (population) standard deviation over the 8 outputs."""
        return spread(self.outputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x).mean(dim=0)
