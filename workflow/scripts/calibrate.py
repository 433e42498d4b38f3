"""Sigma-scaling and split-conformal factors of an uncertainty source, fitted on the
validation images."""

from pathlib import Path

from sruq.stages.evaluate import calibrate
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    calibrate([Path(p) for p in snakemake.input], int(snakemake.wildcards.scale),
              Path(snakemake.output[0]), snakemake.params.channel, snakemake.params.crop,
              snakemake.params.coverage)
