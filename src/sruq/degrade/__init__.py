"""Image degradations that turn HR images into LR training/test inputs.

Pure operations on float tensors in [0, 1] (``(C, H, W)`` or ``(B, C, H, W)``),
randomness from an explicit ``numpy.random.Generator``:

* :func:`matlab_downscale_uint8`, :func:`matlab_bicubic_resize` -- MATLAB-exact bicubic;
  :func:`resize` -- torch area/bilinear/bicubic resizes;
* :func:`blur_kernel`, :func:`sinc_kernel`, :func:`blur` -- blur kernels and filtering;
* :func:`gaussian_noise`, :func:`poisson_noise` -- colour or grey noise;
* :func:`jpeg` -- Pillow JPEG round trip;
* :func:`realesrgan_degrade` -- Real-ESRGAN's second-order pipeline.

Named presets (:data:`PRESETS`) combine them; :func:`apply_preset` and
:func:`degrade_uint8` apply one and return a record of every sampled parameter.
"""

from sruq.degrade.jpeg import jpeg
from sruq.degrade.kernels import KERNEL_KINDS, blur, blur_kernel, sinc_kernel
from sruq.degrade.noise import gaussian_noise, poisson_noise
from sruq.degrade.presets import (
    PRESETS,
    apply_preset,
    blur_kernel_of,
    degrade_uint8,
    validate_preset,
)
from sruq.degrade.realesrgan import REALESRGAN_DEFAULTS, realesrgan_degrade
from sruq.degrade.resize import (
    RESIZE_MODES,
    matlab_bicubic_resize,
    matlab_downscale_uint8,
    resize,
)

__all__ = [
    "KERNEL_KINDS",
    "PRESETS",
    "REALESRGAN_DEFAULTS",
    "RESIZE_MODES",
    "apply_preset",
    "blur",
    "blur_kernel",
    "blur_kernel_of",
    "degrade_uint8",
    "gaussian_noise",
    "jpeg",
    "matlab_bicubic_resize",
    "matlab_downscale_uint8",
    "poisson_noise",
    "realesrgan_degrade",
    "resize",
    "sinc_kernel",
    "validate_preset",
]
