import functools
import itertools
import os
import re
from pathlib import Path

from snakemake.utils import min_version, validate

from sruq.core import layout
from sruq.pipeline.config import (
    check_bootstrap_reference,
    check_device,
    check_duplicate_keys,
    check_outside,
    check_references,
    datasets_with_role,
    heatmap_settings,
    integer_strings,
    mc_settings,
    outside_folder,
    prepare_config,
    role_notes,
)
from sruq.core.schema import SCHEMA_PATH, validate as validate_config
from sruq.degrade import PRESETS
from sruq.core.images import folder_entries
from sruq.core.layout import UNTRAINED, fill, result_name, split_result
from sruq.pipeline.methods import (
    SPREAD_VARIANTS,
    UNCERTAIN_KINDS,
    method_kinds,
    methods_of_kind,
    split_method,
)
from sruq.models import MODELS, has_dropout
from sruq.stages.train import input_channels
from sruq.report.tables import PER_IMAGE, table_files
from sruq.train import TrainConfig

min_version("8.0")

# Step scripts import sruq from this workflow's own source tree, also inside the
# per-step conda environments (which hold only third-party packages).
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.getenv("PYTHONPATH")])))

for path in workflow.configfiles:  # YAML itself would keep the last of two equal keys
    check_duplicate_keys(path)
integer_strings(config)  # --config scales=[3] gives ['3']
validate_config(config)  # one-line error naming the bad key (sruq/schemas/)
prepare_config(config)  # null models/datasets out, budget applied, mc: heatmap keys moved
validate(config, str(SCHEMA_PATH))  # snakemake's own validation of the same file: defaults

# the mc: and heatmap: defaults live in MCSettings and HeatmapSettings (shared with the
# CLI); their checks run here too
config["mc"] = mc_settings(config["mc"])
config["heatmap"] = heatmap_settings(config["heatmap"])
ALL_PRESETS = {**PRESETS, **config["presets"]}
check_references(config, ALL_PRESETS, MODELS)
if workflow.local_exec:  # jobs run on this machine (not a cluster's login node)
    check_device(config["device"])

DATASETS = config["datasets"]
TEST_SETS = datasets_with_role(DATASETS, "test")
VALID_SETS = datasets_with_role(DATASETS, "valid")
TRAIN_SETS = datasets_with_role(DATASETS, "train")
ROLE_NOTES = role_notes(DATASETS)  # test sets that also served another role
LPIPS_NET = config["metrics"]["lpips"]
MODELS_CFG = config["models"]
ENSEMBLES = config["ensembles"]
METRICS_CFG = config["metrics"]
# methods run elsewhere: a folder of SR images per test set, scale and degradation
OUTSIDE = config["outside"]
check_outside(OUTSIDE, TEST_SETS, config["scales"], config["degradations"])
# every method of the config by its kind (sruq.pipeline.methods.KINDS), in table order; each of
# the rules upscale, infer_model, self_ensemble, test_time_sampling, deep_ensemble and
# outside run their kinds
KIND_OF = method_kinds(config, has_dropout)
METHODS = list(KIND_OF)
UNCERTAIN_METHODS = methods_of_kind(KIND_OF, *UNCERTAIN_KINDS)
check_bootstrap_reference(METRICS_CFG["bootstrap_reference"], METHODS)


# a result name is a method, or method@T for one trained on T and tested on another preset
TRAINED_SUFFIX = "(?:@(?:" + "|".join(map(re.escape, ALL_PRESETS)) + "))?"


def method_pattern(*kinds):
    """A ``method`` wildcard constraint matching exactly the result names of the config's
    methods of ``kinds`` (a rule without any matches nothing)."""
    names = methods_of_kind(KIND_OF, *kinds)
    return "|".join(f"{re.escape(m)}{TRAINED_SUFFIX}" for m in names) or "^$"


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


