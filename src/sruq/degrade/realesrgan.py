"""Real-ESRGAN's second-order degradation pipeline (Wang et al., ICCVW 2021).

Semantics and defaults follow the public Real-ESRGAN x4 training options
(``RealESRGANDataset`` + ``RealESRGANModel.feed_data``)::

    blur(k1) -> random resize -> Gaussian|Poisson noise -> JPEG
    [blur(k2) with prob 0.8] -> random resize (relative to HR/scale) -> noise -> JPEG
    final: 50/50 either  resize to HR/scale -> sinc -> JPEG
                    or   JPEG -> resize to HR/scale -> sinc
    round to 8 bits

Differences from the reference, on purpose: JPEG is Pillow at an integer
quality drawn uniformly from the range (the reference uses differentiable
JPEG at a real-valued quality), random numbers come from one
``numpy.random.Generator`` and the sharpened ground truth (USM) is not part of
the degradation.  Option names are those of the Real-ESRGAN YAML files, so a
preset can override any of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sruq.core.imresize import round_half_up
from sruq.degrade._common import (
    KERNEL_SIZE_MAX,
    KERNEL_SIZE_MIN,
    check_distribution,
    check_kernel_size,
    check_nonnegative,
    check_positive,
    check_probability,
    check_quality,
    check_range,
    check_scale,
    sample_odd,
)
from sruq.degrade.jpeg import jpeg
from sruq.degrade.kernels import blur, blur_kernel, sinc_kernel
from sruq.degrade.noise import gaussian_noise, poisson_noise
from sruq.degrade.resize import RESIZE_MODES, resize

KERNEL_LIST = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
"""Kernel families, in the order of ``kernel_prob``."""

REALESRGAN_DEFAULTS: dict[str, Any] = {
    "kernel_range": [KERNEL_SIZE_MIN, KERNEL_SIZE_MAX],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob": 0.1,
    "blur_sigma": [0.2, 3.0],
    "betag_range": [0.5, 4.0],
    "betap_range": [1.0, 2.0],
    "resize_prob": [0.2, 0.7, 0.1],
    "resize_range": [0.15, 1.5],
    "gaussian_noise_prob": 0.5,
    "noise_range": [1.0, 30.0],
    "poisson_scale_range": [0.05, 3.0],
    "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95],
    "second_blur_prob": 0.8,
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob2": 0.1,
    "blur_sigma2": [0.2, 1.5],
    "betag_range2": [0.5, 4.0],
    "betap_range2": [1.0, 2.0],
    "resize_prob2": [0.3, 0.4, 0.3],
    "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5,
    "noise_range2": [1.0, 25.0],
    "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4,
    "jpeg_range2": [30, 95],
    "final_sinc_prob": 0.8,
}
"""Published Real-ESRGAN x4 options; a preset may override any of them."""

_PROBS = ("sinc_prob", "gaussian_noise_prob", "gray_noise_prob", "second_blur_prob", "sinc_prob2",
          "gaussian_noise_prob2", "gray_noise_prob2", "final_sinc_prob")
_DISTRIBUTIONS = {"kernel_prob": 6, "kernel_prob2": 6, "resize_prob": 3, "resize_prob2": 3}
_RANGES = {
    "blur_sigma": check_positive, "blur_sigma2": check_positive,
    "betag_range": check_positive, "betag_range2": check_positive,
    "betap_range": check_positive, "betap_range2": check_positive,
    "resize_range": check_positive, "resize_range2": check_positive,
    "noise_range": check_nonnegative, "noise_range2": check_nonnegative,
    "poisson_scale_range": check_nonnegative, "poisson_scale_range2": check_nonnegative,
    "jpeg_range": check_quality, "jpeg_range2": check_quality,
    "kernel_range": check_kernel_size,
}


def realesrgan_options(overrides: dict[str, Any] | None = None, where: str = "") -> dict[str, Any]:
    """The defaults updated with ``overrides``, every value checked.

    ``where`` prefixes parameter names in error messages (e.g.
    ``degradations.real.``).
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(REALESRGAN_DEFAULTS))
    if unknown:
        raise ValueError(f"{where}{unknown[0]}: unknown Real-ESRGAN option "
                         f"(known: {', '.join(REALESRGAN_DEFAULTS)})")
    opts = {**REALESRGAN_DEFAULTS, **overrides}
    for key in _PROBS:
        opts[key] = check_probability(where + key, opts[key])
    for key, length in _DISTRIBUTIONS.items():
        opts[key] = check_distribution(where + key, opts[key], length)
    for key, check in _RANGES.items():
        opts[key] = check_range(where + key, opts[key], check)
    for key in ("resize_range", "resize_range2"):
        if not opts[key][0] <= 1.0 <= opts[key][1]:
            raise ValueError(f"{where}{key} must contain 1 (low <= 1 <= high), got {opts[key]!r}")
    return opts


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _random_beta(rng: np.random.Generator, beta_range: list[float]) -> float:
    """Real-ESRGAN's shape draw: for a range around 1, half the time below 1, half above."""
    lo, hi = beta_range
    if not lo <= 1.0 <= hi:
        return _uniform(rng, lo, hi)
    if rng.random() < 0.5:
        return _uniform(rng, lo, 1.0)
    return _uniform(rng, 1.0, hi)


