"""Take in the SR images of an outside method (made elsewhere), checked against the HR images."""

from pathlib import Path

from sruq.stages.infer import take_outside
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    take_outside(
        Path(snakemake.params.folder),
        Path(snakemake.input.hr),
        int(snakemake.wildcards.scale),
        Path(snakemake.output[0]),
    )
