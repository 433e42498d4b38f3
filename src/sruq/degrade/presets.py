"""Named degradation presets: plain JSON-able dicts, as written in the user's YAML config.

A preset is either a list of steps::

    {"steps": [{"op": "blur", "kernel": "gaussian", "sigma": 1.6, "size": 13},
               {"op": "downscale", "mode": "matlab_bicubic"},
               {"op": "noise", "kind": "gaussian", "sigma": [5, 15]}]}

or a named pipeline with optional option overrides::

    {"pipeline": "realesrgan", "options": {"noise_range": [1, 10]}}

Step ops: ``blur``, ``resize``, ``downscale`` (exactly one; to ``HR / scale``),
``noise`` and ``jpeg``.  A numeric parameter is a number or a ``[low, high]``
range drawn uniformly per image (integers for ``size``, odd, and ``quality``);
every step but ``downscale`` takes an optional ``prob`` of being applied.
``src/sruq/schemas/degradation.schema.yaml`` documents every key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sruq.degrade._common import (
    check_choice,
    check_cutoff,
    check_kernel_size,
    check_nonnegative,
    check_number,
    check_positive,
    check_probability,
    check_quality,
    check_range,
    check_scale,
    sample_odd,
)
from sruq.degrade.jpeg import jpeg, to_uint8_hwc
from sruq.degrade.kernels import KERNEL_KINDS, blur, blur_kernel, sinc_kernel
from sruq.degrade.noise import gaussian_noise, poisson_noise
from sruq.degrade.realesrgan import realesrgan_degrade, realesrgan_options
from sruq.degrade.resize import RESIZE_MODES, matlab_bicubic_resize, resize

PIPELINES = ("realesrgan",)
STEP_OPS = ("blur", "resize", "downscale", "noise", "jpeg")
DOWNSCALE_MODES = ("matlab_bicubic", *RESIZE_MODES)
BLUR_KERNELS = (*KERNEL_KINDS, "sinc")
NOISE_KINDS = ("gaussian", "poisson")

PRESETS: dict[str, dict[str, Any]] = {
    "bicubic": {
        "description": "MATLAB bicubic downscaling (the benchmark protocol).",
        "steps": [{"op": "downscale", "mode": "matlab_bicubic"}],
    },
    "gauss-blur-bicubic": {
        "description": "Gaussian blur (sigma 1.6) then MATLAB bicubic downscaling.",
        "steps": [
            {"op": "blur", "kernel": "gaussian", "sigma": 1.6, "size": 13},
            {"op": "downscale", "mode": "matlab_bicubic"},
        ],
    },
    "noisy": {
        "description": "MATLAB bicubic downscaling, then Gaussian noise of sigma 10 (0..255).",
        "steps": [
            {"op": "downscale", "mode": "matlab_bicubic"},
            {"op": "noise", "kind": "gaussian", "sigma": 10},
        ],
    },
    "jpeg": {
        "description": "MATLAB bicubic downscaling, then JPEG at quality 40.",
        "steps": [
            {"op": "downscale", "mode": "matlab_bicubic"},
            {"op": "jpeg", "quality": 40},
        ],
    },
    "realesrgan": {
        "description": "Real-ESRGAN second-order degradation with its published x4 defaults.",
        "pipeline": "realesrgan",
    },
}
"""Built-in presets (treat as read-only; copy before editing)."""

Checker = Callable[[str, Any], Any]


# ---------------------------------------------------------------- validation

def _check_param(name: str, value: Any, check: Checker) -> None:
    """A parameter is a single value or a ``[low, high]`` range of values."""
    if isinstance(value, list | tuple):
        check_range(name, value, check)
    else:
        check(name, value)


def _require(step: dict[str, Any], key: str, where: str, why: str) -> None:
    if key not in step:
        raise ValueError(f"{where}.{key}: missing ({why})")


def _forbid(step: dict[str, Any], keys: tuple[str, ...], where: str, why: str) -> None:
    for key in keys:
        if key in step:
            raise ValueError(f"{where}.{key}: not allowed {why}")


def _check_blur(step: dict[str, Any], where: str) -> None:
    kernel = check_choice(f"{where}.kernel", step.get("kernel", "gaussian"), BLUR_KERNELS)
    _require(step, "size", where, "an odd kernel size in [7, 21]")
    _check_param(f"{where}.size", step["size"], check_kernel_size)
    shape_keys = ("sigma", "sigma_x", "sigma_y", "theta_deg", "beta")
    if kernel == "sinc":
        _forbid(step, shape_keys, where, "for kernel sinc (give omega_c)")
        _require(step, "omega_c", where, "the sinc cut-off in (0, pi]")
        _check_param(f"{where}.omega_c", step["omega_c"], check_cutoff)
        return
    _forbid(step, ("omega_c",), where, f"for kernel {kernel} (only for sinc)")
    if "sigma" in step:
        _forbid(step, ("sigma_x", "sigma_y", "theta_deg"), where,
                "together with sigma (use sigma_x, sigma_y, theta_deg for anisotropic blur)")
        _check_param(f"{where}.sigma", step["sigma"], check_positive)
    else:
        _require(step, "sigma_x", where, "give sigma, or sigma_x [and sigma_y, theta_deg]")
        _check_param(f"{where}.sigma_x", step["sigma_x"], check_positive)
        if "sigma_y" in step:
            _check_param(f"{where}.sigma_y", step["sigma_y"], check_positive)
        if "theta_deg" in step:
            _check_param(f"{where}.theta_deg", step["theta_deg"], check_number)
    if kernel == "gaussian":
        _forbid(step, ("beta",), where, "for kernel gaussian (only generalized_gaussian, plateau)")
    else:
        _require(step, "beta", where, f"the shape parameter of kernel {kernel}")
        _check_param(f"{where}.beta", step["beta"], check_positive)


def _check_resize(step: dict[str, Any], where: str) -> None:
    _require(step, "factor", where, "the resize factor, e.g. 0.5 or [0.5, 1.5]")
    _check_param(f"{where}.factor", step["factor"], check_positive)
    check_choice(f"{where}.mode", step.get("mode", "bicubic"), (*RESIZE_MODES, "random"))


def _check_downscale(step: dict[str, Any], where: str) -> None:
    check_choice(f"{where}.mode", step.get("mode", "matlab_bicubic"), DOWNSCALE_MODES)


def _check_noise(step: dict[str, Any], where: str) -> None:
    _require(step, "kind", where, "gaussian or poisson")
    kind = check_choice(f"{where}.kind", step["kind"], NOISE_KINDS)
    amount, other = ("sigma", "scale") if kind == "gaussian" else ("scale", "sigma")
    _forbid(step, (other,), where, f"for {kind} noise (give {amount})")
    _require(step, amount, where, f"the {kind} noise level")
    _check_param(f"{where}.{amount}", step[amount], check_nonnegative)
    check_probability(f"{where}.gray_prob", step.get("gray_prob", 0.0))


def _check_jpeg(step: dict[str, Any], where: str) -> None:
    _require(step, "quality", where, "an integer in [1, 100] or a [low, high] range")
    _check_param(f"{where}.quality", step["quality"], check_quality)


_STEP_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "blur": _check_blur,
    "resize": _check_resize,
    "downscale": _check_downscale,
    "noise": _check_noise,
    "jpeg": _check_jpeg,
}

_STEP_KEYS = {
    "blur": {"kernel", "size", "sigma", "sigma_x", "sigma_y", "theta_deg", "beta", "omega_c",
             "prob"},
    "resize": {"factor", "mode", "prob"},
    "downscale": {"mode"},
    "noise": {"kind", "sigma", "scale", "gray_prob", "prob"},
    "jpeg": {"quality", "prob"},
}


def _check_step(step: Any, where: str) -> str:
    if not isinstance(step, dict):
        raise ValueError(f"{where}: a step must be a mapping with an 'op', got {step!r}")
    _require(step, "op", where, f"one of {', '.join(STEP_OPS)}")
    op = check_choice(f"{where}.op", step["op"], STEP_OPS)
    for key in step:
        if key != "op" and key not in _STEP_KEYS[op]:
            allowed = ", ".join(sorted(_STEP_KEYS[op]))
            raise ValueError(f"{where}.{key}: unknown key for op {op} (allowed: {allowed})")
    if "prob" in step:
        check_probability(f"{where}.prob", step["prob"])
    _STEP_CHECKS[op](step, where)
    return op


def validate_preset(name: str, preset: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming ``degradations.<name>.<key>`` if ``preset`` is invalid."""
    where = f"degradations.{name}"
    if not isinstance(preset, dict):
        raise ValueError(f"{where}: a preset must be a mapping, got {preset!r}")
    allowed = {"description", "steps", "pipeline", "options"}
    for key in preset:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
    if "description" in preset and not isinstance(preset["description"], str):
        raise ValueError(f"{where}.description must be a string, got {preset['description']!r}")
    if ("steps" in preset) == ("pipeline" in preset):
        raise ValueError(f"{where}: give exactly one of 'steps' or 'pipeline'")
    if "pipeline" in preset:
        check_choice(f"{where}.pipeline", preset["pipeline"], PIPELINES)
        options = preset.get("options", {})
        if not isinstance(options, dict):
            raise ValueError(f"{where}.options must be a mapping, got {options!r}")
        realesrgan_options(options, where=f"{where}.options.")
        return
    _forbid(preset, ("options",), where, "with 'steps' (only with 'pipeline')")
    steps = preset["steps"]
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{where}.steps must be a non-empty list, got {steps!r}")
    ops = [_check_step(step, f"{where}.steps[{i}]") for i, step in enumerate(steps)]
    if ops.count("downscale") != 1:
        raise ValueError(f"{where}.steps must contain exactly one 'downscale' step, "
                         f"got {ops.count('downscale')}")


