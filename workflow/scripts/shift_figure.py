"""The degradation-shift figure: each trained method's metrics against the test degradation."""

from pathlib import Path

from sruq.pipeline.log import log_to
from sruq.stages.report import shift_figure

with log_to(snakemake.log[0]):
    shift_figure(Path(snakemake.input[0]), Path(snakemake.output[0]))
