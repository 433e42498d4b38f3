"""Heteroscedastic SRResNet: predicts a per-pixel mean and log-variance (Kendall & Gal 2017)."""

from __future__ import annotations

import torch

from sruq.models.base import MCState
from sruq.models.srresnet import SRResNet


class HeteroSRResNet(SRResNet):
    """SRResNet whose last convolution outputs ``2 * in_channels`` maps: the mean image and the
    log-variance ``s = log sigma^2`` of each pixel (aleatoric uncertainty).

    ``forward`` returns the mean only (the SRModel contract); train with
    :func:`predict_mean_logvar` and the ``"gaussian_nll"`` loss.  ``dropout`` (default 0) adds
    MC dropout on top, as in SRResNet; then :meth:`mc_suffix_mean_logvar` gives both outputs
    for each MC sample.  Same arguments and small config as SRResNet.
    """

    heteroscedastic = True
    outputs_per_channel = 2

    def mc_suffix_mean_logvar(self, state: MCState) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance from an MC prefix state."""
        mean, logvar = self._decode(state).chunk(2, dim=1)
        return mean, logvar

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        return self.mc_suffix_mean_logvar(state)[0]

    def predict_mean_logvar(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, logvar)``, each ``(B, C, scale*h, scale*w)``."""
        return self.mc_suffix_mean_logvar(self.mc_prefix(x))
