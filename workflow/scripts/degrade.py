"""Degrade HR images into LR images with a preset; record the sampled parameters."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.data import degrade

with log_to(snakemake.log[0]):
    degrade(
        Path(snakemake.input[0]),
        Path(snakemake.output.lr),
        snakemake.wildcards.degradation,
        snakemake.params.preset,
        int(snakemake.wildcards.scale),
        snakemake.params.seed,
        Path(snakemake.output.provenance),
    )
