"""Every method the workflow evaluates, built from its table name.

Names: an interpolation baseline (``bicubic``...), a trained model of the config
(``esrcnn``...), a classical method (``sparse-coding``, ``fd``), any of these with a
variant suffix: ``+edge-pre`` / ``+edge-post`` (sharpening around the method), ``+x8``
(geometric self-ensemble), ``+tta`` (passes with Gaussian noise on the LR input) or ``+mcbn``
(MC-BatchNorm of a model with BatchNorm), whose spreads are uncertainty sources, a deep
ensemble of trained models, or an outside method (SR images made elsewhere, config key
``outside``).  :func:`method_kinds` gives the kind (:data:`KINDS`) of every
method of a config: the workflow runs each kind with its own rule, and
:data:`UNCERTAIN_KINDS` also write uncertainty outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sruq.core.errors import ConfigError
from sruq.models.base import SRModel

SPREAD_VARIANTS = ("x8", "tta", "mcbn")
"""The variants whose spread is an uncertainty source: each suffix is its source's name
(:data:`sruq.uncertainty.sources.SOURCES`) and its methods' kind."""
VARIANT_KINDS: dict[str, str] = {"edge-pre": "variant", "edge-post": "variant",
                                 **{variant: variant for variant in SPREAD_VARIANTS}}
"""Every variant suffix and the kind of its methods."""
VARIANTS = tuple(VARIANT_KINDS)

KINDS: dict[str, str] = {
    "baseline": "an interpolation baseline (config key baselines), run once",
    "network": "a trained model without dropout (models), run once",
    "mc": "a trained model with dropout (models): MC-dropout samples",
    "classical": "a classical method (classical.methods), run once",
    "variant": "a +edge-pre / +edge-post variant (variants), run once",
    "x8": "a +x8 geometric self-ensemble (variants): the 8 transforms' spread",
    "ensemble": "a deep ensemble of trained models (ensembles): the members' spread",
    "outside": "SR images made elsewhere (outside), checked and taken in; no uncertainty",
    "tta": "a +tta variant (variants): the spread of mc.samples passes with Gaussian noise "
           "(std mc.tta_noise) on the LR input",
    "mcbn": "a +mcbn variant of a model with BatchNorm (variants): the spread of "
            "mc.samples passes with the BatchNorm statistics of random training batches",
}
"""Every kind of method and what it is."""

UNCERTAIN_KINDS = ("mc", "x8", "ensemble", "tta", "mcbn")
"""The kinds that are uncertainty sources, each named as its source
(:data:`sruq.uncertainty.sources.SOURCES`): they also write per-pixel spreads."""

HasDropout = Callable[[str, Mapping[str, Any] | None], bool]


def split_method(name: str) -> tuple[str, str | None]:
    """``"esrcnn+x8"`` -> ``("esrcnn", "x8")``; a plain name has no variant."""
    base, _, variant = name.partition("+")
    if variant and variant not in VARIANTS:
        raise ValueError(f"method {name!r}: unknown variant {variant!r} "
                         f"(known: {', '.join(VARIANTS)})")
    return base, variant or None


def _named_methods(config: Mapping[str, Any],
                   has_dropout: HasDropout) -> Iterator[tuple[str, str, str]]:
    """(config key, method, kind) of every method of ``config``, in table order."""
    for i, name in enumerate(config.get("baselines", [])):
        yield f"baselines.{i}", name, "baseline"
    for name, spec in config.get("models", {}).items():
        if spec.get("member_only"):
            continue  # trained for a deep ensemble only: no results of its own
        dropout = has_dropout(spec["arch"], spec.get("kwargs"))
        yield f"models.{name}", name, "mc" if dropout else "network"
    for i, name in enumerate(config.get("classical", {}).get("methods", [])):
        yield f"classical.methods.{i}", name, "classical"
    for i, name in enumerate(config.get("variants", [])):
        yield f"variants.{i}", name, VARIANT_KINDS.get(split_method(name)[1] or "", "variant")
    for name in config.get("ensembles", {}):
        yield f"ensembles.{name}", name, "ensemble"
    for name in config.get("outside", {}):
        yield f"outside.{name}", name, "outside"


def method_kinds(config: Mapping[str, Any], has_dropout: HasDropout) -> dict[str, str]:
    """Every method of a workflow config -> its kind (a key of :data:`KINDS`), in table
    order: the methods of ``table_order`` in its order, then the others as baselines,
    models, classical methods, variants, ensembles, outside methods.

    ``has_dropout(arch, kwargs)`` (:func:`sruq.models.has_dropout`) tells MC-dropout
    models from deterministic networks.  A name given twice, or a ``table_order`` entry
    that is no method of the config, is a :class:`ConfigError`.
    """
    kinds: dict[str, str] = {}
    for key, name, kind in _named_methods(config, has_dropout):
        if name in kinds:
            raise ConfigError(f"config key '{key}': {name!r} is already a method of this "
                              f"config ({kinds[name]})")
        kinds[name] = kind
    order = list(config.get("table_order", []))
    for i, name in enumerate(order):
        if name not in kinds:
            raise ConfigError(f"config key 'table_order.{i}': {name!r} is not a method of this "
                              f"config (known: {', '.join(kinds)})")
    return {name: kinds[name] for name in [*order, *(n for n in kinds if n not in order)]}


def methods_of_kind(kinds: Mapping[str, str], *wanted: str) -> list[str]:
    """The methods of ``kinds`` (from :func:`method_kinds`) of the ``wanted`` kinds, in
    order."""
    unknown = [kind for kind in wanted if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown method kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return [name for name, kind in kinds.items() if kind in wanted]


def build_method(
    name: str, scale: int, *, preset: Mapping[str, Any], classical: Mapping[str, Any],
    weights: Path | None = None, dictionary: Path | None = None, device: str = "cpu",
) -> SRModel:
    """The SR model behind a method name (a variant with a spread, ``+x8``, ``+tta`` or
    ``+mcbn``, returns its base model; its source wraps it).  ``classical`` is the config's
    ``classical:`` section with the schema's defaults filled in (``fd`` reads its
    ``balance`` and ``sigma_per_scale`` there, their one place)."""
    from sruq.degrade import blur_kernel_of
    from sruq.models import build_model
    from sruq.models.checkpoint import load_trained
    from sruq.models.sparse_coding import SparseCodingSR
    from sruq.models.wiener import WienerSR
    from sruq.wrappers.edge import EdgeEnhanced

    base, variant = split_method(name)
    if weights is not None:
        model = load_trained(weights, device)
    elif base == "sparse-coding":
        if dictionary is None:
            raise ValueError("method 'sparse-coding' needs its learned dictionary")
        model = SparseCodingSR.load(dictionary, scale)
    elif base == "fd":
        fd = classical["fd"]  # its defaults: the config schema's (filled in by the workflow)
        kernel = blur_kernel_of(dict(preset))
        sigma = None if kernel is not None else fd["sigma_per_scale"] * scale
        model = WienerSR(scale, kernel=kernel, sigma=sigma, balance=fd["balance"])
    else:
        model = build_model(base, scale)
    if variant in ("edge-pre", "edge-post"):
        edge = dict(classical.get("edge", {}))
        model = EdgeEnhanced(model, where=variant.split("-")[1], **edge)
    return model.eval()
