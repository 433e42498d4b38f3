"""Write a dataset's HR images, normalised, as PNGs."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.data import prepare

with log_to(snakemake.log[0]):
    source = snakemake.input.get("source")
    prepare(snakemake.wildcards.dataset, snakemake.params.spec, Path(snakemake.output[0]),
            Path(source) if source else None)