def train_degradations(method, degradation):
    """The degradations ``method``'s results on test degradation ``degradation`` come from:
    a trained model's ``train_degradations`` (default: the test degradation itself), the
    members' for a deep ensemble, ``[None]`` for a method that is not trained."""
    base = split_method(method)[0]
    members = ENSEMBLES.get(method, [base] if base in MODELS_CFG else [])
    if not members:
        return [None]
    return MODELS_CFG[members[0]].get("train_degradations") or [degradation]


def results_at(degradation, scale, methods=None):
    """The result names at a test degradation and scale: each method (default: all of the
    config) once per degradation it was trained on (``method@T`` when T is another)."""
    return [result_name(m, t, degradation) for m in methods_at(scale, methods)
            for t in train_degradations(m, degradation)]


def trained_on(wildcards):
    """The ``trained_on`` key of a result: its training degradation ("-" if untrained)."""
    method, suffix = split_result(wildcards.method)
    if train_degradations(method, wildcards.degradation) == [None]:
        return UNTRAINED
    return suffix or wildcards.degradation


def uncertain_results(wildcards):
    """The uncertainty sources' result names of the wildcards' block."""
    return results_at(wildcards.degradation, wildcards.scale, UNCERTAIN_METHODS)


def base_method(wildcards):
    """The method of a result name (``esrcnn+x8@bicubic`` -> ``esrcnn+x8``)."""
    return split_result(wildcards.method)[0]


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    degradation="[A-Za-z0-9_-]+",
    scale="[0-9]+",
    method="[A-Za-z0-9_.+@-]+",
    model="[A-Za-z0-9_-]+",


