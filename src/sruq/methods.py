"""Every method the workflow evaluates, built from its table name.

Names: an interpolation baseline (``bicubic``...), a trained model of the config
(``esrcnn``...), a classical method (``sparse-coding``, ``fd``), or any of these with a
variant suffix: ``+edge-pre`` / ``+edge-post`` (sharpening around the method) or ``+x8``
(geometric self-ensemble, whose spread is an uncertainty source).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sruq.models.base import SRModel

VARIANTS = ("edge-pre", "edge-post", "x8")


def split_method(name: str) -> tuple[str, str | None]:
    """``"esrcnn+x8"`` -> ``("esrcnn", "x8")``; a plain name has no variant."""
    base, _, variant = name.partition("+")
    if variant and variant not in VARIANTS:
        raise ValueError(f"method {name!r}: unknown variant {variant!r} "
                         f"(known: {', '.join(VARIANTS)})")
    return base, variant or None


def build_method(
    name: str, scale: int, *, preset: Mapping[str, Any], classical: Mapping[str, Any],
    weights: Path | None = None, dictionary: Path | None = None, device: str = "cpu",
) -> SRModel:
    """The SR model behind a method name (an ``+x8`` variant returns its base model)."""
    from sruq.checkpoint import load_trained
    from sruq.classical import EdgeEnhanced, SparseCodingSR, WienerSR
    from sruq.degrade import blur_kernel_of
    from sruq.models import build_model

    base, variant = split_method(name)
    if weights is not None:
        model = load_trained(weights, device)
    elif base == "sparse-coding":
        if dictionary is None:
            raise ValueError("method 'sparse-coding' needs its learned dictionary")
        model = SparseCodingSR.load(dictionary, scale)
    elif base == "fd":
        fd = classical.get("fd", {})
        kernel = blur_kernel_of(dict(preset))
        sigma = None if kernel is not None else fd.get("sigma_per_scale", 0.3) * scale
        model = WienerSR(scale, kernel=kernel, sigma=sigma, balance=fd.get("balance", 0.03))
    else:
        model = build_model(base, scale)
    if variant in ("edge-pre", "edge-post"):
        edge = dict(classical.get("edge", {}))
        model = EdgeEnhanced(model, where=variant.split("-")[1], **edge)
    return model.eval()
