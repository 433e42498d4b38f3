"""Find a dataset's HR images: local mirror first, else download from the official source."""

from pathlib import Path

from sruq.datasets import data_mirror, locate_source
from sruq.io import write_json
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    record = locate_source(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        mirror=data_mirror(snakemake.params.mirror),
        resources=Path(snakemake.params.resources),
    )
    write_json(snakemake.output[0], record)