COMBOS = dict(
    dataset=TEST_SETS, degradation=config["degradations"], scale=config["scales"]
)
METRIC_FILES = [
    fill(layout.METRICS, dataset=dataset, degradation=degradation, scale=scale, method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in results_at(degradation, scale)
]
# LPIPS has its own rule and env (torch, torchvision, lpips); the tables merge its column
LPIPS_FILES = [
    fill(layout.LPIPS, dataset=dataset, degradation=degradation, scale=scale, method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in results_at(degradation, scale)
] if LPIPS_NET else []
UNCERTAINTY_FILES = [
    fill(layout.UNCERTAINTY_METRICS, dataset=dataset, degradation=degradation, scale=scale,
         method=method)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for method in results_at(degradation, scale, UNCERTAIN_METHODS)
]
# a shift table and figure when some results come from models trained on another degradation
SHIFTED = any(split_result(name)[1] for degradation in config["degradations"]
              for scale in config["scales"] for name in results_at(degradation, scale))
TABLES = [
    str(p)
    for p in table_files(
        Path(layout.TABLES),
        itertools.product(TEST_SETS, config["scales"], config["degradations"]),
        shifted=SHIFTED,
    )
]
PER_IMAGE_TABLE = str(Path(layout.TABLES) / PER_IMAGE)
FIGURES = [
    fill(layout.FIGURE, dataset=dataset, degradation=degradation, scale=scale, figure=name)
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for name in ["metrics", "comparison"]
    + (["heatmaps", "sparsification", "reliability"] if methods_at(scale, UNCERTAIN_METHODS) else [])
] + ([layout.TRAINING_CURVES] if MODELS_CFG else []) + ([layout.SHIFT_FIGURE] if SHIFTED else [])


def source_record(wildcards):
    """Builtin photos need no download; folders and benchmark sets are located first."""
    if DATASETS[wildcards.dataset]["source"] == "builtin":
        return {}
    return {"source": fill(layout.SOURCE, dataset=wildcards.dataset)}


def train_set_of(model):
    """The dataset a trained model (or the sparse-coding dictionary) learns from."""
    spec = MODELS_CFG.get(model, {})
    return spec.get("train_on", TRAIN_SETS[0] if TRAIN_SETS else "")


@functools.cache
def patch_channels(model):
    """The input channels of a trained model of the config: what its patches are cut in."""
    spec = MODELS_CFG[model]
    return input_channels(spec["arch"], spec.get("kwargs"))


def training_spec(model):
    """What the train step reads of a model entry (its params: a change to another key,
    e.g. its test-time ``mc`` or ``train_degradations`` equal to the default, retrains
    nothing)."""
    spec = MODELS_CFG[model]
    return {key: spec[key] for key in ("arch", "kwargs", "train", "patches") if key in spec}


def model_file(pattern, model, degradation, scale):
    """A file of a trained model of the config (``layout.WEIGHTS``, ``TRAINING_LOG``...)."""
    return fill(pattern, dataset=train_set_of(model), degradation=degradation, scale=scale,
                model=model)


def training_degradation(wildcards):
    """The degradation the model(s) behind a result name were trained on."""
    return split_result(wildcards.method)[1] or wildcards.degradation


def weights_of(wildcards):
    """The weight file of the trained model behind a result name at the wildcards' scale."""
    return model_file(layout.WEIGHTS, base_method(wildcards), training_degradation(wildcards),
                      wildcards.scale)


def ensemble_weights(wildcards):
    """The weight files of a deep ensemble's members behind a result name."""
    w = wildcards
    return [model_file(layout.WEIGHTS, m, training_degradation(w), w.scale)
            for m in ENSEMBLES[base_method(w)]]


def method_inputs(wildcards):
    """What a method needs besides the LR images: weights of a trained base model, the
    sparse-coding dictionary, the HR images for a variant with a spread (x8, tta, mcbn)
    and the training patches of an mcbn variant's model."""
    base, variant = split_method(base_method(wildcards))
    w = wildcards
    inputs = {}
    if base in MODELS_CFG:
        inputs["weights"] = model_file(layout.WEIGHTS, base, training_degradation(w), w.scale)
    if base == "sparse-coding":
        inputs["dictionary"] = fill(layout.DICTIONARY, dataset=train_set_of(base), scale=w.scale)
    if variant in SPREAD_VARIANTS:
        inputs["hr"] = fill(layout.HR, dataset=w.dataset)
    if variant == "mcbn":
        inputs["patches"] = model_file(layout.PATCHES, base, training_degradation(w), w.scale)
    return inputs


def train_batch(wildcards):
    """The ``train.batch_size`` of the trained model behind a result (``None`` for a method
    that is not trained): the default of ``mc.mcbn_batch``."""
    base = split_method(base_method(wildcards))[0]
    if base not in MODELS_CFG:
        return None
    return TrainConfig.from_dict(MODELS_CFG[base].get("train"), base).batch_size


def calibration_file(degradation, scale, method):
    """The sigma-scaling factor of an uncertainty source, fitted on the validation images."""
    return fill(layout.CALIBRATION, degradation=degradation, scale=scale, method=method)


def calibration_for(degradation, scale, name):
    """The sigma-scaling file of result ``name`` on test degradation ``degradation``: fitted
    on the validation images degraded as its model was trained (a shifted result keeps
    its in-distribution factor)."""
    method, trained = split_result(name)
    return calibration_file(trained or degradation, scale, method)


def calibration_of(wildcards):
    """:func:`calibration_for` the wildcards' result."""
    return calibration_for(wildcards.degradation, wildcards.scale, wildcards.method)


def heatmap_calibration(wildcards):
    """Test-set heatmaps show the sigma-scaled std, so they wait for the factor fitted on
    the validation images; on the validation images themselves the raw std is drawn."""
    if wildcards.dataset in VALID_SETS or not config["heatmap"]["sigma_scaled"]:
        return {}
    return {"calibration": calibration_of(wildcards)}


def calibration_folders(wildcards):
    """The uncertainty outputs of a source on the validation sets, by test degradation: at
    the training degradation (sigma scaling, the conformal factor) and at every other
    degradation of the run (the conformal factors of flagged inputs)."""
    w = wildcards
    return {
        degradation: [
            fill(layout.UNCERTAINTY, dataset=valid, degradation=degradation, scale=w.scale,
                 method=result_name(w.method, w.degradation, degradation))
            for valid in VALID_SETS
        ]
        for degradation in dict.fromkeys([w.degradation, *config["degradations"]])
        if degradation == w.degradation or trained_source(w.method)
    }


def calibration_inputs(wildcards):
    """Every folder of :func:`calibration_folders` (none: no scaling)."""
    return [path for paths in calibration_folders(wildcards).values() for path in paths]


SHIFT_CFG = config["shift"]


def scored_model(method):
    """The trained model whose shift scores a method's inputs get: the method's own model
    (or the base model of its variant), a deep ensemble's first member; ``None`` for a
    method that is not trained."""
    base = split_method(method)[0]
    if base in MODELS_CFG:
        return base
    if method in ENSEMBLES:
        return ENSEMBLES[method][0]
    return None


def trained_source(method):
    """Whether a method's results come from a model trained on one degradation (so it has
    results on the other degradations of the run, named ``method@T``)."""
    model = scored_model(method)
    return model is not None and bool(MODELS_CFG[model].get("train_degradations"))


def shift_rows(wildcards):
    """What rule shift_score scores for a trained model (its training set, degradation and
    scale in the wildcards): every test set x test degradation x result of the methods whose
    inputs it scores, with the LR folder."""
    w = wildcards
    rows = []
    for dataset, degradation in itertools.product(TEST_SETS, config["degradations"]):
        for name in results_at(degradation, w.scale):
            method, suffix = split_result(name)
            if scored_model(method) == w.model and (suffix or degradation) == w.degradation:
                rows.append({"dataset": dataset, "degradation": degradation, "method": method,
                             "lr": fill(layout.LR, dataset=dataset, degradation=degradation,
                                        scale=w.scale)})
    return rows


def profile_rows(wildcards):
    """The LR folders whose profiles are written by shift_score for a trained model (the
    validation and test sets at every degradation of the run; at its training degradation
    only, for a model trained on each degradation)."""
    w = wildcards
    degradations = (config["degradations"] if MODELS_CFG[w.model].get("train_degradations")
                    else [w.degradation])
    return [{"dataset": dataset, "degradation": degradation,
             "lr": fill(layout.LR, dataset=dataset, degradation=degradation, scale=w.scale)}
            for dataset, degradation in itertools.product(
                dict.fromkeys([*VALID_SETS, *TEST_SETS]), degradations)]


def shift_profiles_of(wildcards):
    """``{"profiles": file}``, the profiles CSV (of shift_score) of the model behind the
    wildcards' trained result (its training degradation in the path), else nothing."""
    method, suffix = split_result(wildcards.method)
    model = scored_model(method)
    if model is None:
        return {}
    return {"profiles": model_file(layout.SHIFT_PROFILES, model,
                                   suffix or wildcards.degradation, wildcards.scale)}


def shift_scores_file(name, degradation, scale):
    """The shift-score CSV behind result ``name`` on test degradation ``degradation``
    (``None`` for a method that is not trained)."""
    method, suffix = split_result(name)
    model = scored_model(method)
    if model is None:
        return None
    return model_file(layout.SHIFT_SCORES, model, suffix or degradation, scale)


def shift_score_files(wildcards):
    """Source -> its shift-score CSV, for the uncertainty sources of the wildcards' block
    that have one."""
    w = wildcards
    files = {name: shift_scores_file(name, w.degradation, w.scale)
             for name in uncertain_results(w)}
    return {name: path for name, path in files.items() if path}


def outside_dir(wildcards):
    """The folder of an outside method's SR images for the wildcards' set, scale and
    degradation (config key outside.<method>.path)."""
    w = wildcards
    return str(outside_folder(OUTSIDE[w.method]["path"], w.dataset, w.scale, w.degradation))


def outside_entries(wildcards):
    """Every entry of that folder as an input, so a changed, added or removed image reruns
    the rule (a folder input would only be as new as the folder's own timestamp); a
    missing folder is the job's one-line error."""
    folder = Path(outside_dir(wildcards))
    return [str(p) for p in folder_entries(folder)] if folder.is_dir() else []


# every shift-score CSV behind the test results (rule shift_score), for the tables
SHIFT_SCORE_FILES = list(dict.fromkeys(
    path
    for dataset, degradation, scale in itertools.product(*COMBOS.values())
    for name in results_at(degradation, scale)
    if (path := shift_scores_file(name, degradation, scale))
))
