import itertools
import os
import re
from pathlib import Path

from snakemake.utils import min_version, validate

from sruq import layout
from sruq.config import check_duplicate_keys, check_references, mc_settings, prepare_config
from sruq.schema import validate as validate_config
from sruq.degrade import PRESETS
from sruq.layout import fill
from sruq.methods import UNCERTAIN_KINDS, method_kinds, methods_of_kind, split_method
from sruq.models import MODELS, has_dropout
from sruq.tables import PER_IMAGE, table_files

min_version("8.0")

# Step scripts import sruq from this workflow's own source tree, also inside the
# per-step conda environments (which hold only third-party packages).
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.getenv("PYTHONPATH")])))

SCHEMA = Path(workflow.current_basedir) / "../schemas/config.schema.yaml"
for path in workflow.configfiles:  # YAML itself would keep the last of two equal keys
    check_duplicate_keys(path)
validate_config(config, SCHEMA)  # one-line error naming the bad key
prepare_config(config)  # null models/datasets left out, budget applied (sruq.config)
validate(config, str(SCHEMA))  # snakemake's own validation; fills in defaults

# the mc: defaults live in MCSettings (shared with the CLI); its checks run here too
config["mc"] = mc_settings(config["mc"])
ALL_PRESETS = {**PRESETS, **config["presets"]}
check_references(config, ALL_PRESETS, MODELS)

DATASETS = config["datasets"]
TEST_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "test"]
VALID_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "valid"]
TRAIN_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "train"]
LPIPS_NET = config["metrics"]["lpips"]
MODELS_CFG = config["models"]
ENSEMBLES = config["ensembles"]
METRICS_CFG = config["metrics"]
# every method of the config by its kind (sruq.methods.KINDS), in table order; each of
# the rules upscale, infer_model, self_ensemble and deep_ensemble runs its kinds
KIND_OF = method_kinds(config, has_dropout)
METHODS = list(KIND_OF)
UNCERTAIN_METHODS = methods_of_kind(KIND_OF, *UNCERTAIN_KINDS)


def method_pattern(*kinds):
    """A ``method`` wildcard constraint matching exactly the config's methods of ``kinds``
    (a rule without any matches nothing)."""
    return "|".join(re.escape(m) for m in methods_of_kind(KIND_OF, *kinds)) or "^$"


def model_scales(model):
    """The scales a trained model of the config is trained and evaluated at."""
    return MODELS_CFG[model].get("scales", config["scales"])


def runs_at(method, scale):
    """Whether a method of the config has results at ``scale``: a trained model (or a
    variant of it) at its own scales, a deep ensemble where all its members are."""
    base = split_method(method)[0]
    if base in MODELS_CFG:
        return int(scale) in model_scales(base)
    if method in ENSEMBLES:
        return all(int(scale) in model_scales(m) for m in ENSEMBLES[method])
    return True


def methods_at(scale, methods=None):
    """The methods (default: all of the config) that have results at ``scale``."""
    return [m for m in (METHODS if methods is None else methods) if runs_at(m, scale)]


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    degradation="[A-Za-z0-9_-]+",
    scale="[0-9]+",
    method="[A-Za-z0-9_.+-]+",
    model="[A-Za-z0-9_-]+",


COMBOS = dict(
    dataset=TEST_SETS, degradation=config["degradations"], scale=config["scales"]
)
METRIC_FILES = [
    fill(layout.METRICS, dataset=dataset, degradation=degradation, scale=scale, method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale)
]
# LPIPS has its own rule and env (torch, torchvision, lpips); the tables merge its column
LPIPS_FILES = [
    fill(layout.LPIPS, dataset=dataset, degradation=degradation, scale=scale, method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale)
] if LPIPS_NET else []
UNCERTAINTY_FILES = [
    fill(layout.UNCERTAINTY_METRICS, dataset=dataset, degradation=degradation, scale=scale,
         method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale, UNCERTAIN_METHODS)
]
TABLES = [
    str(p)
    for p in table_files(
        Path(layout.TABLES),
        itertools.product(TEST_SETS, config["scales"], config["degradations"]),
    )
]
PER_IMAGE_TABLE = str(Path(layout.TABLES) / PER_IMAGE)
FIGURES = [
    fill(layout.FIGURE, dataset=dataset, degradation=degradation, scale=scale, figure=name)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for name in ["metrics", "comparison"]
    + (["heatmaps", "sparsification", "reliability"] if methods_at(scale, UNCERTAIN_METHODS) else [])
] + ([layout.TRAINING_CURVES] if MODELS_CFG else [])


def source_record(wildcards):
    """Builtin photos need no download; folders and benchmark sets are located first."""
    if DATASETS[wildcards.dataset]["source"] == "builtin":
        return {}
    return {"source": fill(layout.SOURCE, dataset=wildcards.dataset)}


def train_set_of(model):
    """The dataset a trained model (or the sparse-coding dictionary) learns from."""
    spec = MODELS_CFG.get(model, {})
    return spec.get("train_on", TRAIN_SETS[0] if TRAIN_SETS else "")


def model_file(pattern, model, degradation, scale):
    """A file of a trained model of the config (``layout.WEIGHTS``, ``TRAINING_LOG``...)."""
    return fill(pattern, dataset=train_set_of(model), degradation=degradation, scale=scale,
                model=model)


def weights_of(wildcards):
    """The weight file of a trained model for the wildcards' degradation and scale."""
    return model_file(layout.WEIGHTS, wildcards.method, wildcards.degradation, wildcards.scale)


def ensemble_weights(wildcards):
    """The weight files of a deep ensemble's members for the wildcards' degradation/scale."""
    w = wildcards
    return [model_file(layout.WEIGHTS, m, w.degradation, w.scale) for m in ENSEMBLES[w.method]]


def method_inputs(wildcards):
    """What a method needs besides the LR images: weights of a trained base model, the
    sparse-coding dictionary, and the HR images for the spread of an x8 variant."""
    base, variant = split_method(wildcards.method)
    w = wildcards
    inputs = {}
    if base in MODELS_CFG:
        inputs["weights"] = model_file(layout.WEIGHTS, base, w.degradation, w.scale)
    if base == "sparse-coding":
        inputs["dictionary"] = fill(layout.DICTIONARY, dataset=train_set_of(base), scale=w.scale)
    if variant == "x8":
        inputs["hr"] = fill(layout.HR, dataset=w.dataset)
    return inputs


def calibration_file(degradation, scale, method):
    """The sigma-scaling factor of an uncertainty source, fitted on the validation images."""
    return fill(layout.CALIBRATION, degradation=degradation, scale=scale, method=method)


def heatmap_calibration(wildcards):
    """Test-set heatmaps show the sigma-scaled std, so they wait for the factor fitted on
    the validation images; on the validation images themselves the raw std is drawn."""
    w = wildcards
    if w.dataset in VALID_SETS or not config["mc"]["sigma_scaled"]:
        return {}
    return {"calibration": calibration_file(w.degradation, w.scale, w.method)}


def calibration_inputs(wildcards):
    """MC outputs on the validation sets, for sigma scaling (none: no scaling)."""
    w = wildcards
    return [
        fill(layout.UNCERTAINTY, dataset=valid, degradation=w.degradation, scale=w.scale,
             method=w.method)
        for valid in VALID_SETS
    ]
