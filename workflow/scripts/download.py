"""Find a dataset's HR images: local mirror first, else download from the official source."""

from pathlib import Path

from sruq.stages.data import locate
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    locate(snakemake.wildcards.dataset, snakemake.params.spec, Path(snakemake.output[0]),
           mirror=snakemake.params.mirror, resources=Path(snakemake.params.resources))
