import os
from pathlib import Path

from snakemake.utils import min_version, validate

from sruq.config import check_references
from sruq.config import validate as validate_config
from sruq.degrade import PRESETS
from sruq.models import MODELS

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
METHODS = config["baselines"] + list(config["models"])


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    degradation="[A-Za-z0-9_-]+",
    scale="[0-9]+",
    method="[A-Za-z0-9_.+-]+",


METRIC_FILES = expand(
    "results/metrics/{dataset}/{degradation}/x{scale}/{method}.csv",
    dataset=TEST_SETS,
    degradation=config["degradations"],
    scale=config["scales"],
    method=METHODS,
)
TABLES = [
    "results/tables/per_image.csv",
    "results/tables/summary.csv",
    "results/tables/summary.md",
]


def source_record(wildcards):
    """Builtin photos need no download; folders and benchmark sets are located first."""
    if DATASETS[wildcards.dataset]["source"] == "builtin":
        return {}
    return {"source": f"results/data/{wildcards.dataset}/source.json"}