def random_kernel(
    rng: np.random.Generator, opts: dict[str, Any], stage: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw stage-1 or stage-2 blur kernel and a record of its parameters."""
    suffix = "" if stage == 1 else "2"
    size = sample_odd(rng, *opts["kernel_range"])
    if rng.random() < opts["sinc_prob" + suffix]:
        omega = _uniform(rng, math.pi / 3 if size < 13 else math.pi / 5, math.pi)
        return sinc_kernel(size, omega), {"kernel": "sinc", "size": size, "omega_c": omega}
    family = KERNEL_LIST[int(rng.choice(len(KERNEL_LIST), p=opts["kernel_prob" + suffix]))]
    sigma_range = opts["blur_sigma" + suffix]
    sigma_x = _uniform(rng, *sigma_range)
    if family.endswith("aniso"):
        sigma_y = _uniform(rng, *sigma_range)
        theta = _uniform(rng, -180.0, 180.0)
    else:
        sigma_y, theta = sigma_x, 0.0
    beta = 1.0
    kind = "gaussian"
    if family.startswith("generalized"):
        kind, beta = "generalized_gaussian", _random_beta(rng, opts["betag_range" + suffix])
    elif family.startswith("plateau"):
        kind, beta = "plateau", _random_beta(rng, opts["betap_range" + suffix])
    record = {"kernel": kind, "family": family, "size": size, "sigma_x": sigma_x,
              "sigma_y": sigma_y, "theta_deg": theta, "beta": beta}
    return blur_kernel(kind, size, sigma_x, sigma_y, theta, beta), record


def _random_resize(
    x: torch.Tensor, rng: np.random.Generator, probs: list[float], factor_range: list[float],
    base: tuple[float, float],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Resize to ``base * factor`` with a random up/down/keep factor and a random mode."""
    direction = ("up", "down", "keep")[int(rng.choice(3, p=probs))]
    if direction == "up":
        factor = _uniform(rng, 1.0, factor_range[1])
    elif direction == "down":
        factor = _uniform(rng, factor_range[0], 1.0)
    else:
        factor = 1.0
    mode = str(rng.choice(RESIZE_MODES))
    size = (max(1, int(base[0] * factor)), max(1, int(base[1] * factor)))
    record = {"direction": direction, "factor": factor, "mode": mode, "size": list(size)}
    return resize(x, size, mode), record


def _random_noise(
    x: torch.Tensor, rng: np.random.Generator, opts: dict[str, Any], stage: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    suffix = "" if stage == 1 else "2"
    gaussian = rng.random() < opts["gaussian_noise_prob" + suffix]
    gray = bool(rng.random() < opts["gray_noise_prob" + suffix])
    if gaussian:
        sigma = _uniform(rng, *opts["noise_range" + suffix])
        return gaussian_noise(x, sigma, gray, rng), {"kind": "gaussian", "sigma": sigma,
                                                     "gray": gray}
    scale = _uniform(rng, *opts["poisson_scale_range" + suffix])
    return poisson_noise(x, scale, gray, rng), {"kind": "poisson", "scale": scale, "gray": gray}


def _random_jpeg(
    x: torch.Tensor, rng: np.random.Generator, quality_range: list[int]
) -> tuple[torch.Tensor, dict[str, Any]]:
    quality = int(rng.integers(quality_range[0], quality_range[1] + 1))
    return jpeg(x.clamp(0, 1), quality), {"quality": quality}


def _resize_sinc(
    x: torch.Tensor, size: tuple[int, int], mode: str, sinc: dict[str, Any] | None
) -> torch.Tensor:
    """The final resize to the LR size, then the (optional) sinc filter."""
    x = resize(x, size, mode)
    return x if sinc is None else blur(x, sinc_kernel(sinc["size"], sinc["omega_c"]))


def realesrgan_degrade(
    hr: torch.Tensor,
    scale: int,
    rng: np.random.Generator,
    overrides: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Degrade one ``(C, H, W)`` HR image to ``(C, H//scale, W//scale)``, 8-bit quantised.

    Returns the LR image and a JSON-serialisable record of every random choice.
    """
    if hr.ndim != 3:
        raise ValueError(f"hr must have shape (C, H, W), got {tuple(hr.shape)}")
    scale = check_scale("scale", scale)
    opts = realesrgan_options(overrides)
    _, height, width = hr.shape
    lr_size = (height // scale, width // scale)
    x = hr.unsqueeze(0)

    kernel1, blur1 = random_kernel(rng, opts, 1)
    x = blur(x, kernel1)
    x, resize1 = _random_resize(x, rng, opts["resize_prob"], opts["resize_range"],
                                (height, width))
    x, noise1 = _random_noise(x, rng, opts, 1)
    x, jpeg1 = _random_jpeg(x, rng, opts["jpeg_range"])
    stage1 = {"blur": blur1, "resize": resize1, "noise": noise1, "jpeg": jpeg1}

    blur2 = None
    if rng.random() < opts["second_blur_prob"]:
        kernel2, blur2 = random_kernel(rng, opts, 2)
        x = blur(x, kernel2)
    x, resize2 = _random_resize(x, rng, opts["resize_prob2"], opts["resize_range2"],
                                (height / scale, width / scale))
    x, noise2 = _random_noise(x, rng, opts, 2)
    stage2 = {"blur": blur2, "resize": resize2, "noise": noise2}

    sinc = None
    if rng.random() < opts["final_sinc_prob"]:
        size = sample_odd(rng, *opts["kernel_range"])
        sinc = {"kernel": "sinc", "size": size, "omega_c": _uniform(rng, math.pi / 3, math.pi)}
    order = "resize_sinc_jpeg" if rng.random() < 0.5 else "jpeg_resize_sinc"
    mode = str(rng.choice(RESIZE_MODES))
    if order == "jpeg_resize_sinc":
        x, stage2["jpeg"] = _random_jpeg(x, rng, opts["jpeg_range2"])
        x = _resize_sinc(x, lr_size, mode, sinc)
    else:
        x = _resize_sinc(x, lr_size, mode, sinc)
        x, stage2["jpeg"] = _random_jpeg(x, rng, opts["jpeg_range2"])
    final = {"order": order, "resize_mode": mode, "sinc": sinc}

    lr = round_half_up(x.clamp(0, 1) * 255.0) / 255.0
    record = {"pipeline": "realesrgan", "stage1": stage1, "stage2": stage2, "final": final}
    return lr.squeeze(0), record
