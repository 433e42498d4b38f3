"""Find a dataset's HR images: local mirror first, else download from the official source."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.data import locate

with log_to(snakemake.log[0]):
    locate(snakemake.wildcards.dataset, snakemake.params.spec, Path(snakemake.output[0]),
           mirror=snakemake.params.mirror, resources=Path(snakemake.params.resources))
