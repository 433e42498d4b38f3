"""Collect per-image metrics into the tidy table and the comparison tables."""

from pathlib import Path

from sruq.stages.evaluate import tables
from sruq.workflow import log_to

with log_to(snakemake.log[0]):
    tables([Path(p) for p in snakemake.input], Path(snakemake.output[0]).parent,
           snakemake.params.notes)
