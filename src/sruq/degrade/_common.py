"""Shared parameter checks and tensor-shape helpers for the degradation operations.

Every check returns the cleaned value or raises ``ValueError`` with one line
naming the parameter (``name``, which callers may give as a config path such
as ``degradations.noisy.steps[2].sigma``) and the bad value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sruq.core.errors import check_count

KERNEL_SIZE_MIN = 7
KERNEL_SIZE_MAX = 21


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return hasattr(value, "__index__") and not isinstance(value, float)


def check_number(name: str, value: Any) -> float:
    """A finite real number (bools rejected)."""
    if hasattr(value, "item") and not isinstance(value, list | tuple):
        value = value.item()
    if not _is_number(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    number = check_number(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def check_nonnegative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    number = check_number(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def check_probability(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    number = check_number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return number


def check_kernel_size(name: str, value: Any) -> int:
    """An odd integer in [7, 21], the kernel sizes Real-ESRGAN draws from."""
    lo, hi = KERNEL_SIZE_MIN, KERNEL_SIZE_MAX
    if not _is_int(value) or not lo <= int(value) <= hi or int(value) % 2 == 0:
        raise ValueError(f"{name} must be an odd integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def check_quality(name: str, value: Any) -> int:
    """A JPEG quality: an integer in [1, 100]."""
    if not _is_int(value) or not 1 <= int(value) <= 100:
        raise ValueError(f"{name} must be an integer JPEG quality in [1, 100], got {value!r}")
    return int(value)


def check_cutoff(name: str, value: Any) -> float:
    """A sinc cut-off frequency in (0, pi] radians per pixel."""
    number = check_number(name, value)
    if not 0 < number <= math.pi:
        raise ValueError(f"{name} must be in (0, pi], got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A real ``bool`` (YAML ``true``/``false``)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def check_distribution(name: str, value: Any, length: int) -> list[float]:
    """``length`` probabilities that sum to 1 (within 1e-6; returned renormalised)."""
    if not isinstance(value, list | tuple) or len(value) != length:
        raise ValueError(f"{name} must be a list of {length} probabilities, got {value!r}")
    probs = [check_probability(f"{name}[{i}]", p) for i, p in enumerate(value)]
    if abs(sum(probs) - 1.0) > 1e-6:
        raise ValueError(f"{name} must sum to 1, got {value!r} (sum {sum(probs):g})")
    return [p / sum(probs) for p in probs]


def check_range(name: str, value: Any, check: Callable[[str, Any], Any]) -> list[Any]:
    """A ``[low, high]`` pair whose ends both pass ``check`` and ``low <= high``."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{name} must be a [low, high] pair, got {value!r}")
    lo, hi = check(f"{name}[0]", value[0]), check(f"{name}[1]", value[1])
    if lo > hi:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return [lo, hi]


def sample_odd(rng: np.random.Generator, lo: int, hi: int) -> int:
    """A uniformly drawn odd integer in ``[lo, hi]`` (both odd)."""
    return int(lo + 2 * rng.integers(0, (hi - lo) // 2 + 1))


def check_scale(name: str, value: Any) -> int:
    """A super-resolution factor: a positive integer."""
    return check_count(name, value)


def as_batch(img: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    """View ``(C, H, W)`` or ``(B, C, H, W)`` as 4-D; the flag says whether it was 3-D."""
    if not isinstance(img, torch.Tensor) or not img.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch tensor, got {type(img).__name__}")
    if img.ndim == 3:
        return img.unsqueeze(0), True
    if img.ndim == 4:
        return img, False
    raise ValueError(f"{name} must have shape (C, H, W) or (B, C, H, W), got {tuple(img.shape)}")


def unbatch(img: torch.Tensor, was_3d: bool) -> torch.Tensor:
    """Undo :func:`as_batch`."""
    return img.squeeze(0) if was_3d else img
