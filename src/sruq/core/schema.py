"""The config schema and its validator: one-line errors that name the offending key.

``sruq/schemas/config.schema.yaml`` (package data) is the one set of rules for every
config key, and the workflow validates against the same file: :func:`validate` checks a
whole config, :func:`validate_part` one part of it (a model's ``train:`` or ``patches:``
mapping) against its definition, for direct Python callers.
Types are strict, as in Python: an ``integer`` is an ``int`` (not ``1.0``, not ``true``),
a ``number`` is finite (not ``.nan`` or ``.inf``), and an ``array`` may be a tuple.
Needs only PyYAML and jsonschema, so any stage may check its part of the config.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from sruq.core.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
"""The config schema, shipped in the package (``sruq/schemas``, beside the degradation
schema that it refers to); ``workflow/rules/common.smk`` validates against it too."""


def _load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker: Any, instance: Any) -> bool:
    return (isinstance(instance, numbers.Real) and not isinstance(instance, bool)
            and math.isfinite(instance))


def _is_array(checker: Any, instance: Any) -> bool:
    return isinstance(instance, list | tuple)


_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number, "array": _is_array}),
)


@cache
def _validator(schema_path: Path) -> Draft202012Validator:
    """The validator of a schema file (loaded once); relative ``$ref`` s are files beside it."""

    @cache
    def retrieve(uri: str) -> Resource:
        return Resource.from_contents(_load_yaml(schema_path.parent / uri))

    return _StrictValidator(_load_yaml(schema_path), registry=Registry(retrieve=retrieve))


def _specific(error: ValidationError) -> ValidationError:
    """Descend from a failed ``oneOf``/``anyOf`` into the branch the user meant.

    A branch is ruled out when it fails on a discriminating ``const`` (such as
    ``op: blur``) or on the value's type itself; the first remaining branch's own
    error is more telling than "not valid under any of the given schemas".
    """
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        viable = [
            errs for errs in branches.values()
            if not any(e.validator == "const" or (e.validator == "type" and not e.relative_path)
                       for e in errs)
        ]
        if not viable:
            break
        found = best_match(viable[0])
        if found is None:
            break
        error = found
    return error


def key_error(key: str, message: str) -> ConfigError:
    """The one-line error about config key ``key`` (dotted, e.g. ``models.net.train.lr``)."""
    return ConfigError(f"config key '{key}': {message}")


def _describe(error: ValidationError, where: str = "") -> str:
    error = _specific(error)
    path = ".".join([where] * bool(where) + [str(p) for p in error.absolute_path])
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        key = ".".join(filter(None, [path, str(extra[0]) if extra else ""]))
        hint = f" (known: {', '.join(sorted(known))})" if known else ""
        return f"config key '{key}' is not a known setting{hint}"
    message = error.message
    if error.validator == "type" and isinstance(error.instance, float) \
            and not math.isfinite(error.instance):
        message = f"{error.instance} is not a finite number"
    return str(key_error(path or "(top level)", message))


def _raise_first(validator: Draft202012Validator, instance: Any, where: str = "") -> None:
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise ConfigError(_describe(error, where))


def validate(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    """Raise :class:`ConfigError` naming the first bad key of ``config``."""
    _raise_first(_validator(Path(schema_path).resolve()), config)


def validate_part(value: Any, definition: str, where: str,
                  schema_path: Path = SCHEMA_PATH) -> None:
    """Check ``value`` against ``#/$defs/<definition>`` of the config schema.

    ``where`` is the key of ``value`` in a whole config (e.g. ``models.net.train``); a
    :class:`ConfigError` names the bad key below it, as :func:`validate` would.
    """
    schema_path = Path(schema_path).resolve()
    part = _validator(schema_path).evolve(
        schema={"$ref": f"{schema_path.name}#/$defs/{definition}"})
    _raise_first(part, value, where)
