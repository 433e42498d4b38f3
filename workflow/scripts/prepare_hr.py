"""Write a dataset's HR images, normalised, as PNGs."""

from pathlib import Path

from sruq.datasets import data_mirror, prepare_hr
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    prepare_hr(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        Path(snakemake.output[0]),
        mirror=data_mirror(snakemake.params.mirror),
        resources=Path(snakemake.params.resources),
    )
