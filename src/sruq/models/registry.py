"""Registry from config names to model classes (as BasicSR's ARCH_REGISTRY)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sruq.models.base import SRModel

T = TypeVar("T", bound=type[SRModel])

MODELS: dict[str, type[SRModel]] = {}


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a model buildable from the config as ``name``."""

    def wrap(cls: T) -> T:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is registered twice")
        MODELS[name] = cls
        return cls

    return wrap


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
