"""Model zoo: every method maps LR ``(B, C, h, w)`` in [0, 1] to SR ``(B, C, sh, sw)``."""

from sruq.models import interpolation  # noqa: F401  (registers the baselines)
from sruq.models.base import SRModel
from sruq.models.registry import MODELS, build_model, register

__all__ = ["MODELS", "SRModel", "build_model", "register"]
