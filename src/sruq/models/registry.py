"""The one table from config names to model classes (as BasicSR's ARCH_REGISTRY, written
out): :data:`MODELS`.  The class answers its facts (``trainable``, ``batch_norm``, its
constructor's ``dropout`` default) without being built."""

from __future__ import annotations

from typing import Any

from sruq.models.base import SRModel
from sruq.models.edsr import EDSRBaseline
from sruq.models.espcn import ESPCN
from sruq.models.fsrcnn import FSRCNN
from sruq.models.hetero import HeteroSRResNet
from sruq.models.interpolation import Bicubic, Bilinear, Lanczos, Nearest
from sruq.models.lapsrn import LapSRN
from sruq.models.rrdbnet import RRDBNet
from sruq.models.sparse_coding import SparseCodingSR
from sruq.models.srcnn import ESRCNN, SRCNN
from sruq.models.srcnn_variant import SRCNNVariant
from sruq.models.srresnet import SRResBNN, SRResNet
from sruq.models.vdsr import VDSR
from sruq.models.wiener import WienerSR

MODELS: dict[str, type[SRModel]] = {
    # interpolation baselines (config key baselines)
    "nearest": Nearest,
    "bilinear": Bilinear,
    "bicubic": Bicubic,
    "lanczos": Lanczos,
    # classical methods (classical.methods)
    "sparse-coding": SparseCodingSR,
    "fd": WienerSR,
    # networks (models.<name>.arch); srgan and esrgan name the generators of the GANs
    "srcnn": SRCNN,
    "esrcnn": ESRCNN,
    "srcnn-variant": SRCNNVariant,
    "fsrcnn": FSRCNN,
    "espcn": ESPCN,
    "vdsr": VDSR,
    "srresnet": SRResNet,
    "srgan": SRResNet,
    "srresbnn": SRResBNN,
    "hetero-srresnet": HeteroSRResNet,
    "edsr-baseline": EDSRBaseline,
    "rrdbnet": RRDBNet,
    "esrgan": RRDBNet,
    "lapsrn": LapSRN,
}
"""Every model by its config name."""


def has_dropout(name: str, kwargs: dict[str, Any] | None = None) -> bool:
    """Whether the model registered as ``name`` with these options has active dropout,
    read from its constructor's ``dropout`` argument (the given value, else its default)
    without building it (what the workflow needs at parse time)."""
    import inspect

    parameter = inspect.signature(model_class(name).__init__).parameters.get("dropout")
    if parameter is None:
        return False
    rate = (kwargs or {}).get("dropout", parameter.default)
    return isinstance(rate, int | float) and rate > 0


def has_batch_norm(name: str) -> bool:
    """Whether the model registered as ``name`` has BatchNorm layers (whatever its options),
    read from its class's ``batch_norm`` without building it."""
    return bool(getattr(model_class(name), "batch_norm", False))


def model_class(name: str) -> type[SRModel]:
    """The class registered as ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})"
        ) from None


def build_model(name: str, scale: int, **kwargs: Any) -> SRModel:
    """Instantiate the model registered as ``name`` for ``scale``."""
    cls = model_class(name)
    try:
        return cls(scale=scale, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad options for model {name!r}: {err}") from None