# ---------------------------------------------------------------- application

def _sample(value: Any, rng: np.random.Generator, integer: bool = False) -> Any:
    """Draw a parameter: fixed values pass through, ``[lo, hi]`` is drawn uniformly."""
    if not isinstance(value, list | tuple):
        return value
    lo, hi = value
    if integer:
        return int(rng.integers(lo, hi + 1))
    return float(rng.uniform(lo, hi))


def _sample_blur(step: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Draw the concrete kernel parameters of a blur step."""
    kind = step.get("kernel", "gaussian")
    size = step["size"]
    size = sample_odd(rng, *size) if isinstance(size, list | tuple) else int(size)
    if kind == "sinc":
        return {"kernel": kind, "size": size, "omega_c": _sample(step["omega_c"], rng)}
    sigma_x = _sample(step.get("sigma", step.get("sigma_x")), rng)
    sigma_y = _sample(step["sigma_y"], rng) if "sigma_y" in step else sigma_x
    return {"kernel": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y,
            "theta_deg": _sample(step.get("theta_deg", 0.0), rng),
            "beta": _sample(step.get("beta", 1.0), rng)}


def _kernel(params: dict[str, Any]) -> np.ndarray:
    """The kernel described by :func:`_sample_blur`'s record."""
    if params["kernel"] == "sinc":
        return sinc_kernel(params["size"], params["omega_c"])
    return blur_kernel(params["kernel"], params["size"], params["sigma_x"], params["sigma_y"],
                       params["theta_deg"], params["beta"])


def _run_blur(
    x: torch.Tensor, step: dict[str, Any], rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    params = _sample_blur(step, rng)
    return blur(x, _kernel(params)), params


def _run_resize(
    x: torch.Tensor, step: dict[str, Any], rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    factor = _sample(step["factor"], rng)
    mode = step.get("mode", "bicubic")
    if mode == "random":
        mode = str(rng.choice(RESIZE_MODES))
    size = (max(1, int(x.shape[-2] * factor)), max(1, int(x.shape[-1] * factor)))
    return resize(x, size, mode), {"factor": factor, "mode": mode, "size": list(size)}


def _run_noise(
    x: torch.Tensor, step: dict[str, Any], rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    gray = bool(rng.random() < step.get("gray_prob", 0.0))
    if step["kind"] == "gaussian":
        sigma = _sample(step["sigma"], rng)
        return gaussian_noise(x, sigma, gray, rng), {"kind": "gaussian", "sigma": sigma,
                                                     "gray": gray}
    scale = _sample(step["scale"], rng)
    return poisson_noise(x, scale, gray, rng), {"kind": "poisson", "scale": scale, "gray": gray}


def _run_jpeg(
    x: torch.Tensor, step: dict[str, Any], rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    quality = _sample(step["quality"], rng, integer=True)
    return jpeg(x.clamp(0, 1), quality), {"quality": quality}


_STEP_RUNS = {"blur": _run_blur, "resize": _run_resize, "noise": _run_noise, "jpeg": _run_jpeg}


def _run_steps(
    hr: torch.Tensor, steps: list[dict[str, Any]], lr_size: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    x = hr
    records = []
    for step in steps:
        op = step["op"]
        if "prob" in step and not rng.random() < step["prob"]:
            records.append({"op": op, "applied": False})
            continue
        if op == "downscale":
            mode = step.get("mode", "matlab_bicubic")
            if mode == "matlab_bicubic":
                x = matlab_bicubic_resize(x, lr_size)
            else:
                x = resize(x, lr_size, mode)
            record: dict[str, Any] = {"mode": mode}
        else:
            x, record = _STEP_RUNS[op](x, step, rng)
        records.append({"op": op, "applied": True, **record})
    return x, records


def apply_preset(
    hr: torch.Tensor, preset: dict[str, Any], scale: int, rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Degrade one ``(C, H, W)`` HR image in [0, 1] (``H, W`` multiples of ``scale``).

    Returns the LR image ``(C, H // scale, W // scale)`` in [0, 1] and a
    JSON-serialisable record of every sampled parameter.
    """
    validate_preset("<preset>", preset)
    scale = check_scale("scale", scale)
    if not isinstance(hr, torch.Tensor) or hr.ndim != 3 or not hr.is_floating_point():
        raise ValueError(f"hr must be a float (C, H, W) tensor, got {getattr(hr, 'shape', hr)}")
    _, height, width = hr.shape
    if height % scale or width % scale:
        raise ValueError(f"hr size {height}x{width} is not a multiple of scale {scale}")
    lr_size = (height // scale, width // scale)
    record: dict[str, Any] = {"scale": scale, "hr_size": [height, width],
                              "lr_size": list(lr_size)}
    if "pipeline" in preset:
        lr, details = realesrgan_degrade(hr, scale, rng, preset.get("options"))
        record.update(details)
    else:
        lr, steps = _run_steps(hr, preset["steps"], lr_size, rng)
        record["steps"] = steps
    return lr.clamp(0, 1), record


def degrade_uint8(
    hr: np.ndarray, preset: dict[str, Any], scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`apply_preset` for an ``(H, W[, C])`` uint8 image; the LR is uint8 too.

    For the ``bicubic`` preset the result equals
    :func:`~sruq.degrade.resize.matlab_downscale_uint8` bit for bit.
    """
    arr = np.asarray(hr)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"hr must be an (H, W[, C]) uint8 array, got {arr.dtype} {arr.shape}")
    chw = torch.from_numpy(np.atleast_3d(arr).transpose(2, 0, 1).astype(np.float32) / 255.0)
    lr, record = apply_preset(chw, preset, scale, rng)
    out = to_uint8_hwc(lr)
    return (out[..., 0] if arr.ndim == 2 else out), record


def blur_kernel_of(preset: dict[str, Any]) -> np.ndarray | None:
    """The fixed HR-domain blur kernel of ``preset``, or ``None`` if it has none.

    Known only for step presets with exactly one blur step, before the
    downscale, always applied (no ``prob``) and with fixed (non-range)
    parameters; everything else (random or pipeline presets) gives ``None``.
    """
    validate_preset("<preset>", preset)
    if "steps" not in preset:
        return None
    ops = [step["op"] for step in preset["steps"]]
    blurs = [i for i, op in enumerate(ops) if op == "blur"]
    if len(blurs) != 1 or blurs[0] > ops.index("downscale"):
        return None
    step = preset["steps"][blurs[0]]
    if "prob" in step or any(isinstance(v, list | tuple) for v in step.values()):
        return None
    return _kernel(_sample_blur(step, np.random.default_rng(0)))
