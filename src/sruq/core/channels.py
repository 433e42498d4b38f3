"""The one channel policy: how an image goes through a model that expects other channels.

A greyscale image goes through an RGB model as three equal channels, and the channel mean
of the output comes back; a colour image goes through a Y-channel model as its BT.601
luma, and the model's Y is joined with the image's Cb and Cr upscaled by bicubic
interpolation.  The std of a Y-channel model stays one (luma) channel.  Training data
follow the same policy on 8-bit images (:func:`match_channels`).
"""

from __future__ import annotations

import numpy as np
import torch

from sruq.core.color import rgb_to_y
from sruq.core.imresize import imresize, round_half_up
from sruq.core.tensors import rgb_to_ycbcr, ycbcr_to_rgb

Box = tuple[int, int, int, int]
"""``(top, left, height, width)`` of the LR region a prediction covers."""


class ChannelAdapter:
    """An image ``x`` (``(..., C, h, w)`` in [0, 1], C = 1 or 3) for a model that expects
    ``expected`` channels: :attr:`input` is what the model sees, :meth:`output` turns a
    prediction back into the image's channels and :meth:`spread` a std map."""

    def __init__(self, x: torch.Tensor, expected: int) -> None:
        self.channels, self.expected = x.shape[-3], expected
        if (self.channels, expected) not in ((1, 1), (3, 3), (1, 3), (3, 1)):
            raise ValueError(f"model expects {expected} channels, image has {self.channels}")
        self._ycc = rgb_to_ycbcr(x) if (self.channels, expected) == (3, 1) else None
        self._cbcr: dict[tuple, torch.Tensor] = {}  # bicubic Cb/Cr by (box, size, device)
        if self._ycc is not None:
            self.input = self._ycc[..., :1, :, :]
        elif (self.channels, expected) == (1, 3):
            self.input = torch.cat([x] * 3, dim=-3)
        else:
            self.input = x

    def output(self, y: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """The model's prediction ``y`` of the LR region ``box`` (default: all of it) with
        the image's channels."""
        if self.channels == self.expected:
            return y
        if self._ycc is None:  # grey image through an RGB model
            return y.mean(dim=-3, keepdim=True)
        top, left, h, w = box or (0, 0, *self._ycc.shape[-2:])
        key = (top, left, h, w, tuple(y.shape[-2:]), y.device)
        if key not in self._cbcr:  # the mean and the one pass share one upscale
            region = self._ycc[..., 1:, top:top + h, left:left + w]
            self._cbcr[key] = imresize(region, size=tuple(y.shape[-2:])).to(y.device)
        return ycbcr_to_rgb(torch.cat([y, self._cbcr[key]], dim=-3))

    def spread(self, std: torch.Tensor) -> torch.Tensor:
        """A std map of the model with the image's channels (a luma std stays one channel)."""
        return std.mean(dim=-3, keepdim=True) if (self.channels, self.expected) == (1, 3) else std


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An ``(H, W, C)`` uint8 training image with ``channels`` channels: RGB -> Y (BT.601,
    rounded to 8 bits, as the evaluation sees it) for Y models, grey -> replicated for RGB
    models."""
    if image.shape[2] == channels:
        return image
    if channels == 1:
        y = round_half_up(torch.from_numpy(rgb_to_y(image))).numpy()
        return np.clip(y, 0, 255).astype(np.uint8)[:, :, None]
    return np.repeat(image, channels, axis=2)
