import itertools
import os
import re
from pathlib import Path

from snakemake.utils import min_version, validate

from sruq.config import check_duplicate_keys, check_references, mc_settings
from sruq.schema import validate as validate_config
from sruq.degrade import PRESETS
from sruq.methods import split_method
from sruq.models import MODELS, has_dropout
from sruq.tables import table_files

min_version("8.0")

# Step scripts import sruq from this workflow's own source tree, also inside the
# per-step conda environments (which hold only third-party packages).
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.getenv("PYTHONPATH")])))

SCHEMA = Path(workflow.current_basedir) / "../schemas/config.schema.yaml"
for path in workflow.configfiles:  # YAML itself would keep the last of two equal keys
    check_duplicate_keys(path)
validate_config(config, SCHEMA)  # one-line error naming the bad key
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
BASELINES = config["baselines"]
CLASSICAL = config["classical"]["methods"]
VARIANTS = config["variants"]
X8_VARIANTS = [v for v in VARIANTS if split_method(v)[1] == "x8"]
ENSEMBLES = config["ensembles"]
METHODS = BASELINES + list(MODELS_CFG) + CLASSICAL + VARIANTS + list(ENSEMBLES)
# trained networks with dropout get MC outputs (rule infer_model); the others run once,
# like every other method without uncertainty (rule upscale)
MC_MODELS = [name for name, spec in MODELS_CFG.items() if has_dropout(spec["arch"], spec["kwargs"])]
# methods run by the `upscale` rule: no uncertainty outputs
SIMPLE_METHODS = (
    BASELINES
    + [m for m in MODELS_CFG if m not in MC_MODELS]
    + CLASSICAL
    + [v for v in VARIANTS if v not in X8_VARIANTS]
)
# MC-dropout models, x8 variants and deep ensembles are the uncertainty sources
UNCERTAIN_METHODS = MC_MODELS + X8_VARIANTS + list(ENSEMBLES)
METRICS_CFG = config["metrics"]


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
    f"results/metrics/{dataset}/{degradation}/x{scale}/{method}.csv"
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale)
]
# LPIPS has its own rule and env (torch, torchvision, lpips); the tables merge its column
LPIPS_FILES = [
    f"results/lpips/{dataset}/{degradation}/x{scale}/{method}.csv"
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale)
] if LPIPS_NET else []
UNCERTAINTY_FILES = [
    f"results/uncertainty/{dataset}/{degradation}/x{scale}/{method}.csv"
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in methods_at(scale, UNCERTAIN_METHODS)
]
TABLES = [
    str(p)
    for p in table_files(
        Path("results/tables"),
        itertools.product(TEST_SETS, config["scales"], config["degradations"]),
    )
]
FIGURES = [
    f"results/figures/{dataset}_x{scale}_{degradation}/{name}.png"
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for name in ["metrics", "comparison"]
    + (["heatmaps", "sparsification", "reliability"] if methods_at(scale, UNCERTAIN_METHODS) else [])
] + (["results/figures/training_curves.png"] if MODELS_CFG else [])


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


def calibration_file(degradation, scale, method):
    """The sigma-scaling factor of an uncertainty source, fitted on the validation images."""
    return f"results/calibration/{degradation}/x{scale}/{method}.json"


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
    return expand(
        f"results/uncertainty/{{valid}}/{w.degradation}/x{w.scale}/{w.method}", valid=VALID_SETS
    )
