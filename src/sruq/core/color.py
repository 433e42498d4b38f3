"""BT.601 colour conversion as MATLAB ``rgb2ycbcr``/``ycbcr2rgb``: the one set of
coefficients of the package.

:func:`rgb_to_y` is the luma the metrics use (numpy, 0..255 scale, not rounded); the
tensor conversions of the networks (:func:`sruq.core.tensors.rgb_to_ycbcr` and its inverse)
are built from the same :data:`RGB_TO_YCBCR` and :data:`YCBCR_OFFSET`.  This module
needs numpy only, so the metrics and report steps run without torch.
"""

from __future__ import annotations

import numpy as np

RGB_TO_YCBCR = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
"""Rows Y, Cb, Cr: weights of R, G, B (in [0, 1]) on the 0..255 scale."""
YCBCR_OFFSET = (16.0, 128.0, 128.0)
"""Offsets of Y, Cb, Cr on the 0..255 scale (Y spans 16..235)."""


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image on the 0..255 scale, as MATLAB ``rgb2ycbcr`` (float)."""
    rgb = np.asarray(image, dtype=np.float64)
    r, g, b = RGB_TO_YCBCR[0]
    return YCBCR_OFFSET[0] + (r * rgb[..., 0] + g * rgb[..., 1] + b * rgb[..., 2]) / 255.0
