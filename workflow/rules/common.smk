import itertools
import os
import re
from pathlib import Path

from snakemake.utils import min_version, validate

from sruq.config import check_references
from sruq.config import validate as validate_config
from sruq.degrade import PRESETS
from sruq.methods import split_method
from sruq.models import MODELS, build_model
from sruq.tables import table_files

min_version("8.0")

# Step scripts import sruq from this workflow's own source tree, also inside the
# per-step conda environments (which hold only third-party packages).
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.getenv("PYTHONPATH")])))

SCHEMA = Path(workflow.current_basedir) / "../schemas/config.schema.yaml"
validate_config(config, SCHEMA)  # one-line error naming the bad key
validate(config, str(SCHEMA))  # snakemake's own validation; fills in defaults

ALL_PRESETS = {**PRESETS, **config["presets"]}
check_references(config, ALL_PRESETS, MODELS)

DATASETS = config["datasets"]
TEST_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "test"]
VALID_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "valid"]
TRAIN_SETS = [name for name, spec in DATASETS.items() if spec["role"] == "train"]
LPIPS_NET = config["metrics"]["lpips"]
MODELS_CFG = config["models"]
BASELINES = config["baselines"]
CLASSICAL = config["classical"]["methods"]
VARIANTS = config["variants"]
X8_VARIANTS = [v for v in VARIANTS if split_method(v)[1] == "x8"]
ENSEMBLES = config["ensembles"]
METHODS = BASELINES + list(MODELS_CFG) + CLASSICAL + VARIANTS + list(ENSEMBLES)
# methods run by the `upscale` rule (no MC dropout); trained models go through `infer_model`
SIMPLE_METHODS = BASELINES + CLASSICAL + [v for v in VARIANTS if v not in X8_VARIANTS]
# networks with dropout get MC outputs; they, the x8 variants and the deep ensembles get
# uncertainty metrics
MC_MODELS = [
    name
    for name, spec in MODELS_CFG.items()
    if build_model(spec["arch"], 2, **spec["kwargs"]).has_dropout
]
UNCERTAIN_METHODS = MC_MODELS + X8_VARIANTS + list(ENSEMBLES)


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    degradation="[A-Za-z0-9_-]+",
    scale="[0-9]+",
    method="[A-Za-z0-9_.+-]+",
    model="[A-Za-z0-9_-]+",


COMBOS = dict(
    dataset=TEST_SETS, degradation=config["degradations"], scale=config["scales"]
)
METRIC_FILES = expand(
    "results/metrics/{dataset}/{degradation}/x{scale}/{method}.csv", **COMBOS, method=METHODS
)
UNCERTAINTY_FILES = expand(
    "results/uncertainty/{dataset}/{degradation}/x{scale}/{method}.csv",
    **COMBOS,
    method=UNCERTAIN_METHODS,
)
TABLES = [
    str(p)
    for p in table_files(
        Path("results/tables"),
        itertools.product(TEST_SETS, config["scales"], config["degradations"]),
    )
]
FIGURES = expand(
    "results/figures/{dataset}_x{scale}_{degradation}/{name}.png",
    **COMBOS,
    name=["metrics", "comparison"]
    + (["heatmaps", "sparsification", "reliability"] if UNCERTAIN_METHODS else []),
) + (["results/figures/training_curves.png"] if MODELS_CFG else [])


def source_record(wildcards):
    """Builtin photos need no download; folders and benchmark sets are located first."""
    if DATASETS[wildcards.dataset]["source"] == "builtin":
        return {}
    return {"source": f"results/data/{wildcards.dataset}/source.json"}


def train_set_of(model):
    """The dataset a trained model (or the sparse-coding dictionary) learns from."""
    spec = MODELS_CFG.get(model, {})
    return spec.get("train_on", TRAIN_SETS[0] if TRAIN_SETS else "")


def model_dir(model, degradation, scale):
    """The folder of a trained model's weights, log and curve."""
    return f"results/models/{train_set_of(model)}/{degradation}/x{scale}/{model}"


def weights_of(wildcards):
    """The weight file of a trained model for the wildcards' degradation and scale."""
    return f"{model_dir(wildcards.method, wildcards.degradation, wildcards.scale)}/weights.pt"


def ensemble_weights(wildcards):
    """The weight files of a deep ensemble's members for the wildcards' degradation/scale."""
    w = wildcards
    return [f"{model_dir(m, w.degradation, w.scale)}/weights.pt" for m in ENSEMBLES[w.method]]


def method_inputs(wildcards):
    """What a method needs besides the LR images: weights of a trained base model, the
    sparse-coding dictionary, and the HR images for the spread of an x8 variant."""
    base, variant = split_method(wildcards.method)
    w = wildcards
    inputs = {}
    if base in MODELS_CFG:
        inputs["weights"] = f"{model_dir(base, w.degradation, w.scale)}/weights.pt"
    if base == "sparse-coding":
        inputs["dictionary"] = f"results/models/{train_set_of(base)}/x{w.scale}/sparse-coding.npz"
    if variant == "x8":
        inputs["hr"] = f"results/data/{w.dataset}/hr"
    return inputs


def calibration_inputs(wildcards):
    """MC outputs on the validation sets, for sigma scaling (none: no scaling)."""
    w = wildcards
    return expand(
        f"results/uncertainty/{{valid}}/{w.degradation}/x{w.scale}/{w.method}", valid=VALID_SETS
    )
