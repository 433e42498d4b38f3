"""Per-image uncertainty quality (correlations, AUSE, UCE before/after sigma scaling, NLL)."""

from pathlib import Path

from sruq.io import write_csv
from sruq.steps import read_sigma_scale, uncertainty_table
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    w = snakemake.wildcards
    table = uncertainty_table(
        Path(snakemake.input.uncertainty), int(w.scale),
        dataset=w.dataset, degradation=w.degradation, method=w.method,
        scale_factor=read_sigma_scale(snakemake.input.calibration),
        channel=snakemake.params.channel, crop=snakemake.params.crop,
    )
    write_csv(table, Path(snakemake.output[0]))
