"""Fit the sigma-scaling factor of a model's MC std on the validation images."""

from pathlib import Path

from sruq.io import write_json
from sruq.steps import calibrate_sigma
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    folders = [Path(p) for p in snakemake.input]
    factor = calibrate_sigma(folders, int(snakemake.wildcards.scale),
                             snakemake.params.channel, snakemake.params.crop)
    write_json(snakemake.output[0], {"sigma_scale": factor,
                                     "fitted_on": [str(p) for p in folders]})
