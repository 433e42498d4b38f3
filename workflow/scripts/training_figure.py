"""Training curves (loss, validation PSNR) of every trained model."""

from pathlib import Path

from sruq.stages.report import training_curves_figure
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    logs = {str(Path(p).relative_to("results/models").parent): Path(p) for p in snakemake.input}
    training_curves_figure(logs, Path(snakemake.output[0]).with_suffix(""))
