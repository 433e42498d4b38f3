"""Cut a model's training patches (LR/HR pairs) into a memory-mappable patch set."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.train import training_patches

with log_to(snakemake.log[0]):
    training_patches(
        snakemake.wildcards.model,
        snakemake.params.patches,
        snakemake.params.channels,
        Path(snakemake.input[0]),
        Path(snakemake.output[0]),
        int(snakemake.wildcards.scale),
        snakemake.params.preset,
        snakemake.params.seed,
    )
