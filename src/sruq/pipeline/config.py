"""Config checks with one-line errors that name the offending key.

The workflow validates ``config/config.yaml`` (or a user's ``--configfile``) against the
schema (:mod:`sruq.core.schema`) at start-up, then checks here what a schema cannot express
(keys given twice, names that must refer to known presets, models and datasets).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sruq.core.errors import ConfigError
from sruq.core.layout import TRAINED_ON


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: keys given here win
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"{loader.name}:{key_node.start_mark.line + 1}: key {key!r} is "
                              f"given twice (also on line {seen[key]}); YAML would keep only "
                              "the last one")
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def check_duplicate_keys(path: str | Path) -> None:
    """Raise :class:`ConfigError` naming the file, line and key of a key given twice."""
    with open(path, encoding="utf-8") as fh:
        loader = _UniqueKeyLoader(fh)
        loader.name = str(path)
        try:
            loader.get_single_data()
        finally:
            loader.dispose()


def check_references(config: Mapping[str, Any], presets: Mapping[str, Any],
                     models: Mapping[str, Any]) -> None:
    """Check names that refer to presets, model architectures and dataset roles."""
    from sruq.degrade import validate_preset

    for name, preset in config.get("presets", {}).items():
        try:
            validate_preset(name, preset)
        except ValueError as err:
            raise ConfigError(f"config key 'presets.{name}': {err}") from None
    for i, name in enumerate(config.get("degradations", [])):
        if name not in presets:
            raise ConfigError(
                f"config key 'degradations.{i}': unknown preset {name!r} "
                f"(known: {', '.join(sorted(presets))})"
            )
    for i, name in enumerate(config.get("baselines", [])):
        if name not in models:
            raise ConfigError(
                f"config key 'baselines.{i}': unknown method {name!r} "
                f"(known: {', '.join(sorted(models))})"
            )
    known_methods = (set(config.get("baselines", [])) | set(config.get("models", {}))
                     | set(config.get("classical", {}).get("methods", [])))
    for i, variant in enumerate(config.get("variants", [])):
        base = variant.split("+")[0]
        if base not in known_methods:
            raise ConfigError(
                f"config key 'variants.{i}': {variant!r} varies {base!r}, which is not a "
                f"baseline, model or classical method of this config"
            )
    for name, spec in config.get("models", {}).items():
        for i, preset in enumerate(spec.get("train_degradations", [])):
            if preset not in presets:
                raise ConfigError(
                    f"config key 'models.{name}.train_degradations.{i}': unknown preset "
                    f"{preset!r} (known: {', '.join(sorted(presets))})")
    datasets = config.get("datasets", {})
    check_datasets(datasets)
    train_sets = datasets_with_role(datasets, "train")
    for name, spec in config.get("models", {}).items():
        check_model(name, spec, models, train_sets, config.get("scales"))
    for i, variant in enumerate(config.get("variants", [])):
        if variant.endswith("+mcbn"):
            check_mcbn_variant(f"variants.{i}", variant, config.get("models", {}), models)
    check_ensembles(config, known_methods | set(config.get("variants", [])), models)
    if not datasets_with_role(datasets, "test"):
        raise ConfigError("config key 'datasets': no dataset has role 'test', nothing to evaluate")


def roles(spec: Mapping[str, Any]) -> list[str]:
    """The roles of a dataset entry (``role`` is one name or a list of them)."""
    role = spec["role"]
    return [role] if isinstance(role, str) else list(role)


def datasets_with_role(datasets: Mapping[str, Mapping[str, Any]], role: str) -> list[str]:
    """The names of the datasets that have ``role``, in config order."""
    return [name for name, spec in datasets.items() if role in roles(spec)]


def role_notes(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """A note for every test set that also serves another role, for its tables."""
    notes = {}
    for name, spec in datasets.items():
        other = [r for r in roles(spec) if r != "test"]
        if "test" in roles(spec) and other:
            uses = {"valid": "validation (model selection and sigma scaling)",
                    "train": "training"}
            notes[name] = (f"{name} is also the {' and '.join(uses[r] for r in other)} "
                           "set: these test numbers are not held out")
    return notes


def check_datasets(datasets: Mapping[str, Any]) -> None:
    """Every dataset as far as it can be checked before a job: builtin image names, folders
    that exist and hold readable images, benchmark names of the catalogue."""
    from sruq.core.io import ImageReadError
    from sruq.data.datasets import DatasetError, check_dataset

    for name, spec in datasets.items():
        try:
            check_dataset(name, spec)
        except (DatasetError, ImageReadError) as err:
            key, _, message = str(err).partition(": ")
            raise ConfigError(f"config key '{key}': {message}") from None


def check_model_kwargs(name: str, spec: Mapping[str, Any], models: Mapping[str, Any],
                       scales: list[int] | None = None) -> None:
    """Build the model with its ``kwargs`` at each scale it runs at (its ``scales``, else
    the run's ``scales``); a bad option names its key, a scale the architecture cannot
    run at (LapSRN at x3) ``models.<name>.scales.<i>`` or ``models.<name>``."""
    import inspect

    cls = models[spec["arch"]]
    kwargs = dict(spec.get("kwargs", {}))
    options = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",
                                                                                   "scale")]
    for key in kwargs:
        if key not in options:
            raise ConfigError(f"config key 'models.{name}.kwargs.{key}': not an option of "
                              f"{spec['arch']} (options: {', '.join(options)})")
    try:
        cls(scale=2, **kwargs)  # the options first, at the scale every architecture has
    except (ValueError, TypeError) as err:
        message = str(err)
        key = next((k for k in kwargs if message.startswith(k)), None)
        where = f"models.{name}.kwargs" + (f".{key}" if key else "")
        raise ConfigError(f"config key '{where}': {message}") from None
    given = spec.get("scales")
    for i, scale in enumerate(given or scales or []):
        try:
            cls(scale=scale, **kwargs)
        except (ValueError, TypeError) as err:
            where = f"models.{name}.scales.{i}" if given else f"models.{name}"
            whose = "" if given else " (the run's scales; give the model its own scales)"
            raise ConfigError(f"config key '{where}': {spec['arch']} cannot run at "
                              f"x{scale}: {err}{whose}") from None


def check_bootstrap_reference(reference: str | None, methods: Iterable[str]) -> None:
    """An explicit ``metrics.bootstrap_reference`` must be a method (or ``method@T`` result
    name) of this run; ``None`` (bicubic where it runs) always passes."""
    methods = list(methods)
    if reference is not None and reference.split(TRAINED_ON)[0] not in methods:
        raise ConfigError(
            f"config key 'metrics.bootstrap_reference': {reference!r} is not a method of this "
            f"run (methods: {', '.join(methods)})")


def check_mcbn_variant(key: str, variant: str, configured: Mapping[str, Any],
                       models: Mapping[str, Any]) -> None:
    """A ``+mcbn`` variant varies a trained model whose architecture has BatchNorm (the
    class's ``batch_norm``, read without building)."""
    base = variant.split("+")[0]
    if base not in configured:
        raise ConfigError(f"config key '{key}': {variant!r} needs a trained model with "
                          f"BatchNorm, and {base!r} is not a model of this config")
    arch = configured[base]["arch"]
    if not getattr(models.get(arch), "batch_norm", False):
        with_bn = sorted(n for n, cls in models.items() if getattr(cls, "batch_norm", False))
        raise ConfigError(f"config key '{key}': MC-BatchNorm needs BatchNorm layers, and "
                          f"{base!r} ({arch}) has none (architectures with BatchNorm: "
                          f"{', '.join(with_bn)})")


def check_ensembles(config: Mapping[str, Any], other_methods: set[str],
                    models: Mapping[str, Any]) -> None:
    """Deep ensembles: new method names, members that are models of the config and take
    the same input channels; a ``member_only`` model is a member of one."""
    configured = config.get("models", {})
    members_of_any = {m for members in config.get("ensembles", {}).values() for m in members}
    for name, spec in configured.items():
        if spec.get("member_only") and name not in members_of_any:
            raise ConfigError(f"config key 'models.{name}.member_only': {name!r} is no member "
                              "of a deep ensemble (ensembles), so it would be trained for "
                              "nothing")
    for name, members in config.get("ensembles", {}).items():
        if name in other_methods:
            raise ConfigError(f"config key 'ensembles.{name}': the name is already a method of "
                              "this config")
        channels = {}
        for i, member in enumerate(members):
            if member not in configured:
                raise ConfigError(f"config key 'ensembles.{name}.{i}': {member!r} is not a model "
                                  f"of this config (known: {', '.join(sorted(configured))})")
            spec = configured[member]
            channels[member] = models[spec["arch"]](2, **spec.get("kwargs", {})).in_channels
        if len(set(channels.values())) > 1:
            raise ConfigError(f"config key 'ensembles.{name}': members take different input "
                              f"channels ({channels})")
        default = list(config.get("degradations", []))  # no train_degradations: each of these
        trained = {m: configured[m].get("train_degradations") or default for m in members}
        if len({str(t) for t in trained.values()}) > 1:
            raise ConfigError(f"config key 'ensembles.{name}': members are trained on "
                              f"different degradations ({trained})")


def check_model(name: str, spec: Mapping[str, Any], models: Mapping[str, Any],
                train_sets: list[str], scales: list[int] | None = None) -> None:
    """A model entry: known architecture, building options, train/patch settings, data."""
    from sruq.data.patches import PatchConfig
    from sruq.train import TrainConfig, loss_spec

    if spec["arch"] not in models:
        raise ConfigError(
            f"config key 'models.{name}.arch': unknown architecture {spec['arch']!r} "
            f"(known: {', '.join(sorted(models))})"
        )
    check_model_kwargs(name, spec, models, scales)
    run_scales = scales if scales is not None else spec.get("scales", [])
    for i, s in enumerate(spec.get("scales", [])):
        if s not in run_scales:
            raise ConfigError(f"config key 'models.{name}.scales.{i}': scale {s} is not one of "
                              f"the run's scales ({', '.join(map(str, run_scales))})")
    train_on = spec.get("train_on")
    if train_on is None and not train_sets:
        raise ConfigError(f"config key 'models.{name}': no dataset has role 'train'")
    if train_on is not None and train_on not in train_sets:
        raise ConfigError(
            f"config key 'models.{name}.train_on': {train_on!r} is not a dataset with role "
            f"'train' (known: {', '.join(train_sets) or 'none'})"
        )
    train = TrainConfig.from_dict(spec.get("train"), name)
    PatchConfig.from_dict(spec.get("patches"), name)
    loss_spec(spec["arch"], models[spec["arch"]].heteroscedastic, train, f"models.{name}.train")


def check_device(device: str) -> None:
    """The config's ``device`` exists on this machine (checked where the jobs run here,
    not on a cluster's login node): ``cuda`` without CUDA fails at start-up, naming the
    key and the devices there are."""
    from sruq.models.predict import check_device as check

    try:
        check(device)
    except ValueError as err:
        raise ConfigError(f"config key 'device': {err}") from None


def integer_strings(config: dict[str, Any]) -> dict[str, Any]:
    """``scales`` given as integer strings (``--config scales=[3]`` gives ``['3']``) as
    integers, in place, before the schema check; anything else is left to the schema."""
    scales = config.get("scales")
    if isinstance(scales, list):
        config["scales"] = [int(s) if isinstance(s, str) and s.strip().isdigit() else s
                            for s in scales]
    return config


def _section(name: str, cls: Any, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config's ``name:`` mapping with every default filled in from ``cls`` (the one
    place of the defaults, shared with the CLI); a value it refuses raises
    :class:`ConfigError` naming the key."""
    try:
        return cls.from_config(values).to_config()
    except ValueError as err:
        field = str(err).split()[0]
        key = f"{name}.{field}" if field in cls.__dataclass_fields__ else name
        raise ConfigError(f"config key '{key}': {err}") from None


def mc_settings(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``mc:`` mapping, filled in from :class:`~sruq.uncertainty.settings.MCSettings`;
    the workflow scores whole images, so ``mode: patch`` (a centre crop, ``sruq upscale``
    only) is refused too."""
    from sruq.uncertainty.settings import WORKFLOW_MODES, MCSettings

    filled = _section("mc", MCSettings, values)
    if filled["mode"] not in WORKFLOW_MODES:
        raise ConfigError(f"config key 'mc.mode': the workflow scores whole images, so the "
                          f"mode is one of {', '.join(WORKFLOW_MODES)} (patch covers only a "
                          f"centre crop: sruq upscale --mode patch), got {filled['mode']!r}")
    return filled


def heatmap_settings(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``heatmap:`` mapping, filled in from
    :class:`~sruq.uncertainty.settings.HeatmapSettings`."""
    from sruq.uncertainty.settings import HeatmapSettings

    return _section("heatmap", HeatmapSettings, values)


def move_heatmap_keys(config: dict[str, Any]) -> list[str]:
    """Move the heatmap keys given under ``mc:`` (where they were before ``heatmap:`` had its
    own section) to ``heatmap:``, in place; returns one deprecation line per moved key.
    A key given in both sections is a :class:`ConfigError`."""
    from sruq.uncertainty.settings import MOVED_TO_HEATMAP

    mc = config.get("mc")
    if not isinstance(mc, dict):
        return []
    moved = [key for key in MOVED_TO_HEATMAP if key in mc]
    if not moved:
        return []
    heatmap = config.get("heatmap")
    heatmap = dict(heatmap) if isinstance(heatmap, dict) else {}
    lines = []
    for key in moved:
        if key in heatmap:
            raise ConfigError(f"config key 'mc.{key}': given in heatmap: too; keep "
                              f"'heatmap.{key}' only")
        heatmap[key] = mc.pop(key)
        lines.append(f"sruq: config key 'mc.{key}' is deprecated: it is read as "
                     f"'heatmap.{key}' (move it there)")
    config["heatmap"] = heatmap
    return lines


OUTSIDE_PLACEHOLDERS = ("dataset", "scale", "degradation")
"""What an outside method's ``path`` may hold: the test set, the scale, the degradation."""


def _placeholders(key: str, pattern: str) -> set[str]:
    """The placeholders of an ``outside.<name>.path`` pattern (``str.format`` syntax, plain
    names only; ``{{`` and ``}}`` are literal braces)."""
    import string

    known = ", ".join(f"{{{p}}}" for p in OUTSIDE_PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise ConfigError(f"config key '{key}': {err} in {pattern!r} (write a literal brace "
                          "as {{ or }})") from None
    found = set()
    for _, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in OUTSIDE_PLACEHOLDERS or spec or conversion:
            raise ConfigError(f"config key '{key}': unknown placeholder "
                              f"{{{field}{'!' + conversion if conversion else ''}"
                              f"{':' + spec if spec else ''}}} (known: {known})")
        found.add(field)
    return found


def outside_folder(pattern: str, dataset: str, scale: int | str, degradation: str) -> Path:
    """The folder of an outside method's SR images for one test set, scale and degradation
    (``~`` expanded; a relative path is relative to the working directory)."""
    return Path(pattern.format(dataset=dataset, scale=scale, degradation=degradation)
                ).expanduser()


def check_outside(outside: Mapping[str, Any], datasets: list[str], scales: list[int],
                  degradations: list[str]) -> None:
    """The ``outside:`` methods of a run that tests ``datasets`` at ``scales`` under
    ``degradations``: each ``path`` pattern holds only known placeholders, and every one
    whose value varies in this run (so that no two combinations share a folder); the
    folder of every combination exists."""
    values = {"dataset": datasets, "scale": scales, "degradation": degradations}
    for name, spec in outside.items():
        key, pattern = f"outside.{name}.path", spec["path"]
        found = _placeholders(key, pattern)
        for placeholder, run_values in values.items():
            if placeholder not in found and len(run_values) > 1:
                listing = ", ".join(map(str, run_values))
                raise ConfigError(f"config key '{key}': no {{{placeholder}}} placeholder, but "
                                  f"the run has {len(run_values)} ({listing}), each with its "
                                  f"own folder of SR images")
        for dataset in datasets:
            for scale in scales:
                for degradation in degradations:
                    folder = outside_folder(pattern, dataset, scale, degradation)
                    if not folder.is_dir():
                        raise ConfigError(f"config key '{key}': {folder} is not a folder (the "
                                          f"SR images of {dataset} x{scale} {degradation})")


BUDGET_STEPS = ("iterations", "pretrain_iterations", "step_size", "valid_every",
                "checkpoint_every", "log_every")
"""The step counts of a model's ``train:`` mapping that :func:`scale_budget` scales, so
a scaled run keeps its schedule's shape (as many validations and log rows, the
pretraining and the step decays at the same fraction of the run)."""


def _scaled(value: float, budget: float) -> int:
    """``value * budget`` rounded half up, at least 1."""
    return max(1, math.floor(value * budget + 0.5))


def scale_budget(models: Mapping[str, Any], budget: float) -> dict[str, Any]:
    """The ``models:`` mapping with every training budget scaled by ``budget`` in (0, 1].

    Per model: the step counts of ``train`` (:data:`BUDGET_STEPS`: ``iterations``, its
    ``pretrain_iterations`` when not 0, ``step_size``, ``valid_every``,
    ``checkpoint_every``, ``log_every``; a key left out is scaled from its
    :class:`~sruq.train.TrainConfig` default, a null ``iterations`` stays null) and
    ``patches.per_image`` (from the :class:`~sruq.data.patches.PatchConfig` default when left
    out) become ``round(value * budget)``, at least 1; ``train.minutes``, when set, becomes
    ``minutes * budget``.  A budget of 1 returns the models unchanged (no default is
    written, so the rules' params, and with them finished results, stay as they were).
    """
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget <= 1:
        raise ConfigError(f"config key 'budget': must be a number in (0, 1], got {budget!r}")
    if budget == 1:
        return {name: spec for name, spec in models.items()}
    from sruq.data.patches import PatchConfig
    from sruq.train import TrainConfig

    train_defaults, patch_defaults = TrainConfig(), PatchConfig()
    scaled: dict[str, Any] = {}
    for name, spec in models.items():
        train = dict(spec.get("train") or {})
        for key in BUDGET_STEPS:
            value = train.get(key, getattr(train_defaults, key))
            if value is None or (key == "pretrain_iterations" and value == 0):
                continue
            train[key] = _scaled(value, budget)
        if train.get("minutes") is not None:
            train["minutes"] = train["minutes"] * budget
        patches = dict(spec.get("patches") or {})
        patches["per_image"] = _scaled(patches.get("per_image", patch_defaults.per_image),
                                       budget)
        scaled[name] = {**spec, "train": train, "patches": patches}
    return scaled


def prepare_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the rules use it, changed in place (and returned) once, right after
    its schema check: a ``null`` entry of ``models`` or ``datasets`` is left out (so a
    later ``--configfile`` can drop a recipe's model or dataset, as Snakemake merges
    configfiles key by key), every model's training budget is scaled by the top-level
    ``budget`` (:func:`scale_budget`; default 1, unchanged), and heatmap keys still given
    under ``mc:`` move to ``heatmap:`` with a deprecation line each (:func:`move_heatmap_keys`)."""
    for line in move_heatmap_keys(config):
        print(line, file=sys.stderr)
    for section in ("models", "datasets"):
        if config.get(section) is not None:
            config[section] = {k: v for k, v in config[section].items() if v is not None}
    if "models" in config:
        config["models"] = scale_budget(config["models"], config.get("budget", 1))
    return config


def check_extras(models: Mapping[str, Any]) -> None:
    """What the models' losses need at run time and the config check leaves out, so that
    planning needs none of it: torchvision for a perceptual term of ``train.loss`` or
    ``train.pretrain_loss``.  :class:`~sruq.core.errors.MissingExtraError` names the key."""
    from sruq.core.errors import MissingExtraError
    from sruq.train import check_requirements

    for name, spec in models.items():
        train = spec.get("train") or {}
        for key in ("loss", "pretrain_loss"):
            try:
                check_requirements(train.get(key))
            except MissingExtraError as err:
                raise MissingExtraError(f"config key 'models.{name}.train.{key}': {err}") from None
