"""Training curves (loss, validation PSNR) of every trained model."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.report import training_curves_figure

with log_to(snakemake.log[0]):
    training_curves_figure([Path(p) for p in snakemake.input],
                           Path(snakemake.output[0]).with_suffix(""))
