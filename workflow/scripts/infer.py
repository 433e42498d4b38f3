"""Super-resolve an LR folder with a trained network, with MC-dropout uncertainty."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.infer import infer

with log_to(snakemake.log[0]):
    infer(
        Path(snakemake.input.weights),
        Path(snakemake.input.lr),
        Path(snakemake.output.sr),
        Path(snakemake.output.uncertainty),
        snakemake.params.mc,
        snakemake.params.seed,
        hr_dir=Path(snakemake.input.hr),
        device=snakemake.params.device,
        threads=snakemake.threads,
        calibration=snakemake.input.get("calibration"),
        heatmap=snakemake.params.heatmap,
    )
