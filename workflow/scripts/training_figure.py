"""Training curves (loss, validation PSNR) of every trained model."""

from pathlib import Path

from sruq import layout
from sruq.steps import training_curves_figure
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    models = layout.base_dir(layout.TRAINING_LOG)  # a curve's label: its model's folder there
    logs = {str(Path(p).parent.relative_to(models)): Path(p) for p in snakemake.input}
    training_curves_figure(logs, Path(snakemake.output[0]).with_suffix(""))
