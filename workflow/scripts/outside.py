"""Take in the SR images of an outside method (made elsewhere), checked against the HR images."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import take_outside

with log_to(snakemake.log[0]):
    take_outside(
        Path(snakemake.params.folder),
        Path(snakemake.input.hr),
        int(snakemake.wildcards.scale),
        Path(snakemake.output[0]),
    )
