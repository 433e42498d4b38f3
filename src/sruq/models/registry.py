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


def build_model(name: str, scale: int, **kwargs: Any) -> SRModel:
    """Instantiate the model registered as ``name`` for ``scale``."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})"
        ) from None
    try:
        return cls(scale=scale, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad options for model {name!r}: {err}") from None
