"""Numpy arrays from numpy arrays or torch tensors, without importing torch (so the
metrics and report steps run in environments without it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import torch

ArrayLike: TypeAlias = "np.ndarray | torch.Tensor"


def as_array(values: Any) -> np.ndarray:
    """``values`` as a numpy array; a torch tensor is detached and moved to the CPU."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values)
