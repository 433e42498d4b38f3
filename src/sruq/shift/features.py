"""A trained network's pooled intermediate features as a shift-score vector (torch).

The features are the input of the network's last convolution -- what its reconstruction
reads -- pooled over the image: the per-channel mean and standard deviation (``2 C``
numbers), the way Lee et al. (2018) and the deterministic-uncertainty methods summarise a
network's view of an input.  The model sees the image through the one channel policy
(:class:`sruq.core.channels.ChannelAdapter`), in eval mode (dropout off).
"""

from __future__ import annotations

import numpy as np
import torch

from sruq.core.channels import ChannelAdapter
from sruq.core.tensors import to_tensor
from sruq.models.base import SRModel
from sruq.shift.scores import Vectoriser


def last_convolution(model: SRModel) -> torch.nn.Conv2d:
    """The network's last ``Conv2d`` in module order."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no convolution to take features from")
    return convs[-1]


def feature_vectoriser(model: SRModel, device: torch.device | None = None) -> Vectoriser:
    """An LR image -> the pooled input of ``model``'s last convolution (numpy, float64)."""
    device = device or torch.device("cpu")
    layer = last_convolution(model)
    model = model.eval()

    @torch.inference_mode()
    def vectorise(image: np.ndarray) -> np.ndarray:
        arr = image if image.ndim == 3 else image[..., None]
        seen: list[torch.Tensor] = []
        handle = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            x = ChannelAdapter(to_tensor(arr).to(device)[0], model.in_channels).input
            model(x[None])
        finally:
            handle.remove()
        features = seen[-1].float()
        pooled = torch.cat([features.mean(dim=(0, 2, 3)), features.std(dim=(0, 2, 3))])
        return pooled.cpu().numpy().astype(np.float64)

    return vectorise
