"""Train one network on its patch set (resumes from last.pt after an interruption)."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.train import train

with log_to(snakemake.log[0]):
    train(
        snakemake.wildcards.model,
        snakemake.params.spec,
        int(snakemake.wildcards.scale),
        Path(snakemake.input.patches),
        list(zip(snakemake.input.valid_hr, snakemake.input.valid_lr)),
        Path(snakemake.output.weights).parent,
        snakemake.params.seed,
        snakemake.config["device"],  # not a param: another device does not retrain
        threads=snakemake.threads,
    )
