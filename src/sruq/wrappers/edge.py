"""Edge enhancement around any SR model: sharpen its LR input or its SR output.

``where="pre"`` sharpens the LR image before the model, ``where="post"`` the
model's output.  ``method="unsharp"`` adds ``strength * (x - gaussian(x, sigma))``;
``method="laplacian"`` subtracts ``strength * laplacian(x)`` (4-neighbour).
Sharpened images are clipped to [0, 1]; ``strength=0`` returns the images
untouched (exactly the wrapped model).  Borders are replicated.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sruq.core.filters import filter2d, gaussian_kernel
from sruq.models.base import MCState, SRModel

WHERE = ("pre", "post")
METHODS = ("unsharp", "laplacian")

LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


class EdgeEnhanced(SRModel):
    """``model`` with unsharp-mask or Laplacian sharpening before (``pre``) or after (``post``).

    Wrap an already trained model; the wrapper adds no parameters.  For MC dropout
    the sharpening of ``pre`` runs once in :meth:`mc_prefix`, that of ``post`` on
    every sample in :meth:`mc_suffix`.
    """

    trainable = False

    def __init__(
        self,
        model: SRModel,
        where: str = "post",
        method: str = "unsharp",
        strength: float = 0.5,
        sigma: float = 1.0,
    ) -> None:
        super().__init__(model.scale, model.in_channels)
        if where not in WHERE:
            raise ValueError(f"edge where must be one of {WHERE}, got {where!r}")
        if method not in METHODS:
            raise ValueError(f"edge method must be one of {METHODS}, got {method!r}")
        if not (isinstance(strength, int | float) and math.isfinite(strength) and strength >= 0):
            raise ValueError(f"edge strength must be a number >= 0, got {strength!r}")
        self.model = model
        self.where = where
        self.method = method
        self.strength = float(strength)
        self.kernel = LAPLACIAN if method == "laplacian" else gaussian_kernel(sigma)

    @property
    def name_suffix(self) -> str:
        """What the method's table name appends to the wrapped model's: ``+edge-pre|post``."""
        return f"+edge-{self.where}"

    def sharpen(self, x: torch.Tensor) -> torch.Tensor:
        """Sharpen ``(..., H, W)`` images (identity when ``strength == 0``)."""
        if self.strength == 0:
            return x
        if self.method == "laplacian":
            detail = -filter2d(x, self.kernel)
        else:
            detail = x - filter2d(x, self.kernel)
        return (x + self.strength * detail).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.where == "pre":
            return self.model(self.sharpen(x))
        return self.sharpen(self.model(x))

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        return self.model.mc_prefix(self.sharpen(x) if self.where == "pre" else x)

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        out = self.model.mc_suffix(state)
        return self.sharpen(out) if self.where == "post" else out
